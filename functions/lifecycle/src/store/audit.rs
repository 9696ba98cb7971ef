//! Audit items (`USER#<id>` / `AUDIT#<time>#<uuid>#<n>`): one action and its outcome,
//! written once with `attribute_not_exists`, never changed.
//!
//! They live in a table of their own (`AUDIT_TABLE_NAME`), where every function's role may
//! only `PutItem` and explicitly denies `UpdateItem`, `DeleteItem`, `BatchWriteItem` and
//! PartiQL writes (`infra/template.yaml`, checked by `tests/stack/test_audit_policy.py`).
//! IAM cannot require a condition expression on a `PutItem`, so the "never over an
//! existing line" half rests on this code always sending `attribute_not_exists(pk)`, and
//! point-in-time recovery keeps any earlier version for 35 days. A transaction that
//! records a job's step writes to both tables at once: `TransactWriteItems` is atomic
//! across tables of one account and region.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::dynamo::{flag, key_item, s, text};
use super::job::{build, corrupt};
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::{AuditAction, AuditEntry, AuditOutcome, AuditSubject, UserId};

/// The attribute the audit trail's time index is partitioned by: the line's UTC day.
pub(super) const AUDIT_DAY: &str = "audit_day";

impl AuditEntry {
    pub(super) fn key(&self) -> Key {
        Key::audit(&self.subject, &self.at, &self.event_uuid, self.seq)
    }

    pub(super) fn item(&self) -> HashMap<String, AttributeValue> {
        let mut item = key_item(&self.key());
        item.extend([
            ("kind".to_string(), s("audit")),
            match &self.subject {
                AuditSubject::User(user) => ("user_id".into(), s(user.as_str())),
                AuditSubject::Group(group) => ("group_id".into(), s(group)),
                AuditSubject::Request(id) => ("request_id".into(), s(id)),
                AuditSubject::Integration => ("subject".into(), s("integration")),
            },
            ("at".into(), s(&self.at.to_string())),
            // The time index (`audit_time`): every subject's lines of one day, in order.
            (AUDIT_DAY.into(), s(&self.at.day())),
            ("event_uuid".into(), s(&self.event_uuid)),
            ("event_type".into(), s(&self.event_type)),
            ("job".into(), s(&self.job_id)),
            ("action".into(), s(&self.action.to_string())),
            ("outcome".into(), s(self.outcome.as_str())),
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

    /// Reads an audit item back. Only the key, the user and the time are required: a line
    /// is never dropped for a field this version does not know.
    pub(super) fn parse(
        key: &Key,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Self, StoreError> {
        let subject = match (
            text(item, "user_id"),
            text(item, "group_id"),
            text(item, "request_id"),
        ) {
            (Some(user), _, _) => {
                AuditSubject::User(UserId::parse(&user).map_err(|_| corrupt("user_id", key))?)
            }
            (None, Some(group), _) => AuditSubject::Group(group),
            (None, None, Some(request)) => AuditSubject::Request(request),
            (None, None, None) if text(item, "subject").as_deref() == Some("integration") => {
                AuditSubject::Integration
            }
            (None, None, None) => return Err(corrupt("user_id, group_id or request_id", key)),
        };
        let at = text(item, "at")
            .and_then(|t| Timestamp::parse(&t).ok())
            .ok_or_else(|| corrupt("at", key))?;
        let seq = key
            .sk
            .rsplit('#')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let field = |name| text(item, name).unwrap_or_default();
        Ok(Self {
            subject,
            at,
            seq,
            event_uuid: field("event_uuid"),
            event_type: field("event_type"),
            job_id: field("job"),
            action: AuditAction::parse(&field("action")),
            target: text(item, "target"),
            object: text(item, "object"),
            label: text(item, "label"),
            outcome: AuditOutcome::parse(&field("outcome")),
            detail: text(item, "detail"),
            actor: field("actor"),
            dry_run: flag(item, "dry_run").unwrap_or(false),
        })
    }
}

impl DynamoStore {
    /// The transaction item that adds `entry` to the audit table, only if no line has its
    /// key: a line is never put over another.
    pub(super) fn audit_put(&self, entry: &AuditEntry) -> Result<TransactWriteItem, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.audit_table)
                .set_item(Some(entry.item()))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Appends one audit line on its own (a failure, a snapshot).
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.transact("append audit", vec![self.audit_put(entry)?])
            .await
    }

    /// A user's audit trail, oldest first.
    pub async fn audit_trail(&self, user: &UserId) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_trail_of(&AuditSubject::User(user.clone())).await
    }

    /// The audit trail of a user, a group or a request, oldest first.
    pub async fn audit_trail_of(
        &self,
        subject: &AuditSubject,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.query_all_in(
            &self.audit_table,
            &Key::subject_pk(subject),
            &Key::audit_lines(),
        )
        .await?
        .iter()
        .map(|item| {
            let key = Key::new(
                text(item, "pk").unwrap_or_default(),
                text(item, "sk").unwrap_or_default(),
            );
            AuditEntry::parse(&key, item)
        })
        .collect()
    }
}
