//! Every key shape of the tables, in one place. Audit lines are in the audit table (same
//! `pk`/`sk` scheme); everything else is in the state table.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `USER#<id>` | `JOB#<published>#<uuid>` | one unit of work (`job.rs`); written only if new, the key is the event's dedupe marker |
//! | `USER#<id>` | `STATE` | last applied action, episode, snapshot (`user_state.rs`) |
//! | `USER#<id>`, `GROUP#<id>`, `REQUEST#<id>`, `CONFIG` | `AUDIT#<time>#<uuid>#<n>` | one line of the audit trail, in the audit table (`audit.rs`) |
//! | `CONFIG` | `INTEGRATION` | enabled flag, dry run, verified-at, last-delivery-at |
//! | `CONFIG` | `FUSE` | the safety fuse (`fuse.rs`) |
//! | `POLLER` | `CURSOR` / `LOCK` / `STATUS` | the poller's resume point, lease and figures |
//! | `SYNC#<drop id>` | `DROP` | a file dropped for the sync and what became of it (`sync_drop.rs`) |
//! | `QUARANTINE` | `<received>#<request>#<part>` | a rejected body, kept for inspection, with TTL |

use crate::clock::Timestamp;
use crate::domain::{AuditSubject, EventUuid, Job, UserId};

/// Partition and sort key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
}

impl Key {
    /// A key from its two parts.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The partition of everything about one user: jobs, state, audit trail.
    pub fn user_pk(user: &UserId) -> String {
        format!("USER#{user}")
    }

    /// The job an event creates for its user.
    pub fn job(user: &UserId, published: &Timestamp, uuid: &EventUuid) -> Self {
        Self::new(Self::user_pk(user), format!("JOB#{published}#{uuid}"))
    }

    /// The sort keys of all of a user's jobs.
    pub(super) fn jobs() -> SkRange {
        SkRange::Prefix("JOB#".into())
    }

    /// The sort keys of a user's jobs published at or after `since`: `JOB#<since>` to
    /// `JOB#~`, as '~' sorts after every character of a timestamp and a uuid.
    pub(super) fn jobs_since(since: &Timestamp) -> SkRange {
        SkRange::Between(format!("JOB#{since}"), "JOB#~".into())
    }

    /// The integration's configuration item.
    pub fn integration() -> Self {
        Self {
            pk: "CONFIG".into(),
            sk: "INTEGRATION".into(),
        }
    }

    /// A job's item.
    pub fn of_job(job: &Job) -> Self {
        Self::new(Self::user_pk(&job.user), job.id.clone())
    }

    /// A user's state item.
    pub fn user_state(user: &UserId) -> Self {
        Self::new(Self::user_pk(user), "STATE")
    }

    /// The safety fuse's item.
    pub fn fuse() -> Self {
        Self::new("CONFIG", "FUSE")
    }

    /// One line of a user's or a group's audit trail; `seq` orders the lines of one run.
    pub fn audit(subject: &AuditSubject, at: &Timestamp, event_uuid: &str, seq: u32) -> Self {
        Self::new(
            Self::subject_pk(subject),
            format!("AUDIT#{at}#{event_uuid}#{seq:03}"),
        )
    }

    /// The partition an audit subject's lines live in.
    pub fn subject_pk(subject: &AuditSubject) -> String {
        match subject {
            AuditSubject::User(user) => Self::user_pk(user),
            AuditSubject::Group(group) => Self::group_pk(group),
            AuditSubject::Request(id) => Self::request(id).pk,
            AuditSubject::Integration => Self::integration().pk,
        }
    }

    /// The audit lines within a subject's partition.
    pub(super) fn audit_lines() -> SkRange {
        SkRange::Prefix("AUDIT#".into())
    }

    /// A `POST /actions` request's item.
    pub fn request(id: &str) -> Self {
        Self::new(format!("REQUEST#{id}"), "REQUEST")
    }

    /// A file dropped for the sync.
    pub fn sync_drop(id: &str) -> Self {
        Self::new(format!("SYNC#{id}"), "DROP")
    }

    /// The partition of everything about one Okta group.
    pub fn group_pk(group: &str) -> String {
        format!("GROUP#{group}")
    }

    /// One part of a quarantined body.
    pub fn quarantine(received_at: &Timestamp, request_id: &str, part: usize) -> Self {
        Self::new(
            "QUARANTINE",
            format!("{received_at}#{request_id}#{part:04}"),
        )
    }

    /// One of the poller's items: `CURSOR`, `LOCK` or `STATUS`.
    pub fn poller(sk: &str) -> Self {
        Self::new("POLLER", sk)
    }

    /// The job a [`held_ref`] names; `None` for text of another shape.
    pub fn of_held_ref(reference: &str) -> Option<Self> {
        let (pk, sk) = reference.split_once('/')?;
        (pk.starts_with("USER#") && sk.starts_with("JOB#")).then(|| Self::new(pk, sk))
    }
}

/// The sort keys a query reads within one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SkRange {
    /// Those that start with the prefix.
    Prefix(String),
    /// Those from the first bound to the second, both included.
    Between(String, String),
}

/// How the fuse's item names a job: `USER#<id>/JOB#<published>#<uuid>`.
pub fn held_ref(job: &Key) -> String {
    format!("{}/{}", job.pk, job.sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn jobs_since_spans_every_job_published_from_then_on() {
        let since = at("2026-11-23T10:00:00.250Z");
        let SkRange::Between(from, to) = Key::jobs_since(&since) else {
            panic!("a range with two bounds");
        };
        assert_eq!(from, "JOB#2026-11-23T10:00:00.250Z");
        assert_eq!(to, "JOB#~");
        let user = UserId::parse("00u1").unwrap();
        let uuid = EventUuid::parse("1f6b5e2a-0c1d-4e5f-8a9b-0c1d2e3f4a5b").unwrap();
        for (published, inside) in [
            ("2026-11-23T10:00:00.249Z", false),
            ("2026-11-23T10:00:00.250Z", true),
            ("2099-12-31T23:59:59.999Z", true),
        ] {
            let sk = Key::job(&user, &at(published), &uuid).sk;
            assert_eq!(from <= sk && sk <= to, inside, "{sk}");
        }
    }

    #[test]
    fn jobs_is_the_prefix_of_every_job_key() {
        let SkRange::Prefix(prefix) = Key::jobs() else {
            panic!("a prefix");
        };
        let user = UserId::parse("00u1").unwrap();
        let uuid = EventUuid::parse("1f6b5e2a-0c1d-4e5f-8a9b-0c1d2e3f4a5b").unwrap();
        let job = Key::job(&user, &at("2026-11-23T10:00:00.250Z"), &uuid);
        assert!(job.sk.starts_with(&prefix));
        assert!(!Key::user_state(&user).sk.starts_with(&prefix));
    }
}
