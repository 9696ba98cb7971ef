//! What each event type does, given what Okta says now and what was already applied.
//!
//! | event | Okta now | already applied | decision |
//! |---|---|---|---|
//! | deactivate | DEPROVISIONED or deleted | deprovision/delete for this `statusChanged` | skipped |
//! | deactivate | DEPROVISIONED or deleted | otherwise | deprovision |
//! | delete.initiated | DEPROVISIONED or deleted | access already removed | skipped (delete, if `DELETE_IN_TARGETS`) |
//! | delete.initiated | DEPROVISIONED or deleted | otherwise | deprovision (delete, if `DELETE_IN_TARGETS`) |
//! | suspend | SUSPENDED | disable for this `statusChanged` | skipped |
//! | suspend | SUSPENDED | otherwise | disable |
//! | unsuspend, activate, reactivate | active in any form | access removed by us | restore |
//! | unsuspend, activate, reactivate | active in any form | nothing removed | skipped |
//! | any | anything else | – | stale: the event is no longer true |
//! | any | – | a newer event was applied | stale |

use crate::clock::Timestamp;
use crate::domain::Action;
use crate::domain::EventType;
use crate::okta::UserStatus;

use crate::domain::UserState;

/// Deployment choices about what events do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// On `delete.initiated`, delete application accounts instead of deactivating them.
    pub delete_in_targets: bool,
}

/// What Okta says about the user, read just before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OktaView {
    /// The user exists.
    Present {
        /// Lifecycle status.
        status: UserStatus,
        /// `statusChanged`.
        status_changed: Option<String>,
    },
    /// Okta answered 404: the user was deleted.
    Gone,
}

impl OktaView {
    /// Identifies the status change the user is in, so two jobs for one deactivation
    /// (hook and sweep) are recognised as one.
    pub fn episode(&self) -> String {
        match self {
            OktaView::Present { status_changed, .. } => {
                status_changed.clone().unwrap_or_else(|| "unknown".into())
            }
            OktaView::Gone => "gone".into(),
        }
    }

    fn status_name(&self) -> String {
        match self {
            OktaView::Present { status, .. } => format!("{status:?}").to_uppercase(),
            OktaView::Gone => "deleted".into(),
        }
    }
}

/// The engine's decision for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Carry out this action.
    Run(Action),
    /// The event no longer describes the user; change nothing.
    Stale(String),
    /// Nothing to do.
    Skip(String),
}

impl Policy {
    /// Decides what a job for `event` published at `published` does. Pure: every input is
    /// read before, every effect happens after.
    pub fn decide(
        &self,
        event: &EventType,
        published: &Timestamp,
        state: &UserState,
        okta: &OktaView,
    ) -> Decision {
        if let Some(last) = &state.last_event_published {
            if published < last {
                return Decision::Stale(format!("a newer event ({last}) was already applied"));
            }
        }
        let same_episode = state.episode.as_deref() == Some(okta.episode().as_str());
        let deprovisioned = matches!(
            okta,
            OktaView::Gone
                | OktaView::Present {
                    status: UserStatus::Deprovisioned,
                    ..
                }
        );
        let stale = || Decision::Stale(format!("the user is {} in Okta now", okta.status_name()));
        match event {
            EventType::Deactivate if deprovisioned => {
                if state.access_removed() && state.applied != Some(Action::Disable) && same_episode
                {
                    Decision::Skip("already deprovisioned for this deactivation".into())
                } else {
                    Decision::Run(Action::Deprovision)
                }
            }
            EventType::DeleteInitiated if deprovisioned => {
                let wanted = if self.delete_in_targets {
                    Action::Delete
                } else {
                    Action::Deprovision
                };
                let done = match wanted {
                    Action::Delete => state.applied == Some(Action::Delete),
                    _ => state.access_removed() && state.applied != Some(Action::Disable),
                };
                if done {
                    Decision::Skip("already deprovisioned".into())
                } else {
                    Decision::Run(wanted)
                }
            }
            EventType::Suspend => match okta {
                OktaView::Present {
                    status: UserStatus::Suspended,
                    ..
                } => {
                    if state.applied == Some(Action::Disable) && same_episode {
                        Decision::Skip("already disabled for this suspension".into())
                    } else {
                        Decision::Run(Action::Disable)
                    }
                }
                _ => stale(),
            },
            EventType::Unsuspend | EventType::Activate | EventType::Reactivate => match okta {
                OktaView::Present { status, .. } if !status.is_shut_out() => {
                    if state.access_removed() || state.snapshot.is_some() {
                        Decision::Run(Action::Restore)
                    } else {
                        Decision::Skip("nothing to restore: no access was removed".into())
                    }
                }
                _ => stale(),
            },
            EventType::Deactivate | EventType::DeleteInitiated => stale(),
            EventType::Other(name) => Decision::Skip(format!("{name} is not acted on")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }
    const T1: &str = "2026-11-23T10:00:00.000Z";
    const T2: &str = "2026-11-23T11:00:00.000Z";

    fn present(status: UserStatus, changed: &str) -> OktaView {
        OktaView::Present {
            status,
            status_changed: Some(changed.into()),
        }
    }

    fn applied(action: Action, episode: &str, published: &str) -> UserState {
        UserState {
            applied: Some(action),
            episode: Some(episode.into()),
            last_event_published: Some(t(published)),
            ..UserState::default()
        }
    }

    #[test]
    fn the_decision_table_holds() {
        use Decision::*;
        use EventType::*;
        use UserStatus::{Active, Deprovisioned, Suspended as Susp};
        let none = UserState::default();
        let deprov = applied(Action::Deprovision, T1, T1);
        let disabled = applied(Action::Disable, T1, T1);
        let p = Policy::default();
        let d = Policy {
            delete_in_targets: true,
        };
        let cases: Vec<(&Policy, EventType, &UserState, OktaView, Decision)> = vec![
            (
                &p,
                Deactivate,
                &none,
                present(Deprovisioned, T1),
                Run(Action::Deprovision),
            ),
            (
                &p,
                Deactivate,
                &none,
                OktaView::Gone,
                Run(Action::Deprovision),
            ),
            (
                &p,
                Deactivate,
                &deprov,
                present(Deprovisioned, T1),
                Skip("already deprovisioned for this deactivation".into()),
            ),
            // Deprovisioned again after a reactivation the engine never heard of: act again.
            (
                &p,
                Deactivate,
                &deprov,
                present(Deprovisioned, T2),
                Run(Action::Deprovision),
            ),
            (
                &p,
                Deactivate,
                &disabled,
                present(Deprovisioned, T1),
                Run(Action::Deprovision),
            ),
            (
                &p,
                Deactivate,
                &none,
                present(Active, T2),
                Stale("the user is ACTIVE in Okta now".into()),
            ),
            (
                &p,
                DeleteInitiated,
                &deprov,
                OktaView::Gone,
                Skip("already deprovisioned".into()),
            ),
            (
                &d,
                DeleteInitiated,
                &deprov,
                OktaView::Gone,
                Run(Action::Delete),
            ),
            (
                &p,
                DeleteInitiated,
                &none,
                OktaView::Gone,
                Run(Action::Deprovision),
            ),
            (
                &d,
                DeleteInitiated,
                &none,
                present(Deprovisioned, T1),
                Run(Action::Delete),
            ),
            (
                &p,
                DeleteInitiated,
                &none,
                present(Active, T1),
                Stale("the user is ACTIVE in Okta now".into()),
            ),
            (&p, Suspend, &none, present(Susp, T1), Run(Action::Disable)),
            (
                &p,
                Suspend,
                &disabled,
                present(Susp, T1),
                Skip("already disabled for this suspension".into()),
            ),
            (
                &p,
                Suspend,
                &none,
                present(Active, T1),
                Stale("the user is ACTIVE in Okta now".into()),
            ),
            (
                &p,
                Unsuspend,
                &disabled,
                present(Active, T2),
                Run(Action::Restore),
            ),
            (
                &p,
                Activate,
                &deprov,
                present(Active, T2),
                Run(Action::Restore),
            ),
            (
                &p,
                Reactivate,
                &deprov,
                present(UserStatus::Provisioned, T2),
                Run(Action::Restore),
            ),
            (
                &p,
                Activate,
                &none,
                present(Active, T2),
                Skip("nothing to restore: no access was removed".into()),
            ),
            (
                &p,
                Activate,
                &deprov,
                present(Deprovisioned, T1),
                Stale("the user is DEPROVISIONED in Okta now".into()),
            ),
            (
                &p,
                Activate,
                &deprov,
                OktaView::Gone,
                Stale("the user is deleted in Okta now".into()),
            ),
            (
                &p,
                Other("user.session.start".into()),
                &none,
                present(Active, T1),
                Skip("user.session.start is not acted on".into()),
            ),
        ];
        for (policy, event, state, okta, want) in cases {
            let published = t(T2);
            assert_eq!(
                policy.decide(&event, &published, state, &okta),
                want,
                "{event} with {state:?} and {okta:?}"
            );
        }
    }

    #[test]
    fn an_older_event_never_overrides_a_newer_one() {
        let state = applied(Action::Restore, T2, T2);
        let decision = Policy::default().decide(
            &EventType::Deactivate,
            &t(T1),
            &state,
            &present(UserStatus::Deprovisioned, T2),
        );
        assert!(matches!(decision, Decision::Stale(r) if r.contains("newer event")));
    }
}
