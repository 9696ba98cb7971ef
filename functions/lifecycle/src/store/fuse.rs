//! The safety fuse's item (`CONFIG` / `FUSE`): start times in the window, held jobs,
//! a version for optimistic locking.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{classify, condition_failed, n, number, s, text};
use super::keys::held_ref;
use super::update::UpdateExpr;
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::{fuse, FuseDecision};

/// Attempts at the fuse's optimistic update before giving up for this invocation.
const FUSE_CONFLICT_RETRIES: u32 = 5;
/// Held jobs listed by name in the fuse's item; past this (a mass event), only counted,
/// so the item stays far below DynamoDB's 400 KB.
const FUSE_LISTED_HELD: usize = 500;

impl DynamoStore {
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
            let state = FuseState::of(&item);
            let listed = state.held_jobs.len();
            let (mut kept, fits) = fuse::admit(&state.starts_ms, now.unix_millis(), limit, window);
            let in_window = kept.len();
            if fits {
                kept.push(now.unix_millis());
            }
            // One update either way: the window pruned (and this job counted, if it fits),
            // or the hold recorded; the job is listed while the list is short.
            let kept = AttributeValue::L(kept.iter().map(|t| n(*t)).collect());
            let mut u = UpdateExpr::new();
            u.set("starts_ms", kept)
                .set("version", n(version + 1))
                .set("limit", n(i64::from(limit)))
                .set("window_seconds", n(window.as_secs() as i64));
            if fits {
                u.set("last_admitted_at", s(&now.to_string()));
            } else {
                u.set("last_held_at", s(&now.to_string()))
                    .add("held_count", n(1));
                if listed < FUSE_LISTED_HELD {
                    u.add("held_jobs", AttributeValue::Ss(vec![held_ref(job)]));
                }
            }
            let (v, current) = (u.name("version"), u.value(n(version)));
            u.condition(format!("attribute_not_exists({v}) OR {v} = {current}"));
            match self.update_request(&key, u).send().await {
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
        let mut u = UpdateExpr::new();
        u.delete("held_jobs", AttributeValue::Ss(vec![held_ref(job)]))
            .add("held_count", n(-1));
        let pk = u.name("pk");
        u.condition(format!("attribute_exists({pk})"));
        let result = self.update_request(&Key::fuse(), u).send().await;
        match result {
            Ok(_) => Ok(()),
            // No fuse item: nothing was ever held.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(classify("UpdateItem", &e)),
        }
    }

    /// The fuse as stored, if it ever counted anything.
    pub async fn fuse_state(&self) -> Result<Option<FuseState>, StoreError> {
        Ok(self
            .read(&Key::fuse())
            .await?
            .map(|item| FuseState::of(&item)))
    }
}

/// What the fuse's item says: its settings when it last counted, the deprovisionings in
/// its window, and the jobs it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FuseState {
    /// Deprovisionings allowed per window.
    pub limit: Option<u32>,
    /// The window.
    pub window: Option<Duration>,
    /// Start times (Unix milliseconds) counted in the window when it was last written.
    pub starts_ms: Vec<i64>,
    /// When a job was last admitted.
    pub last_admitted_at: Option<String>,
    /// When a job was last held.
    pub last_held_at: Option<String>,
    /// Jobs held and not yet released (the list below may be shorter in a mass event).
    pub held_count: i64,
    /// The held jobs, as far as the item lists them by name.
    pub held_jobs: Vec<Key>,
}

impl FuseState {
    fn of(item: &HashMap<String, AttributeValue>) -> Self {
        Self {
            limit: number(item, "limit").and_then(|l| u32::try_from(l).ok()),
            window: number(item, "window_seconds")
                .and_then(|w| u64::try_from(w).ok())
                .map(Duration::from_secs),
            starts_ms: item
                .get("starts_ms")
                .and_then(|v| v.as_l().ok())
                .map(|l| {
                    l.iter()
                        .filter_map(|v| v.as_n().ok()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
            last_admitted_at: text(item, "last_admitted_at"),
            last_held_at: text(item, "last_held_at"),
            held_count: number(item, "held_count").unwrap_or(0),
            held_jobs: item
                .get("held_jobs")
                .and_then(|v| v.as_ss().ok())
                .map(|refs| refs.iter().filter_map(|r| Key::of_held_ref(r)).collect())
                .unwrap_or_default(),
        }
    }
}
