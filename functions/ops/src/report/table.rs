//! The report as CSV: one row per departure and nothing else, so that a spreadsheet can
//! sort and filter it as it is; the totals go to standard error (and into the HTML).

use std::io::{self, Write};
use std::time::Duration;

use super::departures::Departure;
use super::summary::seconds;
use crate::csv;

/// The report's columns.
pub const COLUMNS: [&str; 11] = [
    "subject",
    "event_uuid",
    "event_type",
    "job",
    "published",
    "removed",
    "last_removed_at",
    "seconds_to_removal",
    "outcome",
    "met_sla",
    "dry_run",
];

/// Per target, `name=time`, `; ` between them.
pub fn removed(d: &Departure) -> String {
    d.removed
        .iter()
        .map(|(target, at)| format!("{target}={at}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes the header and one row per departure.
pub fn write(out: &mut dyn Write, departures: &[Departure], sla: Duration) -> io::Result<()> {
    csv::record(out, &COLUMNS)?;
    for d in departures {
        let row = [
            d.subject.clone(),
            d.event_uuid.clone(),
            d.event_type.clone(),
            d.job.clone(),
            d.published.to_string(),
            removed(d),
            d.last_removed().map(|t| t.to_string()).unwrap_or_default(),
            d.time_to_removal().map(seconds).unwrap_or_default(),
            d.outcome.as_str().to_owned(),
            if d.met_sla(sla) { "yes" } else { "no" }.to_owned(),
            d.dry_run.to_string(),
        ];
        let fields: Vec<&str> = row.iter().map(String::as_str).collect();
        csv::record(out, &fields)?;
    }
    Ok(())
}
