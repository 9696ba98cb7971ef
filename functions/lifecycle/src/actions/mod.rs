//! Provisioning actions: acting on Okta when another source of truth asks. A request is
//! parsed once ([`crate::domain::provision`]), recorded once under its idempotency key
//! (the table is both the idempotency record and the queue), and its actions run in
//! order: each reads Okta, is planned by a pure function ([`plan`]), and is carried out
//! through the same Okta client (rate limits, reserve) and dry-run switch as the leaver
//! path, its answer and audit line written together. What does not finish within the
//! caller's time stays `pending` and is carried on by the worker.
//!
//! The same key with the same body gets the first answer back; with another body, a
//! conflict. A temporary password is in the first answer only: never stored, never
//! logged, never repeated.

pub mod api;
mod execute;
mod leaver;
pub mod plan;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lc_rs::digest;
use serde_json::Value;
use tokio::time::Instant;

use crate::clock::Timestamp;
use crate::domain::fuse::FuseSettings;
use crate::domain::provision::{
    ActionAnswer, ActionError, ActionOutcome, ActionType, ActionsRequest, ProvisionAction,
    RequestRecord, RequestStatus,
};
use crate::okta::OktaClient;
use crate::retry::Backoff;
use crate::secrets::Secret;
use crate::store::{DynamoStore, IntakeStore, Key, StoreError};
use execute::Executed;

/// How long one run holds a request before another may take it over.
const CLAIM: Duration = Duration::from_secs(60);
/// How long a request's answer is kept for repeats of its key.
const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);
/// No action starts with less time than this left.
const START_MARGIN: Duration = Duration::from_secs(4);

/// One action's answer, with the temporary password of a reset beside it.
#[derive(Debug, Clone)]
pub struct ActionResult {
    /// What the caller reads and the table keeps.
    pub answer: ActionAnswer,
    /// The temporary password: in the live answer only, never stored.
    pub temp_password: Option<Secret>,
}

impl ActionResult {
    fn new(kind: ActionType, outcome: ActionOutcome) -> Self {
        Self {
            answer: ActionAnswer::new(kind, outcome),
            temp_password: None,
        }
    }

    fn failed(kind: ActionType, error: impl Into<String>) -> Self {
        Self {
            answer: ActionAnswer::failed(kind, error),
            temp_password: None,
        }
    }

    /// The answer row as JSON; the temporary password is included only when asked for
    /// (the live answer to the caller who asked).
    pub fn to_json(&self, with_password: bool) -> Value {
        let mut v = serde_json::to_value(&self.answer).unwrap_or(Value::Null);
        if let (true, Some(password), Value::Object(row)) =
            (with_password, &self.temp_password, &mut v)
        {
            row.insert(
                "temp_password".into(),
                Value::String(password.expose().into()),
            );
        }
        v
    }
}

/// The answer to a request: one row per action, in order.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The request's id.
    pub request_id: String,
    /// Done, or still pending.
    pub status: RequestStatus,
    /// Plan only.
    pub dry_run: bool,
    /// The rows: an action's answer, or `pending`.
    pub results: Vec<Row>,
    /// A repeat of the key: the rows are the first answer's, as stored.
    pub replayed: bool,
}

/// One row of an answer.
#[derive(Debug, Clone)]
pub enum Row {
    /// Answered in this run.
    Fresh(ActionResult),
    /// Answered earlier, as stored.
    Stored(Value),
    /// Not answered yet.
    Pending(ActionType),
}

impl Answer {
    /// The answer's JSON body; temporary passwords only from this run's rows.
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .results
            .iter()
            .map(|row| match row {
                Row::Fresh(result) => result.to_json(true),
                Row::Stored(v) => v.clone(),
                Row::Pending(kind) => serde_json::json!({"type": kind, "outcome": "pending"}),
            })
            .collect();
        serde_json::json!({
            "request_id": self.request_id,
            "status": self.status.as_str(),
            "dry_run": self.dry_run,
            "replayed": self.replayed,
            "results": rows,
        })
    }

    /// Whether the answer carries a temporary password (it must not be cached).
    pub fn has_secret(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r, Row::Fresh(a) if a.temp_password.is_some()))
    }
}

/// A request cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The body or its actions are wrong; nothing ran.
    #[error("{} problem(s) with the request", .0.len())]
    Invalid(Vec<ActionError>),
    /// The key was used before with another body.
    #[error("idempotency key {0:?} was used with another request body")]
    KeyReused(String),
    /// The table failed; nothing is known to have run.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The provisioning side: Okta and the table.
#[derive(Debug, Clone)]
pub struct Provisioner {
    okta: OktaClient,
    store: DynamoStore,
    fuse: FuseSettings,
}

/// Runs of one request before the worker stops carrying it on by itself (about half an
/// hour of waits at the backoff below).
const WORKER_RUNS: u32 = 30;
/// The worker's wait before another run of a pending request, growing with each run.
const WORKER_BACKOFF: Backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));

/// How often a run looks at the jobs it handed actions to.
const FOLLOW_EVERY: Duration = Duration::from_millis(300);

/// How a run treats the jobs it handed actions to (deprovision, delete, restore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// A caller is waiting: watch the jobs while the run has time.
    Wait,
    /// The worker: look once. A job settles by itself in its own stream lane, which may
    /// be the very lane this run holds; a read of the request derives its answer then.
    Look,
}

fn sha256_hex(data: &[u8]) -> String {
    digest::digest(&digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The id of `key` for `caller`: keys are the caller's own, so two callers never meet.
pub fn request_id(caller: &str, key: &str) -> String {
    sha256_hex(format!("{caller}\n{key}").as_bytes())[..32].to_owned()
}

impl Provisioner {
    /// Wraps the Okta client and the table; deprovisioning and deleting count against
    /// `fuse`, as the leaver path's jobs do.
    pub fn new(okta: OktaClient, store: DynamoStore, fuse: FuseSettings) -> Self {
        Self { okta, store, fuse }
    }

    /// The table.
    pub fn store(&self) -> &DynamoStore {
        &self.store
    }

    /// Takes a request from `caller` and runs as much of it as `deadline` allows.
    pub async fn submit(
        &self,
        caller: &str,
        body: &[u8],
        deadline: Instant,
        run_id: &str,
    ) -> Result<Answer, SubmitError> {
        let request = ActionsRequest::parse(body).map_err(SubmitError::Invalid)?;
        // What the caller asked, without the key: parsed again from here to carry on.
        let actions: Value = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|mut v| v.get_mut("actions").map(Value::take))
            .unwrap_or(Value::Null);
        let actions = actions.to_string();
        let digest = sha256_hex(format!("{}\n{actions}", request.dry_run).as_bytes());
        let record = RequestRecord {
            id: request_id(caller, &request.idempotency_key),
            idempotency_key: request.idempotency_key.clone(),
            caller: caller.to_owned(),
            digest,
            dry_run: request.dry_run,
            actions,
            count: request.actions.len(),
            status: RequestStatus::Running,
            results: BTreeMap::new(),
            started: BTreeMap::new(),
            created_at: Timestamp::now(),
            claim: Some(run_id.to_owned()),
            claim_expires_ms: None,
            runs: 1,
            parked: false,
        };
        match self
            .store
            .create_request(&record, run_id, CLAIM, KEEP)
            .await?
        {
            None => {
                let actions: Vec<_> = request.actions.into_iter().map(Ok).collect();
                self.run(record, &actions, run_id, deadline, Follow::Wait)
                    .await
            }
            Some(existing) if existing.digest != record.digest => {
                Err(SubmitError::KeyReused(request.idempotency_key))
            }
            Some(existing) => {
                self.resume(existing, run_id, deadline, true, Follow::Wait)
                    .await
            }
        }
    }

    /// The request `id` of `caller`, as far as it went; `None` for another caller's.
    pub async fn status(&self, caller: &str, id: &str) -> Result<Option<Answer>, StoreError> {
        let Some(record) = self.store.request(id).await? else {
            return Ok(None);
        };
        if record.caller != caller {
            return Ok(None);
        }
        Ok(Some(self.answer_now(&record, true).await?))
    }

    /// A request's answer as the table has it now: stored answers, and for actions handed
    /// to the leaver path, what their jobs came to.
    async fn answer_now(
        &self,
        record: &RequestRecord,
        replayed: bool,
    ) -> Result<Answer, StoreError> {
        let mut answer = stored_answer(record, replayed);
        for (index, row) in answer.results.iter_mut().enumerate() {
            let Row::Pending(kind) = row else { continue };
            if let Some(job) = self.handed_job(record, index).await? {
                if let Some(done) = self.settled_answer(&job, *kind).await? {
                    *row = Row::Stored(serde_json::to_value(done).unwrap_or(Value::Null));
                }
            }
        }
        if answer.results.iter().all(|r| !matches!(r, Row::Pending(_))) {
            answer.status = RequestStatus::Done;
        }
        Ok(answer)
    }

    /// What a handed job came to, as the action's answer; `None` while it runs. A restore
    /// whose job went stale because a newer event was applied first — Okta's own
    /// activation event, which the restore itself caused, taken up by the hook — is
    /// `already` when that newer event restored the person: what was asked holds.
    async fn settled_answer(
        &self,
        job: &crate::domain::Job,
        kind: ActionType,
    ) -> Result<Option<ActionAnswer>, StoreError> {
        let answer = leaver::answer_of(job, kind);
        if kind == ActionType::RestoreIdentity && job.status == crate::domain::JobStatus::Stale {
            let state = self.store.user_state(&job.user).await?;
            let restored_since = state.applied == Some(crate::domain::Action::Restore)
                && state
                    .last_event_published
                    .is_some_and(|t| t > job.published);
            if restored_since {
                let mut already = ActionAnswer::new(kind, ActionOutcome::Already);
                already.user_id = Some(job.user.to_string());
                return Ok(Some(already));
            }
        }
        Ok(answer)
    }

    /// The job an earlier run handed action `index` to, if any.
    async fn handed_job(
        &self,
        record: &RequestRecord,
        index: usize,
    ) -> Result<Option<crate::domain::Job>, StoreError> {
        match record.started.get(&index).and_then(|r| Key::of_held_ref(r)) {
            Some(key) => self.store.job(&key).await,
            None => Ok(None),
        }
    }

    /// The worker's entry point: carries on with pending request `id` after a wait that
    /// grows with its runs (Okta may be down or throttling), as far as `deadline` allows.
    pub async fn carry_on(
        &self,
        id: &str,
        run_id: &str,
        deadline: Instant,
    ) -> Result<Option<Answer>, SubmitError> {
        let Some(record) = self.store.request(id).await? else {
            return Ok(None);
        };
        if record.status != RequestStatus::Pending {
            return Ok(None);
        }
        let wait = WORKER_BACKOFF.delay(record.runs.saturating_sub(1));
        let room = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(START_MARGIN * 2);
        tokio::time::sleep(wait.min(room)).await;
        self.resume(record, run_id, deadline, false, Follow::Look)
            .await
            .map(Some)
    }

    /// Carries on with a request that is not done (the worker's entry point, and a repeat
    /// of a key whose first run stopped): claims it, runs what is left.
    async fn resume(
        &self,
        record: RequestRecord,
        run_id: &str,
        deadline: Instant,
        replayed: bool,
        follow: Follow,
    ) -> Result<Answer, SubmitError> {
        if record.status == RequestStatus::Done {
            return Ok(self.answer_now(&record, replayed).await?);
        }
        let Some(claimed) = self
            .store
            .claim_request(&record.id, run_id, Timestamp::now(), CLAIM)
            .await?
        else {
            // Someone else is at it, or it just finished.
            let now = self.store.request(&record.id).await?.unwrap_or(record);
            return Ok(self.answer_now(&now, replayed).await?);
        };
        let actions = parse_stored(&claimed);
        let mut answer = self
            .run(claimed, &actions, run_id, deadline, follow)
            .await?;
        answer.replayed = replayed;
        Ok(answer)
    }

    async fn run(
        &self,
        record: RequestRecord,
        actions: &[Result<ProvisionAction, ActionError>],
        run_id: &str,
        deadline: Instant,
        follow: Follow,
    ) -> Result<Answer, SubmitError> {
        let dry_run = record.dry_run || self.store.integration().await?.dry_run;
        let run = execute::Context {
            request: &record,
            index: 0,
            run_id,
            dry_run,
            deadline,
        };
        let mut handed = Vec::new();
        for index in 0..record.count {
            if !record.results.contains_key(&index) {
                if let Some(key) = record.started.get(&index).and_then(|r| Key::of_held_ref(r)) {
                    handed.push((index, key));
                }
            }
        }
        let mut rows: Vec<Row> = (0..record.count)
            .map(|i| match record.results.get(&i) {
                Some(stored) => Row::Stored(serde_json::from_str(stored).unwrap_or(Value::Null)),
                None => Row::Pending(kind_of(actions.get(i))),
            })
            .collect();
        for (index, action) in actions.iter().enumerate() {
            if record.results.contains_key(&index) || handed.iter().any(|(i, _)| *i == index) {
                continue;
            }
            if deadline.saturating_duration_since(Instant::now()) < START_MARGIN {
                break;
            }
            let ctx = execute::Context { index, ..run };
            let executed = match action {
                Ok(action) => self.execute(&ctx, action).await?,
                Err(e) => Executed::Answered(ActionResult::failed(
                    kind_of(Some(action)),
                    e.message.clone(),
                )),
            };
            match executed {
                Executed::Answered(result) => {
                    self.answer(&ctx, &result).await?;
                    rows[index] = Row::Fresh(result);
                }
                Executed::Handed(job) => handed.push((index, job)),
                // Throttled or Okta down: this action and the rest wait for the worker.
                Executed::Later => break,
            }
        }
        let waiting = self.follow(run, follow, handed, &mut rows).await?;
        let open = rows.iter().filter(|r| matches!(r, Row::Pending(_))).count();
        let status = if open == 0 {
            RequestStatus::Done
        } else {
            RequestStatus::Pending
        };
        // Nothing for the worker to do when every open action is a job's: the jobs run
        // by themselves, and a read of the request derives their answers.
        let park = open > 0 && (open == waiting || record.runs >= WORKER_RUNS);
        if park && open > waiting {
            tracing::warn!(request_id = %record.id, runs = record.runs,
                "request still pending after every worker run; parked until its key is repeated");
        }
        self.store
            .finish_request(&record.id, run_id, status.clone(), park, Timestamp::now())
            .await?;
        Ok(Answer {
            request_id: record.id,
            status,
            dry_run,
            results: rows,
            replayed: false,
        })
    }
}

impl Provisioner {
    /// Records one action's answer with its audit line.
    async fn answer(
        &self,
        ctx: &execute::Context<'_>,
        result: &ActionResult,
    ) -> Result<(), StoreError> {
        let audit = execute::audit_line(ctx, result);
        let stored = serde_json::to_string(&result.answer).unwrap_or_default();
        self.store
            .record_result(&ctx.request.id, ctx.run_id, ctx.index, &stored, &[audit])
            .await?;
        tracing::info!(request_id = %ctx.request.id, index = ctx.index,
            kind = %result.answer.kind, outcome = ?result.answer.outcome, "action answered");
        Ok(())
    }

    /// Looks at the jobs actions were handed to (and with [`Follow::Wait`] keeps looking
    /// while the run has time), and records the answer of each that settled; the rest
    /// stay pending. Returns how many are still running.
    async fn follow(
        &self,
        run: execute::Context<'_>,
        follow: Follow,
        mut handed: Vec<(usize, Key)>,
        rows: &mut [Row],
    ) -> Result<usize, StoreError> {
        while !handed.is_empty() {
            let mut waiting = Vec::new();
            for (index, key) in handed {
                let kind = match &rows[index] {
                    Row::Pending(kind) => *kind,
                    _ => continue,
                };
                let settled = match self.store.job(&key).await? {
                    Some(job) => self.settled_answer(&job, kind).await?,
                    None => None,
                };
                match settled {
                    Some(answer) => {
                        let ctx = execute::Context { index, ..run };
                        let result = ActionResult {
                            answer,
                            temp_password: None,
                        };
                        self.answer(&ctx, &result).await?;
                        rows[index] = Row::Fresh(result);
                    }
                    None => waiting.push((index, key)),
                }
            }
            handed = waiting;
            if handed.is_empty()
                || follow == Follow::Look
                || run.deadline.saturating_duration_since(Instant::now()) < START_MARGIN
            {
                break;
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
        Ok(handed.len())
    }
}

/// The actions a stored request holds, by index; the list was checked when it was
/// taken, so an error here means a version that reads it differently.
fn parse_stored(record: &RequestRecord) -> Vec<Result<ProvisionAction, ActionError>> {
    let list: Vec<Value> = serde_json::from_str(&record.actions).unwrap_or_default();
    let mut actions: Vec<_> = list
        .iter()
        .enumerate()
        .map(|(i, v)| ProvisionAction::parse(i, v))
        .collect();
    actions.resize_with(record.count, || {
        Err(ActionError::request("the stored request lost this action"))
    });
    actions
}

fn kind_of(action: Option<&Result<ProvisionAction, ActionError>>) -> ActionType {
    match action {
        Some(Ok(action)) => action.kind(),
        // Only the row's kind is unknown; it is answered as failed.
        _ => ActionType::SyncIdentities,
    }
}

fn stored_answer(record: &RequestRecord, replayed: bool) -> Answer {
    let actions = parse_stored(record);
    let results = (0..record.count)
        .map(|i| match record.results.get(&i) {
            Some(stored) => Row::Stored(serde_json::from_str(stored).unwrap_or(Value::Null)),
            None => Row::Pending(kind_of(actions.get(i))),
        })
        .collect();
    Answer {
        request_id: record.id.clone(),
        status: record.status.clone(),
        dry_run: record.dry_run,
        results,
        replayed,
    }
}
