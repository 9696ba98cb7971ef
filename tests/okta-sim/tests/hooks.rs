use std::time::{Duration, Instant};

use crate::common;
use crate::common::{register_hook, start, start_with, Harness, Receiver};
use okta_sim::SimOptions;
use reqwest::Method;
use serde_json::json;

const DEACTIVATE: &str = "user.lifecycle.deactivate";

async fn deactivate(h: &Harness, login: &str) -> String {
    let id = h.user_id(login).await;
    let a = h
        .post_empty(&format!("/api/v1/users/{id}/lifecycle/deactivate"))
        .await;
    assert_eq!(a.status, 200);
    id
}

#[tokio::test]
async fn verify_echoes_the_challenge_with_the_auth_header_and_marks_the_hook_verified() {
    let h = start().await;
    let r = Receiver::start().await;
    let id = register_hook(&h, &r, &[DEACTIVATE]).await;
    let get = r
        .seen()
        .into_iter()
        .find(|s| s.method == Method::GET)
        .expect("challenge GET");
    assert_eq!(get.headers["authorization"], "hook-secret");
    assert_eq!(get.headers["x-custom"], "custom-value");
    assert!(get.headers.get("x-okta-verification-challenge").is_some());
    let hook = h.get(&format!("/api/v1/eventHooks/{id}")).await;
    assert_eq!(hook.body["status"], "ACTIVE");
    assert_eq!(hook.body["verificationStatus"], "VERIFIED");
    assert!(hook.body["channel"]["config"]["authScheme"]
        .get("value")
        .is_none());
    let list = h.get("/api/v1/eventHooks").await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn verification_fails_when_the_endpoint_does_not_echo_the_challenge() {
    let h = start().await;
    let r = Receiver::start().await;
    let a = h
        .post(
            "/api/v1/eventHooks",
            json!({
                "name": "broken",
                "events": {"type": "EVENT_TYPE", "items": [DEACTIVATE]},
                "channel": {"type": "HTTP", "version": "1.0.0", "config": {
                    "uri": r.url.replace("/hook", "/nothing-here"), "headers": []}}
            }),
        )
        .await;
    let id = a.body["id"].as_str().expect("id").to_string();
    assert_eq!(a.body["verificationStatus"], "UNVERIFIED");
    let v = h
        .post_empty(&format!("/api/v1/eventHooks/{id}/lifecycle/verify"))
        .await;
    assert_eq!(v.status, 400);
    assert_eq!(v.error_code(), "E0000001");
    let hook = h.get(&format!("/api/v1/eventHooks/{id}")).await;
    assert_eq!(hook.body["verificationStatus"], "UNVERIFIED");
}

#[tokio::test]
async fn a_deactivation_is_delivered_in_okta_s_envelope_with_the_configured_headers() {
    let h = start().await;
    let r = Receiver::start().await;
    let hook_id = register_hook(&h, &r, &[DEACTIVATE]).await;
    let uid = deactivate(&h, "ada.lovelace@example.com").await;
    h.flush().await;
    let posts = r.posts();
    assert_eq!(posts.len(), 1);
    let p = &posts[0];
    assert_eq!(p.headers["authorization"], "hook-secret");
    assert_eq!(p.headers["x-custom"], "custom-value");
    assert!(p.headers["content-type"]
        .to_str()
        .is_ok_and(|c| c.starts_with("application/json")));
    let b = &p.body;
    assert_eq!(b["eventType"], "com.okta.event_hook");
    assert_eq!(b["eventTypeVersion"], "1.0");
    assert_eq!(b["cloudEventsVersion"], "0.1");
    assert_eq!(b["contentType"], "application/json");
    assert_eq!(
        b["source"],
        format!("{}/api/v1/eventHooks/{hook_id}", h.base)
    );
    assert!(b["eventId"].as_str().is_some_and(|s| s.len() == 36));
    assert!(b["eventTime"].is_string());
    let events = b["data"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["eventType"], DEACTIVATE);
    assert_eq!(events[0]["target"][0]["id"], uid.as_str());
    let logged = h.log_events(DEACTIVATE).await;
    assert_eq!(
        logged[0]["uuid"], events[0]["uuid"],
        "same uuid as the System Log"
    );
}

#[tokio::test]
async fn events_of_one_call_share_one_delivery() {
    let h = start().await;
    let r = Receiver::start().await;
    register_hook(
        &h,
        &r,
        &["user.lifecycle.create", "user.lifecycle.activate"],
    )
    .await;
    let a = h
        .post(
            "/api/v1/users?activate=true",
            json!({"profile": {"firstName": "N", "lastName": "U", "email": "n.u@example.com", "login": "n.u@example.com"},
                   "credentials": {"password": {"value": "pw-pw-pw-1A"}}}),
        )
        .await;
    assert_eq!(a.status, 200);
    h.flush().await;
    let posts = r.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body["data"]["events"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn events_within_the_batching_window_share_one_delivery() {
    let h = start_with(SimOptions {
        seed: 1,
        seed_doc: Some(common::demo_seed()),
        hook_batch_ms: 500,
        ..SimOptions::default()
    })
    .await;
    let r = Receiver::start().await;
    register_hook(&h, &r, &[DEACTIVATE]).await;
    deactivate(&h, "ada.lovelace@example.com").await;
    deactivate(&h, "grace.hopper@example.com").await;
    h.flush().await;
    let posts = r.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body["data"]["events"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn unsubscribed_events_and_inactive_hooks_deliver_nothing() {
    let h = start().await;
    let r = Receiver::start().await;
    let id = register_hook(&h, &r, &["user.lifecycle.suspend"]).await;
    deactivate(&h, "ada.lovelace@example.com").await;
    h.post_empty(&format!("/api/v1/eventHooks/{id}/lifecycle/deactivate"))
        .await;
    let uid = h.user_id("grace.hopper@example.com").await;
    h.post_empty(&format!("/api/v1/users/{uid}/lifecycle/suspend"))
        .await;
    h.flush().await;
    assert!(r.posts().is_empty());
}

#[tokio::test]
async fn a_500_is_retried_exactly_once() {
    let h = start().await;
    let r = Receiver::start().await;
    r.answer_with(&[500, 200]);
    register_hook(&h, &r, &[DEACTIVATE]).await;
    deactivate(&h, "ada.lovelace@example.com").await;
    let flushed = h.flush().await;
    let posts = r.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].body["data"], posts[1].body["data"]);
    assert_eq!(flushed["deliveries"]["retries"], 1);
    assert_eq!(flushed["deliveries"]["succeeded"], 1);
    assert!(h.log_events("event_hook.delivery").await.is_empty());
}

#[tokio::test]
async fn a_400_is_not_retried_and_logs_an_event_hook_delivery_failure() {
    let h = start().await;
    let r = Receiver::start().await;
    r.answer_with(&[400]);
    let hook_id = register_hook(&h, &r, &[DEACTIVATE]).await;
    deactivate(&h, "ada.lovelace@example.com").await;
    let flushed = h.flush().await;
    assert_eq!(r.posts().len(), 1);
    assert_eq!(flushed["deliveries"]["retries"], 0);
    assert_eq!(flushed["deliveries"]["failed"], 1);
    let failures = h.log_events("event_hook.delivery").await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["outcome"]["result"], "FAILURE");
    assert_eq!(failures[0]["target"][0]["type"], "EventHook");
    assert_eq!(failures[0]["target"][0]["id"], hook_id.as_str());
}

#[tokio::test]
async fn two_5xx_answers_fail_after_the_single_retry() {
    let h = start().await;
    let r = Receiver::start().await;
    r.answer_with(&[503, 500, 200]);
    register_hook(&h, &r, &[DEACTIVATE]).await;
    deactivate(&h, "ada.lovelace@example.com").await;
    h.flush().await;
    assert_eq!(r.posts().len(), 2);
    assert_eq!(h.log_events("event_hook.delivery").await.len(), 1);
}

#[tokio::test]
async fn a_timeout_is_retried_once_then_logged() {
    let h = start_with(SimOptions {
        seed: 2,
        seed_doc: Some(common::demo_seed()),
        hook_batch_ms: 0,
        hook_timeout_ms: 300,
        ..SimOptions::default()
    })
    .await;
    let r = Receiver::start().await;
    register_hook(&h, &r, &[DEACTIVATE]).await;
    r.delay(800);
    deactivate(&h, "ada.lovelace@example.com").await;
    let flushed = h.flush().await;
    assert_eq!(r.posts().len(), 2);
    assert_eq!(flushed["deliveries"]["retries"], 1);
    let failures = h.log_events("event_hook.delivery").await;
    assert_eq!(failures.len(), 1);
    assert!(failures[0]["outcome"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("timeout")));
}

#[tokio::test]
async fn the_api_call_returns_before_a_slow_delivery_finishes() {
    let h = start().await;
    let r = Receiver::start().await;
    register_hook(&h, &r, &[DEACTIVATE]).await;
    r.delay(1500);
    let started = Instant::now();
    deactivate(&h, "ada.lovelace@example.com").await;
    assert!(started.elapsed() < Duration::from_millis(1000));
    h.flush().await;
    assert_eq!(r.posts().len(), 1);
}

#[tokio::test]
async fn dropped_deliveries_never_arrive_and_are_counted() {
    let h = start().await;
    let r = Receiver::start().await;
    register_hook(&h, &r, &[DEACTIVATE]).await;
    h.sim_post("/_sim/faults", json!({"hooks": {"drop": 1.0}}))
        .await;
    deactivate(&h, "ada.lovelace@example.com").await;
    h.flush().await;
    assert!(r.posts().is_empty());
    assert_eq!(h.counters().await["deliveries"]["dropped"], 1);
}

#[tokio::test]
async fn duplicated_deliveries_carry_the_same_event_uuid_under_new_event_ids() {
    let h = start().await;
    let r = Receiver::start().await;
    register_hook(&h, &r, &[DEACTIVATE]).await;
    h.sim_post("/_sim/faults", json!({"hooks": {"duplicate": 1.0}}))
        .await;
    deactivate(&h, "ada.lovelace@example.com").await;
    h.flush().await;
    let posts = r.posts();
    assert_eq!(posts.len(), 2);
    assert_ne!(posts[0].body["eventId"], posts[1].body["eventId"]);
    let uuids = r.delivered_uuids();
    assert_eq!(uuids[0], uuids[1]);
    assert_eq!(h.counters().await["deliveries"]["duplicated"], 1);
}

#[tokio::test]
async fn an_active_hook_cannot_be_deleted_until_deactivated() {
    let h = start().await;
    let r = Receiver::start().await;
    let id = register_hook(&h, &r, &[DEACTIVATE]).await;
    let path = format!("/api/v1/eventHooks/{id}");
    let refused = h.delete(&path).await;
    assert_eq!(refused.status, 400);
    let d = h
        .post_empty(&format!("/api/v1/eventHooks/{id}/lifecycle/deactivate"))
        .await;
    assert_eq!(d.body["status"], "INACTIVE");
    assert_eq!(h.delete(&path).await.status, 204);
    assert_eq!(h.get(&path).await.status, 404);
}

#[tokio::test]
async fn an_invalid_registration_is_e0000001() {
    let h = start().await;
    let a = h
        .post(
            "/api/v1/eventHooks",
            json!({"name": "x", "events": {"type": "EVENT_TYPE", "items": []}}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error_code(), "E0000001");
}
