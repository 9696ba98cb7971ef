//! Events as the product accepts them: whom they name, where they came from.

use crate::clock::Timestamp;

use super::provision::ActionRef;
use super::{EventType, EventUuid, UserId};

/// The user named by an event's `target` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    /// Okta user id.
    pub id: UserId,
    /// `alternateId`, usually the login.
    pub login: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
}

/// Where an event came from; recorded on the marker and the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An event hook delivery.
    Hook,
    /// The System Log poller.
    Poll,
    /// The reconciliation sweep over deprovisioned users.
    Sweep,
    /// A provisioning action that changed the user's status in Okta itself.
    Action,
}

impl Source {
    /// The value stored in the table.
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Hook => "hook",
            Source::Poll => "poll",
            Source::Sweep => "sweep",
            Source::Action => "action",
        }
    }
}

/// An event that names a user and whose type is enabled: it becomes a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedEvent {
    /// Okta's event uuid, the dedupe key.
    pub uuid: EventUuid,
    /// When Okta recorded it.
    pub published: Timestamp,
    /// What happened.
    pub event_type: EventType,
    /// Whom it happened to.
    pub user: UserRef,
}

/// Facts about the request that are stored with every marker and job it creates.
#[derive(Debug, Clone)]
pub struct IntakeContext {
    /// Hook or poll.
    pub source: Source,
    /// When the request arrived.
    pub received_at: Timestamp,
    /// The Lambda request id, to join logs and items.
    pub request_id: String,
    /// The envelope's `eventId`, for hook deliveries.
    pub delivery_id: Option<String>,
    /// For jobs a provisioning action makes: the action, whose answer the job's end
    /// writes. The action has passed the safety fuse already.
    pub action: Option<ActionRef>,
}
