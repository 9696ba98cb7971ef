//! Wall-clock timestamps in the one format the table uses.

use std::fmt;
use std::time::{Duration, SystemTime};

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// A UTC instant with millisecond precision.
///
/// It always prints as `YYYY-MM-DDTHH:MM:SS.mmmZ`, a fixed width, so that sort keys built
/// from it (`JOB#<published>#<uuid>`, `AUDIT#<time>#<n>`) sort in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// The input was not an RFC 3339 date-time.
#[derive(Debug, thiserror::Error)]
#[error("not an RFC 3339 timestamp: {0}")]
pub struct TimestampError(String);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a `SystemTime`, truncating to milliseconds.
    pub fn from_system_time(t: SystemTime) -> Self {
        let dt = OffsetDateTime::from(t);
        Self(truncate_to_millis(dt))
    }

    /// Parses an RFC 3339 timestamp with any offset and any number of fraction digits.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(|dt| Self(truncate_to_millis(dt.to_offset(time::UtcOffset::UTC))))
            .map_err(|e| TimestampError(e.to_string()))
    }

    /// Seconds since the Unix epoch, the unit of DynamoDB's TTL attribute.
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// This instant moved forward by `d`.
    pub fn plus(&self, d: Duration) -> Self {
        Self(self.0 + d)
    }

    /// This instant moved back by `d`.
    pub fn minus(&self, d: Duration) -> Self {
        Self(self.0 - d)
    }

    /// The UTC day, `YYYY-MM-DD`: the partition of the audit trail's time index.
    pub fn day(&self) -> String {
        let d = self.0.date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }

    /// How long after `earlier` this instant is (zero if it is not after it).
    pub fn since(&self, earlier: &Timestamp) -> Duration {
        let d = self.0 - earlier.0;
        d.try_into().unwrap_or(Duration::ZERO)
    }
}

fn truncate_to_millis(dt: OffsetDateTime) -> OffsetDateTime {
    let millis = dt.millisecond();
    dt.replace_nanosecond(u32::from(millis) * 1_000_000)
        .unwrap_or(dt)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        match self.0.format(&format) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

/// When an invocation must be done: the runtime's deadline, but never later than
/// `budget` from now. A deadline already past when the invocation starts cannot be real
/// (Lambda never hands out such an invocation; some local emulators send the timeout
/// instead of a point in time), so the budget alone counts then.
pub fn invocation_deadline(deadline: SystemTime, budget: Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    match deadline.duration_since(SystemTime::now()) {
        Ok(left) => now + left.min(budget),
        Err(_) => {
            tracing::warn!("invocation deadline is already past; using the time budget");
            now + budget
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_with_fixed_width_so_they_sort_in_time_order() {
        let a = Timestamp::parse("2026-11-23T10:00:00Z").unwrap();
        let b = Timestamp::parse("2026-11-23T10:00:00.5Z").unwrap();
        let c = Timestamp::parse("2026-11-23T10:00:00.123456Z").unwrap();
        assert_eq!(a.to_string(), "2026-11-23T10:00:00.000Z");
        assert_eq!(b.to_string(), "2026-11-23T10:00:00.500Z");
        assert_eq!(c.to_string(), "2026-11-23T10:00:00.123Z");
        let mut printed = [b.to_string(), a.to_string(), c.to_string()];
        printed.sort();
        assert_eq!(printed, [a.to_string(), c.to_string(), b.to_string()]);
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = Timestamp::parse("2026-11-23T12:30:00.250+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-23T10:30:00.250Z");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2026-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn since_is_never_negative() {
        let a = Timestamp::parse("2026-11-23T10:00:00Z").unwrap();
        let b = a.plus(Duration::from_secs(5));
        assert_eq!(b.since(&a), Duration::from_secs(5));
        assert_eq!(a.since(&b), Duration::ZERO);
    }
}
