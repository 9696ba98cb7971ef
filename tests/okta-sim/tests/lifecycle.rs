//! The status rules of every lifecycle operation, each tried from all eight statuses
//! (the table in the README, from the fact sheet's §4).

use crate::common::{start_with, Harness};
use okta_sim::SimOptions;
use serde_json::{json, Value};

const STATUSES: [&str; 8] = [
    "STAGED",
    "PROVISIONED",
    "ACTIVE",
    "RECOVERY",
    "PASSWORD_EXPIRED",
    "LOCKED_OUT",
    "SUSPENDED",
    "DEPROVISIONED",
];

fn login_of(status: &str) -> String {
    format!("{}@example.com", status.to_lowercase().replace('_', "-"))
}

/// An org with one user per status (`staged@example.com`, `locked-out@example.com`, …).
async fn org_with_every_status() -> Harness {
    let users: Vec<Value> = STATUSES
        .iter()
        .map(|s| {
            json!({
                "status": s,
                "profile": {"firstName": s, "lastName": "User", "email": login_of(s), "login": login_of(s)}
            })
        })
        .collect();
    let seed = json!({
        "apiTokens": [{"token": crate::common::TOKEN}],
        "users": users,
    });
    start_with(SimOptions {
        seed: 3,
        seed_doc: Some(serde_json::from_value(seed).expect("seed")),
        ..SimOptions::default()
    })
    .await
}

/// Runs `op` (with `query`) on the user in each status: the ones in `allowed` must land
/// in the paired status, every other one must be refused with `refused` (HTTP, code)
/// and keep its status.
async fn check_op(op: &str, query: &str, allowed: &[(&str, &str)], refused: (u16, &str)) {
    let h = org_with_every_status().await;
    for from in STATUSES {
        let login = login_of(from);
        let id = h.user_id(&login).await;
        let a = h
            .post_empty(&format!("/api/v1/users/{id}/lifecycle/{op}{query}"))
            .await;
        let now = h.get(&format!("/api/v1/users/{id}")).await.body["status"].clone();
        match allowed.iter().find(|(f, _)| *f == from) {
            Some((_, to)) => {
                assert_eq!(a.status, 200, "{op} from {from}: {:?}", a.body);
                assert_eq!(now, *to, "{op} from {from}");
            }
            None => {
                assert_eq!(
                    (a.status, a.error_code()),
                    refused,
                    "{op} from {from}: {:?}",
                    a.body
                );
                assert_eq!(now, from, "a refused {op} leaves {from} alone");
            }
        }
    }
}

const PASSWORD_STATUSES: [&str; 4] = ["ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"];

#[tokio::test]
async fn activate_is_allowed_from_staged_and_deprovisioned_only() {
    check_op(
        "activate",
        "?sendEmail=false",
        &[("STAGED", "PROVISIONED"), ("DEPROVISIONED", "ACTIVE")],
        (403, "E0000016"),
    )
    .await;
}

#[tokio::test]
async fn reactivate_is_allowed_from_provisioned_and_recovery_only() {
    check_op(
        "reactivate",
        "",
        &[("PROVISIONED", "PROVISIONED"), ("RECOVERY", "PROVISIONED")],
        (403, "E0000038"),
    )
    .await;
}

#[tokio::test]
async fn deactivate_is_allowed_from_every_status_but_deprovisioned() {
    let allowed: Vec<(&str, &str)> = STATUSES[..7]
        .iter()
        .map(|s| (*s, "DEPROVISIONED"))
        .collect();
    check_op("deactivate", "", &allowed, (404, "E0000007")).await;
}

#[tokio::test]
async fn suspend_is_allowed_from_active_only() {
    check_op("suspend", "", &[("ACTIVE", "SUSPENDED")], (400, "E0000001")).await;
}

#[tokio::test]
async fn unsuspend_is_allowed_from_suspended_only() {
    check_op(
        "unsuspend",
        "",
        &[("SUSPENDED", "ACTIVE")],
        (400, "E0000001"),
    )
    .await;
}

#[tokio::test]
async fn unlock_is_allowed_from_locked_out_only() {
    check_op("unlock", "", &[("LOCKED_OUT", "ACTIVE")], (403, "E0000038")).await;
}

#[tokio::test]
async fn reset_password_is_allowed_from_the_statuses_with_a_password() {
    let allowed: Vec<(&str, &str)> = PASSWORD_STATUSES.iter().map(|s| (*s, "RECOVERY")).collect();
    check_op(
        "reset_password",
        "?sendEmail=false",
        &allowed,
        (403, "E0000038"),
    )
    .await;
}

#[tokio::test]
async fn expire_password_is_allowed_from_the_statuses_with_a_password() {
    let allowed: Vec<(&str, &str)> = PASSWORD_STATUSES
        .iter()
        .map(|s| (*s, "PASSWORD_EXPIRED"))
        .collect();
    check_op("expire_password", "", &allowed, (403, "E0000038")).await;
}

#[tokio::test]
async fn expire_password_with_temp_password_is_allowed_from_the_statuses_with_a_password() {
    let allowed: Vec<(&str, &str)> = PASSWORD_STATUSES
        .iter()
        .map(|s| (*s, "PASSWORD_EXPIRED"))
        .collect();
    check_op(
        "expire_password_with_temp_password",
        "",
        &allowed,
        (403, "E0000038"),
    )
    .await;
}

#[tokio::test]
async fn expire_password_with_temp_password_answers_only_a_new_temp_password_each_call() {
    let h = org_with_every_status().await;
    let id = h.user_id(&login_of("ACTIVE")).await;
    let path = format!("/api/v1/users/{id}/lifecycle/expire_password_with_temp_password");
    let first = h.post_empty(&path).await;
    assert_eq!(first.status, 200);
    let keys: Vec<&String> = first.body.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["tempPassword"],
        "the current spec's body, nothing else"
    );
    let second = h.post_empty(&path).await;
    assert_eq!(second.status, 200, "PASSWORD_EXPIRED may expire again");
    let (a, b) = (&first.body["tempPassword"], &second.body["tempPassword"]);
    assert!(a.as_str().is_some_and(|p| p.len() >= 8), "{a}");
    assert_ne!(a, b, "every call sets a new temporary password");
    let plain = h
        .post_empty(&format!("/api/v1/users/{id}/lifecycle/expire_password"))
        .await;
    assert_eq!(
        plain.body["id"],
        id.as_str(),
        "expire_password answers the User"
    );
    assert_eq!(plain.body["status"], "PASSWORD_EXPIRED");
}

#[tokio::test]
async fn temp_passwords_repeat_under_the_same_seed() {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let h = org_with_every_status().await;
        let id = h.user_id(&login_of("ACTIVE")).await;
        let a = h
            .post_empty(&format!(
                "/api/v1/users/{id}/lifecycle/expire_password_with_temp_password"
            ))
            .await;
        seen.push(a.body["tempPassword"].clone());
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test]
async fn revoke_sessions_on_a_password_reset_ends_the_user_s_sessions() {
    let h = org_with_every_status().await;
    let id = h.user_id(&login_of("ACTIVE")).await;
    let sessions = |state: Value| {
        state["users"]
            .as_array()
            .and_then(|us| us.iter().find(|u| u["id"] == id.as_str()).cloned())
            .map(|u| u["_sim"]["sessions"].clone())
            .expect("user")
    };
    h.sim_post(
        &format!("/_sim/users/{id}/sessions"),
        json!({"sessions": 2}),
    )
    .await;
    h.post_empty(&format!(
        "/api/v1/users/{id}/lifecycle/expire_password_with_temp_password"
    ))
    .await;
    assert_eq!(
        sessions(h.sim_get("/_sim/state").await),
        2,
        "kept by default"
    );
    h.post_empty(&format!(
        "/api/v1/users/{id}/lifecycle/reset_password?sendEmail=false&revokeSessions=true"
    ))
    .await;
    assert_eq!(sessions(h.sim_get("/_sim/state").await), 0);
}
