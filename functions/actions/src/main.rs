//! `actions`: provisioning actions on Okta (`POST /actions`, `GET /actions/{request_id}`),
//! behind API Gateway's IAM authorizer.

use lambda_http::{run, service_fn, Error, Request};
use lifecycle::actions::api::ActionsApi;
use lifecycle::config::ActionsConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = ActionsConfig::from_env()?;
    let api = ActionsApi::from_environment(&config).await?;
    let api = &api;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
