//! The provisioning writes: create, find, update, lifecycle, delete, passwords, groups,
//! and the retry policy of calls that must not run twice.

use lifecycle::okta::{Activation, Change, ErrorClass, GroupType, LifecycleOp};
use serde_json::Map;

use super::*;

/// A profile with the four attributes a default org requires.
fn profile(login: &str, email: &str) -> Map<String, Value> {
    let v = json!({"login": login, "email": email, "firstName": "Grace", "lastName": "Hopper"});
    v.as_object().expect("an object").clone()
}

fn uid(user: &lifecycle::okta::OktaUser) -> UserId {
    user.id.clone()
}

fn quick(org: &Org) -> OktaClient {
    let (sleeper, _) = recording_sleeper();
    org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    })
}

#[tokio::test]
async fn a_user_is_created_staged_or_activated_and_found_by_login() {
    let org = start_org().await;
    let client = quick(&org);
    let login = "new.hire@example.com";
    let staged = client
        .create_user(&profile(login, login), Activation::Staged)
        .await
        .unwrap();
    assert_eq!(staged.status, UserStatus::Staged);
    assert_eq!(staged.profile["firstName"], "Grace");
    assert!(staged.created.is_some() && staged.last_updated.is_some());
    let other = "second.hire@example.com";
    let active = client
        .create_user(&profile(other, other), Activation::Activate)
        .await
        .unwrap();
    // No password: activation leaves the user PROVISIONED, as Okta does.
    assert_eq!(active.status, UserStatus::Provisioned);
    let found = client
        .find_user_by_login("New.Hire@EXAMPLE.com")
        .await
        .unwrap()
        .expect("found ignoring case");
    assert_eq!(found.id, staged.id);
    assert_eq!(
        client
            .find_user_by_login("nobody@example.com")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_duplicate_login_in_another_case_is_a_conflict_even_when_deactivated() {
    let org = start_org().await;
    let client = quick(&org);
    org.deactivate("alan.turing@example.com").await;
    for login in ["ADA.LOVELACE@example.com", "Alan.Turing@Example.com"] {
        let err = client
            .create_user(&profile(login, login), Activation::Staged)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OktaError::Conflict { field, .. } if field == "login"),
            "{err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
    let alan = client
        .find_user_by_login("ALAN.TURING@example.com")
        .await
        .unwrap()
        .expect("a deactivated user still owns the login");
    assert_eq!(alan.status, UserStatus::Deprovisioned);
}

#[tokio::test]
async fn a_login_with_a_slash_is_found_by_search() {
    let org = start_org().await;
    let client = quick(&org);
    let login = "ops/oncall@example.com";
    let made = client
        .create_user(&profile(login, "oncall@example.com"), Activation::Staged)
        .await
        .unwrap();
    let found = client
        .find_user_by_login("OPS/OnCall@example.com")
        .await
        .unwrap()
        .expect("found by search");
    assert_eq!(found.id, made.id);
}

#[tokio::test]
async fn users_with_an_email_span_every_status_and_ignore_case() {
    let org = start_org().await;
    let client = quick(&org);
    let shared = "shared.mailbox@example.com";
    let a = client
        .create_user(&profile("a.one@example.com", shared), Activation::Staged)
        .await
        .unwrap();
    client
        .create_user(
            &profile("a.two@example.com", "Shared.Mailbox@example.com"),
            Activation::Staged,
        )
        .await
        .unwrap();
    assert_eq!(
        client
            .lifecycle(&uid(&a), LifecycleOp::Deactivate)
            .await
            .unwrap(),
        Change::Done
    );
    let list = client
        .users_with_email("SHARED.mailbox@example.com")
        .await
        .unwrap();
    assert!(!list.truncated);
    assert_eq!(list.users.len(), 2, "{:?}", list.users);
    assert!(list
        .users
        .iter()
        .any(|u| u.status == UserStatus::Deprovisioned));
    assert!(client
        .users_with_email("none@example.com")
        .await
        .unwrap()
        .users
        .is_empty());
}

#[tokio::test]
async fn a_partial_update_changes_only_what_it_names() {
    let org = start_org().await;
    let client = quick(&org);
    let mut p = profile("kay.n@example.com", "kay.n@example.com");
    p.insert("department".into(), json!("R&D"));
    p.insert("title".into(), json!("Engineer"));
    let user = client.create_user(&p, Activation::Staged).await.unwrap();
    let changes = json!({"title": "CTO", "nickName": null});
    let updated = client
        .update_profile(&uid(&user), changes.as_object().unwrap())
        .await
        .unwrap();
    assert_eq!(updated.profile["title"], "CTO");
    assert_eq!(updated.profile["department"], "R&D");
    assert_eq!(updated.login, "kay.n@example.com");
    assert_eq!(updated.profile["firstName"], "Grace");
    let taken = json!({"login": "Ada.Lovelace@example.com"});
    let err = client
        .update_profile(&uid(&user), taken.as_object().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OktaError::Conflict { field, .. } if field == "login"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_lifecycle_operation_already_done_is_already_so() {
    let org = start_org().await;
    let client = quick(&org);
    let ada = UserId::parse(&org.user_id("ada.lovelace@example.com").await).unwrap();
    let steps = [
        (LifecycleOp::Activate, Change::AlreadySo),
        (LifecycleOp::Suspend, Change::Done),
        (LifecycleOp::Suspend, Change::AlreadySo),
        (LifecycleOp::Unsuspend, Change::Done),
        (LifecycleOp::Unsuspend, Change::AlreadySo),
        (LifecycleOp::Unlock, Change::AlreadySo),
        (LifecycleOp::Deactivate, Change::Done),
        (LifecycleOp::Deactivate, Change::AlreadySo),
        (LifecycleOp::Activate, Change::Done),
        (LifecycleOp::Activate, Change::AlreadySo),
    ];
    for (op, want) in steps {
        assert_eq!(client.lifecycle(&ada, op).await.unwrap(), want, "{op:?}");
    }
    let gone = UserId::parse("00unosuchuser").unwrap();
    for op in [LifecycleOp::Deactivate, LifecycleOp::Suspend] {
        assert_eq!(client.lifecycle(&gone, op).await.unwrap(), Change::NotFound);
    }
    let staged = client
        .create_user(
            &profile("st.aged@example.com", "st.aged@example.com"),
            Activation::Staged,
        )
        .await
        .unwrap();
    let err = client
        .lifecycle(&uid(&staged), LifecycleOp::Suspend)
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(400),
        "a STAGED user cannot be suspended: {err:?}"
    );
}

#[tokio::test]
async fn a_delete_takes_two_steps_and_is_confirmed_by_a_404() {
    let org = start_org().await;
    let client = quick(&org);
    let ada = UserId::parse(&org.user_id("ada.lovelace@example.com").await).unwrap();
    assert_eq!(client.delete_user(&ada).await.unwrap(), Change::Done);
    assert_eq!(client.get_user(&ada).await.unwrap(), None);
    assert_eq!(client.delete_user(&ada).await.unwrap(), Change::NotFound);
    let alan = UserId::parse(&org.deactivate("alan.turing@example.com").await).unwrap();
    assert_eq!(client.delete_user(&alan).await.unwrap(), Change::Done);
    assert_eq!(client.get_user(&alan).await.unwrap(), None);
}

#[tokio::test]
async fn each_temporary_password_is_new_and_never_printed() {
    let org = start_org().await;
    let client = quick(&org);
    let ada = UserId::parse(&org.user_id("ada.lovelace@example.com").await).unwrap();
    let first = client
        .expire_password_with_temp_password(&ada)
        .await
        .unwrap();
    let second = client
        .expire_password_with_temp_password(&ada)
        .await
        .unwrap();
    assert!(!first.expose().is_empty());
    assert_ne!(first.expose(), second.expose());
    assert_eq!(format!("{first:?}"), "[redacted]");
    let user = client.get_user(&ada).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::PasswordExpired);
    let gone = UserId::parse("00unosuchuser").unwrap();
    let err = client
        .expire_password_with_temp_password(&gone)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn a_reset_password_email_puts_the_user_in_recovery() {
    let org = start_org().await;
    let client = quick(&org);
    let ada = UserId::parse(&org.user_id("ada.lovelace@example.com").await).unwrap();
    assert_eq!(
        client.reset_password_email(&ada).await.unwrap(),
        Change::Done
    );
    let user = client.get_user(&ada).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Recovery);
    let gone = UserId::parse("00unosuchuser").unwrap();
    assert_eq!(
        client.reset_password_email(&gone).await.unwrap(),
        Change::NotFound
    );
}

#[tokio::test]
async fn a_server_error_on_a_create_is_not_retried_and_is_uncertain() {
    let org = start_org().await;
    let client = quick(&org);
    org.faults(json!([{ "family": "users", "status": 500, "count": 1 }]))
        .await;
    let login = "once.only@example.com";
    let before = org.requests("users").await;
    let err = client
        .create_user(&profile(login, login), Activation::Staged)
        .await
        .unwrap_err();
    assert!(matches!(err, OktaError::Uncertain { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(org.requests("users").await - before, 1, "sent once");
    assert_eq!(client.users_with_email(login).await.unwrap().users.len(), 0);
}

#[tokio::test]
async fn a_timeout_on_a_temp_password_is_uncertain_and_not_repeated() {
    let org = start_org().await;
    let (sleeper, _) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        timeout: Duration::from_millis(300),
        ..ClientOptions::default()
    });
    let ada = UserId::parse(&org.user_id("ada.lovelace@example.com").await).unwrap();
    org.faults(json!([{ "family": "users", "timeout": true, "hangMs": 2000, "count": 1 }]))
        .await;
    let before = org.requests("users").await;
    let err = client
        .expire_password_with_temp_password(&ada)
        .await
        .unwrap_err();
    assert!(matches!(err, OktaError::Uncertain { .. }), "{err:?}");
    assert_eq!(org.requests("users").await - before, 1, "sent once");
}

#[tokio::test]
async fn a_server_error_on_an_idempotent_update_is_retried() {
    let org = start_org().await;
    let client = quick(&org);
    let ada = UserId::parse(&org.user_id("ada.lovelace@example.com").await).unwrap();
    org.faults(json!([{ "family": "users", "status": 500, "count": 1 }]))
        .await;
    let before = org.requests("users").await;
    let changes = json!({"title": "Countess"});
    let user = client
        .update_profile(&ada, changes.as_object().unwrap())
        .await
        .unwrap();
    assert_eq!(user.profile["title"], "Countess");
    assert_eq!(org.requests("users").await - before, 2);
}

#[tokio::test]
async fn a_429_on_a_create_is_waited_out_and_sent_again() {
    let org = start_org().await;
    let (sleeper, waits) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "users", "status": 429, "count": 1 }]))
        .await;
    let login = "after.wait@example.com";
    let before = org.requests("users").await;
    client
        .create_user(&profile(login, login), Activation::Staged)
        .await
        .unwrap();
    assert_eq!(waits.lock().unwrap().len(), 1);
    assert_eq!(org.requests("users").await - before, 2);
    assert_eq!(client.users_with_email(login).await.unwrap().users.len(), 1);
}

#[tokio::test]
async fn a_refused_connection_on_a_create_is_retried_because_nothing_was_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (sleeper, waits) = recording_sleeper();
    let client = OktaClient::new(
        &format!("http://{addr}"),
        OktaCredentials::Ssws(Secret::new(TOKEN)),
        ClientOptions {
            sleeper,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let login = "no.one@example.com";
    let err = client
        .create_user(&profile(login, login), Activation::Staged)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OktaError::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(waits.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_unknown_profile_attribute_is_named_in_the_error() {
    let org = start_org().await;
    let client = quick(&org);
    let mut p = profile("x.y@example.com", "x.y@example.com");
    p.insert("costCentre".into(), json!("42"));
    let err = client
        .create_user(&p, Activation::Staged)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OktaError::UnknownAttribute { attribute, .. } if attribute == "costCentre"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_group_is_created_and_found_by_its_exact_name_among_okta_groups_only() {
    let org = start_org().await;
    let client = quick(&org);
    let made = client
        .create_group("Contractors", Some("External staff"))
        .await
        .unwrap();
    assert_eq!(made.kind, GroupType::Okta);
    assert_eq!(made.description.as_deref(), Some("External staff"));
    let found = client
        .find_okta_group_by_name("Contractors")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, made.id);
    assert_eq!(
        client.get_group(&made.id).await.unwrap(),
        Some(made.clone())
    );
    assert_eq!(client.get_group("00gnosuchgroup").await.unwrap(), None);
    assert_eq!(
        client.find_okta_group_by_name("contractors").await.unwrap(),
        None
    );
    assert_eq!(
        client.find_okta_group_by_name("Contract").await.unwrap(),
        None
    );
    let err = client.create_group("Contractors", None).await.unwrap_err();
    assert!(
        matches!(&err, OktaError::Conflict { field, .. } if field == "name"),
        "{err:?}"
    );
    let app = client
        .find_okta_group_by_name("AD Domain Users")
        .await
        .unwrap();
    assert_eq!(app, None, "an APP_GROUP is never returned");
    let eng = client.find_okta_group_by_name("Engineering").await.unwrap();
    assert!(eng.is_some_and(|g| g.is_managed()));
}
