//! Drop items (`SYNC#<drop id>` / `DROP`): one dropped file and what the sync made of it.
//! A run claims the drop with one conditional write (new, or its earlier run's claim has
//! lapsed), so a notification delivered twice plans once; every later write is
//! conditional on the status it moves from. Held drops are listed in the attention
//! index (`attention` = `sync_held`), so `sync-held` reads no more than they are.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{classify, condition_failed, key_item, n, s, text};
use super::job::corrupt;
use super::update::UpdateExpr;
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::{AuditEntry, DropStatus, SyncDrop};

/// The attention index's value for a held drop.
const HELD: &str = "sync_held";

fn parse_drop(key: &Key, item: &HashMap<String, AttributeValue>) -> Result<SyncDrop, StoreError> {
    let required = |name: &str| text(item, name).ok_or_else(|| corrupt(name, key));
    let time = |name: &str| {
        required(name).and_then(|t| Timestamp::parse(&t).map_err(|_| corrupt(name, key)))
    };
    Ok(SyncDrop {
        id: required("drop_id")?,
        bucket: required("bucket")?,
        key: required("object_key")?,
        version: text(item, "object_version"),
        status: DropStatus::parse(&required("status")?).ok_or_else(|| corrupt("status", key))?,
        digest: text(item, "digest"),
        plan_key: text(item, "plan_key"),
        plan_version: text(item, "plan_version"),
        plan_digest: text(item, "plan_digest"),
        totals: text(item, "totals"),
        refusals: text(item, "refusals"),
        error: text(item, "error"),
        requests: item
            .get("requests")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
        released_by: text(item, "released_by"),
    })
}

/// What a run's claim of a drop found.
#[derive(Debug, Clone, PartialEq)]
pub enum DropClaim {
    /// This run holds the drop: plan it.
    Claimed,
    /// Another run holds it, its claim still running: try again later.
    Busy,
    /// Its plan is settled already (a notification delivered again): nothing to do.
    Settled(Box<SyncDrop>),
}

impl DynamoStore {
    /// Claims `drop` for the run `token` until `lease` from now: written if new, or taken
    /// over when it is still `planning` and its claim has lapsed (a run that died).
    pub async fn claim_drop(
        &self,
        drop: &SyncDrop,
        token: &str,
        lease: Duration,
    ) -> Result<DropClaim, StoreError> {
        let key = Key::sync_drop(&drop.id);
        let now = Timestamp::now();
        let mut item = key_item(&key);
        item.extend([
            ("kind".to_string(), s("sync_drop")),
            ("drop_id".into(), s(&drop.id)),
            ("bucket".into(), s(&drop.bucket)),
            ("object_key".into(), s(&drop.key)),
            ("status".into(), s(DropStatus::Planning.as_str())),
            ("created_at".into(), s(&drop.created_at.to_string())),
            ("updated_at".into(), s(&now.to_string())),
            ("claim".into(), s(token)),
            ("claim_expires_ms".into(), n(now.plus(lease).unix_millis())),
        ]);
        if let Some(v) = &drop.version {
            item.insert("object_version".into(), s(v));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :planning AND claim_expires_ms < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":planning", s(DropStatus::Planning.as_str()))
            .expression_attribute_values(":now", n(now.unix_millis()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(DropClaim::Claimed),
            Err(e) if condition_failed(&e) => match self.sync_drop(&drop.id).await? {
                Some(found) if found.status == DropStatus::Planning => Ok(DropClaim::Busy),
                Some(found) => Ok(DropClaim::Settled(Box::new(found))),
                None => Ok(DropClaim::Busy),
            },
            Err(e) => Err(classify("PutItem", &e)),
        }
    }

    /// Records how the run `token` ended the drop it claimed (applied, held or invalid),
    /// with what it stored; refused (a conflict) when its claim was taken over.
    pub async fn settle_drop(
        &self,
        drop: &SyncDrop,
        token: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut u = drop_fields(drop);
        let (claim, mine) = (u.name("claim"), u.value(s(token)));
        let (status, planning) = (u.name("status"), u.value(s(DropStatus::Planning.as_str())));
        u.condition(format!("{claim} = {mine} AND {status} = {planning}"));
        u.remove("claim").remove("claim_expires_ms");
        self.write_drop(drop, u, audit, "settle drop").await
    }

    /// Gives back the claim of the run `token` on a drop it could not settle, so that
    /// the next delivery of the notification takes it over at once.
    pub async fn abandon_drop(&self, id: &str, token: &str) -> Result<(), StoreError> {
        let mut u = UpdateExpr::new();
        u.set("claim_expires_ms", n(0));
        let (claim, mine) = (u.name("claim"), u.value(s(token)));
        u.condition(format!("{claim} = {mine}"));
        match self.update_request(&Key::sync_drop(id), u).send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(classify("UpdateItem", &e)),
        }
    }

    /// Marks a held drop released by `actor`, once: refused (a conflict) when it is not
    /// held any more (another operator released it first).
    pub async fn release_drop(
        &self,
        drop: &SyncDrop,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut u = drop_fields(drop);
        let (status, held) = (u.name("status"), u.value(s(DropStatus::Held.as_str())));
        u.condition(format!("{status} = {held}"));
        self.write_drop(drop, u, audit, "release drop").await
    }

    /// The drop's conditional write and its line in the integration's trail, in one
    /// transaction: a drop is never settled without its line (a notification delivered
    /// again finds it settled and writes nothing more), nor a line left without the move.
    async fn write_drop(
        &self,
        drop: &SyncDrop,
        u: UpdateExpr,
        audit: &AuditEntry,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let items = vec![
            self.transact_update(&Key::sync_drop(&drop.id), u)?,
            self.audit_put(audit)?,
        ];
        match self.transact(op, items).await {
            Err(StoreError::Conflict { .. }) => Err(StoreError::Conflict {
                op,
                detail: format!("drop {} changed meanwhile", drop.id),
            }),
            other => other,
        }
    }

    /// Reads a drop.
    pub async fn sync_drop(&self, id: &str) -> Result<Option<SyncDrop>, StoreError> {
        let key = Key::sync_drop(id);
        self.read(&key)
            .await?
            .map(|item| parse_drop(&key, &item))
            .transpose()
    }

    /// The held drops, oldest first, at most `limit`: one query of the attention index
    /// (eventually consistent: a drop released a moment ago may still be listed).
    pub async fn held_drops(&self, limit: usize) -> Result<Vec<SyncDrop>, StoreError> {
        self.attention_items(HELD, "SYNC#", limit, parse_drop).await
    }
}

/// The fields a settled drop carries; listed in the attention index while held.
fn drop_fields(drop: &SyncDrop) -> UpdateExpr {
    let mut u = UpdateExpr::new();
    u.set("status", s(drop.status.as_str()))
        .set("updated_at", s(&drop.updated_at.to_string()));
    for (name, value) in [
        ("digest", &drop.digest),
        ("plan_key", &drop.plan_key),
        ("plan_version", &drop.plan_version),
        ("plan_digest", &drop.plan_digest),
        ("totals", &drop.totals),
        ("refusals", &drop.refusals),
        ("error", &drop.error),
        ("released_by", &drop.released_by),
    ] {
        if let Some(v) = value {
            u.set(name, s(v));
        }
    }
    if !drop.requests.is_empty() {
        u.set(
            "requests",
            AttributeValue::L(drop.requests.iter().map(|r| s(r)).collect()),
        );
    }
    if drop.status == DropStatus::Held {
        u.set("attention", s(HELD))
            .set("attention_sk", s(&format!("SYNC#{}", drop.created_at)));
    } else {
        u.remove("attention").remove("attention_sk");
    }
    u
}
