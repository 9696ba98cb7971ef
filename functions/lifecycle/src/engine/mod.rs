//! The deprovisioning engine: turns each job intake wrote into the removal (or the
//! restoration) of the person's access in every target, exactly once in effect, with an
//! audit line for everything it does.
//!
//! One run of a job:
//!
//! 1. **claim** it (conditional; an expired claim can be taken over);
//! 2. **re-read** the user from Okta — a failed read ends the attempt before anything is
//!    touched;
//! 3. **decide** with the policy, from the event, Okta's answer and the user's `STATE`;
//! 4. the **fuse** counts deprovisionings in a sliding window and holds the job past it;
//! 5. **inspect** every target and **snapshot** what the person has, before removing anything;
//! 6. **plan** the steps and record the plan; in a dry run, record and stop there;
//! 7. **apply** each step not already done by an earlier attempt, each with a timeout and
//!    bounded retries, recording step and audit line in one transaction;
//! 8. **settle**: `done` and the user's `STATE` together; or `retrying` (the stream brings
//!    it back after a delay) / `failed` (an operator can ask for a retry).

mod plan;
pub mod policy;
mod steps;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::aws::sdk_config;
use crate::clock::Timestamp;
use crate::config::EngineConfig;
use crate::domain::{
    Action, AuditAction, AuditEntry, AuditOutcome, EventType, Job, JobStatus, Settle, Snapshot,
    StateUpdate, UserState,
};
use crate::okta::{ClientOptions, OktaClient, OktaUser};
use crate::retry::Backoff;
use crate::secrets::{CachedSecret, Secret};
use crate::setup::{self, SetupError};
use crate::store::{DynamoStore, IntakeStore, Key, StoreError};
use crate::targets::okta::OktaTarget;
use crate::targets::scim::ScimTarget;
use crate::targets::webhook::WebhookTarget;
use crate::targets::{http_client, BoxFuture, Step, Target, TargetError, TargetsConfig};

use plan::Baseline;
use policy::{OktaView, Policy};

/// How a run of a job ended: its new status, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunOutcome {
    status: JobStatus,
    detail: Option<String>,
}

/// Whether a step lets the run go on (with what it read) or has settled the job.
enum Flow<T> {
    Go(T),
    Settled(RunOutcome),
}

/// What step 2–3 read and decided.
struct Read {
    user: Option<OktaUser>,
    view: OktaView,
    state: UserState,
    action: Action,
}

/// Who the audit trail names as the actor.
const ACTOR: &str = "okta-lifecycle/deprovision";
/// A step is not started with less time than this left.
const MIN_STEP_TIME: Duration = Duration::from_millis(500);
/// First backoff between tries of one step; doubles.
const STEP_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
/// Longest wait before a retried job runs again.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(900);
/// Waits for a spent rate limit or an Okta outage a job may take before its attempts
/// count again (30 of Okta's 20 s outage waits: ten minutes of outage fail no job).
const MAX_DEFERRALS: u32 = 30;
/// Least wait after a refused credential, whatever the refresh interval.
const MIN_REFUSED_WAIT: Duration = Duration::from_secs(1);
/// Longest single rate-limit wait (Okta's windows are one minute).
const MAX_DEFERRAL: Duration = Duration::from_secs(65);
/// Time kept back from the invocation deadline to record how a job ended.
const SETTLE_MARGIN: Duration = Duration::from_secs(3);

/// What one job record came to, for the log and the function's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobReport {
    /// The job's sort key.
    pub job: String,
    /// Its status after this run, or as found when it was not runnable; `None` when no
    /// such job exists.
    pub status: Option<JobStatus>,
    /// Why, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a run that removed access (done): milliseconds from Okta's event to now, the
    /// time to removal an auditor asks about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_after_ms: Option<u64>,
}

/// Why a run stopped before settling normally.
enum Stop {
    /// The table failed: nothing more can be recorded; the stream retries the record.
    Store(StoreError),
    /// Okta could not be read, or a target failed.
    Failed(TargetError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

impl From<TargetError> for Stop {
    fn from(e: TargetError) -> Self {
        Stop::Failed(e)
    }
}

/// One claimed run of a job: what every audit line and job write needs.
struct Run<'a> {
    job: Job,
    token: &'a str,
    request_id: &'a str,
    deadline: Instant,
    dry_run: bool,
    seq: u32,
}

impl Run<'_> {
    fn audit(&mut self, action: AuditAction, outcome: AuditOutcome) -> AuditEntry {
        self.seq += 1;
        let actor = format!("{ACTOR} ({})", self.request_id);
        AuditEntry {
            seq: self.seq,
            dry_run: self.dry_run,
            ..AuditEntry::for_job(&self.job, action, outcome, &actor, Timestamp::now())
        }
    }

    fn step_audit(
        &mut self,
        step: &Step,
        outcome: AuditOutcome,
        detail: Option<String>,
    ) -> AuditEntry {
        let action = AuditAction::Step {
            target: step.target.clone(),
            op: step.op,
        };
        let mut entry = self.audit(action, outcome);
        entry.target = Some(step.target.clone());
        entry.object = Some(step.object.clone());
        entry.label = Some(step.label.clone());
        entry.detail = detail;
        entry
    }
}

/// The engine: the table, Okta, the targets and the policy, built once.
pub struct Engine {
    store: DynamoStore,
    okta: OktaClient,
    targets: Vec<Box<dyn Target>>,
    config: EngineConfig,
    policy: Policy,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field(
                "targets",
                &self.targets.iter().map(|t| t.name()).collect::<Vec<_>>(),
            )
            .field("policy", &self.policy)
            .finish()
    }
}

impl Engine {
    /// Builds the engine from its parts; `targets` should start with Okta.
    pub fn new(
        store: DynamoStore,
        okta: OktaClient,
        targets: Vec<Box<dyn Target>>,
        config: EngineConfig,
    ) -> Self {
        let policy = Policy {
            delete_in_targets: config.delete_in_targets,
        };
        Self {
            store,
            okta,
            targets,
            config,
            policy,
        }
    }

    /// The targets a deployment configures: Okta, then each SCIM application, then each
    /// webhook, with settings that never change.
    pub fn targets_from(
        config: &EngineConfig,
        okta: &OktaClient,
        targets: TargetsConfig,
    ) -> Result<Vec<Box<dyn Target>>, SetupError> {
        Self::targets_over(config, okta, Arc::new(CachedSecret::fixed(targets)))
    }

    /// The targets of the secret's current version; each reads its URL and credential
    /// from `targets` at every use, so a rotation reaches them without a cold start (a
    /// target added or removed waits for one).
    pub fn targets_over(
        config: &EngineConfig,
        okta: &OktaClient,
        targets: Arc<CachedSecret<TargetsConfig>>,
    ) -> Result<Vec<Box<dyn Target>>, SetupError> {
        let http = http_client(config.step_timeout)
            .map_err(|e| SetupError::Invalid(format!("HTTP client: {e}")))?;
        let mut list: Vec<Box<dyn Target>> = vec![Box::new(OktaTarget::new(
            okta.clone(),
            config.revoke_oauth_tokens,
            config.restore_groups,
        ))];
        let now = targets.peek();
        for scim in &now.scim {
            list.push(Box::new(ScimTarget::new(
                &scim.name,
                Arc::clone(&targets),
                http.clone(),
                config.restore_accounts,
            )));
        }
        for hook in &now.webhooks {
            list.push(Box::new(WebhookTarget::new(
                &hook.name,
                Arc::clone(&targets),
                http.clone(),
            )));
        }
        Ok(list)
    }

    /// Builds everything from the environment: AWS clients, the Okta client from its
    /// secret, the targets from theirs.
    pub async fn from_environment(config: EngineConfig) -> Result<Self, SetupError> {
        let aws = sdk_config().await;
        let store = setup::store(&aws, &config.table);
        let okta = setup::okta_client(
            &aws,
            &config.okta,
            ClientOptions {
                // Steps retry on their own; two tries per call keep the product bounded.
                max_attempts: 2,
                timeout: config.step_timeout,
                ..ClientOptions::default()
            },
        )
        .await?;
        let targets = match &config.targets_secret_id {
            Some(id) => {
                let (text, source) = setup::required_secret_source(&aws, id).await?;
                let first = TargetsConfig::from_secret_json(text.expose())
                    .map_err(|e| SetupError::Invalid(e.to_string()))?;
                CachedSecret::new(
                    id,
                    text,
                    first,
                    Arc::new(source),
                    Box::new(|text: &Secret| {
                        TargetsConfig::from_secret_json(text.expose()).map_err(|e| e.to_string())
                    }),
                    config.targets_refresh,
                )
            }
            None => CachedSecret::fixed(TargetsConfig::default()),
        };
        let targets = Self::targets_over(&config, &okta, Arc::new(targets))?;
        tracing::info!(targets = ?targets.iter().map(|t| t.name()).collect::<Vec<_>>(), "deprovision engine ready");
        Ok(Self::new(store, okta, targets, config))
    }

    /// The Okta client the engine acts through.
    pub fn okta(&self) -> &OktaClient {
        &self.okta
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The store, for callers that inspect what the engine wrote.
    pub fn store(&self) -> &DynamoStore {
        &self.store
    }

    /// Runs one job, if it is claimable. `Err` only when the table failed.
    pub async fn run_job(
        &self,
        key: &Key,
        token: &str,
        request_id: &str,
        deadline: Instant,
    ) -> Result<JobReport, StoreError> {
        let switch = self.store.integration().await?.dry_run;
        self.run_job_with(key, token, request_id, deadline, switch)
            .await
    }

    /// [`Engine::run_job`], with the operator's dry-run switch already read.
    pub(super) async fn run_job_with(
        &self,
        key: &Key,
        token: &str,
        request_id: &str,
        deadline: Instant,
        dry_run_switch: bool,
    ) -> Result<JobReport, StoreError> {
        let report = |status: Option<&JobStatus>, detail: Option<&str>| JobReport {
            job: key.sk.clone(),
            status: status.cloned(),
            detail: detail.map(str::to_owned),
            removed_after_ms: None,
        };
        let Some(job) = self.store.job(key).await? else {
            return Ok(report(None, Some("no such job")));
        };
        let now = Timestamp::now();
        let own_claim = job.status == JobStatus::Running && job.claim.as_deref() == Some(token);
        if !job.claimable(now.unix_millis()) && !own_claim {
            // A duplicate stream record, or a job another invocation holds.
            return Ok(report(Some(&job.status), Some("not runnable now")));
        }
        if let Some(at) = job
            .not_before_ms
            .filter(|_| job.status == JobStatus::Retrying)
        {
            let wait = Duration::from_millis(u64::try_from(at - now.unix_millis()).unwrap_or(0));
            let room = deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(SETTLE_MARGIN * 4);
            tokio::time::sleep(wait.min(room)).await;
        }
        let Some(job) = self
            .store
            .claim_job(&job, token, Timestamp::now(), self.config.claim)
            .await?
        else {
            return Ok(report(Some(&job.status), Some("claimed elsewhere")));
        };
        let mut run = Run {
            dry_run: self.config.dry_run || dry_run_switch || job.dry_run,
            job,
            token,
            request_id,
            deadline,
            seq: 0,
        };
        let outcome = match self.execute(&mut run).await {
            Ok(done) => Ok(done),
            Err(Stop::Store(e)) => Err(e),
            Err(Stop::Failed(e)) => self.fail(&mut run, &e).await,
        }?;
        let removal = matches!(
            run.job.event_type,
            EventType::Deactivate | EventType::DeleteInitiated | EventType::Suspend
        );
        let removed_after_ms = (removal && outcome.status == JobStatus::Done).then(|| {
            u64::try_from(Timestamp::now().since(&run.job.published).as_millis())
                .unwrap_or(u64::MAX)
        });
        Ok(JobReport {
            job: key.sk.clone(),
            status: Some(outcome.status),
            detail: outcome.detail,
            removed_after_ms,
        })
    }

    /// Steps 2–8 of the module doc, one call each; every step that ends the run early
    /// settles the job itself and answers `Err(Settled)` through [`Flow`].
    async fn execute(&self, run: &mut Run<'_>) -> Result<RunOutcome, Stop> {
        let read = match self.decide(run).await? {
            Flow::Go(read) => read,
            Flow::Settled(outcome) => return Ok(outcome),
        };
        if let Flow::Settled(outcome) = self.pass_fuse(run, read.action).await? {
            return Ok(outcome);
        }
        let person = self.person(run, read.user.as_ref()).await?;
        let now = self.inspect(run, &person, &read.state).await?;
        let before =
            match plan::baseline(&read.state, read.action, &read.view.episode(), run.dry_run) {
                Baseline::Kept(snapshot) => snapshot,
                Baseline::Nothing => Snapshot::new(),
                Baseline::Current => now.clone(),
                Baseline::Take { replacing } => {
                    self.take_snapshot(run, &now, replacing.as_deref()).await?
                }
            };
        let steps = plan::plan(&self.targets, read.action, &person, &now, &before);
        self.record_plan(run, read.action, &steps).await?;
        self.apply(run, &steps, read.action, person).await?;
        self.finish(run, read.action, &read.view).await
    }

    /// The Okta client, bounded by the run's deadline less the time to record the outcome.
    fn okta_within(&self, run: &Run<'_>) -> OktaClient {
        self.okta.with_deadline(
            run.deadline
                .checked_sub(SETTLE_MARGIN)
                .unwrap_or(run.deadline),
        )
    }

    /// Calls a target with a timeout per try and bounded retries of temporary failures,
    /// never past the deadline.
    async fn bounded<'a, T>(
        &self,
        deadline: Instant,
        call: impl Fn() -> BoxFuture<'a, Result<T, TargetError>>,
    ) -> Result<T, TargetError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let left = deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(SETTLE_MARGIN);
            if left < MIN_STEP_TIME {
                return Err(TargetError::Transient {
                    target: "engine".into(),
                    detail: "out of time in this invocation".into(),
                });
            }
            let limit = self.config.step_timeout.min(left);
            let result = match tokio::time::timeout(limit, call()).await {
                Ok(result) => result,
                Err(_) => Err(TargetError::Transient {
                    target: "engine".into(),
                    detail: format!("no answer within {} ms", limit.as_millis()),
                }),
            };
            match result {
                // A spent rate limit is waited out between attempts, not hammered here;
                // so is a refused credential (the secret may not be read again yet).
                Err(e)
                    if e.is_transient()
                        && e.retry_after().is_none()
                        && !e.is_refused()
                        && tries < self.config.step_max_attempts =>
                {
                    let wait = STEP_BACKOFF.delay(tries - 1);
                    tracing::warn!(error = %e, tries, wait_ms = wait.as_millis() as u64, "target call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn settle(
        &self,
        run: &mut Run<'_>,
        status: JobStatus,
        reason: Option<String>,
        state: Option<&StateUpdate>,
    ) -> Result<RunOutcome, Stop> {
        let mut entry = run.audit(
            AuditAction::Job(status.clone()),
            AuditOutcome::from(&status),
        );
        entry.detail = reason.clone();
        let settle = Settle {
            status: status.clone(),
            reason: reason.clone(),
            error: None,
            not_before_ms: None,
            deferred: false,
        };
        self.store
            .settle_job(&run.job, run.token, &settle, &entry, state)
            .await?;
        Ok(RunOutcome {
            status,
            detail: reason,
        })
    }

    /// Ends a failed attempt: after a rate limit or an Okta outage, `retrying` once the
    /// limit resets or the wait is over; after a refused credential (a rotation under
    /// way), `retrying` once the secret may be read again (the attempt is given back in
    /// both cases, up to `MAX_DEFERRALS` times); after another temporary
    /// failure, `retrying` after a growing delay while attempts are left; else `failed`.
    async fn fail(
        &self,
        run: &mut Run<'_>,
        failure: &TargetError,
    ) -> Result<RunOutcome, StoreError> {
        let error = failure.to_string();
        let attempts = run.job.attempts.max(1);
        let now = Timestamp::now();
        let after = after_failure(
            failure,
            attempts,
            run.job.deferrals,
            &FailurePolicy {
                refused_wait: self.config.targets_refresh.interval,
                max_attempts: self.config.job_max_attempts,
                retry_delay: self.config.job_retry_delay,
            },
        );
        let (status, not_before_ms, action) = match after {
            AfterFailure::Deferred(wait) => (
                JobStatus::Retrying,
                Some(now.plus(wait).unix_millis()),
                AuditAction::Deferred,
            ),
            AfterFailure::Retry(delay) => (
                JobStatus::Retrying,
                Some(now.plus(delay).unix_millis()),
                AuditAction::Job(JobStatus::Retrying),
            ),
            AfterFailure::Failed => (JobStatus::Failed, None, AuditAction::Job(JobStatus::Failed)),
        };
        tracing::warn!(user_id = %run.job.user, job = %run.job.id, attempts,
            deferrals = run.job.deferrals, status = status.as_str(), error = %error, "job attempt failed");
        let mut entry = run.audit(action, AuditOutcome::from(&status));
        entry.detail = Some(format!("attempt {attempts}: {error}"));
        let settle = Settle {
            status: status.clone(),
            reason: None,
            error: Some(error.clone()),
            not_before_ms,
            deferred: matches!(after, AfterFailure::Deferred(_)),
        };
        self.store
            .settle_job(&run.job, run.token, &settle, &entry, None)
            .await?;
        Ok(RunOutcome {
            status,
            detail: Some(error),
        })
    }
}

/// What a failed attempt comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterFailure {
    /// `retrying` after this wait, the attempt given back.
    Deferred(Duration),
    /// `retrying` after this delay, the attempt spent.
    Retry(Duration),
    /// `failed` (an operator can ask for a retry).
    Failed,
}

/// The settings [`after_failure`] reads.
struct FailurePolicy {
    /// The wait after a refused credential: the secret's refresh interval, after which it
    /// may be read again.
    refused_wait: Duration,
    /// Attempts before a job is failed.
    max_attempts: u32,
    /// The delay before the second attempt; it doubles.
    retry_delay: Duration,
}

/// The table of failed attempts (`attempts` counts this one):
///
/// | failure | deferrals so far | attempts | outcome |
/// |---|---|---|---|
/// | rate limit, Okta outage | below `MAX_DEFERRALS` | any | deferred for the wait (at most `MAX_DEFERRAL`) |
/// | credential refused (a rotation under way) | below `MAX_DEFERRALS` | any | deferred for the refresh interval |
/// | any temporary one, credential refused included | `MAX_DEFERRALS` | below the most | retry after the growing delay |
/// | other temporary | any | below the most | retry after the growing delay |
/// | anything else | any | any | failed |
fn after_failure(
    failure: &TargetError,
    attempts: u32,
    deferrals: u32,
    policy: &FailurePolicy,
) -> AfterFailure {
    let wait = failure.retry_after().or_else(|| {
        failure
            .is_refused()
            .then_some(policy.refused_wait.max(MIN_REFUSED_WAIT))
    });
    match wait {
        Some(wait) if deferrals < MAX_DEFERRALS => AfterFailure::Deferred(wait.min(MAX_DEFERRAL)),
        _ if failure.is_transient() && attempts < policy.max_attempts => AfterFailure::Retry(
            Backoff::new(policy.retry_delay, MAX_RETRY_DELAY).delay(attempts.max(1) - 1),
        ),
        _ => AfterFailure::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: FailurePolicy = FailurePolicy {
        refused_wait: Duration::from_secs(30),
        max_attempts: 3,
        retry_delay: Duration::from_secs(2),
    };

    fn refused() -> TargetError {
        TargetError::Refused {
            target: "scim:app".into(),
            detail: "GET /Users?filter answered 401".into(),
        }
    }

    #[test]
    fn a_refused_credential_waits_for_the_next_read_without_spending_attempts() {
        for attempts in [1, 3, 10] {
            assert_eq!(
                after_failure(&refused(), attempts, 0, &POLICY),
                AfterFailure::Deferred(Duration::from_secs(30))
            );
        }
        let zero = FailurePolicy {
            refused_wait: Duration::ZERO,
            ..POLICY
        };
        assert_eq!(
            after_failure(&refused(), 1, 0, &zero),
            AfterFailure::Deferred(MIN_REFUSED_WAIT)
        );
    }

    #[test]
    fn a_credential_refused_past_every_deferral_spends_attempts_then_fails() {
        assert!(matches!(
            after_failure(&refused(), 1, MAX_DEFERRALS, &POLICY),
            AfterFailure::Retry(_)
        ));
        assert_eq!(
            after_failure(&refused(), 3, MAX_DEFERRALS, &POLICY),
            AfterFailure::Failed
        );
    }

    #[test]
    fn other_failures_keep_their_rules() {
        let transient = TargetError::Transient {
            target: "t".into(),
            detail: "timed out".into(),
        };
        assert!(matches!(
            after_failure(&transient, 1, 0, &POLICY),
            AfterFailure::Retry(d) if d <= Duration::from_secs(2)
        ));
        assert_eq!(
            after_failure(&transient, 3, 0, &POLICY),
            AfterFailure::Failed
        );
        let throttled = TargetError::Throttled {
            target: "okta".into(),
            detail: "429".into(),
            retry_after: Duration::from_secs(600),
        };
        assert_eq!(
            after_failure(&throttled, 1, 0, &POLICY),
            AfterFailure::Deferred(MAX_DEFERRAL)
        );
        let permanent = TargetError::Permanent {
            target: "t".into(),
            detail: "400".into(),
        };
        assert_eq!(
            after_failure(&permanent, 1, 0, &POLICY),
            AfterFailure::Failed
        );
    }
}
