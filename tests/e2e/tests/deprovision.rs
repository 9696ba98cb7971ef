//! The product end to end on the local stack, with nothing hand-made: a deactivation in
//! the Okta simulator reaches the hook, intake writes the job, the stream driver invokes
//! the deprovision function through `cargo lambda watch`, and the function removes the
//! person's access in Okta, in `scim2-server` and through the signed webhook. A
//! reactivation gives it back.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::{okta_api, text, Stack};
use reqwest::Method;
use serde_json::Value;

/// A demo-org user no other test touches (the test runs again on a stack it already ran
/// on: it ends with the access restored, and it only counts what it caused itself): in Engineering, VPN Users, GitHub Admins and
/// the app group "AD Domain Users", with one session and a seeded SCIM account.
const ADA: &str = "00ue71lHFE8l6hlvY5bR";
const ADA_LOGIN: &str = "ada.lovelace@example.com";

async fn groups(stack: &Stack, id: &str) -> Vec<String> {
    let (okta, token) = (stack.var("OKTA_URL"), stack.var("OKTA_API_TOKEN"));
    let mut names: Vec<String> = okta_api(
        okta,
        token,
        Method::GET,
        &format!("/api/v1/users/{id}/groups"),
        None,
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .map(|g| g["profile"]["name"].as_str().unwrap().to_string())
    .collect();
    names.sort();
    names
}

async fn scim_account(stack: &Stack, login: &str) -> Value {
    let mut url = reqwest::Url::parse(&format!("{}/Users", stack.var("SCIM_URL"))).unwrap();
    url.query_pairs_mut()
        .append_pair("filter", &format!("userName eq \"{login}\""));
    let mut req = reqwest::Client::new().get(url);
    if !stack.var("SCIM_TOKEN").is_empty() {
        req = req.bearer_auth(stack.var("SCIM_TOKEN"));
    }
    let list: Value = req.send().await.unwrap().json().await.unwrap();
    list["Resources"][0].clone()
}

async fn deliveries(stack: &Stack) -> Vec<Value> {
    let url = format!(
        "{}/_deliveries?user={ADA}",
        stack.var("WEBHOOK_RECEIVER_URL")
    );
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn job_keys(stack: &Stack, id: &str) -> Vec<String> {
    stack.jobs(id).await.iter().map(|j| text(j, "sk")).collect()
}

/// Waits for a new job (not in `known`) of `event_type` to finish and returns it.
async fn finished(
    stack: &Stack,
    id: &str,
    event_type: &str,
    known: &[String],
) -> HashMap<String, AttributeValue> {
    for _ in 0..150 {
        let jobs = stack.jobs(id).await;
        if let Some(job) = jobs.iter().find(|j| {
            !known.contains(&text(j, "sk"))
                && text(j, "event_type") == event_type
                && !matches!(
                    text(j, "status").as_str(),
                    "pending" | "running" | "retrying"
                )
        }) {
            return job.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "no finished {event_type} job for {id}: {:?}",
        stack.jobs(id).await
    );
}

#[tokio::test]
async fn a_deactivation_in_okta_removes_access_everywhere_and_a_reactivation_restores_it() {
    let stack = Stack::get();
    let http = reqwest::Client::new();
    let (okta, token) = (stack.var("OKTA_URL"), stack.var("OKTA_API_TOKEN"));
    assert_eq!(
        groups(&stack, ADA).await,
        [
            "AD Domain Users",
            "Engineering",
            "Everyone",
            "GitHub Admins",
            "VPN Users"
        ]
    );
    assert_eq!(scim_account(&stack, ADA_LOGIN).await["active"], true);
    let known = job_keys(&stack, ADA).await;
    let deliveries_before = deliveries(&stack).await.len();

    okta_api(
        okta,
        token,
        Method::POST,
        &format!("/api/v1/users/{ADA}/lifecycle/deactivate?sendEmail=false"),
        None,
    )
    .await;
    let job = finished(&stack, ADA, "user.lifecycle.deactivate", &known).await;
    assert_eq!(text(&job, "status"), "done", "{job:?}");

    // Okta: managed groups gone; Everyone and the app group are not the API's to change.
    assert_eq!(groups(&stack, ADA).await, ["AD Domain Users", "Everyone"]);
    let state: Value = http
        .get(format!("{okta}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ada = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == ADA)
        .unwrap();
    assert_eq!(ada["_sim"]["sessions"], 0, "sessions cleared");
    // SCIM: the account in scim2-server is inactive.
    assert_eq!(scim_account(&stack, ADA_LOGIN).await["active"], false);
    // Webhook: delivered, and the receiver verified the signature.
    let deliveries = deliveries(&stack).await.split_off(deliveries_before);
    let accepted: Vec<&Value> = deliveries
        .iter()
        .filter(|d| d["verified"] == true)
        .collect();
    assert_eq!(accepted.len(), 1, "{deliveries:?}");
    assert_eq!(accepted[0]["action"], "deprovision");
    // Standard Webhooks headers: the id names the event, action and target.
    let headers = &accepted[0]["headers"];
    assert_eq!(
        headers["webhook-id"],
        format!("{}:deprovision:webhook:internal", text(&job, "event_uuid")),
        "{headers}"
    );
    assert!(headers["webhook-timestamp"]
        .as_str()
        .is_some_and(|t| t.parse::<i64>().is_ok()));
    assert!(headers["webhook-signature"]
        .as_str()
        .is_some_and(|s| s.starts_with("v1,") && !s.contains(' ')));
    // The audit trail lists each of these, in order.
    let trail: Vec<String> = stack
        .audit_items(&format!("USER#{ADA}"))
        .await
        .iter()
        .filter(|i| text(i, "sk").starts_with("AUDIT#") && text(i, "job") == text(&job, "sk"))
        .map(|i| {
            format!(
                "{} {} {}",
                text(i, "action"),
                text(i, "label"),
                text(i, "outcome")
            )
        })
        .collect();
    for line in [
        "okta/remove_membership Engineering done",
        "okta/remove_membership VPN Users done",
        "okta/remove_membership GitHub Admins done",
        &format!("okta/end_sessions {ADA_LOGIN} done"),
        &format!("scim:demo-app/deactivate_account {ADA_LOGIN} done"),
        &format!("webhook:internal/notify {ADA_LOGIN} done"),
    ] {
        assert!(
            trail.iter().any(|l| l == line),
            "{line} missing from {trail:#?}"
        );
    }
    assert!(trail.last().unwrap().starts_with("job.done"), "{trail:#?}");
    assert!(!trail.iter().any(|l| l.contains("AD Domain Users")));

    okta_api(
        okta,
        token,
        Method::POST,
        &format!("/api/v1/users/{ADA}/lifecycle/activate?sendEmail=false"),
        None,
    )
    .await;
    let job = finished(&stack, ADA, "user.lifecycle.activate", &known).await;
    assert_eq!(text(&job, "status"), "done", "{job:?}");
    assert_eq!(
        groups(&stack, ADA).await,
        [
            "AD Domain Users",
            "Engineering",
            "Everyone",
            "GitHub Admins",
            "VPN Users"
        ]
    );
    assert_eq!(scim_account(&stack, ADA_LOGIN).await["active"], true);
}
