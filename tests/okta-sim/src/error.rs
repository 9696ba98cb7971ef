//! Okta's error body and the one place where simulator errors become HTTP answers.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::rng::Rng;

static ERROR_SEQ: AtomicU64 = AtomicU64::new(1);

/// An error answered in Okta's shape:
/// `{"errorCode","errorSummary","errorLink","errorId","errorCauses":[]}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} ({status}): {summary}")]
pub struct ApiError {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// Okta error code, e.g. `E0000007`.
    pub code: &'static str,
    /// Human-readable summary, as Okta words it.
    pub summary: String,
    /// `errorCauses[].errorSummary` entries.
    pub causes: Vec<String>,
    /// Extra headers (e.g. `WWW-Authenticate` for a missing OAuth scope).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, summary: impl Into<String>) -> Self {
        Self {
            status,
            code,
            summary: summary.into(),
            causes: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds one `errorCauses` entry.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    /// E0000001, 400: a precondition of the endpoint failed.
    pub fn validation(cause: impl Into<String>) -> Self {
        let cause = cause.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "E0000001",
            format!("Api validation failed: {cause}"),
        )
        .with_cause(cause)
    }

    /// E0000001, 400, as Okta words a failed profile check: summary `Api validation
    /// failed: <first field>`, one cause per `(field, cause)` pair, each cause written
    /// out in full (e.g. `login: An object with this field already exists in the current
    /// organization`).
    pub fn fields(first_field: &str, causes: Vec<String>) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            "E0000001",
            format!("Api validation failed: {first_field}"),
        );
        err.causes = causes;
        err
    }

    /// E0000001, 400: `field` must be unique and the value is taken.
    pub fn already_exists(field: &str) -> Self {
        Self::fields(
            field,
            vec![format!(
                "{field}: An object with this field already exists in the current organization"
            )],
        )
    }

    /// E0000028, 400: a required query parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "E0000028",
            "The request is missing a required parameter.",
        )
        .with_cause(format!("{name}: The parameter is required"))
    }

    /// E0000093, 400: too many targets (e.g. more than 20 `groupIds` on create).
    pub fn target_count_exceeded() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "E0000093",
            "Target count limit exceeded",
        )
        .with_cause("The number of group targets is too large")
    }

    /// E0000003, 400: the body is not well-formed JSON.
    pub fn malformed_body() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "E0000003",
            "The request body was not well-formed.",
        )
    }

    /// E0000006, 403: the caller lacks the permission (or OAuth scope).
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "E0000006",
            "You do not have permission to perform the requested action",
        )
    }

    /// E0000007, 404: `Not found: Resource not found: <id> (<Kind>)`.
    pub fn not_found(id: &str, kind: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "E0000007",
            format!("Not found: Resource not found: {id} ({kind})"),
        )
    }

    /// E0000011, 401: missing, unknown or expired API token.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
        )
    }

    /// E0000016, 403: activation of a user that is already active.
    pub fn already_active() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "E0000016",
            "Activation failed because the user is already active",
        )
    }

    /// E0000022, 405: the path exists but not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        )
    }

    /// E0000031, 400: a `filter` or `search` expression that cannot be parsed.
    pub fn invalid_search(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "E0000031",
            "Invalid search criteria.",
        )
        .with_cause(detail)
    }

    /// E0000038, 403: the lifecycle operation is not allowed in the user's status.
    pub fn status_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "E0000038",
            "This operation is not allowed in the user's current status.",
        )
    }

    /// E0000047, 429: the rate limit (or concurrency limit) is exceeded.
    pub fn rate_limited(concurrent: bool) -> Self {
        let summary = if concurrent {
            "API call exceeded rate limit due to too many concurrent requests."
        } else {
            "API call exceeded rate limit due to too many requests."
        };
        Self::new(StatusCode::TOO_MANY_REQUESTS, "E0000047", summary)
    }

    /// E0000060, 400: an operation Okta never supports, such as changing `Everyone`.
    pub fn unsupported_operation() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "E0000060",
            "Unsupported operation.",
        )
    }

    /// E0000009, 500: an internal server error (only produced by fault injection).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "E0000009",
            "Internal Server Error",
        )
    }

    /// E0000010, 503: service unavailable (only produced by fault injection).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "E0000010",
            "Service is currently unavailable",
        )
    }

    /// The Okta JSON error body.
    pub fn body(&self) -> serde_json::Value {
        let n = ERROR_SEQ.fetch_add(1, Ordering::Relaxed);
        let causes: Vec<_> = self
            .causes
            .iter()
            .map(|c| json!({ "errorSummary": c }))
            .collect();
        json!({
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": format!("oae{}", Rng::new(n).base62(22)),
            "errorCauses": causes,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        for (name, value) in &self.headers {
            if let Ok(v) = axum::http::HeaderValue::from_str(value) {
                resp.headers_mut().insert(*name, v);
            }
        }
        resp
    }
}

/// Result type of the API handlers.
pub type ApiResult<T> = Result<T, ApiError>;
