//! `/api/v1/eventHooks`: registration, lifecycle and verification.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::Value;

use super::parse_body;
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::model::EventHook;
use crate::sim::Sim;
use crate::state::{Ctx, EventSpec};

struct HookSpec {
    name: String,
    event_types: Vec<String>,
    uri: String,
    headers: Vec<(String, String)>,
    auth: Option<(String, String)>,
    version: String,
}

fn valid_header(k: &str, v: &str) -> bool {
    axum::http::HeaderName::from_bytes(k.as_bytes()).is_ok()
        && axum::http::HeaderValue::from_str(v).is_ok()
}

/// `channel.config.headers`: `[{key, value}]`, each a valid HTTP header.
fn parse_headers(config: &Value) -> ApiResult<Vec<(String, String)>> {
    let headers: Vec<(String, String)> = config
        .get("headers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|h| {
                    Some((
                        h.get("key")?.as_str()?.to_string(),
                        h.get("value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if headers.iter().any(|(k, v)| !valid_header(k, v)) {
        return Err(ApiError::validation(
            "channel.config.headers: invalid header",
        ));
    }
    Ok(headers)
}

/// `channel.config.authScheme`: `{type: HEADER, key, value}` or absent.
fn parse_auth(config: &Value) -> ApiResult<Option<(String, String)>> {
    let a = match config.get("authScheme") {
        None | Some(Value::Null) => return Ok(None),
        Some(a) => a,
    };
    if a.get("type").and_then(Value::as_str) != Some("HEADER") {
        return Err(ApiError::validation(
            "channel.config.authScheme.type: must be HEADER",
        ));
    }
    let key = a.get("key").and_then(Value::as_str).unwrap_or("");
    let value = a.get("value").and_then(Value::as_str).unwrap_or("");
    if key.is_empty() || value.is_empty() {
        return Err(ApiError::validation(
            "channel.config.authScheme: key and value are required",
        ));
    }
    if !valid_header(key, value) {
        return Err(ApiError::validation(
            "channel.config.authScheme: invalid header",
        ));
    }
    Ok(Some((key.to_string(), value.to_string())))
}

fn parse_spec(body: &Value) -> ApiResult<HookSpec> {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::validation("name: The field cannot be left blank"))?
        .to_string();
    let events = body
        .get("events")
        .ok_or_else(|| ApiError::validation("events: The field cannot be left blank"))?;
    if events.get("type").and_then(Value::as_str) != Some("EVENT_TYPE") {
        return Err(ApiError::validation("events.type: must be EVENT_TYPE"));
    }
    let event_types: Vec<String> = events
        .get("items")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if event_types.is_empty() {
        return Err(ApiError::validation(
            "events.items: The field cannot be left blank",
        ));
    }
    let channel = body
        .get("channel")
        .ok_or_else(|| ApiError::validation("channel: The field cannot be left blank"))?;
    if channel.get("type").and_then(Value::as_str) != Some("HTTP") {
        return Err(ApiError::validation("channel.type: must be HTTP"));
    }
    let version = channel
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or("1.0.0")
        .to_string();
    let config = channel.get("config").cloned().unwrap_or(Value::Null);
    let uri = config
        .get("uri")
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .ok_or_else(|| ApiError::validation("channel.config.uri: must be an http(s) URL"))?
        .to_string();
    let headers = parse_headers(&config)?;
    let auth = parse_auth(&config)?;
    Ok(HookSpec {
        name,
        event_types,
        uri,
        headers,
        auth,
        version,
    })
}

/// `GET /api/v1/eventHooks`.
pub async fn list(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let state = sim.lock();
    Json(Value::Array(
        state
            .hooks
            .values()
            .map(|h| h.to_json(&state.org_url))
            .collect(),
    ))
}

/// `POST /api/v1/eventHooks`.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let spec = parse_spec(&parse_body(&body)?)?;
    sim.with(|state| {
        let now = clock::now();
        let hook = EventHook {
            id: state.rng.okta_id("who"),
            name: spec.name,
            active: true,
            verified: false,
            created: now,
            last_updated: now,
            created_by: ctx.actor["id"].as_str().unwrap_or("").to_string(),
            event_types: spec.event_types,
            uri: spec.uri,
            headers: spec.headers,
            auth: spec.auth,
            version: spec.version,
        };
        let json = hook.to_json(&state.org_url);
        let target = hook.target();
        state.hooks.insert(hook.id.clone(), hook);
        state.log_event(
            &ctx,
            EventSpec::info(
                "event_hook.created",
                "Event hook created",
                None,
                vec![target],
            ),
        );
        Ok(Json(json))
    })
}

/// `GET /api/v1/eventHooks/{id}`.
pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = sim.lock();
    state
        .hooks
        .get(&id)
        .map(|h| Json(h.to_json(&state.org_url)))
        .ok_or_else(|| ApiError::not_found(&id, "EventHook"))
}

/// `PUT /api/v1/eventHooks/{id}`: replaces name, events and channel.
pub async fn update(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let spec = parse_spec(&parse_body(&body)?)?;
    sim.with(|state| {
        let org = state.org_url.clone();
        let hook = state
            .hooks
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(&id, "EventHook"))?;
        if hook.uri != spec.uri {
            hook.verified = false;
        }
        hook.name = spec.name;
        hook.event_types = spec.event_types;
        hook.uri = spec.uri;
        hook.headers = spec.headers;
        if spec.auth.is_some() {
            hook.auth = spec.auth;
        }
        hook.version = spec.version;
        hook.last_updated = clock::now();
        Ok(Json(hook.to_json(&org)))
    })
}

/// `DELETE /api/v1/eventHooks/{id}` (only an INACTIVE hook).
pub async fn delete_hook(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    sim.with(|state| {
        let hook = state
            .hooks
            .get(&id)
            .ok_or_else(|| ApiError::not_found(&id, "EventHook"))?;
        if hook.active {
            return Err(ApiError::validation(
                "Cannot delete an ACTIVE event hook; deactivate it first",
            ));
        }
        let target = hook.target();
        state.hooks.remove(&id);
        state.log_event(
            &ctx,
            EventSpec::info(
                "event_hook.deleted",
                "Event hook deleted",
                None,
                vec![target],
            ),
        );
        Ok(StatusCode::NO_CONTENT)
    })
}

/// `POST /api/v1/eventHooks/{id}/lifecycle/{activate|deactivate|verify}`.
pub async fn lifecycle(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path((id, op)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let active = match op.as_str() {
        "verify" => return sim.verify_hook(&ctx, &id).await.map(Json),
        "activate" => true,
        "deactivate" => false,
        _ => return Err(ApiError::not_found(&ctx.uri, "Resource")),
    };
    sim.with(|state| {
        let org = state.org_url.clone();
        let hook = state
            .hooks
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(&id, "EventHook"))?;
        hook.active = active;
        hook.last_updated = clock::now();
        let json = hook.to_json(&org);
        let target = hook.target();
        let (event_type, display) = if active {
            ("event_hook.activated", "Event hook activated")
        } else {
            ("event_hook.deactivated", "Event hook deactivated")
        };
        state.log_event(
            &ctx,
            EventSpec::info(event_type, display, None, vec![target]),
        );
        Ok(Json(json))
    })
}
