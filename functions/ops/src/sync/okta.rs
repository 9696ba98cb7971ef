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
    let mut complete = true;
    let list: UserList = if let Some(group) = &args.scope_group {
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
            .ok_or_else(|| format!("no Okta group {group:?} (--scope-group)"))?
    } else if let Some(user_type) = &args.scope_user_type {
        let expr = format!(
            "profile.userType eq \"{}\"",
            lifecycle::net::escape_filter_string(user_type)
        );
        okta.users_matching(&expr, MAX_PAGES).await.map_err(e)?
    } else {
        return Err(
            "no scope: pass --scope-group G or --scope-user-type T (who the file speaks for)"
                .into(),
        );
    };
    complete &= !list.truncated;
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
    let mut email_holders: BTreeMap<String, Vec<Holder>> = BTreeMap::new();
    for row in &parsed.rows {
        let email = row.email().to_lowercase();
        if email_holders.contains_key(&email) {
            continue;
        }
        let own = people.iter().any(|p| {
            p.login.eq_ignore_ascii_case(row.login())
                && p.profile
                    .get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.to_lowercase() == email)
        });
        let holders = if own {
            // The row's own user holds it; only someone else holding it matters, and the
            // row's user keeping their e-mail is never a conflict.
            let p = people
                .iter()
                .find(|p| p.login.eq_ignore_ascii_case(row.login()));
            p.map(|p| Holder {
                id: p.id.clone(),
                login: p.login.clone(),
            })
            .into_iter()
            .collect()
        } else {
            let found = okta.users_with_email(row.email()).await.map_err(e)?;
            complete &= !found.truncated;
            found
                .users
                .into_iter()
                .map(|u| Holder {
                    id: u.id,
                    login: u.login,
                })
                .collect()
        };
        email_holders.insert(email, holders);
    }
    Ok(OktaRead {
        people,
        email_holders,
        groups,
        complete,
    })
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
