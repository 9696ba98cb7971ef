//! Building, once per execution environment, the clients the functions share: the
//! store over the tables, the Okta client from its credentials secret.

use aws_config::SdkConfig;

use crate::config::{OktaConfig, TableConfig};
use crate::okta::{ClientOptions, OktaClient, OktaCredentials, OktaError};
use crate::secrets::{SecretError, SecretsManagerSource};
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
pub async fn required_secret(
    aws: &SdkConfig,
    secret_id: &str,
) -> Result<crate::secrets::Secret, SetupError> {
    SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(aws), secret_id)
        .read_current()
        .await?
        .ok_or_else(|| SetupError::MissingSecret(secret_id.to_owned()))
}

/// The store over the configured tables: the state and the audit trail.
pub fn store(aws: &SdkConfig, table: &TableConfig) -> DynamoStore {
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        &table.name,
        &table.audit,
    )
}

/// The Okta client, with credentials read from Secrets Manager and the configured rate
/// reserve; the rest of `options` is the caller's.
pub async fn okta_client(
    aws: &SdkConfig,
    okta: &OktaConfig,
    options: ClientOptions,
) -> Result<OktaClient, SetupError> {
    let secret = required_secret(aws, &okta.credentials_secret_id).await?;
    let credentials = OktaCredentials::from_secret_json(secret.expose())?;
    let options = ClientOptions {
        reserve_fraction: okta.rate_reserve,
        ..options
    };
    Ok(OktaClient::new(&okta.org_url, credentials, options)?)
}
