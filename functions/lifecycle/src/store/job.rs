//! Job items (`USER#<id>` / `JOB#<published>#<uuid>`): status, attempts, claim, plan,
//! `steps` done, errors.
//!
//! Every write to a job is conditional on the caller's claim, so an invocation whose
//! claim expired and was taken over cannot record anything for it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem};

use super::dynamo::{cancellation_codes, classify, condition_failed, flag, n, number, s, text};
use super::update::UpdateExpr;
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::provision::{ActionRef, ActionType};
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
        planned: item
            .get("plan_ids")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        fuse_admitted: flag(item, "fuse_admitted").unwrap_or(false),
        deferrals: number(item, "deferrals")
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32,
        claimed_from: text(item, "claimed_from").map(|s| JobStatus::from(s.as_str())),
        claim: text(item, "claim"),
        claim_expires_ms: number(item, "claim_expires_ms"),
        not_before_ms: number(item, "not_before_ms"),
        action: parse_action_ref(item),
        reason: text(item, "reason"),
        last_error: text(item, "last_error"),
        finished_at: text(item, "finished_at").and_then(|t| Timestamp::parse(&t).ok()),
    })
}

fn parse_action_ref(item: &HashMap<String, AttributeValue>) -> Option<ActionRef> {
    Some(ActionRef {
        request_id: text(item, "action_request")?,
        index: usize::try_from(number(item, "action_index")?).ok()?,
        kind: ActionType::parse(&text(item, "action_kind")?)?,
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

/// A job's plan as [`DynamoStore::record_plan`] writes it.
#[derive(Debug, Clone, Copy)]
pub struct PlanRecord<'a> {
    /// The action the plan carries out.
    pub action: Action,
    /// Its lines: each step's id, with its label.
    pub lines: &'a [String],
    /// The ids of every step planned by this attempt or an earlier one.
    pub planned: &'a [String],
    /// Whether it is a dry run's.
    pub dry_run: bool,
}

/// A claim of a job that has status `from`: `running` under `token` until `now + lease`.
/// Steps recorded in one transaction at most (with the job's update, one item more:
/// well within DynamoDB's 100 items and 4 MB a transaction).
pub const STEPS_PER_RECORD: usize = 25;

/// The sparse index of jobs that have not settled (`attention` = status).
const ATTENTION_INDEX: &str = "attention";
/// The index of jobs by lower-cased login (`login_key`), keys only.
const LOGIN_INDEX: &str = "login";

/// Lists the job in the attention index under its new status, or takes it out.
fn mark_attention(u: &mut UpdateExpr, status: &JobStatus) {
    if status.needs_attention() {
        u.set("attention", s(status.as_str()));
    } else {
        u.remove("attention");
    }
}

fn claim_expr(from: &JobStatus, token: &str, now: Timestamp, lease: Duration) -> UpdateExpr {
    let mut u = UpdateExpr::new();
    u.set("status", s("running"))
        .set("claimed_from", s(from.as_str()))
        .set("claim", s(token))
        .set("claim_expires_ms", n(now.plus(lease).unix_millis()))
        .set("started_at", s(&now.to_string()));
    if from.starts_a_round() {
        u.set("attempts", n(1));
    } else {
        u.increment("attempts", 1);
    }
    u.increment("runs", 1)
        .set_if_absent("steps", AttributeValue::M(HashMap::new()))
        .remove("not_before_ms");
    let (status, running) = (u.name("status"), u.value(s("running")));
    let from = u.value(s(from.as_str()));
    let (expires, now_ms) = (u.name("claim_expires_ms"), u.value(n(now.unix_millis())));
    let (claim, token) = (u.name("claim"), u.value(s(token)));
    u.condition(format!("{status} = {from}"));
    // A running job can be taken over once its claim expired, or at once by the
    // holder of the claim (the same stream record, retried after a failure).
    u.condition(format!(
        "{status} <> {running} OR attribute_not_exists({expires}) \
         OR {expires} < {now_ms} OR {claim} = {token}"
    ));
    mark_attention(&mut u, &JobStatus::Running);
    u
}

/// An operator's request: the job moves from the status just read, `from`, to `to`.
fn request_expr(from: &JobStatus, to: &JobStatus, actor: &str, now: Timestamp) -> UpdateExpr {
    let mut u = UpdateExpr::new();
    u.set("status", s(to.as_str()))
        .set("requested_at", s(&now.to_string()))
        .set("requested_by", s(actor));
    let (status, from) = (u.name("status"), u.value(s(from.as_str())));
    u.condition(format!("{status} = {from}"));
    mark_attention(&mut u, to);
    u
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
        let u = claim_expr(&job.status, token, now, lease);
        let result = self
            .update_request(&Key::of_job(job), u)
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

    /// A transaction item updating a job with what `fill` adds, conditional on the claim.
    fn job_update(
        &self,
        job: &Job,
        token: &str,
        fill: impl FnOnce(&mut UpdateExpr),
    ) -> Result<TransactWriteItem, StoreError> {
        let mut u = UpdateExpr::new();
        let (claim, token) = (u.name("claim"), u.value(s(token)));
        u.condition(format!("{claim} = {token}"));
        fill(&mut u);
        self.transact_update(&Key::of_job(job), u)
    }

    /// Writes `items` together, all or none. One item is written on its own, with the
    /// same condition: a transaction of one item is no more atomic than the plain write,
    /// and DynamoDB bills transactional writes at twice the write units.
    pub(super) async fn transact(
        &self,
        op: &'static str,
        mut items: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        if items.len() == 1 {
            return self.write_one(op, items.remove(0)).await;
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| claim_lost(op, e))
    }

    /// One transaction item as its own `PutItem`, `UpdateItem` or `DeleteItem`; a failed
    /// condition is the same [`StoreError::Conflict`] a cancelled transaction gives.
    async fn write_one(&self, op: &'static str, item: TransactWriteItem) -> Result<(), StoreError> {
        let lost = || StoreError::Conflict {
            op,
            detail: "the job's claim was lost or the user's state moved on".into(),
        };
        macro_rules! settle {
            ($result:expr, $name:literal) => {
                match $result {
                    Ok(_) => Ok(()),
                    Err(e) if condition_failed(&e) => Err(lost()),
                    Err(e) => Err(classify($name, &e)),
                }
            };
        }
        match item {
            TransactWriteItem { put: Some(p), .. } => settle!(
                self.client
                    .put_item()
                    .table_name(p.table_name)
                    .set_item(Some(p.item))
                    .set_condition_expression(p.condition_expression)
                    .set_expression_attribute_names(p.expression_attribute_names)
                    .set_expression_attribute_values(p.expression_attribute_values)
                    .send()
                    .await,
                "PutItem"
            ),
            TransactWriteItem {
                update: Some(u), ..
            } => settle!(
                self.client
                    .update_item()
                    .table_name(u.table_name)
                    .set_key(Some(u.key))
                    .update_expression(u.update_expression)
                    .set_condition_expression(u.condition_expression)
                    .set_expression_attribute_names(u.expression_attribute_names)
                    .set_expression_attribute_values(u.expression_attribute_values)
                    .send()
                    .await,
                "UpdateItem"
            ),
            TransactWriteItem {
                delete: Some(d), ..
            } => settle!(
                self.client
                    .delete_item()
                    .table_name(d.table_name)
                    .set_key(Some(d.key))
                    .set_condition_expression(d.condition_expression)
                    .set_expression_attribute_names(d.expression_attribute_names)
                    .set_expression_attribute_values(d.expression_attribute_values)
                    .send()
                    .await,
                "DeleteItem"
            ),
            // A condition check alone writes nothing; only a transaction can carry it.
            item => self
                .client
                .transact_write_items()
                .transact_items(item)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| claim_lost(op, e)),
        }
    }

    /// Records the action and the plan on the job, with the audit line that lists the
    /// plan.
    pub async fn record_plan(
        &self,
        job: &Job,
        token: &str,
        plan: &PlanRecord<'_>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let update = self.job_update(job, token, |u| {
            let lines = AttributeValue::L(plan.lines.iter().map(|p| s(p)).collect());
            let planned = AttributeValue::L(plan.planned.iter().map(|p| s(p)).collect());
            u.set("action", s(plan.action.as_str()))
                .set("plan", lines)
                .set("plan_ids", planned)
                .set("dry_run_applied", AttributeValue::Bool(plan.dry_run));
        })?;
        self.transact("record plan", vec![update, self.audit_put(audit)?])
            .await
    }

    /// Notes on the job that the fuse has counted it (or an operator released it), so a
    /// later attempt is not counted again.
    pub async fn mark_fuse_admitted(&self, job: &Job, token: &str) -> Result<(), StoreError> {
        let update = self.job_update(job, token, |u| {
            u.set("fuse_admitted", AttributeValue::Bool(true));
        })?;
        self.transact("mark fuse admitted", vec![update]).await
    }

    /// Records completed steps on the job (id and outcome each) and their audit lines,
    /// together: one transaction for as many steps as there are, at most
    /// [`STEPS_PER_RECORD`] a transaction.
    pub async fn record_steps(
        &self,
        job: &Job,
        token: &str,
        steps: &[(String, &str, AuditEntry)],
    ) -> Result<(), StoreError> {
        for chunk in steps.chunks(STEPS_PER_RECORD) {
            let update = self.job_update(job, token, |u| {
                for (id, outcome, _) in chunk {
                    u.set_path(&["steps", id], s(outcome));
                }
            })?;
            let mut items = vec![update];
            for (_, _, audit) in chunk {
                items.push(self.audit_put(audit)?);
            }
            self.transact("record steps", items).await?;
        }
        Ok(())
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
        let update = self.job_update(job, token, |u| {
            mark_attention(u, &settle.status);
            u.set("status", s(settle.status.as_str()))
                .set("finished_at", s(&audit.at.to_string()))
                .set_or_remove("reason", settle.reason.as_deref().map(s))
                .set_or_remove("last_error", settle.error.as_deref().map(s))
                .remove("claim")
                .remove("claim_expires_ms");
            if let Some(at) = settle.not_before_ms {
                u.set("not_before_ms", n(at));
            }
            if settle.deferred {
                // A wait for a rate limit: the attempt is given back, counted as a deferral.
                let (attempts, one) = (u.name("attempts"), u.value(n(1)));
                u.set_expr("attempts", format!("{attempts} - {one}"))
                    .increment("deferrals", 1);
            }
        })?;
        let mut items = vec![update, self.audit_put(audit)?];
        if let Some(st) = state {
            items.push(self.state_update(&job.user, st, audit.at)?);
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
            request_expr(&job.status, &to, actor, now)
                .apply_to_update(self.update_of(&Key::of_job(job)))
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
        self.move_with_line("operator request", update, &audit)
            .await
    }

    /// A job's conditional move and its audit line, in one transaction; `false` when the
    /// condition no longer holds (the job changed meanwhile).
    async fn move_with_line(
        &self,
        op: &'static str,
        update: aws_sdk_dynamodb::types::Update,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.audit_put(audit)?,
        ];
        match self.transact(op, items).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A job left `running` by a run that died (its claim expired, and no stream record
    /// will come for it again) is asked for once more: `retry_requested`, with an audit
    /// line naming `actor`, in one transaction, only if the claim read is still the job's
    /// and has expired, so a live run is never disturbed. `false` when it changed.
    pub async fn rescue_abandoned(
        &self,
        job: &Job,
        actor: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (Some(claim), Some(expires)) = (job.claim.as_deref(), job.claim_expires_ms) else {
            return Ok(false);
        };
        if job.status != JobStatus::Running || expires >= now.unix_millis() {
            return Ok(false);
        }
        let mut u = request_expr(&JobStatus::Running, &JobStatus::RetryRequested, actor, now);
        u.remove("claim").remove("claim_expires_ms");
        let (c, held) = (u.name("claim"), u.value(s(claim)));
        let (e, now_ms) = (u.name("claim_expires_ms"), u.value(n(now.unix_millis())));
        u.condition(format!("{c} = {held} AND {e} < {now_ms}"));
        let update = build(u.apply_to_update(self.update_of(&Key::of_job(job))).build())?;
        let audit = AuditEntry {
            detail: Some(format!(
                "was running; its run's claim expired at {} ms with no end recorded",
                expires
            )),
            ..AuditEntry::for_job(
                job,
                AuditAction::Operator(JobStatus::RetryRequested),
                AuditOutcome::Requested,
                actor,
                now,
            )
        };
        self.move_with_line("rescue abandoned job", update, &audit)
            .await
    }

    /// Jobs now in `status` across every user, by the time of their event (from `since`
    /// on), oldest first, at most `limit`: one query of the attention index, which holds
    /// only the jobs that have not settled. The index is eventually consistent: a job
    /// that changed a moment ago may still be listed under its old status.
    pub async fn jobs_in_status(
        &self,
        status: &JobStatus,
        since: Option<&Timestamp>,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        if !status.needs_attention() {
            return Err(StoreError::Rejected {
                op: "jobs in status",
                detail: format!(
                    "{} jobs are settled and not indexed; read them per user",
                    status.as_str()
                ),
            });
        }
        let from = since.map_or_else(|| "JOB#".to_owned(), |t| format!("JOB#{t}"));
        self.attention_items(status.as_str(), &from, limit, parse_job)
            .await
    }

    /// The items listed in the attention index under `value` whose `attention_sk` is at
    /// least `from`, in its order, at most `limit`: each read by `parse`.
    pub(super) async fn attention_items<T>(
        &self,
        value: &str,
        from: &str,
        limit: usize,
        parse: fn(&Key, &HashMap<String, AttributeValue>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        while found.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ATTENTION_INDEX)
                .key_condition_expression("attention = :value AND attention_sk >= :from")
                .expression_attribute_values(":value", s(value))
                .expression_attribute_values(":from", s(from))
                .limit(i32::try_from(limit - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify("Query", &e))?;
            for item in out.items() {
                let key = Key::new(
                    text(item, "pk").unwrap_or_default(),
                    text(item, "sk").unwrap_or_default(),
                );
                found.push(parse(&key, item)?);
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        Ok(found)
    }

    /// The user whose jobs carry `login` (compared as Okta does, ignoring case), from the
    /// login index: one query of one item. `None` when no job names that login.
    pub async fn user_of_login(&self, login: &str) -> Result<Option<UserId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LOGIN_INDEX)
            .key_condition_expression("login_key = :login")
            .expression_attribute_values(":login", s(&login.to_lowercase()))
            .limit(1)
            .send()
            .await
            .map_err(|e| classify("Query", &e))?;
        Ok(out
            .items()
            .first()
            .and_then(|item| text(item, "pk"))
            .and_then(|pk| pk.strip_prefix("USER#").map(str::to_owned))
            .and_then(|id| UserId::parse(&id).ok()))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> Timestamp {
        Timestamp::parse(t).unwrap()
    }

    fn names(u: &crate::store::update::Rendered) -> Vec<(&str, &str)> {
        u.2.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn a_claim_starts_a_round_or_counts_one_more_attempt() {
        let now = at("2026-11-23T10:00:00.000Z");
        let lease = Duration::from_secs(60);
        let claim = claim_expr(&JobStatus::Pending, "t1", now, lease).render();
        assert_eq!(
            claim.0,
            "SET #n0 = :v0, #n1 = :v1, #n2 = :v2, #n3 = :v3, #n4 = :v4, #n5 = :v5, \
             #n6 = if_not_exists(#n6, :v6) + :v5, #n7 = if_not_exists(#n7, :v7), #n9 = :v0 \
             REMOVE #n8"
        );
        assert_eq!(
            claim.1.as_deref(),
            Some(
                "(#n0 = :v1) AND (#n0 <> :v0 OR attribute_not_exists(#n3) \
                 OR #n3 < :v8 OR #n2 = :v2)"
            )
        );
        assert_eq!(
            names(&claim),
            [
                ("#n0", "status"),
                ("#n1", "claimed_from"),
                ("#n2", "claim"),
                ("#n3", "claim_expires_ms"),
                ("#n4", "started_at"),
                ("#n5", "attempts"),
                ("#n6", "runs"),
                ("#n7", "steps"),
                ("#n8", "not_before_ms"),
                ("#n9", "attention"),
            ]
        );
        let values = &claim.3;
        assert_eq!(values[":v0"], s("running"));
        assert_eq!(values[":v1"], s("pending"));
        assert_eq!(values[":v2"], s("t1"));
        assert_eq!(values[":v3"], n(now.plus(lease).unix_millis()));
        assert_eq!(values[":v5"], n(1));
        assert_eq!(values[":v6"], n(0));
        assert_eq!(values[":v7"], AttributeValue::M(HashMap::new()));
        assert_eq!(values[":v8"], n(now.unix_millis()));

        let retry = claim_expr(&JobStatus::Retrying, "t1", now, lease).render();
        assert!(retry
            .0
            .contains("#n5 = if_not_exists(#n5, :v5) + :v6, #n6 = if_not_exists(#n6, :v5) + :v6"));
        assert_eq!(retry.3[":v1"], s("retrying"));
    }

    #[test]
    fn a_request_moves_only_from_the_status_just_read() {
        let now = at("2026-11-23T10:00:00.000Z");
        let u = request_expr(&JobStatus::Failed, &JobStatus::RetryRequested, "ops", now);
        let u = u.render();
        assert_eq!(u.0, "SET #n0 = :v0, #n1 = :v1, #n2 = :v2, #n3 = :v0");
        assert_eq!(u.1.as_deref(), Some("#n0 = :v3"));
        assert_eq!(
            names(&u),
            [
                ("#n0", "status"),
                ("#n1", "requested_at"),
                ("#n2", "requested_by"),
                ("#n3", "attention")
            ]
        );
        assert_eq!(u.3[":v0"], s("retry_requested"));
        assert_eq!(u.3[":v3"], s("failed"));
    }
}
