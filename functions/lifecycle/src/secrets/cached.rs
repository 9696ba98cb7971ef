//! A credential read from a secret and kept per execution environment, re-read when the
//! system it opens refuses it and when it has grown old, so that a rotation reaches warm
//! functions without a cold start.
//!
//! | event | what happens |
//! |---|---|
//! | a use, value younger than `max_age` | the cached value |
//! | a use, value older than `max_age` | one caller re-reads (the others use the cached value meanwhile) |
//! | a refusal of the value in use, last read less than `interval` ago | nothing: the refusal stands |
//! | a refusal, last read longer ago | one re-read; callers refused meanwhile wait for it |
//! | a refusal of a value already replaced | the newer value, without a read |
//! | a re-read that fails, times out, or finds a value that does not parse | the last good value is kept; a warning names the secret, never its value |
//! | a re-read that finds the same text | the cached value is kept as it is (an access token fetched with it too) |

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{Secret, SecretError, SecretsManagerSource};

/// A boxed future, so that a source can sit behind `dyn`.
pub type ReadFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Secret>, SecretError>> + Send + 'a>>;

/// Where a credential's text comes from: Secrets Manager, or a fake in tests.
pub trait SecretRead: Send + Sync {
    /// The current text of the secret; `None` when it does not exist or is empty.
    fn read(&self) -> ReadFuture<'_>;
}

impl SecretRead for SecretsManagerSource {
    fn read(&self) -> ReadFuture<'_> {
        Box::pin(self.read_current())
    }
}

/// How often a cached credential may be read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSettings {
    /// Least time between two reads after a refusal (`SECRET_REFRESH_SECONDS`): a flood
    /// of refusals costs one read per interval.
    pub interval: Duration,
    /// A value older than this is read again at its next use (`SECRET_MAX_AGE_SECONDS`).
    pub max_age: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
        }
    }
}

/// Longest one read of the secret may take before the cached value is used instead.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Turns the secret's text into the value callers use. Its error must never quote the text.
pub type Parse<T> = Box<dyn Fn(&Secret) -> Result<T, String> + Send + Sync>;

/// One value of the credential, numbered: a caller reports a refusal of the version it
/// used, so a refusal of an old version never costs a read.
pub struct Version<T> {
    value: T,
    number: u64,
    text: Secret,
}

impl<T> Version<T> {
    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// 1 for the value read at start, one more for each change since.
    pub fn number(&self) -> u64 {
        self.number
    }
}

impl<T> std::ops::Deref for Version<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

struct Slot<T> {
    current: Arc<Version<T>>,
    /// The last read, successful or not (a failing store is not asked again at once).
    read_at: Instant,
}

/// A credential cached per execution environment; see the module doc for when it is
/// read again.
pub struct CachedSecret<T> {
    name: String,
    source: Option<Arc<dyn SecretRead>>,
    parse: Parse<T>,
    settings: RefreshSettings,
    slot: Mutex<Slot<T>>,
    /// Held by the one caller reading the secret.
    reading: tokio::sync::Mutex<()>,
}

impl<T: Send + Sync + 'static> fmt::Debug for CachedSecret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedSecret")
            .field("name", &self.name)
            .field("version", &self.current().number)
            .field("settings", &self.settings)
            .finish()
    }
}

impl<T: Send + Sync + 'static> CachedSecret<T> {
    /// A cache over `source`, starting from `text` as read at init (already parsed into
    /// `value`). `name` (the secret id) is what logs call it.
    pub fn new(
        name: impl Into<String>,
        text: Secret,
        value: T,
        source: Arc<dyn SecretRead>,
        parse: Parse<T>,
        settings: RefreshSettings,
    ) -> Self {
        Self::build(name.into(), text, value, Some(source), parse, settings)
    }

    /// A value that is never read again (credentials given in code: tests, tools).
    pub fn fixed(value: T) -> Self {
        Self::build(
            "fixed".into(),
            Secret::new(""),
            value,
            None,
            Box::new(|_| Err("a fixed value is not read again".into())),
            RefreshSettings::default(),
        )
    }

    fn build(
        name: String,
        text: Secret,
        value: T,
        source: Option<Arc<dyn SecretRead>>,
        parse: Parse<T>,
        settings: RefreshSettings,
    ) -> Self {
        Self {
            name,
            source,
            parse,
            settings,
            slot: Mutex::new(Slot {
                current: Arc::new(Version {
                    value,
                    number: 1,
                    text,
                }),
                read_at: Instant::now(),
            }),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot<T>> {
        // A panic elsewhere cannot leave the slot half-written: every write is one assignment.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached value as it is, without reading anything (for `Debug`, logs).
    pub fn peek(&self) -> Arc<Version<T>> {
        Arc::clone(&self.lock().current)
    }

    fn current(&self) -> Arc<Version<T>> {
        self.peek()
    }

    fn read_age(&self) -> Duration {
        self.lock().read_at.elapsed()
    }

    /// The value to use now. When it is older than `max_age`, one caller reads the
    /// secret first; callers arriving during that read use the cached value.
    pub async fn get(&self) -> Arc<Version<T>> {
        if self.source.is_some() && self.read_age() >= self.settings.max_age {
            if let Ok(_reading) = self.reading.try_lock() {
                // Another caller may have finished a read between the check and the lock.
                if self.read_age() >= self.settings.max_age {
                    self.read_again("max age reached").await;
                }
            }
        }
        self.current()
    }

    /// Reports that the system `used` opens refused it. Answers the value to try once
    /// more, when there is a different one (read now, or by a caller before); `None` when
    /// the refusal stands (no other value, or the last read is too recent).
    pub async fn refused(&self, used: &Version<T>) -> Option<Arc<Version<T>>> {
        self.source.as_ref()?;
        let _reading = self.reading.lock().await;
        let newer = |current: Arc<Version<T>>| (current.number != used.number).then_some(current);
        let current = self.current();
        if current.number != used.number {
            return Some(current);
        }
        if self.read_age() < self.settings.interval {
            tracing::info!(secret = %self.name, "credential refused; read too recently to read again");
            return None;
        }
        self.read_again("credential refused").await;
        newer(self.current())
    }

    /// One read of the secret, bounded in time; the value changes only when the text did
    /// and parses. Called with `reading` held.
    async fn read_again(&self, why: &'static str) {
        let Some(source) = &self.source else {
            return;
        };
        let result = tokio::time::timeout(READ_TIMEOUT, source.read()).await;
        let mut slot = self.lock();
        slot.read_at = Instant::now();
        let text = match result {
            Ok(Ok(Some(text))) => text,
            Ok(Ok(None)) => {
                tracing::warn!(secret = %self.name, why, "secret missing or empty; keeping the last good value");
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(secret = %self.name, why, error = %e, "secret unreadable; keeping the last good value");
                return;
            }
            Err(_) => {
                tracing::warn!(secret = %self.name, why, timeout_ms = READ_TIMEOUT.as_millis() as u64,
                    "secret read timed out; keeping the last good value");
                return;
            }
        };
        if text == slot.current.text {
            tracing::info!(secret = %self.name, why, "secret read again; unchanged");
            return;
        }
        match (self.parse)(&text) {
            Ok(value) => {
                let number = slot.current.number + 1;
                slot.current = Arc::new(Version {
                    value,
                    number,
                    text,
                });
                tracing::info!(secret = %self.name, why, version = number, "secret changed; using the new value");
            }
            Err(e) => {
                tracing::warn!(secret = %self.name, why, error = %e, "new secret value unusable; keeping the last good value");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A source a test can change or break, counting reads; each read takes 10 ms of the
    /// (paused) clock, so concurrent callers overlap.
    #[derive(Default)]
    struct Fake {
        text: Mutex<Option<String>>,
        broken: std::sync::atomic::AtomicBool,
        reads: AtomicUsize,
    }

    impl Fake {
        fn with(text: &str) -> Arc<Self> {
            let fake = Arc::new(Self::default());
            fake.set(text);
            fake
        }

        fn set(&self, text: &str) {
            *self.text.lock().unwrap() = Some(text.to_owned());
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    impl SecretRead for Fake {
        fn read(&self) -> ReadFuture<'_> {
            Box::pin(async {
                self.reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                if self.broken.load(Ordering::SeqCst) {
                    return Err(SecretError {
                        stage: "AWSCURRENT",
                        detail: "service unavailable".into(),
                    });
                }
                Ok(self.text.lock().unwrap().clone().map(Secret::new))
            })
        }
    }

    const SETTINGS: RefreshSettings = RefreshSettings {
        interval: Duration::from_secs(30),
        max_age: Duration::from_secs(300),
    };

    /// The value is the text, upper-cased; "bad" does not parse.
    fn cache(fake: &Arc<Fake>, first: &str) -> CachedSecret<String> {
        let parse: Parse<String> = Box::new(|s: &Secret| match s.expose() {
            "bad" => Err("not a credential".into()),
            t => Ok(t.to_uppercase()),
        });
        CachedSecret::new(
            "test/secret",
            Secret::new(first),
            first.to_uppercase(),
            Arc::clone(fake) as Arc<dyn SecretRead>,
            parse,
            SETTINGS,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn many_refusals_within_the_interval_read_the_secret_once() {
        let fake = Fake::with("old");
        let cached = cache(&fake, "old");
        tokio::time::advance(SETTINGS.interval).await;
        fake.set("new");
        let used = cached.get().await;
        let retry = cached.refused(&used).await.expect("a new value to try");
        assert_eq!(retry.value(), "NEW");
        assert_eq!(retry.number(), 2);
        // Refusals of the new value within the interval read nothing.
        for _ in 0..10 {
            assert!(cached.refused(&retry).await.is_none());
        }
        // A refusal of the old value answers the new one, without a read.
        assert_eq!(cached.refused(&used).await.unwrap().value(), "NEW");
        assert_eq!(fake.reads(), 1);
        tokio::time::advance(SETTINGS.interval).await;
        assert!(
            cached.refused(&retry).await.is_none(),
            "unchanged: the refusal stands"
        );
        assert_eq!(fake.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_right_after_start_reads_nothing() {
        let fake = Fake::with("new");
        let cached = cache(&fake, "old");
        let used = cached.get().await;
        assert!(cached.refused(&used).await.is_none());
        assert_eq!(fake.reads(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_read_keeps_the_last_good_value_and_is_not_repeated_at_once() {
        let fake = Fake::with("old");
        let cached = cache(&fake, "old");
        tokio::time::advance(SETTINGS.interval).await;
        fake.broken.store(true, Ordering::SeqCst);
        let used = cached.get().await;
        assert!(cached.refused(&used).await.is_none());
        assert_eq!(cached.get().await.value(), "OLD");
        assert!(cached.refused(&used).await.is_none());
        assert_eq!(fake.reads(), 1, "a failed read counts against the interval");

        // A value that does not parse, or no value at all, is not taken either.
        fake.broken.store(false, Ordering::SeqCst);
        for text in ["bad", ""] {
            tokio::time::advance(SETTINGS.interval).await;
            if text.is_empty() {
                *fake.text.lock().unwrap() = None;
            } else {
                fake.set(text);
            }
            assert!(cached.refused(&used).await.is_none());
            assert_eq!(cached.get().await.value(), "OLD");
        }
        tokio::time::advance(SETTINGS.interval).await;
        fake.set("new");
        assert_eq!(cached.refused(&used).await.unwrap().value(), "NEW");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_refusals_read_the_secret_once_and_all_get_the_new_value() {
        let fake = Fake::with("old");
        let cached = Arc::new(cache(&fake, "old"));
        tokio::time::advance(SETTINGS.interval).await;
        fake.set("new");
        let used = cached.get().await;
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let (cached, used) = (Arc::clone(&cached), Arc::clone(&used));
                tokio::spawn(async move { cached.refused(&used).await.map(|v| v.number()) })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), Some(2));
        }
        assert_eq!(fake.reads(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_old_value_is_read_again_at_its_next_use_by_one_caller() {
        let fake = Fake::with("old");
        let cached = Arc::new(cache(&fake, "old"));
        fake.set("new");
        assert_eq!(cached.get().await.value(), "OLD");
        tokio::time::advance(SETTINGS.max_age).await;
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let cached = Arc::clone(&cached);
                tokio::spawn(async move { cached.get().await.number() })
            })
            .collect();
        let mut numbers = Vec::new();
        for call in calls {
            numbers.push(call.await.unwrap());
        }
        assert_eq!(fake.reads(), 1);
        assert!(numbers.contains(&2), "{numbers:?}");
        assert_eq!(cached.get().await.value(), "NEW");
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_text_keeps_the_same_value() {
        let fake = Fake::with("old");
        let cached = cache(&fake, "old");
        let first = cached.get().await;
        tokio::time::advance(SETTINGS.max_age).await;
        let again = cached.get().await;
        assert_eq!(fake.reads(), 1);
        assert!(Arc::ptr_eq(&first, &again), "nothing rebuilt");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_value_is_never_read_again() {
        let cached = CachedSecret::fixed(7u8);
        tokio::time::advance(SETTINGS.max_age).await;
        let used = cached.get().await;
        assert_eq!(*used.value(), 7);
        assert!(cached.refused(&used).await.is_none());
    }
}
