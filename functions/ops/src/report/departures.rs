//! Departures gathered from the audit trail while it streams by: one entry per leaver
//! job, whatever the number of lines.
//!
//! - A departure is a job whose event is a deactivation, a suspension or a deletion, and
//!   whose Okta `published` time (held in the job's key, `JOB#<published>#<uuid>`) lies
//!   in the period.
//! - A target's access is removed at its last successful removal step (membership
//!   removed, sessions ended, account deactivated or deleted; "already so" counts).
//! - The outcome is the status of the job's last `job.<status>` line; none yet is
//!   "running".

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use lifecycle::clock::Timestamp;
use lifecycle::domain::{AuditAction, AuditEntry, AuditOutcome, EventType, JobStatus, Op};

use super::super::export::subject;

/// How a departure ended, as the report shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Failed, for good: an operator must look.
    Failed,
    /// Held by the safety fuse.
    Held,
    /// No run has ended yet (pending, running, retrying).
    Running,
    /// Dry run: planned only.
    Planned,
    /// Okta no longer agreed with the event; nothing was removed.
    Stale,
    /// Nothing to do.
    Skipped,
    /// Every step done.
    Done,
}

impl Outcome {
    /// The word the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Failed => "failed",
            Outcome::Held => "held",
            Outcome::Running => "still running",
            Outcome::Planned => "planned (dry run)",
            Outcome::Stale => "stale",
            Outcome::Skipped => "skipped",
            Outcome::Done => "done",
        }
    }

    fn of(status: &JobStatus) -> Option<Self> {
        Some(match status {
            JobStatus::Done => Outcome::Done,
            JobStatus::Failed => Outcome::Failed,
            JobStatus::Held => Outcome::Held,
            JobStatus::Planned => Outcome::Planned,
            JobStatus::Stale => Outcome::Stale,
            JobStatus::Skipped => Outcome::Skipped,
            JobStatus::Retrying | JobStatus::Running | JobStatus::Pending => Outcome::Running,
            _ => return None,
        })
    }
}

/// One person's departure.
#[derive(Debug, Clone)]
pub struct Departure {
    /// The subject, `USER#<id>`.
    pub subject: String,
    /// The Okta event.
    pub event_uuid: String,
    /// Its type.
    pub event_type: String,
    /// The job's sort key.
    pub job: String,
    /// The event's `published` time.
    pub published: Timestamp,
    /// Per target, when its access was last removed.
    pub removed: BTreeMap<String, Timestamp>,
    /// How it ended.
    pub outcome: Outcome,
    /// Whether any line was a dry run.
    pub dry_run: bool,
}

impl Departure {
    /// The last removal, if anything was removed.
    pub fn last_removed(&self) -> Option<&Timestamp> {
        self.removed.values().max_by_key(|t| t.unix_millis())
    }

    /// From `published` to the last removal.
    pub fn time_to_removal(&self) -> Option<Duration> {
        self.last_removed().map(|t| t.since(&self.published))
    }

    /// Done, with everything removed within `sla`.
    pub fn met_sla(&self, sla: Duration) -> bool {
        self.outcome == Outcome::Done && self.time_to_removal().is_none_or(|t| t <= sla)
    }
}

/// Whether an event takes access away.
pub fn is_leaver(event_type: &str) -> bool {
    matches!(
        EventType::from(event_type),
        EventType::Deactivate | EventType::DeleteInitiated | EventType::Suspend
    ) || event_type.starts_with("user.lifecycle.delete")
}

/// The `published` time a job's key holds: `JOB#<published>#<uuid>`.
pub fn published_of(job: &str) -> Option<Timestamp> {
    let rest = job.strip_prefix("JOB#")?;
    let (published, _) = rest.split_once('#')?;
    Timestamp::parse(published).ok()
}

fn removes(op: Op) -> bool {
    matches!(
        op,
        Op::RemoveMembership | Op::EndSessions | Op::DeactivateAccount | Op::DeleteAccount
    )
}

fn succeeded(outcome: &AuditOutcome) -> bool {
    matches!(
        outcome,
        AuditOutcome::Done
            | AuditOutcome::Already
            | AuditOutcome::Removed
            | AuditOutcome::Deprovisioned
            | AuditOutcome::Suspended
            | AuditOutcome::Deleted
    )
}

/// The departures of a period, gathered line by line.
#[derive(Debug)]
pub struct Departures {
    since: Timestamp,
    until: Timestamp,
    by_job: HashMap<(String, String), Departure>,
}

impl Departures {
    /// Departures whose event was published from `since` (included) to `until` (excluded).
    pub fn new(since: Timestamp, until: Timestamp) -> Self {
        Self {
            since,
            until,
            by_job: HashMap::new(),
        }
    }

    /// Takes one line into account; lines of other jobs and subjects are passed over.
    pub fn add(&mut self, line: &AuditEntry) {
        if !is_leaver(&line.event_type) {
            return;
        }
        let Some(published) = published_of(&line.job_id) else {
            return;
        };
        let ms = published.unix_millis();
        if ms < self.since.unix_millis() || ms >= self.until.unix_millis() {
            return;
        }
        let key = (subject(&line.subject), line.job_id.clone());
        let departure = self.by_job.entry(key).or_insert_with(|| Departure {
            subject: subject(&line.subject),
            event_uuid: line.event_uuid.clone(),
            event_type: line.event_type.clone(),
            job: line.job_id.clone(),
            published,
            removed: BTreeMap::new(),
            outcome: Outcome::Running,
            dry_run: false,
        });
        departure.dry_run |= line.dry_run;
        match &line.action {
            AuditAction::Step { target, op } if removes(*op) && succeeded(&line.outcome) => {
                let at = departure.removed.entry(target.clone()).or_insert(line.at);
                if line.at.unix_millis() > at.unix_millis() {
                    *at = line.at;
                }
            }
            AuditAction::Job(status) => {
                if let Some(outcome) = Outcome::of(status) {
                    departure.outcome = outcome;
                }
            }
            _ => {}
        }
    }

    /// Every departure, by `published` time.
    pub fn into_sorted(self) -> Vec<Departure> {
        let mut all: Vec<Departure> = self.by_job.into_values().collect();
        all.sort_by(|a, b| {
            (a.published.unix_millis(), &a.subject).cmp(&(b.published.unix_millis(), &b.subject))
        });
        all
    }
}
