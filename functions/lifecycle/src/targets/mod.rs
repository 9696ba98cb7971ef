//! The systems deprovisioning reaches, each behind one trait, [`Target`]: Okta itself
//! (group memberships, sessions), SCIM 2.0 applications and signed webhooks.
//!
//! A target answers three questions: what does the person hold here now ([`Target::inspect`]),
//! which steps carry out an action given that and the snapshot ([`Target::plan`]), and
//! carry out one step ([`Target::apply`]). Every step is idempotent: "already so" (not a
//! member, account already inactive, not found) is an [`Outcome`], not an error.

pub mod okta;
pub mod scim;
mod settings;
pub mod webhook;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use crate::domain::Op;
use crate::domain::{Action, AuditOutcome, EventType, EventUuid, Holdings, Person};

pub use settings::{TargetsConfig, TargetsConfigError};

/// Why a step of a SCIM application or webhook removed from the targets secret since the
/// cold start is skipped.
pub(crate) const REMOVED: &str = "no longer in the targets secret";

/// A boxed future, so that targets of different kinds fit in one list.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One idempotent action on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The target's name.
    pub target: String,
    /// What to do.
    pub op: Op,
    /// What to do it to: a group id, an account id, the user id.
    pub object: String,
    /// The object's name for people (group name, login).
    pub label: String,
}

impl Step {
    /// The step's key within a job: the same step planned again has the same id, which
    /// is how a retried job knows what is already done.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.target, self.op.as_str(), self.object)
    }

    /// The step an [`id`](Self::id) names, its label unknown; `None` for what no id is.
    pub fn from_id(id: &str) -> Option<Step> {
        let (rest, object) = id.rsplit_once('/')?;
        let (target, op) = rest.rsplit_once('/')?;
        Some(Step {
            target: target.to_owned(),
            op: Op::parse(op)?,
            object: object.to_owned(),
            label: String::new(),
        })
    }
}

/// What a job is about, as a step needs to know it.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The person.
    pub person: Person,
    /// The action.
    pub action: Action,
    /// The Okta event that triggered the job.
    pub event_uuid: EventUuid,
    /// Its type.
    pub event_type: EventType,
    /// When Okta published it.
    pub published: String,
    /// The job's sort key, `JOB#<published>#<uuid>`.
    pub job_id: String,
}

/// How a step ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target changed.
    Done,
    /// The target was already in the wanted state (not a member, already inactive, gone).
    AlreadySo(String),
    /// Nothing could be done and nothing needs doing (a group to restore no longer exists).
    Skipped(String),
}

/// A step's outcome as the audit trail records it.
impl From<&Outcome> for AuditOutcome {
    fn from(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Done => AuditOutcome::Done,
            Outcome::AlreadySo(_) => AuditOutcome::Already,
            Outcome::Skipped(_) => AuditOutcome::Skipped,
        }
    }
}

impl Outcome {
    /// The value stored in the job and the audit trail.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::AlreadySo(_) => "already",
            Outcome::Skipped(_) => "skipped",
        }
    }

    /// Why, when the target did not change.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Outcome::Done => None,
            Outcome::AlreadySo(d) | Outcome::Skipped(d) => Some(d),
        }
    }
}

/// A step or an inspection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Down, slow, throttled, 5xx: worth another attempt later.
    #[error("{target}: {detail} (temporary)")]
    Transient {
        /// The target's name.
        target: String,
        /// What happened; never a credential.
        detail: String,
    },
    /// The target's rate limit (or the share of it this product may use) is spent until
    /// `retry_after` from now: wait for it rather than spend attempts.
    #[error("{target}: {detail} (rate limited)")]
    Throttled {
        /// The target's name.
        target: String,
        /// What happened.
        detail: String,
        /// How long until the window resets.
        retry_after: std::time::Duration,
    },
    /// The service every job depends on is down or failing as a whole (Okta answering
    /// 5xx or not at all): every job waits for it alike, `retry_after` at a time, without
    /// spending its attempts, as for a spent rate limit.
    #[error("{target}: {detail} (unavailable)")]
    Unavailable {
        /// The target's name.
        target: String,
        /// What happened; never a credential.
        detail: String,
        /// How long to wait before looking again.
        retry_after: std::time::Duration,
    },
    /// The target refused the credential (401, 403; Okta's invalid token or
    /// `invalid_client`), also after it was read again if that was allowed: a rotation
    /// under way (the target has the new credential, the secret not yet, or the last
    /// read was too recent). The job waits for the next read of the secret, as for a
    /// rate limit, without spending its attempts (within the same bound on waits).
    #[error("{target}: {detail} (credential refused)")]
    Refused {
        /// The target's name.
        target: String,
        /// What happened; never a credential.
        detail: String,
    },
    /// Refused for a reason a retry will not change (400, bad configuration).
    #[error("{target}: {detail}")]
    Permanent {
        /// The target's name.
        target: String,
        /// What happened; never a credential.
        detail: String,
    },
}

impl TargetError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TargetError::Transient { .. }
                | TargetError::Throttled { .. }
                | TargetError::Unavailable { .. }
                | TargetError::Refused { .. }
        )
    }

    /// Whether the target refused the credential (see [`TargetError::Refused`]).
    pub fn is_refused(&self) -> bool {
        matches!(self, TargetError::Refused { .. })
    }

    /// For a rate limit, how long until it resets.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            TargetError::Throttled { retry_after, .. }
            | TargetError::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Sorts an HTTP answer status: 408, 429 and 5xx are worth retrying.
    pub fn from_status(target: &str, status: u16, detail: String) -> Self {
        let target = target.to_owned();
        if status == 408 || status == 429 || status >= 500 {
            TargetError::Transient { target, detail }
        } else {
            TargetError::Permanent { target, detail }
        }
    }

    /// A transport failure (refused, reset, timed out) is transient. The detail never
    /// holds the URL, which may carry a credential (some webhooks put a token in it).
    pub fn transport(target: &str, e: &reqwest::Error) -> Self {
        let mut detail = String::from(if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "request failed"
        });
        // The sources say why (refused, reset, DNS); only the top level names the URL.
        if let Some(source) = std::error::Error::source(e) {
            detail.push_str(": ");
            detail.push_str(&crate::net::error_chain(source));
        }
        TargetError::Transient {
            target: target.to_owned(),
            detail,
        }
    }
}

/// A system deprovisioning acts on. Implementations: [`okta::OktaTarget`],
/// [`scim::ScimTarget`], [`webhook::WebhookTarget`].
pub trait Target: Send + Sync {
    /// The name used in step ids, the snapshot and the audit trail (`okta`, `scim:<name>`,
    /// `webhook:<name>`).
    fn name(&self) -> &str;

    /// What the person holds here now. `known` is what the snapshot recorded, which lets a
    /// target find an account by its stored id.
    fn inspect<'a>(
        &'a self,
        person: &'a Person,
        known: Option<&'a Holdings>,
    ) -> BoxFuture<'a, Result<Holdings, TargetError>>;

    /// The steps that carry out `action`, given what the person holds now and what the
    /// snapshot says they had before access was first removed.
    fn plan(&self, action: Action, person: &Person, now: &Holdings, before: &Holdings)
        -> Vec<Step>;

    /// Carries out one step this target planned.
    fn apply<'a>(
        &'a self,
        step: &'a Step,
        job: &'a JobContext,
    ) -> BoxFuture<'a, Result<Outcome, TargetError>>;
}

/// An HTTP client for targets: timeouts on every request, no redirects (they would carry
/// credentials elsewhere), rustls.
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, reqwest::Error> {
    crate::net::http_client(timeout, timeout, crate::net::USER_AGENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::GroupRef;

    #[test]
    fn a_step_planned_twice_has_the_same_id() {
        let step = |label: &str| Step {
            target: "okta".into(),
            op: Op::RemoveMembership,
            object: "00g1".into(),
            label: label.into(),
        };
        assert_eq!(step("Engineering").id(), "okta/remove_membership/00g1");
        assert_eq!(step("Engineering").id(), step("renamed").id());
    }

    #[test]
    fn only_throttling_timeouts_and_server_errors_are_worth_a_retry() {
        for (status, transient) in [(500, true), (503, true), (429, true), (408, true)] {
            assert_eq!(
                TargetError::from_status("t", status, String::new()).is_transient(),
                transient
            );
        }
        for status in [400, 401, 403, 404, 409] {
            assert!(!TargetError::from_status("t", status, String::new()).is_transient());
        }
    }

    #[tokio::test]
    async fn a_transport_error_never_repeats_the_url() {
        let http = http_client(std::time::Duration::from_millis(500)).unwrap();
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let err = http
            .post("http://127.0.0.1:9/hook?token=s3cr3t-in-url")
            .send()
            .await
            .unwrap_err();
        let e = TargetError::transport("webhook:x", &err);
        assert!(e.is_transient());
        let text = e.to_string();
        assert!(text.starts_with("webhook:x: could not connect"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn holdings_round_trip_and_omit_what_is_empty() {
        let h = Holdings {
            groups: vec![GroupRef {
                id: "00g1".into(),
                name: "VPN".into(),
            }],
            account: None,
        };
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(text, r#"{"groups":[{"id":"00g1","name":"VPN"}]}"#);
        assert_eq!(serde_json::from_str::<Holdings>(&text).unwrap(), h);
        assert_eq!(
            serde_json::from_str::<Holdings>("{}").unwrap(),
            Holdings::default()
        );
    }

    #[test]
    fn a_step_is_read_back_from_its_id_and_nothing_else_is() {
        for (target, op, object) in [
            ("okta", Op::RemoveMembership, "00g1abc"),
            ("scim:demo-app", Op::DeactivateAccount, "2819c223-7f76"),
            ("webhook:internal", Op::Notify, "00u1"),
        ] {
            let step = Step {
                target: target.into(),
                op,
                object: object.into(),
                label: "Engineering".into(),
            };
            let back = Step::from_id(&step.id()).expect("an id reads back");
            assert_eq!(
                (back.target, back.op, back.object),
                (step.target, step.op, step.object)
            );
            assert_eq!(back.label, "", "an id holds no label");
        }
        for not_an_id in ["", "okta", "okta/remove_membership", "okta/fly/00g1"] {
            assert_eq!(Step::from_id(not_an_id), None, "{not_an_id:?}");
        }
    }
}
