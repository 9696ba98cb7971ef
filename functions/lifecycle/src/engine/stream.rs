//! The DynamoDB stream's side of the engine: a batch of records in, a partial-failure
//! answer out. Records are taken in order, one span per record; the first one that cannot
//! be handled stops the batch so that each user's jobs keep their order.

use std::time::Instant;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use tracing::Instrument;

use super::Engine;
use crate::domain::JobStatus;
use crate::metrics::{Metrics, Unit};
use crate::store::{IntakeStore, Key};

impl Engine {
    /// Handles one stream batch. Records are taken in order; the first one that cannot be
    /// handled (the table failed) is reported, so the stream retries from it and the
    /// order of each user's jobs holds.
    pub async fn handle(
        &self,
        event: Event,
        request_id: &str,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        // The operator's dry-run switch, read once per batch (at the first job).
        let mut dry_run_switch = None;
        for record in &event.records {
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
            let started = Instant::now();
            let switch = match dry_run_switch {
                Some(on) => Ok(on),
                None => self.store.integration().await.map(|i| i.dry_run),
            };
            let result = match switch {
                Ok(on) => {
                    dry_run_switch = Some(on);
                    let span = tracing::info_span!("job", user = %key.pk, job = %key.sk);
                    self.run_job_with(&key, &token, request_id, deadline, on)
                        .instrument(span)
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(report) => {
                    let status = report.status.as_ref().map_or("none", JobStatus::as_str);
                    metrics.count_by("JobRuns", "status", status, 1);
                    if let Some(ms) = report.removed_after_ms {
                        metrics.observe("TimeToRemoval", Unit::Seconds, ms as f64 / 1000.0);
                    }
                    tracing::info!(user = %key.pk, job = %report.job, status = report.status.as_ref().map_or("none", JobStatus::as_str),
                        detail = report.detail.as_deref().unwrap_or(""),
                        elapsed_ms = started.elapsed().as_millis() as u64, "job handled")
                }
                Err(e) => {
                    metrics.count("JobRunsUnrecorded", 1);
                    tracing::error!(user = %key.pk, job = %key.sk, error = %e,
                        "job could not be handled; the stream will retry it");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = sequence;
                    response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
        response
    }
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
