//! HTTP routing: the Okta API (`/api/v1`, `/oauth2/v1/token`) and the control API (`/_sim`).

mod control;
mod groups;
mod guard;
mod hooks;
mod logs;
mod oauth;
mod users;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::qs;
use crate::sim::Sim;

/// The whole simulator as one router.
pub fn router(sim: Arc<Sim>) -> Router {
    let okta = Router::new()
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{id}",
            get(users::get_one)
                .post(users::update_partial)
                .put(users::update_full)
                .delete(users::delete_user),
        )
        .route("/api/v1/users/{id}/lifecycle/{op}", post(users::lifecycle))
        .route("/api/v1/users/{id}/groups", get(groups::of_user))
        .route("/api/v1/users/{id}/sessions", delete(users::clear_sessions))
        .route("/api/v1/groups", get(groups::list).post(groups::create))
        .route(
            "/api/v1/groups/{gid}",
            get(groups::get_one).delete(groups::delete_group),
        )
        .route("/api/v1/groups/{gid}/users", get(groups::members))
        .route(
            "/api/v1/groups/{gid}/users/{uid}",
            put(groups::add_member).delete(groups::remove_member),
        )
        .route("/api/v1/logs", get(logs::list))
        .route("/api/v1/eventHooks", get(hooks::list).post(hooks::create))
        .route(
            "/api/v1/eventHooks/{id}",
            get(hooks::get_one)
                .put(hooks::update)
                .delete(hooks::delete_hook),
        )
        .route(
            "/api/v1/eventHooks/{id}/lifecycle/{op}",
            post(hooks::lifecycle),
        )
        .route("/oauth2/v1/token", post(oauth::token))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&sim),
            guard::guard,
        ));
    Router::new()
        .nest("/_sim", control::router())
        .merge(okta)
        .with_state(sim)
}

async fn not_found(uri: Uri) -> Response {
    ApiError::not_found(uri.path(), "Resource").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}

/// Parses a JSON body; malformed or empty input is Okta's E0000003.
pub(crate) fn parse_body(body: &Bytes) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(ApiError::malformed_body());
    }
    serde_json::from_slice(body).map_err(|_| ApiError::malformed_body())
}

/// A boolean query parameter with a default; anything but `true`/`false` is a 400.
pub(crate) fn bool_param(
    params: &[(String, String)],
    name: &str,
    default: bool,
) -> ApiResult<bool> {
    match qs::get(params, name) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::validation(format!("{name}: invalid boolean {v}"))),
    }
}

/// `limit` with Okta's default and silent cap.
pub(crate) fn limit_param(
    params: &[(String, String)],
    default: usize,
    max: usize,
) -> ApiResult<usize> {
    match qs::get(params, "limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .map(|n| n.clamp(1, max as i64) as usize)
            .map_err(|_| ApiError::validation(format!("limit: invalid number {v}"))),
    }
}

/// One page of `items` (sorted by key) after the key `after`, and the next `after` if any.
/// Each item is rendered only once its key is past `after`, and only until the page is
/// full and one more item is known to follow: a page of 200 out of 10,000 users renders
/// about 200, not 10,000. `render` returning `None` leaves the item out (a filter that
/// reads the rendered JSON).
pub(crate) fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    after: Option<&str>,
    limit: usize,
    mut render: impl FnMut(T) -> Option<Value>,
) -> (Vec<Value>, Option<String>) {
    let mut rest = items
        .into_iter()
        .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
        .filter_map(|(k, item)| render(item).map(|v| (k, v)));
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < limit {
        match rest.next() {
            Some((k, v)) => {
                last = Some(k);
                out.push(v);
            }
            None => break,
        }
    }
    let next = if rest.next().is_some() { last } else { None };
    (out, next)
}

/// `Link` headers: `rel="self"` with the request's query, `rel="next"` when `next_after` is set.
pub(crate) fn link_headers(
    org_url: &str,
    path: &str,
    params: &[(String, String)],
    next_after: Option<&str>,
    limit: usize,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let self_q = qs::build(params);
    let self_url = if self_q.is_empty() {
        format!("{org_url}{path}")
    } else {
        format!("{org_url}{path}?{self_q}")
    };
    if let Ok(v) = HeaderValue::from_str(&format!("<{self_url}>; rel=\"self\"")) {
        headers.append("link", v);
    }
    if let Some(after) = next_after {
        let mut next: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "after" && k != "limit")
            .cloned()
            .collect();
        next.push(("after".into(), after.into()));
        next.push(("limit".into(), limit.to_string()));
        let url = format!("{org_url}{path}?{}", qs::build(&next));
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
            headers.append("link", v);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(n: usize) -> Vec<(String, Value)> {
        (0..n).map(|i| (format!("k{i}"), json!(i))).collect()
    }

    #[test]
    fn page_stops_at_limit_and_names_the_last_key() {
        let (p, next) = page(items(5), None, 2, Some);
        assert_eq!(p, vec![json!(0), json!(1)]);
        assert_eq!(next.as_deref(), Some("k1"));
        let (p, next) = page(items(5), Some("k3"), 2, Some);
        assert_eq!(p, vec![json!(4)]);
        assert_eq!(next, None);
    }

    #[test]
    fn exact_last_page_has_no_next() {
        let (p, next) = page(items(4), Some("k1"), 2, Some);
        assert_eq!(p.len(), 2);
        assert_eq!(next, None);
    }
}
