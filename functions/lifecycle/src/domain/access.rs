//! What a job does to a person's access, and what the person holds where.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::UserId;

/// The person a job is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Okta user id.
    pub id: UserId,
    /// Okta login, the usual `userName` in applications; unknown for a user deleted
    /// before anything read their profile.
    pub login: Option<String>,
}

/// What a job does to the person's access, decided by policy from the event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Remove access everywhere: groups, sessions, accounts deactivated.
    Deprovision,
    /// Suspension: sessions ended and accounts deactivated; groups kept.
    Disable,
    /// Like deprovision, but application accounts are deleted.
    Delete,
    /// Give back what the snapshot says the person had.
    Restore,
}

impl Action {
    /// The name stored in jobs, audit items and webhook bodies.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Deprovision => "deprovision",
            Action::Disable => "disable",
            Action::Delete => "delete",
            Action::Restore => "restore",
        }
    }

    /// Whether the action takes access away (and so counts against the safety fuse).
    pub fn removes_access(&self) -> bool {
        !matches!(self, Action::Restore)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Okta group the person was a member of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// Okta group id.
    pub id: String,
    /// Its name when the snapshot was taken, for people reading the audit trail.
    pub name: String,
}

/// An account in an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The application's id for it.
    pub id: String,
    /// Whether it was active.
    pub active: bool,
}

/// What the person holds in one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holdings {
    /// Okta groups whose membership the API manages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRef>,
    /// The person's account, if the target has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// Holdings per target name: what the person had before access was first removed.
pub type Snapshot = BTreeMap<String, Holdings>;

/// The operations steps are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Take the person out of a group.
    RemoveMembership,
    /// Put the person back in a group.
    AddMembership,
    /// End sessions (and revoke OAuth tokens, if configured).
    EndSessions,
    /// Set an account inactive.
    DeactivateAccount,
    /// Delete an account.
    DeleteAccount,
    /// Set an account active again.
    ActivateAccount,
    /// Tell a system what happened.
    Notify,
}

impl Op {
    /// The name used in step ids and audit items.
    pub fn as_str(&self) -> &'static str {
        match self {
            Op::RemoveMembership => "remove_membership",
            Op::AddMembership => "add_membership",
            Op::EndSessions => "end_sessions",
            Op::DeactivateAccount => "deactivate_account",
            Op::DeleteAccount => "delete_account",
            Op::ActivateAccount => "activate_account",
            Op::Notify => "notify",
        }
    }
}

impl Op {
    /// Every operation, for parsing and for tests that must cover them all.
    pub const ALL: [Op; 7] = [
        Op::RemoveMembership,
        Op::AddMembership,
        Op::EndSessions,
        Op::DeactivateAccount,
        Op::DeleteAccount,
        Op::ActivateAccount,
        Op::Notify,
    ];

    /// The operation named `name` in a step id or an audit line.
    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == name)
    }
}
