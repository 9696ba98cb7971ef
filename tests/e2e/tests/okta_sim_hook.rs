//! The whole path with nothing hand-made: a lifecycle change in the Okta simulator is
//! delivered by its event hook to the local gateway and ends as a job.

use std::time::{Duration, Instant};

use e2e_tests::{text, Stack};
use serde_json::Value;

async fn okta(stack: &Stack, method: reqwest::Method, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", stack.var("OKTA_URL")))
        .header(
            "Authorization",
            format!("SSWS {}", stack.var("OKTA_API_TOKEN")),
        )
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_deactivation_in_okta_arrives_through_the_hook_as_one_job() {
    let stack = Stack::get();
    // Create a user of our own so no other test's actions interfere.
    let login = format!("{}@example.com", e2e_tests::unique("hook."));
    let created: Value = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/users?activate=true",
            stack.var("OKTA_URL")
        ))
        .header(
            "Authorization",
            format!("SSWS {}", stack.var("OKTA_API_TOKEN")),
        )
        .json(&serde_json::json!({
            "profile": {"firstName": "Hook", "lastName": "Test", "email": login, "login": login},
            "credentials": {"password": {"value": "Correct-Horse-9"}}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("user created").to_string();

    okta(
        &stack,
        reqwest::Method::POST,
        &format!("/api/v1/users/{id}/lifecycle/deactivate?sendEmail=false"),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut jobs = stack.jobs(&id).await;
    while jobs.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        jobs = stack.jobs(&id).await;
    }
    assert_eq!(jobs.len(), 1, "one job for the deactivation");
    let job = &jobs[0];
    assert_eq!(text(job, "event_type"), "user.lifecycle.deactivate");
    assert_eq!(text(job, "user_login"), login);

    // The job's event uuid is the one in Okta's System Log: the poller will dedupe on it.
    let logs = okta(
        &stack,
        reqwest::Method::GET,
        "/api/v1/logs?filter=eventType%20eq%20%22user.lifecycle.deactivate%22&limit=1000&since=2000-01-01T00:00:00Z",
    )
    .await;
    let logged = logs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target"][0]["id"] == id.as_str())
        .expect("deactivation in the System Log");
    assert_eq!(text(job, "event_uuid"), logged["uuid"].as_str().unwrap());
}
