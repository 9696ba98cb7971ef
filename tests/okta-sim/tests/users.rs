use crate::common;
use crate::common::{start, Answer, Harness};
use reqwest::Method;
use serde_json::json;

const ADA: &str = "ada.lovelace@example.com";

async fn status_of(h: &Harness, id: &str) -> String {
    h.get(&format!("/api/v1/users/{id}")).await.body["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn lifecycle(h: &Harness, id: &str, op: &str) -> Answer {
    h.post_empty(&format!("/api/v1/users/{id}/lifecycle/{op}"))
        .await
}

#[tokio::test]
async fn a_user_is_found_by_id_and_by_login_with_okta_fields() {
    let h = start().await;
    let by_login = h.get(&format!("/api/v1/users/{ADA}")).await;
    assert_eq!(by_login.status, 200);
    let u = &by_login.body;
    let id = u["id"].as_str().expect("id");
    assert!(id.starts_with("00u") && id.len() == 20);
    for field in [
        "status",
        "created",
        "activated",
        "statusChanged",
        "lastLogin",
        "lastUpdated",
        "passwordChanged",
        "type",
        "profile",
        "credentials",
        "_links",
    ] {
        assert!(u.get(field).is_some(), "missing {field}");
    }
    assert_eq!(u["profile"]["login"], ADA);
    let by_id = h.get(&format!("/api/v1/users/{id}")).await;
    assert_eq!(by_id.body["id"], id);
}

#[tokio::test]
async fn an_unknown_user_is_okta_s_404_body() {
    let h = start().await;
    let a = h.get("/api/v1/users/00unope").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.error_code(), "E0000007");
    assert_eq!(
        a.body["errorSummary"],
        "Not found: Resource not found: 00unope (User)"
    );
    assert_eq!(a.body["errorLink"], "E0000007");
    assert!(a.body["errorId"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(a.body["errorCauses"].is_array());
}

#[tokio::test]
async fn listing_pages_with_link_headers_until_no_next() {
    let h = start().await;
    let mut url = "/api/v1/users?limit=5".to_string();
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let a = h.get(&url).await;
        assert_eq!(a.status, 200);
        assert!(a.links().iter().any(|l| l.ends_with("rel=\"self\"")));
        let page = a.body.as_array().expect("array");
        assert!(page.len() <= 5);
        ids.extend(
            page.iter()
                .map(|u| u["id"].as_str().unwrap_or("").to_string()),
        );
        pages += 1;
        match a.next() {
            Some(next) => {
                assert!(next.contains("after="), "{next}");
                assert!(next.contains("limit=5"), "{next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 14);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 14);
}

#[tokio::test]
async fn deprovisioned_users_are_hidden_unless_a_filter_is_given() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    assert_eq!(lifecycle(&h, &id, "deactivate").await.status, 200);
    let all = h.get("/api/v1/users").await;
    assert!(!all
        .body
        .as_array()
        .expect("array")
        .iter()
        .any(|u| u["id"] == id.as_str()));
    let filtered = h
        .get("/api/v1/users?filter=status%20eq%20%22DEPROVISIONED%22")
        .await;
    let found = filtered.body.as_array().expect("array");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], id.as_str());
}

#[tokio::test]
async fn filter_combines_status_and_login_with_and_or() {
    let h = start().await;
    let q = okta_sim::qs::encode(&format!(
        "status eq \"ACTIVE\" and (profile.login eq \"{ADA}\" or profile.login eq \"grace.hopper@example.com\")"
    ));
    let a = h.get(&format!("/api/v1/users?filter={q}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body.as_array().expect("array").len(), 2);
    let bad = h.get("/api/v1/users?filter=status%20eq").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_code(), "E0000031");
}

#[tokio::test]
async fn create_with_activate_false_is_staged_and_duplicate_login_is_rejected() {
    let h = start().await;
    let body = json!({
        "profile": {"firstName": "New", "lastName": "Hire", "email": "new.hire@example.com", "login": "new.hire@example.com"}
    });
    let a = h.post("/api/v1/users?activate=false", body.clone()).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["status"], "STAGED");
    let dup = h.post("/api/v1/users?activate=false", body).await;
    assert_eq!(dup.status, 400);
    assert_eq!(dup.error_code(), "E0000001");
}

#[tokio::test]
async fn create_with_a_password_is_active_and_without_one_is_provisioned() {
    let h = start().await;
    let with_pw = h
        .post(
            "/api/v1/users?activate=true",
            json!({
                "profile": {"firstName": "A", "lastName": "B", "email": "a.b@example.com", "login": "a.b@example.com"},
                "credentials": {"password": {"value": "Tr0ub4dor&3"}}
            }),
        )
        .await;
    assert_eq!(with_pw.body["status"], "ACTIVE");
    let without = h
        .post(
            "/api/v1/users",
            json!({"profile": {"firstName": "C", "lastName": "D", "email": "c.d@example.com", "login": "c.d@example.com"}}),
        )
        .await;
    assert_eq!(without.body["status"], "PROVISIONED");
    let missing = h
        .post("/api/v1/users", json!({"profile": {"firstName": "X"}}))
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.error_code(), "E0000001");
    assert!(!missing.body["errorCauses"]
        .as_array()
        .expect("causes")
        .is_empty());
}

#[tokio::test]
async fn malformed_json_is_e0000003() {
    let h = start().await;
    let resp = h
        .http
        .post(h.url("/api/v1/users"))
        .header("Authorization", format!("SSWS {}", common::TOKEN))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["errorCode"], "E0000003");
}

#[tokio::test]
async fn partial_update_changes_only_the_given_attributes() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let a = h
        .post(
            &format!("/api/v1/users/{id}"),
            json!({"profile": {"title": "Countess"}}),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["profile"]["title"], "Countess");
    assert_eq!(a.body["profile"]["firstName"], "Ada");
}

#[tokio::test]
async fn suspend_and_unsuspend_follow_okta_transitions() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let again = lifecycle(&h, &id, "unsuspend").await;
    assert_eq!(again.status, 400, "unsuspend of an ACTIVE user");
    assert_eq!(again.error_code(), "E0000001");
    assert_eq!(lifecycle(&h, &id, "suspend").await.status, 200);
    assert_eq!(status_of(&h, &id).await, "SUSPENDED");
    let twice = lifecycle(&h, &id, "suspend").await;
    assert_eq!(twice.status, 400);
    assert_eq!(twice.error_code(), "E0000001");
    assert_eq!(lifecycle(&h, &id, "unsuspend").await.status, 200);
    assert_eq!(status_of(&h, &id).await, "ACTIVE");
}

#[tokio::test]
async fn activating_an_active_user_is_e0000016() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let a = lifecycle(&h, &id, "activate").await;
    assert_eq!(a.status, 403);
    assert_eq!(a.error_code(), "E0000016");
}

#[tokio::test]
async fn deactivating_a_deprovisioned_user_answers_404() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    assert_eq!(lifecycle(&h, &id, "deactivate").await.status, 200);
    assert_eq!(status_of(&h, &id).await, "DEPROVISIONED");
    let again = lifecycle(&h, &id, "deactivate").await;
    assert_eq!(again.status, 404);
    assert_eq!(again.error_code(), "E0000007");
}

#[tokio::test]
async fn a_deprovisioned_user_is_restored_with_activate_not_reactivate() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    lifecycle(&h, &id, "deactivate").await;
    let re = lifecycle(&h, &id, "reactivate").await;
    assert_eq!(re.status, 403);
    assert_eq!(re.error_code(), "E0000038");
    let a = h
        .post_empty(&format!(
            "/api/v1/users/{id}/lifecycle/activate?sendEmail=false"
        ))
        .await;
    assert_eq!(a.status, 200);
    assert!(a.body["activationToken"].is_string());
    assert_eq!(status_of(&h, &id).await, "ACTIVE");
}

#[tokio::test]
async fn reset_password_and_expire_password_with_temp_password() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let r = h
        .post_empty(&format!(
            "/api/v1/users/{id}/lifecycle/reset_password?sendEmail=false"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["resetPasswordUrl"].is_string());
    assert_eq!(status_of(&h, &id).await, "RECOVERY");
    let e = lifecycle(&h, &id, "expire_password_with_temp_password").await;
    assert_eq!(e.status, 200);
    assert!(e.body["tempPassword"].is_string());
    assert_eq!(status_of(&h, &id).await, "PASSWORD_EXPIRED");
    let legacy = h
        .post_empty(&format!(
            "/api/v1/users/{id}/lifecycle/expire_password?tempPassword=true"
        ))
        .await;
    assert!(legacy.body["tempPassword"].is_string());
    let unknown = lifecycle(&h, &id, "explode").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn first_delete_only_deactivates_and_second_delete_deletes() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let first = h.delete(&format!("/api/v1/users/{id}")).await;
    assert_eq!(first.status, 204);
    assert_eq!(status_of(&h, &id).await, "DEPROVISIONED");
    let second = h.delete(&format!("/api/v1/users/{id}")).await;
    assert_eq!(second.status, 204);
    let gone = h.get(&format!("/api/v1/users/{id}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(h.log_events("user.lifecycle.deactivate").await.len(), 1);
    assert_eq!(
        h.log_events("user.lifecycle.delete.initiated").await.len(),
        1
    );
}

#[tokio::test]
async fn deactivation_keeps_group_memberships_and_deletion_removes_them() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let groups = |a: Answer| a.body.as_array().map(Vec::len).unwrap_or(0);
    let before = groups(h.get(&format!("/api/v1/users/{id}/groups")).await);
    assert!(before >= 3, "Everyone, Engineering, VPN Users at least");
    h.delete(&format!("/api/v1/users/{id}")).await;
    assert_eq!(
        groups(h.get(&format!("/api/v1/users/{id}/groups")).await),
        before
    );
    h.delete(&format!("/api/v1/users/{id}")).await;
    let eng = h.group_id("Engineering").await;
    let members = h.get(&format!("/api/v1/groups/{eng}/users")).await;
    assert!(!members
        .body
        .as_array()
        .expect("array")
        .iter()
        .any(|u| u["id"] == id.as_str()));
}

#[tokio::test]
async fn clearing_sessions_is_observable_and_oauth_tokens_only_on_request() {
    let h = start().await;
    let id = h.user_id("grace.hopper@example.com").await;
    let sessions = |state: &serde_json::Value| {
        state["users"]
            .as_array()
            .and_then(|us| us.iter().find(|u| u["id"] == id.as_str()))
            .map(|u| u["_sim"].clone())
            .expect("user in state")
    };
    h.sim_post(
        &format!("/_sim/users/{id}/sessions"),
        json!({"sessions": 2, "oauthTokens": 3}),
    )
    .await;
    let a = h.delete(&format!("/api/v1/users/{id}/sessions")).await;
    assert_eq!(a.status, 204);
    let s = sessions(&h.sim_get("/_sim/state").await);
    assert_eq!(s["sessions"], 0);
    assert_eq!(s["oauthTokens"], 3);
    h.delete(&format!("/api/v1/users/{id}/sessions?oauthTokens=true"))
        .await;
    let s = sessions(&h.sim_get("/_sim/state").await);
    assert_eq!(s["oauthTokens"], 0);
    assert_eq!(s["sessionClears"], 2);
    assert_eq!(h.log_events("user.session.clear").await.len(), 2);
    let missing = h.delete("/api/v1/users/00unobody/sessions").await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn a_wrong_method_is_e0000022() {
    let h = start().await;
    let a = h.call(Method::PATCH, "/api/v1/users", None).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.error_code(), "E0000022");
}
