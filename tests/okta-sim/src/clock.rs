//! Timestamps in Okta's format (`2024-05-01T12:00:00.000Z`).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Current UTC time.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Formats as Okta does: UTC, millisecond precision, `Z` suffix.
pub fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses an RFC 3339 / ISO 8601 timestamp as used in `since` and `until`.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Milliseconds since the Unix epoch.
pub fn millis(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        let t = parse("2024-05-01T12:03:04.5+02:00").expect("valid");
        assert_eq!(iso(t), "2024-05-01T10:03:04.500Z");
    }
}
