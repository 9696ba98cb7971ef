//! Credentials rotated while the stack runs: each test changes a credential where it is
//! checked (the Okta simulator, the SCIM application, the webhook receiver) and in
//! Secrets Manager, then drives a leaver through the stack (a deactivation in Okta, the
//! hook, the job, the deprovision function's warm instances) and sees the job end `done`
//! with no job failed, the new credential used and the old one refused.
//!
//! They change what every function uses, so they run one at a time (a lock here) and
//! alone on the stack (the Makefile's `E2E_ALONE`), and put the stack's credentials back
//! when they are done.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::{create_okta_user, deactivate_okta_user, root, text, unique, Stack};
use reqwest::Method;
use serde_json::{json, Value};

/// One rotation at a time: they share the credentials secrets.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Long enough for a job deferred after a refusal (the local stack re-reads a refused
/// credential at most every few seconds) to run again.
const SETTLE: Duration = Duration::from_secs(120);

/// The service app's key pair that is not the demo org's (the simulator's tests sign
/// with it to show an unregistered key is refused).
const NEW_KEY: &str = "tests/okta-sim/tests/fixtures/unregistered.key.pem";
const NEW_PUBLIC_KEY: &str = "tests/okta-sim/tests/fixtures/unregistered.pub.pem";

fn file(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn secret(stack: &Stack, id: &str) -> String {
    stack
        .secretsmanager()
        .await
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .expect("secret readable")
        .secret_string()
        .expect("a string secret")
        .to_owned()
}

async fn put_secret(stack: &Stack, id: &str, value: &str) {
    stack
        .secretsmanager()
        .await
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .expect("secret written");
}

async fn control(stack: &Stack, base: &str, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", stack.var(base)))
        .json(&body)
        .send()
        .await
        .expect("control API reachable");
    let status = resp.status();
    let answer = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

/// The service app's keys in the simulator become exactly `public_pem`, and the access
/// tokens it holds stop working (as when they expire), so the next call needs a new one.
async fn set_app_key(stack: &Stack, public_pem: &str) {
    let path = format!("/_sim/oauth-clients/{}/keys", stack.var("OKTA_CLIENT_ID"));
    control(
        stack,
        "OKTA_URL",
        &path,
        json!({"publicKeysPem": [public_pem], "revokeTokens": true}),
    )
    .await;
}

fn demo_public_key() -> String {
    let demo: Value = serde_json::from_str(&file("tests/okta-sim/demo-org.json")).unwrap();
    demo["oauthClients"][0]["publicKeyPem"]
        .as_str()
        .expect("the demo app's key")
        .to_owned()
}

/// A SCIM request with `token`.
fn scim(stack: &Stack, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", stack.var("SCIM_URL")))
        .header("Content-Type", "application/scim+json")
        .bearer_auth(token)
}

/// A person with an Okta account and a SCIM account, then deactivated in Okta: the
/// leaver the stack must deprovision. Answers the Okta id and the SCIM account's id.
async fn leaver(stack: &Stack, scim_token: &str, prefix: &str) -> (String, String) {
    let (okta, token) = (stack.var("OKTA_URL"), stack.var("OKTA_API_TOKEN"));
    let (id, login) = create_okta_user(okta, token, prefix).await;
    let resp = scim(stack, scim_token, Method::POST, "/Users")
        .body(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": login, "externalId": id, "active": true})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "SCIM account created");
    let account: Value = resp.json().await.unwrap();
    deactivate_okta_user(okta, token, &id).await;
    (id, account["id"].as_str().unwrap().to_owned())
}

/// Every job of the user once the deactivation's is over: the deactivation's is `done`
/// and no job of the user failed.
async fn all_done(stack: &Stack, user: &str) -> Vec<HashMap<String, AttributeValue>> {
    let jobs = stack.settled_jobs(user, SETTLE).await;
    for job in &jobs {
        assert_eq!(text(job, "status"), "done", "{job:?}");
    }
    let all = stack.jobs(user).await;
    assert!(
        all.iter().all(|j| text(j, "status") != "failed"),
        "no job of {user} failed: {all:?}"
    );
    jobs
}

async fn scim_active(stack: &Stack, token: &str, account: &str) -> bool {
    let v: Value = scim(stack, token, Method::GET, &format!("/Users/{account}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["active"].as_bool().expect("an account")
}

/// Writes `value` where the stack's SCIM application reads the token it accepts.
fn set_scim_token(stack: &Stack, value: &str) {
    std::fs::write(stack.var("SCIM_TOKEN_FILE"), value).expect("token file written");
}

#[tokio::test]
async fn a_rotated_scim_token_reaches_the_warm_function_and_no_job_fails() {
    let _one = ONE_AT_A_TIME.lock().await;
    let stack = Stack::get();
    let targets_id = stack.var("TARGETS_SECRET_ID").to_owned();
    let original = secret(&stack, &targets_id).await;
    let (old, new) = (stack.var("SCIM_TOKEN").to_owned(), unique("scim-"));
    // A job before the rotation, so the deprovision function is warm with the old token.
    let (warm, _) = leaver(&stack, &old, "scim-before").await;
    all_done(&stack, &warm).await;

    set_scim_token(&stack, &new);
    let mut rotated: Value = serde_json::from_str(&original).unwrap();
    rotated["scim"][0]["token"] = json!(new);
    put_secret(&stack, &targets_id, &rotated.to_string()).await;
    let refused = scim(&stack, &old, Method::GET, "/Users")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401, "the old token is refused");

    let (user, account) = leaver(&stack, &new, "scim-rotated").await;
    all_done(&stack, &user).await;
    assert!(
        !scim_active(&stack, &new, &account).await,
        "deactivated with the new token"
    );

    put_secret(&stack, &targets_id, &original).await;
    set_scim_token(&stack, &old);
}

#[tokio::test]
async fn a_rotated_webhook_secret_reaches_the_warm_function_and_no_job_fails() {
    let _one = ONE_AT_A_TIME.lock().await;
    let stack = Stack::get();
    let targets_id = stack.var("TARGETS_SECRET_ID").to_owned();
    let original = secret(&stack, &targets_id).await;
    let scim_token = stack.var("SCIM_TOKEN").to_owned();
    let (warm, _) = leaver(&stack, &scim_token, "hook-before").await;
    all_done(&stack, &warm).await;

    // A plain secret (its bytes are the key) the receiver and the targets secret switch to.
    let new = unique("rotated-webhook-key-");
    control(
        &stack,
        "WEBHOOK_RECEIVER_URL",
        "/_secret",
        json!({"secret": new}),
    )
    .await;
    let mut rotated: Value = serde_json::from_str(&original).unwrap();
    rotated["webhooks"][0]["secret"] = json!(new);
    put_secret(&stack, &targets_id, &rotated.to_string()).await;

    let (user, _) = leaver(&stack, &scim_token, "hook-rotated").await;
    all_done(&stack, &user).await;
    let url = format!(
        "{}/_deliveries?user={user}",
        stack.var("WEBHOOK_RECEIVER_URL")
    );
    let deliveries: Vec<Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
    let last = deliveries.last().expect("a delivery");
    assert_eq!(
        (&last["verified"], &last["status"]),
        (&json!(true), &json!(200)),
        "the last delivery verifies with the new secret: {deliveries:?}"
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d["status"] == 200 || d["status"] == 401),
        "{deliveries:?}"
    );

    control(
        &stack,
        "WEBHOOK_RECEIVER_URL",
        "/_secret",
        json!({"secret": stack.var("WEBHOOK_SECRET")}),
    )
    .await;
    put_secret(&stack, &targets_id, &original).await;
}

#[tokio::test]
async fn a_rotated_service_app_key_reaches_the_warm_function_and_no_job_fails() {
    let _one = ONE_AT_A_TIME.lock().await;
    let stack = Stack::get();
    let okta_id = stack.var("OKTA_CREDENTIALS_SECRET_ID").to_owned();
    let original = secret(&stack, &okta_id).await;
    let scim_token = stack.var("SCIM_TOKEN").to_owned();
    let (warm, _) = leaver(&stack, &scim_token, "key-before").await;
    all_done(&stack, &warm).await;

    // The admin adds the new key to the app and removes the old one; the access tokens
    // got with the old key run out.
    set_app_key(&stack, &file(NEW_PUBLIC_KEY)).await;
    let mut rotated: Value = serde_json::from_str(&original).unwrap();
    rotated["private_key"] = json!(file(NEW_KEY));
    put_secret(&stack, &okta_id, &rotated.to_string()).await;

    let (user, _) = leaver(&stack, &scim_token, "key-rotated").await;
    all_done(&stack, &user).await;

    put_secret(&stack, &okta_id, &original).await;
    set_app_key(&stack, &demo_public_key()).await;
}

#[tokio::test]
async fn a_rotated_api_token_reaches_the_warm_function_and_no_job_fails() {
    let _one = ONE_AT_A_TIME.lock().await;
    let stack = Stack::get();
    let okta_id = stack.var("OKTA_CREDENTIALS_SECRET_ID").to_owned();
    let original = secret(&stack, &okta_id).await;
    let scim_token = stack.var("SCIM_TOKEN").to_owned();
    let (first, second) = (unique("00first-"), unique("00second-"));

    // The stack signs in as a service app; an operator moves it to an API token: the
    // token in the secret, the app's key retired. The warm functions find the token
    // when Okta refuses the key.
    control(
        &stack,
        "OKTA_URL",
        "/_sim/api-tokens",
        json!({"add": [first]}),
    )
    .await;
    put_secret(&stack, &okta_id, &json!({"ssws_token": first}).to_string()).await;
    set_app_key(&stack, &file(NEW_PUBLIC_KEY)).await;
    let (user, _) = leaver(&stack, &scim_token, "ssws-first").await;
    all_done(&stack, &user).await;

    // Then the token itself is rotated: a new one, the old one revoked.
    control(
        &stack,
        "OKTA_URL",
        "/_sim/api-tokens",
        json!({"add": [second], "revoke": [first]}),
    )
    .await;
    put_secret(&stack, &okta_id, &json!({"ssws_token": second}).to_string()).await;
    let (user, _) = leaver(&stack, &scim_token, "ssws-second").await;
    all_done(&stack, &user).await;

    // Back to the service app. The second token stays valid, so nothing fails while the
    // functions change over (they do when the token is refused or old).
    put_secret(&stack, &okta_id, &original).await;
    set_app_key(&stack, &demo_public_key()).await;
}
