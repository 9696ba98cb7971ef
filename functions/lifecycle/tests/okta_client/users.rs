//! Reading users: one by id, lists with filters and their paging bound.

use super::*;

#[tokio::test]
async fn get_user_of_an_unknown_id_is_none() {
    let org = start_org().await;
    let client = org.ssws(ClientOptions::default());
    let missing = client
        .get_user(&UserId::parse("00unosuchuser").unwrap())
        .await
        .unwrap();
    assert_eq!(missing, None);
    let id = org.user_id("ada.lovelace@example.com").await;
    let ada = client
        .get_user(&UserId::parse(&id).unwrap())
        .await
        .unwrap()
        .expect("ada exists");
    assert_eq!(ada.status, UserStatus::Active);
    assert_eq!(ada.login, "ada.lovelace@example.com");
    assert!(ada.display_name.is_some());
}

#[tokio::test]
async fn list_users_with_a_deprovisioned_filter_finds_a_deactivated_user() {
    let org = start_org().await;
    let client = org.service_app(ClientOptions::default());
    let none = client
        .list_users(r#"status eq "DEPROVISIONED""#, 200, 5)
        .await
        .unwrap();
    assert!(none.users.is_empty());
    let id = org.deactivate("alan.turing@example.com").await;
    let found = client
        .list_users(r#"status eq "DEPROVISIONED""#, 200, 5)
        .await
        .unwrap();
    assert!(!found.truncated);
    assert_eq!(found.users.len(), 1);
    let user = &found.users[0];
    assert_eq!(user.id.as_str(), id);
    assert_eq!(user.status, UserStatus::Deprovisioned);
    assert!(user.status_changed.is_some());
}

#[tokio::test]
async fn list_users_follows_next_links_and_says_when_the_page_bound_cut_it_short() {
    let org = start_org().await;
    let client = org.ssws(ClientOptions::default());
    let all = client
        .list_users(r#"status eq "ACTIVE""#, 5, 10)
        .await
        .unwrap();
    assert_eq!(all.users.len(), 14);
    assert!(!all.truncated);
    let mut ids: Vec<_> = all.users.iter().map(|u| u.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 14, "no user twice across pages");
    let cut = client
        .list_users(r#"status eq "ACTIVE""#, 5, 2)
        .await
        .unwrap();
    assert_eq!(cut.users.len(), 10);
    assert!(cut.truncated);
    assert_eq!(org.requests("users").await, 5);
}
