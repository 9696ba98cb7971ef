//! `log-poller`: every minute, reads Okta's System Log for lifecycle events the hook may
//! have missed and feeds them into the same intake path (`source = poll`).

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use lifecycle::config::PollerConfig;
use lifecycle::poller::Poller;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = PollerConfig::from_env()?;
    let poller = Poller::from_environment(config).await?;
    let poller = &poller;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = poller.deadline(event.context.deadline());
            let report = poller.run(&event.context.request_id, deadline).await?;
            report.metrics().flush();
            Ok::<_, Error>(serde_json::to_value(report)?)
        },
    ))
    .await
}
