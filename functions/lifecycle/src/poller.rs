//! The System Log poller: the backstop that makes missed hooks harmless.
//!
//! Each run takes a lease, resumes from the stored `after` cursor (or, the very first
//! time, from a lookback), reads pages of the enabled lifecycle events and feeds them
//! through the same intake path as the hook (`source = poll`), saving the cursor after
//! each page under the lease. It stops when the cursor stops moving, when a page is
//! empty, before its time runs out, when Okta's rate budget is spent, or after a bounded
//! number of pages. Now and then it also sweeps Okta's deprovisioned users for any that
//! has no job at all.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::aws::sdk_config;
use crate::clock::Timestamp;
use crate::config::PollerConfig;
use crate::domain::{AcceptedEvent, IntakeContext, Source};
use crate::domain::{EventType, EventUuid, JobStatus, UserId};
use crate::domain::{PollOutcome, UserRef};
use crate::intake;
use crate::metrics::{Metrics, Unit};
use crate::okta::hook::{parse_log_event, LogEvent};
use crate::okta::{ClientOptions, ErrorClass, LogQuery, OktaClient, OktaError, UserStatus};
use crate::setup::{self, SetupError};
use crate::store::{DynamoStore, IntakeStore, PollStatus, StoreError};

/// The event type Okta logs for each event hook delivery.
pub const HOOK_DELIVERY_EVENT: &str = "event_hook.delivery";
/// Most held jobs one run reads to count them and age the oldest.
const HELD_READ: usize = 500;
/// Who the audit trail names when the poller hands an abandoned job on.
const RESCUER: &str = "okta-lifecycle:poller";
/// Sweep windows overlap by this much, so a user deprovisioned during a sweep is not missed.
const SWEEP_OVERLAP: Duration = Duration::from_secs(300);
/// A job counts for a deprovisioning if its event is at most this much older than the
/// user's status change (clocks and Okta's own bookkeeping differ by moments).
const STATUS_SKEW: Duration = Duration::from_secs(120);

/// One page of the System Log.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The LogEvents, oldest first.
    pub events: Vec<serde_json::Value>,
    /// The `after` cursor of the `next` link (Okta always sends one when polling).
    pub next_after: Option<String>,
}

/// A user Okta reports as deprovisioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeprovisionedUser {
    /// Okta user id.
    pub id: UserId,
    /// Login.
    pub login: Option<String>,
    /// When the status last changed.
    pub status_changed: Timestamp,
}

/// Okta could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Okta answered 429, or reading would eat into the reserve left for others.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// Anything else: network, 5xx after retries, auth.
    #[error("{0}")]
    Failed(String),
}

/// What the poller reads from Okta.
pub trait OktaReader: Send + Sync {
    /// One page of the System Log; must give up before `deadline`.
    fn log_page(
        &self,
        query: &LogQuery,
        deadline: Instant,
    ) -> impl Future<Output = Result<Page, ReadError>> + Send;

    /// Users in status `DEPROVISIONED` updated since `since`.
    fn deprovisioned_since(
        &self,
        since: Timestamp,
        deadline: Instant,
    ) -> impl Future<Output = Result<Vec<DeprovisionedUser>, ReadError>> + Send;
}

/// The figures a run returns (also stored as `POLLER`/`STATUS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Why the run ended.
    pub outcome: PollOutcome,
    /// Pages read.
    pub pages: u64,
    /// Events read.
    pub events_seen: u64,
    /// Jobs created.
    pub jobs_created: u64,
    /// Events already known.
    pub duplicates: u64,
    /// Events that could not be parsed.
    pub malformed: u64,
    /// Times Okta's rate limit stopped the run.
    pub rate_limited: u64,
    /// Failed deliveries of our event hook seen in the log.
    pub hook_failures: u64,
    /// Seconds between now and the newest event read.
    pub lag_seconds: Option<u64>,
    /// Whether the reconciliation sweep ran.
    pub swept: bool,
    /// Jobs the sweep created.
    pub sweep_jobs_created: u64,
    /// Jobs the fuse holds (as far as one bounded read lists them).
    pub held_jobs: u64,
    /// How long the longest-held of them has waited for an operator.
    pub oldest_held_seconds: Option<u64>,
    /// Jobs found abandoned while running (their claim expired) and handed on again.
    pub jobs_rescued: u64,
}

impl RunReport {
    /// The run's metrics: runs by outcome, events and jobs, rate limits, hook delivery
    /// failures, the lag behind the newest event.
    pub fn metrics(&self) -> Metrics {
        let mut m = Metrics::invocation("log-poller");
        m.count_by("PollRuns", "outcome", self.outcome.as_str(), 1);
        m.count("EventsSeen", self.events_seen);
        m.count("JobsCreated", self.jobs_created + self.sweep_jobs_created);
        m.count("RateLimited", self.rate_limited);
        m.count("HookDeliveryFailures", self.hook_failures);
        if let Some(lag) = self.lag_seconds {
            m.observe("PollLag", Unit::Seconds, lag as f64);
        }
        m.count("JobsHeld", self.held_jobs);
        m.count("JobsRescued", self.jobs_rescued);
        if let Some(age) = self.oldest_held_seconds {
            m.observe("OldestHeldSeconds", Unit::Seconds, age as f64);
        }
        m
    }
}

/// The poller: configuration, the table and Okta.
#[derive(Debug)]
pub struct Poller<O> {
    config: PollerConfig,
    store: DynamoStore,
    okta: O,
}

impl<O: OktaReader> Poller<O> {
    /// A poller over the given table and Okta reader.
    pub fn new(config: PollerConfig, store: DynamoStore, okta: O) -> Self {
        Self {
            config,
            store,
            okta,
        }
    }

    /// The table, for callers that need to read what the poller wrote.
    pub fn store(&self) -> &DynamoStore {
        &self.store
    }

    fn event_types(&self) -> Vec<EventType> {
        let mut types: Vec<EventType> = self.config.enabled_event_types.iter().cloned().collect();
        types.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        types.push(EventType::from(HOOK_DELIVERY_EVENT));
        types
    }

    /// One run, as the scheduled invocation does it. `owner` names this run in the lease
    /// (the Lambda request id); `deadline` is when the invocation's time is up.
    pub async fn run(&self, owner: &str, deadline: Instant) -> Result<RunReport, StoreError> {
        let started = Timestamp::now();
        tracing::info!(
            time_left_ms = deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
            "poll run starting"
        );
        let acquired = match self
            .store
            .acquire_lease(owner, started, self.config.lease)
            .await
        {
            Ok(acquired) => acquired,
            Err(e) => {
                // The write may have been made and only its answer lost (a timeout): give
                // back what may be ours (the release is conditional on this owner), so the
                // next run does not wait out a lease nobody holds.
                if let Err(release) = self.store.release_lease(owner).await {
                    tracing::warn!(error = %release, "lease not released; it expires by itself");
                }
                return Err(e);
            }
        };
        if !acquired {
            tracing::info!("another poll run holds the lease; skipping");
            return Ok(RunReport {
                outcome: PollOutcome::Skipped,
                ..Default::default()
            });
        }
        let mut result = self.run_leased(owner, started, deadline).await;
        if let Err(e) = self.store.release_lease(owner).await {
            tracing::warn!(error = %e, "lease not released; it expires by itself");
        }
        if let Ok(report) = &mut result {
            self.count_held(report).await;
            self.rescue_abandoned(report).await;
        }
        result
    }

    /// Jobs whose run died while `running` (its claim expired: an invocation killed or
    /// timed out between claiming and settling, whose stream record has moved on) are
    /// handed to the stream again, every minute, so none stays unfinished. One query of
    /// the attention index; a failure only leaves them for the next run.
    async fn rescue_abandoned(&self, report: &mut RunReport) {
        let running = match self
            .store
            .jobs_in_status(&JobStatus::Running, None, HELD_READ)
            .await
        {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "running jobs not looked at");
                return;
            }
        };
        let now = Timestamp::now();
        for job in running
            .iter()
            .filter(|j| j.claim_expires_ms.is_some_and(|e| e < now.unix_millis()))
        {
            match self.store.rescue_abandoned(job, RESCUER, now).await {
                Ok(true) => {
                    report.jobs_rescued += 1;
                    tracing::warn!(user_id = %job.user, job = %job.id, "a job abandoned while running is handed to the stream again");
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, job = %job.id, "abandoned job not rescued"),
            }
        }
    }

    /// The jobs the fuse holds and the age of the oldest hold, every minute, so an alarm
    /// can say "held for over an hour" (the hold itself is a moment; its age is not).
    /// One query of the attention index; a failure only leaves the figures out.
    async fn count_held(&self, report: &mut RunReport) {
        match self
            .store
            .jobs_in_status(&JobStatus::Held, None, HELD_READ)
            .await
        {
            Ok(held) => {
                let now = Timestamp::now();
                report.held_jobs = held.len() as u64;
                report.oldest_held_seconds = held
                    .iter()
                    .map(|job| now.since(job.finished_at.as_ref().unwrap_or(&job.published)))
                    .max()
                    .map(|age| age.as_secs());
            }
            Err(e) => tracing::warn!(error = %e, "held jobs not counted"),
        }
    }

    async fn run_leased(
        &self,
        owner: &str,
        started: Timestamp,
        deadline: Instant,
    ) -> Result<RunReport, StoreError> {
        let previous = self.store.poll_status().await?;
        let mut report = RunReport::default();
        let mut newest: Option<Timestamp> = None;
        report.outcome = match self
            .read_pages(owner, started, deadline, &mut report, &mut newest)
            .await
        {
            Ok(outcome) => outcome,
            Err(StoreError::LeaseLost) | Err(StoreError::Conflict { .. }) => {
                tracing::warn!("poll run lost its lease; stopping without writing");
                report.outcome = PollOutcome::LeaseLost;
                return Ok(report);
            }
            Err(e) => return Err(e),
        };

        // The sweep looks for what the log missed, so it runs only once the log is read
        // to the end: while the log is behind, it would race the events still to read
        // and give one deprovisioning two jobs.
        let mut last_sweep_at = previous.last_sweep_at.clone();
        if report.outcome == PollOutcome::CaughtUp
            && self.sweep_due(previous.last_sweep_at.as_deref(), started)
            && self.time_left(deadline)
        {
            let since = previous
                .last_sweep_at
                .as_deref()
                .and_then(|t| Timestamp::parse(t).ok())
                .map(|t| t.minus(SWEEP_OVERLAP))
                .unwrap_or_else(|| started.minus(self.config.first_lookback));
            match self.sweep(since, started, deadline).await {
                Ok(created) => {
                    report.swept = true;
                    report.sweep_jobs_created = created;
                    last_sweep_at = Some(started.to_string());
                }
                Err(SweepError::Read(e)) => {
                    tracing::warn!(error = %e, "reconciliation sweep did not complete")
                }
                Err(SweepError::Store(e)) => return Err(e),
            }
        }

        report.lag_seconds = newest.map(|t| Timestamp::now().since(&t).as_secs());
        let status = PollStatus {
            last_run_at: Some(started.to_string()),
            outcome: Some(report.outcome.clone()),
            pages: report.pages,
            events_seen: report.events_seen,
            jobs_created: report.jobs_created,
            duplicates: report.duplicates,
            rate_limited: report.rate_limited,
            hook_failures: report.hook_failures,
            newest_event_at: newest.map(|t| t.to_string()).or(previous.newest_event_at),
            lag_seconds: report.lag_seconds,
            last_sweep_at,
            sweep_jobs_created: report.sweep_jobs_created,
        };
        match self
            .store
            .save_poll_status(owner, Timestamp::now(), &status)
            .await
        {
            Ok(()) => {}
            Err(StoreError::LeaseLost) => report.outcome = PollOutcome::LeaseLost,
            Err(e) => return Err(e),
        }
        tracing::info!(
            outcome = %report.outcome,
            pages = report.pages,
            events_seen = report.events_seen,
            jobs_created = report.jobs_created,
            duplicates = report.duplicates,
            rate_limited = report.rate_limited,
            hook_failures = report.hook_failures,
            lag_seconds = report.lag_seconds,
            swept = report.swept,
            sweep_jobs_created = report.sweep_jobs_created,
            "poll run finished"
        );
        Ok(report)
    }

    fn time_left(&self, deadline: Instant) -> bool {
        deadline.saturating_duration_since(Instant::now()) > self.config.time_margin
    }

    fn sweep_due(&self, last: Option<&str>, now: Timestamp) -> bool {
        match last.and_then(|t| Timestamp::parse(t).ok()) {
            None => true,
            Some(last) => now.since(&last) >= self.config.sweep_interval,
        }
    }

    /// Reads pages until a stop condition; returns the outcome's name.
    async fn read_pages(
        &self,
        owner: &str,
        started: Timestamp,
        deadline: Instant,
        report: &mut RunReport,
        newest: &mut Option<Timestamp>,
    ) -> Result<PollOutcome, StoreError> {
        let mut cursor = self.store.cursor().await?;
        let types = self.event_types();
        loop {
            if report.pages >= u64::from(self.config.max_pages) {
                return Ok(PollOutcome::MaxPages);
            }
            if !self.time_left(deadline) {
                return Ok(PollOutcome::TimeBudget);
            }
            let query = LogQuery {
                after: cursor.clone(),
                since: cursor
                    .is_none()
                    .then(|| started.minus(self.config.first_lookback)),
                event_types: types.clone(),
                limit: Some(self.config.page_limit),
            };
            let page = match self.okta.log_page(&query, deadline).await {
                Ok(page) => page,
                Err(ReadError::RateLimited(why)) => {
                    report.rate_limited += 1;
                    tracing::warn!(reason = %why, "System Log read held back by the rate limit");
                    return Ok(PollOutcome::RateLimited);
                }
                Err(ReadError::Failed(why)) => {
                    tracing::error!(error = %why, "System Log read failed");
                    return Ok(PollOutcome::Error);
                }
            };
            report.pages += 1;
            let events = self.take_events(&page, report, newest);
            let ctx = IntakeContext {
                source: Source::Poll,
                received_at: Timestamp::now(),
                request_id: owner.to_string(),
                delivery_id: None,
                action: None,
            };
            let summary =
                intake::intake(&self.store, events, &self.config.enabled_event_types, &ctx).await?;
            report.jobs_created += summary.accepted as u64;
            report.duplicates += summary.duplicates as u64;

            let Some(next) = page.next_after.clone() else {
                return Ok(PollOutcome::CaughtUp);
            };
            if cursor.as_deref() == Some(next.as_str()) {
                return Ok(PollOutcome::CaughtUp);
            }
            self.store
                .save_cursor(owner, Timestamp::now(), cursor.as_deref(), &next)
                .await?;
            cursor = Some(next);
            if page.events.is_empty() {
                return Ok(PollOutcome::CaughtUp);
            }
        }
    }

    /// Parses a page's events, counts our hook's delivery failures, tracks the newest.
    fn take_events(
        &self,
        page: &Page,
        report: &mut RunReport,
        newest: &mut Option<Timestamp>,
    ) -> Vec<LogEvent> {
        let mut events = Vec::with_capacity(page.events.len());
        for (index, value) in page.events.iter().enumerate() {
            report.events_seen += 1;
            if self.is_our_failed_delivery(value) {
                report.hook_failures += 1;
                tracing::warn!(
                    event_uuid = value["uuid"].as_str().unwrap_or(""),
                    published = value["published"].as_str().unwrap_or(""),
                    reason = value["outcome"]["reason"].as_str().unwrap_or(""),
                    "event hook delivery failed: Okta could not reach the hook endpoint"
                );
            }
            match parse_log_event(index, value.clone()) {
                Ok(event) => {
                    *newest = (*newest).max(Some(event.published));
                    events.push(event);
                }
                Err(e) => {
                    report.malformed += 1;
                    tracing::warn!(error = %e, "System Log event skipped");
                }
            }
        }
        events
    }

    fn is_our_failed_delivery(&self, value: &serde_json::Value) -> bool {
        value["eventType"] == HOOK_DELIVERY_EVENT
            && value["outcome"]["result"] == "FAILURE"
            && match &self.config.event_hook_id {
                None => true,
                Some(id) => value["target"]
                    .as_array()
                    .is_some_and(|ts| ts.iter().any(|t| t["id"] == id.as_str())),
            }
    }

    /// The third line of defence: every user Okta reports deprovisioned since `since`
    /// must have a job; one is created for any that has none.
    async fn sweep(
        &self,
        since: Timestamp,
        now: Timestamp,
        deadline: Instant,
    ) -> Result<u64, SweepError> {
        let users = self
            .okta
            .deprovisioned_since(since, deadline)
            .await
            .map_err(SweepError::Read)?;
        let mut missing = Vec::new();
        for user in users {
            let from = user.status_changed.minus(STATUS_SKEW);
            if !self
                .store
                .has_job_in_hand_since(&user.id, from, now)
                .await
                .map_err(SweepError::Store)?
            {
                tracing::warn!(user_id = %user.id, status_changed = %user.status_changed,
                    "deprovisioned user without a finished job: missed by hook and System Log, \
                     or failed; writing a sweep job");
                missing.push(sweep_event(&user));
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        let ctx = IntakeContext {
            source: Source::Sweep,
            received_at: now,
            request_id: "sweep".into(),
            delivery_id: None,
            action: None,
        };
        let outcome = self
            .store
            .record_events(&missing, &ctx)
            .await
            .map_err(SweepError::Store)?;
        Ok(outcome.created.len() as u64)
    }
}

impl<O> Poller<O> {
    /// When this invocation must be done: see [`crate::clock::invocation_deadline`], with
    /// the configured time budget.
    pub fn deadline(&self, invocation_deadline: std::time::SystemTime) -> Instant {
        Instant::from_std(crate::clock::invocation_deadline(
            invocation_deadline,
            self.config.time_budget,
        ))
    }
}

impl Poller<OktaApi> {
    /// Builds the AWS clients, reads the Okta credentials from Secrets Manager and builds
    /// the Okta client: everything a run needs, once per execution environment.
    pub async fn from_environment(config: PollerConfig) -> Result<Self, SetupError> {
        let aws = sdk_config().await;
        let store = setup::store(&aws, &config.table);
        let client = setup::okta_client(&aws, &config.okta, ClientOptions::default()).await?;
        Ok(Self::new(config, store, OktaApi::new(client)))
    }
}

/// [`OktaReader`] over the Okta API client.
#[derive(Debug, Clone)]
pub struct OktaApi {
    client: OktaClient,
}

/// Most pages of users one sweep reads (200 users a page).
const SWEEP_MAX_PAGES: usize = 50;

impl OktaApi {
    /// Wraps a client.
    pub fn new(client: OktaClient) -> Self {
        Self { client }
    }
}

fn read_error(e: OktaError) -> ReadError {
    match e.class() {
        ErrorClass::Throttled { .. } => ReadError::RateLimited(e.to_string()),
        ErrorClass::Transient | ErrorClass::Permanent => ReadError::Failed(e.to_string()),
    }
}

impl OktaReader for OktaApi {
    async fn log_page(&self, query: &LogQuery, deadline: Instant) -> Result<Page, ReadError> {
        let page = self
            .client
            .with_deadline(deadline.into_std())
            .system_log_page(query)
            .await
            .map_err(read_error)?;
        Ok(Page {
            events: page.events,
            next_after: page.next_after,
        })
    }

    async fn deprovisioned_since(
        &self,
        since: Timestamp,
        deadline: Instant,
    ) -> Result<Vec<DeprovisionedUser>, ReadError> {
        let filter = format!("status eq \"DEPROVISIONED\" and lastUpdated gt \"{since}\"");
        let list = self
            .client
            .with_deadline(deadline.into_std())
            .list_users(&filter, 200, SWEEP_MAX_PAGES)
            .await
            .map_err(read_error)?;
        if list.truncated {
            // An incomplete sweep must not count as done, or the rest would never be seen.
            return Err(ReadError::Failed(format!(
                "more than {} deprovisioned users since {since}; sweep incomplete",
                list.users.len()
            )));
        }
        Ok(list
            .users
            .into_iter()
            .filter(|u| u.status == UserStatus::Deprovisioned)
            .map(|u| DeprovisionedUser {
                status_changed: u
                    .status_changed
                    .as_deref()
                    .and_then(|t| Timestamp::parse(t).ok())
                    .unwrap_or(since),
                login: (!u.login.is_empty()).then_some(u.login),
                id: u.id,
            })
            .collect())
    }
}

enum SweepError {
    Read(ReadError),
    Store(StoreError),
}

/// The job the sweep writes for a deprovisioned user with none: its id is derived from
/// the user and the status change, so repeated sweeps write it once.
fn sweep_event(user: &DeprovisionedUser) -> AcceptedEvent {
    let stamp: String = user
        .status_changed
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let uuid = EventUuid::parse(&format!("sweep-{}-{stamp}", user.id))
        .unwrap_or_else(|_| EventUuid::parse("sweep-invalid").expect("static id is valid"));
    AcceptedEvent {
        uuid,
        published: user.status_changed,
        event_type: EventType::Deactivate,
        user: UserRef {
            id: user.id.clone(),
            login: user.login.clone(),
            display_name: None,
        },
    }
}

#[cfg(test)]
mod tests;
