//! `report`: the compliance report of a period — per departure, the Okta event time, when
//! each target's access was removed, the total time, the outcome and whether it met the
//! SLA; then totals and percentiles. As CSV (one row per departure) or as one
//! self-contained HTML page.
//!
//! The trail is read from `--since` to `--until` plus [`MARGIN`] (a job's removal lines
//! follow its event), a page at a time; only the departures are kept.

pub mod departures;
pub mod duration;
pub mod html;
pub mod summary;
pub mod table;

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use lifecycle::store::DynamoStore;

use crate::export::{period, sink, Progress};
use crate::OpsError;
use departures::Departures;
use summary::Summary;

/// How long after the period the trail is still read for removals of its departures.
pub const MARGIN: Duration = Duration::from_secs(24 * 60 * 60);

/// What `report` covers and how it writes it.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Departures are the deactivation, suspension and deletion jobs whose Okta event was \
published from --since (included) to --until (excluded); their lines are read up to one \
day past --until. A target's access counts as removed at its last successful removal \
step; the time to removal runs from the event's `published` time (Okta's, not the HR \
termination time) to the last target's removal. Percentiles are nearest-rank over the \
departures that ended done with something removed.

CSV: one row per departure and nothing else (sort and filter it as it is); the totals \
and percentiles go to standard error. HTML: one page with no external resource: totals, \
a histogram of time to removal with the SLA line, and the exceptions (failed, held, \
still running, planned, over the SLA).")]
pub struct ReportArgs {
    /// Events published from this time on (RFC 3339, UTC).
    #[arg(long)]
    pub since: String,
    /// Events published before this time (RFC 3339, UTC).
    #[arg(long)]
    pub until: String,
    /// The time within which access must be gone: `60m`, `24h`, `1h30m`.
    #[arg(long, default_value = "60m", value_parser = parse_sla)]
    pub sla: Duration,
    /// CSV rows, or an HTML page.
    #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
    pub format: ReportFormat,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The report's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One row per departure.
    Csv,
    /// One self-contained page.
    Html,
}

pub(crate) fn parse_sla(text: &str) -> Result<Duration, String> {
    duration::parse(text).ok_or_else(|| format!("{text:?} is not a duration such as 60m or 24h"))
}

/// Runs `report`: the report to `--out` or standard output, the totals to standard error.
pub async fn run(store: &DynamoStore, args: &ReportArgs) -> Result<String, OpsError> {
    let (since, until) = period(&args.since, &args.until)?;
    let mut gathered = Departures::new(since, until);
    let mut reader = store.audit_reader(since, until.plus(MARGIN), None);
    let progress = Progress::new();
    let mut read = 0u64;
    while let Some(page) = reader.next_page().await? {
        for line in &page {
            gathered.add(line);
        }
        read += page.len() as u64;
        progress.update(read, &reader);
    }
    progress.finish();
    let departures = gathered.into_sorted();
    let summary = Summary::of(&departures, args.sla);
    let failed = |e: io::Error| OpsError::Write(e.to_string());
    let mut out = sink(args.out.as_deref())?;
    match args.format {
        ReportFormat::Csv => table::write(&mut *out, &departures, args.sla).map_err(failed)?,
        ReportFormat::Html => {
            let page = html::page(&args.since, &args.until, &departures, &summary);
            out.write_all(page.as_bytes()).map_err(failed)?;
        }
    }
    out.flush().map_err(failed)?;
    let mut totals = String::new();
    for (name, value) in summary.lines() {
        totals.push_str(&format!("{name:<18} {value}\n"));
    }
    eprint!("{totals}");
    Ok(match &args.out {
        Some(path) => format!("report written to {}\n", path.display()),
        None => String::new(),
    })
}
