use std::time::Duration;

use crate::common;
use crate::common::start;
use serde_json::json;

#[tokio::test]
async fn every_answer_carries_rate_limit_and_date_headers() {
    let h = start().await;
    for path in ["/api/v1/users", "/api/v1/users/00unobody"] {
        let a = h.get(path).await;
        for header in [
            "x-rate-limit-limit",
            "x-rate-limit-remaining",
            "x-rate-limit-reset",
            "date",
        ] {
            assert!(a.headers.get(header).is_some(), "{path}: missing {header}");
        }
        let reset: i64 = a.headers["x-rate-limit-reset"]
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("epoch seconds");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(reset > now - 1 && reset <= now + 60);
    }
}

#[tokio::test]
async fn past_the_limit_the_answer_is_429_e0000047_with_zero_remaining() {
    let h = start().await;
    h.sim_post("/_sim/rate-limits", json!({"logs": 3})).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let a = h.get("/api/v1/logs").await;
        assert_eq!(a.status, 200);
        remaining.push(
            a.headers["x-rate-limit-remaining"]
                .to_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = h.get("/api/v1/logs").await;
    if limited.status == 200 {
        // The minute rolled over between calls; the window is fresh again.
        return;
    }
    assert_eq!(limited.status, 429);
    assert_eq!(limited.error_code(), "E0000047");
    assert_eq!(limited.headers["x-rate-limit-remaining"], "0");
    let users = h.get("/api/v1/users").await;
    assert_eq!(users.status, 200, "other families keep their own budget");
    assert!(h.counters().await["rateLimited"].as_u64() >= Some(1));
}

#[tokio::test]
async fn a_forced_fault_answers_the_next_n_requests_of_a_family() {
    let h = start().await;
    let set = h
        .sim_post(
            "/_sim/faults",
            json!({"endpoints": [{"family": "users", "status": 503, "count": 2}]}),
        )
        .await;
    assert_eq!(set.status, 200);
    assert_eq!(h.get("/api/v1/users").await.status, 503);
    assert_eq!(h.get("/api/v1/groups").await.status, 200);
    let second = h.get("/api/v1/users").await;
    assert_eq!(second.status, 503);
    assert!(second.body["errorCode"].is_string());
    assert_eq!(h.get("/api/v1/users").await.status, 200);
    assert_eq!(h.counters().await["faultsInjected"], 2);
}

#[tokio::test]
async fn a_forced_429_looks_like_okta_s_rate_limit() {
    let h = start().await;
    h.sim_post(
        "/_sim/faults",
        json!({"endpoints": [{"family": "logs", "status": 429, "count": 1}]}),
    )
    .await;
    let a = h.get("/api/v1/logs").await;
    assert_eq!(a.status, 429);
    assert_eq!(a.error_code(), "E0000047");
    assert_eq!(a.headers["x-rate-limit-remaining"], "0");
}

#[tokio::test]
async fn a_timeout_fault_makes_the_client_time_out() {
    let h = start().await;
    h.sim_post(
        "/_sim/faults",
        json!({"endpoints": [{"family": "groups", "timeout": true, "hangMs": 2000, "count": 1}]}),
    )
    .await;
    let result = h
        .http
        .get(h.url("/api/v1/groups"))
        .header("Authorization", format!("SSWS {}", common::TOKEN))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_get_429() {
    let h = start().await;
    h.sim_post("/_sim/rate-limits", json!({"concurrency": 1}))
        .await;
    h.sim_post(
        "/_sim/faults",
        json!({"endpoints": [{"family": "groups", "timeout": true, "hangMs": 1500, "count": 1}]}),
    )
    .await;
    let slow = {
        let http = h.http.clone();
        let url = h.url("/api/v1/groups");
        tokio::spawn(async move {
            http.get(url)
                .header("Authorization", format!("SSWS {}", common::TOKEN))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = h.get("/api/v1/users").await;
    assert_eq!(a.status, 429);
    assert_eq!(a.error_code(), "E0000047");
    assert!(a.body["errorSummary"]
        .as_str()
        .is_some_and(|s| s.contains("concurrent")));
    let hung = slow.await.expect("joined").expect("answered");
    assert_eq!(hung.status().as_u16(), 504);
    assert_eq!(
        h.get("/api/v1/users").await.status,
        200,
        "the slot is free again"
    );
}

#[tokio::test]
async fn an_unmetered_request_passes_a_spent_window_and_is_counted_apart() {
    let h = start().await;
    h.sim_post("/_sim/rate-limits", json!({"users": 1})).await;
    let before = h.counters().await;
    let unmetered = |path: &'static str| {
        h.http
            .get(h.url(path))
            .header("Authorization", format!("SSWS {}", common::TOKEN))
            .header("X-Okta-Sim-Unmetered", "1")
            .send()
    };
    for _ in 0..3 {
        let a = unmetered("/api/v1/users").await.expect("sent");
        assert_eq!(a.status(), 200);
        assert!(a.headers().get("x-rate-limit-remaining").is_none());
    }
    // Still authenticated like any other call.
    let anonymous = h
        .http
        .get(h.url("/api/v1/users"))
        .header("X-Okta-Sim-Unmetered", "1")
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
    let after = h.counters().await;
    assert_eq!(after["unmetered"].as_u64(), Some(4));
    assert_eq!(after["requests"]["users"], before["requests"]["users"]);
    // The metered budget of one is untouched by them.
    let metered = h.get("/api/v1/users").await;
    assert!(matches!(metered.status, 200 | 429), "{}", metered.status);
    if metered.status == 200 {
        assert_eq!(metered.headers["x-rate-limit-remaining"], "0");
    }
}
