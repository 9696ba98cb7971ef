//! The sync's scope reads: a group's members, paged within a bound, and the Okta groups
//! whose names start with a prefix.

use super::*;

#[tokio::test]
async fn group_members_follow_next_links_and_say_when_the_bound_cut_them_short() {
    let org = start_org().await;
    let client = org.ssws(ClientOptions::default());
    let group = org
        .call(
            reqwest::Method::POST,
            "/api/v1/groups",
            Some(json!({"profile": {"name": "Scope Test"}})),
        )
        .await;
    let gid = group["id"].as_str().expect("group id").to_owned();
    let logins = [
        "ada.lovelace@example.com",
        "alan.turing@example.com",
        "grace.hopper@example.com",
    ];
    for login in logins {
        let uid = org.user_id(login).await;
        org.call(
            reqwest::Method::PUT,
            &format!("/api/v1/groups/{gid}/users/{uid}"),
            None,
        )
        .await;
    }
    let all = client
        .group_members(&gid, 2, 10)
        .await
        .unwrap()
        .expect("group exists");
    assert!(!all.truncated);
    let mut got: Vec<&str> = all.users.iter().map(|u| u.login.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, logins);
    let cut = client
        .group_members(&gid, 2, 1)
        .await
        .unwrap()
        .expect("group exists");
    assert_eq!(cut.users.len(), 2);
    assert!(cut.truncated, "a second page was left unread");
    assert_eq!(
        client
            .group_members("00gnosuchgroup000000", 2, 10)
            .await
            .unwrap(),
        None
    );

    for name in ["Scope Test Two", "scope test lower", "Other"] {
        org.call(
            reqwest::Method::POST,
            "/api/v1/groups",
            Some(json!({"profile": {"name": name}})),
        )
        .await;
    }
    let (groups, truncated) = client
        .okta_groups_with_prefix("Scope Test", 5)
        .await
        .unwrap();
    assert!(!truncated);
    let mut names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["Scope Test", "Scope Test Two"],
        "the prefix keeps its case"
    );
}
