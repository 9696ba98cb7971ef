//! `seed-trail`: loads a seeded audit trail (`e2e_tests::trail`) into a table, for the
//! export benchmark (`make bench`). AWS settings from the environment (moto's endpoint).

use std::time::{Duration, Instant};

use clap::Parser;
use lifecycle::clock::Timestamp;

/// Seed an audit trail of departures into a table (tests and benchmarks only).
#[derive(Debug, Parser)]
#[command(name = "seed-trail")]
struct Cli {
    /// The audit table, created beforehand with the template's definition (`AuditTable`).
    #[arg(long)]
    table: String,
    /// About this many audit lines (4.1 a departure).
    #[arg(long)]
    lines: usize,
    /// The first departure's Okta event time (RFC 3339, UTC).
    #[arg(long, default_value = "2026-01-05T00:00:00Z")]
    start: String,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let start = Timestamp::parse(&cli.start).expect("--start is an RFC 3339 time");
    let departures = e2e_tests::trail::departures_for(cli.lines);
    let (lines, seeded) = e2e_tests::trail::trail(start, departures);
    // The export's period: from the first departure to the midnight after the last line.
    let last = lines.iter().map(|l| l.at).max().unwrap_or(start);
    let until = Timestamp::parse(&format!("{}T00:00:00Z", last.day()))
        .expect("a day's midnight")
        .plus(Duration::from_secs(24 * 60 * 60));
    let client = aws_sdk_dynamodb::Client::new(&lifecycle::aws::operator_sdk_config().await);
    let began = Instant::now();
    e2e_tests::trail::seed(&client, &cli.table, &lines).await;
    let summary = serde_json::json!({
        "lines": seeded.lines,
        "departures": departures,
        "since": start.to_string(),
        "until": until.to_string(),
        "seconds": began.elapsed().as_secs_f64(),
    });
    println!("{summary}");
}
