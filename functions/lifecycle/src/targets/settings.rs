//! The targets of a deployment, read from the Targets secret in Secrets Manager:
//!
//! ```json
//! {"scim":     [{"name": "wiki", "base_url": "https://wiki.example.com/scim/v2", "token": "…"}],
//!  "webhooks": [{"name": "hr",   "url": "https://hr.example.com/okta-lifecycle", "secret": "whsec_…",
//!                "previous_secret": "whsec_…"}]}
//! ```
//!
//! A webhook `secret` is a Standard Webhooks secret, `whsec_<base64 of the key>` (the key
//! is the decoded bytes), or, without that prefix, a plain string whose UTF-8 bytes are
//! the key (the secrets of earlier versions keep working). Either way the key must be at
//! least 16 bytes. `previous_secret` (optional, same format) is for a rotation: while it
//! is set, every delivery carries a signature with each key, so a receiver that still
//! has the old key keeps accepting. Remove it once the receiver has the new one.
//!
//! Okta itself is always a target; it uses the Okta API credentials.

use std::fmt;

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

/// The HMAC-SHA256 key of a webhook. It never prints: `Debug` shows `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookKey(Vec<u8>);

/// The prefix of a Standard Webhooks symmetric secret.
pub const WHSEC_PREFIX: &str = "whsec_";

/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

impl WebhookKey {
    /// `whsec_<base64>` is the decoded bytes (padding optional, as the Standard Webhooks
    /// libraries accept it); any other text is its UTF-8 bytes. The error never quotes
    /// the value.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let key = match text.strip_prefix(WHSEC_PREFIX) {
            Some(b64) => {
                let b64 = b64.trim_end_matches('=');
                let padded = format!("{b64}{}", "=".repeat((4 - b64.len() % 4) % 4));
                aws_smithy_types::base64::decode(padded)
                    .map_err(|_| "a whsec_ secret must be whsec_ followed by base64")?
            }
            None => text.as_bytes().to_vec(),
        };
        if key.len() < MIN_KEY_BYTES {
            return Err(
                "secret must be at least 16 bytes (characters, or decoded bytes after whsec_)",
            );
        }
        Ok(Self(key))
    }

    /// The key, for the one place that signs with it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A signed webhook.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Short name, unique among webhooks.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// The HMAC-SHA256 key.
    pub secret: WebhookKey,
    /// The key before a rotation: deliveries are signed with both while it is set.
    pub previous_secret: Option<WebhookKey>,
}

impl WebhookConfig {
    /// The keys to sign with: the current one first, then the previous one if it differs.
    pub fn keys(&self) -> Vec<&WebhookKey> {
        let mut keys = vec![&self.secret];
        if let Some(prev) = self.previous_secret.as_ref().filter(|p| **p != self.secret) {
            keys.push(prev);
        }
        keys
    }
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
    #[serde(default)]
    previous_secret: Option<String>,
}

impl TargetsConfig {
    /// Parses the secret's JSON; names must be unique and short, URLs http(s), a
    /// webhook secret (and previous secret, when not empty) a key of at least 16 bytes.
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
        let mut webhooks = Vec::with_capacity(raw.webhooks.len());
        for w in raw.webhooks {
            check("webhook", &w.name, &w.url)?;
            let key = |field: &str, text: &str| {
                WebhookKey::parse(text).map_err(|why| {
                    TargetsConfigError::Invalid(format!(
                        "webhook target {:?}: {field}: {why}",
                        w.name
                    ))
                })
            };
            let secret = key("secret", &w.secret)?;
            let previous_secret = match w.previous_secret.as_deref() {
                None | Some("") => None,
                Some(text) => Some(key("previous_secret", text)?),
            };
            webhooks.push(WebhookConfig {
                name: w.name,
                url: w.url,
                secret,
                previous_secret,
            });
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
            webhooks,
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
        assert_eq!(c.webhooks[0].secret.expose(), b"0123456789abcdef");
        assert_eq!(c.webhooks[0].keys().len(), 1);
        assert_eq!(format!("{:?}", c.webhooks[0].secret), "[redacted]");
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
        // 12 bytes once decoded, though 16 characters of base64.
        let short = err(
            r#"{"webhooks": [{"name": "a", "url": "http://x", "secret": "whsec_aHVudGVyMmh1bnRl"}]}"#,
        );
        assert!(
            short.contains("at least 16") && !short.contains("aHVu"),
            "{short}"
        );
        let bad = err(
            r#"{"webhooks": [{"name": "a", "url": "http://x", "secret": "whsec_not*base64*at*all!!"}]}"#,
        );
        assert!(
            bad.contains("base64") && !bad.contains("not*base64"),
            "{bad}"
        );
        let prev = err(
            r#"{"webhooks": [{"name": "a", "url": "http://x", "secret": "0123456789abcdef", "previous_secret": "hunter2"}]}"#,
        );
        assert!(
            prev.contains("previous_secret") && !prev.contains("hunter2"),
            "{prev}"
        );
        let dup = r#"{"scim": [{"name": "a", "base_url": "http://x"}, {"name": "a", "base_url": "http://y"}]}"#;
        assert!(err(dup).contains("twice"));
        let typo = err(r#"{"webhook": [{"secret": "s3cr3t-value-here"}]}"#);
        assert!(!typo.contains("s3cr3t"), "{typo}");
    }

    #[test]
    fn whsec_secrets_are_base64_keys_and_plain_secrets_their_bytes() {
        // The Standard Webhooks libraries' test secret: 24 bytes once decoded.
        let k = WebhookKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(k.expose().len(), 24);
        assert_eq!(
            WebhookKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap()
                .expose(),
            b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        );
        // Padding is optional: 17 bytes encode to 24 characters with "=", 23 without.
        let padded = WebhookKey::parse("whsec_MDEyMzQ1Njc4OWFiY2RlZmc=").unwrap();
        let bare = WebhookKey::parse("whsec_MDEyMzQ1Njc4OWFiY2RlZmc").unwrap();
        assert_eq!(padded.expose(), b"0123456789abcdefg");
        assert_eq!(bare, padded);
    }

    #[test]
    fn a_previous_secret_adds_a_second_key_until_it_is_removed() {
        let read = |prev: &str| {
            TargetsConfig::from_secret_json(&format!(
                r#"{{"webhooks": [{{"name": "hr", "url": "https://hr.example.com/h",
                     "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"{prev}}}]}}"#
            ))
            .unwrap()
            .webhooks
            .remove(0)
        };
        let rotating = read(r#", "previous_secret": "0123456789abcdef""#);
        let keys = rotating.keys();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].expose().len(), 24, "the current key first");
        assert_eq!(keys[1].expose(), b"0123456789abcdef");
        // Empty, absent, or the same as the current key: one signature.
        assert!(read(r#", "previous_secret": """#).previous_secret.is_none());
        assert!(read("").previous_secret.is_none());
        let same = read(r#", "previous_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw""#);
        assert_eq!(same.keys().len(), 1);
    }
}
