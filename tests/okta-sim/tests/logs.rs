use crate::common::start;

#[tokio::test]
async fn a_deactivation_writes_an_okta_log_event_with_the_user_target() {
    let h = start().await;
    let uid = h.user_id("ada.lovelace@example.com").await;
    h.post_empty(&format!("/api/v1/users/{uid}/lifecycle/deactivate"))
        .await;
    let events = h.log_events("user.lifecycle.deactivate").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    for field in [
        "uuid",
        "published",
        "displayMessage",
        "severity",
        "actor",
        "client",
        "outcome",
        "transaction",
        "debugContext",
        "authenticationContext",
        "securityContext",
        "legacyEventType",
    ] {
        assert!(e.get(field).is_some(), "missing {field}");
    }
    assert_eq!(e["outcome"]["result"], "SUCCESS");
    assert_eq!(e["actor"]["alternateId"], "it.admin@example.com");
    let user = e["target"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "User"))
        .expect("user target");
    assert_eq!(user["id"], uid.as_str());
    assert_eq!(user["alternateId"], "ada.lovelace@example.com");
    assert_eq!(user["displayName"], "Ada Lovelace");
}

#[tokio::test]
async fn a_poll_has_a_next_link_even_on_an_empty_page_and_resumes_exactly() {
    let h = start().await;
    let filter = okta_sim::qs::encode(
        "eventType eq \"user.lifecycle.deactivate\" or eventType eq \"user.lifecycle.suspend\"",
    );
    let empty = h
        .get(&format!("/api/v1/logs?filter={filter}&limit=2"))
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body.as_array().expect("array").len(), 0);
    let cursor = empty.next().expect("next link on an empty poll");

    let mut ids = Vec::new();
    for login in ["ada.lovelace", "grace.hopper", "alan.turing"] {
        let id = h.user_id(&format!("{login}@example.com")).await;
        h.post_empty(&format!("/api/v1/users/{id}/lifecycle/suspend"))
            .await;
        ids.push(id);
    }
    h.post_empty(&format!("/api/v1/users/{}/lifecycle/deactivate", ids[0]))
        .await;
    h.post_empty("/api/v1/users/ignored/lifecycle/suspend")
        .await;

    let first = h.get(&cursor).await;
    let page = first.body.as_array().expect("array").clone();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["eventType"], "user.lifecycle.suspend");
    let second = h.get(&first.next().expect("next")).await;
    let page2 = second.body.as_array().expect("array").clone();
    assert_eq!(page2.len(), 2);
    assert_eq!(page2[1]["eventType"], "user.lifecycle.deactivate");
    let third_url = second.next().expect("next");
    let third = h.get(&third_url).await;
    assert_eq!(third.body.as_array().expect("array").len(), 0);
    let still = third.next().expect("next on empty page");
    let cursor_of = |u: &str| {
        u.split('&')
            .chain(u.split('?'))
            .find_map(|p| p.strip_prefix("after="))
            .map(String::from)
    };
    assert_eq!(
        cursor_of(&still),
        cursor_of(&third_url),
        "same cursor on an empty page"
    );
    let mut uuids: Vec<_> = page
        .iter()
        .chain(page2.iter())
        .map(|e| e["uuid"].clone())
        .collect();
    uuids.dedup();
    assert_eq!(uuids.len(), 4);
}

#[tokio::test]
async fn a_bounded_query_has_no_next_link_past_its_last_page() {
    let h = start().await;
    let uid = h.user_id("ada.lovelace@example.com").await;
    h.post_empty(&format!("/api/v1/users/{uid}/lifecycle/suspend"))
        .await;
    let until = okta_sim::qs::encode("2999-01-01T00:00:00Z");
    let a = h.get(&format!("/api/v1/logs?until={until}")).await;
    assert_eq!(a.status, 200);
    assert!(!a.body.as_array().expect("array").is_empty());
    assert!(a.next().is_none());
}

#[tokio::test]
async fn descending_order_puts_the_newest_event_first() {
    let h = start().await;
    let uid = h.user_id("ada.lovelace@example.com").await;
    h.post_empty(&format!("/api/v1/users/{uid}/lifecycle/suspend"))
        .await;
    h.post_empty(&format!("/api/v1/users/{uid}/lifecycle/unsuspend"))
        .await;
    let a = h.get("/api/v1/logs?sortOrder=DESCENDING&limit=1").await;
    assert_eq!(a.body[0]["eventType"], "user.lifecycle.unsuspend");
}

#[tokio::test]
async fn since_in_the_future_and_bad_parameters_are_handled() {
    let h = start().await;
    let uid = h.user_id("ada.lovelace@example.com").await;
    h.post_empty(&format!("/api/v1/users/{uid}/lifecycle/suspend"))
        .await;
    let since = okta_sim::qs::encode("2999-01-01T00:00:00.000Z");
    let a = h.get(&format!("/api/v1/logs?since={since}")).await;
    assert_eq!(a.body.as_array().expect("array").len(), 0);
    let bad = h.get("/api/v1/logs?since=yesterday").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_code(), "E0000001");
    let big = h.get("/api/v1/logs?limit=5000").await;
    assert_eq!(big.status, 200);
    assert!(big.next().is_some_and(|n| n.contains("limit=1000")));
}
