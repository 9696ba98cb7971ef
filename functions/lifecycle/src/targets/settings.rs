//! The targets of a deployment, read from the Targets secret in Secrets Manager:
//!
//! ```json
//! {"scim":     [{"name": "wiki", "base_url": "https://wiki.example.com/scim/v2", "token": "…"}],
//!  "webhooks": [{"name": "hr",   "url": "https://hr.example.com/okta-lifecycle", "secret": "…"}]}
//! ```
//!
//! Okta itself is always a target; it uses the Okta API credentials.

use serde::Deserialize;

use crate::secrets::Secret;

/// The Targets secret could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetsConfigError {
    /// Not the JSON shape above (the message never quotes the secret).
    #[error("targets secret is not valid: {0}")]
    Invalid(String),
}

/// A SCIM 2.0 application.
#[derive(Debug, Clone)]
pub struct ScimConfig {
    /// Short name, unique among SCIM targets.
    pub name: String,
    /// Base URL; `/Users` is appended.
    pub base_url: String,
    /// Bearer token, if the application asks for one.
    pub token: Option<Secret>,
}

/// A signed webhook.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Short name, unique among webhooks.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// The HMAC-SHA256 key.
    pub secret: Secret,
}

/// Every configured target besides Okta.
#[derive(Debug, Clone, Default)]
pub struct TargetsConfig {
    /// SCIM applications.
    pub scim: Vec<ScimConfig>,
    /// Webhooks.
    pub webhooks: Vec<WebhookConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    #[serde(default)]
    scim: Vec<RawScim>,
    #[serde(default)]
    webhooks: Vec<RawWebhook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScim {
    name: String,
    base_url: String,
    #[serde(default)]
    token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: String,
    url: String,
    secret: String,
}

impl TargetsConfig {
    /// Parses the secret's JSON; names must be unique and short, URLs http(s), a
    /// webhook secret at least 16 characters.
    pub fn from_secret_json(text: &str) -> Result<Self, TargetsConfigError> {
        // serde's message would quote the offending value, which may be a credential.
        let raw: RawTargets = serde_json::from_str(text).map_err(|e| {
            TargetsConfigError::Invalid(format!(
                "expected {{\"scim\": [...], \"webhooks\": [...]}} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let mut names = std::collections::HashSet::new();
        let mut check = |kind: &str, name: &str, url: &str| -> Result<(), TargetsConfigError> {
            let ok_name = !name.is_empty()
                && name.len() <= 40
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok_name {
                return Err(TargetsConfigError::Invalid(format!(
                    "{kind} target name {name:?}: use 1-40 letters, digits, - or _"
                )));
            }
            if !names.insert(format!("{kind}:{name}")) {
                return Err(TargetsConfigError::Invalid(format!(
                    "{kind} target {name:?} appears twice"
                )));
            }
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(()),
                _ => Err(TargetsConfigError::Invalid(format!(
                    "{kind} target {name:?}: URL must be http(s)"
                ))),
            }
        };
        for s in &raw.scim {
            check("scim", &s.name, &s.base_url)?;
        }
        for w in &raw.webhooks {
            check("webhook", &w.name, &w.url)?;
            if w.secret.len() < 16 {
                return Err(TargetsConfigError::Invalid(format!(
                    "webhook target {:?}: secret must be at least 16 characters",
                    w.name
                )));
            }
        }
        Ok(Self {
            scim: raw
                .scim
                .into_iter()
                .map(|s| ScimConfig {
                    name: s.name,
                    base_url: s.base_url.trim_end_matches('/').to_owned(),
                    token: s.token.filter(|t| !t.is_empty()).map(Secret::new),
                })
                .collect(),
            webhooks: raw
                .webhooks
                .into_iter()
                .map(|w| WebhookConfig {
                    name: w.name,
                    url: w.url,
                    secret: Secret::new(w.secret),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_configuration_is_read() {
        let c = TargetsConfig::from_secret_json(
            r#"{"scim": [{"name": "wiki", "base_url": "http://127.0.0.1:1/scim/", "token": "t0k"}],
                "webhooks": [{"name": "hr", "url": "https://hr.example.com/h", "secret": "0123456789abcdef"}]}"#,
        )
        .unwrap();
        assert_eq!(c.scim[0].base_url, "http://127.0.0.1:1/scim");
        assert!(c.scim[0].token.as_ref().unwrap().matches(b"t0k"));
        assert_eq!(c.webhooks[0].name, "hr");
        assert!(TargetsConfig::from_secret_json("{}")
            .unwrap()
            .scim
            .is_empty());
    }

    #[test]
    fn mistakes_are_named_without_quoting_secrets() {
        let err = |text: &str| {
            TargetsConfig::from_secret_json(text)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"scim": [{"name": "a b", "base_url": "http://x"}]}"#).contains("name"));
        assert!(err(
            r#"{"webhooks": [{"name": "a", "url": "ftp://x", "secret": "0123456789abcdef"}]}"#
        )
        .contains("http(s)"));
        let short = err(r#"{"webhooks": [{"name": "a", "url": "http://x", "secret": "hunter2"}]}"#);
        assert!(short.contains("at least 16") && !short.contains("hunter2"));
        let dup = r#"{"scim": [{"name": "a", "base_url": "http://x"}, {"name": "a", "base_url": "http://y"}]}"#;
        assert!(err(dup).contains("twice"));
        let typo = err(r#"{"webhook": [{"secret": "s3cr3t-value-here"}]}"#);
        assert!(!typo.contains("s3cr3t"), "{typo}");
    }
}
