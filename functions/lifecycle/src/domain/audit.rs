//! The audit trail's lines: who did what to whom, with which outcome.
//!
//! Actions and outcomes are closed vocabularies ([`AuditAction`], [`AuditOutcome`]); the
//! text stored in the table is their `Display`, and [`AuditAction::parse`] /
//! [`AuditOutcome::parse`] read it back. Text written by another version that this one
//! does not know comes back as `Other`, never as an error: an audit trail is read to the
//! end.

use std::fmt;

use crate::clock::Timestamp;

use super::provision::{ActionOutcome, ActionType};
use super::vocab;
use super::{Job, JobStatus, Op, UserId};

/// What an audit line is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAction {
    /// A run of a job ended in this status: `job.<status>`.
    Job(JobStatus),
    /// A run hit a rate limit and waits for its window, the attempt given back:
    /// `job.deferred`.
    Deferred,
    /// What the person held was stored before anything was removed: `snapshot`.
    Snapshot,
    /// The plan was recorded on the job: `plan`.
    Plan,
    /// A deleted user's login belongs to someone else now: `login.reused`.
    LoginReused,
    /// An operator asked for a job to move to this status: `operator.<status>`.
    Operator(JobStatus),
    /// One step against one target: `<target>/<op>`.
    Step {
        /// The target's name.
        target: String,
        /// The operation.
        op: Op,
    },
    /// A provisioning action on a user or a group: `action.<TYPE>`.
    Provision(ActionType),
    /// An operator set one of the integration's switches: `switch.<name>`.
    Switch(String),
    /// What became of a file dropped for the sync: `sync.<status>` (applied, held,
    /// released, invalid).
    Sync(String),
    /// Text this version does not know.
    Other(String),
}

impl AuditAction {
    /// Reads the text [`Display`](fmt::Display) wrote.
    pub fn parse(text: &str) -> Self {
        if text == "job.deferred" {
            return AuditAction::Deferred;
        }
        if let Some(status) = text.strip_prefix("job.") {
            return AuditAction::Job(JobStatus::from(status));
        }
        if let Some(kind) = text.strip_prefix("action.").and_then(ActionType::parse) {
            return AuditAction::Provision(kind);
        }
        if let Some(name) = text.strip_prefix("switch.") {
            return AuditAction::Switch(name.to_owned());
        }
        if let Some(status) = text.strip_prefix("sync.") {
            return AuditAction::Sync(status.to_owned());
        }
        if let Some(status) = text.strip_prefix("operator.") {
            return AuditAction::Operator(JobStatus::from(status));
        }
        match text {
            "snapshot" => return AuditAction::Snapshot,
            "plan" => return AuditAction::Plan,
            "login.reused" => return AuditAction::LoginReused,
            _ => {}
        }
        match text.rsplit_once('/') {
            Some((target, op)) if !target.is_empty() => match Op::parse(op) {
                Some(op) => AuditAction::Step {
                    target: target.to_owned(),
                    op,
                },
                None => AuditAction::Other(text.to_owned()),
            },
            _ => AuditAction::Other(text.to_owned()),
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditAction::Job(status) => write!(f, "job.{}", status.as_str()),
            AuditAction::Deferred => f.write_str("job.deferred"),
            AuditAction::Snapshot => f.write_str("snapshot"),
            AuditAction::Plan => f.write_str("plan"),
            AuditAction::LoginReused => f.write_str("login.reused"),
            AuditAction::Operator(status) => write!(f, "operator.{}", status.as_str()),
            AuditAction::Step { target, op } => write!(f, "{target}/{}", op.as_str()),
            AuditAction::Provision(kind) => write!(f, "action.{kind}"),
            AuditAction::Switch(name) => write!(f, "switch.{name}"),
            AuditAction::Sync(status) => write!(f, "sync.{status}"),
            AuditAction::Other(text) => f.write_str(text),
        }
    }
}

/// How it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutcome {
    /// Changed as asked.
    Done,
    /// The target was already so; nothing changed.
    Already,
    /// Nothing to do.
    Skipped,
    /// Dry run: would have been done.
    Planned,
    /// Went wrong; the line's detail says how.
    Failed,
    /// Okta no longer agrees with the event.
    Stale,
    /// The safety fuse held it.
    Held,
    /// A temporary failure; another attempt follows.
    Retrying,
    /// Written down (a snapshot, a plan).
    Recorded,
    /// Written down in place of an earlier one (a snapshot).
    Replaced,
    /// Taken note of; nothing acted on.
    Noted,
    /// An operator's request, accepted.
    Requested,
    /// A user or group was created.
    Created,
    /// A profile was changed.
    Updated,
    /// Nothing differed.
    Unchanged,
    /// Memberships were added.
    Added,
    /// Memberships were removed.
    Removed,
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
    /// Continues durably.
    Pending,
    /// A switch turned on.
    On,
    /// A switch turned off.
    Off,
    /// Text this version does not know.
    Other(String),
}

impl AuditOutcome {
    const NAMED: [(AuditOutcome, &'static str); 25] = [
        (AuditOutcome::Done, "done"),
        (AuditOutcome::Already, "already"),
        (AuditOutcome::Skipped, "skipped"),
        (AuditOutcome::Planned, "planned"),
        (AuditOutcome::Failed, "failed"),
        (AuditOutcome::Stale, "stale"),
        (AuditOutcome::Held, "held"),
        (AuditOutcome::Retrying, "retrying"),
        (AuditOutcome::Recorded, "recorded"),
        (AuditOutcome::Replaced, "replaced"),
        (AuditOutcome::Noted, "noted"),
        (AuditOutcome::Requested, "requested"),
        (AuditOutcome::Created, "created"),
        (AuditOutcome::Updated, "updated"),
        (AuditOutcome::Unchanged, "unchanged"),
        (AuditOutcome::Added, "added"),
        (AuditOutcome::Removed, "removed"),
        (AuditOutcome::Deprovisioned, "deprovisioned"),
        (AuditOutcome::Suspended, "suspended"),
        (AuditOutcome::Deleted, "deleted"),
        (AuditOutcome::Restored, "restored"),
        (AuditOutcome::Reset, "reset"),
        (AuditOutcome::Pending, "pending"),
        (AuditOutcome::On, "on"),
        (AuditOutcome::Off, "off"),
    ];

    /// The text stored in the table.
    pub fn as_str(&self) -> &str {
        match self {
            AuditOutcome::Other(text) => text,
            known => vocab::name_of(&Self::NAMED, known).unwrap_or_default(),
        }
    }

    /// Reads the text [`as_str`](Self::as_str) wrote.
    pub fn parse(text: &str) -> Self {
        vocab::value_of(&Self::NAMED, text).unwrap_or_else(|| AuditOutcome::Other(text.to_owned()))
    }
}

/// A run that ended in a status is recorded with that status as its outcome.
impl From<&JobStatus> for AuditOutcome {
    fn from(status: &JobStatus) -> Self {
        AuditOutcome::parse(status.as_str())
    }
}

/// An action's outcome is recorded as the answer names it.
impl From<ActionOutcome> for AuditOutcome {
    fn from(outcome: ActionOutcome) -> Self {
        let text = serde_json::to_value(outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        AuditOutcome::parse(&text)
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose story an audit line belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSubject {
    /// A person (jobs, and actions on a user).
    User(UserId),
    /// An Okta group (actions on a group).
    Group(String),
    /// A provisioning request, for what names neither (an action refused before any
    /// user or group was known).
    Request(String),
    /// The integration as a whole: an operator's switches.
    Integration,
}

/// One line of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Whose story it belongs to.
    pub subject: AuditSubject,
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
    /// What was done.
    pub action: AuditAction,
    /// The target's name, for target actions.
    pub target: Option<String>,
    /// The object acted on (group id, account id).
    pub object: Option<String>,
    /// Its name for people.
    pub label: Option<String>,
    /// How it went.
    pub outcome: AuditOutcome,
    /// Why, or what went wrong.
    pub detail: Option<String>,
    /// Who acted: the function and its request id, or the operator.
    pub actor: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl AuditEntry {
    /// A line about `job`, with nothing but who did what with which outcome filled in.
    pub fn for_job(
        job: &Job,
        action: AuditAction,
        outcome: AuditOutcome,
        actor: &str,
        at: Timestamp,
    ) -> Self {
        Self {
            subject: AuditSubject::User(job.user.clone()),
            at,
            seq: 0,
            event_uuid: job.event_uuid.to_string(),
            event_type: job.event_type.to_string(),
            job_id: job.id.clone(),
            action,
            target: None,
            object: None,
            label: None,
            outcome,
            detail: None,
            actor: actor.into(),
            dry_run: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_as_written() {
        let mut actions = vec![
            AuditAction::Deferred,
            AuditAction::Provision(ActionType::SyncIdentities),
            AuditAction::Switch("enabled".into()),
            AuditAction::Sync("held".into()),
            AuditAction::Snapshot,
            AuditAction::Plan,
            AuditAction::LoginReused,
            AuditAction::Other("something.new".into()),
        ];
        for status in [
            "done", "planned", "stale", "skipped", "held", "failed", "retrying",
        ] {
            actions.push(AuditAction::Job(JobStatus::from(status)));
        }
        for status in ["retry_requested", "released"] {
            actions.push(AuditAction::Operator(JobStatus::from(status)));
        }
        for op in Op::ALL {
            actions.push(AuditAction::Step {
                target: "scim:app/one".into(),
                op,
            });
        }
        for action in actions {
            let text = action.to_string();
            assert_eq!(AuditAction::parse(&text), action, "{text}");
        }
    }

    #[test]
    fn the_stored_text_is_the_one_earlier_versions_wrote() {
        for (action, text) in [
            (AuditAction::Job(JobStatus::Done), "job.done"),
            (
                AuditAction::Operator(JobStatus::RetryRequested),
                "operator.retry_requested",
            ),
            (
                AuditAction::Step {
                    target: "okta".into(),
                    op: Op::RemoveMembership,
                },
                "okta/remove_membership",
            ),
            (AuditAction::LoginReused, "login.reused"),
        ] {
            assert_eq!(action.to_string(), text);
        }
    }

    #[test]
    fn text_of_no_known_shape_is_kept_as_other() {
        for text in ["", "/", "okta/explode", "/remove_membership", "jobdone"] {
            assert_eq!(AuditAction::parse(text), AuditAction::Other(text.into()));
        }
    }

    #[test]
    fn every_outcome_reads_back_as_written_and_unknown_text_is_kept() {
        for (outcome, name) in AuditOutcome::NAMED {
            assert_eq!(outcome.as_str(), name);
            assert_eq!(AuditOutcome::parse(name), outcome);
        }
        assert_eq!(
            AuditOutcome::parse("exploded"),
            AuditOutcome::Other("exploded".into())
        );
    }

    #[test]
    fn every_action_outcome_has_its_own_audit_outcome() {
        use ActionOutcome::*;
        for outcome in [
            Created,
            Updated,
            Unchanged,
            Added,
            Removed,
            Already,
            Deprovisioned,
            Suspended,
            Deleted,
            Restored,
            Reset,
            Planned,
            Failed,
            Pending,
        ] {
            let audit = AuditOutcome::from(outcome);
            assert!(!matches!(audit, AuditOutcome::Other(_)), "{outcome:?}");
            assert_eq!(serde_json::to_value(outcome).unwrap(), audit.as_str());
        }
    }

    #[test]
    fn a_settled_status_is_its_own_outcome() {
        for status in [
            JobStatus::Done,
            JobStatus::Planned,
            JobStatus::Stale,
            JobStatus::Skipped,
            JobStatus::Held,
            JobStatus::Failed,
            JobStatus::Retrying,
        ] {
            let outcome = AuditOutcome::from(&status);
            assert!(!matches!(outcome, AuditOutcome::Other(_)), "{status:?}");
            assert_eq!(outcome.as_str(), status.as_str());
        }
    }
}
