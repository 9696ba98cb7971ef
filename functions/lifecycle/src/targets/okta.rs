//! Okta itself: the memberships Okta keeps after a deactivation, and sessions.
//!
//! | op | Okta answer | outcome |
//! |---|---|---|
//! | remove_membership | 204 | done (Okta answers 204 also when the user was no member) |
//! | remove_membership | 404 | already: the group or the user is gone |
//! | add_membership | 204 | done |
//! | add_membership | 404 | skipped: the group (or user) no longer exists |
//! | end_sessions | 204 | done |
//! | end_sessions | 404 | already: the user is gone, and their sessions with them |
//!
//! Only `OKTA_GROUP` memberships are touched: Everyone (`BUILT_IN`) holds every user and
//! `APP_GROUP` memberships belong to a directory or an app, so the API refuses both.

use super::{BoxFuture, JobContext, Op, Outcome, Step, Target, TargetError};

use crate::domain::{Action, GroupRef, Holdings, Person};
use crate::okta::{Change, ErrorClass, OktaClient, OktaError};

const NAME: &str = "okta";

/// Okta group memberships and sessions, through the Okta API client.
#[derive(Debug, Clone)]
pub struct OktaTarget {
    client: OktaClient,
    revoke_oauth_tokens: bool,
    restore_groups: bool,
}

impl OktaTarget {
    /// `revoke_oauth_tokens` also revokes the OAuth tokens Okta issued to the person when
    /// sessions are ended; `restore_groups` puts memberships back on restore.
    pub fn new(client: OktaClient, revoke_oauth_tokens: bool, restore_groups: bool) -> Self {
        Self {
            client,
            revoke_oauth_tokens,
            restore_groups,
        }
    }
}

/// How long a job waits before looking at Okta again after it answered 5xx or nothing
/// (up to the engine's deferral bound: minutes of outage fail no job).
const OUTAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

fn error(e: OktaError) -> TargetError {
    with_detail(e.to_string(), &e)
}

/// A failed read of the user (or of a login) before anything was touched.
pub(crate) fn read_failure(what: &str, e: OktaError) -> TargetError {
    with_detail(
        format!("Okta {what} read failed, nothing was touched: {e}"),
        &e,
    )
}

fn with_detail(detail: String, e: &OktaError) -> TargetError {
    let target = NAME.to_owned();
    if e.is_credentials_refused() {
        return TargetError::Refused { target, detail };
    }
    match e.class() {
        ErrorClass::Throttled { retry_after } => TargetError::Throttled {
            target,
            detail,
            retry_after,
        },
        // Okta is what every job reads first: when it fails, it fails for all of them.
        ErrorClass::Transient => TargetError::Unavailable {
            target,
            detail,
            retry_after: OUTAGE_WAIT,
        },
        ErrorClass::Permanent => TargetError::Permanent { target, detail },
    }
}

impl Target for OktaTarget {
    fn name(&self) -> &str {
        NAME
    }

    fn inspect<'a>(
        &'a self,
        person: &'a Person,
        _known: Option<&'a Holdings>,
    ) -> BoxFuture<'a, Result<Holdings, TargetError>> {
        Box::pin(async move {
            let groups = self
                .client
                .user_groups(&person.id)
                .await
                .map_err(error)?
                .unwrap_or_default();
            Ok(Holdings {
                groups: groups
                    .into_iter()
                    .filter(|g| g.is_managed())
                    .map(|g| GroupRef {
                        id: g.id,
                        name: g.name,
                    })
                    .collect(),
                account: None,
            })
        })
    }

    fn plan(
        &self,
        action: Action,
        person: &Person,
        now: &Holdings,
        before: &Holdings,
    ) -> Vec<Step> {
        let step = |op: Op, object: &str, label: &str| Step {
            target: NAME.into(),
            op,
            object: object.into(),
            label: label.into(),
        };
        let sessions = || {
            step(
                Op::EndSessions,
                person.id.as_str(),
                person.login.as_deref().unwrap_or(""),
            )
        };
        match action {
            Action::Deprovision | Action::Delete => now
                .groups
                .iter()
                .map(|g| step(Op::RemoveMembership, &g.id, &g.name))
                .chain(std::iter::once(sessions()))
                .collect(),
            // A suspension is temporary: groups stay, sign-in ends.
            Action::Disable => vec![sessions()],
            Action::Restore if self.restore_groups => before
                .groups
                .iter()
                .filter(|g| !now.groups.iter().any(|n| n.id == g.id))
                .map(|g| step(Op::AddMembership, &g.id, &g.name))
                .collect(),
            Action::Restore => Vec::new(),
        }
    }

    fn apply<'a>(
        &'a self,
        step: &'a Step,
        job: &'a JobContext,
    ) -> BoxFuture<'a, Result<Outcome, TargetError>> {
        Box::pin(async move {
            let user = &job.person.id;
            let change = match step.op {
                Op::RemoveMembership => self.client.remove_group_member(&step.object, user).await,
                Op::AddMembership => self.client.add_group_member(&step.object, user).await,
                Op::EndSessions => {
                    self.client
                        .clear_sessions(user, self.revoke_oauth_tokens)
                        .await
                }
                other => {
                    return Err(TargetError::Permanent {
                        target: NAME.into(),
                        detail: format!("cannot {}", other.as_str()),
                    })
                }
            }
            .map_err(error)?;
            Ok(match (step.op, change) {
                (_, Change::Done) => Outcome::Done,
                (_, Change::AlreadySo) => Outcome::AlreadySo("already so in Okta".into()),
                (Op::AddMembership, Change::NotFound) => {
                    Outcome::Skipped("the group or the user no longer exists".into())
                }
                (Op::RemoveMembership, Change::NotFound) => {
                    Outcome::AlreadySo("the group or the user no longer exists".into())
                }
                (_, Change::NotFound) => Outcome::AlreadySo("the user no longer exists".into()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use crate::okta::{ClientOptions, OktaCredentials};
    use crate::secrets::Secret;

    fn target(restore_groups: bool) -> OktaTarget {
        let client = OktaClient::new(
            "http://127.0.0.1:1",
            OktaCredentials::Ssws(Secret::new("t")),
            ClientOptions::default(),
        )
        .unwrap();
        OktaTarget::new(client, true, restore_groups)
    }

    fn holdings(ids: &[&str]) -> Holdings {
        Holdings {
            groups: ids
                .iter()
                .map(|id| GroupRef {
                    id: (*id).into(),
                    name: format!("group {id}"),
                })
                .collect(),
            account: None,
        }
    }

    fn ops(steps: &[Step]) -> Vec<String> {
        steps.iter().map(Step::id).collect()
    }

    #[test]
    fn each_action_plans_what_it_should() {
        let person = Person {
            id: UserId::parse("00u1").unwrap(),
            login: Some("a@example.com".into()),
        };
        let now = holdings(&["g1", "g3"]);
        let before = holdings(&["g1", "g2"]);
        let t = target(true);
        assert_eq!(
            ops(&t.plan(Action::Deprovision, &person, &now, &before)),
            [
                "okta/remove_membership/g1",
                "okta/remove_membership/g3",
                "okta/end_sessions/00u1"
            ],
            "removes what the person has now, then ends sessions"
        );
        assert_eq!(
            ops(&t.plan(Action::Disable, &person, &now, &before)),
            ["okta/end_sessions/00u1"],
            "a suspension keeps the groups"
        );
        assert_eq!(
            ops(&t.plan(Action::Restore, &person, &now, &before)),
            ["okta/add_membership/g2"],
            "restores what the snapshot had and the person lacks"
        );
        assert!(target(false)
            .plan(Action::Restore, &person, &now, &before)
            .is_empty());
    }
}
