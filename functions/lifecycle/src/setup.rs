//! Building, once per execution environment, the clients the functions share: the
//! store over the tables, the Okta client from its credentials secret (read again when
//! Okta refuses them, or when old).

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::config::{OktaConfig, TableConfig};
use crate::okta::{ClientOptions, OktaClient, OktaError};
use crate::secrets::{Secret, SecretError, SecretsManagerSource};
use crate::store::DynamoStore;

/// A function could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A secret does not exist or is not filled in.
    #[error("secret {0} is missing or empty: fill it in (see the README)")]
    MissingSecret(String),
    /// The Okta credentials or the org URL are unusable.
    #[error(transparent)]
    Okta(#[from] OktaError),
    /// Anything else in the configuration that is unusable.
    #[error("{0}")]
    Invalid(String),
}

/// Reads the current value of a secret that must exist and be filled in.
pub async fn required_secret(aws: &SdkConfig, secret_id: &str) -> Result<Secret, SetupError> {
    Ok(required_secret_source(aws, secret_id).await?.0)
}

/// [`required_secret`], with the source it was read from, to read it again later.
pub async fn required_secret_source(
    aws: &SdkConfig,
    secret_id: &str,
) -> Result<(Secret, SecretsManagerSource), SetupError> {
    let source = SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(aws), secret_id);
    let text = source
        .read_current()
        .await?
        .ok_or_else(|| SetupError::MissingSecret(secret_id.to_owned()))?;
    Ok((text, source))
}

/// The store over the configured tables: the state and the audit trail.
pub fn store(aws: &SdkConfig, table: &TableConfig) -> DynamoStore {
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        &table.name,
        &table.audit,
    )
}

/// The Okta client, with credentials read from Secrets Manager (and read again as
/// `okta.refresh` says) and the configured rate reserve; the rest of `options` is the
/// caller's.
pub async fn okta_client(
    aws: &SdkConfig,
    okta: &OktaConfig,
    options: ClientOptions,
) -> Result<OktaClient, SetupError> {
    let (text, source) = required_secret_source(aws, &okta.credentials_secret_id).await?;
    let options = ClientOptions {
        reserve_fraction: okta.rate_reserve,
        ..options
    };
    Ok(OktaClient::from_secret(
        &okta.org_url,
        &okta.credentials_secret_id,
        text,
        Arc::new(source),
        okta.refresh,
        options,
    )?)
}
