//! `POST /oauth2/v1/token`: client credentials with a `private_key_jwt` client assertion.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock;
use crate::qs;
use crate::sim::Sim;
use crate::state::{AccessToken, OAuthClient};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_LIFETIME_SECS: i64 = 3600;

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    resp.headers_mut().insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

fn invalid_client(description: &str) -> Response {
    oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description)
}

/// Decodes unpadded base64url.
fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn unverified_issuer(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&b64url_decode(payload)?).ok()?;
    claims.get("iss")?.as_str().map(String::from)
}

#[derive(Deserialize)]
struct AssertionClaims {
    sub: String,
    exp: i64,
    jti: Option<String>,
}

/// Checks a client assertion's signature (any of the app's keys), audience, issuer,
/// subject and expiry; returns its `jti`, or why it is an `invalid_client`.
fn verify_assertion(
    org_url: &str,
    client: &OAuthClient,
    assertion: &str,
) -> Result<String, String> {
    let audience = format!("{org_url}/oauth2/v1/token");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience.as_str()]);
    validation.set_issuer(&[client.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 0;
    let mut verified = None;
    let mut last_error = String::from("no key");
    for key in &client.keys {
        match jsonwebtoken::decode::<AssertionClaims>(assertion, key, &validation) {
            Ok(data) => {
                verified = Some(data.claims);
                break;
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    let Some(claims) = verified else {
        tracing::debug!(client_id = %client.client_id, error = %last_error, "client assertion rejected");
        return Err(format!(
            "The client_assertion token is invalid: {last_error}."
        ));
    };
    if claims.sub != client.client_id {
        return Err("The client_assertion sub must equal the client_id.".into());
    }
    let now = clock::now();
    if claims.exp > now.unix_timestamp() + TOKEN_LIFETIME_SECS {
        return Err("The client_assertion token has an expiration too far in the future.".into());
    }
    claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(|| "The client_assertion token must have a jti claim.".into())
}

/// The token endpoint.
pub async fn token(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let form = qs::parse(Some(&text));
    if qs::get(&form, "grant_type") != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].",
        );
    }
    if qs::get(&form, "client_assertion_type") != Some(ASSERTION_TYPE) {
        return invalid_client(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        );
    }
    let Some(assertion) = qs::get(&form, "client_assertion") else {
        return invalid_client("The client_assertion parameter is missing.");
    };
    let Some(issuer) = unverified_issuer(assertion) else {
        return invalid_client("The client_assertion token is malformed.");
    };
    if let Some(cid) = qs::get(&form, "client_id") {
        if cid != issuer {
            return invalid_client("The client_id does not match the client_assertion issuer.");
        }
    }
    let Some(scope) = qs::get(&form, "scope").filter(|s| !s.trim().is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The authorization server requires the 'scope' parameter.",
        );
    };
    let requested: Vec<String> = scope.split_whitespace().map(String::from).collect();

    let client = {
        let state = sim.lock();
        state.clients.get(&issuer).cloned()
    };
    let Some(client) = client else {
        return invalid_client("Invalid value for 'client_id' parameter.");
    };
    let jti = match verify_assertion(&sim.org_url, &client, assertion) {
        Ok(jti) => jti,
        Err(why) => return invalid_client(&why),
    };
    let now = clock::now();
    let not_allowed: Vec<&str> = requested
        .iter()
        .filter(|s| !client.scopes.contains(s))
        .map(String::as_str)
        .collect();
    if !not_allowed.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!(
                "The following scopes are not allowed: {}",
                not_allowed.join(", ")
            ),
        );
    }
    let mut state = sim.lock();
    if !state.used_jtis.insert(jti) {
        return invalid_client("The client_assertion token has already been used.");
    }
    let token = format!("sim.{}", state.rng.base62(48));
    state.access_tokens.insert(
        token.clone(),
        AccessToken {
            client_id: client.client_id.clone(),
            scopes: requested.clone(),
            expires: now + time::Duration::seconds(TOKEN_LIFETIME_SECS),
        },
    );
    let mut resp = Json(json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
        "access_token": token,
        "scope": requested.join(" "),
    }))
    .into_response();
    resp.headers_mut().insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64url_without_padding() {
        assert_eq!(
            b64url_decode("eyJpc3MiOiJhIn0").as_deref(),
            Some(&b"{\"iss\":\"a\"}"[..])
        );
        assert!(b64url_decode("*").is_none());
    }
}
