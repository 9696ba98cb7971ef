//! The sync's plan: the file's rows against what Okta holds, person by person, and the
//! provisioning actions that would carry each out. Pure: the caller reads Okta first.
//!
//! Rules, each a row of the table tests:
//!
//! - The profile diff is [`plan_sync`]'s (login immutable, a login differing only in
//!   case refused, e-mail unique across the org, only what differs is sent).
//! - `groups` makes the person's memberships among the managed groups (those whose name
//!   starts with the prefix) exactly the row's; other groups are never touched. A row
//!   naming a group outside the prefix, or one Okta does not have, is a `conflict`.
//! - `suspended` and `terminated` rows suspend and deactivate (`DEPROVISION_IDENTITY`);
//!   their profile and groups are left alone. An `active` row for someone Okta has shut
//!   out is a `conflict`: bringing people back is `RESTORE_IDENTITY`, done deliberately.
//! - A person in conflict gets no action at all, never half of one.
//! - A row the input refused is a `conflict` with its reason, so its person is never
//!   taken for `missing`. `missing` people are deprovisioned only with
//!   `deprovision_missing`, and not even then while some refused row has no readable
//!   login (it might be theirs).

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::guards::{Limits, Overrides};
use super::input::{HrStatus, Parsed, Row, RowError};
use crate::actions::plan::{plan_groups, plan_sync, Existing, Holder, SyncPlan};
use crate::domain::provision::{
    ActionChange, Activation, DeprovisionMode, GroupSelector, ManageRelationships, ProvisionAction,
    SyncIdentity, UserSelector,
};
use crate::domain::UserId;
use crate::okta::{OktaGroup, UserStatus};

/// A person Okta holds in the sync's scope.
#[derive(Debug, Clone, PartialEq)]
pub struct OktaPerson {
    /// Okta id.
    pub id: UserId,
    /// `profile.login`.
    pub login: String,
    /// Okta's status.
    pub status: UserStatus,
    /// The whole profile.
    pub profile: Map<String, Value>,
    /// The names of their groups among the managed ones.
    pub groups: Vec<String>,
}

/// What the plan knows of Okta.
#[derive(Debug, Clone, Copy)]
pub struct OktaView<'a> {
    /// Everyone in scope.
    pub people: &'a [OktaPerson],
    /// Who holds each e-mail across the whole org, by lowercase e-mail.
    pub email_holders: &'a BTreeMap<String, Vec<Holder>>,
    /// The managed groups as Okta has them (name, id, type).
    pub groups: &'a [OktaGroup],
}

/// How the sync is set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// The groups the sync may add and remove: those whose name starts with this
    /// (case-sensitive). `None`: it manages no groups.
    pub manage_groups_prefix: Option<String>,
    /// Deprovision people in scope who are missing from the file.
    pub deprovision_missing: bool,
    /// The guards' thresholds.
    pub limits: Limits,
    /// The guards the operator overrides.
    pub overrides: Overrides,
}

/// What the plan does with one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create the user (and put them in their groups).
    Create,
    /// Update their profile (and maybe their groups).
    Update,
    /// Change their groups only.
    Groups,
    /// Suspend them.
    Suspend,
    /// Deactivate them.
    Deprovision,
    /// Nothing differs.
    Unchanged,
    /// The row cannot be carried out; `reason` says why.
    Conflict,
    /// In scope in Okta, not in the file.
    Missing,
}

impl Op {
    /// Every op, in the order totals list them.
    pub const ALL: [Op; 8] = [
        Op::Create,
        Op::Update,
        Op::Groups,
        Op::Suspend,
        Op::Deprovision,
        Op::Unchanged,
        Op::Conflict,
        Op::Missing,
    ];
}

/// One person's line of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The file's line; `None` for `missing`.
    pub line: Option<usize>,
    /// The login, when known (a row refused for its login has none).
    pub login: Option<String>,
    /// What is done.
    pub op: Op,
    /// What would change: fields before → after, groups, status.
    pub changes: Vec<ActionChange>,
    /// Why, for conflicts and for what is left alone.
    pub reason: Option<String>,
    /// The provisioning actions that carry it out, in order.
    pub actions: Vec<ProvisionAction>,
}

impl Entry {
    fn new(line: Option<usize>, login: Option<String>, op: Op) -> Self {
        Self {
            line,
            login,
            op,
            changes: Vec::new(),
            reason: None,
            actions: Vec::new(),
        }
    }

    fn conflict(line: usize, login: &str, reason: String) -> Self {
        Self {
            reason: Some(reason),
            ..Self::new(Some(line), Some(login.to_owned()), Op::Conflict)
        }
    }

    /// Whether it removes someone's access (what the deprovision guard counts).
    pub fn removes_access(&self) -> bool {
        self.actions.iter().any(ProvisionAction::removes_access)
    }
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The file's digest.
    pub digest: String,
    /// Rows of the file, good and bad.
    pub file_rows: usize,
    /// Per person: file order, then `missing` by login.
    pub entries: Vec<Entry>,
}

impl Plan {
    /// How many people each op has (every op listed, zeros too).
    pub fn totals(&self) -> BTreeMap<Op, usize> {
        let mut totals: BTreeMap<Op, usize> = Op::ALL.iter().map(|op| (*op, 0)).collect();
        for entry in &self.entries {
            *totals.entry(entry.op).or_default() += 1;
        }
        totals
    }

    /// How many people it would suspend or deactivate.
    pub fn deprovisions(&self) -> usize {
        self.entries.iter().filter(|e| e.removes_access()).count()
    }

    /// Every action, in order.
    pub fn actions(&self) -> impl Iterator<Item = &ProvisionAction> {
        self.entries.iter().flat_map(|e| &e.actions)
    }
}

/// Plans the file against Okta.
pub fn plan(parsed: &Parsed, okta: OktaView<'_>, settings: &Settings) -> Plan {
    let by_login: BTreeMap<String, &OktaPerson> = okta
        .people
        .iter()
        .map(|p| (p.login.to_lowercase(), p))
        .collect();
    let mut lines: Vec<(usize, Entry)> = parsed
        .rows
        .iter()
        .map(|row| {
            let person = by_login.get(&row.login().to_lowercase()).copied();
            (row.line, plan_row(row, person, okta, settings))
        })
        .chain(parsed.errors.iter().map(|e| (e.line, refused(e))))
        .collect();
    lines.sort_by_key(|(line, _)| *line);
    let in_file: BTreeSet<String> = lines
        .iter()
        .filter_map(|(_, e)| e.login.as_deref())
        .map(str::to_lowercase)
        .collect();
    let unreadable = parsed.errors.iter().find(|e| e.login.is_none());
    let mut missing: Vec<Entry> = okta
        .people
        .iter()
        .filter(|p| !in_file.contains(&p.login.to_lowercase()))
        .map(|p| plan_missing(p, settings, unreadable))
        .collect();
    missing.sort_by(|a, b| a.login.cmp(&b.login));
    Plan {
        digest: parsed.digest.clone(),
        file_rows: parsed.records(),
        entries: lines.into_iter().map(|(_, e)| e).chain(missing).collect(),
    }
}

fn refused(error: &RowError) -> Entry {
    Entry {
        reason: Some(error.reason.clone()),
        ..Entry::new(Some(error.line), error.login.clone(), Op::Conflict)
    }
}

fn plan_missing(person: &OktaPerson, settings: &Settings, unreadable: Option<&RowError>) -> Entry {
    let mut entry = Entry::new(None, Some(person.login.clone()), Op::Missing);
    if person.status == UserStatus::Deprovisioned {
        entry.reason = Some("already deactivated in Okta".into());
    } else if !settings.deprovision_missing {
        entry.reason = Some("not in the file; left alone without --deprovision-missing".into());
    } else if let Some(error) = unreadable {
        entry.reason = Some(format!(
            "not deprovisioned: line {} has no readable login and may be this person",
            error.line
        ));
    } else {
        entry
            .changes
            .push(status_change(&person.status, "DEPROVISIONED"));
        entry
            .actions
            .push(deprovision(&person.id, DeprovisionMode::Deactivate));
    }
    entry
}

fn status_change(before: &UserStatus, after: &str) -> ActionChange {
    ActionChange::Status {
        before: before.as_str().to_owned(),
        after: after.to_owned(),
    }
}

fn deprovision(id: &UserId, mode: DeprovisionMode) -> ProvisionAction {
    ProvisionAction::DeprovisionIdentity {
        user: UserSelector::Id(id.clone()),
        mode,
    }
}

fn plan_row(
    row: &Row,
    person: Option<&OktaPerson>,
    okta: OktaView<'_>,
    settings: &Settings,
) -> Entry {
    match (row.status, person) {
        (HrStatus::Active, _) => plan_active(row, person, okta, settings),
        (status, None) => Entry {
            reason: Some(format!(
                "{status:?} in the file and not in Okta: nothing to do"
            )),
            ..Entry::new(Some(row.line), Some(row.login().to_owned()), Op::Unchanged)
        },
        (HrStatus::Suspended, Some(p)) => shut_out(row, p, Op::Suspend),
        (HrStatus::Terminated, Some(p)) => shut_out(row, p, Op::Deprovision),
    }
}

/// A `suspended` or `terminated` row for someone Okta has.
fn shut_out(row: &Row, person: &OktaPerson, op: Op) -> Entry {
    let (mode, after) = match op {
        Op::Suspend => (DeprovisionMode::Suspend, UserStatus::Suspended),
        _ => (DeprovisionMode::Deactivate, UserStatus::Deprovisioned),
    };
    let mut entry = Entry::new(Some(row.line), Some(row.login().to_owned()), op);
    if person.status == after {
        entry.op = Op::Unchanged;
    } else if op == Op::Suspend && person.status == UserStatus::Deprovisioned {
        return Entry::conflict(
            row.line,
            row.login(),
            "suspended in the file but deactivated in Okta: Okta cannot suspend a \
             deactivated user; restore them first (RESTORE_IDENTITY) if that is meant"
                .into(),
        );
    } else {
        entry
            .changes
            .push(status_change(&person.status, after.as_str()));
        entry.actions.push(deprovision(&person.id, mode));
    }
    entry
}

fn plan_active(
    row: &Row,
    person: Option<&OktaPerson>,
    okta: OktaView<'_>,
    settings: &Settings,
) -> Entry {
    let conflict = |reason: String| Entry::conflict(row.line, row.login(), reason);
    if let Some(p) = person.filter(|p| p.status.is_shut_out()) {
        return conflict(format!(
            "active in the file but {} in Okta: bringing someone back is RESTORE_IDENTITY, \
             done deliberately, not by a sync",
            p.status.as_str()
        ));
    }
    let request = SyncIdentity {
        profile: row.profile.clone(),
        create: true,
        update: true,
        activation: Activation::Activate,
    };
    let existing = person.map(|p| Existing {
        id: &p.id,
        login: &p.login,
        profile: &p.profile,
    });
    let holders = okta
        .email_holders
        .get(&row.email().to_lowercase())
        .map_or(&[][..], Vec::as_slice);
    let sync = plan_sync(&request, existing, holders);
    let groups = match plan_membership(row, person, okta.groups, settings) {
        Ok(groups) => groups,
        Err(reason) => return conflict(reason),
    };
    // What was reviewed is what runs: a planned create never updates someone (a login
    // taken meanwhile is then left alone), a planned update never creates.
    let sync_action = |create, update| {
        vec![ProvisionAction::SyncIdentities(SyncIdentity {
            create,
            update,
            ..request.clone()
        })]
    };
    let (op, mut changes, mut actions) = match sync {
        SyncPlan::Refused(reason) => return conflict(reason),
        SyncPlan::Create { changes, .. } => (Op::Create, changes, sync_action(true, false)),
        SyncPlan::Update { changes, .. } => (Op::Update, changes, sync_action(false, true)),
        SyncPlan::Unchanged { .. } => (Op::Unchanged, Vec::new(), Vec::new()),
    };
    let op = match groups {
        Some((group_changes, action)) => {
            changes.extend(group_changes);
            actions.push(action);
            if op == Op::Unchanged {
                Op::Groups
            } else {
                op
            }
        }
        None => op,
    };
    Entry {
        changes,
        actions,
        ..Entry::new(Some(row.line), Some(row.login().to_owned()), op)
    }
}

/// The row's memberships among the managed groups: `None` when nothing changes, the
/// changes and their `MANAGE_RELATIONSHIPS` otherwise, or why the row cannot have them.
fn plan_membership(
    row: &Row,
    person: Option<&OktaPerson>,
    managed: &[OktaGroup],
    settings: &Settings,
) -> Result<Option<(Vec<ActionChange>, ProvisionAction)>, String> {
    let Some(wanted) = &row.groups else {
        return Ok(None);
    };
    let prefix = settings.manage_groups_prefix.as_deref();
    let find = |name: &str| -> Result<OktaGroup, String> {
        match prefix {
            None => Err(format!(
                "group {name} is named but the sync manages no groups (no --manage-groups)"
            )),
            Some(p) if !name.starts_with(p) => Err(format!(
                "group {name} is not managed by the sync (its groups start with {p:?})"
            )),
            Some(_) => managed
                .iter()
                .find(|g| g.name == name)
                .cloned()
                .ok_or_else(|| format!("group {name} does not exist in Okta")),
        }
    };
    let add = wanted
        .iter()
        .map(|n| find(n))
        .collect::<Result<Vec<_>, _>>()?;
    let current: Vec<OktaGroup> = person
        .map(|p| p.groups.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|n| prefix.is_some_and(|p| n.starts_with(p)))
        .filter_map(|n| managed.iter().find(|g| &g.name == n).cloned())
        .collect();
    let remove: Vec<OktaGroup> = current
        .iter()
        .filter(|g| !wanted.contains(&g.name))
        .cloned()
        .collect();
    let groups = plan_groups(&current, &add, &remove, None)?;
    if groups.add.is_empty() && groups.remove.is_empty() {
        return Ok(None);
    }
    let selectors = |list: &[OktaGroup]| -> Vec<GroupSelector> {
        list.iter()
            .map(|g| GroupSelector::Id(g.id.clone()))
            .collect()
    };
    let user = match person {
        Some(p) => UserSelector::Id(p.id.clone()),
        None => UserSelector::Login(row.login().to_owned()),
    };
    let action = ProvisionAction::ManageRelationships(ManageRelationships {
        user,
        add: selectors(&groups.add),
        remove: selectors(&groups.remove),
        exactly: None,
    });
    Ok(Some((groups.changes(), action)))
}
