//! End to end through the local gateway, `cargo lambda watch` and moto: what Okta sends,
//! what it gets back, and what ends up in the table.

use e2e_tests::{deactivations, events, fixture, text, unique, user_of, Stack};
use serde_json::{json, Value};

async fn get(stack: &Stack, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(stack.hook_url());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("gateway reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post_raw(stack: &Stack, secret: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(stack.hook_url())
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = secret {
        req = req.header(stack.auth_header(), secret);
    }
    let resp = req.send().await.expect("gateway reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn verification_echoes_the_challenge_and_records_verified_at() {
    let stack = Stack::get();
    let challenge = unique("challenge");
    let (status, body) = get(
        &stack,
        &[
            ("X-Okta-Verification-Challenge", &challenge),
            (stack.auth_header(), stack.secret()),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "verification": challenge }));
    let config = stack.items("CONFIG").await;
    let integration = config
        .iter()
        .find(|i| text(i, "sk") == "INTEGRATION")
        .expect("the integration item");
    assert!(!text(integration, "verified_at").is_empty());
}

#[tokio::test]
async fn verification_needs_the_secret_and_a_challenge() {
    let stack = Stack::get();
    let (status, _) = get(&stack, &[("X-Okta-Verification-Challenge", "abc")]).await;
    assert_eq!(status, 401);
    let (status, _) = get(
        &stack,
        &[
            ("X-Okta-Verification-Challenge", "abc"),
            (stack.auth_header(), "not-the-secret"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = get(&stack, &[(stack.auth_header(), stack.secret())]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "missing_challenge");
}

#[tokio::test]
async fn a_deactivation_becomes_exactly_one_pending_job() {
    let stack = Stack::get();
    let delivery = fixture("deactivate.json");
    let event = &events(&delivery)[0];
    let user = user_of(event);

    let (status, body) = stack.deliver(&delivery).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"accepted": 1, "duplicates": 0, "ignored": 0}));

    let jobs = stack.jobs(user).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(text(job, "status"), "pending");
    assert_eq!(text(job, "source"), "hook");
    assert_eq!(text(job, "event_type"), "user.lifecycle.deactivate");
    assert_eq!(text(job, "event_uuid"), event["uuid"].as_str().unwrap());
    assert_eq!(text(job, "user_login"), "ada.lovelace@example.com");
    assert_eq!(
        text(job, "sk"),
        format!(
            "JOB#2026-11-23T09:41:05.512Z#{}",
            event["uuid"].as_str().unwrap()
        )
    );
    assert!(
        stack
            .items(&format!("EVENT#{}", event["uuid"].as_str().unwrap()))
            .await
            .is_empty(),
        "one item per event: the job"
    );
}

#[tokio::test]
async fn a_redelivered_event_is_acknowledged_and_creates_no_second_job() {
    let stack = Stack::get();
    let delivery = fixture("deactivate.json");
    let user = user_of(&events(&delivery)[0]).to_string();
    assert_eq!(stack.deliver(&delivery).await.1["accepted"], 1);

    // Okta's retry carries a new envelope id but the same event uuid.
    let mut retry = delivery.clone();
    retry["eventId"] = json!(unique("delivery"));
    let (status, body) = stack.deliver(&retry).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"accepted": 0, "duplicates": 1, "ignored": 0}));
    assert_eq!(stack.jobs(&user).await.len(), 1);
}

#[tokio::test]
async fn a_batch_with_a_duplicate_and_other_types_creates_one_job_per_unique_uuid() {
    let stack = Stack::get();
    let delivery = fixture("batch-with-duplicate.json");
    let list = events(&delivery);
    let (status, body) = stack.deliver(&delivery).await;
    assert_eq!(status, 200);
    // deactivate + delete.initiated accepted; the repeat is a duplicate; the session
    // event and the preview without a target are ignored.
    assert_eq!(body, json!({"accepted": 2, "duplicates": 1, "ignored": 2}));
    assert_eq!(stack.jobs(user_of(&list[0])).await.len(), 1);
    let delete_jobs = stack.jobs(user_of(&list[1])).await;
    assert_eq!(delete_jobs.len(), 1);
    assert_eq!(
        text(&delete_jobs[0], "event_type"),
        "user.lifecycle.delete.initiated"
    );
    assert!(stack.jobs(user_of(&list[3])).await.is_empty());
}

#[tokio::test]
async fn a_batch_larger_than_one_transaction_is_written_whole() {
    let stack = Stack::get();
    let delivery = deactivations(130);
    // Ten of them arrived before: they must come back as duplicates, the rest as jobs.
    let mut earlier = delivery.clone();
    earlier["data"]["events"] = json!(events(&delivery)[40..50].to_vec());
    assert_eq!(stack.deliver(&earlier).await.1["accepted"], 10);

    let (status, body) = stack.deliver(&delivery).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"accepted": 120, "duplicates": 10, "ignored": 0})
    );
    for event in events(&delivery) {
        assert_eq!(stack.jobs(user_of(event)).await.len(), 1);
    }
}

#[tokio::test]
async fn concurrent_deliveries_of_the_same_event_create_one_job() {
    let stack = Stack::get();
    let delivery = fixture("deactivate.json");
    let user = user_of(&events(&delivery)[0]).to_string();
    let results = futures_join(&stack, &delivery, 8).await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    let accepted: i64 = results
        .iter()
        .map(|(_, b)| b["accepted"].as_i64().unwrap())
        .sum();
    let duplicates: i64 = results
        .iter()
        .map(|(_, b)| b["duplicates"].as_i64().unwrap())
        .sum();
    assert_eq!((accepted, duplicates), (1, 7));
    assert_eq!(stack.jobs(&user).await.len(), 1);
}

async fn futures_join(stack: &Stack, body: &Value, n: usize) -> Vec<(u16, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (stack, body) = (stack.clone(), body.clone());
        set.spawn(async move { stack.deliver(&body).await });
    }
    set.join_all().await
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_401_and_writes_nothing() {
    let stack = Stack::get();
    let delivery = fixture("deactivate.json");
    let event = &events(&delivery)[0];
    let body = serde_json::to_vec(&delivery).unwrap();
    for secret in [None, Some("wrong"), Some("")] {
        let (status, reply) = post_raw(&stack, secret, body.clone()).await;
        assert_eq!(status, 401, "secret {secret:?}");
        assert_eq!(reply["error"], "unauthorized");
    }
    // A secret that is a prefix of the real one is still wrong.
    let prefix = &stack.secret()[..stack.secret().len() - 1];
    assert_eq!(post_raw(&stack, Some(prefix), body).await.0, 401);
    assert!(stack.jobs(user_of(event)).await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_413_and_writes_nothing() {
    let stack = Stack::get();
    let mut delivery = fixture("deactivate.json");
    let user = user_of(&events(&delivery)[0]).to_string();
    delivery["padding"] = json!("x".repeat(1024 * 1024 + 1));
    let (status, body) = post_raw(
        &stack,
        Some(stack.secret()),
        serde_json::to_vec(&delivery).unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "payload_too_large");
    assert!(stack.jobs(&user).await.is_empty());
}

#[tokio::test]
async fn a_malformed_body_is_400_and_kept_in_quarantine() {
    let stack = Stack::get();
    let marker = unique("garbage");
    let raw = format!("{{\"data\": {{\"events\": [ {marker} ");
    let (status, body) = post_raw(&stack, Some(stack.secret()), raw.clone().into_bytes()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "malformed_body");
    let kept: Vec<_> = stack
        .items("QUARANTINE")
        .await
        .into_iter()
        .filter(|i| {
            i.get("body")
                .and_then(|b| b.as_b().ok())
                .map(|b| b.as_ref())
                == Some(raw.as_bytes())
        })
        .collect();
    assert_eq!(kept.len(), 1, "the raw body is kept");
    assert!(text(&kept[0], "reason").contains("not an Okta event hook envelope"));
    assert!(kept[0].contains_key("expires_at"));
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_400_and_says_what_is_wrong() {
    let stack = Stack::get();
    let mut delivery = fixture("deactivate.json");
    delivery["data"]["events"][0]
        .as_object_mut()
        .unwrap()
        .remove("uuid");
    let (status, body) = post_raw(
        &stack,
        Some(stack.secret()),
        serde_json::to_vec(&delivery).unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "data.events[0].uuid: missing");
    let (status, _) = post_raw(&stack, Some(stack.secret()), br#"{"data": {}}"#.to_vec()).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn other_methods_are_405_and_other_paths_404() {
    let stack = Stack::get();
    let client = reqwest::Client::new();
    let resp = client.put(stack.hook_url()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");
    let resp = client
        .post(format!("{}/okta/extra", stack.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn no_secret_and_no_wrong_secret_reaches_any_log() {
    let stack = Stack::get();
    let wrong = unique("WrongSecretValue");
    let delivery = serde_json::to_vec(&fixture("deactivate.json")).unwrap();
    assert_eq!(
        post_raw(&stack, Some(stack.secret()), delivery.clone())
            .await
            .0,
        200
    );
    assert_eq!(post_raw(&stack, Some(&wrong), delivery).await.0, 401);
    let (status, _) = get(
        &stack,
        &[
            ("X-Okta-Verification-Challenge", "abc"),
            (stack.auth_header(), stack.secret()),
        ],
    )
    .await;
    assert_eq!(status, 200);
    // Give the processes a moment to flush what they log about these requests.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = e2e_tests::root().join(".local/logs");
    let mut read = 0;
    for entry in std::fs::read_dir(&logs).expect("stack logs") {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        read += text.len();
        // The deprovision function's target credentials too: the end-to-end tests, which
        // run before this one, made it sign webhooks and call SCIM with them.
        for name in ["HOOK_SECRET", "WEBHOOK_SECRET", "SCIM_TOKEN"] {
            let value = stack.var(name);
            assert!(
                value.len() >= 16 && !text.contains(value),
                "{name} in {}",
                path.display()
            );
        }
        assert!(
            !text.contains(&wrong),
            "a presented secret in {}",
            path.display()
        );
    }
    assert!(read > 0, "the stack's logs were read");
}

#[tokio::test]
async fn every_delivery_writes_its_metrics_in_embedded_metric_format() {
    let stack = Stack::get();
    let delivery = serde_json::to_vec(&fixture("deactivate.json")).unwrap();
    let marker = unique("wrong");
    assert_eq!(
        post_raw(&stack, Some(stack.secret()), delivery.clone())
            .await
            .0,
        200
    );
    assert_eq!(post_raw(&stack, Some(&marker), delivery).await.0, 401);
    // The function's stdout lands in the stack's log a moment later.
    let log = e2e_tests::root().join(".local/logs/lambda.log");
    let mut found = (false, false);
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let docs: Vec<Value> = text
            .lines()
            .filter_map(|l| l.find("{\"").map(|at| &l[at..]))
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|d: &Value| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OktaLifecycle")
            .filter(|d| d["service"] == "hook-intake")
            .collect();
        found = (
            docs.iter().any(|d| d.get("DeliveriesAccepted").is_some()),
            docs.iter()
                .any(|d| d["reason"] == "unauthorized" && d.get("DeliveriesRejected").is_some()),
        );
        if found == (true, true) {
            break;
        }
    }
    assert_eq!(
        found,
        (true, true),
        "accepted and rejected deliveries are counted in {}",
        log.display()
    );
}
