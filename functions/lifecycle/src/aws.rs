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

/// The trust store's one file. The template sets it, so that the TLS clients read the
/// CA bundle alone, and not also each file of the certificate directory (on Debian about
/// 140 files, which cost a hook function about 5 ms of its init on 2 cores).
const CERT_FILE: &str = "SSL_CERT_FILE";

/// What is wrong with the trust store's file, if it is named and not a readable file:
/// then no TLS connection can be verified, and every call to AWS fails.
fn cert_file_problem(named: Option<&std::ffi::OsStr>) -> Option<String> {
    let path = std::path::Path::new(named?);
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => None,
        Ok(_) => Some(format!(
            "{CERT_FILE} names {}, which is not a file: no TLS connection can be verified",
            path.display()
        )),
        Err(e) => Some(format!(
            "{CERT_FILE} names {}, which cannot be read ({e}): no TLS connection can be verified",
            path.display()
        )),
    }
}

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
    if let Some(problem) = cert_file_problem(std::env::var_os(CERT_FILE).as_deref()) {
        tracing::error!("{problem}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn a_trust_store_file_that_is_missing_or_a_directory_is_named_and_an_unset_one_is_fine() {
        assert_eq!(cert_file_problem(None), None);
        let dir = std::env::temp_dir();
        let file = dir.join(format!("bundle-{}.pem", std::process::id()));
        std::fs::write(&file, "-----BEGIN CERTIFICATE-----\n").unwrap();
        assert_eq!(cert_file_problem(Some(file.as_os_str())), None);
        std::fs::remove_file(&file).unwrap();

        let missing = cert_file_problem(Some(file.as_os_str())).unwrap();
        assert!(missing.contains("cannot be read"), "{missing}");
        assert!(missing.contains(&file.display().to_string()), "{missing}");
        let directory = cert_file_problem(Some(OsStr::new(dir.as_os_str()))).unwrap();
        assert!(directory.contains("not a file"), "{directory}");
    }
}
