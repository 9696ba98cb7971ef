//! The Okta contract: identifiers, event types and the event hook envelope.

pub mod hook;
mod types;

pub use types::{EventType, EventUuid, IdError, UserId};
