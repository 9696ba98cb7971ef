//! Endpoint families, per-minute rate limits, fault injection settings and counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::seed::RateLimitConfig;

/// The endpoint family a request belongs to (the unit of rate limits, faults, counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `/api/v1/users*` except sessions.
    Users,
    /// `/api/v1/groups*`.
    Groups,
    /// `/api/v1/logs`.
    Logs,
    /// `/api/v1/users/{id}/sessions`.
    Sessions,
    /// `/api/v1/eventHooks*`.
    EventHooks,
    /// `/oauth2/v1/token`.
    Token,
    /// Any other `/api/v1` path.
    Other,
}

impl Family {
    /// Classifies a request path.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/oauth2/") {
            Self::Token
        } else if path.starts_with("/api/v1/users") {
            if path.ends_with("/sessions") {
                Self::Sessions
            } else {
                Self::Users
            }
        } else if path.starts_with("/api/v1/groups") {
            Self::Groups
        } else if path.starts_with("/api/v1/logs") {
            Self::Logs
        } else if path.starts_with("/api/v1/eventHooks") {
            Self::EventHooks
        } else {
            Self::Other
        }
    }

    /// Name used in `/_sim` JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Groups => "groups",
            Self::Logs => "logs",
            Self::Sessions => "sessions",
            Self::EventHooks => "eventHooks",
            Self::Token => "token",
            Self::Other => "other",
        }
    }

    /// Per-minute limit of this family.
    pub fn limit(self, cfg: &RateLimitConfig) -> u64 {
        match self {
            Self::Users | Self::Other => cfg.users,
            Self::Groups => cfg.groups,
            Self::Logs => cfg.logs,
            Self::Sessions => cfg.sessions,
            Self::EventHooks => cfg.event_hooks,
            Self::Token => cfg.token,
        }
    }

    /// The OAuth scope an endpoint of this family needs for a read or a write.
    pub fn scope(self, write: bool) -> Option<&'static str> {
        Some(match (self, write) {
            (Self::Users, false) => "okta.users.read",
            (Self::Users, true) | (Self::Sessions, _) => "okta.users.manage",
            (Self::Groups, false) => "okta.groups.read",
            (Self::Groups, true) => "okta.groups.manage",
            (Self::Logs, _) => "okta.logs.read",
            (Self::EventHooks, false) => "okta.eventHooks.read",
            (Self::EventHooks, true) => "okta.eventHooks.manage",
            (Self::Token, _) | (Self::Other, _) => return None,
        })
    }
}

/// Fixed one-minute windows per family, as Okta's limits reset on the minute.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: BTreeMap<Family, (i64, u64)>,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy)]
pub struct RateDecision {
    /// `X-Rate-Limit-Limit`.
    pub limit: u64,
    /// `X-Rate-Limit-Remaining`.
    pub remaining: u64,
    /// `X-Rate-Limit-Reset`, epoch seconds.
    pub reset: i64,
    /// False when the request is over the limit.
    pub allowed: bool,
}

impl RateLimiter {
    /// Counts a request of `family` at `now` (epoch seconds).
    pub fn check(&mut self, family: Family, limit: u64, now: i64) -> RateDecision {
        let start = now - now.rem_euclid(60);
        let entry = self.windows.entry(family).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 += 1;
        }
        RateDecision {
            limit,
            remaining: limit.saturating_sub(entry.1),
            reset: start + 60,
            allowed,
        }
    }

    /// Forgets all windows.
    pub fn clear(&mut self) {
        self.windows.clear();
    }
}

/// Faults applied to event hook deliveries.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct HookFaults {
    /// Fraction of deliveries never sent.
    pub drop: f64,
    /// Fraction of deliveries sent twice (new `eventId`, same events).
    pub duplicate: f64,
    /// Fraction of deliveries held back (by `reorderDelayMs`) with their events shuffled,
    /// so later deliveries overtake them.
    pub reorder: f64,
    /// How long a reordered delivery is held (default 500 ms when 0).
    pub reorder_delay_ms: u64,
    /// Delay before every delivery.
    pub delay_ms: u64,
}

/// A forced answer for requests of one endpoint family.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointFault {
    /// Family name (`users`, `groups`, `logs`, `sessions`, `eventHooks`, `token`).
    pub family: String,
    /// Status to answer: 429, 500 or 503 (any 4xx/5xx is accepted).
    pub status: Option<u16>,
    /// Hang instead of answering (then 504 after `hangMs`, default 30 s).
    pub timeout: bool,
    /// How long a timeout fault hangs.
    pub hang_ms: Option<u64>,
    /// Apply to the next N matching requests only (then the fault is spent).
    pub count: Option<u64>,
    /// Apply to this fraction of matching requests (default 1).
    pub fraction: Option<f64>,
}

/// All fault injection settings (`POST /_sim/faults`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Hook delivery faults.
    pub hooks: HookFaults,
    /// Forced answers per endpoint family.
    pub endpoints: Vec<EndpointFault>,
}

/// Event hook delivery counters.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCounters {
    /// Deliveries started (dropped ones excluded; a duplicate counts again).
    pub attempted: u64,
    /// Deliveries answered 2xx (after at most one retry).
    pub succeeded: u64,
    /// Deliveries that failed for good (each logs `event_hook.delivery`).
    pub failed: u64,
    /// Deliveries dropped by fault injection.
    pub dropped: u64,
    /// Extra deliveries sent by fault injection.
    pub duplicated: u64,
    /// Deliveries held back by fault injection.
    pub reordered: u64,
    /// Second attempts after a timeout or 5xx.
    pub retries: u64,
    /// HTTP requests sent (first attempts plus retries).
    pub http_requests: u64,
    /// Verification requests sent.
    pub verifications: u64,
}

/// What `/_sim/counters` reports.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Requests per endpoint family.
    pub requests: BTreeMap<String, u64>,
    /// Answers per HTTP status.
    pub responses: BTreeMap<String, u64>,
    /// Requests answered 429 by the rate or concurrency limit.
    pub rate_limited: u64,
    /// Requests sent with `X-Okta-Sim-Unmetered` (outside `requests` and the limits).
    pub unmetered: u64,
    /// Requests answered by an endpoint fault.
    pub faults_injected: u64,
    /// Emails Okta would have sent (activation, password reset, admin notices).
    pub emails_sent: u64,
    /// Event hook deliveries.
    pub deliveries: DeliveryCounters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_up_to_the_limit_then_refuses_until_the_next_minute() {
        let mut l = RateLimiter::default();
        assert!(l.check(Family::Logs, 2, 120).allowed);
        let second = l.check(Family::Logs, 2, 121);
        assert!(second.allowed);
        assert_eq!(second.remaining, 0);
        let third = l.check(Family::Logs, 2, 130);
        assert!(!third.allowed);
        assert_eq!(third.reset, 180);
        assert!(l.check(Family::Logs, 2, 180).allowed);
    }

    #[test]
    fn sessions_path_is_its_own_family() {
        assert_eq!(Family::of("/api/v1/users/00u1/sessions"), Family::Sessions);
        assert_eq!(Family::of("/api/v1/users/00u1/groups"), Family::Users);
    }
}
