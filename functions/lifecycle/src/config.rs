//! All configuration, read from the environment once at init, validated, with defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TABLE_NAME` | required | the DynamoDB state table |
//! | `AUDIT_TABLE_NAME` | required | the audit trail's table (append-only: `PutItem` only) |
//! | `HOOK_SECRET_ID` | required | Secrets Manager id or ARN of the hook secret |
//! | `HOOK_AUTH_HEADER` | `authorization` | header Okta sends the secret in |
//! | `HOOK_PATH` | `/okta` | path of the hook endpoint |
//! | `ENABLED_EVENT_TYPES` | deactivate, delete.initiated | comma-separated Okta event types to act on |
//! | `MAX_BODY_BYTES` | `1048576` | larger deliveries get 413 |
//! | `QUARANTINE_TTL_DAYS` | `30` | how long rejected bodies are kept |
//! | `SECRET_REFRESH_SECONDS` | `30` | least time between two re-reads of the secret on a mismatch |
//! | `SECRET_ROTATION_GRACE_SECONDS` | `86400` | how long after a rotation the previous secret is still accepted |
//!
//! Every function reads both tables' names (`TABLE_NAME`, `AUDIT_TABLE_NAME`). The System
//! Log poller reads `ENABLED_EVENT_TYPES` too, and:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `OKTA_ORG_URL` | required | `https://<org>.okta.com` |
//! | `OKTA_CREDENTIALS_SECRET_ID` | required | Secrets Manager id of the Okta API credentials |
//! | `POLL_FIRST_LOOKBACK_MINUTES` | `60` | how far back the very first run reads |
//! | `POLL_PAGE_LIMIT` | `1000` | events per page |
//! | `POLL_MAX_PAGES` | `50` | most pages one run reads |
//! | `POLL_LEASE_SECONDS` | `180` | lease length; longer than the function's timeout |
//! | `POLL_TIME_MARGIN_SECONDS` | `5` | a run stops reading when less time than this is left |
//! | `POLL_TIME_BUDGET_SECONDS` | `50` | longest a run takes; below the function's timeout |
//! | `OKTA_RATE_RESERVE_PERCENT` | `20` | share of Okta's rate limit left to other integrations |
//! | `SWEEP_INTERVAL_SECONDS` | `3600` | least time between two reconciliation sweeps |
//! | `SECRET_REFRESH_SECONDS` | `30` | least time between two re-reads of a credential Okta or a target refused |
//! | `SECRET_MAX_AGE_SECONDS` | `300` | a credential read longer ago than this is read again at its next use |
//! | `OKTA_EVENT_HOOK_ID` | none | our hook's id, to single out its delivery failures |
//!
//! The deprovision function reads `TABLE_NAME`, `OKTA_ORG_URL`, `OKTA_CREDENTIALS_SECRET_ID`,
//! `OKTA_RATE_RESERVE_PERCENT`, and:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TARGETS_SECRET_ID` | none | Secrets Manager id of the SCIM and webhook targets; none: Okta only |
//! | `SECRET_REFRESH_SECONDS`, `SECRET_MAX_AGE_SECONDS` | `30`, `300` | as for the poller: the Okta credentials and the targets secret |
//! | `DEPROVISION_TIME_BUDGET_SECONDS` | `100` | longest one invocation works; below the function's timeout |
//! | `DRY_RUN` | `false` | plan and record every job, touch nothing |
//! | `DELETE_IN_TARGETS` | `false` | on an Okta delete, delete SCIM accounts instead of deactivating |
//! | `RESTORE_GROUPS` | `true` | a restore puts Okta group memberships back |
//! | `RESTORE_ACCOUNTS` | `true` | a restore re-activates application accounts that were active |
//! | `REVOKE_OAUTH_TOKENS` | `true` | ending sessions also revokes the user's OAuth tokens |
//! | `FUSE_LIMIT` | `25` | deprovisionings allowed per fuse window |
//! | `FUSE_WINDOW_SECONDS` | `600` | the fuse's sliding window |
//! | `JOB_MAX_ATTEMPTS` | `3` | attempts before a job is `failed` |
//! | `JOB_RETRY_DELAY_SECONDS` | `2` | wait before the second attempt; doubles each time |
//! | `STEP_TIMEOUT_SECONDS` | `10` | limit on each call to a target |
//! | `STEP_MAX_ATTEMPTS` | `3` | tries of one step within an attempt (temporary errors only) |
//! | `JOB_CLAIM_SECONDS` | `180` | how long a claim on a job lasts; longer than the function's timeout |
//! | `BATCH_USERS_AT_ONCE` | `4` | users of one stream batch whose jobs run side by side (each user's in order) |
//!
//! The actions function (`POST /actions`) reads `TABLE_NAME`, `OKTA_ORG_URL`,
//! `OKTA_CREDENTIALS_SECRET_ID`, `OKTA_RATE_RESERVE_PERCENT`, and:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ACTIONS_TIME_BUDGET_SECONDS` | `25` | longest one request runs before the rest is left `pending`; below API Gateway's 30 s |
//! | `ACTIONS_MAX_BODY_BYTES` | `262144` | larger request bodies get 413 |
//! | `FUSE_LIMIT`, `FUSE_WINDOW_SECONDS` | `25`, `600` | the deprovision function's fuse, which deprovisioning and deleting on request count against |

use std::collections::HashSet;
use std::time::Duration;

use crate::domain::fuse::FuseSettings;
use crate::domain::EventType;
use crate::secrets::RefreshSettings;

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
    pub table: TableConfig,
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
    /// Lifetime of quarantined bodies.
    pub quarantine_ttl: Duration,
    /// Least time between two re-reads of the secret after a mismatch.
    pub secret_refresh_interval: Duration,
    /// How long after a rotation the previous secret is still accepted.
    pub secret_rotation_grace: Duration,
}

const DAY: u64 = 24 * 60 * 60;
const DAY_SECONDS: u32 = 24 * 60 * 60;

/// Reads variables through a lookup function, with the checks every setting shares.
struct Env<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, name: &'static str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                name,
                reason: format!("expected a whole number, got {v:?}"),
            }),
        }
    }

    /// `OKTA_ORG_URL`, without a trailing slash.
    fn org_url(&self) -> Result<String, ConfigError> {
        Ok(self
            .required("OKTA_ORG_URL")?
            .trim_end_matches('/')
            .to_string())
    }

    /// `OKTA_RATE_RESERVE_PERCENT` as a fraction.
    fn rate_reserve(&self) -> Result<f64, ConfigError> {
        let percent = self.number("OKTA_RATE_RESERVE_PERCENT", 20)?;
        if percent > 90 {
            return Err(ConfigError::Invalid {
                name: "OKTA_RATE_RESERVE_PERCENT",
                reason: "must be at most 90".into(),
            });
        }
        Ok(percent as f64 / 100.0)
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(ConfigError::Invalid {
                name,
                reason: format!("expected true or false, got {v:?}"),
            }),
        }
    }

    fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.number(name, default).map(Duration::from_secs)
    }

    /// When a cached credential is read again (`SECRET_REFRESH_SECONDS`,
    /// `SECRET_MAX_AGE_SECONDS`).
    fn refresh(&self) -> Result<RefreshSettings, ConfigError> {
        let defaults = RefreshSettings::default();
        Ok(RefreshSettings {
            interval: self.seconds("SECRET_REFRESH_SECONDS", defaults.interval.as_secs())?,
            max_age: self.seconds("SECRET_MAX_AGE_SECONDS", defaults.max_age.as_secs())?,
        })
    }

    fn event_types(&self) -> Result<HashSet<EventType>, ConfigError> {
        match self.get("ENABLED_EVENT_TYPES") {
            None => Ok(EventType::DEFAULT_ENABLED.into_iter().collect()),
            Some(list) => parse_event_types(&list),
        }
    }
}

/// The tables every function works on: the state, and the audit trail apart from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// The DynamoDB state table's name (`TABLE_NAME`).
    pub name: String,
    /// The audit trail's table (`AUDIT_TABLE_NAME`), where lines are only ever added.
    pub audit: String,
}

impl TableConfig {
    /// The two tables by name (the operator's command line).
    pub fn named(name: impl Into<String>, audit: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            audit: audit.into(),
        }
    }

    fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            name: env.required("TABLE_NAME")?,
            audit: env.required("AUDIT_TABLE_NAME")?,
        })
    }
}

/// How a function reaches Okta.
#[derive(Debug, Clone, PartialEq)]
pub struct OktaConfig {
    /// Okta org URL, e.g. `https://example.okta.com`, without a trailing slash.
    pub org_url: String,
    /// Secrets Manager id of the Okta API credentials.
    pub credentials_secret_id: String,
    /// Share of an endpoint's rate limit left to other integrations (0.0 to 0.9).
    pub rate_reserve: f64,
    /// When the credentials are read again (after a refusal, or when old).
    pub refresh: RefreshSettings,
}

impl OktaConfig {
    fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            org_url: env.org_url()?,
            credentials_secret_id: env.required("OKTA_CREDENTIALS_SECRET_ID")?,
            rate_reserve: env.rate_reserve()?,
            refresh: env.refresh()?,
        })
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let auth_header = env
            .get("HOOK_AUTH_HEADER")
            .unwrap_or_else(|| "authorization".into())
            .trim()
            .to_ascii_lowercase();
        let hook_path = env.get("HOOK_PATH").unwrap_or_else(|| "/okta".into());
        if !hook_path.starts_with('/') {
            return Err(ConfigError::Invalid {
                name: "HOOK_PATH",
                reason: "must start with /".into(),
            });
        }
        Ok(Self {
            table: TableConfig::read(&env)?,
            hook_secret_id: env.required("HOOK_SECRET_ID")?,
            auth_header,
            hook_path,
            enabled_event_types: env.event_types()?,
            max_body_bytes: env.number("MAX_BODY_BYTES", 1024 * 1024)? as usize,
            quarantine_ttl: env.seconds("QUARANTINE_TTL_DAYS", 30)? * DAY_SECONDS,
            secret_refresh_interval: env.seconds("SECRET_REFRESH_SECONDS", 30)?,
            secret_rotation_grace: env.seconds("SECRET_ROTATION_GRACE_SECONDS", DAY)?,
        })
    }
}

/// Configuration of the System Log poller.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// The DynamoDB table.
    pub table: TableConfig,
    /// The Okta org and its credentials.
    pub okta: OktaConfig,
    /// Event types that create jobs (the same setting as the hook's).
    pub enabled_event_types: HashSet<EventType>,
    /// How far back the very first run reads.
    pub first_lookback: Duration,
    /// Events per System Log page (Okta's maximum is 1000).
    pub page_limit: u32,
    /// Most pages one run reads.
    pub max_pages: u32,
    /// How long a run's lease lasts; longer than the function's timeout.
    pub lease: Duration,
    /// A run stops reading when less than this is left of its time.
    pub time_margin: Duration,
    /// Longest a run takes, whatever the invocation's deadline (below the function timeout).
    pub time_budget: Duration,
    /// Least time between two reconciliation sweeps.
    pub sweep_interval: Duration,
    /// Our event hook's id in Okta, to pick its delivery failures out of the log.
    pub event_hook_id: Option<String>,
}

impl PollerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let page_limit = env.number("POLL_PAGE_LIMIT", 1000)?;
        if !(1..=1000).contains(&page_limit) {
            return Err(ConfigError::Invalid {
                name: "POLL_PAGE_LIMIT",
                reason: "must be between 1 and 1000".into(),
            });
        }
        Ok(Self {
            table: TableConfig::read(&env)?,
            okta: OktaConfig::read(&env)?,
            enabled_event_types: env.event_types()?,
            first_lookback: env.seconds("POLL_FIRST_LOOKBACK_MINUTES", 60)? * 60,
            page_limit: page_limit as u32,
            max_pages: env.number("POLL_MAX_PAGES", 50)? as u32,
            lease: env.seconds("POLL_LEASE_SECONDS", 180)?,
            time_margin: env.seconds("POLL_TIME_MARGIN_SECONDS", 5)?,
            time_budget: env.seconds("POLL_TIME_BUDGET_SECONDS", 50)?,
            sweep_interval: env.seconds("SWEEP_INTERVAL_SECONDS", 3600)?,
            event_hook_id: env.get("OKTA_EVENT_HOOK_ID"),
        })
    }
}

/// Configuration of the deprovision function.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The DynamoDB table.
    pub table: TableConfig,
    /// The Okta org and its credentials.
    pub okta: OktaConfig,
    /// Secrets Manager id of the targets; `None`: Okta only.
    pub targets_secret_id: Option<String>,
    /// When the targets secret is read again (after a refusal, or when old).
    pub targets_refresh: RefreshSettings,
    /// Longest one invocation works, whatever its deadline (below the function timeout).
    pub time_budget: Duration,
    /// Plan and record, touch nothing.
    pub dry_run: bool,
    /// On `delete.initiated`, delete application accounts.
    pub delete_in_targets: bool,
    /// Restore Okta group memberships.
    pub restore_groups: bool,
    /// Re-activate application accounts on restore.
    pub restore_accounts: bool,
    /// Revoke OAuth tokens along with sessions.
    pub revoke_oauth_tokens: bool,
    /// Deprovisionings allowed per fuse window.
    pub fuse_limit: u32,
    /// The fuse's window.
    pub fuse_window: Duration,
    /// Attempts before a job is failed.
    pub job_max_attempts: u32,
    /// Wait before the second attempt; doubles.
    pub job_retry_delay: Duration,
    /// Limit on each call to a target.
    pub step_timeout: Duration,
    /// Tries of one step within an attempt.
    pub step_max_attempts: u32,
    /// How long a claim lasts.
    pub claim: Duration,
    /// Users of one stream batch whose jobs run side by side.
    pub batch_users_at_once: usize,
}

impl EngineConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let at_least_one = |name: &'static str, v: u64| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    name,
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(u32::try_from(v).unwrap_or(u32::MAX))
            }
        };
        Ok(Self {
            table: TableConfig::read(&env)?,
            okta: OktaConfig::read(&env)?,
            targets_secret_id: env.get("TARGETS_SECRET_ID"),
            targets_refresh: env.refresh()?,
            time_budget: env.seconds("DEPROVISION_TIME_BUDGET_SECONDS", 100)?,
            dry_run: env.flag("DRY_RUN", false)?,
            delete_in_targets: env.flag("DELETE_IN_TARGETS", false)?,
            restore_groups: env.flag("RESTORE_GROUPS", true)?,
            restore_accounts: env.flag("RESTORE_ACCOUNTS", true)?,
            revoke_oauth_tokens: env.flag("REVOKE_OAUTH_TOKENS", true)?,
            fuse_limit: at_least_one("FUSE_LIMIT", env.number("FUSE_LIMIT", 25)?)?,
            fuse_window: env.seconds("FUSE_WINDOW_SECONDS", 600)?,
            job_max_attempts: at_least_one("JOB_MAX_ATTEMPTS", env.number("JOB_MAX_ATTEMPTS", 3)?)?,
            job_retry_delay: env.seconds("JOB_RETRY_DELAY_SECONDS", 2)?,
            step_timeout: env.seconds("STEP_TIMEOUT_SECONDS", 10)?,
            step_max_attempts: at_least_one(
                "STEP_MAX_ATTEMPTS",
                env.number("STEP_MAX_ATTEMPTS", 3)?,
            )?,
            claim: env.seconds("JOB_CLAIM_SECONDS", 180)?,
            batch_users_at_once: usize::try_from(at_least_one(
                "BATCH_USERS_AT_ONCE",
                env.number("BATCH_USERS_AT_ONCE", 4)?,
            )?)
            .unwrap_or(1),
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

/// Configuration of the actions function.
#[derive(Debug, Clone)]
pub struct ActionsConfig {
    /// The DynamoDB table.
    pub table: TableConfig,
    /// The Okta org and its credentials.
    pub okta: OktaConfig,
    /// Longest one request runs before what is left is answered `pending`.
    pub time_budget: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// The safety fuse, shared with the deprovision function (`FUSE_LIMIT`,
    /// `FUSE_WINDOW_SECONDS`).
    pub fuse: FuseSettings,
}

impl ActionsConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let time_budget = env.seconds("ACTIONS_TIME_BUDGET_SECONDS", 25)?;
        if time_budget > Duration::from_secs(29) {
            return Err(ConfigError::Invalid {
                name: "ACTIONS_TIME_BUDGET_SECONDS",
                reason: "must stay below API Gateway's 30-second limit".into(),
            });
        }
        Ok(Self {
            table: TableConfig::read(&env)?,
            okta: OktaConfig::read(&env)?,
            time_budget,
            max_body_bytes: env.number("ACTIONS_MAX_BODY_BYTES", 256 * 1024)? as usize,
            fuse: FuseSettings {
                limit: u32::try_from(env.number("FUSE_LIMIT", 25)?.max(1)).unwrap_or(u32::MAX),
                window: env.seconds("FUSE_WINDOW_SECONDS", 600)?,
            },
        })
    }
}

/// The `sync` function: an HR export dropped into the bucket, planned against Okta and
/// applied when every guard passes.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The table (drops, requests, the audit trail).
    pub table: TableConfig,
    /// The Okta org and its credentials.
    pub okta: OktaConfig,
    /// The bucket's prefix for the files to plan (`SYNC_INCOMING_PREFIX`, `incoming/`):
    /// an object elsewhere is never planned.
    pub incoming_prefix: String,
    /// The bucket's prefix for the plans (`SYNC_PLANS_PREFIX`, `plans/`), every drop's,
    /// applied or held.
    pub plans_prefix: String,
    /// Who the files speak for (`SYNC_SCOPE_GROUP` or `SYNC_SCOPE_USER_TYPE`).
    pub scope: crate::sync::Scope,
    /// What the plan may do (`SYNC_MANAGE_GROUPS`, `SYNC_DEPROVISION_MISSING`), with the
    /// guards at their defaults and never overridden: a drop a guard refuses is held.
    pub settings: crate::sync::Settings,
    /// The HR system's column names to ours (`SYNC_COLUMN_MAPPING`, a JSON object).
    pub mapping: crate::sync::Mapping,
    /// The safety fuse (`FUSE_LIMIT`, `FUSE_WINDOW_SECONDS`), as for the actions API.
    pub fuse: FuseSettings,
    /// Largest file taken (`SYNC_MAX_FILE_BYTES`, 64 MiB).
    pub max_file_bytes: u64,
}

impl SyncConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::sync::{Mapping, Scope, Settings};
        let env = Env(lookup);
        let scope = match (env.get("SYNC_SCOPE_GROUP"), env.get("SYNC_SCOPE_USER_TYPE")) {
            (Some(g), None) => Scope::Group(g.trim().to_owned()),
            (None, Some(t)) => Scope::UserType(t.trim().to_owned()),
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "SYNC_SCOPE_GROUP",
                    reason: "set SYNC_SCOPE_GROUP or SYNC_SCOPE_USER_TYPE, not both".into(),
                })
            }
            (None, None) => return Err(ConfigError::Missing("SYNC_SCOPE_GROUP")),
        };
        let mapping = match env.get("SYNC_COLUMN_MAPPING") {
            Some(json) => {
                Mapping::from_json(json.as_bytes()).map_err(|e| ConfigError::Invalid {
                    name: "SYNC_COLUMN_MAPPING",
                    reason: e.to_string(),
                })?
            }
            None => Mapping::default(),
        };
        Ok(Self {
            table: TableConfig::read(&env)?,
            okta: OktaConfig::read(&env)?,
            incoming_prefix: env
                .get("SYNC_INCOMING_PREFIX")
                .unwrap_or_else(|| "incoming/".into()),
            plans_prefix: env
                .get("SYNC_PLANS_PREFIX")
                .unwrap_or_else(|| "plans/".into()),
            scope,
            settings: Settings {
                manage_groups_prefix: env.get("SYNC_MANAGE_GROUPS"),
                deprovision_missing: env.flag("SYNC_DEPROVISION_MISSING", false)?,
                limits: Default::default(),
                overrides: Default::default(),
            },
            mapping,
            fuse: FuseSettings {
                limit: u32::try_from(env.number("FUSE_LIMIT", 25)?.max(1)).unwrap_or(u32::MAX),
                window: env.seconds("FUSE_WINDOW_SECONDS", 600)?,
            },
            max_file_bytes: env.number("SYNC_MAX_FILE_BYTES", 64 * 1024 * 1024)?,
        })
    }
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

    const BASE: [(&str, &str); 3] = [
        ("TABLE_NAME", "t"),
        ("AUDIT_TABLE_NAME", "a"),
        ("HOOK_SECRET_ID", "s"),
    ];

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
    fn the_engine_reads_flags_strictly_and_defaults_to_the_safe_side() {
        let base = [
            ("TABLE_NAME", "t"),
            ("AUDIT_TABLE_NAME", "a"),
            ("OKTA_ORG_URL", "https://x.okta.com/"),
            ("OKTA_CREDENTIALS_SECRET_ID", "c"),
        ];
        let read = |extra: &[(&str, &str)]| {
            let map: HashMap<String, String> = base
                .iter()
                .chain(extra)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            EngineConfig::from_lookup(|k| map.get(k).cloned())
        };
        let c = read(&[]).unwrap();
        assert!(!c.dry_run && !c.delete_in_targets && c.restore_groups);
        assert_eq!((c.fuse_limit, c.fuse_window.as_secs()), (25, 600));
        assert_eq!(c.okta.org_url, "https://x.okta.com");
        assert!(read(&[("DRY_RUN", "TRUE")]).unwrap().dry_run);
        assert!(matches!(
            read(&[("DRY_RUN", "yes")]),
            Err(ConfigError::Invalid {
                name: "DRY_RUN",
                ..
            })
        ));
        assert!(matches!(
            read(&[("FUSE_LIMIT", "0")]),
            Err(ConfigError::Invalid {
                name: "FUSE_LIMIT",
                ..
            })
        ));
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = config(&[("TABLE_NAME", "t"), ("AUDIT_TABLE_NAME", "a")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable HOOK_SECRET_ID"
        );
    }

    #[test]
    fn the_state_table_alone_is_not_enough_the_audit_table_is_named() {
        let err = config(&[("TABLE_NAME", "t"), ("HOOK_SECRET_ID", "s")]).unwrap_err();
        assert_eq!(err, ConfigError::Missing("AUDIT_TABLE_NAME"));
        let c = config(&BASE).unwrap();
        assert_eq!(c.table, TableConfig::named("t", "a"));
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
        vars.push(("MAX_BODY_BYTES", "lots"));
        assert!(matches!(
            config(&vars),
            Err(ConfigError::Invalid {
                name: "MAX_BODY_BYTES",
                ..
            })
        ));
    }

    fn sync(vars: &[(&str, &str)]) -> Result<SyncConfig, ConfigError> {
        let map: HashMap<String, String> = [
            ("TABLE_NAME", "t"),
            ("AUDIT_TABLE_NAME", "a"),
            ("OKTA_ORG_URL", "https://example.okta.com/"),
            ("OKTA_CREDENTIALS_SECRET_ID", "c"),
        ]
        .iter()
        .chain(vars)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        SyncConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_sync_needs_exactly_one_scope_and_a_valid_mapping() {
        use crate::sync::Scope;
        assert!(matches!(
            sync(&[]),
            Err(ConfigError::Missing("SYNC_SCOPE_GROUP"))
        ));
        assert!(matches!(
            sync(&[
                ("SYNC_SCOPE_GROUP", "HR"),
                ("SYNC_SCOPE_USER_TYPE", "Employee")
            ]),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            sync(&[
                ("SYNC_SCOPE_GROUP", "HR"),
                ("SYNC_COLUMN_MAPPING", "{not json")
            ]),
            Err(ConfigError::Invalid {
                name: "SYNC_COLUMN_MAPPING",
                ..
            })
        ));
        let c = sync(&[
            ("SYNC_SCOPE_USER_TYPE", " Employee "),
            ("SYNC_MANAGE_GROUPS", "HR-"),
            ("SYNC_DEPROVISION_MISSING", "true"),
            ("SYNC_SCOPE_GROUP", ""),
        ])
        .unwrap();
        assert_eq!(c.scope, Scope::UserType("Employee".into()));
        assert_eq!(c.settings.manage_groups_prefix.as_deref(), Some("HR-"));
        assert!(c.settings.deprovision_missing);
        assert_eq!(
            c.settings.overrides,
            Default::default(),
            "a drop never overrides a guard"
        );
        assert_eq!(
            (c.incoming_prefix.as_str(), c.plans_prefix.as_str()),
            ("incoming/", "plans/")
        );
    }
}
