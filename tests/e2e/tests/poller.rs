//! The System Log poller against moto (a table of its own per test) and an Okta
//! simulator of its own per test, so runs, cursors and leases never cross.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use e2e_tests::{create_okta_user, deactivate_okta_user, text, Stack};
use lifecycle::clock::Timestamp;
use lifecycle::config::PollerConfig;
use lifecycle::domain::PollOutcome;
use lifecycle::okta::{ClientOptions, OktaClient, OktaCredentials};
use lifecycle::poller::{OktaApi, Poller};
use lifecycle::secrets::Secret;
use lifecycle::store::DynamoStore;
use okta_sim::{Sim, SimOptions};
use serde_json::{json, Value};
use tokio::time::Instant;

const TOKEN: &str = "00sim-demo-ssws-token-TEST-ONLY";

struct World {
    stack: Stack,
    table: String,
    audit_table: String,
    okta_url: String,
    /// The table client of the pollers built here: moto's, unless a test puts a fault
    /// proxy in between.
    table_client: Option<aws_sdk_dynamodb::Client>,
    _sim: Arc<Sim>,
}

async fn world() -> World {
    let stack = Stack::get();
    let (table, audit_table) = stack.fresh_tables().await;
    let seed = okta_sim::load_seed_file(&e2e_tests::root().join("tests/okta-sim/demo-org.json"))
        .expect("demo org");
    let (addr, sim) = okta_sim::spawn(SimOptions {
        seed: 3,
        seed_doc: Some(seed),
        hook_batch_ms: 50,
        hook_timeout_ms: 3000,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    World {
        stack,
        table,
        audit_table,
        okta_url: format!("http://{addr}"),
        table_client: None,
        _sim: sim,
    }
}

impl World {
    fn config(&self, extra: &[(&str, &str)]) -> PollerConfig {
        let mut vars: HashMap<String, String> = [
            ("TABLE_NAME", self.table.as_str()),
            ("AUDIT_TABLE_NAME", self.audit_table.as_str()),
            ("OKTA_ORG_URL", self.okta_url.as_str()),
            ("OKTA_CREDENTIALS_SECRET_ID", "unused-here"),
            ("SWEEP_INTERVAL_SECONDS", "86400"),
            ("POLL_TIME_MARGIN_SECONDS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        PollerConfig::from_lookup(|k| vars.get(k).cloned()).expect("valid poller config")
    }

    async fn poller(&self, extra: &[(&str, &str)]) -> Poller<OktaApi> {
        let config = self.config(extra);
        let table_client = match &self.table_client {
            Some(c) => c.clone(),
            None => self.stack.dynamodb().await,
        };
        let store = DynamoStore::new(table_client, &self.table, &self.audit_table);
        let client = OktaClient::new(
            &self.okta_url,
            OktaCredentials::Ssws(Secret::new(TOKEN)),
            ClientOptions::default(),
        )
        .expect("client");
        Poller::new(config, store, OktaApi::new(client))
    }

    async fn control(&self, path: &str, body: Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", self.okta_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }

    /// Creates and activates a user, then deactivates it; returns its id.
    async fn deactivate_new_user(&self) -> String {
        let (id, _) = create_okta_user(&self.okta_url, TOKEN, "poll.").await;
        deactivate_okta_user(&self.okta_url, TOKEN, &id).await;
        id
    }

    async fn jobs(
        &self,
        user: &str,
    ) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.stack
            .dynamodb()
            .await
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user}")),
            )
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }
}

fn plenty() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[tokio::test]
async fn a_run_turns_logged_deactivations_into_poll_jobs_and_records_its_figures() {
    let w = world().await;
    let users = [w.deactivate_new_user().await, w.deactivate_new_user().await];
    let poller = w.poller(&[]).await;
    let report = poller.run("run-1", plenty()).await.unwrap();
    assert_eq!(report.outcome, PollOutcome::CaughtUp);
    assert_eq!(report.jobs_created, 2);
    for user in &users {
        let jobs = w.jobs(user).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(text(&jobs[0], "source"), "poll");
        assert_eq!(text(&jobs[0], "event_type"), "user.lifecycle.deactivate");
    }
    let status = poller.store().poll_status().await.unwrap();
    assert_eq!(status.outcome, Some(PollOutcome::CaughtUp));
    assert_eq!(status.jobs_created, 2);
    assert!(status.lag_seconds.is_some());
    assert!(status.newest_event_at.is_some());
    assert!(poller.store().cursor().await.unwrap().is_some());
}

#[tokio::test]
async fn the_cursor_survives_a_restart_and_no_page_is_read_twice() {
    let w = world().await;
    let first = [w.deactivate_new_user().await, w.deactivate_new_user().await];
    // One event per page and one page per run: each run reads exactly one new event.
    let limits = [("POLL_PAGE_LIMIT", "1"), ("POLL_MAX_PAGES", "1")];
    let r1 = w
        .poller(&limits)
        .await
        .run("process-a", plenty())
        .await
        .unwrap();
    assert_eq!((r1.outcome, r1.jobs_created), (PollOutcome::MaxPages, 1));
    // A new poller (a new process) continues from the stored cursor.
    let r2 = w
        .poller(&limits)
        .await
        .run("process-b", plenty())
        .await
        .unwrap();
    assert_eq!((r2.jobs_created, r2.duplicates), (1, 0), "{r2:?}");
    for user in &first {
        assert_eq!(w.jobs(user).await.len(), 1);
    }
    let later = w.deactivate_new_user().await;
    let r3 = w
        .poller(&[])
        .await
        .run("process-c", plenty())
        .await
        .unwrap();
    assert_eq!((r3.jobs_created, r3.duplicates), (1, 0), "{r3:?}");
    assert_eq!(w.jobs(&later).await.len(), 1);
}

#[tokio::test]
async fn an_unchanged_cursor_ends_the_run_after_one_page() {
    let w = world().await;
    w.deactivate_new_user().await;
    let poller = w.poller(&[]).await;
    poller.run("run-1", plenty()).await.unwrap();
    let again = poller.run("run-2", plenty()).await.unwrap();
    assert_eq!(again.outcome, PollOutcome::CaughtUp);
    assert_eq!(
        again.pages, 1,
        "an empty page with Okta's ever-present next link ends the run"
    );
    assert_eq!(again.jobs_created, 0);
}

#[tokio::test]
async fn a_run_does_not_start_while_another_holds_the_lease() {
    let w = world().await;
    w.deactivate_new_user().await;
    let poller = w.poller(&[]).await;
    assert!(poller
        .store()
        .acquire_lease("someone-else", Timestamp::now(), Duration::from_secs(120))
        .await
        .unwrap());
    let report = poller.run("me", plenty()).await.unwrap();
    assert_eq!(report.outcome, PollOutcome::Skipped);
    assert_eq!(report.pages, 0);
    assert!(poller.store().cursor().await.unwrap().is_none());
    // Two runs at once: exactly one of them polls.
    poller.store().release_lease("someone-else").await.unwrap();
    let (a, b) = tokio::join!(poller.run("a", plenty()), poller.run("b", plenty()));
    let outcomes = [a.unwrap().outcome, b.unwrap().outcome];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == PollOutcome::Skipped)
            .count(),
        1,
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_run_that_lost_its_lease_stops_writing() {
    let w = world().await;
    w.deactivate_new_user().await;
    let poller = w.poller(&[]).await;
    let store = poller.store();
    assert!(store
        .acquire_lease("old-run", Timestamp::now(), Duration::from_millis(1))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The lease expired; a newer run took it. The old run's cursor write must fail.
    assert!(store
        .acquire_lease("new-run", Timestamp::now(), Duration::from_secs(60))
        .await
        .unwrap());
    let err = store
        .save_cursor("old-run", Timestamp::now(), None, "cursor-x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, lifecycle::store::StoreError::LeaseLost),
        "{err}"
    );
    assert!(store.cursor().await.unwrap().is_none());
}

#[tokio::test]
async fn a_429_is_honoured_and_the_next_run_continues() {
    let w = world().await;
    let user = w.deactivate_new_user().await;
    w.control(
        "/_sim/faults",
        json!({"endpoints": [{"family": "logs", "status": 429, "count": 1}]}),
    )
    .await;
    let poller = w.poller(&[]).await;
    let limited = poller
        .run("run-1", Instant::now() + Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(limited.outcome, PollOutcome::RateLimited);
    assert_eq!(limited.rate_limited, 1);
    assert!(w.jobs(&user).await.is_empty());
    assert!(poller.store().cursor().await.unwrap().is_none());
    // The same client keeps honouring the 429 until Okta's reset time...
    let same_window = poller.run("run-2", plenty()).await.unwrap();
    assert_eq!(same_window.outcome, PollOutcome::RateLimited);
    // ...and the next run after it (a client that has not seen the 429, as after the
    // reset) continues from the stored state.
    let next = w.poller(&[]).await.run("run-3", plenty()).await.unwrap();
    assert_eq!(next.outcome, PollOutcome::CaughtUp);
    assert_eq!(w.jobs(&user).await.len(), 1);
}

#[tokio::test]
async fn a_run_out_of_time_stops_cleanly_and_the_next_one_continues() {
    let w = world().await;
    let user = w.deactivate_new_user().await;
    let poller = w.poller(&[]).await;
    let out_of_time = poller.run("run-1", Instant::now()).await.unwrap();
    assert_eq!(out_of_time.outcome, PollOutcome::TimeBudget);
    assert_eq!(out_of_time.pages, 0);
    let next = poller.run("run-2", plenty()).await.unwrap();
    assert_eq!(next.jobs_created, 1);
    assert_eq!(w.jobs(&user).await.len(), 1);
}

#[tokio::test]
async fn the_sweep_finds_a_deprovisioned_user_that_hook_and_log_both_missed() {
    let w = world().await;
    let user = w.deactivate_new_user().await;
    // The poller here reads only delete events, so the deactivation is "missed" by the log.
    let poller = w
        .poller(&[
            ("ENABLED_EVENT_TYPES", "user.lifecycle.delete.initiated"),
            ("SWEEP_INTERVAL_SECONDS", "300"),
        ])
        .await;
    let report = poller.run("run-1", plenty()).await.unwrap();
    assert!(report.swept);
    assert_eq!(report.sweep_jobs_created, 1, "{report:?}");
    let jobs = w.jobs(&user).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(text(&jobs[0], "source"), "sweep");
    // The sweep is not due again for a while; and if it were, the job exists already.
    let again = poller.run("run-2", plenty()).await.unwrap();
    assert!(!again.swept);
    assert_eq!(w.jobs(&user).await.len(), 1);
}

#[tokio::test]
async fn the_sweep_runs_a_failed_deprovisioning_again_once() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let w = world().await;
    let user = w.deactivate_new_user().await;
    let poller = w.poller(&[("SWEEP_INTERVAL_SECONDS", "0")]).await;
    let first = poller.run("run-1", plenty()).await.unwrap();
    assert_eq!(first.jobs_created, 1);
    assert_eq!(
        first.sweep_jobs_created, 0,
        "the log's job is in hand: {first:?}"
    );
    let jobs = w.jobs(&user).await;
    assert_eq!(text(&jobs[0], "source"), "poll");

    // The deprovision function gave up on it (a target stayed down).
    w.stack
        .dynamodb()
        .await
        .update_item()
        .table_name(&w.table)
        .key("pk", jobs[0]["pk"].clone())
        .key("sk", jobs[0]["sk"].clone())
        .update_expression("SET #s = :failed")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
        .send()
        .await
        .unwrap();
    let second = poller.run("run-2", plenty()).await.unwrap();
    assert!(second.swept);
    assert_eq!(second.sweep_jobs_created, 1, "{second:?}");
    let jobs = w.jobs(&user).await;
    assert_eq!(jobs.len(), 2);
    assert!(jobs
        .iter()
        .any(|j| text(j, "source") == "sweep" && text(j, "status") == "pending"));

    // Once: the sweep's job is in hand now, and its id is the same on every sweep.
    let third = poller.run("run-3", plenty()).await.unwrap();
    assert_eq!(third.sweep_jobs_created, 0, "{third:?}");
    assert_eq!(w.jobs(&user).await.len(), 2);
}

#[tokio::test]
async fn every_run_counts_the_held_jobs_and_ages_the_oldest_hold() {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let w = world().await;
    let poller = w.poller(&[]).await;
    let report = poller.run("run-held-0", plenty()).await.unwrap();
    assert_eq!((report.held_jobs, report.oldest_held_seconds), (0, None));

    // Two jobs the fuse held, one two hours ago (for an event a day old) and one just now.
    let now = Timestamp::now();
    let day_ago = now.minus(Duration::from_secs(86_400));
    for (i, held_at) in [now.minus(Duration::from_secs(7_200)), now]
        .iter()
        .enumerate()
    {
        let sk = format!("JOB#{day_ago}#0000000{i}-aaaa-bbbb-cccc-000000000000");
        let item = [
            ("pk", format!("USER#00uheld{i}abcdefgh")),
            ("sk", sk.clone()),
            ("kind", "job".into()),
            ("status", "held".into()),
            ("attention", "held".into()),
            ("attention_sk", sk),
            ("user_id", format!("00uheld{i}abcdefgh")),
            (
                "event_uuid",
                format!("0000000{i}-aaaa-bbbb-cccc-000000000000"),
            ),
            ("event_type", "user.lifecycle.deactivate".into()),
            ("published", day_ago.to_string()),
            ("finished_at", held_at.to_string()),
        ];
        w.stack
            .dynamodb()
            .await
            .put_item()
            .table_name(&w.table)
            .set_item(Some(
                item.into_iter()
                    .map(|(k, v)| (k.to_owned(), S(v)))
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
    }
    let report = poller.run("run-held-1", plenty()).await.unwrap();
    assert_eq!(report.held_jobs, 2);
    let oldest = report.oldest_held_seconds.expect("an age");
    assert!(
        (7_200..7_300).contains(&oldest),
        "aged from the hold, not the event: {oldest}"
    );
    let docs = report.metrics().documents(Timestamp::now());
    let plain = docs.iter().find(|d| d.get("JobsHeld").is_some()).unwrap();
    assert_eq!(plain["JobsHeld"], 2.0);
    assert_eq!(plain["OldestHeldSeconds"], json!(oldest as f64));
}

#[tokio::test]
async fn with_the_table_failing_the_cursor_never_passes_an_event_without_its_job() {
    use e2e_tests::table_faults::{Fault, TableFaults};
    let mut w = world().await;
    let faults = TableFaults::start(w.stack.var("AWS_ENDPOINT_URL")).await;
    w.table_client = Some(faults.client().await);
    let mut users = Vec::new();
    for _ in 0..5 {
        users.push(w.deactivate_new_user().await);
    }
    // One event a page, so the cursor moves after every page; a run that dies holds the
    // lease for a second only.
    let limits = [("POLL_PAGE_LIMIT", "1"), ("POLL_LEASE_SECONDS", "1")];
    faults.fail_at_rate(
        &["*"],
        &[
            Fault::Throttle,
            Fault::LoseAnswer,
            Fault::ServerError,
            Fault::Drop,
            Fault::Timeout,
        ],
        0.25,
    );
    let (mut failed_runs, mut caught_up) = (0, false);
    for n in 0..40 {
        let poller = w.poller(&limits).await;
        match poller.run(&format!("run-{n}"), plenty()).await {
            Ok(report) if report.outcome == PollOutcome::CaughtUp => {
                caught_up = true;
                break;
            }
            Ok(_) => {}
            Err(_) => failed_runs += 1,
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    faults.clear();
    println!(
        "{failed_runs} runs failed; calls failed {}",
        faults.failed()
    );
    assert!(caught_up, "the poller caught up within 40 runs");
    assert!(
        faults.failed() > 0 && failed_runs > 0,
        "the faults reached it: {failed_runs} runs failed"
    );
    // Nothing skipped, nothing twice: every deactivation exactly one job.
    for user in &users {
        assert_eq!(w.jobs(user).await.len(), 1, "{user}");
    }
    // And a run after it, the table well again, finds nothing new.
    let after = w
        .poller(&limits)
        .await
        .run("after", plenty())
        .await
        .unwrap();
    assert_eq!(
        (after.jobs_created, after.outcome.clone()),
        (0, PollOutcome::CaughtUp),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_lease_written_but_not_acknowledged_is_given_back_and_the_next_run_polls() {
    use e2e_tests::table_faults::{Fault, TableFaults};
    let mut w = world().await;
    let faults = TableFaults::start(w.stack.var("AWS_ENDPOINT_URL")).await;
    w.table_client = Some(faults.client().await);
    let user = w.deactivate_new_user().await;
    // Every attempt of the SDK writes the lease and loses the answer.
    faults.fail_next_with("PutItem", "LOCK", Fault::LoseAnswer, 3);
    let poller = w.poller(&[]).await;
    let first = poller.run("first", plenty()).await;
    assert!(first.is_err(), "{first:?}");
    assert_eq!(
        faults.tally("PutItem").failed.get(&Fault::LoseAnswer),
        Some(&3)
    );
    // The lease (180 s) was given back: the next run polls at once.
    let next = poller.run("next", plenty()).await.unwrap();
    assert_ne!(next.outcome, PollOutcome::Skipped, "{next:?}");
    assert_eq!(w.jobs(&user).await.len(), 1);
}
