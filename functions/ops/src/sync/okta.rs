//! Reading Okta for a plan: the people in scope, their managed groups, the managed
//! groups, and the holders of each e-mail; whether every listing was complete.

use super::*;

/// Reads what the plan needs from Okta.
pub async fn read_okta(
    okta: &OktaClient,
    parsed: &Parsed,
    args: &SyncArgs,
) -> Result<OktaRead, String> {
    let e = |e: OktaError| e.to_string();
    let list = people_in_scope(okta, args).await?;
    let mut complete = !list.truncated;
    let prefix = args.manage_groups.as_deref();
    let groups = match prefix {
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
    let mut people = Vec::with_capacity(list.users.len());
    for user in list.users {
        let mut names = Vec::new();
        if let Some(p) = prefix {
            let of_user = okta
                .user_groups(&user.id)
                .await
                .map_err(e)?
                .unwrap_or_default();
            names = of_user
                .into_iter()
                .filter(|g| g.is_managed() && g.name.starts_with(p))
                .map(|g| g.name)
                .collect();
        }
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
async fn people_in_scope(okta: &OktaClient, args: &SyncArgs) -> Result<UserList, String> {
    let e = |e: OktaError| e.to_string();
    if let Some(group) = &args.scope_group {
        let id = if group.starts_with("00g") && group.len() == 20 {
            group.clone()
        } else {
            okta.find_okta_group_by_name(group)
                .await
                .map_err(e)?
                .ok_or_else(|| format!("no Okta group named {group:?} (--scope-group)"))?
                .id
        };
        okta.group_members(&id, lifecycle::okta::MAX_MEMBER_LIMIT, MAX_PAGES)
            .await
            .map_err(e)?
            .ok_or_else(|| format!("no Okta group {group:?} (--scope-group)"))
    } else if let Some(user_type) = &args.scope_user_type {
        let expr = format!(
            "profile.userType eq \"{}\"",
            lifecycle::net::escape_filter_string(user_type)
        );
        okta.users_matching(&expr, MAX_PAGES).await.map_err(e)
    } else {
        Err(
            "no scope: pass --scope-group G or --scope-user-type T (who the file speaks for)"
                .into(),
        )
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
    for row in &parsed.rows {
        let email = row.email().to_lowercase();
        if holders_of.contains_key(&email) {
            continue;
        }
        let own = people.iter().find(|p| {
            p.login.eq_ignore_ascii_case(row.login())
                && p.profile
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

pub(super) async fn okta_client(
    args: &SyncArgs,
    aws: &aws_config::SdkConfig,
) -> Result<OktaClient, String> {
    let org_url = args
        .okta_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or("no Okta org: pass --okta-url or set OKTA_URL")?;
    let secret = args
        .okta_credentials_secret_id
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or("no Okta credentials: pass --okta-credentials-secret-id or set OKTA_CREDENTIALS_SECRET_ID")?;
    let config = OktaConfig {
        org_url: org_url.trim_end_matches('/').to_owned(),
        credentials_secret_id: secret,
        rate_reserve: 0.0,
    };
    lifecycle::setup::okta_client(aws, &config, ClientOptions::default())
        .await
        .map_err(|e| e.to_string())
}
