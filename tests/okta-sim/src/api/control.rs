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
