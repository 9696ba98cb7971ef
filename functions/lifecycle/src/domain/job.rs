//! A job, how its run ends, and the per-user state it leaves behind.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::clock::Timestamp;

use super::provision::ActionRef;
use super::{Action, EventType, EventUuid, Snapshot, UserId};

/// Where a job is in its life.
///
/// ```text
/// pending ─▶ running ─▶ done | planned (dry run) | stale | skipped
///                 │ └─▶ held (fuse) ──operator──▶ released ─▶ running
///                 └─▶ retrying ─▶ running …  ─▶ failed ──operator──▶ retry_requested ─▶ running
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Written by intake, not yet picked up.
    Pending,
    /// Claimed by an invocation until its claim expires.
    Running,
    /// A temporary failure; the engine runs it again after a delay.
    Retrying,
    /// An operator asked for another run of a failed job.
    RetryRequested,
    /// An operator released a job the fuse held.
    Released,
    /// Every step done.
    Done,
    /// Dry run: the plan is recorded, nothing was touched.
    Planned,
    /// Okta no longer agrees with the event (the user is active again, or a newer event was
    /// applied): nothing was touched.
    Stale,
    /// Nothing to do (already deprovisioned for this deactivation, nothing to restore).
    Skipped,
    /// The safety fuse held it; an operator must release it.
    Held,
    /// Attempts exhausted or a permanent error; an operator can ask for a retry.
    Failed,
    /// A value this version does not know.
    Other(String),
}

impl JobStatus {
    /// The value stored in the table.
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::RetryRequested => "retry_requested",
            JobStatus::Released => "released",
            JobStatus::Done => "done",
            JobStatus::Planned => "planned",
            JobStatus::Stale => "stale",
            JobStatus::Skipped => "skipped",
            JobStatus::Held => "held",
            JobStatus::Failed => "failed",
            JobStatus::Other(s) => s,
        }
    }

    /// Whether an invocation may claim a job in this status.
    pub fn is_runnable(&self) -> bool {
        matches!(
            self,
            JobStatus::Pending
                | JobStatus::Retrying
                | JobStatus::RetryRequested
                | JobStatus::Released
        )
    }

    /// Whether a job in this status is finished or still in someone's hands (the engine,
    /// the fuse, an operator): everything but `failed`, `stale`, and `running` under a
    /// claim that expired with nobody to take it over.
    pub fn in_hand(&self, claim_live: bool) -> bool {
        match self {
            JobStatus::Failed | JobStatus::Stale => false,
            JobStatus::Running => claim_live,
            _ => true,
        }
    }

    /// Whether a job in this status is listed in the table's attention index (what an
    /// operator looks at across users): every status but the settled ones (`done`,
    /// `planned`, `stale`, `skipped`), so the index stays small however many jobs ended.
    pub fn needs_attention(&self) -> bool {
        !matches!(
            self,
            JobStatus::Done | JobStatus::Planned | JobStatus::Stale | JobStatus::Skipped
        )
    }

    /// Whether this status starts a new round of attempts (an operator's request or a
    /// fresh job) rather than continuing one.
    pub fn starts_a_round(&self) -> bool {
        matches!(
            self,
            JobStatus::Pending | JobStatus::RetryRequested | JobStatus::Released
        )
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl From<&str> for JobStatus {
    fn from(s: &str) -> Self {
        match s {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "retrying" => JobStatus::Retrying,
            "retry_requested" => JobStatus::RetryRequested,
            "released" => JobStatus::Released,
            "done" => JobStatus::Done,
            "planned" => JobStatus::Planned,
            "stale" => JobStatus::Stale,
            "skipped" => JobStatus::Skipped,
            "held" => JobStatus::Held,
            "failed" => JobStatus::Failed,
            other => JobStatus::Other(other.to_owned()),
        }
    }
}

/// A job item.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id within the user's jobs (`JOB#<published>#<uuid>`, the item's sort key);
    /// opaque here, named in audit lines and the user's state.
    pub id: String,
    /// The person.
    pub user: UserId,
    /// Their login as the event named it.
    pub user_login: Option<String>,
    /// The triggering event.
    pub event_uuid: EventUuid,
    /// Its type.
    pub event_type: EventType,
    /// When Okta published it.
    pub published: Timestamp,
    /// Status.
    pub status: JobStatus,
    /// Attempts in the current round (reset by an operator's retry request).
    pub attempts: u32,
    /// Per-job dry run, set by an operator.
    pub dry_run: bool,
    /// Steps completed by earlier attempts: step id → outcome.
    pub steps_done: BTreeMap<String, String>,
    /// The ids of every step an attempt has planned so far. One planned, not in
    /// `steps_done`, and not planned again (its target shows it done) was applied by an
    /// attempt whose record was lost: the run records it as already so.
    pub planned: Vec<String>,
    /// Whether the fuse already counted this job.
    pub fuse_admitted: bool,
    /// Attempts put off because a rate limit was spent (they do not count as attempts).
    pub deferrals: u32,
    /// The status the job had when it was claimed (the claim overwrites `status`).
    pub claimed_from: Option<JobStatus>,
    /// The current claim's token.
    pub claim: Option<String>,
    /// When the current claim expires (epoch ms).
    pub claim_expires_ms: Option<i64>,
    /// A retrying job is not run before this (epoch ms).
    pub not_before_ms: Option<i64>,
    /// The provisioning action it carries out, if a request made it.
    pub action: Option<ActionRef>,
    /// Why it ended as it did (stale, skipped, held), for people.
    pub reason: Option<String>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When its last run ended (for a held job: when the fuse held it).
    pub finished_at: Option<Timestamp>,
}

impl Job {
    /// Whether an invocation may claim it now: runnable, or running under a claim that
    /// expired (the invocation that held it died).
    pub fn claimable(&self, now_ms: i64) -> bool {
        self.status.is_runnable()
            || (self.status == JobStatus::Running
                && self.claim_expires_ms.is_none_or(|exp| exp < now_ms))
    }
}

/// What the engine last completed for a user, kept in `USER#<id>`/`STATE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserState {
    /// The action last completed.
    pub applied: Option<Action>,
    /// Okta's `statusChanged` when it was completed (`gone` for a deleted user): a second
    /// job for the same deactivation finds the same value and does nothing.
    pub episode: Option<String>,
    /// `published` of the newest event applied: an older event never overrides it.
    pub last_event_published: Option<Timestamp>,
    /// That event's uuid.
    pub last_event_uuid: Option<String>,
    /// What the person had before access was first removed; cleared by a restore.
    pub snapshot: Option<Snapshot>,
    /// The job that took the snapshot.
    pub snapshot_job: Option<String>,
    /// The job that last completed.
    pub last_job: Option<String>,
}

impl UserState {
    /// Whether the last completed action took access away.
    pub fn access_removed(&self) -> bool {
        self.applied.is_some_and(|a| a.removes_access())
    }

    /// Whether the snapshot belongs to an earlier deprovisioning, completed and never
    /// restored by us (restore events off): the person came back, got access anew, and is
    /// leaving again in a new `episode`; what they have now is what a restore should give
    /// back. A snapshot taken by a job that has not completed (this one, retried) stays,
    /// and so does a suspension's: it was taken with everything still in place.
    pub fn snapshot_outdated(&self, episode: &str) -> bool {
        self.snapshot.is_some()
            && self.snapshot_job.is_some()
            && self.snapshot_job == self.last_job
            && matches!(self.applied, Some(Action::Deprovision | Action::Delete))
            && self.episode.as_deref() != Some(episode)
    }
}

/// How a job run ends.
#[derive(Debug, Clone)]
pub struct Settle {
    /// The new status.
    pub status: JobStatus,
    /// Why (stale, skipped, held), for people.
    pub reason: Option<String>,
    /// The error, for retrying and failed jobs.
    pub error: Option<String>,
    /// For a retrying job: not before this (epoch ms).
    pub not_before_ms: Option<i64>,
    /// A wait for a rate limit: the attempt is given back and counted as a deferral.
    pub deferred: bool,
}

/// What a completed job records in the user's state.
#[derive(Debug, Clone)]
pub struct StateUpdate {
    /// The action completed.
    pub applied: Action,
    /// Okta's status change it completed for.
    pub episode: String,
    /// The job's event.
    pub published: Timestamp,
    /// Its uuid.
    pub event_uuid: String,
    /// The job.
    pub job_id: String,
    /// A restore clears the snapshot: the next removal takes a new one.
    pub clear_snapshot: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_status() -> Vec<JobStatus> {
        use JobStatus::*;
        vec![
            Pending,
            Running,
            Retrying,
            RetryRequested,
            Released,
            Done,
            Planned,
            Stale,
            Skipped,
            Held,
            Failed,
        ]
    }

    #[test]
    fn every_status_round_trips_and_the_runnable_ones_are_exactly_the_four_waiting_to_run() {
        use JobStatus::*;
        for status in every_status() {
            assert_eq!(JobStatus::from(status.as_str()), status);
            // Exhaustive: a new status does not compile until it is placed on one side.
            let runnable = match &status {
                Pending | Retrying | RetryRequested | Released => true,
                Running | Done | Planned | Stale | Skipped | Held | Failed => false,
                Other(_) => unreachable!("not in the list"),
            };
            assert_eq!(status.is_runnable(), runnable, "{}", status.as_str());
            if status.starts_a_round() {
                assert!(status.is_runnable(), "{} starts a round", status.as_str());
            }
        }
        assert_eq!(JobStatus::from("paused"), Other("paused".into()));
        assert!(!Other("paused".into()).is_runnable());
    }

    #[test]
    fn only_failed_stale_and_abandoned_jobs_are_out_of_hand() {
        assert!(!JobStatus::Failed.in_hand(true));
        assert!(!JobStatus::Stale.in_hand(true));
        assert!(JobStatus::Running.in_hand(true));
        assert!(!JobStatus::Running.in_hand(false), "its claim expired");
        for held in [
            JobStatus::Done,
            JobStatus::Pending,
            JobStatus::Held,
            JobStatus::Retrying,
        ] {
            assert!(held.in_hand(false));
        }
    }

    #[test]
    fn a_snapshot_is_outdated_only_after_an_unrestored_deprovisioning_of_another_episode() {
        let state = |applied, episode: &str| UserState {
            applied: Some(applied),
            episode: Some(episode.into()),
            snapshot: Some(Snapshot::new()),
            snapshot_job: Some("JOB#1".into()),
            last_job: Some("JOB#1".into()),
            ..UserState::default()
        };
        assert!(state(Action::Deprovision, "t1").snapshot_outdated("t2"));
        let retried = UserState {
            snapshot_job: Some("JOB#2".into()),
            ..state(Action::Deprovision, "t1")
        };
        assert!(
            !retried.snapshot_outdated("t2"),
            "taken by a job still under way"
        );
        assert!(state(Action::Delete, "t1").snapshot_outdated("t2"));
        assert!(
            !state(Action::Deprovision, "t1").snapshot_outdated("t1"),
            "same deactivation"
        );
        assert!(
            !state(Action::Disable, "t1").snapshot_outdated("t2"),
            "suspended, then deactivated"
        );
        assert!(!UserState::default().snapshot_outdated("t2"), "no snapshot");
    }
}
