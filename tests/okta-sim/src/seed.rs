//! The seed file: an org loaded at start (`--seed-file`) or through `POST /_sim/seed`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A whole org to load. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedDoc {
    /// SSWS API tokens accepted in `Authorization: SSWS <token>`.
    pub api_tokens: Vec<SeedToken>,
    /// OAuth 2.0 service apps for the client-credentials grant with `private_key_jwt`.
    pub oauth_clients: Vec<SeedClient>,
    /// Users.
    pub users: Vec<SeedUser>,
    /// Groups and their members.
    pub groups: Vec<SeedGroup>,
    /// Custom user profile attributes (as if added in the Profile Editor); attributes the
    /// seed's users carry outside the base profile are added too.
    pub custom_profile_attributes: Vec<String>,
    /// Per-minute limits per endpoint family and the concurrency limit.
    pub rate_limits: Option<RateLimitConfig>,
}

/// An SSWS token and the admin it acts as (the `actor` of the log events it causes).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedToken {
    /// The secret value.
    pub token: String,
    /// Display name of the token.
    pub name: Option<String>,
    /// The admin who created it.
    pub owner: Option<SeedActor>,
}

/// A log event actor.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedActor {
    /// Okta id.
    pub id: Option<String>,
    /// Login (becomes `alternateId`).
    pub login: String,
    /// Display name.
    pub display_name: Option<String>,
}

/// An OAuth 2.0 service app.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedClient {
    /// `client_id` (also the `iss` and `sub` of its assertions).
    pub client_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Okta API scopes granted to the app.
    pub scopes: Vec<String>,
    /// RSA public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
    pub public_key_pem: Option<String>,
    /// A JWK Set (`{"keys":[{"kty":"RSA","n":..,"e":..,"kid":..}]}`).
    pub jwks: Option<Value>,
}

/// A user.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedUser {
    /// Okta id; generated when absent.
    pub id: Option<String>,
    /// Status (default `ACTIVE`).
    pub status: Option<String>,
    /// Profile: firstName, lastName, email, login at least.
    pub profile: Map<String, Value>,
    /// Whether a password is set (default: true unless STAGED or PROVISIONED).
    pub password: Option<bool>,
    /// Creation time (RFC 3339); default now.
    pub created: Option<String>,
    /// Last sign-in (RFC 3339).
    pub last_login: Option<String>,
    /// Open sessions.
    pub sessions: u64,
    /// Live OAuth tokens.
    pub oauth_tokens: u64,
}

/// A group.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedGroup {
    /// Okta id; generated when absent.
    pub id: Option<String>,
    /// `OKTA_GROUP` (default), `APP_GROUP` or `BUILT_IN`.
    #[serde(rename = "type")]
    pub gtype: Option<String>,
    /// `name` and `description`.
    pub profile: SeedGroupProfile,
    /// Member ids or logins (ignored for `BUILT_IN`, which holds every user).
    pub members: Vec<String>,
}

/// Group profile.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedGroupProfile {
    /// Group name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// Requests per minute per endpoint family, and concurrent requests org-wide.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimitConfig {
    /// `/api/v1/users*` (except sessions).
    pub users: u64,
    /// `/api/v1/groups*`.
    pub groups: u64,
    /// `/api/v1/logs`.
    pub logs: u64,
    /// `/api/v1/users/{id}/sessions`.
    pub sessions: u64,
    /// `/api/v1/eventHooks*`.
    pub event_hooks: u64,
    /// `/oauth2/v1/token`.
    pub token: u64,
    /// Requests in flight at once across the org API.
    pub concurrency: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            users: 600,
            groups: 500,
            logs: 120,
            sessions: 600,
            event_hooks: 100,
            token: 600,
            concurrency: 75,
        }
    }
}
