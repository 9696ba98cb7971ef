//! Reading Okta for a plan: the people in scope, their managed groups, the managed
//! groups, and the holders of each e-mail; whether every listing was complete. The
//! command line's `sync` and the `sync` function plan through here alike.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};
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

/// Okta calls a plan keeps in flight at once where they do not depend on each other
/// (the searches for e-mails and logins, one a row). The client's rate limiter still
/// paces them: a few at once only keep a slow answer from leaving the budget unused.
const READS_AT_ONCE: usize = 4;

/// Reads what the plan needs from Okta. The people in scope and the managed groups'
/// members are independent listings of two rate-limit families: they are read side by
/// side, each page after page.
pub async fn read_okta(
    okta: &OktaClient,
    parsed: &Parsed,
    scope: &Scope,
    manage_groups: Option<&str>,
) -> Result<OktaRead, String> {
    let (list, managed) = tokio::try_join!(
        people_in_scope(okta, scope),
        managed_groups(okta, manage_groups)
    )?;
    let ManagedGroups {
        groups,
        mut member_of,
        complete: groups_complete,
    } = managed;
    let complete = !list.truncated && groups_complete;
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

/// The managed groups and who is in each.
struct ManagedGroups {
    groups: Vec<OktaGroup>,
    /// The names of each user's managed groups, by user id.
    member_of: BTreeMap<String, Vec<String>>,
    /// Every listing was read to its end.
    complete: bool,
}

/// The groups whose names start with the prefix, and their members: one paged listing
/// per group (a thousand members a page), not one read per person.
async fn managed_groups(okta: &OktaClient, prefix: Option<&str>) -> Result<ManagedGroups, String> {
    let e = |e: OktaError| e.to_string();
    let mut managed = ManagedGroups {
        groups: Vec::new(),
        member_of: BTreeMap::new(),
        complete: true,
    };
    let Some(prefix) = prefix else {
        return Ok(managed);
    };
    let (groups, truncated) = okta
        .okta_groups_with_prefix(prefix, MAX_PAGES)
        .await
        .map_err(e)?;
    managed.complete &= !truncated;
    for group in &groups {
        let Some(members) = okta
            .group_members(&group.id, crate::okta::MAX_MEMBER_LIMIT, MAX_PAGES)
            .await
            .map_err(e)?
        else {
            // Deleted since it was listed: what its members held is not known.
            managed.complete = false;
            continue;
        };
        managed.complete &= !members.truncated;
        for user in members.users {
            managed
                .member_of
                .entry(user.id.as_str().to_owned())
                .or_default()
                .push(group.name.clone());
        }
    }
    managed.groups = groups;
    Ok(managed)
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
/// costs no search: only someone else holding it would matter. Each other e-mail is
/// searched once, a few at a time.
async fn email_holders(
    okta: &OktaClient,
    parsed: &Parsed,
    people: &[OktaPerson],
) -> Result<(BTreeMap<String, Vec<Holder>>, bool), String> {
    let mut holders_of: BTreeMap<String, Vec<Holder>> = BTreeMap::new();
    // Each person by login as Okta compares them (ignoring case): one look-up a row.
    let by_login: BTreeMap<String, &OktaPerson> =
        people.iter().map(|p| (p.login.to_lowercase(), p)).collect();
    // The e-mail to search for, as the file has it, by its lower-case key.
    let mut to_search: BTreeMap<String, &str> = BTreeMap::new();
    for row in &parsed.rows {
        let email = row.email().to_lowercase();
        if holders_of.contains_key(&email) || to_search.contains_key(&email) {
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
        match own {
            Some(p) => {
                holders_of.insert(
                    email,
                    vec![Holder {
                        id: p.id.clone(),
                        login: p.login.clone(),
                    }],
                );
            }
            None => {
                to_search.insert(email, row.email());
            }
        }
    }
    let mut searches = stream::iter(to_search)
        .map(|(key, email)| async move {
            let found = okta.users_with_email(email).await;
            (key, found)
        })
        .buffer_unordered(READS_AT_ONCE);
    let mut complete = true;
    while let Some((key, found)) = searches.next().await {
        let found = found.map_err(|e| e.to_string())?;
        complete &= !found.truncated;
        let holders = found.users.into_iter().map(Holder::from).collect();
        holders_of.insert(key, holders);
    }
    Ok((holders_of, complete))
}

/// A planned create whose login Okta already knows belongs to someone outside the sync's
/// scope (another user type, not in the group): the sync never touches them, so the row
/// is a conflict instead. One read per planned create.
pub async fn refuse_logins_outside_scope(okta: &OktaClient, plan: &mut Plan) -> Result<(), String> {
    let creates: Vec<(usize, String)> = plan
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.op == Op::Create)
        .filter_map(|(i, e)| e.login.clone().map(|login| (i, login)))
        .collect();
    let mut reads = stream::iter(creates)
        .map(|(i, login)| async move {
            let held = okta.find_user_by_login(&login).await;
            (i, login, held)
        })
        .buffer_unordered(READS_AT_ONCE);
    while let Some((i, login, held)) = reads.next().await {
        let held = held.map_err(|e| format!("Okta: {e}"))?;
        if let Some(user) = held {
            let entry = &mut plan.entries[i];
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
