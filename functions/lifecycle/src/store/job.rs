//! Job items (`USER#<id>` / `JOB#<published>#<uuid>`): status, attempts, claim, plan,
//! `steps` done, errors.
//!
//! Every write to a job is conditional on the caller's claim, so an invocation whose
//! claim expired and was taken over cannot record anything for it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};

use super::dynamo::{
    cancellation_codes, classify, condition_failed, flag, key_item, n, number, s, text,
};
use super::keys::SkRange;
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::{
    Action, AuditAction, AuditEntry, AuditOutcome, EventType, EventUuid, Job, JobStatus, Settle,
    StateUpdate, UserId,
};

pub(super) fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Rejected {
        op: "build request",
        detail: e.to_string(),
    })
}

pub(super) fn corrupt(what: &str, key: &Key) -> StoreError {
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

    pub(super) fn job_update(
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

    pub(super) async fn transact(
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
                AuditAction::Operator(to.clone()),
                AuditOutcome::Requested,
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

    /// A user's jobs, oldest first.
    pub async fn jobs_of(&self, user: &UserId) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        let items = self.query_all(&Key::user_pk(user), &Key::jobs()).await?;
        for item in items {
            let key = Key::new(
                text(&item, "pk").unwrap_or_default(),
                text(&item, "sk").unwrap_or_default(),
            );
            jobs.push(parse_job(&key, &item)?);
        }
        Ok(jobs)
    }

    /// A user's items whose sort keys start with `prefix`, in sort key order.
    pub(super) async fn query_prefix(
        &self,
        user: &UserId,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        self.query_all(&Key::user_pk(user), &SkRange::Prefix(prefix.into()))
            .await
    }
}
