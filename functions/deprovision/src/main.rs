//! `deprovision`: the worker. Runs the jobs the table's stream brings (new jobs, retries,
//! released jobs) against Okta and every configured target, and carries on provisioning
//! requests left pending.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use lifecycle::clock::invocation_deadline;
use lifecycle::config::EngineConfig;
use lifecycle::worker::Worker;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = EngineConfig::from_env()?;
    let budget = config.time_budget;
    let worker = Worker::from_environment(config).await?;
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let deadline = invocation_deadline(event.context.deadline(), budget);
        let response = worker
            .handle(event.payload, &event.context.request_id, deadline)
            .await;
        Ok::<_, Error>(response)
    }))
    .await
}
