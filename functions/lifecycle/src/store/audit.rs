//! Audit items (`USER#<id>` / `AUDIT#<time>#<uuid>#<n>`): one action and its outcome,
//! written once with `attribute_not_exists`, never changed.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::dynamo::{key_item, s};
use super::job::build;
use super::{DynamoStore, Key, StoreError};
use crate::domain::{AuditEntry, UserId};

impl AuditEntry {
    pub(super) fn key(&self) -> Key {
        Key::audit(&self.user, &self.at, &self.event_uuid, self.seq)
    }

    pub(super) fn item(&self) -> HashMap<String, AttributeValue> {
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

impl DynamoStore {
    pub(super) fn audit_put(&self, entry: &AuditEntry) -> Result<TransactWriteItem, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
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
    pub async fn audit_trail(
        &self,
        user: &UserId,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        self.query_prefix(user, "AUDIT#").await
    }
}
