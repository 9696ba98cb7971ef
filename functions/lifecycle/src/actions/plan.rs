//! What an action would change, decided from what Okta holds now: pure functions, so the
//! rules (login immutable, e-mail unique, send only what differs, "already so" is
//! success) are each a row of a table test. The executor reads Okta, calls these, and
//! carries out the plan; a dry run stops after the plan.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::domain::provision::{ActionChange, SyncIdentity};
use crate::domain::UserId;
use crate::okta::{GroupType, OktaGroup, OktaUser};

/// The user a login names in Okta, as far as a plan needs it.
#[derive(Debug, Clone, Copy)]
pub struct Existing<'a> {
    /// Okta id.
    pub id: &'a UserId,
    /// `profile.login` as Okta holds it.
    pub login: &'a str,
    /// The whole profile.
    pub profile: &'a Map<String, Value>,
}

/// Someone who holds an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Okta id.
    pub id: UserId,
    /// Their login.
    pub login: String,
}

impl From<OktaUser> for Holder {
    fn from(user: OktaUser) -> Self {
        Self {
            id: user.id,
            login: user.login,
        }
    }
}

/// What a `SYNC_IDENTITIES` comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncPlan {
    /// Nobody has the login: create with this profile.
    Create {
        /// The profile to send, every attribute given.
        profile: Map<String, Value>,
        /// The same, as changes from nothing.
        changes: Vec<ActionChange>,
    },
    /// Partial update of these fields only (`null` clears).
    Update {
        /// The user.
        user: UserId,
        /// Only what differs.
        body: Map<String, Value>,
        /// The same, before → after.
        changes: Vec<ActionChange>,
    },
    /// Nothing differs (or updates are switched off).
    Unchanged {
        /// The user.
        user: UserId,
    },
    /// Refused: the request breaks a rule; nothing is sent.
    Refused(String),
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Plans one `SYNC_IDENTITIES`. `existing` is the user whose login equals the request's
/// ignoring case (any status); `email_holders` every user whose e-mail equals the
/// request's ignoring case (any status).
pub fn plan_sync(
    request: &SyncIdentity,
    existing: Option<Existing<'_>>,
    email_holders: &[Holder],
) -> SyncPlan {
    let login = request.login();
    let email = request
        .profile
        .get("email")
        .and_then(Option::as_deref)
        .unwrap_or_default();
    let other_holder = |except: Option<&UserId>| {
        email_holders
            .iter()
            .find(|h| Some(&h.id) != except)
            .map(|h| {
                SyncPlan::Refused(format!(
                    "e-mail {email} is already held by {} ({}); e-mails must be unique",
                    h.id, h.login
                ))
            })
    };
    let Some(user) = existing else {
        if !request.create {
            return SyncPlan::Refused(format!("no user has the login {login} and create is off"));
        }
        if let Some(refused) = other_holder(None) {
            return refused;
        }
        let mut profile = Map::new();
        let mut changes = Vec::new();
        for (field, value) in &request.profile {
            if let Some(v) = value {
                profile.insert((*field).to_owned(), Value::String(v.clone()));
                changes.push(ActionChange::Field {
                    field: (*field).to_owned(),
                    before: None,
                    after: Some(v.clone()),
                });
            }
        }
        return SyncPlan::Create { profile, changes };
    };
    if user.login != login {
        return SyncPlan::Refused(format!(
            "login {login} would change {}'s login {}: a login never changes once created",
            user.id, user.login
        ));
    }
    let mut body = Map::new();
    let mut changes = Vec::new();
    for (field, wanted) in &request.profile {
        let now = user.profile.get(*field).and_then(as_text);
        if now == *wanted {
            continue;
        }
        body.insert(
            (*field).to_owned(),
            wanted.clone().map_or(Value::Null, Value::String),
        );
        changes.push(ActionChange::Field {
            field: (*field).to_owned(),
            before: now,
            after: wanted.clone(),
        });
    }
    if body.is_empty() || !request.update {
        return SyncPlan::Unchanged {
            user: user.id.clone(),
        };
    }
    if body.contains_key("email") {
        if let Some(refused) = other_holder(Some(user.id)) {
            return refused;
        }
    }
    SyncPlan::Update {
        user: user.id.clone(),
        body,
        changes,
    }
}

/// What a `MANAGE_RELATIONSHIPS` comes to, with every group already resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupPlan {
    /// Groups to join.
    pub add: Vec<OktaGroup>,
    /// Groups to leave.
    pub remove: Vec<OktaGroup>,
    /// Asked for and already so.
    pub already: Vec<OktaGroup>,
}

impl GroupPlan {
    /// The changes, for the answer.
    pub fn changes(&self) -> Vec<ActionChange> {
        let add = self.add.iter().map(|g| ActionChange::AddGroup {
            group_id: g.id.clone(),
            name: g.name.clone(),
        });
        let remove = self.remove.iter().map(|g| ActionChange::RemoveGroup {
            group_id: g.id.clone(),
            name: g.name.clone(),
        });
        add.chain(remove).collect()
    }
}

/// Refuses a group whose memberships the API cannot write.
pub fn writable(group: &OktaGroup) -> Result<(), String> {
    match &group.kind {
        GroupType::Okta => Ok(()),
        GroupType::BuiltIn => Err(format!(
            "{} is Okta's built-in group: its members cannot be changed",
            group.name
        )),
        GroupType::App => Err(format!(
            "{} is an app group: its members come from the app or directory that imports it",
            group.name
        )),
        GroupType::Other(kind) => Err(format!(
            "{} is a group of type {kind}: only OKTA_GROUP memberships are written",
            group.name
        )),
    }
}

/// Plans one [`ManageRelationships`](crate::domain::provision::ManageRelationships): `current` is every group the user is in now;
/// `add`, `remove` and `exactly` are the request's groups, resolved in its order. With
/// `exactly`, the user leaves every other `OKTA_GROUP` (never Everyone or app groups).
pub fn plan_groups(
    current: &[OktaGroup],
    add: &[OktaGroup],
    remove: &[OktaGroup],
    exactly: Option<&[OktaGroup]>,
) -> Result<GroupPlan, String> {
    for group in add.iter().chain(remove).chain(exactly.unwrap_or_default()) {
        writable(group)?;
    }
    let member: BTreeSet<&str> = current.iter().map(|g| g.id.as_str()).collect();
    let mut plan = GroupPlan::default();
    let mut sort = |group: &OktaGroup, want_member: bool| {
        let is_member = member.contains(group.id.as_str());
        let list = match (want_member, is_member) {
            (true, false) => &mut plan.add,
            (false, true) => &mut plan.remove,
            _ => &mut plan.already,
        };
        if !list.contains(group) {
            list.push(group.clone());
        }
    };
    match exactly {
        Some(set) => {
            let wanted: BTreeSet<&str> = set.iter().map(|g| g.id.as_str()).collect();
            for group in set {
                sort(group, true);
            }
            for group in current.iter().filter(|g| g.kind == GroupType::Okta) {
                if !wanted.contains(group.id.as_str()) {
                    sort(group, false);
                }
            }
        }
        None => {
            for group in add {
                sort(group, true);
            }
            for group in remove {
                sort(group, false);
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
