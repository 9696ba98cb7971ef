//! The engine's pure decisions, apart from the I/O that carries them out: which snapshot
//! a run works against, and the plan it records. Each is a function of what was read,
//! so each is a table test.

use crate::domain::{Action, Holdings, Person, Snapshot, UserState};
use crate::targets::{Step, Target};

/// What a run takes as "what the person had before access was first removed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Baseline {
    /// The stored snapshot still counts: kept from the first removal.
    Kept(Snapshot),
    /// A restore with no snapshot: there is nothing to give back.
    Nothing,
    /// A dry run with no snapshot: plan against what the person holds now, store nothing.
    Current,
    /// Store what the person holds now, in place of the snapshot `replacing` took (an
    /// earlier departure that was never restored), if any.
    Take {
        /// The job whose snapshot is replaced.
        replacing: Option<String>,
    },
}

/// The snapshot is what a restore gives back: kept from the first removal, unless it
/// belongs to an earlier departure that was never restored.
pub(super) fn baseline(
    state: &UserState,
    action: Action,
    episode: &str,
    dry_run: bool,
) -> Baseline {
    let kept = state
        .snapshot
        .clone()
        .filter(|_| action == Action::Restore || !state.snapshot_outdated(episode));
    match (kept, action) {
        (Some(snapshot), _) => Baseline::Kept(snapshot),
        (None, Action::Restore) => Baseline::Nothing,
        (None, _) if dry_run => Baseline::Current,
        (None, _) => Baseline::Take {
            replacing: state.snapshot.as_ref().and(state.snapshot_job.clone()),
        },
    }
}

/// Every target's steps for `action`, in the order of the targets.
pub(super) fn plan<'t>(
    targets: &'t [Box<dyn Target>],
    action: Action,
    person: &Person,
    now: &Snapshot,
    before: &Snapshot,
) -> Vec<(&'t dyn Target, Step)> {
    let empty = Holdings::default();
    targets
        .iter()
        .flat_map(|t| {
            let name = t.name();
            t.plan(
                action,
                person,
                now.get(name).unwrap_or(&empty),
                before.get(name).unwrap_or(&empty),
            )
            .into_iter()
            .map(move |s| (t.as_ref(), s))
        })
        .collect()
}

/// The plan as the job and the audit trail record it: each step's id, with its label.
pub(super) fn plan_lines<'a>(steps: impl IntoIterator<Item = &'a Step>) -> Vec<String> {
    steps
        .into_iter()
        .map(|s| match s.label.as_str() {
            "" => s.id(),
            label => format!("{} ({label})", s.id()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::GroupRef;
    use crate::targets::Op;

    fn snapshot(group: &str) -> Snapshot {
        let holdings = Holdings {
            groups: vec![GroupRef {
                id: group.into(),
                name: group.into(),
            }],
            account: None,
        };
        [("okta".to_string(), holdings)].into_iter().collect()
    }

    /// A user deprovisioned in episode `t1` by `JOB#1`, snapshot taken by `snapshot_job`.
    fn left(applied: Action, snapshot_job: &str) -> UserState {
        UserState {
            applied: Some(applied),
            episode: Some("t1".into()),
            snapshot: Some(snapshot("g1")),
            snapshot_job: Some(snapshot_job.into()),
            last_job: Some("JOB#1".into()),
            ..UserState::default()
        }
    }

    #[test]
    fn the_baseline_table_holds() {
        let take_new = Baseline::Take { replacing: None };
        let rows: Vec<(&str, UserState, Action, &str, bool, Baseline)> = vec![
            (
                "a first departure takes a snapshot",
                UserState::default(),
                Action::Deprovision,
                "t1",
                false,
                take_new.clone(),
            ),
            (
                "a first departure in a dry run plans against what is held now",
                UserState::default(),
                Action::Deprovision,
                "t1",
                true,
                Baseline::Current,
            ),
            (
                "a restore without a snapshot gives nothing back",
                UserState::default(),
                Action::Restore,
                "t2",
                false,
                Baseline::Nothing,
            ),
            (
                "a retry of the same departure keeps its snapshot",
                left(Action::Deprovision, "JOB#1"),
                Action::Deprovision,
                "t1",
                false,
                Baseline::Kept(snapshot("g1")),
            ),
            (
                "a restore gives back the snapshot, even of an earlier episode",
                left(Action::Deprovision, "JOB#1"),
                Action::Restore,
                "t2",
                false,
                Baseline::Kept(snapshot("g1")),
            ),
            (
                "a second departure after an unrestored return replaces the old snapshot",
                left(Action::Deprovision, "JOB#1"),
                Action::Deprovision,
                "t2",
                false,
                Baseline::Take {
                    replacing: Some("JOB#1".into()),
                },
            ),
            (
                "a second departure after an unrestored return, in a dry run, plans against now",
                left(Action::Deprovision, "JOB#1"),
                Action::Deprovision,
                "t2",
                true,
                Baseline::Current,
            ),
            (
                "a snapshot taken by a job still under way stays",
                left(Action::Deprovision, "JOB#2"),
                Action::Deprovision,
                "t2",
                false,
                Baseline::Kept(snapshot("g1")),
            ),
            (
                "a suspension's snapshot stays for the deactivation that follows",
                left(Action::Disable, "JOB#1"),
                Action::Deprovision,
                "t2",
                false,
                Baseline::Kept(snapshot("g1")),
            ),
        ];
        for (name, state, action, episode, dry_run, want) in rows {
            assert_eq!(baseline(&state, action, episode, dry_run), want, "{name}");
        }
    }

    #[test]
    fn plan_lines_name_each_step_and_its_label() {
        let step = |object: &str, label: &str| Step {
            target: "okta".into(),
            op: Op::RemoveMembership,
            object: object.into(),
            label: label.into(),
        };
        assert_eq!(
            plan_lines(&[step("00g1", "Engineering"), step("00u1", "")]),
            [
                "okta/remove_membership/00g1 (Engineering)",
                "okta/remove_membership/00u1"
            ]
        );
    }
}
