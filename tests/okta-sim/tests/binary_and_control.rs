use std::process::Stdio;

use crate::common;
use crate::common::start;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn the_binary_prints_its_bound_address_first_and_serves_the_seed_file() {
    let seed_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-org.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-sim"))
        .args(["--listen", "127.0.0.1:0", "--seed", "3", "--seed-file"])
        .arg(&seed_file)
        .env("OKTA_SIM_API_TOKEN", "env-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next_line().await.expect("read").expect("a line");
    let addr = first
        .strip_prefix("listening on ")
        .expect("first line names the address");
    assert!(addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"));
    let http = reqwest::Client::new();
    for token in ["env-token", common::TOKEN] {
        let resp = http
            .get(format!("http://{addr}/api/v1/users?limit=200"))
            .header("Authorization", format!("SSWS {token}"))
            .send()
            .await
            .expect("answered");
        assert_eq!(resp.status().as_u16(), 200);
        let users: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(users.as_array().map(Vec::len), Some(14));
    }
    child.kill().await.expect("killed");
}

#[tokio::test]
async fn the_binary_refuses_a_non_loopback_address() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-sim"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .await
        .expect("ran");
    assert!(!out.status.success());
}

#[tokio::test]
async fn seed_replaces_the_org_and_reset_restores_the_start_seed() {
    let h = start().await;
    let seeded = h
        .sim_post(
            "/_sim/seed",
            json!({
                "apiTokens": [{"token": "t2"}],
                "users": [{"id": "00u00000000000000001", "status": "SUSPENDED",
                           "profile": {"firstName": "S", "lastName": "U", "email": "s@example.com", "login": "s@example.com"}}],
                "groups": [{"profile": {"name": "Solo"}, "members": ["s@example.com"]}]
            }),
        )
        .await;
    assert_eq!(seeded.status, 200);
    assert_eq!(seeded.body["users"], 1);
    let a = h
        .call_as(
            reqwest::Method::GET,
            "/api/v1/users/00u00000000000000001",
            Some("SSWS t2"),
            None,
        )
        .await;
    assert_eq!(a.body["status"], "SUSPENDED");
    assert_eq!(
        h.get("/api/v1/users").await.status,
        401,
        "old token is gone"
    );
    let bad = h
        .sim_post("/_sim/seed", json!({"users": [{"profile": {}}]}))
        .await;
    assert_eq!(bad.status, 400);
    let reset = h.sim_post("/_sim/reset", json!({})).await;
    assert_eq!(reset.body["users"], 14);
    assert_eq!(h.get("/api/v1/users").await.status, 200);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_ids_and_uuids() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let h = start().await;
        let created = h
            .post(
                "/api/v1/users",
                json!({"profile": {"firstName": "D", "lastName": "T", "email": "d.t@example.com", "login": "d.t@example.com"}}),
            )
            .await;
        let events = h.log_events("user.lifecycle.create").await;
        runs.push((created.body["id"].clone(), events[0]["uuid"].clone()));
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn counters_count_requests_per_family() {
    let h = start().await;
    h.get("/api/v1/users").await;
    h.get("/api/v1/users").await;
    h.get("/api/v1/logs").await;
    let c = h.counters().await;
    assert_eq!(c["requests"]["users"], 2);
    assert_eq!(c["requests"]["logs"], 1);
    assert_eq!(c["responses"]["200"], 3);
}

#[tokio::test]
async fn an_unknown_fault_family_is_refused() {
    let h = start().await;
    let a = h
        .sim_post(
            "/_sim/faults",
            json!({"endpoints": [{"family": "apps", "status": 500}]}),
        )
        .await;
    assert_eq!(a.status, 400);
}
