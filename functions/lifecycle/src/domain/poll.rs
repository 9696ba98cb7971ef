//! Why a run of the System Log poller ended.

use std::fmt;

use serde::{Serialize, Serializer};

use super::vocab;

/// Why a poll run ended; stored in the poller's status item as its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PollOutcome {
    /// Read to the newest event.
    #[default]
    CaughtUp,
    /// Stopped after the configured number of pages; the next run goes on.
    MaxPages,
    /// Stopped with too little of the invocation's time left.
    TimeBudget,
    /// Okta's rate limit (or the reserve kept for other integrations) held the read back.
    RateLimited,
    /// The System Log could not be read.
    Error,
    /// Another run holds the lease.
    Skipped,
    /// The lease expired or was taken over; the run stopped without writing.
    LeaseLost,
    /// Text this version does not know.
    Other(String),
}

impl PollOutcome {
    const NAMED: [(PollOutcome, &'static str); 7] = [
        (PollOutcome::CaughtUp, "caught_up"),
        (PollOutcome::MaxPages, "max_pages"),
        (PollOutcome::TimeBudget, "time_budget"),
        (PollOutcome::RateLimited, "rate_limited"),
        (PollOutcome::Error, "error"),
        (PollOutcome::Skipped, "skipped"),
        (PollOutcome::LeaseLost, "lease_lost"),
    ];

    /// The text stored and logged.
    pub fn as_str(&self) -> &str {
        match self {
            PollOutcome::Other(text) => text,
            known => vocab::name_of(&Self::NAMED, known).unwrap_or_default(),
        }
    }

    /// Reads the text [`as_str`](Self::as_str) wrote.
    pub fn parse(text: &str) -> Self {
        vocab::value_of(&Self::NAMED, text).unwrap_or_else(|| PollOutcome::Other(text.to_owned()))
    }
}

impl fmt::Display for PollOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PollOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_reads_back_as_written_and_unknown_text_is_kept() {
        for (outcome, name) in PollOutcome::NAMED {
            assert_eq!(PollOutcome::parse(name), outcome);
            assert_eq!(outcome.to_string(), name);
            assert_eq!(serde_json::to_value(&outcome).unwrap(), name);
        }
        assert_eq!(PollOutcome::parse("new"), PollOutcome::Other("new".into()));
    }
}
