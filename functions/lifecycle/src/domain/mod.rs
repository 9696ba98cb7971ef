//! The vocabulary every part of the product shares: ids, events, jobs, what a job does
//! to a person's access, and what the audit trail records. No AWS, no HTTP: the store
//! maps these types to items, the Okta contract parses into them, the engine decides
//! with them.

mod ids;

pub use ids::{EventType, EventUuid, IdError, UserId};
