//! The deprovision function's items: jobs, per-user state, the audit trail, the fuse.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `USER#<id>` | `JOB#<published>#<uuid>` | status, attempts, claim, plan, `steps` done, errors |
//! | `USER#<id>` | `STATE` | last applied action and event, episode, snapshot (JSON) |
//! | `USER#<id>` | `AUDIT#<time>#<uuid>#<n>` | one action and its outcome; written once, never changed |
//! | `CONFIG` | `FUSE` | start times in the window, held jobs, version |
//!
//! Every write to a job is conditional on the caller's claim, so an invocation whose
//! claim expired and was taken over cannot record anything for it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};

use super::dynamo::{
    cancellation_codes, classify, condition_failed, flag, key_item, n, number, s, text,
};
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::fuse;
use crate::domain::FuseDecision;
use crate::domain::{Action, Snapshot};
use crate::domain::{AuditEntry, EventType, EventUuid, Settle, StateUpdate, UserId};
use crate::domain::{Job, JobStatus, UserState};

/// Attempts at the fuse's optimistic update before giving up for this invocation.
const FUSE_CONFLICT_RETRIES: u32 = 5;
/// Held jobs listed by name in the fuse's item; past this (a mass event), only counted,
/// so the item stays far below DynamoDB's 400 KB.
const FUSE_LISTED_HELD: usize = 500;

/// How the fuse's item names a job: `USER#<id>/JOB#<published>#<uuid>`.
pub fn held_ref(job: &Key) -> String {
    format!("{}/{}", job.pk, job.sk)
}

impl Key {
    /// A job's item.
    pub fn of_job(job: &Job) -> Self {
        Self::new(Self::user_pk(&job.user), job.id.clone())
    }

    /// A user's state item.
    pub fn user_state(user: &UserId) -> Self {
        Self::new(Self::user_pk(user), "STATE")
    }

    /// The safety fuse's item.
    pub fn fuse() -> Self {
        Self::new("CONFIG", "FUSE")
    }
}

impl AuditEntry {
    fn key(&self) -> Key {
        Key {
            pk: Key::user_pk(&self.user),
            sk: format!("AUDIT#{}#{}#{:03}", self.at, self.event_uuid, self.seq),
        }
    }

    fn item(&self) -> HashMap<String, AttributeValue> {
        let mut item = key_item(&self.key());
        item.extend([
            ("kind".to_string(), s("audit")),
            ("at".into(), s(&self.at.to_string())),
            ("user_id".into(), s(self.user.as_str())),
            ("event_uuid".into(), s(&self.event_uuid)),
            ("event_type".into(), s(&self.event_type)),
            ("job".into(), s(&self.job_id)),
            ("action".into(), s(&self.action)),
            ("outcome".into(), s(&self.outcome)),
            ("actor".into(), s(&self.actor)),
            ("dry_run".into(), AttributeValue::Bool(self.dry_run)),
        ]);
        for (name, value) in [
            ("target", &self.target),
            ("object", &self.object),
            ("label", &self.label),
            ("detail", &self.detail),
        ] {
            if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                item.insert(name.into(), s(v));
            }
        }
        item
    }
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Rejected {
        op: "build request",
        detail: e.to_string(),
    })
}

fn corrupt(what: &str, key: &Key) -> StoreError {
    StoreError::Rejected {
        op: "read item",
        detail: format!("{} {} has no valid {what}", key.pk, key.sk),
    }
}

fn parse_job(key: &Key, item: &HashMap<String, AttributeValue>) -> Result<Job, StoreError> {
    let user = text(item, "user_id")
        .and_then(|u| UserId::parse(&u).ok())
        .ok_or_else(|| corrupt("user_id", key))?;
    let event_uuid = text(item, "event_uuid")
        .and_then(|u| EventUuid::parse(&u).ok())
        .ok_or_else(|| corrupt("event_uuid", key))?;
    let published = text(item, "published")
        .and_then(|p| Timestamp::parse(&p).ok())
        .ok_or_else(|| corrupt("published", key))?;
    let steps_done = item
        .get("steps")
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_s().ok().map(|o| (k.clone(), o.clone())))
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap_or_default();
    Ok(Job {
        id: key.sk.clone(),
        user,
        user_login: text(item, "user_login"),
        event_uuid,
        event_type: EventType::from(text(item, "event_type").unwrap_or_default().as_str()),
        published,
        status: JobStatus::from(text(item, "status").unwrap_or_default().as_str()),
        attempts: number(item, "attempts")
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32,
        dry_run: flag(item, "dry_run").unwrap_or(false),
        steps_done,
        fuse_admitted: flag(item, "fuse_admitted").unwrap_or(false),
        deferrals: number(item, "deferrals")
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32,
        claimed_from: text(item, "claimed_from").map(|s| JobStatus::from(s.as_str())),
        claim: text(item, "claim"),
        claim_expires_ms: number(item, "claim_expires_ms"),
        not_before_ms: number(item, "not_before_ms"),
    })
}

fn claim_lost<R: std::fmt::Debug>(
    op: &'static str,
    err: aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> StoreError {
    if cancellation_codes(&err).is_some_and(|codes| codes.contains(&"ConditionalCheckFailed")) {
        return StoreError::Conflict {
            op,
            detail: "the job's claim was lost or the user's state moved on".into(),
        };
    }
    classify(op, &err)
}

impl DynamoStore {
    /// Reads a job (strongly consistent: the stream record may be older than the item).
    pub async fn job(&self, key: &Key) -> Result<Option<Job>, StoreError> {
        self.read(key)
            .await?
            .map(|item| parse_job(key, &item))
            .transpose()
    }

    /// Claims a job for one run: `running` under `token` until `now + lease`. `None` when
    /// another invocation got there first or the job is no longer runnable.
    pub async fn claim_job(
        &self,
        job: &Job,
        token: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        let attempts = if job.status.starts_a_round() {
            "attempts = :one"
        } else {
            "attempts = if_not_exists(attempts, :zero) + :one"
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&Key::of_job(job))))
            .update_expression(format!(
                "SET #s = :running, claimed_from = :from, claim = :token, \
                 claim_expires_ms = :exp, started_at = :now, {attempts}, \
                 runs = if_not_exists(runs, :zero) + :one, steps = if_not_exists(steps, :empty) \
                 REMOVE not_before_ms"
            ))
            // A running job can be taken over once its claim expired, or at once by the
            // holder of the claim (the same stream record, retried after a failure).
            .condition_expression(
                "#s = :from AND (#s <> :running OR attribute_not_exists(claim_expires_ms) \
                 OR claim_expires_ms < :now_ms OR claim = :token)",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":from", s(job.status.as_str()))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":exp", n(now.plus(lease).unix_millis()))
            .expression_attribute_values(":now", s(&now.to_string()))
            .expression_attribute_values(":now_ms", n(now.unix_millis()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes() {
                Some(item) => parse_job(&Key::of_job(job), item).map(Some),
                None => Err(corrupt("attributes after claim", &Key::of_job(job))),
            },
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(classify("UpdateItem", &e)),
        }
    }

    fn job_update(
        &self,
        job: &Job,
        token: &str,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&Key::of_job(job))))
            .condition_expression("claim = :token")
            .expression_attribute_values(":token", s(token))
    }

    fn audit_put(&self, entry: &AuditEntry) -> Result<TransactWriteItem, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(entry.item()))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn transact(
        &self,
        op: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| claim_lost(op, e))
    }

    /// Records the action and the plan on the job, with the
    /// audit line that lists the plan.
    pub async fn record_plan(
        &self,
        job: &Job,
        token: &str,
        action: Action,
        plan: &[String],
        dry_run: bool,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let update = build(
            self.job_update(job, token)
                .update_expression("SET #a = :action, #p = :plan, dry_run_applied = :dry")
                .expression_attribute_names("#a", "action")
                .expression_attribute_names("#p", "plan")
                .expression_attribute_values(":action", s(action.as_str()))
                .expression_attribute_values(
                    ":plan",
                    AttributeValue::L(plan.iter().map(|p| s(p)).collect()),
                )
                .expression_attribute_values(":dry", AttributeValue::Bool(dry_run))
                .build(),
        )?;
        self.transact(
            "record plan",
            vec![
                TransactWriteItem::builder().update(update).build(),
                self.audit_put(audit)?,
            ],
        )
        .await
    }

    /// Notes on the job that the fuse has counted it (or an operator released it), so a
    /// later attempt is not counted again.
    pub async fn mark_fuse_admitted(&self, job: &Job, token: &str) -> Result<(), StoreError> {
        let update = build(
            self.job_update(job, token)
                .update_expression("SET fuse_admitted = :yes")
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .build(),
        )?;
        self.transact(
            "mark fuse admitted",
            vec![TransactWriteItem::builder().update(update).build()],
        )
        .await
    }

    /// Records a completed step on the job and its audit line, together.
    pub async fn record_step(
        &self,
        job: &Job,
        token: &str,
        step_id: &str,
        outcome: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let update = build(
            self.job_update(job, token)
                .update_expression("SET steps.#step = :outcome")
                .expression_attribute_names("#step", step_id)
                .expression_attribute_values(":outcome", s(outcome))
                .build(),
        )?;
        self.transact(
            "record step",
            vec![
                TransactWriteItem::builder().update(update).build(),
                self.audit_put(audit)?,
            ],
        )
        .await
    }

    /// Appends one audit line on its own (a failure, a snapshot).
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.transact("append audit", vec![self.audit_put(entry)?])
            .await
    }

    /// Ends a run: the job's new status, its audit line and, for a completed job, the
    /// user's state, in one transaction. The state moves only forward in event time.
    pub async fn settle_job(
        &self,
        job: &Job,
        token: &str,
        settle: &Settle,
        audit: &AuditEntry,
        state: Option<&StateUpdate>,
    ) -> Result<(), StoreError> {
        let mut set = vec!["#s = :status", "finished_at = :now"];
        let mut remove = vec!["claim", "claim_expires_ms"];
        let mut update = self
            .job_update(job, token)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":status", s(settle.status.as_str()))
            .expression_attribute_values(":now", s(&audit.at.to_string()));
        for (name, value, placeholder) in [
            ("reason", &settle.reason, ":reason"),
            ("last_error", &settle.error, ":error"),
        ] {
            match value {
                Some(v) => {
                    set.push(if name == "reason" {
                        "reason = :reason"
                    } else {
                        "last_error = :error"
                    });
                    update = update.expression_attribute_values(placeholder, s(v));
                }
                None => remove.push(name),
            }
        }
        if let Some(at) = settle.not_before_ms {
            set.push("not_before_ms = :nb");
            update = update.expression_attribute_values(":nb", n(at));
        }
        if settle.deferred {
            set.push("attempts = attempts - :one");
            set.push("deferrals = if_not_exists(deferrals, :zero) + :one");
            update = update
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":zero", n(0));
        }
        let update = build(
            update
                .update_expression(format!(
                    "SET {} REMOVE {}",
                    set.join(", "),
                    remove.join(", ")
                ))
                .build(),
        )?;
        let mut items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.audit_put(audit)?,
        ];
        if let Some(st) = state {
            let mut expr = String::from(
                "SET applied = :applied, episode = :episode, last_event_published = :p, \
                 last_event_uuid = :uuid, last_job = :job, updated_at = :now, kind = :kind",
            );
            if st.clear_snapshot {
                expr.push_str(" REMOVE #snap, snapshot_at, snapshot_job");
            }
            let mut update = Update::builder();
            if st.clear_snapshot {
                update = update.expression_attribute_names("#snap", "snapshot");
            }
            let update = build(
                update
                    .table_name(&self.table)
                    .set_key(Some(key_item(&Key::user_state(&job.user))))
                    .update_expression(expr)
                    .condition_expression(
                        "attribute_not_exists(last_event_published) OR last_event_published <= :p",
                    )
                    .expression_attribute_values(":applied", s(st.applied.as_str()))
                    .expression_attribute_values(":episode", s(&st.episode))
                    .expression_attribute_values(":p", s(&st.published.to_string()))
                    .expression_attribute_values(":uuid", s(&st.event_uuid))
                    .expression_attribute_values(":job", s(&st.job_id))
                    .expression_attribute_values(":now", s(&audit.at.to_string()))
                    .expression_attribute_values(":kind", s("state"))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        self.transact("settle job", items).await
    }

    /// Reads a user's state; a user never acted on has the default.
    pub async fn user_state(&self, user: &UserId) -> Result<UserState, StoreError> {
        let key = Key::user_state(user);
        let Some(item) = self.read(&key).await? else {
            return Ok(UserState::default());
        };
        let item = &item;
        let snapshot = match text(item, "snapshot") {
            Some(json) => Some(
                serde_json::from_str::<Snapshot>(&json).map_err(|_| corrupt("snapshot", &key))?,
            ),
            None => None,
        };
        let applied = text(item, "applied").and_then(|a| {
            [
                Action::Deprovision,
                Action::Disable,
                Action::Delete,
                Action::Restore,
            ]
            .into_iter()
            .find(|x| x.as_str() == a)
        });
        Ok(UserState {
            applied,
            episode: text(item, "episode"),
            last_event_published: text(item, "last_event_published")
                .and_then(|p| Timestamp::parse(&p).ok()),
            last_event_uuid: text(item, "last_event_uuid"),
            snapshot,
            snapshot_job: text(item, "snapshot_job"),
            last_job: text(item, "last_job"),
        })
    }

    /// Stores the snapshot unless one is already there (an earlier, partial run took it
    /// before removing anything), or in place of the one `replacing` took. Returns the
    /// snapshot that is stored now.
    pub async fn save_snapshot(
        &self,
        user: &UserId,
        snapshot: &Snapshot,
        job_id: &str,
        replacing: Option<&str>,
        now: Timestamp,
    ) -> Result<Snapshot, StoreError> {
        let json = serde_json::to_string(snapshot).map_err(|e| StoreError::Rejected {
            op: "encode snapshot",
            detail: e.to_string(),
        })?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&Key::user_state(user))))
            .update_expression(
                "SET #snap = :snap, snapshot_at = :now, snapshot_job = :job, kind = :kind",
            )
            .condition_expression(
                "attribute_not_exists(#snap) OR (attribute_exists(snapshot_job) AND snapshot_job = :old)",
            )
            // SNAPSHOT is one of DynamoDB's reserved words.
            .expression_attribute_names("#snap", "snapshot")
            // No job key starts with "-": without a snapshot to replace, nothing matches.
            .expression_attribute_values(":old", s(replacing.unwrap_or("-")))
            .expression_attribute_values(":snap", s(&json))
            .expression_attribute_values(":now", s(&now.to_string()))
            .expression_attribute_values(":job", s(job_id))
            .expression_attribute_values(":kind", s("state"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(snapshot.clone()),
            Err(e) if condition_failed(&e) => {
                Ok(self.user_state(user).await?.snapshot.unwrap_or_default())
            }
            Err(e) => Err(classify("UpdateItem", &e)),
        }
    }

    /// Counts one deprovisioning in the fuse's window, or holds the job when the window is
    /// full. Optimistic: the window is rewritten only if nobody changed it meanwhile.
    pub async fn fuse_admit(
        &self,
        job: &Key,
        now: Timestamp,
        limit: u32,
        window: Duration,
    ) -> Result<FuseDecision, StoreError> {
        let key = Key::fuse();
        for _ in 0..FUSE_CONFLICT_RETRIES {
            let item = self.read(&key).await?.unwrap_or_default();
            let version = number(&item, "version").unwrap_or(0);
            let starts: Vec<i64> = item
                .get("starts_ms")
                .and_then(|v| v.as_l().ok())
                .map(|l| {
                    l.iter()
                        .filter_map(|v| v.as_n().ok()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            let listed = item
                .get("held_jobs")
                .and_then(|v| v.as_ss().ok())
                .map_or(0, Vec::len);
            let (mut kept, fits) = fuse::admit(&starts, now.unix_millis(), limit, window);
            let in_window = kept.len();
            if fits {
                kept.push(now.unix_millis());
            }
            // One update either way: the window pruned (and this job counted, if it fits),
            // or the hold recorded; the job is listed while the list is short.
            let list_it = !fits && listed < FUSE_LISTED_HELD;
            let tail = match (fits, list_it) {
                (true, _) => "last_admitted_at = :now",
                (false, true) => "last_held_at = :now ADD held_count :one, held_jobs :job",
                (false, false) => "last_held_at = :now ADD held_count :one",
            };
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_item(&key)))
                .update_expression(format!(
                    "SET starts_ms = :starts, version = :next, #l = :limit, \
                     window_seconds = :window, {tail}"
                ))
                .condition_expression("attribute_not_exists(version) OR version = :v")
                .expression_attribute_values(":v", n(version))
                .expression_attribute_values(":next", n(version + 1))
                .expression_attribute_values(":limit", n(i64::from(limit)))
                .expression_attribute_values(":window", n(window.as_secs() as i64))
                .expression_attribute_values(":now", s(&now.to_string()))
                .expression_attribute_values(
                    ":starts",
                    AttributeValue::L(kept.iter().map(|t| n(*t)).collect()),
                );
            if !fits {
                request = request.expression_attribute_values(":one", n(1));
            }
            if list_it {
                request = request
                    .expression_attribute_values(":job", AttributeValue::Ss(vec![held_ref(job)]));
            }
            match request
                .expression_attribute_names("#l", "limit")
                .send()
                .await
            {
                Ok(_) if fits => return Ok(FuseDecision::Admitted),
                Ok(_) => return Ok(FuseDecision::Held { in_window }),
                Err(e) if condition_failed(&e) => continue,
                Err(e) => return Err(classify("UpdateItem", &e)),
            }
        }
        Err(StoreError::Conflict {
            op: "fuse",
            detail: format!("the window changed {FUSE_CONFLICT_RETRIES} times in a row"),
        })
    }

    /// Takes a released job off the fuse's list and count of held jobs.
    pub async fn fuse_release(&self, job: &Key) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&Key::fuse())))
            .update_expression("DELETE held_jobs :job ADD held_count :minus_one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":job", AttributeValue::Ss(vec![held_ref(job)]))
            .expression_attribute_values(":minus_one", n(-1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // No fuse item: nothing was ever held.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(classify("UpdateItem", &e)),
        }
    }

    /// An operator's request on a job: move it from the status it has now (`job.status`,
    /// just read) to `to` (`retry_requested` or `released`), with an audit line naming
    /// the operator, in one transaction. `false` when the job changed meanwhile.
    pub async fn request_job(
        &self,
        job: &Job,
        to: JobStatus,
        actor: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_item(&Key::of_job(job))))
                .update_expression("SET #s = :to, requested_at = :now, requested_by = :actor")
                .condition_expression("#s = :from")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":to", s(to.as_str()))
                .expression_attribute_values(":from", s(job.status.as_str()))
                .expression_attribute_values(":now", s(&now.to_string()))
                .expression_attribute_values(":actor", s(actor))
                .build(),
        )?;
        let audit = AuditEntry {
            detail: Some(format!("was {}", job.status.as_str())),
            ..AuditEntry::for_job(
                job,
                &format!("operator.{}", to.as_str()),
                "requested",
                actor,
                now,
            )
        };
        match self
            .transact(
                "operator request",
                vec![
                    TransactWriteItem::builder().update(update).build(),
                    self.audit_put(&audit)?,
                ],
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sets the operator's dry-run switch on `CONFIG`/`INTEGRATION`.
    pub async fn set_dry_run(&self, on: bool) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&Key::integration())))
            .update_expression("SET dry_run = :on")
            .expression_attribute_values(":on", AttributeValue::Bool(on))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("UpdateItem", &e))
    }

    /// The fuse's item as stored, if the fuse ever counted anything.
    pub async fn fuse_item(&self) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        self.read(&Key::fuse()).await
    }

    /// A user's jobs, oldest first.
    pub async fn jobs_of(&self, user: &UserId) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        for item in self.query_prefix(user, "JOB#").await? {
            let key = Key::new(
                text(&item, "pk").unwrap_or_default(),
                text(&item, "sk").unwrap_or_default(),
            );
            jobs.push(parse_job(&key, &item)?);
        }
        Ok(jobs)
    }

    async fn query_prefix(
        &self,
        user: &UserId,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&Key::user_pk(user)))
                .expression_attribute_values(":prefix", s(prefix))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| classify("Query", &e))?;
            items.extend(out.items().iter().cloned());
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// A user's audit trail, oldest first.
    pub async fn audit_trail(
        &self,
        user: &UserId,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        self.query_prefix(user, "AUDIT#").await
    }
}
