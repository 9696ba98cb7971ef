//! The DynamoDB adapter of [`IntakeStore`].

use std::collections::HashMap;
use std::ops::ControlFlow;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;

use super::keys::SkRange;
use super::update::UpdateExpr;
use super::{IntakeStore, Integration, Key, Quarantine, RecordOutcome, StoreError};
use crate::clock::Timestamp;
use crate::domain::{AcceptedEvent, IntakeContext};

/// Events written at once: each is one conditional `PutItem`, in flight together.
const EVENTS_IN_FLIGHT: usize = 25;
/// Quarantined bodies are split so that each part stays well under the 400 KB item limit.
const QUARANTINE_PART_BYTES: usize = 350 * 1024;
/// Parts per transaction, keeping each transaction under its 4 MB limit.
const QUARANTINE_PARTS_PER_TRANSACTION: usize = 10;

/// The tables, reached through the AWS SDK: the state, and the audit trail apart from it.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
    /// Where audit lines are put, never updated or deleted (`audit.rs`).
    pub(super) audit_table: String,
}

impl DynamoStore {
    /// Wraps a client and the two tables' names: the state table and the audit table.
    pub fn new(client: Client, table: impl Into<String>, audit_table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            audit_table: audit_table.into(),
        }
    }

    /// The state table's name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The audit table's name.
    pub fn audit_table_name(&self) -> &str {
        &self.audit_table
    }

    fn put(
        &self,
        key: &Key,
        mut item: HashMap<String, AttributeValue>,
    ) -> Result<TransactWriteItem, StoreError> {
        item.extend(key_item(key));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Rejected {
                op: "build put",
                detail: e.to_string(),
            })?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The job item of an accepted event. Its key is the event's user, `published` and
    /// uuid, which the hook's delivery and the System Log's copy of the same event both
    /// carry: the key itself is the dedupe marker.
    fn job_item(
        event: &AcceptedEvent,
        ctx: &IntakeContext,
    ) -> (Key, HashMap<String, AttributeValue>) {
        let job_key = Key::job(&event.user.id, &event.published, &event.uuid);
        let mut job = HashMap::from([
            ("kind".to_string(), s("job")),
            ("status".into(), s("pending")),
            // Listed in the attention index until it settles.
            ("attention".into(), s("pending")),
            ("attention_sk".into(), s(&job_key.sk)),
            ("attempts".into(), n(0)),
            ("event_uuid".into(), s(event.uuid.as_str())),
            ("event_type".into(), s(event.event_type.as_str())),
            ("published".into(), s(&event.published.to_string())),
            ("user_id".into(), s(event.user.id.as_str())),
            ("source".into(), s(ctx.source.as_str())),
            ("received_at".into(), s(&ctx.received_at.to_string())),
            ("request_id".into(), s(&ctx.request_id)),
        ]);
        if let Some(login) = &event.user.login {
            job.insert("user_login".into(), s(login));
            // The login index (`login`): Okta's logins are case-insensitive.
            job.insert("login_key".into(), s(&login.to_lowercase()));
        }
        if let Some(name) = &event.user.display_name {
            job.insert("user_display_name".into(), s(name));
        }
        if let Some(id) = &ctx.delivery_id {
            job.insert("delivery_id".into(), s(id));
        }
        if let Some(action) = &ctx.action {
            job.extend([
                ("action_request".to_string(), s(&action.request_id)),
                ("action_index".into(), n(action.index as i64)),
                ("action_kind".into(), s(action.kind.as_str())),
                // The action passed the fuse before it changed Okta.
                ("fuse_admitted".into(), AttributeValue::Bool(true)),
            ]);
        }
        job.extend(key_item(&job_key));
        (job_key, job)
    }

    /// Writes one event's job, on condition that it is new: `Ok(false)` for a duplicate.
    /// One write unit for a job item under 1 KB (a transaction of marker and job cost four).
    async fn record_event(
        client: Client,
        table: String,
        event: AcceptedEvent,
        ctx: IntakeContext,
    ) -> Result<bool, StoreError> {
        let (_, item) = Self::job_item(&event, &ctx);
        let result = client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(classify("PutItem", &err)),
        }
    }

    async fn mark_time(&self, field: &'static str, at: Timestamp) -> Result<(), StoreError> {
        let mut u = UpdateExpr::new();
        u.set(field, s(&at.to_string()));
        let (f, now) = (u.name(field), u.value(s(&at.to_string())));
        u.condition(format!("attribute_not_exists({f}) OR {f} < {now}"));
        let result = self.update_request(&Key::integration(), u).send().await;
        match result {
            Ok(_) => Ok(()),
            // A newer time is already recorded: nothing to do.
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(classify("UpdateItem", &err)),
        }
    }
}

impl IntakeStore for DynamoStore {
    async fn integration(&self) -> Result<Integration, StoreError> {
        let Some(item) = self.read(&Key::integration()).await? else {
            return Ok(Integration::default());
        };
        Ok(Integration {
            enabled: flag(&item, "enabled").unwrap_or(true),
            verified_at: text(&item, "verified_at"),
            last_delivery_at: text(&item, "last_delivery_at"),
            dry_run: flag(&item, "dry_run").unwrap_or(false),
        })
    }

    /// Every event's job, written independently: a delivery answered 200 had every one
    /// written (new or already there); when any write fails the caller answers 503 and
    /// the written ones are duplicates on Okta's retry (or the poller's read).
    async fn record_events(
        &self,
        events: &[AcceptedEvent],
        ctx: &IntakeContext,
    ) -> Result<RecordOutcome, StoreError> {
        let mut outcome = RecordOutcome::default();
        for window in events.chunks(EVENTS_IN_FLIGHT) {
            let mut writes = tokio::task::JoinSet::new();
            for (i, event) in window.iter().enumerate() {
                let (client, table) = (self.client.clone(), self.table.clone());
                let (event, ctx) = (event.clone(), ctx.clone());
                writes
                    .spawn(async move { (i, Self::record_event(client, table, event, ctx).await) });
            }
            let mut written = vec![None; window.len()];
            while let Some(joined) = writes.join_next().await {
                let (i, result) = joined.map_err(|e| StoreError::Unavailable {
                    op: "PutItem",
                    detail: format!("the write's task ended: {e}"),
                })?;
                written[i] = Some(result?);
            }
            // In the delivery's order, as the answer and the logs list them.
            for (event, new) in window.iter().zip(written) {
                match new {
                    Some(true) => outcome.created.push(event.uuid.clone()),
                    _ => outcome.duplicates.push(event.uuid.clone()),
                }
            }
        }
        Ok(outcome)
    }

    async fn quarantine(&self, q: &Quarantine<'_>) -> Result<(), StoreError> {
        let expires_at = q.received_at.plus(q.ttl).unix_seconds();
        let parts: Vec<&[u8]> = if q.body.is_empty() {
            vec![q.body]
        } else {
            q.body.chunks(QUARANTINE_PART_BYTES).collect()
        };
        let total = parts.len() as i64;
        let mut items = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let key = Key::quarantine(&q.received_at, &q.request_id, i);
            let item = HashMap::from([
                ("kind".to_string(), s("quarantine")),
                ("reason".into(), s(&q.reason)),
                ("request_id".into(), s(&q.request_id)),
                ("received_at".into(), s(&q.received_at.to_string())),
                ("part".into(), n(i as i64)),
                ("parts".into(), n(total)),
                ("body_bytes".into(), n(q.body.len() as i64)),
                ("body".into(), AttributeValue::B(Blob::new(part))),
                ("expires_at".into(), n(expires_at)),
            ]);
            items.push(self.put(&key, item)?);
        }
        for group in items.chunks(QUARANTINE_PARTS_PER_TRANSACTION) {
            self.client
                .transact_write_items()
                .set_transact_items(Some(group.to_vec()))
                .send()
                .await
                .map_err(|e| classify("TransactWriteItems", &e))?;
        }
        Ok(())
    }

    async fn mark_verified(&self, at: Timestamp) -> Result<(), StoreError> {
        self.mark_time("verified_at", at).await
    }

    async fn mark_delivery(&self, at: Timestamp) -> Result<(), StoreError> {
        self.mark_time("last_delivery_at", at).await
    }
}

impl DynamoStore {
    /// Reads one item, strongly consistent: every reader here decides on what it reads.
    pub(super) async fn read(
        &self,
        key: &Key,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", &e))?;
        Ok(out.item)
    }

    /// A transaction's update of one item, its table and key filled in.
    pub(super) fn update_of(&self, key: &Key) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
    }

    /// A transaction item that applies `u` to one item.
    pub(super) fn transact_update(
        &self,
        key: &Key,
        u: UpdateExpr,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = u
            .apply_to_update(self.update_of(key))
            .build()
            .map_err(|e| StoreError::Rejected {
                op: "build request",
                detail: e.to_string(),
            })?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// An `UpdateItem` request that applies `u` to one item.
    pub(super) fn update_request(&self, key: &Key, u: UpdateExpr) -> UpdateItemFluentBuilder {
        u.apply_to_request(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_item(key))),
        )
    }

    /// Queries the items of partition `pk` whose sort keys are in `sk`, strongly
    /// consistent, a page at a time: `page` sees each page and may stop the reading, with
    /// the value it breaks with. `projection` names the attributes to read (all if empty).
    pub(super) async fn query_pages<B>(
        &self,
        pk: &str,
        sk: &SkRange,
        projection: &[&str],
        page: impl FnMut(&[HashMap<String, AttributeValue>]) -> ControlFlow<B>,
    ) -> Result<Option<B>, StoreError> {
        self.query_pages_in(&self.table, pk, sk, projection, page)
            .await
    }

    /// [`Self::query_pages`] on `table` (the state table or the audit table).
    pub(super) async fn query_pages_in<B>(
        &self,
        table: &str,
        pk: &str,
        sk: &SkRange,
        projection: &[&str],
        mut page: impl FnMut(&[HashMap<String, AttributeValue>]) -> ControlFlow<B>,
    ) -> Result<Option<B>, StoreError> {
        let (condition, bounds) = match sk {
            SkRange::Prefix(p) => (
                "pk = :pk AND begins_with(sk, :prefix)",
                vec![(":prefix", p)],
            ),
            SkRange::Between(from, to) => (
                "pk = :pk AND sk BETWEEN :from AND :to",
                vec![(":from", from), (":to", to)],
            ),
        };
        let mut values = HashMap::from([(":pk".to_string(), s(pk))]);
        values.extend(bounds.into_iter().map(|(k, v)| (k.to_string(), s(v))));
        let placeholders: Vec<String> = (0..projection.len()).map(|i| format!("#p{i}")).collect();
        let names: HashMap<String, String> = placeholders
            .iter()
            .cloned()
            .zip(projection.iter().map(|a| a.to_string()))
            .collect();
        let projection = (!names.is_empty()).then(|| placeholders.join(", "));
        let names = (!names.is_empty()).then_some(names);
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(values.clone()))
                .set_projection_expression(projection.clone())
                .set_expression_attribute_names(names.clone())
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| classify("Query", &e))?;
            if let ControlFlow::Break(found) = page(out.items()) {
                return Ok(Some(found));
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(None);
            }
        }
    }

    /// Every item of partition `pk` whose sort key is in `sk`, in sort key order.
    pub(super) async fn query_all(
        &self,
        pk: &str,
        sk: &SkRange,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        self.query_all_in(&self.table, pk, sk).await
    }

    /// [`Self::query_all`] on `table` (the state table or the audit table).
    pub(super) async fn query_all_in(
        &self,
        table: &str,
        pk: &str,
        sk: &SkRange,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        self.query_pages_in(table, pk, sk, &[], |page| {
            items.extend(page.iter().cloned());
            ControlFlow::<()>::Continue(())
        })
        .await?;
        Ok(items)
    }
}

/// The key attributes of an item.
pub(super) fn key_item(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), s(&key.pk)),
        ("sk".to_string(), s(&key.sk)),
    ])
}

pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Whether a request failed only because its condition expression did not hold.
pub(super) fn condition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.code() == Some("ConditionalCheckFailedException")
}

/// The per-item reasons of a cancelled transaction (`"None"` for an item that was fine),
/// or `None` when the transaction failed some other way.
pub(super) fn cancellation_codes<R>(
    err: &SdkError<TransactWriteItemsError, R>,
) -> Option<Vec<&str>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect(),
        ),
        _ => None,
    }
}

/// Reads a string attribute.
pub(super) fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// Reads a number attribute as an integer.
pub(super) fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads a boolean attribute.
pub(super) fn flag(item: &HashMap<String, AttributeValue>, name: &str) -> Option<bool> {
    item.get(name).and_then(|v| v.as_bool().ok()).copied()
}

/// Sorts an SDK error into "try later" and "will not work".
pub(super) fn classify<E, R>(op: &'static str, err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(err).to_string();
    match err {
        SdkError::ServiceError(_) => match err.code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable",
            ) => StoreError::Unavailable { op, detail },
            _ => StoreError::Rejected { op, detail },
        },
        SdkError::ConstructionFailure(_) => StoreError::Rejected { op, detail },
        _ => StoreError::Unavailable { op, detail },
    }
}
