//! The DynamoDB adapter against moto: the conditions, the chunking and the error sorting
//! that unit tests with the in-memory store cannot prove.

use std::time::Duration;

use e2e_tests::{text, unique, Stack};
use lifecycle::clock::Timestamp;
use lifecycle::domain::UserRef;
use lifecycle::domain::{AcceptedEvent, IntakeContext, Source};
use lifecycle::domain::{AuditAction, AuditEntry, AuditOutcome, Op};
use lifecycle::domain::{EventType, EventUuid, JobStatus, UserId};
use lifecycle::store::{DynamoStore, IntakeStore, Key, Quarantine, StoreError};

async fn store(stack: &Stack) -> DynamoStore {
    stack.store().await
}

fn event(user: &str) -> AcceptedEvent {
    AcceptedEvent {
        uuid: EventUuid::parse(&unique("evt")).unwrap(),
        published: Timestamp::parse("2026-11-23T10:00:00.250Z").unwrap(),
        event_type: EventType::Deactivate,
        user: UserRef {
            id: UserId::parse(user).unwrap(),
            login: Some("someone@example.com".into()),
            display_name: None,
        },
    }
}

fn ctx(source: Source) -> IntakeContext {
    IntakeContext {
        source,
        received_at: Timestamp::now(),
        request_id: unique("req"),
        delivery_id: None,
        action: None,
    }
}

#[tokio::test]
async fn each_event_is_one_pending_job_and_nothing_else() {
    let stack = Stack::get();
    let store = store(&stack).await;
    let user = unique("00u");
    let e = event(&user);
    let outcome = store
        .record_events(std::slice::from_ref(&e), &ctx(Source::Poll))
        .await
        .unwrap();
    assert_eq!(outcome.created, vec![e.uuid.clone()]);

    assert!(
        stack.items(&format!("EVENT#{}", e.uuid)).await.is_empty(),
        "no separate marker: the job's key is the dedupe marker"
    );

    let jobs = stack.jobs(&user).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(text(&jobs[0], "status"), "pending");
    assert_eq!(text(&jobs[0], "source"), "poll");
    assert_eq!(
        text(&jobs[0], "sk"),
        format!("JOB#2026-11-23T10:00:00.250Z#{}", e.uuid)
    );
}

#[tokio::test]
async fn the_hook_and_the_poller_seeing_one_event_make_one_job() {
    let stack = Stack::get();
    let store = store(&stack).await;
    let user = unique("00u");
    let e = event(&user);
    let first = store
        .record_events(std::slice::from_ref(&e), &ctx(Source::Hook))
        .await
        .unwrap();
    let second = store
        .record_events(std::slice::from_ref(&e), &ctx(Source::Poll))
        .await
        .unwrap();
    assert_eq!(first.created.len(), 1);
    assert_eq!(second.duplicates, vec![e.uuid.clone()]);
    assert!(second.created.is_empty());
    let jobs = stack.jobs(&user).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        text(&jobs[0], "source"),
        "hook",
        "the first writer's job stands"
    );
}

#[tokio::test]
async fn a_delivery_written_in_part_is_taken_whole_when_it_comes_again() {
    // A write failed midway: the events written before it are duplicates on the retry
    // (Okta's, or the poller's read), the rest are created, none twice.
    let stack = Stack::get();
    let store = store(&stack).await;
    let batch: Vec<_> = (0..60).map(|_| event(&unique("00u"))).collect();
    let first = store
        .record_events(&batch[..35], &ctx(Source::Hook))
        .await
        .unwrap();
    assert_eq!(first.created.len(), 35);
    let again = store
        .record_events(&batch, &ctx(Source::Hook))
        .await
        .unwrap();
    let uuids = |list: &[lifecycle::domain::AcceptedEvent]| -> Vec<_> {
        list.iter().map(|e| e.uuid.clone()).collect()
    };
    assert_eq!(
        again.duplicates,
        uuids(&batch[..35]),
        "in the delivery's order"
    );
    assert_eq!(again.created, uuids(&batch[35..]));
    for e in &batch {
        assert_eq!(stack.jobs(e.user.id.as_str()).await.len(), 1);
    }
}

#[tokio::test]
async fn many_events_span_several_transactions_and_known_ones_are_singled_out() {
    let stack = Stack::get();
    let store = store(&stack).await;
    let events: Vec<AcceptedEvent> = (0..180).map(|_| event(&unique("00u"))).collect();
    let known: Vec<AcceptedEvent> = events.iter().step_by(7).cloned().collect();
    store
        .record_events(&known, &ctx(Source::Hook))
        .await
        .unwrap();

    let outcome = store
        .record_events(&events, &ctx(Source::Hook))
        .await
        .unwrap();
    assert_eq!(outcome.duplicates.len(), known.len());
    assert_eq!(outcome.created.len(), events.len() - known.len());
    for e in &events {
        assert_eq!(stack.jobs(e.user.id.as_str()).await.len(), 1);
    }
}

#[tokio::test]
async fn a_quarantined_body_larger_than_an_item_is_kept_whole_in_parts() {
    let stack = Stack::get();
    let store = store(&stack).await;
    let request_id = unique("req");
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    store
        .quarantine(&Quarantine {
            body: &body,
            reason: "test".into(),
            received_at: Timestamp::now(),
            request_id: request_id.clone(),
            ttl: Duration::from_secs(3600),
        })
        .await
        .unwrap();
    let mut parts: Vec<_> = stack
        .items("QUARANTINE")
        .await
        .into_iter()
        .filter(|i| text(i, "request_id") == request_id)
        .collect();
    parts.sort_by_key(|i| text(i, "sk"));
    assert_eq!(parts.len(), 3);
    let joined: Vec<u8> = parts
        .iter()
        .flat_map(|p| p["body"].as_b().unwrap().as_ref().to_vec())
        .collect();
    assert_eq!(joined, body);
}

#[tokio::test]
async fn recorded_times_never_move_backwards() {
    let stack = Stack::get();
    let store = store(&stack).await;
    let later = Timestamp::now().plus(Duration::from_secs(3600 * 24 * 365 * 50));
    store.mark_delivery(later).await.unwrap();
    store.mark_delivery(Timestamp::now()).await.unwrap();
    let integration = store.integration().await.unwrap();
    assert_eq!(integration.last_delivery_at, Some(later.to_string()));
    assert!(integration.enabled);
}

#[tokio::test]
async fn an_unreachable_table_is_unavailable_not_rejected() {
    let stack = Stack::get();
    let config = aws_sdk_dynamodb::config::Builder::from(&lifecycle::aws::sdk_config().await)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let dead = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        stack.table(),
        stack.audit_table(),
    );
    let err = dead
        .record_events(&[event(&unique("00u"))], &ctx(Source::Hook))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(matches!(
        dead.integration().await.unwrap_err(),
        StoreError::Unavailable { .. }
    ));
}

/// Counts the table calls a client makes (one per operation, whatever its retries).
#[derive(Debug, Default, Clone)]
struct Calls(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl aws_sdk_dynamodb::config::Intercept for Calls {
    fn name(&self) -> &'static str {
        "count calls"
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_job_is_found_among_ten_thousand_done_ones_in_one_read() {
    use aws_sdk_dynamodb::types::{AttributeValue::S, PutRequest, WriteRequest};
    let stack = Stack::get();
    let table = stack.fresh_table().await;
    let client = stack.dynamodb().await;
    let job = |i: usize, status: &str| {
        let user = format!("00ujobs{i:013}");
        let sk = format!(
            "JOB#2026-11-{:02}T10:00:00.000Z#{i:08}-0000-4000-8000-000000000000",
            1 + i % 28
        );
        let mut item: std::collections::HashMap<String, _> = [
            ("pk", format!("USER#{user}")),
            ("sk", sk.clone()),
            ("kind", "job".into()),
            ("status", status.into()),
            ("user_id", user),
            ("event_uuid", format!("{i:08}-0000-4000-8000-000000000000")),
            ("event_type", "user.lifecycle.deactivate".into()),
            (
                "published",
                format!("2026-11-{:02}T10:00:00.000Z", 1 + i % 28),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), S(v)))
        .collect();
        if status == "failed" {
            item.insert("attention".into(), S("failed".into()));
            item.insert("attention_sk".into(), S(sk));
            item.insert("last_error".into(), S("scim:app: 503 (temporary)".into()));
        }
        item
    };
    // Ten thousand done jobs (done jobs leave the index), and one failed among them.
    let mut writers = tokio::task::JoinSet::new();
    for chunk in (0..10_000).collect::<Vec<_>>().chunks(25) {
        let requests: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let item = if i == 6_789 {
                    job(i, "failed")
                } else {
                    job(i, "done")
                };
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        let (client, table) = (client.clone(), table.clone());
        writers.spawn(async move {
            let mut pending = Some(std::collections::HashMap::from([(table, requests)]));
            while let Some(items) = pending.take().filter(|m| !m.is_empty()) {
                let out = client
                    .batch_write_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .unwrap();
                pending = out.unprocessed_items().cloned();
            }
        });
        if writers.len() >= 8 {
            writers.join_next().await.unwrap().unwrap();
        }
    }
    writers.join_all().await;

    let calls = Calls::default();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        client
            .config()
            .to_builder()
            .interceptor(calls.clone())
            .build(),
    );
    let store = DynamoStore::new(counted, &table, stack.audit_table());
    let failed = store
        .jobs_in_status(&lifecycle::domain::JobStatus::Failed, None, 100)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].user.as_str(), "00ujobs0000000006789");
    assert_eq!(
        calls.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one query of the attention index, however many jobs are done"
    );
}

/// A store over a fresh state table and a fresh audit table (no stream reader behind them:
/// nothing but the test acts on their items).
async fn fresh_store(stack: &Stack) -> (DynamoStore, String, String) {
    let (table, audit_table) = stack.fresh_tables().await;
    let store = DynamoStore::new(stack.dynamodb().await, &table, &audit_table);
    (store, table, audit_table)
}

/// Every item of `table`, every page of the scan.
async fn scan_all(
    stack: &Stack,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let client = stack.dynamodb().await;
    let (mut items, mut start) = (Vec::new(), None);
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

fn step_line(job: &lifecycle::domain::Job, detail: &str) -> AuditEntry {
    AuditEntry {
        target: Some("okta".into()),
        detail: Some(detail.into()),
        ..AuditEntry::for_job(
            job,
            AuditAction::Step {
                target: "okta".into(),
                op: Op::RemoveMembership,
            },
            AuditOutcome::Done,
            "deprovision:test",
            Timestamp::parse("2026-11-23T10:00:01.000Z").unwrap(),
        )
    }
}

/// A job of a fresh user in `store`'s state table, claimed under `token`.
async fn claimed_job(store: &DynamoStore, token: &str) -> lifecycle::domain::Job {
    let e = event(&unique("00u"));
    store
        .record_events(std::slice::from_ref(&e), &ctx(Source::Hook))
        .await
        .unwrap();
    let key = Key::job(&e.user.id, &e.published, &e.uuid);
    let job = store.job(&key).await.unwrap().expect("the job was written");
    store
        .claim_job(&job, token, Timestamp::now(), Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a pending job can be claimed")
}

#[tokio::test]
async fn an_audit_line_written_twice_with_the_same_key_is_refused_not_overwritten() {
    let stack = Stack::get();
    let (store, _, audit_table) = fresh_store(&stack).await;
    let job = claimed_job(&store, "run-1").await;
    let first = step_line(&job, "the first word");
    store.append_audit(&first).await.unwrap();

    // The same key again, other content: alone, and inside a job step's transaction.
    let second = step_line(&job, "a rewrite");
    let alone = store.append_audit(&second).await.unwrap_err();
    assert!(matches!(alone, StoreError::Conflict { .. }), "{alone}");
    let in_step = store
        .record_steps(
            &job,
            "run-1",
            &[("okta:remove:00g1".to_owned(), "done", second.clone())],
        )
        .await
        .unwrap_err();
    assert!(matches!(in_step, StoreError::Conflict { .. }), "{in_step}");

    let trail = store.audit_trail(&job.user).await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].detail.as_deref(), Some("the first word"));
    let items = scan_all(&stack, &audit_table).await;
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items[0], "detail"), "the first word");
    // The refused transaction changed nothing on the job either: all or nothing.
    let job_now = store.job(&Key::of_job(&job)).await.unwrap().unwrap();
    assert!(job_now.steps_done.is_empty(), "{:?}", job_now.steps_done);
}

#[tokio::test]
async fn a_job_steps_transaction_writes_its_audit_line_to_the_audit_table_only() {
    let stack = Stack::get();
    let (store, table, audit_table) = fresh_store(&stack).await;
    let job = claimed_job(&store, "run-1").await;
    let line = step_line(&job, "removed from Engineering");
    store
        .record_steps(
            &job,
            "run-1",
            &[("okta:remove:00g1".to_owned(), "done", line.clone())],
        )
        .await
        .unwrap();

    // The step is on the job in the state table, in the same transaction as its line.
    let job_now = store.job(&Key::of_job(&job)).await.unwrap().unwrap();
    assert_eq!(
        job_now
            .steps_done
            .get("okta:remove:00g1")
            .map(String::as_str),
        Some("done")
    );
    let audit_items = scan_all(&stack, &audit_table).await;
    assert_eq!(audit_items.len(), 1, "{audit_items:?}");
    assert!(text(&audit_items[0], "sk").starts_with("AUDIT#"));
    assert_eq!(text(&audit_items[0], "pk"), format!("USER#{}", job.user));
    assert_eq!(text(&audit_items[0], "job"), job.id);
    assert_eq!(text(&audit_items[0], "audit_day"), "2026-11-23");
    let state = scan_all(&stack, &table).await;
    let audit_shaped: Vec<_> = state
        .iter()
        .filter(|i| {
            text(i, "sk").starts_with("AUDIT#")
                || text(i, "kind") == "audit"
                || i.contains_key("audit_day")
        })
        .collect();
    assert!(audit_shaped.is_empty(), "{audit_shaped:?}");
    assert_eq!(state.len(), 1, "only the job: {state:?}");

    // A claim lost meanwhile cancels the whole transaction: no line without its step.
    let other = step_line(&job, "too late");
    let other = AuditEntry { seq: 1, ..other };
    let lost = store
        .record_steps(
            &job,
            "run-0",
            &[("okta:remove:00g2".to_owned(), "done", other.clone())],
        )
        .await
        .unwrap_err();
    assert!(matches!(lost, StoreError::Conflict { .. }), "{lost}");
    assert_eq!(scan_all(&stack, &audit_table).await.len(), 1);

    // The readers find it in the audit table: the subject's trail and the day's index.
    let trail = store.audit_trail(&job.user).await.unwrap();
    assert_eq!(trail.len(), 1);
    let mut reader = store.audit_reader(
        Timestamp::parse("2026-11-23T00:00:00Z").unwrap(),
        Timestamp::parse("2026-11-24T00:00:00Z").unwrap(),
        None,
    );
    let page = reader.next_page().await.unwrap().expect("the day's line");
    assert!(page.iter().any(|l| l.job_id == job.id), "{page:?}");
}

#[tokio::test]
async fn steps_recorded_together_are_all_on_the_job_with_a_line_each_past_one_transaction() {
    let stack = Stack::get();
    let (store, _, _) = fresh_store(&stack).await;
    let job = claimed_job(&store, "run-1").await;
    // More steps than one transaction takes: two transactions, every step and line.
    let n = lifecycle::store::STEPS_PER_RECORD + 5;
    let steps: Vec<(String, &str, AuditEntry)> = (0..n)
        .map(|i| {
            let line = AuditEntry {
                seq: u32::try_from(i).unwrap(),
                ..step_line(&job, &format!("removed from group {i}"))
            };
            (format!("okta:remove:00g{i:03}"), "done", line)
        })
        .collect();
    store.record_steps(&job, "run-1", &steps).await.unwrap();
    let job_now = store.job(&Key::of_job(&job)).await.unwrap().unwrap();
    assert_eq!(job_now.steps_done.len(), n, "{:?}", job_now.steps_done);
    let trail = store.audit_trail(&job.user).await.unwrap();
    assert_eq!(trail.len(), n);

    // A claim lost meanwhile: nothing of the next batch is written.
    let more = vec![(
        "okta:end_sessions".to_owned(),
        "done",
        AuditEntry {
            seq: 999,
            ..step_line(&job, "sessions")
        },
    )];
    let lost = store.record_steps(&job, "run-0", &more).await.unwrap_err();
    assert!(matches!(lost, StoreError::Conflict { .. }), "{lost}");
    assert_eq!(store.audit_trail(&job.user).await.unwrap().len(), n);
}

#[tokio::test]
async fn a_job_whose_run_died_while_running_is_handed_on_once_and_a_live_run_never() {
    let stack = Stack::get();
    let (store, _, _) = fresh_store(&stack).await;
    let e = event(&unique("00u"));
    store
        .record_events(std::slice::from_ref(&e), &ctx(Source::Hook))
        .await
        .unwrap();
    let key = Key::job(&e.user.id, &e.published, &e.uuid);
    let job = store.job(&key).await.unwrap().unwrap();
    // Claimed two minutes ago for one minute: the run died and its claim expired.
    let long_ago = Timestamp::now().minus(Duration::from_secs(120));
    let dead = store
        .claim_job(&job, "stream:1", long_ago, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .rescue_abandoned(&dead, "okta-lifecycle:poller", Timestamp::now())
        .await
        .unwrap());
    let now = store.job(&key).await.unwrap().unwrap();
    assert_eq!(now.status, JobStatus::RetryRequested);
    assert_eq!(now.claim, None);
    // Twice is once: the job moved on.
    assert!(!store
        .rescue_abandoned(&dead, "okta-lifecycle:poller", Timestamp::now())
        .await
        .unwrap());
    let trail = store.audit_trail(&e.user.id).await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].actor, "okta-lifecycle:poller");

    // A run that holds a live claim is left alone.
    let live = store
        .claim_job(&now, "stream:2", Timestamp::now(), Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(!store
        .rescue_abandoned(&live, "okta-lifecycle:poller", Timestamp::now())
        .await
        .unwrap());
    // Even one read while it was expired: a new claim taken since wins.
    let stale_view = lifecycle::domain::Job {
        claim_expires_ms: Some(0),
        ..live.clone()
    };
    assert!(!store
        .rescue_abandoned(
            &lifecycle::domain::Job {
                claim: Some("stream:1".into()),
                ..stale_view
            },
            "okta-lifecycle:poller",
            Timestamp::now()
        )
        .await
        .unwrap());
    assert_eq!(
        store.job(&key).await.unwrap().unwrap().status,
        JobStatus::Running
    );
}

fn planning_drop() -> lifecycle::domain::SyncDrop {
    lifecycle::domain::SyncDrop::planning(
        unique("drop"),
        "sync-bucket".into(),
        "incoming/people.csv".into(),
        Some("v1".into()),
        Timestamp::now(),
    )
}

#[tokio::test]
async fn a_drop_is_settled_and_released_only_with_its_audit_line() {
    use lifecycle::domain::{AuditSubject, DropStatus};
    use lifecycle::store::DropClaim;
    use lifecycle::sync::drop::audit_line;

    let stack = Stack::get();
    let (store, _, _) = fresh_store(&stack).await;
    let mut drop = planning_drop();
    let claim = store
        .claim_drop(&drop, "run-1", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(claim, DropClaim::Claimed);

    // A line already holds the settle's key (as an earlier attempt's line would): the
    // transaction is refused whole, and the drop is still planning, still claimed.
    drop.status = DropStatus::Held;
    drop.updated_at = Timestamp::now();
    let line = audit_line(&drop, "sync:run-1");
    store.append_audit(&line).await.unwrap();
    let refused = store.settle_drop(&drop, "run-1", &line).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict { .. }), "{refused}");
    let now = store.sync_drop(&drop.id).await.unwrap().unwrap();
    assert_eq!(now.status, DropStatus::Planning, "nothing moved: {now:?}");

    // Settled with a fresh line: the drop and its line together.
    drop.updated_at = Timestamp::now();
    let settled = audit_line(&drop, "sync:run-1");
    store.settle_drop(&drop, "run-1", &settled).await.unwrap();
    assert_eq!(
        store.sync_drop(&drop.id).await.unwrap().unwrap().status,
        DropStatus::Held
    );
    // A second settle (another run's claim) moves nothing and writes no line.
    drop.updated_at = Timestamp::now();
    let late = audit_line(&drop, "sync:run-2");
    let again = store.settle_drop(&drop, "run-2", &late).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict { .. }), "{again}");

    // Released once, with its line; a second release is refused and adds none.
    drop.status = DropStatus::Released;
    drop.released_by = Some("operator:ada".into());
    drop.updated_at = Timestamp::now();
    let released = audit_line(&drop, "operator:ada");
    store.release_drop(&drop, &released).await.unwrap();
    drop.updated_at = Timestamp::now();
    let twice = audit_line(&drop, "operator:bob");
    let refused = store.release_drop(&drop, &twice).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict { .. }), "{refused}");

    let trail: Vec<_> = store
        .audit_trail_of(&AuditSubject::Integration)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.job_id == drop.id)
        .map(|l| (l.action.to_string(), l.actor))
        .collect();
    assert_eq!(
        trail,
        vec![
            ("sync.held".to_owned(), "sync:run-1".to_owned()),
            ("sync.held".to_owned(), "sync:run-1".to_owned()),
            ("sync.released".to_owned(), "operator:ada".to_owned()),
        ],
        "the planted line, the settle's, the release's: no line without its move"
    );
}

fn snapshot_line(job: &lifecycle::domain::Job, seq: u32, snapshot: &str) -> AuditEntry {
    AuditEntry {
        seq,
        detail: Some(snapshot.into()),
        ..AuditEntry::for_job(
            job,
            AuditAction::Snapshot,
            AuditOutcome::Recorded,
            "deprovision:test",
            Timestamp::parse("2026-11-23T10:00:01.000Z").unwrap(),
        )
    }
}

#[tokio::test]
async fn a_snapshot_is_stored_only_with_its_audit_line_and_the_first_one_stands() {
    use lifecycle::domain::{GroupRef, Holdings, Snapshot};
    let stack = Stack::get();
    let (store, _, _) = fresh_store(&stack).await;
    let job = claimed_job(&store, "run-1").await;
    let holding = |group: &str| -> Snapshot {
        let mut s = Snapshot::new();
        s.insert(
            "okta".into(),
            Holdings {
                groups: vec![GroupRef {
                    id: group.into(),
                    name: group.into(),
                }],
                account: None,
            },
        );
        s
    };

    // The line's key is taken (as by an earlier write of the same line): refused whole,
    // and no snapshot is stored to go on with.
    let taken = snapshot_line(&job, 1, "planted");
    store.append_audit(&taken).await.unwrap();
    let refused = store
        .save_snapshot(
            &job.user,
            &holding("00gA"),
            &job.id,
            None,
            Timestamp::now(),
            &taken,
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Conflict { .. }), "{refused}");
    let state = store.user_state(&job.user).await.unwrap();
    assert!(state.snapshot.is_none(), "{:?}", state.snapshot);

    // Stored with its line; a later attempt's snapshot is not, and writes no line.
    let first = holding("00gFirst");
    let stored = store
        .save_snapshot(
            &job.user,
            &first,
            &job.id,
            None,
            Timestamp::now(),
            &snapshot_line(&job, 2, "first"),
        )
        .await
        .unwrap();
    assert_eq!(stored, first);
    let again = store
        .save_snapshot(
            &job.user,
            &holding("00gLater"),
            &job.id,
            None,
            Timestamp::now(),
            &snapshot_line(&job, 3, "later"),
        )
        .await
        .unwrap();
    assert_eq!(again, first, "the first snapshot stands");
    let lines: Vec<_> = store
        .audit_trail(&job.user)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|l| l.detail)
        .collect();
    assert_eq!(lines, vec!["planted".to_owned(), "first".to_owned()]);
}
