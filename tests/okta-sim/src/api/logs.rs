//! `GET /api/v1/logs`: the System Log, bounded and polling requests.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use time::Duration;

use super::{limit_param, link_headers};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::qs;
use crate::sim::Sim;

/// Cursor text: `<published millis>_<log position>`; only the position is read back.
fn cursor(millis: i128, seq: u64) -> String {
    format!("{millis}_{seq}")
}

fn parse_cursor(s: &str) -> Option<u64> {
    s.rsplit('_').next()?.parse().ok()
}

/// Query parameter `name` parsed by `parse`; 400 `E0000001` when it does not parse.
fn optional<T>(
    params: &[(String, String)],
    name: &str,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> ApiResult<Option<T>> {
    match qs::get(params, name) {
        Some(v) => parse(v)
            .map(Some)
            .ok_or_else(|| ApiError::validation(format!("{name}: invalid {what} {v}"))),
        None => Ok(None),
    }
}

/// `GET /api/v1/logs`.
pub async fn list(State(sim): State<Arc<Sim>>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let params = qs::parse(raw.as_deref());
    let limit = limit_param(&params, 100, 1000)?;
    let ascending = match qs::get(&params, "sortOrder") {
        None => true,
        Some(s) if s.eq_ignore_ascii_case("ASCENDING") => true,
        Some(s) if s.eq_ignore_ascii_case("DESCENDING") => false,
        Some(s) => {
            return Err(ApiError::validation(format!(
                "sortOrder: invalid value {s}"
            )))
        }
    };
    let since = optional(&params, "since", "date", clock::parse)?
        .unwrap_or_else(|| clock::now() - Duration::days(7));
    let until = optional(&params, "until", "date", clock::parse)?;
    let after = optional(&params, "after", "cursor", parse_cursor)?;
    let filter = match qs::get(&params, "filter") {
        Some(f) => Some(Filter::parse(f).map_err(ApiError::invalid_search)?),
        None => None,
    };
    let keywords: Vec<String> = qs::get(&params, "q")
        .map(|q| q.split_whitespace().map(str::to_lowercase).collect())
        .unwrap_or_default();
    let polling = until.is_none() && ascending;

    let state = sim.lock();
    let matches = |e: &&crate::state::LogEntry| {
        let in_cursor = match after {
            Some(a) if ascending => e.seq > a,
            Some(a) => e.seq < a,
            None => true,
        };
        in_cursor
            && e.published >= since
            && until.is_none_or(|u| e.published < u)
            && filter.as_ref().is_none_or(|f| f.matches(&e.event))
            && (keywords.is_empty() || {
                let text = e.event.to_string().to_lowercase();
                keywords.iter().all(|k| text.contains(k.as_str()))
            })
    };
    let mut selected: Vec<&crate::state::LogEntry> = if ascending {
        state.log.iter().filter(matches).take(limit + 1).collect()
    } else {
        state
            .log
            .iter()
            .rev()
            .filter(matches)
            .take(limit + 1)
            .collect()
    };
    let more = selected.len() > limit;
    selected.truncate(limit);
    let last_cursor = selected
        .last()
        .map(|e| cursor(clock::millis(e.published), e.seq));
    let next = if polling {
        // A poll always gets a `next` link; on an empty page it resumes where it was.
        Some(match (last_cursor, after) {
            (Some(c), _) => c,
            (None, Some(a)) => qs::get(&params, "after")
                .map(String::from)
                .unwrap_or_else(|| cursor(0, a)),
            (None, None) => state
                .log
                .last()
                .map(|e| cursor(clock::millis(e.published), e.seq))
                .unwrap_or_else(|| cursor(0, 0)),
        })
    } else if more {
        last_cursor
    } else {
        None
    };
    let events: Vec<Value> = selected.iter().map(|e| e.event.clone()).collect();
    let headers = link_headers(
        &state.org_url,
        "/api/v1/logs",
        &params,
        next.as_deref(),
        limit,
    );
    Ok((headers, Json(Value::Array(events))).into_response())
}
