//! A file dropped into the sync bucket: what became of it.

use crate::clock::Timestamp;

/// Where a drop stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropStatus {
    /// A run of the `sync` function holds it (until its claim lapses).
    Planning,
    /// Planned, every guard passed, its requests submitted to the actions path.
    Applied,
    /// A guard refused the plan: stored, waiting for an operator.
    Held,
    /// An operator released the held plan; its requests were submitted.
    Released,
    /// The file could not be read as an HR export: nothing was planned.
    Invalid,
}

impl DropStatus {
    /// The status as the table stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planning => "planning",
            Self::Applied => "applied",
            Self::Held => "held",
            Self::Released => "released",
            Self::Invalid => "invalid",
        }
    }

    /// Reads what [`as_str`](Self::as_str) wrote.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "planning" => Self::Planning,
            "applied" => Self::Applied,
            "held" => Self::Held,
            "released" => Self::Released,
            "invalid" => Self::Invalid,
            _ => return None,
        })
    }
}

/// One dropped object version and what the sync made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncDrop {
    /// `drop-<16 hex>`: from the bucket, the key and the version, so a notification
    /// delivered twice names the same drop.
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The object's version (`None` in an unversioned bucket).
    pub version: Option<String>,
    /// Where it stands.
    pub status: DropStatus,
    /// The file's digest (SHA-256), once read.
    pub digest: Option<String>,
    /// The plan's object in the bucket, once stored: key and version.
    pub plan_key: Option<String>,
    /// The plan object's version.
    pub plan_version: Option<String>,
    /// The plan object's digest (SHA-256), checked when it is released.
    pub plan_digest: Option<String>,
    /// The plan's totals, as JSON (`{"create": 3, …}`).
    pub totals: Option<String>,
    /// The guards that refused it, as JSON; empty when none did.
    pub refusals: Option<String>,
    /// Why the file was not planned (`invalid`).
    pub error: Option<String>,
    /// The requests its actions went in (ids of `POST /actions` requests).
    pub requests: Vec<String>,
    /// When the drop was first seen.
    pub created_at: Timestamp,
    /// When its status last changed.
    pub updated_at: Timestamp,
    /// Who released it.
    pub released_by: Option<String>,
}

impl SyncDrop {
    /// A drop just seen, `planning`, nothing read yet.
    pub fn planning(
        id: String,
        bucket: String,
        key: String,
        version: Option<String>,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            bucket,
            key,
            version,
            status: DropStatus::Planning,
            digest: None,
            plan_key: None,
            plan_version: None,
            plan_digest: None,
            totals: None,
            refusals: None,
            error: None,
            requests: Vec::new(),
            created_at: now,
            updated_at: now,
            released_by: None,
        }
    }
}
