//! Okta's rate-limit headers, the 429 wait and the reserve that keeps this integration
//! from spending the org's whole budget.
//!
//! Okta's limits are org-wide and shared with every other integration, so the client
//! reads `X-Rate-Limit-*` from every answer and stops on its own before the last
//! requests of a window are gone.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use time::macros::format_description;
use time::PrimitiveDateTime;

/// The group of endpoints that shares one Okta rate-limit bucket, as far as this client
/// tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointFamily {
    /// `/api/v1/logs`.
    Logs,
    /// `/api/v1/users…` (except sessions).
    Users,
    /// `/api/v1/users/{id}/sessions`.
    Sessions,
    /// `/api/v1/groups…`.
    Groups,
    /// `/api/v1/eventHooks…`.
    EventHooks,
    /// `/oauth2/v1/token`.
    Token,
    /// Anything else.
    Other,
}

impl EndpointFamily {
    /// The family of a request path such as `/api/v1/users/00u1/sessions`.
    pub fn of_path(path: &str) -> Self {
        let rest = match path.strip_prefix("/api/v1/") {
            Some(rest) => rest,
            None if path.starts_with("/oauth2/") && path.ends_with("/token") => return Self::Token,
            None => return Self::Other,
        };
        let mut parts = rest.split('/');
        match parts.next() {
            Some("logs") => Self::Logs,
            Some("users") => {
                if parts.nth(1) == Some("sessions") {
                    Self::Sessions
                } else {
                    Self::Users
                }
            }
            Some("groups") => Self::Groups,
            Some("eventHooks") => Self::EventHooks,
            _ => Self::Other,
        }
    }

    /// A short name for logs and errors.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Logs => "logs",
            Self::Users => "users",
            Self::Sessions => "sessions",
            Self::Groups => "groups",
            Self::EventHooks => "eventHooks",
            Self::Token => "token",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for EndpointFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rate-limit state Okta reported in one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-Rate-Limit-Limit`: requests allowed in the window.
    pub limit: u64,
    /// `X-Rate-Limit-Remaining`: requests left in the window.
    pub remaining: u64,
    /// `X-Rate-Limit-Reset`: when the window ends, epoch seconds (Okta's clock).
    pub reset_at: i64,
    /// The answer's `Date`, epoch seconds (Okta's clock), if it had a valid one.
    pub date: Option<i64>,
}

impl RateLimit {
    /// Reads the three `X-Rate-Limit-*` headers and `Date`; `None` unless all three
    /// rate-limit headers are present and numeric.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<i64>().ok())
        };
        let limit = u64::try_from(num("x-rate-limit-limit")?).ok()?;
        let remaining = u64::try_from(num("x-rate-limit-remaining")?).ok()?;
        let reset_at = num("x-rate-limit-reset")?;
        let date = headers
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        Some(Self {
            limit,
            remaining,
            reset_at,
            date,
        })
    }

    /// How long until the window resets, measured on Okta's clock (`Reset − Date`), so a
    /// skewed local clock does not matter; `local_now` stands in when `Date` is missing.
    pub fn reset_in(&self, local_now: i64) -> Duration {
        let from = self.date.unwrap_or(local_now);
        Duration::from_secs(u64::try_from(self.reset_at - from).unwrap_or(0))
    }

    /// The wait after a 429: `X-Rate-Limit-Reset − Date + 1 s`, never less than one second.
    pub fn wait_after_429(&self, local_now: i64) -> Duration {
        self.reset_in(local_now) + Duration::from_secs(1)
    }

    /// Whether fewer than `limit × fraction` requests remain: the reserve left for
    /// every other integration of the org.
    pub fn below_reserve(&self, fraction: f64) -> bool {
        // Float maths on small integers is exact enough; a fraction ≤ 0 disables the reserve.
        (self.remaining as f64) < (self.limit as f64) * fraction
    }
}

/// Parses an HTTP `Date` (IMF-fixdate, `Mon, 23 Nov 2026 15:01:24 GMT`) to epoch seconds.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(s.trim(), &format)
        .ok()
        .map(|dt| dt.assume_utc().unix_timestamp())
}

/// Local wall clock, epoch seconds.
pub(crate) fn local_epoch_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The rate-limit bucket of a path, as Okta counts them: one per endpoint template, so
/// `/api/v1/users/00u1` and `/api/v1/users/00u2` share `users/{id}` while the user list
/// `users` is another bucket. Segments that are not lowercase words are ids or logins.
pub(crate) fn bucket_of(path: &str) -> String {
    path.trim_matches('/')
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            let word = seg.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if i <= 2 || word {
                seg
            } else {
                "{id}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Debug, Clone, Copy)]
struct Observed {
    family: EndpointFamily,
    rate: RateLimit,
    /// When (local monotonic clock) the answer's window ends.
    window_ends: Instant,
    /// Order of recording, to find the latest answer of a family.
    seq: u64,
}

/// The last rate-limit state seen per bucket.
#[derive(Debug, Default)]
pub(crate) struct RateBook {
    seen: Mutex<(u64, HashMap<String, Observed>)>,
}

/// Why the reserve stops a request: the state last seen and how long until its reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReserveHit {
    pub rate: RateLimit,
    pub retry_after: Duration,
}

impl RateBook {
    /// Records what an answer to `path` said.
    pub fn record(&self, path: &str, rate: RateLimit) {
        let window_ends = Instant::now() + rate.reset_in(local_epoch_now());
        if let Ok(mut guard) = self.seen.lock() {
            let (seq, seen) = &mut *guard;
            *seq += 1;
            let observed = Observed {
                family: EndpointFamily::of_path(path),
                rate,
                window_ends,
                seq: *seq,
            };
            seen.insert(bucket_of(path), observed);
        }
    }

    /// The latest state seen for any endpoint of `family`.
    pub fn last(&self, family: EndpointFamily) -> Option<RateLimit> {
        let guard = self.seen.lock().ok()?;
        guard
            .1
            .values()
            .filter(|o| o.family == family)
            .max_by_key(|o| o.seq)
            .map(|o| o.rate)
    }

    /// `Some` when the last answer for `path`'s bucket left less than the reserve and its
    /// window has not ended yet.
    pub fn reserve_hit(&self, path: &str, fraction: f64) -> Option<ReserveHit> {
        let guard = self.seen.lock().ok()?;
        let observed = guard.1.get(&bucket_of(path))?;
        let now = Instant::now();
        if observed.window_ends <= now || !observed.rate.below_reserve(fraction) {
            return None;
        }
        Some(ReserveHit {
            rate: observed.rate,
            retry_after: observed.window_ends - now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rate_limit_headers_and_date_are_read_from_an_answer() {
        let h = headers(&[
            ("x-rate-limit-limit", "120"),
            ("x-rate-limit-remaining", "7"),
            ("x-rate-limit-reset", "1795446120"),
            ("date", "Mon, 23 Nov 2026 15:01:24 GMT"),
        ]);
        let r = RateLimit::from_headers(&h).unwrap();
        assert_eq!(r.limit, 120);
        assert_eq!(r.remaining, 7);
        assert_eq!(r.reset_at, 1_795_446_120);
        assert_eq!(r.date, Some(1_795_446_084));
    }

    #[test]
    fn an_answer_without_rate_limit_headers_has_no_rate_limit() {
        assert!(RateLimit::from_headers(&headers(&[("date", "x")])).is_none());
        let h = headers(&[
            ("x-rate-limit-limit", "120"),
            ("x-rate-limit-remaining", "many"),
            ("x-rate-limit-reset", "1795446120"),
        ]);
        assert!(RateLimit::from_headers(&h).is_none());
    }

    #[test]
    fn the_429_wait_is_reset_minus_date_plus_one_second_on_oktas_clock() {
        let r = RateLimit {
            limit: 120,
            remaining: 0,
            reset_at: 1_000_060,
            date: Some(1_000_023),
        };
        // The local clock is far off; Okta's own Date decides.
        assert_eq!(r.wait_after_429(5), Duration::from_secs(38));
        let no_date = RateLimit { date: None, ..r };
        assert_eq!(no_date.wait_after_429(1_000_050), Duration::from_secs(11));
        let past = RateLimit {
            date: Some(1_000_100),
            ..r
        };
        assert_eq!(past.wait_after_429(0), Duration::from_secs(1));
    }

    #[test]
    fn the_reserve_is_a_fraction_of_the_limit() {
        let r = |remaining| RateLimit {
            limit: 100,
            remaining,
            reset_at: 0,
            date: None,
        };
        assert!(r(19).below_reserve(0.2));
        assert!(!r(20).below_reserve(0.2));
        assert!(!r(0).below_reserve(0.0));
    }

    #[test]
    fn endpoint_families_follow_the_path() {
        use EndpointFamily::*;
        assert_eq!(EndpointFamily::of_path("/api/v1/logs"), Logs);
        assert_eq!(EndpointFamily::of_path("/api/v1/users"), Users);
        assert_eq!(EndpointFamily::of_path("/api/v1/users/00u1"), Users);
        assert_eq!(
            EndpointFamily::of_path("/api/v1/users/00u1/lifecycle/deactivate"),
            Users
        );
        assert_eq!(
            EndpointFamily::of_path("/api/v1/users/00u1/sessions"),
            Sessions
        );
        assert_eq!(EndpointFamily::of_path("/api/v1/groups/00g1/users"), Groups);
        assert_eq!(EndpointFamily::of_path("/api/v1/eventHooks"), EventHooks);
        assert_eq!(EndpointFamily::of_path("/oauth2/v1/token"), Token);
        assert_eq!(EndpointFamily::of_path("/_sim/state"), Other);
    }

    #[test]
    fn a_book_stops_below_the_reserve_until_the_window_ends() {
        let book = RateBook::default();
        let now = local_epoch_now();
        let low = RateLimit {
            limit: 10,
            remaining: 1,
            reset_at: now + 30,
            date: Some(now),
        };
        book.record("/api/v1/logs", low);
        let hit = book.reserve_hit("/api/v1/logs", 0.2).unwrap();
        assert!(hit.retry_after <= Duration::from_secs(30));
        assert!(hit.retry_after > Duration::from_secs(28));
        assert!(book.reserve_hit("/api/v1/users", 0.2).is_none());
        let ended = RateLimit {
            reset_at: now,
            ..low
        };
        book.record("/api/v1/logs", ended);
        assert!(book.reserve_hit("/api/v1/logs", 0.2).is_none());
        assert_eq!(book.last(EndpointFamily::Logs), Some(ended));
    }

    #[test]
    fn each_endpoint_template_has_its_own_bucket() {
        assert_eq!(bucket_of("/api/v1/users"), "api/v1/users");
        assert_eq!(bucket_of("/api/v1/users/00u1a2B3"), "api/v1/users/{id}");
        assert_eq!(
            bucket_of("/api/v1/users/ada@example.com"),
            "api/v1/users/{id}"
        );
        assert_eq!(
            bucket_of("/api/v1/users/00u1/lifecycle/deactivate"),
            "api/v1/users/{id}/lifecycle/deactivate"
        );
        assert_eq!(
            bucket_of("/api/v1/groups/00g1/users/00u2"),
            "api/v1/groups/{id}/users/{id}"
        );
        assert_eq!(bucket_of("/api/v1/eventHooks"), "api/v1/eventHooks");
        assert_eq!(bucket_of("/oauth2/v1/token"), "oauth2/v1/token");
        let book = RateBook::default();
        let now = local_epoch_now();
        let spent = RateLimit {
            limit: 10,
            remaining: 0,
            reset_at: now + 30,
            date: Some(now),
        };
        book.record("/api/v1/users/00u1", spent);
        assert!(book.reserve_hit("/api/v1/users/00u2", 0.2).is_some());
        assert!(book.reserve_hit("/api/v1/users", 0.2).is_none());
        let fresh = RateLimit {
            remaining: 9,
            ..spent
        };
        book.record("/api/v1/users", fresh);
        assert_eq!(book.last(EndpointFamily::Users), Some(fresh));
    }
}
