//! The poller's items: its cursor, its lease and the figures of its last run.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `POLLER` | `LOCK` | lease: owner, `expires_at_ms` |
//! | `POLLER` | `CURSOR` | the `after` cursor of Okta's last `next` link |
//! | `POLLER` | `STATUS` | last run: outcome, pages, events, jobs, 429s, lag, sweep time |
//!
//! The cursor and the status are written only in a transaction that checks the lease is
//! still held, so a run that outlives its lease stops writing.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};

use super::dynamo::{cancellation_codes, classify, condition_failed, key_item, n, number, s, text};
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::{JobStatus, PollOutcome};

/// What a poll run did, as stored in `POLLER`/`STATUS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollStatus {
    /// When the run started.
    pub last_run_at: Option<String>,
    /// Why it ended; `None` before the first run.
    pub outcome: Option<PollOutcome>,
    /// Pages read.
    pub pages: u64,
    /// Events read from the System Log.
    pub events_seen: u64,
    /// Jobs created from them.
    pub jobs_created: u64,
    /// Events that were already known (hook delivered them first).
    pub duplicates: u64,
    /// 429 answers or requests held back to keep the org's reserve.
    pub rate_limited: u64,
    /// `event_hook.delivery` failures seen for our hook.
    pub hook_failures: u64,
    /// `published` of the newest event read.
    pub newest_event_at: Option<String>,
    /// Seconds between the run and the newest event read.
    pub lag_seconds: Option<u64>,
    /// When the reconciliation sweep last completed.
    pub last_sweep_at: Option<String>,
    /// Jobs the last sweep created.
    pub sweep_jobs_created: u64,
}

fn key(sk: &str) -> HashMap<String, AttributeValue> {
    key_item(&Key::poller(sk))
}

fn lease_check(table: &str, owner: &str, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key("LOCK")))
        .condition_expression("#o = :owner AND expires_at_ms > :now")
        .expression_attribute_names("#o", "owner")
        .expression_attribute_values(":owner", s(owner))
        .expression_attribute_values(":now", n(now.unix_millis()))
        .build()
        .map_err(|e| StoreError::Rejected {
            op: "build condition check",
            detail: e.to_string(),
        })?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

fn lease_lost_or<R: std::fmt::Debug>(
    err: aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> StoreError {
    if let Some(codes) = cancellation_codes(&err) {
        // The lease check is the transaction's first item.
        if codes.first() == Some(&"ConditionalCheckFailed") {
            return StoreError::LeaseLost;
        }
        if codes.contains(&"ConditionalCheckFailed") {
            return StoreError::Conflict {
                op: "TransactWriteItems",
                detail: "the cursor changed under this run".into(),
            };
        }
    }
    classify("TransactWriteItems", &err)
}

impl DynamoStore {
    /// Takes the poller's lease unless another owner holds an unexpired one.
    pub async fn acquire_lease(
        &self,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut item = key("LOCK");
        item.insert("owner".into(), s(owner));
        item.insert("acquired_at".into(), s(&now.to_string()));
        item.insert("expires_at_ms".into(), n(now.plus(ttl).unix_millis()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms < :now OR #o = :owner")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":now", n(now.unix_millis()))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(classify("PutItem", &e)),
        }
    }

    /// Gives the lease back if this owner still holds it.
    pub async fn release_lease(&self, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key("LOCK")))
            .condition_expression("#o = :owner")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(classify("DeleteItem", &e)),
        }
    }

    /// The stored `after` cursor, if a run has saved one.
    pub async fn cursor(&self) -> Result<Option<String>, StoreError> {
        let item = self.read(&Key::poller("CURSOR")).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("after"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    /// Moves the cursor from `previous` to `next`, only while `owner` holds the lease and
    /// nobody else moved it meanwhile.
    pub async fn save_cursor(
        &self,
        owner: &str,
        now: Timestamp,
        previous: Option<&str>,
        next: &str,
    ) -> Result<(), StoreError> {
        let mut item = key("CURSOR");
        item.insert("after".into(), s(next));
        item.insert("updated_at".into(), s(&now.to_string()));
        let put = Put::builder().set_item(Some(item));
        let put = match previous {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(prev) => put
                .condition_expression("#a = :prev")
                .expression_attribute_names("#a", "after")
                .expression_attribute_values(":prev", s(prev)),
        };
        self.put_under_lease(owner, now, put).await
    }

    /// Writes `put` in one transaction with a check that `owner` still holds the lease.
    async fn put_under_lease(
        &self,
        owner: &str,
        now: Timestamp,
        put: PutBuilder,
    ) -> Result<(), StoreError> {
        let put = put
            .table_name(&self.table)
            .build()
            .map_err(|e| StoreError::Rejected {
                op: "build put",
                detail: e.to_string(),
            })?;
        self.client
            .transact_write_items()
            .transact_items(lease_check(&self.table, owner, now)?)
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await
            .map_err(lease_lost_or)?;
        Ok(())
    }

    /// Whether a job for `user` published since `since` is finished or still in hand: done,
    /// skipped or planned; pending, retrying, held or asked to run again; or running under
    /// a live claim. A `failed` job, or one whose claim expired with nobody to take it
    /// over, does not count: the sweep then writes a job of its own, which runs again.
    pub async fn has_job_in_hand_since(
        &self,
        user: &crate::domain::UserId,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let in_hand = |job: &HashMap<String, AttributeValue>| {
            let status = JobStatus::from(text(job, "status").unwrap_or_default().as_str());
            let claim_live =
                number(job, "claim_expires_ms").is_some_and(|exp| exp > now.unix_millis());
            status.in_hand(claim_live)
        };
        let found = self
            .query_pages(
                &Key::user_pk(user),
                &Key::jobs_since(&since),
                &["status", "claim_expires_ms"],
                |page| {
                    if page.iter().any(in_hand) {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            )
            .await?;
        Ok(found.is_some())
    }

    /// The last run's figures.
    pub async fn poll_status(&self) -> Result<PollStatus, StoreError> {
        let Some(item) = self.read(&Key::poller("STATUS")).await? else {
            return Ok(PollStatus::default());
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let num = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
        };
        Ok(PollStatus {
            last_run_at: text("last_run_at"),
            outcome: text("outcome").map(|o| PollOutcome::parse(&o)),
            pages: num("pages").unwrap_or(0),
            events_seen: num("events_seen").unwrap_or(0),
            jobs_created: num("jobs_created").unwrap_or(0),
            duplicates: num("duplicates").unwrap_or(0),
            rate_limited: num("rate_limited").unwrap_or(0),
            hook_failures: num("hook_failures").unwrap_or(0),
            newest_event_at: text("newest_event_at"),
            lag_seconds: num("lag_seconds"),
            last_sweep_at: text("last_sweep_at"),
            sweep_jobs_created: num("sweep_jobs_created").unwrap_or(0),
        })
    }

    /// Stores a run's figures, only while `owner` holds the lease.
    pub async fn save_poll_status(
        &self,
        owner: &str,
        now: Timestamp,
        status: &PollStatus,
    ) -> Result<(), StoreError> {
        let mut item = key("STATUS");
        let count = |v: u64| n(i64::try_from(v).unwrap_or(i64::MAX));
        if let Some(outcome) = &status.outcome {
            item.insert("outcome".into(), s(outcome.as_str()));
        }
        item.insert("pages".into(), count(status.pages));
        item.insert("events_seen".into(), count(status.events_seen));
        item.insert("jobs_created".into(), count(status.jobs_created));
        item.insert("duplicates".into(), count(status.duplicates));
        item.insert("rate_limited".into(), count(status.rate_limited));
        item.insert("hook_failures".into(), count(status.hook_failures));
        item.insert(
            "sweep_jobs_created".into(),
            count(status.sweep_jobs_created),
        );
        for (k, v) in [
            ("last_run_at", &status.last_run_at),
            ("newest_event_at", &status.newest_event_at),
            ("last_sweep_at", &status.last_sweep_at),
        ] {
            if let Some(v) = v {
                item.insert(k.into(), s(v));
            }
        }
        if let Some(lag) = status.lag_seconds {
            item.insert("lag_seconds".into(), count(lag));
        }
        self.put_under_lease(owner, now, Put::builder().set_item(Some(item)))
            .await
    }
}
