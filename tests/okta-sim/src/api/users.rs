//! `/api/v1/users`: read, create, update, lifecycle, delete, sessions.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value};

use super::{bool_param, limit_param, link_headers, page, parse_body};
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::model::UserStatus;
use crate::qs;
use crate::sim::Sim;
use crate::state::{Ctx, Lifecycle, LifecycleParams};

/// `GET /api/v1/users`.
pub async fn list(State(sim): State<Arc<Sim>>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let params = qs::parse(raw.as_deref());
    let q = qs::get(&params, "q").map(str::to_lowercase);
    let limit = limit_param(&params, if q.is_some() { 10 } else { 200 }, 200)?;
    // `filter` compares values case-sensitively, `search` ignores case (the spec); both
    // include DEPROVISIONED users, a plain list and `q` leave them out.
    let (expr, case_sensitive) = match (qs::get(&params, "search"), qs::get(&params, "filter")) {
        (Some(s), _) => (Some(s), false),
        (None, f) => (f, true),
    };
    let filter = match expr {
        Some(f) => Some(Filter::parse(f).map_err(ApiError::invalid_search)?),
        None => None,
    };
    let after = qs::get(&params, "after");
    let state = sim.lock();
    let candidates = state
        .users
        .values()
        .filter(|u| filter.is_some() || u.status != UserStatus::Deprovisioned)
        .filter(|u| {
            q.as_ref().is_none_or(|q| {
                ["firstName", "lastName", "email", "login"].iter().any(|f| {
                    u.profile
                        .get(*f)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.to_lowercase().starts_with(q.as_str()))
                })
            })
        })
        .map(|u| (u.id.clone(), u));
    let (items, next) = page(candidates, after, limit, |u| {
        let j = u.to_json(&state.org_url, &state.user_type_id);
        filter
            .as_ref()
            .is_none_or(|f| f.matches_case(&j, case_sensitive))
            .then_some(j)
    });
    let headers = link_headers(
        &state.org_url,
        "/api/v1/users",
        &params,
        next.as_deref(),
        limit,
    );
    Ok((headers, Json(Value::Array(items))).into_response())
}

/// `GET /api/v1/users/{idOrLogin}`.
pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = sim.lock();
    let uid = state.resolve_user(&id)?;
    Ok(Json(state.user_json(&uid)))
}

/// At most this many `groupIds` on a create (Okta: E0000093 beyond).
const MAX_GROUP_IDS: usize = 20;

/// `POST /api/v1/users?activate=true|false`.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let params = qs::parse(raw.as_deref());
    let activate = bool_param(&params, "activate", true)?;
    let body = parse_body(&body)?;
    let profile = body
        .get("profile")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let has_password = body
        .pointer("/credentials/password/value")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty())
        || body.pointer("/credentials/password/hash").is_some();
    let group_ids: Vec<String> = body
        .get("groupIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if group_ids.len() > MAX_GROUP_IDS {
        return Err(ApiError::target_count_exceeded());
    }
    sim.with(|state| {
        for gid in &group_ids {
            state.managed_group(gid)?;
        }
        let id = state.create_user(&ctx, profile, has_password, activate)?;
        for gid in &group_ids {
            state.add_member(&ctx, gid, &id)?;
        }
        Ok(Json(state.user_json(&id)))
    })
}

fn profile_of(body: &Bytes) -> ApiResult<Map<String, Value>> {
    let body = parse_body(body)?;
    body.get("profile")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::validation("profile: The field cannot be left blank"))
}

/// `POST /api/v1/users/{id}`: partial profile update.
pub async fn update_partial(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let profile = profile_of(&body)?;
    sim.with(|state| {
        let uid = state.update_profile(&ctx, &id, profile, false)?;
        Ok(Json(state.user_json(&uid)))
    })
}

/// `PUT /api/v1/users/{id}`: full profile replace.
pub async fn update_full(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let profile = profile_of(&body)?;
    sim.with(|state| {
        let uid = state.update_profile(&ctx, &id, profile, true)?;
        Ok(Json(state.user_json(&uid)))
    })
}

/// `POST /api/v1/users/{id}/lifecycle/{op}`.
pub async fn lifecycle(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path((id, op)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = qs::parse(raw.as_deref());
    let op = Lifecycle::parse(&op).ok_or_else(|| ApiError::not_found(&ctx.uri, "Resource"))?;
    let send_email = match qs::get(&params, "sendEmail") {
        Some(_) => Some(bool_param(&params, "sendEmail", false)?),
        None => None,
    };
    let lp = LifecycleParams {
        send_email,
        temp_password: bool_param(&params, "tempPassword", false)?,
        revoke_sessions: bool_param(&params, "revokeSessions", false)?,
    };
    sim.with(|state| state.lifecycle(&ctx, &id, op, lp))
        .map(Json)
}

/// `DELETE /api/v1/users/{id}[?sendEmail=true]`: deactivate first, delete the second time.
pub async fn delete_user(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let params = qs::parse(raw.as_deref());
    let send_email = bool_param(&params, "sendEmail", false)?;
    sim.with(|state| state.delete_user(&ctx, &id, send_email))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/users/{id}/sessions[?oauthTokens=true]`.
pub async fn clear_sessions(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let params = qs::parse(raw.as_deref());
    let oauth = bool_param(&params, "oauthTokens", false)?;
    sim.with(|state| state.clear_sessions(&ctx, &id, oauth))?;
    Ok(StatusCode::NO_CONTENT)
}
