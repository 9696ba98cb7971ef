//! All configuration, read from the environment once at init, validated, with defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TABLE_NAME` | required | the DynamoDB table |
//! | `HOOK_SECRET_ID` | required | Secrets Manager id or ARN of the hook secret |
//! | `HOOK_AUTH_HEADER` | `authorization` | header Okta sends the secret in |
//! | `HOOK_PATH` | `/okta` | path of the hook endpoint |
//! | `ENABLED_EVENT_TYPES` | deactivate, delete.initiated | comma-separated Okta event types to act on |
//! | `MAX_BODY_BYTES` | `1048576` | larger deliveries get 413 |
//! | `EVENT_TTL_DAYS` | `30` | how long dedupe markers are kept |
//! | `QUARANTINE_TTL_DAYS` | `30` | how long rejected bodies are kept |
//! | `SECRET_REFRESH_SECONDS` | `30` | least time between two re-reads of the secret on a mismatch |
//! | `SECRET_ROTATION_GRACE_SECONDS` | `86400` | how long after a rotation the previous secret is still accepted |

use std::collections::HashSet;
use std::time::Duration;

use crate::okta::EventType;

/// The configuration could not be read; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("environment variable {name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why its value is unusable.
        reason: String,
    },
}

/// Configuration shared by the hook functions.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table.
    pub table_name: String,
    /// Secrets Manager id of the hook secret.
    pub hook_secret_id: String,
    /// Lower-case name of the header that carries the secret.
    pub auth_header: String,
    /// Path of the hook endpoint.
    pub hook_path: String,
    /// Event types that create jobs.
    pub enabled_event_types: HashSet<EventType>,
    /// Largest accepted delivery body.
    pub max_body_bytes: usize,
    /// Lifetime of dedupe markers.
    pub event_ttl: Duration,
    /// Lifetime of quarantined bodies.
    pub quarantine_ttl: Duration,
    /// Least time between two re-reads of the secret after a mismatch.
    pub secret_refresh_interval: Duration,
    /// How long after a rotation the previous secret is still accepted.
    pub secret_rotation_grace: Duration,
}

const DAY: u64 = 24 * 60 * 60;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("expected a whole number, got {v:?}"),
                }),
            }
        };

        let enabled_event_types = match get("ENABLED_EVENT_TYPES") {
            None => EventType::DEFAULT_ENABLED.into_iter().collect(),
            Some(list) => parse_event_types(&list)?,
        };
        let auth_header = get("HOOK_AUTH_HEADER")
            .unwrap_or_else(|| "authorization".into())
            .trim()
            .to_ascii_lowercase();
        let hook_path = get("HOOK_PATH").unwrap_or_else(|| "/okta".into());
        if !hook_path.starts_with('/') {
            return Err(ConfigError::Invalid {
                name: "HOOK_PATH",
                reason: "must start with /".into(),
            });
        }

        Ok(Self {
            table_name: required("TABLE_NAME")?,
            hook_secret_id: required("HOOK_SECRET_ID")?,
            auth_header,
            hook_path,
            enabled_event_types,
            max_body_bytes: number("MAX_BODY_BYTES", 1024 * 1024)? as usize,
            event_ttl: Duration::from_secs(number("EVENT_TTL_DAYS", 30)? * DAY),
            quarantine_ttl: Duration::from_secs(number("QUARANTINE_TTL_DAYS", 30)? * DAY),
            secret_refresh_interval: Duration::from_secs(number("SECRET_REFRESH_SECONDS", 30)?),
            secret_rotation_grace: Duration::from_secs(number(
                "SECRET_ROTATION_GRACE_SECONDS",
                DAY,
            )?),
        })
    }
}

/// A typo in the list would silently disable offboarding, so unknown names are an error.
fn parse_event_types(list: &str) -> Result<HashSet<EventType>, ConfigError> {
    let mut set = HashSet::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let t = EventType::from(name);
        if !t.is_supported() {
            return Err(ConfigError::Invalid {
                name: "ENABLED_EVENT_TYPES",
                reason: format!("{name:?} is not a supported lifecycle event type"),
            });
        }
        set.insert(t);
    }
    if set.is_empty() {
        return Err(ConfigError::Invalid {
            name: "ENABLED_EVENT_TYPES",
            reason: "no event type given".into(),
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [("TABLE_NAME", "t"), ("HOOK_SECRET_ID", "s")];

    #[test]
    fn defaults_enable_deactivate_and_delete_initiated() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.enabled_event_types.len(), 2);
        assert!(c.enabled_event_types.contains(&EventType::Deactivate));
        assert!(c.enabled_event_types.contains(&EventType::DeleteInitiated));
        assert_eq!(c.auth_header, "authorization");
        assert_eq!(c.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = config(&[("TABLE_NAME", "t")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable HOOK_SECRET_ID"
        );
    }

    #[test]
    fn a_misspelt_event_type_is_an_error_not_a_silent_gap() {
        let mut vars = BASE.to_vec();
        vars.push(("ENABLED_EVENT_TYPES", "user.lifecycle.deactivated"));
        let err = config(&vars).unwrap_err();
        assert!(err.to_string().contains("user.lifecycle.deactivated"));
    }

    #[test]
    fn event_types_and_numbers_are_read() {
        let mut vars = BASE.to_vec();
        vars.push((
            "ENABLED_EVENT_TYPES",
            "user.lifecycle.suspend, user.lifecycle.deactivate",
        ));
        vars.push(("MAX_BODY_BYTES", "2048"));
        vars.push(("HOOK_AUTH_HEADER", "X-Okta-Secret"));
        let c = config(&vars).unwrap();
        assert!(c.enabled_event_types.contains(&EventType::Suspend));
        assert!(!c.enabled_event_types.contains(&EventType::DeleteInitiated));
        assert_eq!(c.max_body_bytes, 2048);
        assert_eq!(c.auth_header, "x-okta-secret");
        vars.push(("EVENT_TTL_DAYS", "soon"));
        assert!(matches!(
            config(&vars),
            Err(ConfigError::Invalid {
                name: "EVENT_TTL_DAYS",
                ..
            })
        ));
    }
}
