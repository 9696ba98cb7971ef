//! The whole path with nothing hand-made: a lifecycle change in the Okta simulator is
//! delivered by its event hook to the local gateway and ends as a job.

use std::time::{Duration, Instant};

use e2e_tests::{create_okta_user, deactivate_okta_user, okta_api, text, Stack};

#[tokio::test]
async fn a_deactivation_in_okta_arrives_through_the_hook_as_one_job() {
    let stack = Stack::get();
    let (okta, token) = (stack.var("OKTA_URL"), stack.var("OKTA_API_TOKEN"));
    // A user of our own, so no other test's actions interfere.
    let (id, login) = create_okta_user(okta, token, "hook.").await;
    deactivate_okta_user(okta, token, &id).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut jobs = stack.deactivation_jobs(&id).await;
    while jobs.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        jobs = stack.deactivation_jobs(&id).await;
    }
    assert_eq!(jobs.len(), 1, "one job for the deactivation");
    let job = &jobs[0];
    assert_eq!(text(job, "event_type"), "user.lifecycle.deactivate");
    assert_eq!(text(job, "user_login"), login);

    // The job's event uuid is the one in Okta's System Log: the poller will dedupe on it.
    let logs = okta_api(
        okta,
        token,
        reqwest::Method::GET,
        "/api/v1/logs?filter=eventType%20eq%20%22user.lifecycle.deactivate%22&limit=1000&since=2000-01-01T00:00:00Z",
        None,
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
