//! Waiting between tries: exponential backoff with jitter, and the one source of the
//! randomness it needs.
//!
//! Jitter keeps clients that failed together from retrying together; the cap keeps a
//! long run of failures from waiting longer than the caller can afford.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Exponential backoff with "equal jitter": the wait doubles from `base` each retry up
/// to `max`, and half of it is random, so it never drops below half the doubled value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    /// Waits starting at `base` before the first retry, never longer than `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The wait before retry number `retry` (0 before the first retry), with fresh jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, random_u64())
    }

    /// [`Backoff::delay`] with the jitter drawn from `random`, so tests can pin it.
    pub fn delay_with(&self, retry: u32, random: u64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max);
        let half = capped / 2;
        let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(if half_ms == 0 {
            0
        } else {
            random % (half_ms + 1)
        })
    }
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A random-looking 64-bit value from the standard library's per-process random keys.
/// Good for jitter and unique ids, not for cryptography.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(UNIQUE.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_the_cap() {
        let base = Duration::from_millis(200);
        let max = Duration::from_secs(5);
        let backoff = Backoff::new(base, max);
        for (retry, lo, hi) in [
            (0, 100, 200),
            (1, 200, 400),
            (2, 400, 800),
            (10, 2500, 5000),
        ] {
            for random in [0, 7, u64::MAX] {
                let d = backoff.delay_with(retry, random).as_millis();
                assert!(d >= lo && d <= hi, "retry {retry}: {d} ms");
            }
        }
        assert_eq!(
            Backoff::new(Duration::ZERO, max).delay_with(3, 9),
            Duration::ZERO
        );
    }

    #[test]
    fn a_delay_with_fresh_jitter_stays_inside_the_same_bounds() {
        let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        for _ in 0..100 {
            let d = backoff.delay(1).as_millis();
            assert!((200..=400).contains(&d), "{d} ms");
        }
    }

    #[test]
    fn random_values_differ_from_call_to_call() {
        let values: std::collections::HashSet<_> = (0..1000).map(|_| random_u64()).collect();
        assert_eq!(values.len(), 1000);
    }
}
