//! `deprovision`: runs the jobs the table's stream brings (new jobs, retries, released
//! jobs) against Okta and every configured target.

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use lifecycle::config::EngineConfig;
use lifecycle::engine::Engine;

/// Longest one invocation works when the runtime's deadline cannot be trusted.
const FALLBACK_BUDGET: Duration = Duration::from_secs(100);

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = EngineConfig::from_env()?;
    let engine = Engine::from_environment(config).await?;
    let engine = &engine;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        // Local emulators send the timeout instead of a point in time: a deadline already
        // past cannot be real.
        let deadline = match event.context.deadline().duration_since(SystemTime::now()) {
            Ok(left) => Instant::now() + left.min(FALLBACK_BUDGET),
            Err(_) => Instant::now() + FALLBACK_BUDGET,
        };
        let response = engine
            .handle(event.payload, &event.context.request_id, deadline)
            .await;
        Ok::<_, Error>(response)
    }))
    .await
}
