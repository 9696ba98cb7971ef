//! The vocabulary every part of the product shares: ids, events, jobs, what a job does
//! to a person's access, and what the audit trail records. No AWS, no HTTP: the store
//! maps these types to items, the Okta contract parses into them, the engine decides
//! with them.

mod access;
mod audit;
mod event;
pub mod fuse;
mod ids;
mod job;
mod poll;
pub mod provision;
mod sync_drop;
mod vocab;

pub use access::{Account, Action, GroupRef, Holdings, Op, Person, Snapshot};
pub use audit::{AuditAction, AuditEntry, AuditOutcome, AuditSubject};
pub use event::{AcceptedEvent, IntakeContext, Source, UserRef};
pub use fuse::FuseDecision;
pub use ids::{EventType, EventUuid, IdError, UserId};
pub use job::{Job, JobStatus, Settle, StateUpdate, UserState};
pub use poll::PollOutcome;
pub use sync_drop::{DropStatus, SyncDrop};
