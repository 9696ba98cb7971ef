//! The backstop end to end on the local stack: the simulator drops 30% of the hook's
//! deliveries and duplicates some; after at most two poll runs every deactivated user
//! has exactly one job, and the deprovision function finishes it. Then with every
//! delivery dropped, the poller alone gets everyone deprovisioned. A test binary of its
//! own, since it changes the shared simulator's faults.

use std::time::Duration;

use e2e_tests::{create_okta_user, deactivate_okta_user, Stack};
use serde_json::{json, Value};

/// One scheduled invocation of the log-poller through `cargo lambda watch`, retried
/// (boundedly) while the local ticker's own run holds the lease.
async fn poll(stack: &Stack) -> Value {
    for _ in 0..30 {
        let report: Value = reqwest::Client::new()
            .post(format!(
                "{}/2015-03-31/functions/log-poller/invocations",
                stack.var("LAMBDA_URL")
            ))
            .json(&json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}))
            .timeout(Duration::from_secs(90))
            .send()
            .await
            .expect("lambda emulator reachable")
            .json()
            .await
            .expect("report");
        if report["outcome"] != "skipped" {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the poller's lease stayed taken");
}

#[tokio::test]
async fn with_hooks_dropped_or_off_every_deactivated_user_ends_with_one_finished_job() {
    let stack = Stack::get();
    let control = |path: &str| format!("{}{path}", stack.var("OKTA_URL"));
    let http = reqwest::Client::new();
    http.post(control("/_sim/faults"))
        .json(&json!({"hooks": {"drop": 0.3, "duplicate": 0.2}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let users = deactivate_some(&stack, 12).await;
    http.post(control("/_sim/hooks/flush?timeoutMs=30000"))
        .send()
        .await
        .unwrap();
    let counters: Value = http
        .get(control("/_sim/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dropped = counters["deliveries"]["dropped"].as_u64().unwrap_or(0);
    assert!(dropped > 0, "some deliveries were dropped: {counters}");
    every_user_gets_one_finished_job(&stack, &users).await;

    // Hooks off entirely: the poller alone.
    http.post(control("/_sim/faults"))
        .json(&json!({"hooks": {"drop": 1.0}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let users = deactivate_some(&stack, 5).await;
    http.post(control("/_sim/hooks/flush?timeoutMs=30000"))
        .send()
        .await
        .unwrap();
    every_user_gets_one_finished_job(&stack, &users).await;
    http.delete(control("/_sim/faults")).send().await.unwrap();
    // (The local ticker may have run the poller in between: either way, the log.)
    for user in &users {
        let jobs = stack.deactivation_jobs(user).await;
        assert_eq!(
            e2e_tests::text(&jobs[0], "source"),
            "poll",
            "no hook got through"
        );
    }
}

async fn deactivate_some(stack: &Stack, n: usize) -> Vec<String> {
    let mut users = Vec::new();
    for _ in 0..n {
        let (okta, token) = (stack.var("OKTA_URL"), stack.var("OKTA_API_TOKEN"));
        let (id, _) = create_okta_user(okta, token, "backstop.").await;
        deactivate_okta_user(okta, token, &id).await;
        users.push(id);
        // Apart enough that each deactivation is a delivery of its own.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    users
}

/// At most two poll runs give every user a job; the deprovision function then finishes
/// each (exactly one job per user).
async fn every_user_gets_one_finished_job(stack: &Stack, users: &[String]) {
    let mut without_job = Vec::new();
    for round in 0..2 {
        let report = poll(stack).await;
        assert_ne!(report["outcome"], "error", "{report}");
        without_job.clear();
        for user in users {
            if stack.deactivation_jobs(user).await.is_empty() {
                without_job.push(user.clone());
            }
        }
        if without_job.is_empty() {
            eprintln!("all users had a job after poll run {}", round + 1);
            break;
        }
    }
    assert!(
        without_job.is_empty(),
        "users without a job: {without_job:?}"
    );
    for user in users {
        let jobs = stack.settled_jobs(user, Duration::from_secs(60)).await;
        assert_eq!(jobs.len(), 1, "exactly one job for {user}");
        assert_eq!(
            e2e_tests::text(&jobs[0], "status"),
            "done",
            "{user}: {:?}",
            jobs[0]
        );
    }
}
