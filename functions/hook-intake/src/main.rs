//! `hook-intake`: accepts Okta event hook deliveries (`POST /okta`) and turns them into jobs.

use lambda_http::{run, service_fn, Error, Request};
use lifecycle::config::Config;
use lifecycle::http::HookHandler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let handler = HookHandler::from_environment(config).await;
    let handler = &handler;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(handler.intake(req).await)
    }))
    .await
}
