//! A request to `POST /actions` as the table keeps it: the idempotency record, the queue
//! entry for what is still to do, and the answers of what is done, in one item.

use std::collections::BTreeMap;

use crate::clock::Timestamp;

/// Where a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestStatus {
    /// An invocation is working on it under a claim.
    Running,
    /// Some actions are not done yet; a worker carries on.
    Pending,
    /// Every action has its answer.
    Done,
    /// A value this version does not know.
    Other(String),
}

impl RequestStatus {
    /// The value stored in the table.
    pub fn as_str(&self) -> &str {
        match self {
            RequestStatus::Running => "running",
            RequestStatus::Pending => "pending",
            RequestStatus::Done => "done",
            RequestStatus::Other(s) => s,
        }
    }

    /// Reads the stored value.
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => RequestStatus::Running,
            "pending" => RequestStatus::Pending,
            "done" => RequestStatus::Done,
            other => RequestStatus::Other(other.to_owned()),
        }
    }
}

/// One request, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Derived from the caller and the idempotency key; `GET /actions/{id}` names it.
    pub id: String,
    /// The caller's key.
    pub idempotency_key: String,
    /// Who asked: the IAM principal (or the operator).
    pub caller: String,
    /// Digest of what was asked: the same key with another body is a conflict.
    pub digest: String,
    /// Plan only.
    pub dry_run: bool,
    /// The actions, as the JSON list the caller sent; parsed again to carry on.
    pub actions: String,
    /// How many actions.
    pub count: usize,
    /// Where it is.
    pub status: RequestStatus,
    /// The answer of each finished action, by index, as JSON (never a password).
    pub results: BTreeMap<usize, String>,
    /// Actions that cannot be repeated (a password reset) and were started, by index:
    /// one started without an answer may or may not have happened.
    pub started: BTreeMap<usize, String>,
    /// When it arrived.
    pub created_at: Timestamp,
    /// The claim of the invocation working on it.
    pub claim: Option<String>,
    /// When that claim lapses (Unix milliseconds).
    pub claim_expires_ms: Option<i64>,
    /// Runs so far, the first included: the worker waits longer before each next one.
    pub runs: u32,
    /// Left pending with nothing for the worker to do by itself: the actions still open
    /// wait on jobs of the leaver path, or the worker gave up after its runs.
    pub parked: bool,
}

impl RequestRecord {
    /// The first action without an answer.
    pub fn next_action(&self) -> Option<usize> {
        (0..self.count).find(|i| !self.results.contains_key(i))
    }
}
