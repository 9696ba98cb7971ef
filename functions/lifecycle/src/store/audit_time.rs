//! Reading the audit trail (the audit table) over a period, a page at a time: every
//! subject's lines day by day through the `audit_time` index (HASH `audit_day`, RANGE `sk`), or one subject's
//! partition. Lines come in time order; nothing is scanned and nothing is collected, so
//! a reader of a million lines holds one page.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::audit::AUDIT_DAY;
use super::dynamo::{classify, s, text};
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::{AuditEntry, AuditSubject};

/// The global secondary index of the audit trail by day.
pub const AUDIT_TIME_INDEX: &str = "audit_time";

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The item an audit line is stored as, for loaders that write lines in bulk (tests,
/// benchmarks); the product itself appends lines with [`DynamoStore::append_audit`].
pub fn audit_item(entry: &AuditEntry) -> HashMap<String, AttributeValue> {
    entry.item()
}

/// Where a page of audit lines is read from.
#[derive(Debug, Clone)]
pub enum AuditRange {
    /// Every subject's lines of one UTC day (`YYYY-MM-DD`), through the time index.
    Day(String),
    /// One subject's lines, from its partition.
    Subject(AuditSubject),
}

/// Where the next page starts: DynamoDB's last evaluated key, opaque.
#[derive(Debug, Clone)]
pub struct AuditCursor(HashMap<String, AttributeValue>);

/// One page of audit lines and where the next one starts (none after the last).
#[derive(Debug)]
pub struct AuditPage {
    /// The lines, in time order.
    pub lines: Vec<AuditEntry>,
    /// The next page's start.
    pub next: Option<AuditCursor>,
}

/// The sort keys of lines at or after `since` and before `until`: a line's key is
/// `AUDIT#<at>#…`, so one at exactly `until` sorts after `AUDIT#<until>`.
fn period(since: &Timestamp, until: &Timestamp) -> (String, String) {
    (format!("AUDIT#{since}"), format!("AUDIT#{until}"))
}

impl DynamoStore {
    /// One page of the audit lines in `range` from `since` (included) to `until`
    /// (excluded), starting at `start`.
    pub async fn audit_page(
        &self,
        range: &AuditRange,
        since: &Timestamp,
        until: &Timestamp,
        start: Option<AuditCursor>,
    ) -> Result<AuditPage, StoreError> {
        let (from, to) = period(since, until);
        let (hash, value, index) = match range {
            AuditRange::Day(day) => (AUDIT_DAY, day.clone(), Some(AUDIT_TIME_INDEX)),
            AuditRange::Subject(subject) => ("pk", Key::subject_pk(subject), None),
        };
        let out = self
            .client
            .query()
            .table_name(&self.audit_table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression("#h = :h AND sk BETWEEN :from AND :to")
            .expression_attribute_names("#h", hash)
            .expression_attribute_values(":h", s(&value))
            .expression_attribute_values(":from", s(&from))
            .expression_attribute_values(":to", s(&to))
            .set_exclusive_start_key(start.map(|c| c.0))
            // A global index cannot be read strongly consistent; a partition can.
            .consistent_read(index.is_none())
            .send()
            .await
            .map_err(|e| classify("Query", &e))?;
        let lines = out
            .items()
            .iter()
            .map(|item| {
                let key = Key::new(
                    text(item, "pk").unwrap_or_default(),
                    text(item, "sk").unwrap_or_default(),
                );
                AuditEntry::parse(&key, item)
            })
            .collect::<Result<_, _>>()?;
        Ok(AuditPage {
            lines,
            next: out.last_evaluated_key().cloned().map(AuditCursor),
        })
    }

    /// A reader of the audit lines from `since` to `until` (excluded), of every subject
    /// or of `subject` only.
    pub fn audit_reader(
        &self,
        since: Timestamp,
        until: Timestamp,
        subject: Option<AuditSubject>,
    ) -> AuditReader<'_> {
        let ranges = match subject {
            Some(subject) => vec![AuditRange::Subject(subject)],
            None => days(&since, &until)
                .into_iter()
                .map(AuditRange::Day)
                .collect(),
        };
        AuditReader {
            store: self,
            since,
            until,
            ranges: ranges.into_iter().rev().collect(),
            cursor: None,
        }
    }
}

/// The UTC days a period touches, oldest first (none for an empty period).
pub fn days(since: &Timestamp, until: &Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    if until.unix_millis() <= since.unix_millis() {
        return out;
    }
    let last = until.minus(Duration::from_millis(1)).day();
    let mut day = since.day();
    loop {
        out.push(day.clone());
        if day >= last {
            return out;
        }
        day = match Timestamp::parse(&format!("{day}T00:00:00Z")) {
            Ok(midnight) => midnight.plus(DAY).day(),
            Err(_) => return out,
        };
    }
}

/// Pages of audit lines over a period, in time order: one day after another.
#[derive(Debug)]
pub struct AuditReader<'a> {
    store: &'a DynamoStore,
    since: Timestamp,
    until: Timestamp,
    /// What is left to read, the next one last.
    ranges: Vec<AuditRange>,
    cursor: Option<AuditCursor>,
}

impl AuditReader<'_> {
    /// The range the next page comes from (the day, for the time index).
    pub fn current(&self) -> Option<&AuditRange> {
        self.ranges.last()
    }

    /// The next page with lines in it; `None` once everything is read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<AuditEntry>>, StoreError> {
        while let Some(range) = self.ranges.last() {
            let page = self
                .store
                .audit_page(range, &self.since, &self.until, self.cursor.take())
                .await?;
            self.cursor = page.next;
            if self.cursor.is_none() {
                self.ranges.pop();
            }
            if !page.lines.is_empty() {
                return Ok(Some(page.lines));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn a_period_reads_every_day_it_touches_and_no_more() {
        let d = days(&at("2026-11-30T23:00:00Z"), &at("2026-12-02T00:00:00Z"));
        assert_eq!(d, ["2026-11-30", "2026-12-01"]);
        let d = days(&at("2026-12-01T10:00:00Z"), &at("2026-12-01T10:00:01Z"));
        assert_eq!(d, ["2026-12-01"]);
        assert!(days(&at("2026-12-01T10:00:00Z"), &at("2026-12-01T10:00:00Z")).is_empty());
    }

    #[test]
    fn the_period_bounds_include_since_and_exclude_until() {
        let (from, to) = period(&at("2026-12-01T00:00:00Z"), &at("2026-12-02T00:00:00Z"));
        let line = |t: &str| format!("AUDIT#{}#uuid#000", at(t));
        assert!(line("2026-12-01T00:00:00Z") >= from);
        assert!(line("2026-12-01T23:59:59.999Z") <= to);
        assert!(line("2026-12-02T00:00:00Z") > to);
    }
}
