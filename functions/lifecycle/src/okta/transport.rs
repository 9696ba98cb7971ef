//! Sending one request to Okta: the per-attempt timeout, the caller's deadline, bounded
//! retries, 429 waits and the rate-limit reserve.
//!
//! Nothing here knows about credentials: the caller builds each attempt's request,
//! Authorization header included, so a token fetch and an API call share these rules.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::RequestBuilder;

use super::error::OktaError;
use super::ratelimit::{local_epoch_now, EndpointFamily, RateBook, RateLimit};
use crate::clock::Timestamp;
use crate::net::{error_chain, http_client};
use crate::retry::Backoff;

type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How the client waits between attempts. Tests replace it to see the waits without
/// spending them.
#[derive(Clone)]
pub struct Sleeper(Arc<dyn Fn(Duration) -> SleepFuture + Send + Sync>);

impl Sleeper {
    /// Waits with `tokio::time::sleep`.
    pub fn tokio() -> Self {
        Self(Arc::new(|d| Box::pin(tokio::time::sleep(d))))
    }

    /// Waits with the given function.
    pub fn new(f: impl Fn(Duration) -> SleepFuture + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    async fn sleep(&self, d: Duration) {
        (self.0)(d).await
    }
}

impl fmt::Debug for Sleeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sleeper")
    }
}

/// Tuning of timeouts, retries and the rate-limit reserve.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Limit on each attempt, connection included (default 5 s).
    pub timeout: Duration,
    /// Attempts per call, the first included, over 5xx, timeouts, connection errors and
    /// 429 waits (default 3).
    pub max_attempts: u32,
    /// First retry backoff; it doubles each attempt, with jitter (default 200 ms).
    pub backoff_base: Duration,
    /// Largest backoff between attempts (default 5 s).
    pub backoff_max: Duration,
    /// Share of each window's limit left for the org's other integrations (default 0.2).
    pub reserve_fraction: f64,
    /// Longest 429 wait taken when the caller set no deadline (default 65 s).
    pub max_rate_limit_wait: Duration,
    /// When the window is down to the reserve, wait for its reset (at most
    /// `max_rate_limit_wait` each time, within the deadline) instead of refusing: for
    /// the batch readers (the sync), whose whole job is bound by the rate; off for the
    /// engine, which defers its job and gives the lane to others.
    pub wait_for_reserve: bool,
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// How waits are taken.
    pub sleeper: Sleeper,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            reserve_fraction: 0.2,
            max_rate_limit_wait: Duration::from_secs(65),
            wait_for_reserve: false,
            user_agent: crate::net::USER_AGENT.to_owned(),
            sleeper: Sleeper::tokio(),
        }
    }
}

/// When a handle's calls must be over. Without one, waits are bounded only by the options.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// Calls must be over by `at`.
    pub(crate) fn at(at: Instant) -> Self {
        Self(Some(at))
    }

    /// Time left before the deadline, or `None` without one.
    fn time_left(self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether waiting `wait` still ends before the deadline.
    pub(crate) fn fits(self, wait: Duration) -> bool {
        self.time_left().is_none_or(|left| wait < left)
    }

    fn is_set(self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a final answer looked like.
pub(crate) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The answer's headers (`Link`, rate limits).
    pub headers: HeaderMap,
    /// The body as received.
    pub body: Vec<u8>,
    /// The rate-limit state the answer reported.
    pub rate: Option<RateLimit>,
}

/// Whether a call may be sent again when an attempt ends without a usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Repeating the call changes nothing more than making it once (GET, membership
    /// PUT/DELETE, deactivate, a partial update with the same body): every failure that
    /// may pass is retried.
    Idempotent,
    /// Each call acts anew (create, temporary password, reset, DELETE user): re-sent only
    /// when Okta certainly did nothing (a 429, a connection that never opened).
    Once,
}

/// How an attempt ended, as far as sending it again is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// An answer other than 429 or 5xx: final, whatever its status.
    Answered,
    /// 429: Okta refused the call before doing anything.
    Throttled,
    /// 5xx: Okta may have done part or all of it.
    ServerError,
    /// The connection never opened (refused, DNS, TLS, connect timeout): no byte of the
    /// request left this process.
    NotSent,
    /// Timed out or cut off after the request may have been sent.
    Lost,
}

/// What to do after an attempt: the decision table of the retry policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand back the answer (or the error) as it is.
    Final,
    /// Send again, if attempts and the deadline allow.
    Resend,
    /// Stop: Okta may or may not have carried the call out.
    Uncertain,
}

/// The retry table. `Once` calls are re-sent only where Okta certainly did nothing.
///
/// | outcome       | Idempotent | Once      |
/// |---------------|------------|-----------|
/// | Answered      | Final      | Final     |
/// | Throttled     | Resend     | Resend    |
/// | NotSent       | Resend     | Resend    |
/// | ServerError   | Resend     | Uncertain |
/// | Lost          | Resend     | Uncertain |
pub fn verdict(policy: RetryPolicy, outcome: AttemptOutcome) -> Verdict {
    match (outcome, policy) {
        (AttemptOutcome::Answered, _) => Verdict::Final,
        (AttemptOutcome::Throttled | AttemptOutcome::NotSent, _) => Verdict::Resend,
        (AttemptOutcome::ServerError | AttemptOutcome::Lost, RetryPolicy::Idempotent) => {
            Verdict::Resend
        }
        (AttemptOutcome::ServerError | AttemptOutcome::Lost, RetryPolicy::Once) => {
            Verdict::Uncertain
        }
    }
}

/// How a request that got no answer ended. reqwest marks connector failures (refused,
/// DNS, TLS, connect timeout) with `is_connect`: nothing was written to the socket yet.
/// Anything else may have reached Okta.
fn no_answer_outcome(e: &reqwest::Error) -> AttemptOutcome {
    if e.is_connect() {
        AttemptOutcome::NotSent
    } else {
        AttemptOutcome::Lost
    }
}

/// Builds one attempt's request; called again for every retry.
pub(crate) type BuildRequest<'a> = dyn Fn() -> Result<RequestBuilder, OktaError> + Send + Sync + 'a;

/// What one attempt came to.
enum Attempt {
    /// An answer to hand back, whatever its status.
    Done(Answer),
    /// Wait this long, then try again.
    Retry(Duration),
    /// Stop with this error.
    Fail(OktaError),
}

/// Where the retry loop stands when an attempt ends.
struct Try<'a> {
    policy: RetryPolicy,
    family: EndpointFamily,
    endpoint: &'a str,
    /// 1 for the first attempt.
    attempt: u32,
    /// No attempt is left after this one.
    last: bool,
    /// The backoff before the next attempt, were there one.
    backoff: Duration,
}

/// The part of the client every handle shares: the connection pool, the rate-limit
/// book and the options.
pub(crate) struct Transport {
    http: reqwest::Client,
    book: RateBook,
    backoff: Backoff,
    options: ClientOptions,
}

impl Transport {
    /// Builds the HTTP client for `options`.
    pub(crate) fn new(options: ClientOptions) -> Result<Self, OktaError> {
        let http = http_client(options.timeout, options.timeout, &options.user_agent)
            .map_err(|e| OktaError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            book: RateBook::default(),
            backoff: Backoff::new(options.backoff_base, options.backoff_max),
            options,
        })
    }

    /// The connection pool, for building requests.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Waits `d` with the configured sleeper (for polling a change Okta makes async).
    pub(crate) async fn pause(&self, d: Duration) {
        self.options.sleeper.sleep(d).await
    }

    /// The latest rate-limit state Okta reported for any endpoint of `family`.
    pub(crate) fn rate_limit(&self, family: EndpointFamily) -> Option<RateLimit> {
        self.book.last(family)
    }

    /// Sends with the reserve check (before the first attempt only), timeouts, bounded
    /// retries as `policy` allows, and 429 waits. Returns the final answer whatever its
    /// status; errors only when there is no answer to give, or when a `Once` call may
    /// have been carried out ([`OktaError::Uncertain`]).
    pub(crate) async fn send(
        &self,
        deadline: Deadline,
        family: EndpointFamily,
        endpoint: &str,
        policy: RetryPolicy,
        check_reserve: bool,
        build: &BuildRequest<'_>,
    ) -> Result<Answer, OktaError> {
        if check_reserve {
            self.reserve_or_wait(deadline, family, endpoint).await?;
        }
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let timeout = self.attempt_timeout(deadline, endpoint)?;
            let result = self.exchange(endpoint, build()?.timeout(timeout)).await;
            let now = Try {
                policy,
                family,
                endpoint,
                attempt,
                last: attempt >= self.options.max_attempts,
                backoff: self.backoff.delay(attempt - 1),
            };
            match self.judge(deadline, &now, result) {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(wait) => self.options.sleeper.sleep(wait).await,
            }
        }
    }

    /// The reserve check; with `wait_for_reserve`, a wait for the window's reset instead
    /// of a refusal (a window resets once a minute: three waits are enough whatever the
    /// clocks say), within the deadline.
    async fn reserve_or_wait(
        &self,
        deadline: Deadline,
        family: EndpointFamily,
        endpoint: &str,
    ) -> Result<(), OktaError> {
        let mut waits = 0;
        loop {
            match self.check_reserve(family, endpoint) {
                Err(OktaError::BudgetExhausted { retry_after, .. })
                    if self.options.wait_for_reserve
                        && waits < 3
                        && retry_after <= self.options.max_rate_limit_wait
                        && deadline.fits(retry_after) =>
                {
                    tracing::info!(family = %family, wait_ms = retry_after.as_millis() as u64,
                        "waiting for the Okta rate-limit window to reset");
                    self.options.sleeper.sleep(retry_after).await;
                    waits += 1;
                }
                other => return other,
            }
        }
    }

    /// Refuses to start a call when the endpoint's window is down to the reserve.
    fn check_reserve(&self, family: EndpointFamily, endpoint: &str) -> Result<(), OktaError> {
        let Some(hit) = self
            .book
            .reserve_hit(endpoint, self.options.reserve_fraction)
        else {
            return Ok(());
        };
        tracing::warn!(family = %family, remaining = hit.rate.remaining, limit = hit.rate.limit,
            "Okta rate-limit reserve reached; request not sent");
        Err(OktaError::BudgetExhausted {
            family,
            reset_at: Timestamp::from_system_time(
                std::time::UNIX_EPOCH
                    + Duration::from_secs(u64::try_from(hit.rate.reset_at).unwrap_or(0)),
            ),
            retry_after: hit.retry_after,
            remaining: hit.rate.remaining,
            limit: hit.rate.limit,
        })
    }

    /// The attempt's timeout: the option, shortened to what is left of the deadline.
    fn attempt_timeout(&self, deadline: Deadline, endpoint: &str) -> Result<Duration, OktaError> {
        match deadline.time_left() {
            Some(left) if left.is_zero() => Err(OktaError::DeadlineExceeded {
                endpoint: endpoint.to_owned(),
            }),
            Some(left) => Ok(left.min(self.options.timeout)),
            None => Ok(self.options.timeout),
        }
    }

    /// One request and its whole body; the rate-limit headers go in the book.
    async fn exchange(
        &self,
        endpoint: &str,
        request: RequestBuilder,
    ) -> Result<Answer, reqwest::Error> {
        let resp = request.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        let rate = RateLimit::from_headers(&headers);
        if let Some(r) = rate {
            self.book.record(endpoint, r);
        }
        Ok(Answer {
            status,
            headers,
            body,
            rate,
        })
    }

    /// The retry rules: [`verdict`] decides whether the outcome may be re-sent at all,
    /// then attempts and the deadline bound how often.
    fn judge(
        &self,
        deadline: Deadline,
        now: &Try<'_>,
        result: Result<Answer, reqwest::Error>,
    ) -> Attempt {
        let outcome = match &result {
            Err(e) => no_answer_outcome(e),
            Ok(answer) if answer.status == 429 => AttemptOutcome::Throttled,
            Ok(answer) if answer.status >= 500 => AttemptOutcome::ServerError,
            Ok(_) => AttemptOutcome::Answered,
        };
        if verdict(now.policy, outcome) == Verdict::Uncertain {
            let detail = match &result {
                Err(e) => error_chain(e),
                Ok(answer) => format!("answered {}", answer.status),
            };
            tracing::warn!(family = %now.family, endpoint = now.endpoint, attempt = now.attempt,
                detail = %detail, "Okta call may or may not have been carried out; not repeating it");
            return Attempt::Fail(OktaError::Uncertain {
                endpoint: now.endpoint.to_owned(),
                detail,
            });
        }
        match result {
            Err(e) => no_answer(deadline, now, &e),
            Ok(answer) if answer.status == 429 => self.throttled(deadline, now, answer.rate),
            Ok(answer) if answer.status >= 500 && !now.last && deadline.fits(now.backoff) => {
                tracing::warn!(family = %now.family, endpoint = now.endpoint, attempt = now.attempt,
                    status = answer.status, wait_ms = now.backoff.as_millis() as u64,
                    "Okta server error; retrying");
                Attempt::Retry(now.backoff)
            }
            Ok(answer) => Attempt::Done(answer),
        }
    }

    /// A 429: wait for the window's reset when that fits, else give up with the wait.
    fn throttled(&self, deadline: Deadline, now: &Try<'_>, rate: Option<RateLimit>) -> Attempt {
        let wait = rate
            .map(|r| r.wait_after_429(local_epoch_now()))
            .unwrap_or(now.backoff.max(Duration::from_secs(1)));
        let no_deadline_cap = !deadline.is_set() && wait > self.options.max_rate_limit_wait;
        if now.last || !deadline.fits(wait) || no_deadline_cap {
            tracing::warn!(family = %now.family, endpoint = now.endpoint, attempt = now.attempt,
                retry_after_ms = wait.as_millis() as u64, "Okta rate limit; giving up for now");
            return Attempt::Fail(OktaError::RateLimited {
                family: now.family,
                retry_after: wait,
            });
        }
        tracing::warn!(family = %now.family, endpoint = now.endpoint, attempt = now.attempt,
            wait_ms = wait.as_millis() as u64, "Okta rate limit; waiting for the reset");
        Attempt::Retry(wait)
    }
}

/// No answer (refused, reset, timed out): back off and retry while attempts and time last.
fn no_answer(deadline: Deadline, now: &Try<'_>, e: &reqwest::Error) -> Attempt {
    let timed_out = e.is_timeout();
    if now.last || !deadline.fits(now.backoff) {
        return Attempt::Fail(OktaError::Transport {
            endpoint: now.endpoint.to_owned(),
            attempts: now.attempt,
            timed_out,
            detail: error_chain(e),
        });
    }
    tracing::warn!(family = %now.family, endpoint = now.endpoint, attempt = now.attempt, timed_out,
        wait_ms = now.backoff.as_millis() as u64, error = %e, "Okta unreachable; retrying");
    Attempt::Retry(now.backoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_calls_are_resent_only_where_okta_certainly_did_nothing() {
        use AttemptOutcome::*;
        use RetryPolicy::*;
        use Verdict::*;
        let table = [
            (Answered, Final, Final),
            (Throttled, Resend, Resend),
            (NotSent, Resend, Resend),
            (ServerError, Resend, Uncertain),
            (Lost, Resend, Uncertain),
        ];
        for (outcome, idempotent, once) in table {
            assert_eq!(verdict(Idempotent, outcome), idempotent, "{outcome:?}");
            assert_eq!(verdict(Once, outcome), once, "{outcome:?}");
        }
    }

    #[test]
    fn a_deadline_bounds_waits_and_no_deadline_bounds_nothing() {
        let none = Deadline::default();
        assert!(!none.is_set() && none.time_left().is_none());
        assert!(none.fits(Duration::from_secs(3600)));
        let soon = Deadline::at(Instant::now() + Duration::from_secs(60));
        assert!(soon.is_set());
        assert!(soon.fits(Duration::from_secs(1)));
        assert!(!soon.fits(Duration::from_secs(61)));
        let passed = Deadline::at(Instant::now());
        assert_eq!(passed.time_left(), Some(Duration::ZERO));
        assert!(!passed.fits(Duration::ZERO));
        assert_eq!(format!("{none:?}"), "None");
    }
}
