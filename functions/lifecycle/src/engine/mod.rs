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

pub mod policy;

use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Serialize;

use crate::aws::sdk_config;
use crate::clock::Timestamp;
use crate::config::EngineConfig;
use crate::domain::{Action, Holdings, Person, Snapshot};
use crate::domain::{AuditEntry, Settle, StateUpdate};
use crate::okta::{ClientOptions, OktaClient};
use crate::setup::{self, SetupError};
use crate::store::{DynamoStore, Key, Store, StoreError};
use crate::targets::okta::{read_failure, OktaTarget};
use crate::targets::scim::ScimTarget;
use crate::targets::webhook::WebhookTarget;
use crate::targets::{
    http_client, BoxFuture, JobContext, Step, Target, TargetError, TargetsConfig,
};

use crate::domain::{FuseDecision, Job, JobStatus};
use policy::{Decision, OktaView, Policy};

/// Who the audit trail names as the actor.
const ACTOR: &str = "okta-lifecycle/deprovision";
/// A step is not started with less time than this left.
const MIN_STEP_TIME: Duration = Duration::from_millis(500);
/// First backoff between tries of one step; doubles.
const STEP_BACKOFF: Duration = Duration::from_millis(200);
/// Rate-limit waits a job may take before its attempts count again.
const MAX_DEFERRALS: u32 = 30;
/// Longest single rate-limit wait (Okta's windows are one minute).
const MAX_DEFERRAL: Duration = Duration::from_secs(65);
/// Time kept back from the invocation deadline to record how a job ended.
const SETTLE_MARGIN: Duration = Duration::from_secs(3);

/// What one job record came to, for the log and the function's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobReport {
    /// The job's sort key.
    pub job: String,
    /// Its status after this run (or why it was not run).
    pub status: String,
    /// Why, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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
    fn audit(&mut self, action: &str, outcome: &str) -> AuditEntry {
        self.seq += 1;
        let actor = format!("{ACTOR} ({})", self.request_id);
        AuditEntry {
            seq: self.seq,
            dry_run: self.dry_run,
            ..AuditEntry::for_job(&self.job, action, outcome, &actor, Timestamp::now())
        }
    }

    fn step_audit(&mut self, step: &Step, outcome: &str, detail: Option<String>) -> AuditEntry {
        let mut entry = self.audit(&format!("{}/{}", step.target, step.op.as_str()), outcome);
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
    /// webhook.
    pub fn targets_from(
        config: &EngineConfig,
        okta: &OktaClient,
        targets: TargetsConfig,
    ) -> Result<Vec<Box<dyn Target>>, SetupError> {
        let http = http_client(config.step_timeout)
            .map_err(|e| SetupError::Invalid(format!("HTTP client: {e}")))?;
        let mut list: Vec<Box<dyn Target>> = vec![Box::new(OktaTarget::new(
            okta.clone(),
            config.revoke_oauth_tokens,
            config.restore_groups,
        ))];
        for scim in targets.scim {
            list.push(Box::new(ScimTarget::new(
                scim,
                http.clone(),
                config.restore_accounts,
            )));
        }
        for hook in targets.webhooks {
            list.push(Box::new(WebhookTarget::new(hook, http.clone())));
        }
        Ok(list)
    }

    /// Builds everything from the environment: AWS clients, the Okta client from its
    /// secret, the targets from theirs.
    pub async fn from_environment(config: EngineConfig) -> Result<Self, SetupError> {
        let aws = sdk_config().await;
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &config.table_name,
            Duration::from_secs(30 * 24 * 3600),
        );
        let okta = setup::okta_client(
            &aws,
            &config.okta_org_url,
            &config.okta_credentials_secret_id,
            ClientOptions {
                reserve_fraction: config.rate_reserve,
                // Steps retry on their own; two tries per call keep the product bounded.
                max_attempts: 2,
                timeout: config.step_timeout,
                ..ClientOptions::default()
            },
        )
        .await?;
        let targets = match &config.targets_secret_id {
            Some(id) => {
                let secret = setup::required_secret(&aws, id).await?;
                TargetsConfig::from_secret_json(secret.expose())
                    .map_err(|e| SetupError::Invalid(e.to_string()))?
            }
            None => TargetsConfig::default(),
        };
        let targets = Self::targets_from(&config, &okta, targets)?;
        tracing::info!(targets = ?targets.iter().map(|t| t.name()).collect::<Vec<_>>(), "deprovision engine ready");
        Ok(Self::new(store, okta, targets, config))
    }

    /// The store, for callers that inspect what the engine wrote.
    pub fn store(&self) -> &DynamoStore {
        &self.store
    }

    /// Handles one stream batch. Records are taken in order; the first one that cannot be
    /// handled (the table failed) is reported, so the stream retries from it and the
    /// order of each user's jobs holds.
    pub async fn handle(
        &self,
        event: Event,
        request_id: &str,
        deadline: Instant,
    ) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        // The operator's dry-run switch, read once per batch (at the first job).
        let mut dry_run_switch = None;
        for record in &event.records {
            let sequence = record.change.sequence_number.clone();
            let Some(key) = job_key(record) else {
                tracing::warn!(event_name = %record.event_name, "stream record is not a job; ignored");
                continue;
            };
            // The same record retried by the stream carries the same token, so it can take
            // back a claim its failed invocation left behind.
            let token = match &sequence {
                Some(seq) => format!("stream:{seq}"),
                None => format!("request:{request_id}"),
            };
            let started = Instant::now();
            let switch = match dry_run_switch {
                Some(on) => Ok(on),
                None => self.store.integration().await.map(|i| i.dry_run),
            };
            let result = match switch {
                Ok(on) => {
                    dry_run_switch = Some(on);
                    self.run_job_with(&key, &token, request_id, deadline, on)
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(report) => {
                    tracing::info!(user = %key.pk, job = %report.job, status = %report.status,
                        detail = report.detail.as_deref().unwrap_or(""),
                        elapsed_ms = started.elapsed().as_millis() as u64, "job handled")
                }
                Err(e) => {
                    tracing::error!(user = %key.pk, job = %key.sk, error = %e,
                        "job could not be handled; the stream will retry it");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = sequence;
                    response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
        response
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
    async fn run_job_with(
        &self,
        key: &Key,
        token: &str,
        request_id: &str,
        deadline: Instant,
        dry_run_switch: bool,
    ) -> Result<JobReport, StoreError> {
        let report = |status: &str, detail: Option<String>| JobReport {
            job: key.sk.clone(),
            status: status.into(),
            detail,
        };
        let Some(job) = self.store.job(key).await? else {
            return Ok(report("missing", None));
        };
        let now = Timestamp::now();
        let own_claim = job.status == JobStatus::Running && job.claim.as_deref() == Some(token);
        if !job.claimable(now.unix_millis()) && !own_claim {
            // A duplicate stream record, or a job another invocation holds.
            return Ok(report(job.status.as_str(), Some("not runnable now".into())));
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
            return Ok(report("claimed elsewhere", None));
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
        Ok(report(outcome.0.as_str(), outcome.1))
    }

    async fn execute(&self, run: &mut Run<'_>) -> Result<(JobStatus, Option<String>), Stop> {
        let job = run.job.clone();
        // The event is a trigger, not the truth.
        let user = self
            .okta_within(run)
            .get_user(&job.user)
            .await
            .map_err(|e| read_failure("user", e))?;
        let view = match &user {
            Some(u) => OktaView::Present {
                status: u.status.clone(),
                status_changed: u.status_changed.clone(),
            },
            None => OktaView::Gone,
        };
        let state = self.store.user_state(&job.user).await?;
        let action = match self
            .policy
            .decide(&job.event_type, &job.published, &state, &view)
        {
            Decision::Run(action) => action,
            Decision::Stale(reason) => {
                return self
                    .settle(run, JobStatus::Stale, "job.stale", Some(reason), None)
                    .await
            }
            Decision::Skip(reason) => {
                return self
                    .settle(run, JobStatus::Skipped, "job.skipped", Some(reason), None)
                    .await
            }
        };

        if job.claimed_from == Some(JobStatus::Released) {
            self.store.fuse_release(&Key::of_job(&job)).await?;
            self.store.mark_fuse_admitted(&job, run.token).await?;
        } else if action.removes_access() && !run.dry_run && !job.fuse_admitted {
            let decision = self
                .store
                .fuse_admit(
                    &Key::of_job(&job),
                    Timestamp::now(),
                    self.config.fuse_limit,
                    self.config.fuse_window,
                )
                .await?;
            if let FuseDecision::Held { in_window } = decision {
                let reason = format!(
                    "safety fuse: {in_window} deprovisionings in the last {} s (limit {}); \
                     run it with `lifecycle-ops release`",
                    self.config.fuse_window.as_secs(),
                    self.config.fuse_limit
                );
                tracing::warn!(user_id = %job.user, job = %job.id, in_window, "safety fuse holds a job");
                return self
                    .settle(run, JobStatus::Held, "job.held", Some(reason), None)
                    .await;
            }
            self.store.mark_fuse_admitted(&job, run.token).await?;
        }

        let person = Person {
            id: job.user.clone(),
            login: match &user {
                Some(u) => Some(u.login.clone()).filter(|l| !l.is_empty()),
                None => self.login_of_deleted(run, &job).await?,
            },
        };
        let mut now = Snapshot::new();
        for target in &self.targets {
            let known = state.snapshot.as_ref().and_then(|s| s.get(target.name()));
            let holdings = self
                .bounded(run.deadline, || target.inspect(&person, known))
                .await?;
            now.insert(target.name().to_owned(), holdings);
        }
        // The snapshot is what a restore gives back: kept from the first removal, unless
        // it belongs to an earlier departure that was never restored.
        let kept = state
            .snapshot
            .clone()
            .filter(|_| action == Action::Restore || !state.snapshot_outdated(&view.episode()));
        let before = match (kept, action) {
            (Some(snapshot), _) => snapshot,
            (None, Action::Restore) => Snapshot::new(),
            (None, _) if run.dry_run => now.clone(),
            (None, _) => {
                let replacing = state.snapshot.as_ref().and(state.snapshot_job.as_deref());
                let stored = self
                    .store
                    .save_snapshot(&job.user, &now, &job.id, replacing, Timestamp::now())
                    .await?;
                let outcome = if replacing.is_some() {
                    "replaced"
                } else {
                    "recorded"
                };
                let mut entry = run.audit("snapshot", outcome);
                entry.detail = Some(serde_json::to_string(&stored).unwrap_or_default());
                self.store.append_audit(&entry).await?;
                stored
            }
        };

        let empty = Holdings::default();
        let steps: Vec<(&dyn Target, Step)> = self
            .targets
            .iter()
            .flat_map(|t| {
                let name = t.name();
                t.plan(
                    action,
                    &person,
                    now.get(name).unwrap_or(&empty),
                    before.get(name).unwrap_or(&empty),
                )
                .into_iter()
                .map(move |s| (t.as_ref(), s))
            })
            .collect();
        let plan: Vec<String> = steps
            .iter()
            .map(|(_, s)| match s.label.as_str() {
                "" => s.id(),
                label => format!("{} ({label})", s.id()),
            })
            .collect();
        let mut entry = run.audit("plan", if run.dry_run { "planned" } else { "recorded" });
        entry.detail = Some(format!("{action}: {}", plan.join("; ")));
        self.store
            .record_plan(&job, run.token, action, &plan, run.dry_run, &entry)
            .await?;

        let context = JobContext {
            person,
            action,
            event_uuid: job.event_uuid.clone(),
            event_type: job.event_type.clone(),
            published: job.published.to_string(),
            job_id: job.id.clone(),
        };
        for (target, step) in &steps {
            let id = step.id();
            if job.steps_done.contains_key(&id) {
                continue;
            }
            if run.dry_run {
                let entry = run.step_audit(step, "planned", None);
                self.store.append_audit(&entry).await?;
                continue;
            }
            match self
                .bounded(run.deadline, || target.apply(step, &context))
                .await
            {
                Ok(outcome) => {
                    let entry =
                        run.step_audit(step, outcome.as_str(), outcome.detail().map(str::to_owned));
                    self.store
                        .record_step(&job, run.token, &id, outcome.as_str(), &entry)
                        .await?;
                    tracing::info!(user_id = %job.user, step = %id, outcome = outcome.as_str(), "step");
                }
                Err(e) => {
                    let entry = run.step_audit(step, "failed", Some(e.to_string()));
                    self.store.append_audit(&entry).await?;
                    return Err(e.into());
                }
            }
        }
        if run.dry_run {
            return self
                .settle(
                    run,
                    JobStatus::Planned,
                    "job.planned",
                    Some(format!("dry run: {action} planned, nothing touched")),
                    None,
                )
                .await;
        }
        let update = StateUpdate {
            applied: action,
            episode: view.episode(),
            published: job.published,
            event_uuid: job.event_uuid.to_string(),
            job_id: job.id.clone(),
            clear_snapshot: action == Action::Restore,
        };
        self.settle(
            run,
            JobStatus::Done,
            "job.done",
            Some(action.to_string()),
            Some(&update),
        )
        .await
    }

    /// The Okta client, bounded by the run's deadline less the time to record the outcome.
    fn okta_within(&self, run: &Run<'_>) -> OktaClient {
        self.okta.with_deadline(
            run.deadline
                .checked_sub(SETTLE_MARGIN)
                .unwrap_or(run.deadline),
        )
    }

    /// The login to find a deleted user's accounts by: the one the event named, unless Okta
    /// has since given it to someone else (logins are reused), in which case accounts are
    /// matched only by the ids the snapshot stored.
    async fn login_of_deleted(&self, run: &mut Run<'_>, job: &Job) -> Result<Option<String>, Stop> {
        let Some(login) = job.user_login.clone().filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let holder = self
            .okta_within(run)
            .get_user_by_login(&login)
            .await
            .map_err(|e| read_failure("login", e))?;
        match holder {
            Some(other) if other.id != job.user => {
                let mut entry = run.audit("login.reused", "noted");
                entry.detail = Some(format!(
                    "{login} now belongs to Okta user {}; accounts are matched by stored id only",
                    other.id
                ));
                self.store.append_audit(&entry).await?;
                tracing::warn!(user_id = %job.user, other = %other.id, "login reused by another Okta user");
                Ok(None)
            }
            _ => Ok(Some(login)),
        }
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
                // A spent rate limit is waited out between attempts, not hammered here.
                Err(e)
                    if e.is_transient()
                        && e.retry_after().is_none()
                        && tries < self.config.step_max_attempts =>
                {
                    let wait = STEP_BACKOFF * 2u32.saturating_pow(tries - 1);
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
        action: &str,
        reason: Option<String>,
        state: Option<&StateUpdate>,
    ) -> Result<(JobStatus, Option<String>), Stop> {
        let mut entry = run.audit(action, status.as_str());
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
        Ok((status, reason))
    }

    /// Ends a failed attempt: after a rate limit, `retrying` once the limit resets (the
    /// attempt is given back, up to `MAX_DEFERRALS` times); after another temporary
    /// failure, `retrying` after a growing delay while attempts are left; else `failed`.
    async fn fail(
        &self,
        run: &mut Run<'_>,
        failure: &TargetError,
    ) -> Result<(JobStatus, Option<String>), StoreError> {
        let error = failure.to_string();
        let attempts = run.job.attempts.max(1);
        let now = Timestamp::now();
        let deferral = failure
            .retry_after()
            .filter(|_| run.job.deferrals < MAX_DEFERRALS);
        let (status, not_before_ms, action) = if let Some(wait) = deferral {
            let at = now.plus(wait.min(MAX_DEFERRAL)).unix_millis();
            (JobStatus::Retrying, Some(at), "job.deferred")
        } else if failure.is_transient() && attempts < self.config.job_max_attempts {
            let delay = self.config.job_retry_delay * 2u32.saturating_pow(attempts - 1);
            (
                JobStatus::Retrying,
                Some(now.plus(delay).unix_millis()),
                "job.retrying",
            )
        } else {
            (JobStatus::Failed, None, "job.failed")
        };
        tracing::warn!(user_id = %run.job.user, job = %run.job.id, attempts,
            deferrals = run.job.deferrals, status = status.as_str(), error = %error, "job attempt failed");
        let mut entry = run.audit(action, status.as_str());
        entry.detail = Some(format!("attempt {attempts}: {error}"));
        let settle = Settle {
            status: status.clone(),
            reason: None,
            error: Some(error.clone()),
            not_before_ms,
            deferred: deferral.is_some(),
        };
        self.store
            .settle_job(&run.job, run.token, &settle, &entry, None)
            .await?;
        Ok((status, Some(error)))
    }
}

/// The job key of a stream record, if it is one (the filter should let only jobs through).
fn job_key(record: &EventRecord) -> Option<Key> {
    // The keys in DynamoDB's JSON form: {"pk": {"S": "USER#…"}, "sk": {"S": "JOB#…"}}.
    let keys = serde_json::to_value(&record.change.keys).ok()?;
    let text = |name: &str| {
        keys.pointer(&format!("/{name}/S"))?
            .as_str()
            .map(str::to_owned)
    };
    let (pk, sk) = (text("pk")?, text("sk")?);
    (pk.starts_with("USER#") && sk.starts_with("JOB#")).then_some(Key { pk, sk })
}
