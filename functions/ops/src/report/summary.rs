//! The totals of a report and the percentiles of time-to-removal.
//!
//! Percentiles are nearest-rank: of the n times sorted ascending, the p-th percentile is
//! the one at rank ⌈p·n/100⌉ (1-based, at least 1). They are taken over the departures
//! that ended `done` with something removed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::departures::{Departure, Outcome};

/// The nearest-rank `p`-th percentile of `sorted` (ascending); `None` when empty.
pub fn nearest_rank(sorted: &[Duration], p: u32) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (p as usize * n).div_ceil(100).max(1);
    sorted.get(rank.min(n) - 1).copied()
}

/// What a report adds up to.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Departures in the period.
    pub departures: usize,
    /// How many ended each way.
    pub by_outcome: BTreeMap<Outcome, usize>,
    /// Done departures whose time to removal exceeded the SLA.
    pub over_sla: usize,
    /// Departures that did not meet the SLA, whatever the reason.
    pub exceptions: usize,
    /// The SLA.
    pub sla: Duration,
    /// Times to removal of done departures, ascending.
    pub times: Vec<Duration>,
}

impl Summary {
    /// Adds up `departures`.
    pub fn of(departures: &[Departure], sla: Duration) -> Self {
        let mut by_outcome = BTreeMap::new();
        let mut times = Vec::new();
        let mut over_sla = 0;
        let mut exceptions = 0;
        for d in departures {
            *by_outcome.entry(d.outcome).or_insert(0) += 1;
            if d.outcome == Outcome::Done {
                if let Some(t) = d.time_to_removal() {
                    times.push(t);
                    over_sla += usize::from(t > sla);
                }
            }
            exceptions += usize::from(!d.met_sla(sla));
        }
        times.sort();
        Self {
            departures: departures.len(),
            by_outcome,
            over_sla,
            exceptions,
            sla,
            times,
        }
    }

    /// The `p`-th percentile of time to removal.
    pub fn percentile(&self, p: u32) -> Option<Duration> {
        nearest_rank(&self.times, p)
    }

    /// The longest time to removal.
    pub fn max(&self) -> Option<Duration> {
        self.times.last().copied()
    }

    /// How many ended `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.by_outcome.get(&outcome).copied().unwrap_or(0)
    }

    /// The totals as `name value` lines (the report's standard error, the HTML's block).
    pub fn lines(&self) -> Vec<(String, String)> {
        let secs = |d: Option<Duration>| d.map(seconds).unwrap_or_else(|| "-".into());
        let mut out = vec![
            ("departures".to_string(), self.departures.to_string()),
            ("sla".into(), super::duration::show(self.sla)),
            (
                "met_sla".into(),
                (self.departures - self.exceptions).to_string(),
            ),
            ("over_sla".into(), self.over_sla.to_string()),
        ];
        for (outcome, n) in &self.by_outcome {
            out.push((outcome.as_str().to_string(), n.to_string()));
        }
        for p in [50, 95, 99] {
            out.push((format!("p{p}_seconds"), secs(self.percentile(p))));
        }
        out.push(("max_seconds".into(), secs(self.max())));
        out
    }
}

/// Seconds with milliseconds, as the CSV and the totals write a duration.
pub fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn nearest_rank_takes_the_value_at_the_rounded_up_rank() {
        let v = secs(&[15, 20, 35, 40, 50]);
        assert_eq!(nearest_rank(&v, 30), Some(Duration::from_secs(20)));
        assert_eq!(nearest_rank(&v, 40), Some(Duration::from_secs(20)));
        assert_eq!(nearest_rank(&v, 50), Some(Duration::from_secs(35)));
        assert_eq!(nearest_rank(&v, 100), Some(Duration::from_secs(50)));
        assert_eq!(nearest_rank(&v, 0), Some(Duration::from_secs(15)));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn percentiles_of_a_hundred_values_are_the_values_at_those_ranks() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_secs).collect();
        for p in [50, 95, 99] {
            assert_eq!(nearest_rank(&v, p), Some(Duration::from_secs(p.into())));
        }
    }
}
