use crate::common;
use crate::common::{start, Harness, CLIENT_ID};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

fn key(file: &str) -> EncodingKey {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let pem = std::fs::read(path).expect("key file");
    EncodingKey::from_rsa_pem(&pem).expect("rsa key")
}

fn assertion(h: &Harness, key_file: &str, aud: Option<&str>, jti: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": aud.map(String::from).unwrap_or_else(|| format!("{}/oauth2/v1/token", h.base)),
        "iat": now,
        "exp": now + 300,
        "jti": jti,
    });
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key(key_file)).expect("signed")
}

async fn token_request(h: &Harness, assertion: &str, scope: &str) -> (u16, Value) {
    let form = okta_sim::qs::build(&[
        ("grant_type".into(), "client_credentials".into()),
        ("scope".into(), scope.into()),
        (
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ),
        ("client_assertion".into(), assertion.into()),
    ]);
    let resp = h
        .http
        .post(h.url("/oauth2/v1/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_missing_or_wrong_ssws_token_is_e0000011() {
    let h = start().await;
    let none = h.call_as(Method::GET, "/api/v1/users", None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.error_code(), "E0000011");
    assert_eq!(none.body["errorSummary"], "Invalid token provided");
    let wrong = h
        .call_as(Method::GET, "/api/v1/users", Some("SSWS nope"), None)
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.error_code(), "E0000011");
}

#[tokio::test]
async fn the_token_from_the_command_line_is_accepted_too() {
    let h = common::start_with(okta_sim::SimOptions {
        api_token: Some("cli-token".into()),
        ..okta_sim::SimOptions::default()
    })
    .await;
    let a = h
        .call_as(Method::GET, "/api/v1/users", Some("SSWS cli-token"), None)
        .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn a_private_key_jwt_assertion_gets_a_bearer_token_that_works() {
    let h = start().await;
    let (status, body) = token_request(
        &h,
        &assertion(&h, "demo-service-app.key.pem", None, "j1"),
        "okta.users.read okta.logs.read",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "okta.users.read okta.logs.read");
    let bearer = format!("Bearer {}", body["access_token"].as_str().expect("token"));
    let users = h
        .call_as(Method::GET, "/api/v1/users", Some(&bearer), None)
        .await;
    assert_eq!(users.status, 200);
    let logs = h
        .call_as(Method::GET, "/api/v1/logs", Some(&bearer), None)
        .await;
    assert_eq!(logs.status, 200);
}

#[tokio::test]
async fn a_missing_scope_is_e0000006_and_nothing_changes() {
    let h = start().await;
    let (_, body) = token_request(
        &h,
        &assertion(&h, "demo-service-app.key.pem", None, "j2"),
        "okta.users.read",
    )
    .await;
    let bearer = format!("Bearer {}", body["access_token"].as_str().expect("token"));
    let uid = h.user_id("ada.lovelace@example.com").await;
    let a = h
        .call_as(
            Method::POST,
            &format!("/api/v1/users/{uid}/lifecycle/deactivate"),
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.error_code(), "E0000006");
    assert!(a
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("insufficient_scope")));
    let groups = h
        .call_as(Method::GET, "/api/v1/groups", Some(&bearer), None)
        .await;
    assert_eq!(groups.status, 403);
    let still = h.get(&format!("/api/v1/users/{uid}")).await;
    assert_eq!(still.body["status"], "ACTIVE");
}

#[tokio::test]
async fn an_assertion_signed_by_another_key_is_invalid_client() {
    let h = start().await;
    let (status, body) = token_request(
        &h,
        &assertion(&h, "tests/fixtures/unregistered.key.pem", None, "j3"),
        "okta.users.read",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn a_wrong_audience_or_a_replayed_jti_is_rejected() {
    let h = start().await;
    let wrong_aud = assertion(
        &h,
        "demo-service-app.key.pem",
        Some("https://elsewhere/oauth2/v1/token"),
        "j4",
    );
    let (status, body) = token_request(&h, &wrong_aud, "okta.users.read").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    let good = assertion(&h, "demo-service-app.key.pem", None, "j5");
    assert_eq!(token_request(&h, &good, "okta.users.read").await.0, 200);
    let (replay, body) = token_request(&h, &good, "okta.users.read").await;
    assert_eq!(replay, 401);
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_scope_not_granted_to_the_app_is_invalid_scope() {
    let h = start().await;
    let (status, body) = token_request(
        &h,
        &assertion(&h, "demo-service-app.key.pem", None, "j6"),
        "okta.apps.manage",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn an_unknown_bearer_token_is_e0000011() {
    let h = start().await;
    let a = h
        .call_as(Method::GET, "/api/v1/users", Some("Bearer made-up"), None)
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error_code(), "E0000011");
}

#[tokio::test]
async fn a_wrong_grant_type_is_unsupported_grant_type() {
    let h = start().await;
    let resp = h
        .http
        .post(h.url("/oauth2/v1/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=password")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn a_rotated_api_token_works_and_the_revoked_one_is_e0000011() {
    let h = start().await;
    let rotated = h
        .sim_post(
            "/_sim/api-tokens",
            json!({"add": ["00new-token"], "revoke": [common::TOKEN]}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_eq!(rotated.body["apiTokens"], 1);
    let new = h
        .call_as(Method::GET, "/api/v1/users", Some("SSWS 00new-token"), None)
        .await;
    assert_eq!(new.status, 200);
    let old = h.get("/api/v1/users").await;
    assert_eq!(old.status, 401);
    assert_eq!(old.error_code(), "E0000011");
    let empty = h.sim_post("/_sim/api-tokens", json!({"add": [" "]})).await;
    assert_eq!(empty.status, 400);
}

#[tokio::test]
async fn a_rotated_service_app_key_signs_and_the_removed_one_is_invalid_client() {
    let h = start().await;
    let (_, before) = token_request(
        &h,
        &assertion(&h, "demo-service-app.key.pem", None, "k1"),
        "okta.users.read",
    )
    .await;
    let old_bearer = format!("Bearer {}", before["access_token"].as_str().expect("token"));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/unregistered.pub.pem");
    let new_public = std::fs::read_to_string(path).expect("public key");
    let rotated = h
        .sim_post(
            &format!("/_sim/oauth-clients/{CLIENT_ID}/keys"),
            json!({"publicKeysPem": [new_public], "revokeTokens": true}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_eq!(rotated.body, json!({"keys": 1, "revokedTokens": 1}));

    let (status, body) = token_request(
        &h,
        &assertion(&h, "demo-service-app.key.pem", None, "k2"),
        "okta.users.read",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = token_request(
        &h,
        &assertion(&h, "tests/fixtures/unregistered.key.pem", None, "k3"),
        "okta.users.read",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let old = h
        .call_as(Method::GET, "/api/v1/users", Some(&old_bearer), None)
        .await;
    assert_eq!(old.status, 401, "the revoked access token stops working");

    let unknown = h
        .sim_post(
            "/_sim/oauth-clients/0oanobody/keys",
            json!({"publicKeysPem": ["x"]}),
        )
        .await;
    assert_eq!(
        unknown.status, 400,
        "a bad key is refused before the app is looked up"
    );
}
