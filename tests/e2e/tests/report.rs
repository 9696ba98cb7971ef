//! `lifecycle-ops audit-export` and `report` against moto, on a seeded trail
//! (`e2e_tests::trail`) of 16,400 audit lines over three days in `make test`, and of
//! 100,000 lines and more in `make bench-report` (`REPORT_TRAIL_LINES`): the export's CSV
//! parses with Python's `csv` and holds every line, the JSON lines count, the report's
//! rows and percentiles match what was seeded, and the HTML page, rendered by headless
//! Chromium, shows the histogram the seeded times make.

use std::time::Duration;

use e2e_tests::trail::{departures_for, seed_checked, trail};
use e2e_tests::Stack;
use lifecycle::clock::Timestamp;
use lifecycle::store::DynamoStore;
use lifecycle_ops::export::{ExportArgs, ExportFormat};
use lifecycle_ops::report::{ReportArgs, ReportFormat};
use lifecycle_ops::Command;

/// The trail's size in `make test`: 4,000 departures. moto walks the whole table for each
/// page it answers, so the four runs over 100,000 lines take it minutes: that size is
/// `make bench-report`'s.
const DEFAULT_LINES: usize = 16_400;
const SLA: Duration = Duration::from_secs(3600);

/// A table client with the command line's timeouts (its reads are an operator's).
async fn operator_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&lifecycle::aws::operator_sdk_config().await)
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
    let (table, audit_table) = stack.fresh_tables().await;
    let start = Timestamp::parse("2026-11-02T00:00:00Z").unwrap();
    let wanted = std::env::var("REPORT_TRAIL_LINES")
        .ok()
        .map(|v| {
            v.parse::<usize>()
                .expect("REPORT_TRAIL_LINES is a number of lines")
        })
        .unwrap_or(DEFAULT_LINES);
    let departures = departures_for(wanted);
    let (lines, seeded) = trail(start, departures);
    // The period: from the day before the first departure to the day after the last line.
    let last = lines.iter().map(|l| l.at).max().unwrap();
    let day = Duration::from_secs(24 * 60 * 60);
    let until = Timestamp::parse(&format!("{}T00:00:00Z", last.day()))
        .unwrap()
        .plus(day * 2);
    println!(
        "seeding {} audit lines, {departures} departures, until {until}",
        lines.len()
    );
    let client = operator_client().await;
    seed_checked(&client, &audit_table, &lines).await;
    drop(lines);
    let store = DynamoStore::new(client, &table, &audit_table);
    let dir = std::env::temp_dir().join(e2e_tests::unique("report-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (since, until) = ("2026-11-01T00:00:00Z".to_owned(), until.to_string());

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
    assert_eq!(rows.len(), departures + 1);
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

    // Kept in .local/report/ with its screenshot, for a person to look at after the run.
    let kept = e2e_tests::root().join(".local/report");
    std::fs::create_dir_all(&kept).unwrap();
    let html_path = kept.join("report.html");
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
    let counts = histogram(seeded.done.values().copied());
    screenshot_shows_the_histogram(&html_path, &kept.join("report.png"), &counts);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The histogram the page must draw, counted here from what was seeded: departures done
/// per quarter of the SLA, the twelfth bucket holding the rest.
fn histogram(seconds: impl Iterator<Item = u64>) -> [usize; 12] {
    let quarter = SLA.as_secs() / 4;
    let mut counts = [0; 12];
    for s in seconds {
        counts[((s / quarter) as usize).min(11)] += 1;
    }
    counts
}

/// Renders the page in headless Chromium and reads the screenshot
/// (tools/report_screenshot.py): a bar of the page's bar colour for every bucket, each
/// as tall as its count says, all on one baseline, and the SLA line where a quarter of
/// the SLA ends four times over.
fn screenshot_shows_the_histogram(html: &std::path::Path, png: &std::path::Path, counts: &[usize]) {
    let root = e2e_tests::root();
    let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tools/report_screenshot.py"))
        .arg(html)
        .arg("--png")
        .arg(png)
        .args(["--fill", lifecycle_ops::report::html::BAR_FILL])
        .args(["--counts", &counts.join(",")])
        .args(["--sla-bucket", "4"])
        .output()
        .expect("python runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the screenshot check failed:\n{said}");
    println!("{said}");
}
