//! The table: the items the product keeps and the port the handlers write through.
//! `keys.rs` has every key shape; each item kind has its own file: jobs (`job.rs`), the
//! user's state (`user_state.rs`), the audit trail (`audit.rs`), the fuse (`fuse.rs`), the
//! operator's switches (`config.rs`), the poller's cursor and lease (`poll_state.rs`).
//! Update expressions are assembled with `update.rs`.
//! The store maps domain types to items and knows no business of its own.

mod audit;
mod audit_time;
mod config;
mod dynamo;
mod fuse;
mod job;
mod keys;
mod memory;
mod poll_state;
mod request;
mod sync_drop;
mod update;
mod user_state;

use std::future::Future;

pub use audit_time::{
    audit_item, days, AuditCursor, AuditPage, AuditRange, AuditReader, AUDIT_TIME_INDEX,
};
pub use config::IntegrationSwitch;
pub use dynamo::DynamoStore;
pub use fuse::FuseState;
pub use job::{PlanRecord, STEPS_PER_RECORD};
pub use keys::{held_ref, Key};
pub use memory::MemoryStore;
pub use poll_state::PollStatus;
pub use sync_drop::DropClaim;

use crate::clock::Timestamp;
use crate::domain::EventUuid;
use crate::domain::{AcceptedEvent, IntakeContext};

/// The integration's state as the hook functions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// An operator can switch the hook off; without a config item it is on.
    pub enabled: bool,
    /// When Okta last verified the endpoint.
    pub verified_at: Option<String>,
    /// When a delivery was last accepted.
    pub last_delivery_at: Option<String>,
    /// An operator switch: every job is planned and recorded, nothing is touched.
    pub dry_run: bool,
}

impl Default for Integration {
    fn default() -> Self {
        Self {
            enabled: true,
            verified_at: None,
            last_delivery_at: None,
            dry_run: false,
        }
    }
}

/// Which events of a batch became jobs and which were already known.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecordOutcome {
    /// Events written now (marker and job).
    pub created: Vec<EventUuid>,
    /// Events whose marker or job already existed.
    pub duplicates: Vec<EventUuid>,
}

/// A body that could not be accepted, kept so that nothing Okta sent is lost.
#[derive(Debug, Clone)]
pub struct Quarantine<'a> {
    /// The raw body as received.
    pub body: &'a [u8],
    /// Why it was rejected.
    pub reason: String,
    /// When it arrived.
    pub received_at: Timestamp,
    /// The Lambda request id.
    pub request_id: String,
    /// How long to keep it.
    pub ttl: std::time::Duration,
}

/// The table could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out, or unreachable after the client's bounded retries: try later.
    #[error("table unavailable during {op}: {detail}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// What the client reported.
        detail: String,
    },
    /// The poller's lease expired or was taken over: this run must stop writing.
    #[error("the poller's lease is no longer held")]
    LeaseLost,
    /// A conditional write lost a race to another writer.
    #[error("conflict during {op}: {detail}")]
    Conflict {
        /// The operation.
        op: &'static str,
        /// What changed.
        detail: String,
    },
    /// The table refused the request for a reason a retry will not change.
    #[error("table rejected {op}: {detail}")]
    Rejected {
        /// The operation.
        op: &'static str,
        /// What the table reported.
        detail: String,
    },
}

/// The intake port to the table: what the hook functions and the poller write through.
pub trait IntakeStore: Send + Sync {
    /// Reads the integration's config item; absent means enabled with no history.
    fn integration(&self) -> impl Future<Output = Result<Integration, StoreError>> + Send;

    /// Writes each event's job on condition that its key is new (the key holds the
    /// event's user, `published` and uuid, as the hook's and the System Log's copies of
    /// one event both do); an event already known is reported as a duplicate, not an
    /// error. An error means some may be written and some not: all are new or
    /// duplicates when the same events are recorded again.
    fn record_events(
        &self,
        events: &[AcceptedEvent],
        ctx: &IntakeContext,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;

    /// Keeps a rejected body for inspection.
    fn quarantine(
        &self,
        item: &Quarantine<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a successful verification; never moves the time backwards.
    fn mark_verified(&self, at: Timestamp) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records an accepted delivery; never moves the time backwards.
    fn mark_delivery(&self, at: Timestamp) -> impl Future<Output = Result<(), StoreError>> + Send;
}
