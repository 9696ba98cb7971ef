//! `/api/v1/groups` and group memberships.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;

use super::{limit_param, link_headers, page, parse_body};
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::qs;
use crate::sim::Sim;
use crate::state::Ctx;

/// `GET /api/v1/groups`.
pub async fn list(State(sim): State<Arc<Sim>>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let params = qs::parse(raw.as_deref());
    let q = qs::get(&params, "q").map(str::to_lowercase);
    let limit = limit_param(&params, if q.is_some() { 300 } else { 10_000 }, 10_000)?;
    let filter = match qs::get(&params, "filter").or(qs::get(&params, "search")) {
        Some(f) => Some(Filter::parse(f).map_err(ApiError::invalid_search)?),
        None => None,
    };
    let state = sim.lock();
    let mut items: Vec<(String, Value)> = state
        .groups
        .values()
        .filter(|g| {
            q.as_ref()
                .is_none_or(|q| g.name.to_lowercase().starts_with(q.as_str()))
        })
        .map(|g| (g.id.clone(), g.to_json(&state.org_url)))
        .filter(|(_, j)| filter.as_ref().is_none_or(|f| f.matches(j)))
        .collect();
    if let Some(q) = &q {
        // "Exact matches are always returned before partial matches."
        let exact = |j: &Value| {
            j.pointer("/profile/name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.to_lowercase() == *q)
        };
        items.sort_by_key(|(_, j)| !exact(j));
    }
    let (items, next) = page(items, qs::get(&params, "after"), limit, Some);
    let headers = link_headers(
        &state.org_url,
        "/api/v1/groups",
        &params,
        next.as_deref(),
        limit,
    );
    Ok((headers, Json(Value::Array(items))).into_response())
}

/// `GET /api/v1/groups/{gid}`.
pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path(gid): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = sim.lock();
    let g = state
        .groups
        .get(&gid)
        .ok_or_else(|| ApiError::not_found(&gid, "UserGroup"))?;
    Ok(Json(g.to_json(&state.org_url)))
}

/// `POST /api/v1/groups`.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = parse_body(&body)?;
    let name = body
        .pointer("/profile/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let description = body
        .pointer("/profile/description")
        .and_then(Value::as_str)
        .map(String::from);
    sim.with(|state| {
        let id = state.create_group(&ctx, name, description)?;
        let g = state
            .groups
            .get(&id)
            .ok_or_else(|| ApiError::not_found(&id, "UserGroup"))?;
        Ok(Json(g.to_json(&state.org_url)))
    })
}

/// `DELETE /api/v1/groups/{gid}`.
pub async fn delete_group(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path(gid): Path<String>,
) -> ApiResult<StatusCode> {
    sim.with(|state| state.delete_group(&ctx, &gid))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/groups/{gid}/users`.
pub async fn members(
    State(sim): State<Arc<Sim>>,
    Path(gid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let params = qs::parse(raw.as_deref());
    let limit = limit_param(&params, 1000, 1000)?;
    let state = sim.lock();
    if !state.groups.contains_key(&gid) {
        return Err(ApiError::not_found(&gid, "UserGroup"));
    }
    let members = state
        .members_of(&gid)
        .into_iter()
        .map(|uid| (uid.clone(), uid));
    let (items, next) = page(members, qs::get(&params, "after"), limit, |uid| {
        Some(state.user_json(&uid))
    });
    let path = format!("/api/v1/groups/{gid}/users");
    let headers = link_headers(&state.org_url, &path, &params, next.as_deref(), limit);
    Ok((headers, Json(Value::Array(items))).into_response())
}

/// `GET /api/v1/users/{id}/groups`.
pub async fn of_user(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let state = sim.lock();
    let uid = state.user_id(&id)?;
    let groups: Vec<Value> = state
        .groups_of(&uid)
        .iter()
        .filter_map(|gid| state.groups.get(gid))
        .map(|g| g.to_json(&state.org_url))
        .collect();
    Ok(Json(Value::Array(groups)))
}

/// `PUT /api/v1/groups/{gid}/users/{uid}`.
pub async fn add_member(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path((gid, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    sim.with(|state| state.add_member(&ctx, &gid, &uid))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/groups/{gid}/users/{uid}`.
pub async fn remove_member(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<Ctx>,
    Path((gid, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    sim.with(|state| state.remove_member(&ctx, &gid, &uid))?;
    Ok(StatusCode::NO_CONTENT)
}
