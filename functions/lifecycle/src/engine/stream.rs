//! The DynamoDB stream's side of the engine: a batch of records in, a partial-failure
//! answer out. Each user's records are taken in order; different users' run side by side,
//! `BATCH_USERS_AT_ONCE` at a time (a job waits mostly on Okta and the targets). The first record that cannot be handled
//! stops its user's chain, and the earliest such record in the batch is reported, so the
//! stream retries from it and the order of each user's jobs holds. A record after it that
//! did run is handed over again and finds its job settled.

use std::collections::HashMap;
use std::time::Instant;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures_util::StreamExt;
use tracing::Instrument;

use super::{Engine, JobReport};
use crate::domain::JobStatus;
use crate::metrics::{Metrics, Unit};
use crate::store::{IntakeStore, Key, StoreError};

/// A job's record in a batch: where it is, its key, its run's claim token.
struct JobRecord {
    position: usize,
    key: Key,
    token: String,
    sequence: Option<String>,
}

/// How one record's run ended, and how long it took.
struct Handled {
    position: usize,
    key: Key,
    sequence: Option<String>,
    result: Result<JobReport, StoreError>,
    started: Instant,
}

impl Engine {
    /// Handles one stream batch (see the module doc): users side by side, each user's
    /// jobs in order, the earliest record that could not be handled reported.
    pub async fn handle(
        &self,
        event: Event,
        request_id: &str,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        let mut chains: Vec<Vec<JobRecord>> = Vec::new();
        let mut chain_of: HashMap<String, usize> = HashMap::new();
        for (position, record) in event.records.iter().enumerate() {
            let sequence = record.change.sequence_number.clone();
            let Some(key) = job_key(record) else {
                tracing::warn!(event_name = %record.event_name, "stream record is not a job; ignored");
                continue;
            };
            // The same record retried by the stream carries the same token, so it can take
            // back a claim its failed invocation left behind.
            let token = match &sequence {
                Some(seq) => format!("stream:{seq}"),
                None => format!("request:{request_id}"),
            };
            let chain = *chain_of.entry(key.pk.clone()).or_insert_with(|| {
                chains.push(Vec::new());
                chains.len() - 1
            });
            chains[chain].push(JobRecord {
                position,
                key,
                token,
                sequence,
            });
        }
        let Some(first) = chains.iter().flatten().min_by_key(|r| r.position) else {
            return response;
        };
        // The operator's dry-run switch, read once per batch.
        let dry_run = match self.store.integration().await {
            Ok(integration) => integration.dry_run,
            Err(e) => {
                metrics.count("JobRunsUnrecorded", 1);
                tracing::error!(error = %e, "the integration's switches could not be read; the stream will retry the batch");
                response
                    .batch_item_failures
                    .push(failure(first.sequence.clone()));
                return response;
            }
        };
        let at_once = self.config().batch_users_at_once.max(1);
        let mut handled: Vec<Handled> = futures_util::stream::iter(chains.iter())
            .map(|chain| self.run_chain(chain, request_id, deadline, dry_run))
            .buffer_unordered(at_once)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect();
        handled.sort_by_key(|h| h.position);
        for h in handled {
            match h.result {
                Ok(report) => {
                    let status = report.status.as_ref().map_or("none", JobStatus::as_str);
                    metrics.count_by("JobRuns", "status", status, 1);
                    if let Some(ms) = report.removed_after_ms {
                        metrics.observe("TimeToRemoval", Unit::Seconds, ms as f64 / 1000.0);
                    }
                    tracing::info!(user = %h.key.pk, job = %report.job, status,
                        detail = report.detail.as_deref().unwrap_or(""),
                        elapsed_ms = h.started.elapsed().as_millis() as u64, "job handled")
                }
                Err(e) => {
                    metrics.count("JobRunsUnrecorded", 1);
                    tracing::error!(user = %h.key.pk, job = %h.key.sk, error = %e,
                        "job could not be handled; the stream will retry it");
                    if response.batch_item_failures.is_empty() {
                        response.batch_item_failures.push(failure(h.sequence));
                    }
                }
            }
        }
        response
    }

    /// One user's records in order, up to the first that could not be handled.
    async fn run_chain(
        &self,
        chain: &[JobRecord],
        request_id: &str,
        deadline: Instant,
        dry_run: bool,
    ) -> Vec<Handled> {
        let mut out = Vec::with_capacity(chain.len());
        for record in chain {
            let started = Instant::now();
            let span = tracing::info_span!("job", user = %record.key.pk, job = %record.key.sk);
            let result = self
                .run_job_with(&record.key, &record.token, request_id, deadline, dry_run)
                .instrument(span)
                .await;
            let stop = result.is_err();
            out.push(Handled {
                position: record.position,
                key: record.key.clone(),
                sequence: record.sequence.clone(),
                result,
                started,
            });
            if stop {
                break;
            }
        }
        out
    }
}

fn failure(sequence: Option<String>) -> DynamoDbBatchItemFailure {
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = sequence;
    failure
}

/// The job key of a stream record, if it is one (the filter should let only jobs through).
fn job_key(record: &EventRecord) -> Option<Key> {
    // The keys in DynamoDB's JSON form: {"pk": {"S": "USER#…"}, "sk": {"S": "JOB#…"}}.
    let keys = serde_json::to_value(&record.change.keys).ok()?;
    let text = |name: &str| {
        keys.pointer(&format!("/{name}/S"))?
            .as_str()
            .map(str::to_owned)
    };
    let (pk, sk) = (text("pk")?, text("sk")?);
    (pk.starts_with("USER#") && sk.starts_with("JOB#")).then_some(Key { pk, sk })
}
