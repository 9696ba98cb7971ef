//! A seeded audit trail of departures, for the report test and the export benchmark: the
//! lines as the deprovision function writes them, what the report must find in them, and
//! a bulk loader (`BatchWriteItem`, several requests at once).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use lifecycle::clock::Timestamp;
use lifecycle::domain::UserId;
use lifecycle::domain::{AuditAction, AuditEntry, AuditOutcome, AuditSubject, JobStatus, Op};
use lifecycle::store::audit_item;

/// One departure every minute from the trail's start.
pub const SPACING: Duration = Duration::from_secs(60);
/// The longest time to removal seeded: two hours, twice the report's default SLA.
pub const LONGEST: Duration = Duration::from_secs(7_200);
/// `BatchWriteItem` requests in flight at once while seeding.
pub const WRITERS: usize = 8;

/// What the report must find in a seeded trail.
#[derive(Debug, Default)]
pub struct Seeded {
    /// Audit lines seeded.
    pub lines: usize,
    /// Per job id: seconds from the event to the last removal, for those that ended done.
    pub done: HashMap<String, u64>,
    /// The jobs that ended failed.
    pub failed: Vec<String>,
}

fn line(
    user: &str,
    job: &str,
    uuid: &str,
    at: Timestamp,
    seq: u32,
    action: AuditAction,
    outcome: AuditOutcome,
) -> AuditEntry {
    let target = match &action {
        AuditAction::Step { target, .. } => Some(target.clone()),
        _ => None,
    };
    AuditEntry {
        subject: AuditSubject::User(UserId::parse(user).expect("a valid user id")),
        at,
        seq,
        event_uuid: uuid.into(),
        event_type: "user.lifecycle.deactivate".into(),
        job_id: job.into(),
        action,
        target,
        object: Some("00gobject".into()),
        label: Some("Engineering, \"core\"".into()),
        outcome,
        detail: None,
        actor: "deprovision:test".into(),
        dry_run: false,
    }
}

/// Seconds to removal of the `i`-th departure: from 1 s to [`LONGEST`], skewed towards
/// the short end (the square of an evenly spread value), so the histogram's bars differ.
pub fn time_to_removal(i: usize) -> Duration {
    let longest = LONGEST.as_secs();
    let even = (i as u64 * 37) % longest + 1;
    Duration::from_secs((even * even / longest).max(1))
}

/// Departures needed for about `lines` audit lines (4.1 lines a departure on average).
pub fn departures_for(lines: usize) -> usize {
    (lines * 10).div_ceil(41)
}

/// `departures` departures from `start`, one a minute: four lines each (two Okta steps,
/// a SCIM deactivation, the job's end) and a fifth for every tenth (a snapshot); every
/// 50th fails at SCIM.
pub fn trail(start: Timestamp, departures: usize) -> (Vec<AuditEntry>, Seeded) {
    let mut lines = Vec::new();
    let mut seeded = Seeded::default();
    for i in 0..departures {
        let published = start.plus(SPACING * i as u32);
        let user = format!("00urep{i:014}");
        let uuid = format!("{i:08}-1111-4000-8000-000000000000");
        let job = format!("JOB#{published}#{uuid}");
        let took = time_to_removal(i);
        let step = |target: &str, op| AuditAction::Step {
            target: target.into(),
            op,
        };
        let at = |d: Duration| published.plus(d);
        let entry = |at, seq, action, outcome| line(&user, &job, &uuid, at, seq, action, outcome);
        lines.push(entry(
            at(took / 3),
            0,
            step("okta", Op::RemoveMembership),
            AuditOutcome::Done,
        ));
        lines.push(entry(
            at(took / 2),
            1,
            step("okta", Op::EndSessions),
            AuditOutcome::Done,
        ));
        let (end, outcome) = if i % 50 == 7 {
            seeded.failed.push(job.clone());
            (JobStatus::Failed, AuditOutcome::Failed)
        } else {
            seeded.done.insert(job.clone(), took.as_secs());
            (JobStatus::Done, AuditOutcome::Done)
        };
        lines.push(entry(
            at(took),
            2,
            step("scim:app", Op::DeactivateAccount),
            outcome.clone(),
        ));
        lines.push(entry(at(took), 3, AuditAction::Job(end), outcome));
        if i % 10 == 0 {
            lines.push(entry(
                published,
                4,
                AuditAction::Snapshot,
                AuditOutcome::Recorded,
            ));
        }
    }
    seeded.lines = lines.len();
    (lines, seeded)
}

/// Writes `lines` into `table` (a fresh audit table), 25 a `BatchWriteItem`, [`WRITERS`]
/// requests at once, each until nothing is left unprocessed; then counts the table's
/// items and writes every line again (the same keys) while any is missing: a test that
/// finds a line missing must be finding it missing in the reader, not in the load.
/// Panics on an error, or when three rounds leave lines missing (a loader for tests).
pub async fn seed_checked(client: &aws_sdk_dynamodb::Client, table: &str, lines: &[AuditEntry]) {
    for round in 1..=3 {
        seed(client, table, lines).await;
        let stored = count(client, table).await;
        if stored == lines.len() {
            return;
        }
        eprintln!(
            "seed round {round}: {stored} of {} lines stored; writing them again",
            lines.len()
        );
    }
    panic!("{table}: lines still missing after three rounds of writes");
}

/// The items in `table`, counted by a paged scan.
async fn count(client: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    let mut total = 0;
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        total += usize::try_from(out.count()).unwrap_or(0);
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return total;
        }
    }
}

/// Writes `lines` into `table` (an audit table), 25 a `BatchWriteItem`, [`WRITERS`]
/// requests at once, each until nothing is left unprocessed.
pub async fn seed(client: &aws_sdk_dynamodb::Client, table: &str, lines: &[AuditEntry]) {
    let mut writers = tokio::task::JoinSet::new();
    for chunk in lines.chunks(25) {
        let requests: Vec<_> = chunk
            .iter()
            .map(|l| {
                let put = PutRequest::builder()
                    .set_item(Some(audit_item(l)))
                    .build()
                    .expect("an item with its keys");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let (client, table) = (client.clone(), table.to_owned());
        writers.spawn(async move {
            let mut pending = Some(HashMap::from([(table, requests)]));
            while let Some(items) = pending.take().filter(|m| !m.is_empty()) {
                let out = client
                    .batch_write_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .expect("BatchWriteItem");
                pending = out.unprocessed_items().cloned();
            }
        });
        if writers.len() >= WRITERS {
            writers
                .join_next()
                .await
                .expect("a writer")
                .expect("a writer ends");
        }
    }
    writers.join_all().await;
}
