//! The audit trail's lines: who did what to whom, with which outcome.

use crate::clock::Timestamp;

use super::{Job, UserId};

/// One line of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Whose story it belongs to.
    pub user: UserId,
    /// When.
    pub at: Timestamp,
    /// Order within one job run.
    pub seq: u32,
    /// The event the job came from.
    pub event_uuid: String,
    /// Its type.
    pub event_type: String,
    /// The job's sort key.
    pub job_id: String,
    /// What was done: `okta/remove_membership`, `job.done`, `snapshot`, ….
    pub action: String,
    /// The target's name, for target actions.
    pub target: Option<String>,
    /// The object acted on (group id, account id).
    pub object: Option<String>,
    /// Its name for people.
    pub label: Option<String>,
    /// `done`, `already`, `skipped`, `planned`, `failed`, `stale`, `held`, ….
    pub outcome: String,
    /// Why, or what went wrong.
    pub detail: Option<String>,
    /// Who acted: the function and its request id.
    pub actor: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl AuditEntry {
    /// A line about `job`, with nothing but who did what with which outcome filled in.
    pub fn for_job(job: &Job, action: &str, outcome: &str, actor: &str, at: Timestamp) -> Self {
        Self {
            user: job.user.clone(),
            at,
            seq: 0,
            event_uuid: job.event_uuid.to_string(),
            event_type: job.event_type.to_string(),
            job_id: job.id.clone(),
            action: action.into(),
            target: None,
            object: None,
            label: None,
            outcome: outcome.into(),
            detail: None,
            actor: actor.into(),
            dry_run: false,
        }
    }
}
