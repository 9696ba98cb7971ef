//! Rate limits, the reserve, server errors and hangs: waits and retries, all bounded.

use super::*;

#[tokio::test]
async fn a_forced_429_is_waited_out_for_reset_minus_date_plus_one_second() {
    let org = start_org().await;
    let (sleeper, waits) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "logs", "status": 429, "count": 1 }]))
        .await;
    let before = epoch_now();
    client.system_log_page(&deactivations(10)).await.unwrap();
    let after = epoch_now();
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "one wait, then success: {waits:?}");
    // The simulator's window ends on the next whole minute.
    let earliest = 60 - after % 60 + 1;
    let latest = 60 - before % 60 + 1;
    let wait = waits[0].as_secs();
    assert!(
        (earliest.min(latest)..=earliest.max(latest)).contains(&wait),
        "waited {wait} s, expected {earliest}..={latest}"
    );
    assert_eq!(org.requests("logs").await, 2);
}

#[tokio::test]
async fn a_429_that_would_outlast_the_deadline_comes_back_as_rate_limited() {
    let org = start_org().await;
    let (sleeper, waits) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "logs", "status": 429, "count": 1 }]))
        .await;
    let short = client.with_deadline(Instant::now() + Duration::from_millis(800));
    let err = short.system_log_page(&deactivations(10)).await.unwrap_err();
    match err {
        OktaError::RateLimited {
            family,
            retry_after,
        } => {
            assert_eq!(family, EndpointFamily::Logs);
            assert!(
                retry_after >= Duration::from_secs(1) && retry_after <= Duration::from_secs(61)
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(
        waits.lock().unwrap().is_empty(),
        "nothing slept past the deadline"
    );
    assert_eq!(org.requests("logs").await, 1);
}

#[tokio::test]
async fn the_reserve_stops_requests_before_the_org_budget_is_spent() {
    let org = start_org().await;
    org.call(
        reqwest::Method::POST,
        "/_sim/rate-limits",
        Some(json!({ "logs": 10 })),
    )
    .await;
    stay_inside_one_minute().await;
    let client = org.ssws(ClientOptions::default());
    let mut sent = 0;
    let err = loop {
        match client.system_log_page(&deactivations(10)).await {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent <= 10, "the reserve never stopped the client");
    };
    // 10 × 0.2 = 2 kept back: requests stop once fewer than 2 remain.
    assert_eq!(sent, 9);
    assert!(
        matches!(
            err,
            OktaError::BudgetExhausted {
                family: EndpointFamily::Logs,
                remaining: 1,
                limit: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        org.requests("logs").await,
        9,
        "the refused request was never sent"
    );
    // Other families have their own budget.
    client
        .get_user(&UserId::parse("00unknown").unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_batch_reader_waits_for_the_window_at_the_reserve_a_bounded_number_of_times() {
    let org = start_org().await;
    org.call(
        reqwest::Method::POST,
        "/_sim/rate-limits",
        Some(json!({ "logs": 10 })),
    )
    .await;
    stay_inside_one_minute().await;
    // The recording sleeper does not sleep: the window never resets, so the client
    // waits its bound and then refuses, as a client that waits on its own would.
    let (sleeper, waits) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        wait_for_reserve: true,
        ..ClientOptions::default()
    });
    for _ in 0..9 {
        client.system_log_page(&deactivations(10)).await.unwrap();
    }
    let err = client
        .system_log_page(&deactivations(10))
        .await
        .unwrap_err();
    assert!(matches!(err, OktaError::BudgetExhausted { .. }), "{err:?}");
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 3, "{waits:?}");
    assert!(
        waits
            .iter()
            .all(|w| *w >= Duration::from_secs(1) && *w <= Duration::from_secs(61)),
        "each wait is until the window's reset: {waits:?}"
    );
    assert_eq!(org.requests("logs").await, 9, "nothing sent at the reserve");
}

#[tokio::test]
async fn a_forced_500_is_retried_and_succeeds() {
    let org = start_org().await;
    let (sleeper, waits) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "logs", "status": 500, "count": 2 }]))
        .await;
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(org.requests("logs").await, 3);
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 2);
    assert!(
        waits[1] >= Duration::from_millis(200),
        "backoff grows: {waits:?}"
    );
}

#[tokio::test]
async fn server_errors_past_the_attempt_limit_are_reported_with_oktas_code() {
    let org = start_org().await;
    let (sleeper, _) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "users", "status": 503, "count": 5 }]))
        .await;
    let err = client
        .get_user(&UserId::parse("00unknown").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), Some("E0000010"));
    assert_eq!(org.requests("users").await, 3);
}

#[tokio::test]
async fn a_hanging_okta_times_out_and_is_retried_a_bounded_number_of_times() {
    let org = start_org().await;
    let (sleeper, _) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "logs", "timeout": true, "hangMs": 1500, "count": 3 }]))
        .await;
    let started = Instant::now();
    let err = client
        .system_log_page(&deactivations(10))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OktaError::Transport {
                attempts: 3,
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}
