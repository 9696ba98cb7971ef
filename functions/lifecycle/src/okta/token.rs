//! What goes in each call's Authorization header, and the access-token cache behind it.
//!
//! An API token is one fixed header. A service app's access token is fetched with a
//! fresh client assertion, reused until shortly before it expires, and replaced once
//! when Okta refuses it mid-life (a revoked token). When Okta refuses the credentials
//! themselves (a rotated token or key), the client reads them again: a new [`Auth`] is
//! built from the new secret, with an empty token cache, so no access token obtained
//! with the old key outlives it.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Url};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::auth::{new_jti, AssertionClaims, OktaCredentials, Signer};
use super::error::OktaError;
use super::ratelimit::{local_epoch_now, EndpointFamily};
use super::transport::{Answer, Deadline, RetryPolicy, Transport};
use crate::secrets::Secret;

/// How long an access token valid for `lifetime` is reused: until a minute before it
/// expires (or 80% of a short lifetime), so it never expires between check and use.
pub(crate) fn token_reuse_period(lifetime: Duration) -> Duration {
    let margin = Duration::from_secs(60).min(lifetime / 5);
    lifetime.saturating_sub(margin)
}

/// One Management API call: what to send and how far it may be repeated.
#[derive(Clone)]
pub(crate) struct ApiRequest<'a> {
    /// The HTTP method.
    pub method: Method,
    /// The full URL, query included.
    pub url: Url,
    /// The JSON body, if any (never a secret: it may be held across retries).
    pub body: Option<&'a serde_json::Value>,
    /// Whether it may be re-sent after an unclear failure.
    pub policy: RetryPolicy,
}

/// How every call of one client authenticates.
pub(crate) enum Auth {
    /// `Authorization: SSWS <token>`, built once.
    Ssws(HeaderValue),
    /// Bearer access tokens of a `private_key_jwt` service app (boxed: it is large, and
    /// built once per client).
    OAuth(Box<TokenCache>),
}

/// A service app's token grant and the access token it last got.
pub(crate) struct TokenCache {
    client_id: String,
    scope: String,
    signer: Signer,
    token_url: Url,
    cached: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

/// A header value that is never printed, not even by reqwest's `Debug`.
fn sensitive_header(value: String) -> Result<HeaderValue, OktaError> {
    let mut v = HeaderValue::try_from(value).map_err(|_| {
        OktaError::Credentials("the token has characters a header cannot hold".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

impl Auth {
    /// Checks the credentials now (header characters, scopes, the private key), so a bad
    /// secret fails when the client is built rather than at its first call.
    pub(crate) fn new(credentials: OktaCredentials, token_url: Url) -> Result<Self, OktaError> {
        match credentials {
            OktaCredentials::Ssws(token) => Ok(Self::Ssws(sensitive_header(format!(
                "SSWS {}",
                token.expose()
            ))?)),
            OktaCredentials::PrivateKeyJwt {
                client_id,
                private_key_pem,
                key_id,
                scopes,
            } => {
                if scopes.is_empty() {
                    return Err(OktaError::Credentials("no scopes to request".into()));
                }
                Ok(Self::OAuth(Box::new(TokenCache {
                    client_id,
                    scope: scopes.join(" "),
                    signer: Signer::new(&private_key_pem, key_id)?,
                    token_url,
                    cached: Mutex::new(None),
                })))
            }
        }
    }

    /// The kind of credential, for `Debug` and logs: never the credential itself.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Ssws(_) => "ssws",
            Self::OAuth(_) => "private_key_jwt",
        }
    }

    /// An authenticated call, with its JSON body if any, retried as its policy allows
    /// (see [`super::transport::verdict`]). With OAuth, a 401 drops the cached token and
    /// the call is made once more with a new one: a 401 means Okta did nothing, so this
    /// holds for `Once` calls too. `check_reserve` is false when this finishes a call
    /// already started (the rate-limit reserve decides only whether a call starts).
    pub(crate) async fn call(
        &self,
        transport: &Transport,
        deadline: Deadline,
        request: ApiRequest<'_>,
        check_reserve: bool,
    ) -> Result<Answer, OktaError> {
        let ApiRequest {
            method,
            url,
            body,
            policy,
        } = request;
        let family = EndpointFamily::of_path(url.path());
        let endpoint = url.path().to_owned();
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| OktaError::Config(format!("request body for {endpoint}: {e}")))?;
        let mut refreshed = false;
        loop {
            let auth = self.authorization(transport, deadline).await?;
            let http = transport.http();
            // The retry after a token refresh finishes a call already started, so the
            // reserve (which decides whether a call starts) is not asked again.
            let answer = transport
                .send(
                    deadline,
                    family,
                    &endpoint,
                    policy,
                    check_reserve && !refreshed,
                    &|| {
                        let mut req = http
                            .request(method.clone(), url.clone())
                            .header(ACCEPT, "application/json")
                            .header(AUTHORIZATION, auth.clone());
                        if let Some(bytes) = &body {
                            req = req
                                .header(CONTENT_TYPE, "application/json")
                                .body(bytes.clone());
                        }
                        Ok(req)
                    },
                )
                .await?;
            match self {
                Self::OAuth(tokens) if answer.status == 401 && !refreshed => {
                    tracing::info!(endpoint = %endpoint, "Okta refused the access token; fetching a new one");
                    tokens.drop_token(&auth).await;
                    refreshed = true;
                }
                _ => return Ok(answer),
            }
        }
    }

    async fn authorization(
        &self,
        transport: &Transport,
        deadline: Deadline,
    ) -> Result<HeaderValue, OktaError> {
        match self {
            Self::Ssws(header) => Ok(header.clone()),
            Self::OAuth(tokens) => {
                let token = tokens.access_token(transport, deadline).await?;
                sensitive_header(format!("Bearer {}", token.expose()))
            }
        }
    }
}

impl TokenCache {
    /// The cached token while it is fresh, else a new one. The lock is held across the
    /// fetch so concurrent calls wait for one fetch instead of each making their own.
    async fn access_token(
        &self,
        transport: &Transport,
        deadline: Deadline,
    ) -> Result<Secret, OktaError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let (token, lifetime) = self.fetch_token(transport, deadline).await?;
        *cached = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + token_reuse_period(lifetime),
        });
        Ok(token)
    }

    /// Forgets the cached token if it is the one Okta refused (`used`); a newer one that
    /// a concurrent call already fetched is kept.
    async fn drop_token(&self, used: &HeaderValue) {
        let mut cached = self.cached.lock().await;
        let same = cached.as_ref().is_some_and(|c| {
            used.as_bytes()
                .strip_prefix(b"Bearer ")
                .is_some_and(|t| c.token.matches(t))
        });
        if same {
            *cached = None;
        }
    }

    async fn fetch_token(
        &self,
        transport: &Transport,
        deadline: Deadline,
    ) -> Result<(Secret, Duration), OktaError> {
        let endpoint = self.token_url.path().to_owned();
        let http = transport.http();
        // A fresh assertion per attempt: Okta refuses a replayed `jti`.
        let build = || self.token_request(http);
        let answer = transport
            .send(
                deadline,
                EndpointFamily::Token,
                &endpoint,
                // A repeated grant only issues another token.
                RetryPolicy::Idempotent,
                true,
                &build,
            )
            .await?;
        read_token_answer(&endpoint, &answer)
    }

    /// The `client_credentials` grant, authenticated by a newly signed assertion.
    fn token_request(&self, http: &reqwest::Client) -> Result<RequestBuilder, OktaError> {
        let token_url = self.token_url.as_str();
        let claims = AssertionClaims::new(&self.client_id, token_url, local_epoch_now(), new_jti());
        let assertion = self.signer.sign(&claims)?;
        Ok(http
            .post(token_url)
            .header(ACCEPT, "application/json")
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", self.scope.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.expose()),
            ]))
    }
}

/// Whether Okta refused the credentials themselves: a 401 from the API (`E0000011`,
/// invalid token; with OAuth, after a new access token was tried too), or the token
/// endpoint's `invalid_client` (the assertion's key is not the app's). Okta did nothing,
/// so the call may be made again with credentials read again.
pub(crate) fn credentials_refused(result: &Result<Answer, OktaError>) -> bool {
    match result {
        Ok(answer) => answer.status == 401,
        Err(e) => e.is_credentials_refused(),
    }
}

/// The access token and its lifetime from the token endpoint's answer.
fn read_token_answer(endpoint: &str, answer: &Answer) -> Result<(Secret, Duration), OktaError> {
    if answer.status != 200 {
        return Err(token_error(answer.status, &answer.body));
    }
    let parsed: TokenAnswer =
        serde_json::from_slice(&answer.body).map_err(|_| OktaError::Decode {
            endpoint: endpoint.to_owned(),
            detail: "token answer without a usable access_token".into(),
        })?;
    if parsed
        .token_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
    {
        return Err(OktaError::DpopRequired);
    }
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
    tracing::debug!(
        expires_in_s = lifetime.as_secs(),
        "Okta access token issued"
    );
    Ok((Secret::new(parsed.access_token), lifetime))
}

/// A successful token endpoint answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// An OAuth error answer.
#[derive(Debug, Default, Deserialize)]
struct OAuthErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Maps a token endpoint error to an [`OktaError`]; DPoP gets its own, actionable error.
fn token_error(status: u16, body: &[u8]) -> OktaError {
    let parsed: OAuthErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let error = parsed.error.unwrap_or_else(|| "unknown_error".into());
    if error == "invalid_dpop_proof" || error == "use_dpop_nonce" {
        return OktaError::DpopRequired;
    }
    OktaError::Token {
        status,
        error,
        description: parsed.error_description.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_token_is_reused_until_shortly_before_it_expires() {
        let secs = |s| Duration::from_secs(s);
        assert_eq!(token_reuse_period(secs(3600)), secs(3540));
        assert_eq!(token_reuse_period(secs(100)), secs(80));
        assert_eq!(token_reuse_period(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_dpop_demand_becomes_an_actionable_error() {
        let e = token_error(
            400,
            br#"{"error":"invalid_dpop_proof","error_description":"x"}"#,
        );
        assert!(matches!(e, OktaError::DpopRequired));
        assert!(e.to_string().contains("(DPoP) header in token requests"));
        let e = token_error(400, br#"{"error":"use_dpop_nonce"}"#);
        assert!(matches!(e, OktaError::DpopRequired));
        let e = token_error(
            401,
            br#"{"error":"invalid_client","error_description":"bad"}"#,
        );
        assert!(
            matches!(e, OktaError::Token { status: 401, ref error, .. } if error == "invalid_client")
        );
    }
}
