//! Reading Okta for a plan: the people in scope, their managed groups, the managed
//! groups, and the holders of each e-mail; whether every listing was complete. The
//! command line's `sync` and the `sync` function plan through here alike.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{guards, plan, Guard, OktaPerson, OktaView, Op, Parsed, Plan, Settings};
use crate::actions::plan::Holder;
use crate::okta::{OktaClient, OktaError, OktaGroup, UserList};

/// Most pages of any one Okta listing before the read counts as incomplete.
pub const MAX_PAGES: usize = 500;

/// Whom the file speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The members of this Okta group (its name, or its id).
    Group(String),
    /// The users whose `profile.userType` is this.
    UserType(String),
}

/// A plan made against Okta, with its guards.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// The guards, tripped or not.
    pub guards: Vec<Guard>,
    /// People in scope in Okta.
    pub in_scope: usize,
}

/// Reads Okta for `parsed` and plans it: the one way both the command line and the
/// `sync` function plan a file.
pub async fn plan_against_okta(
    okta: &OktaClient,
    parsed: &Parsed,
    scope: &Scope,
    settings: &Settings,
) -> Result<Planned, String> {
    let read = read_okta(
        okta,
        parsed,
        scope,
        settings.manage_groups_prefix.as_deref(),
    )
    .await?;
    let view = OktaView {
        people: &read.people,
        email_holders: &read.email_holders,
        groups: &read.groups,
    };
    let mut plan = plan(parsed, view, settings);
    refuse_logins_outside_scope(okta, &mut plan).await?;
    let guards = guards(&plan, read.people.len(), read.complete, settings);
    Ok(Planned {
        plan,
        guards,
        in_scope: read.people.len(),
    })
}

/// What Okta holds for the sync, and whether every read completed.
pub struct OktaRead {
    /// The people in scope.
    pub people: Vec<OktaPerson>,
    /// The holders of each e-mail the file names, by lowercase e-mail.
    pub email_holders: BTreeMap<String, Vec<Holder>>,
    /// The managed groups.
    pub groups: Vec<OktaGroup>,
    /// Every listing was read to its end.
    pub complete: bool,
}

/// Reads what the plan needs from Okta.
pub async fn read_okta(
    okta: &OktaClient,
    parsed: &Parsed,
    scope: &Scope,
    manage_groups: Option<&str>,
) -> Result<OktaRead, String> {
    let e = |e: OktaError| e.to_string();
    let list = people_in_scope(okta, scope).await?;
    let mut complete = !list.truncated;
    let groups = match manage_groups {
        Some(p) => {
            let (groups, truncated) = okta
                .okta_groups_with_prefix(p, MAX_PAGES)
                .await
                .map_err(e)?;
            complete &= !truncated;
            groups
        }
        None => Vec::new(),
    };
    // Who is in each managed group: one paged listing per group (a thousand members a
    // page), not one read per person.
    let mut member_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for group in &groups {
        let Some(members) = okta
            .group_members(&group.id, crate::okta::MAX_MEMBER_LIMIT, MAX_PAGES)
            .await
            .map_err(e)?
        else {
            // Deleted since it was listed: what its members held is not known.
            complete = false;
            continue;
        };
        complete &= !members.truncated;
        for user in members.users {
            member_of
                .entry(user.id.as_str().to_owned())
                .or_default()
                .push(group.name.clone());
        }
    }
    let mut people = Vec::with_capacity(list.users.len());
    for user in list.users {
        let mut names = member_of.remove(user.id.as_str()).unwrap_or_default();
        names.sort();
        people.push(OktaPerson {
            id: user.id,
            login: user.login,
            status: user.status,
            profile: user.profile,
            groups: names,
        });
    }
    let (email_holders, holders_complete) = email_holders(okta, parsed, &people).await?;
    Ok(OktaRead {
        people,
        email_holders,
        groups,
        complete: complete && holders_complete,
    })
}

/// Whom the file speaks for: a group's members or the users of a user type.
async fn people_in_scope(okta: &OktaClient, scope: &Scope) -> Result<UserList, String> {
    let e = |e: OktaError| e.to_string();
    match scope {
        Scope::Group(group) => {
            let id = if group.starts_with("00g") && group.len() == 20 {
                group.clone()
            } else {
                okta.find_okta_group_by_name(group)
                    .await
                    .map_err(e)?
                    .ok_or_else(|| format!("no Okta group named {group:?} (the scope)"))?
                    .id
            };
            okta.group_members(&id, crate::okta::MAX_MEMBER_LIMIT, MAX_PAGES)
                .await
                .map_err(e)?
                .ok_or_else(|| format!("no Okta group {group:?} (the scope)"))
        }
        Scope::UserType(user_type) => {
            let expr = format!(
                "profile.userType eq \"{}\"",
                crate::net::escape_filter_string(user_type)
            );
            okta.users_matching(&expr, MAX_PAGES).await.map_err(e)
        }
    }
}

/// Everyone who holds each e-mail of the file, across the org (lower-case keys); and
/// whether every search was complete. A row whose own user already holds its e-mail
/// costs no search: only someone else holding it would matter.
async fn email_holders(
    okta: &OktaClient,
    parsed: &Parsed,
    people: &[OktaPerson],
) -> Result<(BTreeMap<String, Vec<Holder>>, bool), String> {
    let mut complete = true;
    let mut holders_of: BTreeMap<String, Vec<Holder>> = BTreeMap::new();
    // Each person by login as Okta compares them (ignoring case): one look-up a row.
    let by_login: BTreeMap<String, &OktaPerson> =
        people.iter().map(|p| (p.login.to_lowercase(), p)).collect();
    for row in &parsed.rows {
        let email = row.email().to_lowercase();
        if holders_of.contains_key(&email) {
            continue;
        }
        let own = by_login
            .get(&row.login().to_lowercase())
            .copied()
            .filter(|p| {
                p.profile
                    .get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.to_lowercase() == email)
            });
        let holders = match own {
            Some(p) => vec![Holder {
                id: p.id.clone(),
                login: p.login.clone(),
            }],
            None => {
                let found = okta
                    .users_with_email(row.email())
                    .await
                    .map_err(|e| e.to_string())?;
                complete &= !found.truncated;
                found
                    .users
                    .into_iter()
                    .map(|u| Holder {
                        id: u.id,
                        login: u.login,
                    })
                    .collect()
            }
        };
        holders_of.insert(email, holders);
    }
    Ok((holders_of, complete))
}

/// A planned create whose login Okta already knows belongs to someone outside the sync's
/// scope (another user type, not in the group): the sync never touches them, so the row
/// is a conflict instead. One read per planned create.
pub async fn refuse_logins_outside_scope(okta: &OktaClient, plan: &mut Plan) -> Result<(), String> {
    for entry in plan.entries.iter_mut().filter(|e| e.op == Op::Create) {
        let Some(login) = entry.login.clone() else {
            continue;
        };
        let held = okta
            .find_user_by_login(&login)
            .await
            .map_err(|e| format!("Okta: {e}"))?;
        if let Some(user) = held {
            entry.op = Op::Conflict;
            entry.actions.clear();
            entry.changes.clear();
            entry.reason = Some(format!(
                "the login {login} belongs to {} ({}), outside the sync's scope: left alone",
                user.id,
                user.status.as_str()
            ));
        }
    }
    Ok(())
}
