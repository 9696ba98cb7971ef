//! Identifiers and event types, parsed once at the edge.

use std::fmt;
use std::str::FromStr;

/// An identifier from Okta was empty, too long or had characters that cannot be one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    kind: &'static str,
    reason: &'static str,
}

/// Okta ids and uuids are short ASCII tokens; anything else is not from Okta, and a `#`
/// would break the table's key scheme.
fn check_token(kind: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError {
            kind,
            reason: "empty",
        });
    }
    if s.len() > max {
        return Err(IdError {
            kind,
            reason: "too long",
        });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IdError {
            kind,
            reason: "unexpected character",
        });
    }
    Ok(())
}

/// The `uuid` of an Okta LogEvent: the same value in a hook delivery and in the System Log,
/// which is why deduplication keys on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventUuid(String);

impl EventUuid {
    /// Validates an event uuid.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_token("event uuid", s, 64)?;
        Ok(Self(s.to_owned()))
    }

    /// The uuid as sent by Okta.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Okta user id (`00u...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// Validates an Okta user id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_token("user id", s, 64)?;
        Ok(Self(s.to_owned()))
    }

    /// The id as Okta writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Okta event type. The lifecycle types this product acts on are named; every other
/// type is kept verbatim so it can be counted and logged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `user.lifecycle.deactivate`: the user is now `DEPROVISIONED`.
    Deactivate,
    /// `user.lifecycle.delete.initiated`: the user is being deleted.
    DeleteInitiated,
    /// `user.lifecycle.suspend`.
    Suspend,
    /// `user.lifecycle.unsuspend`.
    Unsuspend,
    /// `user.lifecycle.reactivate`.
    Reactivate,
    /// `user.lifecycle.activate`.
    Activate,
    /// Any other event type.
    Other(String),
}

impl EventType {
    /// The types acted on when configuration says nothing.
    pub const DEFAULT_ENABLED: [EventType; 2] = [EventType::Deactivate, EventType::DeleteInitiated];

    /// Okta's name for the type.
    pub fn as_str(&self) -> &str {
        match self {
            EventType::Deactivate => "user.lifecycle.deactivate",
            EventType::DeleteInitiated => "user.lifecycle.delete.initiated",
            EventType::Suspend => "user.lifecycle.suspend",
            EventType::Unsuspend => "user.lifecycle.unsuspend",
            EventType::Reactivate => "user.lifecycle.reactivate",
            EventType::Activate => "user.lifecycle.activate",
            EventType::Other(s) => s,
        }
    }

    /// Whether this is one of the lifecycle types the product knows how to act on.
    pub fn is_supported(&self) -> bool {
        !matches!(self, EventType::Other(_))
    }
}

impl From<&str> for EventType {
    fn from(s: &str) -> Self {
        match s {
            "user.lifecycle.deactivate" => EventType::Deactivate,
            "user.lifecycle.delete.initiated" => EventType::DeleteInitiated,
            "user.lifecycle.suspend" => EventType::Suspend,
            "user.lifecycle.unsuspend" => EventType::Unsuspend,
            "user.lifecycle.reactivate" => EventType::Reactivate,
            "user.lifecycle.activate" => EventType::Activate,
            other => EventType::Other(other.to_owned()),
        }
    }
}

impl FromStr for EventType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(EventType::from(s))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_their_okta_names() {
        for name in [
            "user.lifecycle.deactivate",
            "user.lifecycle.delete.initiated",
            "user.lifecycle.suspend",
            "user.lifecycle.unsuspend",
            "user.lifecycle.reactivate",
            "user.lifecycle.activate",
            "user.session.start",
        ] {
            assert_eq!(EventType::from(name).as_str(), name);
        }
        assert!(!EventType::from("user.session.start").is_supported());
        assert!(EventType::from("user.lifecycle.deactivate").is_supported());
    }

    #[test]
    fn ids_that_would_break_the_key_scheme_are_rejected() {
        assert!(UserId::parse("00u1a2b3c4D5e6F7g8h9").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("00u#JOB").is_err());
        assert!(UserId::parse(&"a".repeat(65)).is_err());
        assert!(EventUuid::parse("4f1b6b9e-8a1c-11ee-9c1e-3b5f1f1d2a7c").is_ok());
        assert!(EventUuid::parse("with space").is_err());
    }
}
