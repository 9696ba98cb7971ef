//! The deprovision function's work from the table's stream: jobs go to the engine, and
//! provisioning requests left `pending` (Okta throttled or down, or out of time) are
//! carried on by the provisioner. Each kind lives in partitions of its own, so splitting
//! a batch keeps every partition's order.

use std::time::Instant;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use tracing::Instrument;

use crate::actions::Provisioner;
use crate::config::EngineConfig;
use crate::domain::fuse::FuseSettings;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::setup::SetupError;

/// The engine and the provisioner, over one table and one Okta client.
#[derive(Debug)]
pub struct Worker {
    engine: Engine,
    provisioner: Provisioner,
}

/// The request id of a stream record about a request item, if it is one.
fn request_of(record: &EventRecord) -> Option<String> {
    let keys = serde_json::to_value(&record.change.keys).ok()?;
    let pk = keys.pointer("/pk/S")?.as_str()?;
    let sk = keys.pointer("/sk/S")?.as_str()?;
    (sk == "REQUEST")
        .then(|| pk.strip_prefix("REQUEST#").map(str::to_owned))
        .flatten()
}

impl Worker {
    /// Both, sharing the engine's table and Okta client.
    pub fn new(engine: Engine) -> Self {
        let fuse = FuseSettings {
            limit: engine.config().fuse_limit,
            window: engine.config().fuse_window,
        };
        let provisioner = Provisioner::new(engine.okta().clone(), engine.store().clone(), fuse);
        Self {
            engine,
            provisioner,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The provisioner.
    pub fn provisioner(&self) -> &Provisioner {
        &self.provisioner
    }

    /// Builds the clients from the environment once per execution environment.
    pub async fn from_environment(config: EngineConfig) -> Result<Self, SetupError> {
        Ok(Self::new(Engine::from_environment(config).await?))
    }

    /// Handles one stream batch: its jobs first (in order), then its pending requests.
    pub async fn handle(
        &self,
        mut event: Event,
        request_id: &str,
        deadline: Instant,
    ) -> DynamoDbEventResponse {
        let (requests, jobs): (Vec<_>, Vec<_>) = std::mem::take(&mut event.records)
            .into_iter()
            .partition(|r| request_of(r).is_some());
        event.records = jobs;
        let mut metrics = Metrics::invocation("deprovision");
        let mut response = self
            .engine
            .handle(event, request_id, deadline, &mut metrics)
            .await;
        for record in requests {
            let Some(id) = request_of(&record) else {
                continue;
            };
            let run_id = format!(
                "worker:{}",
                record
                    .change
                    .sequence_number
                    .as_deref()
                    .unwrap_or(request_id)
            );
            let span = tracing::info_span!("request", request_id = %id);
            match self
                .provisioner
                .carry_on(&id, &run_id, deadline.into())
                .instrument(span)
                .await
            {
                Ok(Some(answer)) => {
                    metrics.count_by("RequestsCarriedOn", "status", answer.status.as_str(), 1);
                    tracing::info!(
                        status = answer.status.as_str(),
                        "pending request carried on"
                    )
                }
                Ok(None) => tracing::info!("request not pending; nothing to carry on"),
                Err(e) => {
                    tracing::error!(error = %e, "request could not be carried on; the stream retries it");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = record.change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                }
            }
        }
        metrics.flush();
        response
    }
}
