//! The command line's Okta client for a plan.

use super::*;

pub(super) async fn okta_client(
    args: &SyncArgs,
    aws: &aws_config::SdkConfig,
) -> Result<OktaClient, String> {
    let org_url = args
        .okta_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or("no Okta org: pass --okta-url or set OKTA_URL")?;
    let secret = args
        .okta_credentials_secret_id
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or("no Okta credentials: pass --okta-credentials-secret-id or set OKTA_CREDENTIALS_SECRET_ID")?;
    let config = OktaConfig {
        org_url: org_url.trim_end_matches('/').to_owned(),
        credentials_secret_id: secret,
        rate_reserve: 0.0,
        refresh: Default::default(),
    };
    // Reading for a plan is bound by Okta's rate: at the reserve, wait for the window.
    let options = ClientOptions {
        wait_for_reserve: true,
        ..ClientOptions::default()
    };
    lifecycle::setup::okta_client(aws, &config, options)
        .await
        .map_err(|e| e.to_string())
}
