//! `audit-export`: the audit trail over a period as CSV or JSON lines, streamed: a page is
//! read, written out and dropped, so memory stays the same whatever the period holds.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use lifecycle::clock::Timestamp;
use lifecycle::domain::{AuditEntry, AuditSubject};
use lifecycle::store::{AuditRange, AuditReader, DynamoStore, Key};
use serde_json::json;

use crate::{csv, user_id, OpsError};

/// The columns of the CSV export, in order; the JSON lines carry the same names.
pub const COLUMNS: [&str; 13] = [
    "at",
    "subject",
    "event_uuid",
    "event_type",
    "job",
    "action",
    "target",
    "object",
    "label",
    "outcome",
    "detail",
    "actor",
    "dry_run",
];

/// What `audit-export` reads and how it writes it.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// From this time on (RFC 3339, UTC), included.
    #[arg(long)]
    pub since: String,
    /// Up to this time (RFC 3339, UTC), excluded.
    #[arg(long)]
    pub until: String,
    /// Only this user's lines (Okta user id or login).
    #[arg(long)]
    pub user: Option<String>,
    /// CSV with a header row (RFC 4180), or one JSON object a line.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The export's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated, a header row first.
    Csv,
    /// One JSON object a line.
    Jsonl,
}

/// The period a command reads, parsed.
pub(crate) fn period(since: &str, until: &str) -> Result<(Timestamp, Timestamp), OpsError> {
    let parse = |t: &str| Timestamp::parse(t).map_err(|_| OpsError::Time(t.to_owned()));
    Ok((parse(since)?, parse(until)?))
}

/// Standard output, or the file named; buffered.
pub(crate) fn sink(out: Option<&Path>) -> Result<Box<dyn Write>, OpsError> {
    Ok(match out {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).map_err(|e| {
                OpsError::Write(format!("{}: {e}", path.display()))
            })?))
        }
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

/// A line's values, in [`COLUMNS`] order.
fn values(line: &AuditEntry) -> [String; 13] {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        line.at.to_string(),
        subject(&line.subject),
        line.event_uuid.clone(),
        line.event_type.clone(),
        line.job_id.clone(),
        line.action.to_string(),
        opt(&line.target),
        opt(&line.object),
        opt(&line.label),
        line.outcome.as_str().to_owned(),
        opt(&line.detail),
        line.actor.clone(),
        line.dry_run.to_string(),
    ]
}

/// The subject as the table names it: `USER#<id>`, `GROUP#<id>`, ….
pub(crate) fn subject(subject: &AuditSubject) -> String {
    Key::subject_pk(subject)
}

fn write_line(out: &mut dyn Write, format: ExportFormat, line: &AuditEntry) -> io::Result<()> {
    let values = values(line);
    match format {
        ExportFormat::Csv => {
            let fields: Vec<&str> = values.iter().map(String::as_str).collect();
            csv::record(out, &fields)
        }
        ExportFormat::Jsonl => {
            let mut object = serde_json::Map::new();
            for (name, value) in COLUMNS.iter().zip(values) {
                let value = match *name {
                    "dry_run" => json!(line.dry_run),
                    _ => json!(value),
                };
                object.insert((*name).to_owned(), value);
            }
            serde_json::to_writer(&mut *out, &object)?;
            out.write_all(b"\n")
        }
    }
}

/// Progress on standard error, only when a person is watching it.
pub(crate) struct Progress {
    shown: bool,
}

impl Progress {
    /// Shown when standard error is a terminal.
    pub(crate) fn new() -> Self {
        Self {
            shown: io::stderr().is_terminal(),
        }
    }

    /// Lines so far, and the day being read.
    pub(crate) fn update(&self, lines: u64, reader: &AuditReader<'_>) {
        if !self.shown {
            return;
        }
        let day = match reader.current() {
            Some(AuditRange::Day(day)) => day.clone(),
            Some(AuditRange::Subject(s)) => subject(s),
            None => "done".into(),
        };
        eprint!("\r{lines} lines, reading {day}   ");
    }

    /// Ends the progress line.
    pub(crate) fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// Runs `audit-export`; says how many lines it wrote when it wrote to a file.
pub async fn run(store: &DynamoStore, args: &ExportArgs) -> Result<String, OpsError> {
    let (since, until) = period(&args.since, &args.until)?;
    let only = match &args.user {
        Some(user) => Some(AuditSubject::User(user_id(store, user).await?)),
        None => None,
    };
    let mut out = sink(args.out.as_deref())?;
    let failed = |e: io::Error| OpsError::Write(e.to_string());
    if args.format == ExportFormat::Csv {
        csv::record(&mut *out, &COLUMNS).map_err(failed)?;
    }
    let mut reader = store.audit_reader(since, until, only);
    let progress = Progress::new();
    let mut written = 0u64;
    while let Some(page) = reader.next_page().await? {
        for line in &page {
            write_line(&mut *out, args.format, line).map_err(failed)?;
        }
        written += page.len() as u64;
        progress.update(written, &reader);
    }
    out.flush().map_err(failed)?;
    progress.finish();
    Ok(match &args.out {
        Some(path) => format!("{written} lines written to {}\n", path.display()),
        None => String::new(),
    })
}
