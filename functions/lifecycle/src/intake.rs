//! The intake path shared by the hook and the System Log poller: events in, one
//! conditional write per event (its job, whose key is the dedupe marker) out.

use std::collections::HashSet;

use serde::Serialize;

use crate::domain::{AcceptedEvent, EventType, EventUuid, IntakeContext};
use crate::okta::hook::LogEvent;
use crate::store::{IntakeStore, StoreError};

/// The split of a delivery's events before anything is written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IntakePlan {
    /// Events to write, each uuid once.
    pub accepted: Vec<AcceptedEvent>,
    /// Events of a type that is not enabled, or naming no user.
    pub ignored: usize,
    /// Repeats of a uuid earlier in the same delivery.
    pub repeated: usize,
}

/// What intake answers: how many events became jobs, were already known, or were ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IntakeSummary {
    /// New jobs created.
    pub accepted: usize,
    /// Events already recorded (earlier delivery, poller, or repeated in this one).
    pub duplicates: usize,
    /// Events acknowledged and not acted on.
    pub ignored: usize,
}

/// Splits events into those to write and those to ignore. Pure: no I/O.
pub fn plan(events: Vec<LogEvent>, enabled: &HashSet<EventType>) -> IntakePlan {
    let mut seen = HashSet::new();
    let mut plan = IntakePlan::default();
    for event in events {
        let Some(user) = event.user else {
            plan.ignored += 1;
            continue;
        };
        if !enabled.contains(&event.event_type) {
            plan.ignored += 1;
            continue;
        }
        if !seen.insert(event.uuid.clone()) {
            plan.repeated += 1;
            continue;
        }
        plan.accepted.push(AcceptedEvent {
            uuid: event.uuid,
            published: event.published,
            event_type: event.event_type,
            user,
        });
    }
    plan
}

/// Plans and writes a batch of events: the one entry point for the hook and the poller.
pub async fn intake<S: IntakeStore>(
    store: &S,
    events: Vec<LogEvent>,
    enabled: &HashSet<EventType>,
    ctx: &IntakeContext,
) -> Result<IntakeSummary, StoreError> {
    let plan = plan(events, enabled);
    let outcome = if plan.accepted.is_empty() {
        Default::default()
    } else {
        store.record_events(&plan.accepted, ctx).await?
    };
    let created: HashSet<&EventUuid> = outcome.created.iter().collect();
    for event in &plan.accepted {
        let what = if created.contains(&event.uuid) {
            "job created"
        } else {
            "duplicate event acknowledged"
        };
        tracing::info!(
            event_uuid = %event.uuid,
            user_id = %event.user.id,
            event_type = %event.event_type,
            source = ctx.source.as_str(),
            "{what}"
        );
    }
    Ok(IntakeSummary {
        accepted: outcome.created.len(),
        duplicates: outcome.duplicates.len() + plan.repeated,
        ignored: plan.ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::domain::{UserId, UserRef};

    fn event(uuid: &str, kind: &str, user: Option<&str>) -> LogEvent {
        LogEvent {
            uuid: EventUuid::parse(uuid).unwrap(),
            published: Timestamp::parse("2026-11-23T10:00:00Z").unwrap(),
            event_type: EventType::from(kind),
            user: user.map(|id| UserRef {
                id: UserId::parse(id).unwrap(),
                login: None,
                display_name: None,
            }),
        }
    }

    fn defaults() -> HashSet<EventType> {
        EventType::DEFAULT_ENABLED.into_iter().collect()
    }

    #[test]
    fn enabled_user_events_are_accepted_and_the_rest_ignored() {
        let p = plan(
            vec![
                event("e1", "user.lifecycle.deactivate", Some("00u1")),
                event("e2", "user.session.start", Some("00u1")),
                event("e3", "user.lifecycle.delete.initiated", Some("00u2")),
                event("e4", "user.lifecycle.deactivate", None),
                event("e5", "user.lifecycle.suspend", Some("00u3")),
            ],
            &defaults(),
        );
        let uuids: Vec<_> = p.accepted.iter().map(|e| e.uuid.as_str()).collect();
        assert_eq!(uuids, ["e1", "e3"]);
        assert_eq!(p.ignored, 3);
        assert_eq!(p.repeated, 0);
    }

    #[test]
    fn a_uuid_repeated_within_one_delivery_is_written_once() {
        let p = plan(
            vec![
                event("e1", "user.lifecycle.deactivate", Some("00u1")),
                event("e1", "user.lifecycle.deactivate", Some("00u1")),
            ],
            &defaults(),
        );
        assert_eq!(p.accepted.len(), 1);
        assert_eq!(p.repeated, 1);
    }

    #[test]
    fn opt_in_types_are_accepted_only_when_enabled() {
        let enabled = [EventType::Suspend].into_iter().collect();
        let p = plan(
            vec![
                event("e1", "user.lifecycle.suspend", Some("00u1")),
                event("e2", "user.lifecycle.deactivate", Some("00u1")),
            ],
            &enabled,
        );
        assert_eq!(p.accepted.len(), 1);
        assert_eq!(p.accepted[0].event_type, EventType::Suspend);
        assert_eq!(p.ignored, 1);
    }
}
