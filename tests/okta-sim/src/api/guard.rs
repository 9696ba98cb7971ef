//! Runs before every Okta API call: counting, fault injection, the concurrency and rate
//! limits, and authentication (SSWS or OAuth Bearer with per-endpoint scopes).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::clock;
use crate::error::ApiError;
use crate::limits::{Family, RateDecision};
use crate::sim::Sim;
use crate::state::Ctx;

struct InflightGuard<'a>(&'a Sim);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Forced {
    Status(u16),
    Hang(u64),
}

/// The middleware.
pub async fn guard(State(sim): State<Arc<Sim>>, mut req: Request, next: Next) -> Response {
    let family = Family::of(req.uri().path());
    let write = req.method() != Method::GET && req.method() != Method::HEAD;
    let request_id = sim.request_id();
    let now_secs = clock::now().unix_timestamp();
    if req.headers().contains_key(UNMETERED) {
        return unmetered(&sim, req, next, family, write, request_id).await;
    }

    // Counted before anything else, so a hung (fault-injected) call holds its slot.
    let in_flight = sim.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    let _slot = InflightGuard(&sim);
    let (forced, decision, concurrency_limit) = {
        let mut state = sim.lock();
        *state
            .counters
            .requests
            .entry(family.as_str().to_string())
            .or_default() += 1;
        let forced = take_fault(&mut state, family);
        let limit = family.limit(&state.rate_config);
        let decision = if forced.is_none() {
            Some(state.limiter.check(family, limit, now_secs))
        } else {
            None
        };
        (forced, decision, state.rate_config.concurrency)
    };

    let resp = match forced {
        Some(f) => {
            sim.lock().counters.faults_injected += 1;
            let rate_limited = matches!(f, Forced::Status(429));
            let err = injected_error(f).await;
            // An injected 429 looks exactly like a spent window; any other injected
            // failure carries the window's real figures, as Okta's own 5xx do.
            let d = if rate_limited {
                let limit = family.limit(&sim.lock().rate_config);
                Some(RateDecision {
                    limit,
                    remaining: 0,
                    reset: now_secs - now_secs.rem_euclid(60) + 60,
                    allowed: false,
                })
            } else {
                decision
            };
            finish(&sim, err.into_response(), d, &request_id)
        }
        None => match decision {
            Some(d) if !d.allowed => {
                sim.lock().counters.rate_limited += 1;
                finish(
                    &sim,
                    ApiError::rate_limited(false).into_response(),
                    Some(d),
                    &request_id,
                )
            }
            d if in_flight > concurrency_limit => {
                sim.lock().counters.rate_limited += 1;
                finish(
                    &sim,
                    ApiError::rate_limited(true).into_response(),
                    d,
                    &request_id,
                )
            }
            d => {
                let ctx = if family == Family::Token {
                    Ok(Ctx::system(request_id.clone()))
                } else {
                    authenticate(&sim, req.headers(), family, write, &request_id)
                };
                match ctx {
                    Err(e) => finish(&sim, e.into_response(), d, &request_id),
                    Ok(ctx) => {
                        let ctx = with_request(ctx, &req);
                        req.extensions_mut().insert(ctx);
                        let resp = next.run(req).await;
                        finish(&sim, resp, d, &request_id)
                    }
                }
            }
        },
    };
    resp
}

/// A request carrying this header is outside the limits and the per-family counts: a
/// benchmark's driver (an admin deactivating thousands of people) does not spend the
/// budget of the integration it measures. Okta has no such header; in Okta the driver
/// would be another token with its own share of each limit.
pub const UNMETERED: &str = "x-okta-sim-unmetered";

/// An unmetered request: authenticated as any other, counted only as `unmetered`, never
/// limited or faulted.
async fn unmetered(
    sim: &Sim,
    mut req: Request,
    next: Next,
    family: Family,
    write: bool,
    request_id: String,
) -> Response {
    sim.lock().counters.unmetered += 1;
    let ctx = if family == Family::Token {
        Ok(Ctx::system(request_id.clone()))
    } else {
        authenticate(sim, req.headers(), family, write, &request_id)
    };
    match ctx {
        Err(e) => finish(sim, e.into_response(), None, &request_id),
        Ok(ctx) => {
            let ctx = with_request(ctx, &req);
            req.extensions_mut().insert(ctx);
            let resp = next.run(req).await;
            finish(sim, resp, None, &request_id)
        }
    }
}

/// The answer of an injected fault (a hang first sleeps, then answers 504).
async fn injected_error(f: Forced) -> ApiError {
    match f {
        Forced::Status(429) => ApiError::rate_limited(false),
        Forced::Status(500) => ApiError::internal(),
        Forced::Status(503) => ApiError::unavailable(),
        Forced::Status(code) => {
            let mut e = ApiError::internal();
            e.status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            e
        }
        Forced::Hang(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let mut e = ApiError::unavailable();
            e.status = StatusCode::GATEWAY_TIMEOUT;
            e
        }
    }
}

/// The caller's context completed with the request's path, query and user agent.
fn with_request(mut ctx: Ctx, req: &Request) -> Ctx {
    ctx.uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    ctx.user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    ctx
}

fn take_fault(state: &mut crate::state::State, family: Family) -> Option<Forced> {
    let idx = state
        .faults
        .endpoints
        .iter()
        .position(|f| f.family.eq_ignore_ascii_case(family.as_str()))?;
    let fraction = state.faults.endpoints[idx].fraction.unwrap_or(1.0);
    if !state.rng.chance(fraction) {
        return None;
    }
    let fault = &mut state.faults.endpoints[idx];
    let forced = if fault.timeout {
        Forced::Hang(fault.hang_ms.unwrap_or(30_000))
    } else {
        Forced::Status(fault.status.unwrap_or(500))
    };
    if let Some(n) = fault.count.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            state.faults.endpoints.remove(idx);
        }
    }
    Some(forced)
}

fn finish(sim: &Sim, mut resp: Response, d: Option<RateDecision>, request_id: &str) -> Response {
    let headers = resp.headers_mut();
    if let Some(d) = d {
        set(headers, "x-rate-limit-limit", d.limit.to_string());
        set(headers, "x-rate-limit-remaining", d.remaining.to_string());
        set(headers, "x-rate-limit-reset", d.reset.to_string());
    }
    set(headers, "x-okta-request-id", request_id.to_string());
    *sim.lock()
        .counters
        .responses
        .entry(resp.status().as_u16().to_string())
        .or_default() += 1;
    resp
}

fn set(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
}

/// Splits an `Authorization` value into scheme and credential. `SSWS` may be followed
/// directly by the token: the official Python SDK (okta 3.x) sends `SSWS00abc…` without
/// the space on every call, so real orgs presumably accept it (not confirmed live).
fn split_authorization(auth: &str) -> (&str, &str) {
    if let Some(prefix) = auth.get(..4) {
        if prefix.eq_ignore_ascii_case("SSWS") {
            return (prefix, auth[4..].trim());
        }
    }
    let (scheme, credential) = auth.split_once(' ').unwrap_or((auth, ""));
    (scheme, credential.trim())
}

fn authenticate(
    sim: &Sim,
    headers: &HeaderMap,
    family: Family,
    write: bool,
    request_id: &str,
) -> Result<Ctx, ApiError> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (scheme, credential) = split_authorization(auth);
    let mut ctx = Ctx::system(request_id.to_string());
    ctx.ip = "127.0.0.1".into();
    let state = sim.lock();
    if scheme.eq_ignore_ascii_case("SSWS") && !credential.is_empty() {
        let token = state
            .api_tokens
            .iter()
            .find(|t| t.token == credential)
            .ok_or_else(ApiError::invalid_token)?;
        ctx.actor = token.actor.clone();
        return Ok(ctx);
    }
    if scheme.eq_ignore_ascii_case("Bearer") && !credential.is_empty() {
        let token = state
            .access_tokens
            .get(credential)
            .ok_or_else(ApiError::invalid_token)?;
        if token.expires <= clock::now() {
            return Err(ApiError::invalid_token());
        }
        if let Some(needed) = family.scope(write) {
            let manage = needed.replace(".read", ".manage");
            let ok = token.scopes.iter().any(|s| s == needed || *s == manage);
            if !ok {
                let mut err = ApiError::forbidden();
                err.headers.push((
                    "www-authenticate",
                    format!(
                        "Bearer authorization_uri=\"{}/oauth2/v1/authorize\", realm=\"IdpRealm\", scope=\"{needed}\", error=\"insufficient_scope\", error_description=\"The access token provided does not contain the required scopes.\"",
                        state.org_url
                    ),
                ));
                return Err(err);
            }
        }
        let name = state
            .clients
            .get(&token.client_id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| token.client_id.clone());
        ctx.actor = serde_json::json!({
            "id": token.client_id,
            "type": "PublicClientApp",
            "alternateId": token.client_id,
            "displayName": name,
            "detailEntry": null,
        });
        ctx.scopes = Some(token.scopes.clone());
        return Ok(ctx);
    }
    Err(ApiError::invalid_token())
}

#[cfg(test)]
mod tests {
    use super::split_authorization;

    #[test]
    fn ssws_is_split_with_or_without_a_space_and_in_any_case() {
        assert_eq!(split_authorization("SSWS 00abc"), ("SSWS", "00abc"));
        // okta (the official Python SDK) 3.x sends `Authorization: SSWS<token>`.
        assert_eq!(split_authorization("SSWS00abc"), ("SSWS", "00abc"));
        assert_eq!(split_authorization("ssws  00abc "), ("ssws", "00abc"));
        assert_eq!(split_authorization("SSWS"), ("SSWS", ""));
    }

    #[test]
    fn other_schemes_still_need_the_space() {
        assert_eq!(split_authorization("Bearer tok"), ("Bearer", "tok"));
        assert_eq!(split_authorization("Bearertok"), ("Bearertok", ""));
        assert_eq!(split_authorization(""), ("", ""));
        assert_eq!(split_authorization("Bé"), ("Bé", ""));
    }
}
