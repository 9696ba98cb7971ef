//! The hook's intake in-process with the table failing under it (a fault proxy between
//! its store and moto, `e2e_tests::table_faults`): throttling, 500s, timeouts, dropped
//! connections and writes whose answer is lost. The hook answers 200 only when every
//! event of the delivery has its job, answers nothing but 200 or 503, and Okta's retry
//! after a 503 makes no second job.

use e2e_tests::table_faults::{Fault, TableFaults};
use e2e_tests::{deactivations, events, text, user_of, Stack};
use lambda_http::{Body, Request};
use lifecycle::config::Config;
use lifecycle::http::HookHandler;
use lifecycle::secrets::SecretsManagerSource;
use lifecycle::store::DynamoStore;
use serde_json::Value;

/// Okta retries a delivery once; the poller would find what is left. Here a delivery is
/// sent until it is taken, at most this many times, so that every event's fate is known.
const SENDS: usize = 8;

fn delivery(stack: &Stack, body: &Value) -> Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/okta")
        .header(stack.auth_header(), stack.secret())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

#[tokio::test]
async fn with_the_table_failing_the_hook_answers_200_only_with_every_job_written_and_makes_each_once(
) {
    let stack = Stack::get();
    let (table, audit_table) = stack.fresh_tables().await;
    let faults = TableFaults::start(stack.var("AWS_ENDPOINT_URL")).await;
    let config = Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some(table.clone()),
        "AUDIT_TABLE_NAME" => Some(audit_table.clone()),
        "HOOK_SECRET_ID" => Some(stack.var("HOOK_SECRET_ID").to_owned()),
        "HOOK_AUTH_HEADER" => Some(stack.auth_header().to_owned()),
        _ => None,
    })
    .expect("hook config");
    let store = DynamoStore::new(faults.client().await, &table, &audit_table);
    let secrets =
        SecretsManagerSource::new(stack.secretsmanager().await, stack.var("HOOK_SECRET_ID"));
    let hook = HookHandler::new(config, store, secrets);
    let jobs_of = |user: String| {
        let (stack, table) = (stack.clone(), table.clone());
        async move {
            stack
                .items_in(&table, &format!("USER#{user}"))
                .await
                .iter()
                .filter(|i| text(i, "sk").starts_with("JOB#"))
                .count()
        }
    };

    // A third of every call the hook makes to the table fails, each fault in turn.
    faults.fail_at_rate(
        &["*"],
        &[
            Fault::Throttle,
            Fault::ServerError,
            Fault::Drop,
            Fault::LoseAnswer,
            Fault::Timeout,
        ],
        0.34,
    );
    let (mut answers, mut refused) = (Vec::new(), 0);
    for _ in 0..12 {
        let body = deactivations(4);
        let mut taken = false;
        for _ in 0..SENDS {
            let status = hook.intake(delivery(&stack, &body)).await.status().as_u16();
            answers.push(status);
            assert!(
                status == 200 || status == 503,
                "only 200, or 503 for Okta to retry: {status}"
            );
            if status == 200 {
                // Taken: every event of it has its job, already.
                for event in events(&body) {
                    assert_eq!(
                        jobs_of(user_of(event).to_owned()).await,
                        1,
                        "a 200 for {} without its job",
                        event["uuid"]
                    );
                }
                taken = true;
                break;
            }
        }
        if !taken {
            refused += 1;
        }
        // However it ended, no event has two jobs (a retry after a write whose answer
        // was lost finds the job there).
        for event in events(&body) {
            assert!(jobs_of(user_of(event).to_owned()).await <= 1);
        }
    }
    faults.clear();
    let lost = faults
        .tally("TransactWriteItems")
        .failed
        .get(&Fault::LoseAnswer)
        .copied()
        .unwrap_or(0)
        + faults
            .tally("PutItem")
            .failed
            .get(&Fault::LoseAnswer)
            .copied()
            .unwrap_or(0);
    println!(
        "answers {answers:?}; calls failed {}; writes made with their answer lost {lost}; deliveries never taken {refused}",
        faults.failed()
    );
    assert!(
        answers.contains(&503),
        "the faults reached the hook: {answers:?}"
    );
    assert!(faults.failed() >= 10, "{}", faults.failed());
    assert_eq!(refused, 0, "every delivery was taken within {SENDS} sends");
}
