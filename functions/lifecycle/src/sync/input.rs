//! An HR export's bytes into rows: CSV with a header row, or JSON Lines (one object per
//! line), as spreadsheets and HR systems write them.
//!
//! What the file may hold, and what becomes of it:
//!
//! - Columns: every `SYNC_IDENTITIES` attribute by its caller's name
//!   ([`ATTRIBUTES`]: `login`, `email`, `first_name`, …), `groups` (Okta group names
//!   separated by `;`, trimmed, empty entries dropped) and `status` (`active`,
//!   `suspended` or `terminated`, any case; `active` when absent). A [`Mapping`] renames
//!   the HR system's own names first; a column it lists under `ignore` is dropped. Any
//!   other column is an error for the whole file, naming it, before any row is read.
//! - A UTF-8 byte-order mark is skipped; CRLF and LF both end lines; quoted fields may
//!   hold commas, line breaks and doubled quotes; blank lines (and CSV lines of empty
//!   cells only) are skipped; every value is trimmed; an empty cell is absent (a sync
//!   never clears an attribute). A `groups` cell of only `;` means "in none of the
//!   managed groups"; an empty one leaves the person's groups alone.
//! - Bytes that are not UTF-8 (Windows-1252 from Excel, say) fail the whole file, naming
//!   the line: the encoding is the file's, not a row's.
//! - A bad row becomes a [`RowError`] with its line and reason; the others still parse.
//!   Two rows with the same login (ignoring case) both become errors naming each
//!   other's line, and so do two rows with the same e-mail: the file itself disagrees,
//!   so neither is applied. An error keeps the row's login when it had a readable one,
//!   so that the plan never takes that person for missing from the file.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_lc_rs::digest;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::provision::attributes::{self, parse_profile};
use crate::domain::provision::{Profile, ATTRIBUTES};

/// The column naming a person's groups.
pub const GROUPS: &str = "groups";
/// The column naming a person's HR status.
pub const STATUS: &str = "status";

/// How the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format a file name's extension names (`csv`; `jsonl`, `ndjson`), any case.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.trim_start_matches('.').to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }

    /// JSON Lines when the first character that is not blank (after a byte-order mark)
    /// is `{`, else CSV.
    pub fn detect(bytes: &[u8]) -> Self {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What HR says of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HrStatus {
    /// Works here: exists in Okta and may sign in.
    #[default]
    Active,
    /// On leave: suspended in Okta, groups and apps kept.
    Suspended,
    /// Left: deprovisioned.
    Terminated,
}

impl HrStatus {
    /// The status a cell names, any case.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "active" => Ok(HrStatus::Active),
            "suspended" => Ok(HrStatus::Suspended),
            "terminated" => Ok(HrStatus::Terminated),
            _ => Err(format!(
                "status {text:?} is not one of active, suspended, terminated"
            )),
        }
    }
}

/// One person, as the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The 1-based line of the file where the row starts.
    pub line: usize,
    /// The attributes the row gives, checked as `SYNC_IDENTITIES` checks them.
    pub profile: Profile,
    /// The Okta groups the person must be in, among the managed ones; `None` leaves
    /// their groups alone.
    pub groups: Option<Vec<String>>,
    /// What HR says of them.
    pub status: HrStatus,
}

impl Row {
    /// The row's login (always present: it is required).
    pub fn login(&self) -> &str {
        self.text("login")
    }

    /// The row's e-mail (always present: it is required).
    pub fn email(&self) -> &str {
        self.text("email")
    }

    fn text(&self, okta: &str) -> &str {
        self.profile
            .get(okta)
            .and_then(Option::as_deref)
            .unwrap_or_default()
    }
}

/// A row that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The 1-based line of the file where the row starts.
    pub line: usize,
    /// The row's login, when it had one that reads as a login.
    pub login: Option<String>,
    /// What is wrong, for people.
    pub reason: String,
}

/// The file as a whole cannot be read; no row is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Bytes that are not UTF-8.
    #[error(
        "line {line} is not UTF-8 (byte 0x{byte:02X}); save the file as UTF-8 \
         (in Excel: Save As, \"CSV UTF-8\")"
    )]
    NotUtf8 {
        /// The 1-based line.
        line: usize,
        /// The first byte that does not fit.
        byte: u8,
    },
    /// Columns that are neither attributes nor `groups`/`status`, after the mapping.
    #[error(
        "unknown column{} {}; known: {}, {GROUPS}, {STATUS} (a mapping file may rename \
         or ignore columns)",
        if .0.len() == 1 { "" } else { "s" },
        quoted(.0),
        ATTRIBUTES.map(|a| a.name).join(", ")
    )]
    UnknownColumns(Vec<String>),
    /// Two header cells name the same column, after the mapping.
    #[error("column {0:?} appears more than once in the header (after the mapping)")]
    DuplicateColumn(String),
    /// The file has no header row.
    #[error("the file is empty: a CSV file needs a header row")]
    NoHeader,
    /// The mapping file cannot be used.
    #[error("mapping: {0}")]
    Mapping(String),
    /// The CSV reader could not go on.
    #[error("line {line}: {message}")]
    Csv {
        /// The 1-based line.
        line: usize,
        /// The reader's words.
        message: String,
    },
}

fn quoted(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    names.join(", ")
}

/// How the HR system's column names become ours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// HR column → our column (`{"Work Email": "email"}`); names not listed are taken
    /// as they are.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// HR columns to drop unread (`["Notes", "Start Date"]`).
    #[serde(default)]
    pub ignore: BTreeSet<String>,
}

impl Mapping {
    /// A mapping of these renames and nothing ignored.
    pub fn from_columns(columns: BTreeMap<String, String>) -> Self {
        Self {
            columns,
            ignore: BTreeSet::new(),
        }
    }

    /// Reads a mapping file: `{"columns": {"Work Email": "email", …}, "ignore": […]}`.
    /// A rename to a name that is not a column is refused, so a typo shows at once.
    pub fn from_json(bytes: &[u8]) -> Result<Self, InputError> {
        let mapping: Mapping =
            serde_json::from_slice(bytes).map_err(|e| InputError::Mapping(e.to_string()))?;
        let unknown: Vec<String> = mapping
            .columns
            .values()
            .filter(|ours| !is_column(ours))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(InputError::Mapping(
                InputError::UnknownColumns(unknown).to_string(),
            ));
        }
        Ok(mapping)
    }

    /// Our name for an HR column; `None` when it is ignored.
    fn rename<'a>(&'a self, column: &'a str) -> Option<&'a str> {
        if self.ignore.contains(column) {
            return None;
        }
        Some(self.columns.get(column).map_or(column, String::as_str))
    }
}

fn is_column(name: &str) -> bool {
    name == GROUPS || name == STATUS || attributes::attribute(name).is_some()
}

/// A file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// SHA-256 of the file's bytes, lowercase hex: the run's identity.
    pub digest: String,
    /// How it was written.
    pub format: Format,
    /// The rows that can be used, in file order.
    pub rows: Vec<Row>,
    /// The rows that cannot, in file order.
    pub errors: Vec<RowError>,
}

impl Parsed {
    /// Rows the file holds, good and bad (blank lines and the header not counted).
    pub fn records(&self) -> usize {
        self.rows.len() + self.errors.len()
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a file. `format` is what the caller knows (from the extension); `None`
/// detects it from the first character.
pub fn parse(
    bytes: &[u8],
    format: Option<Format>,
    mapping: &Mapping,
) -> Result<Parsed, InputError> {
    let digest = sha256_hex(bytes);
    let text = utf8(bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = format.unwrap_or_else(|| Format::detect(bytes));
    let records = match format {
        Format::Csv => csv_records(text, mapping)?,
        Format::JsonLines => json_records(text, mapping)?,
    };
    let (rows, errors) = rows(records);
    Ok(Parsed {
        digest,
        format,
        rows,
        errors,
    })
}

fn utf8(bytes: &[u8]) -> Result<&str, InputError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        InputError::NotUtf8 {
            line: 1 + bytes[..at].iter().filter(|b| **b == b'\n').count(),
            byte: bytes.get(at).copied().unwrap_or_default(),
        }
    })
}

/// One record before its checks: its line, and its non-empty values by our column name,
/// or why it cannot be read at all.
type Record = (usize, Result<BTreeMap<String, Value>, String>);

fn csv_records(text: &str, mapping: &Mapping) -> Result<Vec<Record>, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = loop {
        match records.next() {
            None => return Err(InputError::NoHeader),
            Some(Err(e)) => return Err(csv_error(text, &e)),
            Some(Ok(r)) if r.iter().all(|c| c.trim().is_empty()) => continue,
            Some(Ok(r)) => break r,
        }
    };
    let names: Vec<Option<&str>> = header
        .iter()
        .map(|c| Some(c.trim()).filter(|c| !c.is_empty()))
        .map(|c| c.and_then(|c| mapping.rename(c)))
        .collect();
    check_columns(names.iter().flatten().copied(), true)?;
    let mut out = Vec::new();
    let mut lines = LineCounter::new(text);
    for record in records {
        let record = record.map_err(|e| csv_error(text, &e))?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        out.push((line, csv_values(&header, &names, &record)));
    }
    Ok(out)
}

fn csv_values(
    header: &csv::StringRecord,
    names: &[Option<&str>],
    record: &csv::StringRecord,
) -> Result<BTreeMap<String, Value>, String> {
    if record.len() > header.len() {
        return Err(format!(
            "{} cells where the header has {} columns (an unquoted comma?)",
            record.len(),
            header.len()
        ));
    }
    let mut values = BTreeMap::new();
    for (i, cell) in record.iter().enumerate() {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        match names.get(i).copied().flatten() {
            Some(name) => {
                values.insert(name.to_owned(), Value::String(cell.to_owned()));
            }
            None if header.get(i).is_some_and(|h| h.trim().is_empty()) => {
                return Err(format!(
                    "column {} has a value but no name in the header",
                    i + 1
                ))
            }
            None => {}
        }
    }
    Ok(values)
}

/// The 1-based line of the first character at or after byte `at` that does not end a
/// line (the CSV reader's own line count is off by one after CRLF).
fn line_at(text: &str, at: u64) -> usize {
    LineCounter::new(text).line_at(at)
}

/// Line numbers of byte offsets asked in increasing order, as the CSV reader's records
/// come: each byte is counted once (counting from the start for every record made a
/// 10,000-row file quadratic).
struct LineCounter<'a> {
    text: &'a [u8],
    /// Bytes before this offset are counted.
    counted: usize,
    /// Newlines among them.
    newlines: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            counted: 0,
            newlines: 0,
        }
    }

    /// As [`line_at`].
    fn line_at(&mut self, at: u64) -> usize {
        let newlines = |bytes: &[u8]| bytes.iter().filter(|b| **b == b'\n').count();
        let at = usize::try_from(at)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        if at < self.counted {
            self.counted = 0;
            self.newlines = 0;
        }
        self.newlines += newlines(&self.text[self.counted..at]);
        self.counted = at;
        let after = &self.text[at..];
        let gap = after
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        1 + self.newlines + newlines(&after[..gap])
    }
}

fn csv_error(text: &str, e: &csv::Error) -> InputError {
    InputError::Csv {
        line: e.position().map_or(0, |p| line_at(text, p.byte())),
        message: e.to_string(),
    }
}

/// Refuses unknown names (all of them at once) and, in a header, a name twice.
fn check_columns<'a>(names: impl Iterator<Item = &'a str>, header: bool) -> Result<(), InputError> {
    let mut seen = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for name in names {
        if !is_column(name) {
            unknown.insert(name.to_owned());
        } else if !seen.insert(name) && header {
            return Err(InputError::DuplicateColumn(name.to_owned()));
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(InputError::UnknownColumns(unknown.into_iter().collect()))
    }
}

fn json_records(text: &str, mapping: &Mapping) -> Result<Vec<Record>, InputError> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let values = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => Ok(json_values(object, mapping)),
            Ok(_) => Err("a line must be one JSON object".to_owned()),
            Err(e) => Err(format!("not JSON: {e}")),
        };
        if let Ok(values) = &values {
            names.extend(values.keys().cloned());
        }
        out.push((i + 1, values));
    }
    check_columns(names.iter().map(String::as_str), false)?;
    Ok(out)
}

/// The object's values by our names, empty strings and `null` dropped.
fn json_values(object: Map<String, Value>, mapping: &Mapping) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    for (key, value) in object {
        let Some(name) = mapping.rename(key.trim()) else {
            continue;
        };
        let value = match value {
            Value::Null => continue,
            Value::String(s) if s.trim().is_empty() => continue,
            Value::String(s) => Value::String(s.trim().to_owned()),
            Value::Number(n) => Value::String(n.to_string()),
            other => other,
        };
        values.insert(name.to_owned(), value);
    }
    values
}

/// Checks each record, then refuses logins and e-mails the file gives twice.
fn rows(records: Vec<Record>) -> (Vec<Row>, Vec<RowError>) {
    let mut checked: Vec<Result<Row, RowError>> = records
        .into_iter()
        .map(|(line, values)| {
            let login = values.as_ref().ok().and_then(login_of);
            values
                .and_then(row)
                .map(|(profile, groups, status)| Row {
                    line,
                    profile,
                    groups,
                    status,
                })
                .map_err(|reason| RowError {
                    line,
                    login,
                    reason,
                })
        })
        .collect();
    refuse_duplicates(&mut checked, "login", Row::login);
    refuse_duplicates(&mut checked, "e-mail", Row::email);
    checked.into_iter().partition_map()
}

fn login_of(values: &BTreeMap<String, Value>) -> Option<String> {
    values
        .get("login")
        .and_then(Value::as_str)
        .filter(|l| attributes::is_email(l))
        .map(str::to_owned)
}

type Checked = (Profile, Option<Vec<String>>, HrStatus);

fn row(mut values: BTreeMap<String, Value>) -> Result<Checked, String> {
    let status = match values.remove(STATUS) {
        None => HrStatus::Active,
        Some(Value::String(s)) => HrStatus::parse(&s)?,
        Some(other) => return Err(format!("status must be text, not {other}")),
    };
    let groups = match values.remove(GROUPS) {
        None => None,
        Some(Value::String(s)) => Some(group_list(s.split(';'))),
        Some(Value::Array(list)) => {
            let names: Option<Vec<&str>> = list.iter().map(Value::as_str).collect();
            let names = names.ok_or("groups must list group names as text")?;
            Some(group_list(names.into_iter()))
        }
        Some(other) => return Err(format!("groups must be text or a list, not {other}")),
    };
    let fields: Map<String, Value> = values.into_iter().collect();
    let profile = parse_profile(0, &fields).map_err(|e| e.message)?;
    Ok((profile, groups, status))
}

fn group_list<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names.map(str::trim).filter(|n| !n.is_empty()) {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    }
    out
}

/// Turns every row whose `what` (by `key`, ignoring case) another row also gives into
/// an error naming the other lines.
fn refuse_duplicates(checked: &mut [Result<Row, RowError>], what: &str, key: fn(&Row) -> &str) {
    let mut lines: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for row in checked.iter().flatten() {
        lines
            .entry(key(row).to_lowercase())
            .or_default()
            .push(row.line);
    }
    for slot in checked.iter_mut() {
        let Ok(row) = slot else { continue };
        let value = key(row);
        let Some(all) = lines.get(&value.to_lowercase()).filter(|l| l.len() > 1) else {
            continue;
        };
        let others: Vec<String> = all
            .iter()
            .filter(|l| **l != row.line)
            .map(usize::to_string)
            .collect();
        *slot = Err(RowError {
            line: row.line,
            login: Some(row.login().to_owned()),
            reason: format!(
                "{what} {value} is also on line {}: {what}s must be unique in the file",
                others.join(", ")
            ),
        });
    }
}

/// Splits results into their two sides, in order.
trait PartitionMap<T, E> {
    fn partition_map(self) -> (Vec<T>, Vec<E>);
}

impl<T, E, I: Iterator<Item = Result<T, E>>> PartitionMap<T, E> for I {
    fn partition_map(self) -> (Vec<T>, Vec<E>) {
        let mut ok = Vec::new();
        let mut err = Vec::new();
        for item in self {
            match item {
                Ok(t) => ok.push(t),
                Err(e) => err.push(e),
            }
        }
        (ok, err)
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}
