//! `/_sim`: the control API for tests (no auth; the server only listens on loopback).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::limits::Faults;
use crate::qs;
use crate::seed::{RateLimitConfig, SeedDoc};
use crate::sim::Sim;

/// The `/_sim` routes.
pub fn router() -> Router<Arc<Sim>> {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/seed", post(seed))
        .route("/reset", post(reset))
        .route("/state", get(state))
        .route(
            "/faults",
            get(get_faults).post(set_faults).delete(clear_faults),
        )
        .route("/rate-limits", get(get_limits).post(set_limits))
        .route("/counters", get(counters))
        .route("/hooks/flush", post(flush))
        .route("/users/{id}/sessions", post(set_sessions))
        .route("/api-tokens", post(rotate_api_tokens))
        .route("/oauth-clients/{id}/keys", post(set_client_keys))
}

/// `{"add": ["<token>"], "revoke": ["<token>"]}`: an admin creating and revoking SSWS
/// tokens. A revoked token answers 401 `E0000011` from then on.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenChange {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    revoke: Vec<String>,
}

async fn rotate_api_tokens(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let change: TokenChange = match parse(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(e),
    };
    if change.add.iter().any(|t| t.trim().is_empty()) {
        return bad_request("a token must not be empty");
    }
    let mut state = sim.lock();
    state
        .api_tokens
        .retain(|t| !change.revoke.contains(&t.token));
    for token in &change.add {
        if !state.api_tokens.iter().any(|t| &t.token == token) {
            state.add_default_token(token);
        }
    }
    Json(json!({ "apiTokens": state.api_tokens.len() })).into_response()
}

/// `{"publicKeysPem": ["-----BEGIN PUBLIC KEY-----…"], "revokeTokens": true}`: the
/// service app's keys become exactly these (a key rotation in the admin console); with
/// `revokeTokens`, the access tokens issued to the app so far stop working too.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyChange {
    public_keys_pem: Vec<String>,
    #[serde(default)]
    revoke_tokens: bool,
}

async fn set_client_keys(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let change: KeyChange = match parse(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(e),
    };
    if change.public_keys_pem.is_empty() {
        return bad_request("an app needs at least one key");
    }
    let mut keys = Vec::with_capacity(change.public_keys_pem.len());
    for pem in &change.public_keys_pem {
        match jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) {
            Ok(k) => keys.push(k),
            Err(e) => return bad_request(format!("bad public key: {e}")),
        }
    }
    let mut state = sim.lock();
    let Some(client) = state.clients.get_mut(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown client" })),
        )
            .into_response();
    };
    client.keys = keys;
    let count = client.keys.len();
    let mut revoked = 0;
    if change.revoke_tokens {
        let before = state.access_tokens.len();
        state.access_tokens.retain(|_, t| t.client_id != id);
        revoked = before - state.access_tokens.len();
    }
    Json(json!({ "keys": count, "revokedTokens": revoked })).into_response()
}

fn bad_request(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.into() })),
    )
        .into_response()
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    let text = if body.is_empty() {
        &b"{}"[..]
    } else {
        &body[..]
    };
    serde_json::from_slice(text).map_err(|e| format!("invalid JSON: {e}"))
}

async fn seed(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let doc: SeedDoc = match parse(&body) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    match sim.reset(Some(&doc)) {
        Ok(()) => summary(&sim),
        Err(e) => bad_request(e),
    }
}

async fn reset(State(sim): State<Arc<Sim>>) -> Response {
    match sim.reset(None) {
        Ok(()) => summary(&sim),
        Err(e) => bad_request(e),
    }
}

fn summary(sim: &Sim) -> Response {
    let state = sim.lock();
    Json(json!({
        "users": state.users.len(),
        "groups": state.groups.len(),
        "everyoneGroupId": state.everyone_id,
    }))
    .into_response()
}

async fn state(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(sim.lock().snapshot())
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Json<Faults> {
    Json(sim.lock().faults.clone())
}

async fn set_faults(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let faults: Faults = match parse(&body) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    for f in &faults.endpoints {
        let known = [
            "users",
            "groups",
            "logs",
            "sessions",
            "eventHooks",
            "token",
            "other",
        ];
        if !known.iter().any(|k| k.eq_ignore_ascii_case(&f.family)) {
            return bad_request(format!("unknown family {}", f.family));
        }
        if !f.timeout && f.status.is_none_or(|s| !(400..=599).contains(&s)) {
            return bad_request("an endpoint fault needs timeout:true or a 4xx/5xx status");
        }
    }
    sim.lock().faults = faults.clone();
    Json(faults).into_response()
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.lock().faults = Faults::default();
    StatusCode::NO_CONTENT
}

async fn get_limits(State(sim): State<Arc<Sim>>) -> Json<RateLimitConfig> {
    Json(sim.lock().rate_config.clone())
}

async fn set_limits(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let limits: RateLimitConfig = match parse(&body) {
        Ok(l) => l,
        Err(e) => return bad_request(e),
    };
    let mut state = sim.lock();
    state.rate_config = limits.clone();
    state.limiter.clear();
    Json(limits).into_response()
}

async fn counters(State(sim): State<Arc<Sim>>) -> Response {
    let state = sim.lock();
    let mut j = serde_json::to_value(&state.counters).unwrap_or(Value::Null);
    j["pendingDeliveries"] = json!(sim.pending());
    Json(j).into_response()
}

async fn flush(State(sim): State<Arc<Sim>>, RawQuery(raw): RawQuery) -> Response {
    let params = qs::parse(raw.as_deref());
    let ms = qs::get(&params, "timeoutMs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000u64);
    let done = sim.flush(Duration::from_millis(ms)).await;
    let status = if done {
        StatusCode::OK
    } else {
        StatusCode::GATEWAY_TIMEOUT
    };
    let state = sim.lock();
    (
        status,
        Json(json!({
            "flushed": done,
            "pendingDeliveries": sim.pending(),
            "deliveries": state.counters.deliveries,
        })),
    )
        .into_response()
}

async fn set_sessions(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let v: Value = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let mut state = sim.lock();
    let Some(uid) = state.find_user(&id).map(|u| u.id.clone()) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown user" })),
        )
            .into_response();
    };
    let Some(user) = state.users.get_mut(&uid) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown user" })),
        )
            .into_response();
    };
    if let Some(n) = v.get("sessions").and_then(Value::as_u64) {
        user.sessions = n;
        if n > 0 {
            user.last_login = Some(crate::clock::now());
        }
    }
    if let Some(n) = v.get("oauthTokens").and_then(Value::as_u64) {
        user.oauth_tokens = n;
    }
    Json(json!({
        "sessions": user.sessions,
        "oauthTokens": user.oauth_tokens,
        "sessionClears": user.session_clears,
    }))
    .into_response()
}
