//! The AWS SDK configuration every function shares: bounded timeouts and retries.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Okta waits 3 s for an answer; every call to AWS must fit well inside that.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);
const OPERATION_TIMEOUT: Duration = Duration::from_millis(2000);
/// Throttling and transient errors are retried with exponential backoff and jitter.
const MAX_ATTEMPTS: u32 = 3;
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);

/// An operator's reads (a day of the audit index, a report's week) are larger than any
/// call on the functions' paths, and nobody waits on them but the operator.
const OPERATOR_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const OPERATOR_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads region, credentials and endpoint (`AWS_ENDPOINT_URL` for the local stack) from
/// the environment, with this product's timeouts and retry bounds.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_within(ATTEMPT_TIMEOUT, OPERATION_TIMEOUT).await
}

/// [`sdk_config`] with the operator's command line's longer timeouts.
pub async fn operator_sdk_config() -> SdkConfig {
    sdk_config_within(OPERATOR_ATTEMPT_TIMEOUT, OPERATOR_OPERATION_TIMEOUT).await
}

async fn sdk_config_within(attempt: Duration, operation: Duration) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF);
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries)
        .load()
        .await
}
