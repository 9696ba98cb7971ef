//! What a request's answer says about each action: its outcome, what changed, and the
//! reference a leaver-path job keeps to the action it carries out.

use serde::Serialize;

use super::ActionType;

/// How one action went, as its answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// A user or group was created.
    Created,
    /// A user's profile was changed.
    Updated,
    /// Nothing differed.
    Unchanged,
    /// Memberships were added (and none needed removing, or some were removed too).
    Added,
    /// Memberships were removed.
    Removed,
    /// Already as asked.
    Already,
    /// Access removed, Okta user deactivated.
    Deprovisioned,
    /// Access removed, Okta user suspended.
    Suspended,
    /// Deleted for good.
    Deleted,
    /// Brought back.
    Restored,
    /// A password reset was issued.
    Reset,
    /// Dry run: what would change.
    Planned,
    /// Refused or failed; the answer's error says why.
    Failed,
    /// Still running durably; `GET /actions/{request_id}` reports it.
    Pending,
}

/// One action's answer, as the caller reads it and the table keeps it. It never holds a
/// password: a reset's temporary password travels beside it, in the live answer only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionAnswer {
    /// The action's kind.
    #[serde(rename = "type")]
    pub kind: ActionType,
    /// How it went.
    pub outcome: ActionOutcome,
    /// The user it acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The group it created or found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// What changed, or in a dry run would change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ActionChange>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A reset whose temporary password went to the first answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_password_issued: Option<bool>,
}

impl ActionAnswer {
    /// An answer with nothing but its kind and outcome.
    pub fn new(kind: ActionType, outcome: ActionOutcome) -> Self {
        Self {
            kind,
            outcome,
            user_id: None,
            group_id: None,
            changes: Vec::new(),
            error: None,
            temp_password_issued: None,
        }
    }

    /// A failed action's answer.
    pub fn failed(kind: ActionType, error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::new(kind, ActionOutcome::Failed)
        }
    }
}

/// A job that carries out an action on the leaver path: which request and which of its
/// actions, so that the job's end writes the action's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    /// The request's id.
    pub request_id: String,
    /// The action's index in it.
    pub index: usize,
    /// The action's kind.
    pub kind: ActionType,
}

/// One change an action made, or in a dry run would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionChange {
    /// A profile property, before → after (`None`: absent or cleared).
    Field {
        /// The Okta property.
        field: String,
        /// Its value before.
        before: Option<String>,
        /// Its value after.
        after: Option<String>,
    },
    /// A group joined.
    AddGroup {
        /// The group's id.
        group_id: String,
        /// Its name.
        name: String,
    },
    /// A group left.
    RemoveGroup {
        /// The group's id.
        group_id: String,
        /// Its name.
        name: String,
    },
    /// The Okta user's status.
    Status {
        /// Before.
        before: String,
        /// After.
        after: String,
    },
    /// One step against a target of the leaver path.
    Step {
        /// The target.
        target: String,
        /// The operation.
        op: String,
        /// What it acts on.
        object: String,
    },
}
