//! Secrets Manager. The hook secret: cached per execution environment, re-read on a
//! mismatch at most once per interval, and tolerant of a rotation in flight. The
//! credentials for Okta and the targets: [`cached::CachedSecret`], re-read when refused
//! or old.

pub mod cached;

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_secretsmanager::Client;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use cached::{CachedSecret, ReadFuture, RefreshSettings, SecretRead, Version};

/// A secret value. It never prints: `Debug` shows `[redacted]` and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in constant time (for equal lengths), so a caller cannot learn the
    /// secret byte by byte from response times.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Reads a SecretString that holds either the token itself or `{"token": "..."}`.
/// An empty value, or JSON without a `token`, means no secret is configured.
pub fn parse_secret_string(raw: &str) -> Option<Secret> {
    let trimmed = raw.trim();
    if trimmed.starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(trimmed) {
            return map
                .get("token")
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(Secret::new);
        }
    }
    (!trimmed.is_empty()).then(|| Secret::new(trimmed))
}

/// A version of the secret and when it was created.
#[derive(Debug, Clone)]
pub struct SecretVersion {
    /// The value.
    pub value: Secret,
    /// When this version was created; for the current version this is the rotation time.
    pub created: Option<SystemTime>,
}

/// The two staging labels the hook accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `AWSCURRENT`.
    Current,
    /// `AWSPREVIOUS`: still accepted for a grace period after a rotation.
    Previous,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::Current => "AWSCURRENT",
            Stage::Previous => "AWSPREVIOUS",
        }
    }
}

/// The secret store could not be read.
#[derive(Debug, thiserror::Error)]
#[error("secret {stage} unavailable: {detail}")]
pub struct SecretError {
    stage: &'static str,
    detail: String,
}

/// Where secret versions come from: Secrets Manager, or a fixed value in unit tests.
pub trait SecretSource: Send + Sync {
    /// Reads one staged version; `None` when that stage does not exist.
    fn fetch(
        &self,
        stage: Stage,
    ) -> impl Future<Output = Result<Option<SecretVersion>, SecretError>> + Send;
}

/// Secrets Manager through the AWS SDK.
#[derive(Debug, Clone)]
pub struct SecretsManagerSource {
    client: Client,
    secret_id: String,
}

impl SecretsManagerSource {
    /// Reads the secret `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }
}

impl SecretsManagerSource {
    /// One `GetSecretValue`; `None` when the secret or that stage does not exist.
    async fn get(&self, stage: Stage) -> Result<Option<GetSecretValueOutput>, SecretError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage.label())
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(out)),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(None),
            // The SDK's error text names the secret id and the failure, never the value.
            Err(err) => Err(SecretError {
                stage: stage.label(),
                detail: DisplayErrorContext(&err).to_string(),
            }),
        }
    }

    /// Reads the current SecretString whole (for JSON credentials); `None` if the secret
    /// does not exist or holds no string.
    pub async fn read_current(&self) -> Result<Option<Secret>, SecretError> {
        Ok(self
            .get(Stage::Current)
            .await?
            .and_then(|out| out.secret_string().map(Secret::new)))
    }
}

impl SecretSource for SecretsManagerSource {
    async fn fetch(&self, stage: Stage) -> Result<Option<SecretVersion>, SecretError> {
        Ok(self.get(stage).await?.and_then(|out| {
            out.secret_string()
                .and_then(parse_secret_string)
                .map(|value| SecretVersion {
                    value,
                    created: out
                        .created_date()
                        .and_then(|d| SystemTime::try_from(*d).ok()),
                })
        }))
    }
}

/// The result of checking a presented secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// It matches the current secret, or the previous one within the rotation grace period.
    Accepted,
    /// It does not match (or none was presented).
    Rejected,
    /// There is no secret to compare with: the integration is not set up.
    NotConfigured,
}

#[derive(Debug, Default)]
struct Cached {
    current: Option<SecretVersion>,
    previous: Option<SecretVersion>,
    loaded_at: Option<Instant>,
}

/// The hook secret as the handlers use it.
#[derive(Debug)]
pub struct HookSecret<K> {
    source: K,
    refresh_interval: Duration,
    rotation_grace: Duration,
    cache: Mutex<Cached>,
}

impl<K: SecretSource> HookSecret<K> {
    /// A cache over `source`; nothing is read until [`HookSecret::prime`] or the first check.
    pub fn new(source: K, refresh_interval: Duration, rotation_grace: Duration) -> Self {
        Self {
            source,
            refresh_interval,
            rotation_grace,
            cache: Mutex::new(Cached::default()),
        }
    }

    /// Loads the secret during init, so the first request does not pay for it.
    pub async fn prime(&self) -> Result<(), SecretError> {
        let mut cache = self.cache.lock().await;
        self.load(&mut cache).await
    }

    async fn load(&self, cache: &mut Cached) -> Result<(), SecretError> {
        let (current, previous) = tokio::join!(
            self.source.fetch(Stage::Current),
            self.source.fetch(Stage::Previous)
        );
        cache.current = current?;
        // A failure to read the previous version must not block the current one.
        cache.previous = previous.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "previous hook secret version unreadable");
            None
        });
        cache.loaded_at = Some(Instant::now());
        Ok(())
    }

    /// Checks a presented secret. On anything but a match the secret is re-read, at most
    /// once per refresh interval, so a rotation is picked up without a cold start and a
    /// flood of bad requests cannot flood Secrets Manager.
    pub async fn check(&self, presented: Option<&[u8]>) -> Result<AuthOutcome, SecretError> {
        let mut cache = self.cache.lock().await;
        if cache.loaded_at.is_none() {
            self.load(&mut cache).await?;
        }
        let outcome = self.evaluate(&cache, presented, SystemTime::now());
        let stale = cache
            .loaded_at
            .is_none_or(|at| at.elapsed() >= self.refresh_interval);
        if outcome == AuthOutcome::Accepted || !stale {
            return Ok(outcome);
        }
        tracing::info!("hook secret mismatch; re-reading the secret");
        self.load(&mut cache).await?;
        Ok(self.evaluate(&cache, presented, SystemTime::now()))
    }

    fn evaluate(&self, cache: &Cached, presented: Option<&[u8]>, now: SystemTime) -> AuthOutcome {
        let Some(current) = &cache.current else {
            return AuthOutcome::NotConfigured;
        };
        let Some(presented) = presented else {
            return AuthOutcome::Rejected;
        };
        let matches_current = current.value.matches(presented);
        let matches_previous = cache.previous.as_ref().is_some_and(|p| {
            p.value.matches(presented)
                && previous_still_accepted(current.created, now, self.rotation_grace)
        });
        if matches_current || matches_previous {
            AuthOutcome::Accepted
        } else {
            AuthOutcome::Rejected
        }
    }
}

/// The previous version is accepted until `grace` after the current one was created.
/// Without a creation date there is no way to bound it, so it is refused.
pub fn previous_still_accepted(
    current_created: Option<SystemTime>,
    now: SystemTime,
    grace: Duration,
) -> bool {
    current_created.is_some_and(|created| now < created + grace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex as StdMutex;

    /// A source whose versions a test can change, counting reads.
    #[derive(Default)]
    struct Fake {
        current: StdMutex<Option<SecretVersion>>,
        previous: StdMutex<Option<SecretVersion>>,
        reads: AtomicUsize,
    }

    impl Fake {
        fn set(&self, current: Option<&str>, previous: Option<&str>, created: SystemTime) {
            let v = |s: Option<&str>| {
                s.map(|s| SecretVersion {
                    value: Secret::new(s),
                    created: Some(created),
                })
            };
            *self.current.lock().unwrap() = v(current);
            *self.previous.lock().unwrap() = v(previous);
        }
    }

    impl SecretSource for &Fake {
        async fn fetch(&self, stage: Stage) -> Result<Option<SecretVersion>, SecretError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(match stage {
                Stage::Current => self.current.lock().unwrap().clone(),
                Stage::Previous => self.previous.lock().unwrap().clone(),
            })
        }
    }

    const REFRESH: Duration = Duration::from_secs(30);
    const GRACE: Duration = Duration::from_secs(3600);

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(
            format!(
                "{:?}",
                SecretVersion {
                    value: s,
                    created: None
                }
            ),
            "SecretVersion { value: [redacted], created: None }"
        );
    }

    #[test]
    fn secret_strings_are_a_token_or_json_with_a_token() {
        assert_eq!(parse_secret_string("  abc \n").unwrap().expose(), "abc");
        assert_eq!(
            parse_secret_string(r#"{"token":"xyz"}"#).unwrap().expose(),
            "xyz"
        );
        assert!(parse_secret_string("").is_none());
        assert!(parse_secret_string(r#"{"token":""}"#).is_none());
        assert!(parse_secret_string(r#"{"other":"x"}"#).is_none());
    }

    #[test]
    fn the_previous_version_is_accepted_only_within_the_grace_period() {
        let rotated = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(previous_still_accepted(
            Some(rotated),
            rotated + GRACE / 2,
            GRACE
        ));
        assert!(!previous_still_accepted(
            Some(rotated),
            rotated + GRACE,
            GRACE
        ));
        assert!(!previous_still_accepted(None, rotated, GRACE));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rotated_secret_is_picked_up_after_the_refresh_interval_without_a_restart() {
        let fake = Fake::default();
        fake.set(Some("old"), None, SystemTime::now());
        let secret = HookSecret::new(&fake, REFRESH, GRACE);
        secret.prime().await.unwrap();
        assert_eq!(
            secret.check(Some(b"old")).await.unwrap(),
            AuthOutcome::Accepted
        );

        fake.set(Some("new"), Some("old"), SystemTime::now());
        // Within the interval a mismatch does not re-read: a flood of bad requests is cheap.
        let reads = fake.reads.load(Ordering::SeqCst);
        assert_eq!(
            secret.check(Some(b"new")).await.unwrap(),
            AuthOutcome::Rejected
        );
        assert_eq!(fake.reads.load(Ordering::SeqCst), reads);

        tokio::time::advance(REFRESH).await;
        assert_eq!(
            secret.check(Some(b"new")).await.unwrap(),
            AuthOutcome::Accepted
        );
        // Okta may still send the old value until the admin updates it.
        assert_eq!(
            secret.check(Some(b"old")).await.unwrap(),
            AuthOutcome::Accepted
        );
        assert_eq!(
            secret.check(Some(b"wrong")).await.unwrap(),
            AuthOutcome::Rejected
        );
        assert_eq!(secret.check(None).await.unwrap(), AuthOutcome::Rejected);
    }

    #[tokio::test(start_paused = true)]
    async fn no_secret_means_not_configured() {
        let fake = Fake::default();
        let secret = HookSecret::new(&fake, REFRESH, GRACE);
        assert_eq!(
            secret.check(Some(b"anything")).await.unwrap(),
            AuthOutcome::NotConfigured
        );
    }
}
