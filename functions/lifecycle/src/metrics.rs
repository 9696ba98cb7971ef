//! CloudWatch metrics as Embedded Metric Format: one JSON line on stdout per dimension
//! set, flushed once per invocation; CloudWatch turns the lines into metrics, with no API
//! call and no permission. Namespace `OktaLifecycle`, dimension `service` (the function),
//! and at most one more low-cardinality dimension (`reason`, `outcome`): user, job and
//! request ids are never dimensions (each value would be a metric of its own).
//!
//! A small writer of our own rather than a `metrics` backend: the functions already pass
//! their state explicitly, and a value per invocation keeps the flush where the
//! invocation ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Map, Value};

use crate::clock::Timestamp;

/// The namespace every metric goes to.
pub const NAMESPACE: &str = "OktaLifecycle";
/// Most values of one metric in one document (EMF's limit).
const MAX_VALUES: usize = 100;
/// Whether this execution environment has yet to record an invocation.
static COLD: AtomicBool = AtomicBool::new(true);

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// An extra dimension: its name and value.
type Extra = Option<(&'static str, String)>;

/// The metrics of one invocation.
#[derive(Debug, Clone)]
pub struct Metrics {
    service: &'static str,
    values: BTreeMap<Extra, BTreeMap<&'static str, (Unit, Vec<f64>)>>,
}

impl Metrics {
    /// Metrics of the function `service` (`hook-intake`, `deprovision`, …).
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            values: BTreeMap::new(),
        }
    }

    /// Metrics of one invocation of `service`: the first of an execution environment
    /// also counts `ColdStart` (one per environment Lambda started).
    pub fn invocation(service: &'static str) -> Self {
        Self::new(service).starting(&COLD)
    }

    fn starting(mut self, cold: &AtomicBool) -> Self {
        if cold.swap(false, Ordering::Relaxed) {
            self.count("ColdStart", 1);
        }
        self
    }

    /// Adds `n` to the count `name`.
    pub fn count(&mut self, name: &'static str, n: u64) {
        self.add(None, name, Unit::Count, n as f64, true);
    }

    /// Adds `n` to the count `name` under the extra dimension `key` = `value`.
    pub fn count_by(&mut self, name: &'static str, key: &'static str, value: &str, n: u64) {
        self.add(
            Some((key, value.to_owned())),
            name,
            Unit::Count,
            n as f64,
            true,
        );
    }

    /// Records one value of `name` (a latency, a lag); up to 100 per invocation are kept.
    pub fn observe(&mut self, name: &'static str, unit: Unit, value: f64) {
        self.add(None, name, unit, value, false);
    }

    fn add(&mut self, extra: Extra, name: &'static str, unit: Unit, value: f64, sum: bool) {
        let (_, values) = self
            .values
            .entry(extra)
            .or_default()
            .entry(name)
            .or_insert((unit, Vec::new()));
        if sum && !values.is_empty() {
            values[0] += value;
        } else if values.len() < MAX_VALUES {
            values.push(value);
        }
    }

    /// The EMF documents, one per dimension set, at `now`; none when nothing was recorded.
    pub fn documents(&self, now: Timestamp) -> Vec<Value> {
        self.values
            .iter()
            .map(|(extra, metrics)| {
                let mut dimensions = vec!["service"];
                let mut doc = Map::new();
                doc.insert("service".into(), Value::String(self.service.into()));
                if let Some((key, value)) = extra {
                    dimensions.push(key);
                    doc.insert((*key).into(), Value::String(value.clone()));
                }
                let mut names = Vec::new();
                for (name, (unit, values)) in metrics {
                    names.push(json!({"Name": name, "Unit": unit.as_str()}));
                    let value = match values.as_slice() {
                        [one] => json!(one),
                        many => json!(many),
                    };
                    doc.insert((*name).into(), value);
                }
                doc.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": now.unix_millis(),
                        "CloudWatchMetrics": [{
                            "Namespace": NAMESPACE,
                            "Dimensions": [dimensions],
                            "Metrics": names,
                        }],
                    }),
                );
                Value::Object(doc)
            })
            .collect()
    }

    /// Writes the documents to stdout, one line each, and starts afresh.
    pub fn flush(&mut self) {
        for doc in self.documents(Timestamp::now()) {
            println!("{doc}");
        }
        self.values.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        Timestamp::parse("2026-12-02T12:00:00.000Z").unwrap()
    }

    #[test]
    fn counts_sum_and_observations_list_in_one_document_per_dimension_set() {
        let mut m = Metrics::new("hook-intake");
        m.count("DeliveriesAccepted", 1);
        m.count("EventsAccepted", 3);
        m.count("EventsAccepted", 2);
        m.observe("IntakeLatency", Unit::Milliseconds, 12.5);
        m.observe("IntakeLatency", Unit::Milliseconds, 7.0);
        m.count_by("DeliveriesRejected", "reason", "unauthorized", 1);
        let docs = m.documents(at());
        assert_eq!(
            docs,
            vec![
                json!({
                    "_aws": {"Timestamp": 1796212800000_i64, "CloudWatchMetrics": [{
                        "Namespace": "OktaLifecycle", "Dimensions": [["service"]],
                        "Metrics": [
                            {"Name": "DeliveriesAccepted", "Unit": "Count"},
                            {"Name": "EventsAccepted", "Unit": "Count"},
                            {"Name": "IntakeLatency", "Unit": "Milliseconds"}]}]},
                    "service": "hook-intake", "DeliveriesAccepted": 1.0, "EventsAccepted": 5.0,
                    "IntakeLatency": [12.5, 7.0]
                }),
                json!({
                    "_aws": {"Timestamp": 1796212800000_i64, "CloudWatchMetrics": [{
                        "Namespace": "OktaLifecycle", "Dimensions": [["service", "reason"]],
                        "Metrics": [{"Name": "DeliveriesRejected", "Unit": "Count"}]}]},
                    "service": "hook-intake", "reason": "unauthorized", "DeliveriesRejected": 1.0
                }),
            ]
        );
    }

    #[test]
    fn only_the_first_invocation_of_an_environment_counts_a_cold_start() {
        let cold = AtomicBool::new(true);
        let first = Metrics::new("hook-intake").starting(&cold).documents(at());
        assert_eq!(first[0]["ColdStart"], json!(1.0));
        let second = Metrics::new("hook-intake").starting(&cold).documents(at());
        assert!(second.is_empty(), "{second:?}");
    }

    #[test]
    fn nothing_recorded_writes_nothing_and_values_stop_at_a_hundred() {
        assert!(Metrics::new("x").documents(at()).is_empty());
        let mut m = Metrics::new("x");
        for i in 0..150 {
            m.observe("Lag", Unit::Seconds, f64::from(i));
        }
        let docs = m.documents(at());
        assert_eq!(docs[0]["Lag"].as_array().unwrap().len(), 100);
    }

    #[test]
    fn every_referenced_key_is_a_top_level_member() {
        let mut m = Metrics::new("deprovision");
        m.count_by("JobsSettled", "outcome", "done", 2);
        m.observe("TimeToRemoval", Unit::Seconds, 41.0);
        for doc in m.documents(at()) {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            for key in directive["Dimensions"][0].as_array().unwrap() {
                assert!(doc.get(key.as_str().unwrap()).is_some(), "{key} in {doc}");
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(doc.get(metric["Name"].as_str().unwrap()).is_some());
            }
        }
    }
}
