//! `sync`: an HR export dropped into the sync bucket. Planned against Okta; applied
//! through the actions path when every guard passes, otherwise held for an operator.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use lifecycle::config::SyncConfig;
use lifecycle::sync::drop::SyncFunction;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = SyncConfig::from_env()?;
    let function = SyncFunction::from_environment(config).await?;
    let function = &function;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let drops = function
                .handle(&event.payload, &event.context.request_id)
                .await?;
            let settled: Vec<_> = drops
                .iter()
                .map(|d| format!("{} {}", d.id, d.status.as_str()))
                .collect();
            Ok::<_, Error>(settled)
        },
    ))
    .await
}
