//! `lifecycle-ops audit-export` and `report` against moto, on a seeded trail of 20,400
//! audit lines over three days: the export's CSV parses with Python's `csv` and holds
//! every line, the JSON lines count, and the report's rows and percentiles match what
//! was seeded.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use e2e_tests::Stack;
use lifecycle::clock::Timestamp;
use lifecycle::domain::UserId;
use lifecycle::domain::{AuditAction, AuditEntry, AuditOutcome, AuditSubject, JobStatus, Op};
use lifecycle::store::{audit_item, DynamoStore};
use lifecycle_ops::export::{ExportArgs, ExportFormat};
use lifecycle_ops::report::{ReportArgs, ReportFormat};
use lifecycle_ops::Command;

const DEPARTURES: usize = 4_000;
const SLA: Duration = Duration::from_secs(3600);

struct Seeded {
    lines: usize,
    /// Per job id: seconds from the event to the last removal, for those that ended done.
    done: HashMap<String, u64>,
    failed: Vec<String>,
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
        subject: AuditSubject::User(UserId::parse(user).unwrap()),
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

/// Four lines per departure (two Okta steps, a SCIM deactivation, the job's end) and a
/// fifth for every tenth (a snapshot); every 50th fails at SCIM.
fn trail(start: Timestamp) -> (Vec<AuditEntry>, Seeded) {
    let mut lines = Vec::new();
    let mut seeded = Seeded {
        lines: 0,
        done: HashMap::new(),
        failed: Vec::new(),
    };
    for i in 0..DEPARTURES {
        let published = start.plus(Duration::from_secs(i as u64 * 60));
        let user = format!("00urep{i:014}");
        let uuid = format!("{i:08}-1111-4000-8000-000000000000");
        let job = format!("JOB#{published}#{uuid}");
        let took = Duration::from_secs((i as u64 * 37) % 7_200 + 1);
        let step = |target: &str, op| AuditAction::Step {
            target: target.into(),
            op,
        };
        let at = |d: Duration| published.plus(d);
        lines.push(line(
            &user,
            &job,
            &uuid,
            at(took / 3),
            0,
            step("okta", Op::RemoveMembership),
            AuditOutcome::Done,
        ));
        lines.push(line(
            &user,
            &job,
            &uuid,
            at(took / 2),
            1,
            step("okta", Op::EndSessions),
            AuditOutcome::Done,
        ));
        if i % 50 == 7 {
            lines.push(line(
                &user,
                &job,
                &uuid,
                at(took),
                2,
                step("scim:app", Op::DeactivateAccount),
                AuditOutcome::Failed,
            ));
            lines.push(line(
                &user,
                &job,
                &uuid,
                at(took),
                3,
                AuditAction::Job(JobStatus::Failed),
                AuditOutcome::Failed,
            ));
            seeded.failed.push(job.clone());
        } else {
            lines.push(line(
                &user,
                &job,
                &uuid,
                at(took),
                2,
                step("scim:app", Op::DeactivateAccount),
                AuditOutcome::Done,
            ));
            lines.push(line(
                &user,
                &job,
                &uuid,
                at(took),
                3,
                AuditAction::Job(JobStatus::Done),
                AuditOutcome::Done,
            ));
            seeded.done.insert(job.clone(), took.as_secs());
        }
        if i % 10 == 0 {
            lines.push(line(
                &user,
                &job,
                &uuid,
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

/// A table client with the command line's timeouts (its reads are an operator's).
async fn operator_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&lifecycle::aws::operator_sdk_config().await)
}

async fn seed(table: &str, lines: Vec<AuditEntry>) {
    let client = operator_client().await;
    let mut writers = tokio::task::JoinSet::new();
    for chunk in lines.chunks(25) {
        let requests: Vec<_> = chunk
            .iter()
            .map(|l| {
                let put = PutRequest::builder()
                    .set_item(Some(audit_item(l)))
                    .build()
                    .unwrap();
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
                    .unwrap();
                pending = out.unprocessed_items().cloned();
            }
        });
        if writers.len() >= 8 {
            writers.join_next().await.unwrap().unwrap();
        }
    }
    writers.join_all().await;
}

/// Python's `csv` module's reading of a file: the rows, header first.
fn python_csv(path: &std::path::Path) -> Vec<Vec<String>> {
    let python = e2e_tests::root().join(".venv/bin/python");
    let out = std::process::Command::new(python)
        .args(["-c", "import csv, json, sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline='')))))"])
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("rows as JSON")
}

/// Nearest rank, as the report says it computes percentiles.
fn nearest_rank(sorted: &[u64], p: usize) -> u64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[tokio::test]
async fn export_and_report_hold_every_line_and_departure_of_a_seeded_trail() {
    let stack = Stack::get();
    let table = stack.fresh_table().await;
    let start = Timestamp::parse("2026-11-02T00:00:00Z").unwrap();
    let (lines, seeded) = trail(start);
    seed(&table, lines).await;
    let store = DynamoStore::new(operator_client().await, &table);
    let dir = std::env::temp_dir().join(e2e_tests::unique("report-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (since, until) = (
        "2026-11-01T00:00:00Z".to_owned(),
        "2026-11-10T00:00:00Z".to_owned(),
    );

    let csv_path = dir.join("trail.csv");
    lifecycle_ops::run(
        &store,
        "auditor",
        Command::AuditExport(ExportArgs {
            since: since.clone(),
            until: until.clone(),
            user: None,
            format: ExportFormat::Csv,
            out: Some(csv_path.clone()),
        }),
    )
    .await
    .unwrap();
    let rows = python_csv(&csv_path);
    assert_eq!(rows.len(), seeded.lines + 1, "a header and every line");
    assert_eq!(rows[0][0], "at");
    assert!(
        rows.iter()
            .any(|r| r.iter().any(|f| f == "Engineering, \"core\"")),
        "quoted fields survive"
    );
    let times: Vec<&String> = rows[1..].iter().map(|r| &r[0]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");

    let jsonl_path = dir.join("trail.jsonl");
    lifecycle_ops::run(
        &store,
        "auditor",
        Command::AuditExport(ExportArgs {
            since: since.clone(),
            until: until.clone(),
            user: None,
            format: ExportFormat::Jsonl,
            out: Some(jsonl_path.clone()),
        }),
    )
    .await
    .unwrap();
    let jsonl = std::fs::read_to_string(&jsonl_path).unwrap();
    assert_eq!(jsonl.lines().count(), seeded.lines);
    assert!(jsonl
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));

    let report_path = dir.join("report.csv");
    lifecycle_ops::run(
        &store,
        "auditor",
        Command::Report(ReportArgs {
            since: since.clone(),
            until: until.clone(),
            sla: SLA,
            format: ReportFormat::Csv,
            out: Some(report_path.clone()),
        }),
    )
    .await
    .unwrap();
    let rows = python_csv(&report_path);
    assert_eq!(rows.len(), DEPARTURES + 1);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let (job, secs, outcome, met) = (
        col("job"),
        col("seconds_to_removal"),
        col("outcome"),
        col("met_sla"),
    );
    let mut reported = Vec::new();
    for row in &rows[1..] {
        match seeded.done.get(&row[job]) {
            Some(&expected) => {
                assert_eq!(row[outcome], "done", "{row:?}");
                assert_eq!(row[secs], format!("{expected}.000"), "{row:?}");
                assert_eq!(
                    row[met],
                    if expected <= SLA.as_secs() {
                        "yes"
                    } else {
                        "no"
                    },
                    "{row:?}"
                );
                reported.push(expected);
            }
            None => {
                assert!(seeded.failed.contains(&row[job]), "{row:?}");
                assert_eq!(row[outcome], "failed", "{row:?}");
                assert_eq!(row[met], "no");
            }
        }
    }
    let mut expected: Vec<u64> = seeded.done.values().copied().collect();
    expected.sort_unstable();
    reported.sort_unstable();
    assert_eq!(reported, expected);
    let sorted: Vec<Duration> = expected.iter().map(|s| Duration::from_secs(*s)).collect();
    for p in [50, 95, 99] {
        assert_eq!(
            lifecycle_ops::report::summary::nearest_rank(&sorted, p as u32),
            Some(Duration::from_secs(nearest_rank(&expected, p))),
            "p{p}"
        );
    }

    let html_path = dir.join("report.html");
    lifecycle_ops::run(
        &store,
        "auditor",
        Command::Report(ReportArgs {
            since,
            until,
            sla: SLA,
            format: ReportFormat::Html,
            out: Some(html_path.clone()),
        }),
    )
    .await
    .unwrap();
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<svg"), "the histogram");
    for external in ["src=", "href=\"http", "<link", "url(http", "@import"] {
        assert!(!html.contains(external), "no external resource: {external}");
    }
    assert!(
        html.contains(&seeded.failed[0].replace('#', "&#35;")) || html.contains(&seeded.failed[0]),
        "the failed departure is among the exceptions"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
