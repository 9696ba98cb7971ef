//! `POST /actions` and `GET /actions/{request_id}` behind API Gateway with IAM
//! authorization: API Gateway checks the SigV4 signature and `execute-api:Invoke` before
//! the function runs; the function names the caller by the IAM principal it was given.
//! Every error maps to its status in one place, [`ApiError::status`].

use std::time::Duration;

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{Provisioner, SubmitError};
use crate::aws::sdk_config;
use crate::config::ActionsConfig;
use crate::domain::provision::{ActionError, RequestStatus};
use crate::metrics::Metrics;
use crate::okta::ClientOptions;
use crate::setup::{self, SetupError};
use crate::store::StoreError;

/// Why a request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such route.
    #[error("no route for this path")]
    NotFound,
    /// A route with a method it does not serve.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No IAM principal: the route is not behind the IAM authorizer.
    #[error("no IAM principal on the request")]
    Forbidden,
    /// The body exceeds the limit.
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The request or its actions are wrong; nothing ran.
    #[error("the request was refused; nothing ran")]
    Invalid(Vec<ActionError>),
    /// The idempotency key was used with another body.
    #[error("{0}")]
    KeyReused(String),
    /// No request of that id for this caller.
    #[error("no such request")]
    NoRequest,
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    /// The one mapping from error to HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::NoRequest => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::KeyReused(_) => StatusCode::CONFLICT,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Forbidden => "forbidden",
            ApiError::TooLarge { .. } => "payload_too_large",
            ApiError::Invalid(_) => "invalid_request",
            ApiError::KeyReused(_) => "idempotency_key_reused",
            ApiError::NoRequest => "no_such_request",
            ApiError::Store(_) => "unavailable",
        }
    }

    fn into_response(self) -> Response<Body> {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "actions request failed: state unavailable");
            "state unavailable; nothing is known to have run; retry with the same key".to_string()
        } else {
            tracing::info!(status = status.as_u16(), error = %self, "actions request refused");
            self.to_string()
        };
        let mut body = json!({"error": self.code(), "message": message});
        if let ApiError::Invalid(errors) = &self {
            body["errors"] = serde_json::to_value(errors).unwrap_or(Value::Null);
        }
        let mut response = json_response(status, &body);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        }
        response
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Invalid(errors) => ApiError::Invalid(errors),
            e @ SubmitError::KeyReused(_) => ApiError::KeyReused(e.to_string()),
            SubmitError::Store(e) => ApiError::Store(e),
        }
    }
}

/// Every answer may carry a temporary password or what a caller must not see twice from a
/// cache: nothing is stored by any cache on the way.
fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The actions API.
#[derive(Debug)]
pub struct ActionsApi {
    provisioner: Provisioner,
    time_budget: Duration,
    max_body_bytes: usize,
}

/// The IAM principal API Gateway authorized, e.g. `arn:aws:iam::123456789012:user/hr-sync`.
fn caller(req: &Request) -> Option<String> {
    match req.request_context() {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .and_then(|a| a.iam)
            .and_then(|iam| iam.user_arn.or(iam.caller_id))
            .filter(|arn| !arn.is_empty()),
        _ => None,
    }
}

impl ActionsApi {
    /// Builds the clients from the environment once per execution environment.
    pub async fn from_environment(config: &ActionsConfig) -> Result<Self, SetupError> {
        let aws = sdk_config().await;
        let store = setup::store(&aws, &config.table);
        let okta = setup::okta_client(&aws, &config.okta, ClientOptions::default()).await?;
        Ok(Self::new(
            Provisioner::new(okta, store, config.fuse),
            config.time_budget,
            config.max_body_bytes,
        ))
    }

    /// The API over `provisioner`; a request runs at most `time_budget`.
    pub fn new(provisioner: Provisioner, time_budget: Duration, max_body_bytes: usize) -> Self {
        Self {
            provisioner,
            time_budget,
            max_body_bytes,
        }
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let deadline = Instant::now() + self.time_budget;
        let mut metrics = Metrics::invocation("actions");
        let response = match self.route(req, deadline, &mut metrics).await {
            Ok(response) => response,
            Err(e) => {
                metrics.count_by("RequestsRefused", "reason", e.code(), 1);
                e.into_response()
            }
        };
        metrics.flush();
        response
    }

    async fn route(
        &self,
        req: Request,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> Result<Response<Body>, ApiError> {
        let path = req.uri().path().trim_end_matches('/').to_owned();
        let rest = path
            .strip_prefix("/actions")
            .ok_or(ApiError::NotFound)?
            .to_owned();
        let caller = caller(&req).ok_or(ApiError::Forbidden)?;
        match (req.method(), rest.as_str()) {
            (&Method::POST, "") => self.submit(&req, &caller, deadline, metrics).await,
            (&Method::GET, id) if id.len() > 1 => {
                let id = &id[1..];
                let answer = self
                    .provisioner
                    .status(&caller, id)
                    .await?
                    .ok_or(ApiError::NoRequest)?;
                Ok(json_response(StatusCode::OK, &answer.to_json()))
            }
            (_, "") => Err(ApiError::MethodNotAllowed),
            _ => Err(ApiError::NotFound),
        }
    }

    async fn submit(
        &self,
        req: &Request,
        caller: &str,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> Result<Response<Body>, ApiError> {
        let body = req.body().as_ref();
        if body.len() > self.max_body_bytes {
            return Err(ApiError::TooLarge {
                size: body.len(),
                limit: self.max_body_bytes,
            });
        }
        let run_id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_else(|| format!("run-{}", crate::retry::random_u64()));
        let answer = self
            .provisioner
            .submit(caller, body, deadline, &run_id)
            .await?;
        let status = match answer.status {
            RequestStatus::Done => StatusCode::OK,
            _ => StatusCode::ACCEPTED,
        };
        metrics.count_by("Requests", "status", answer.status.as_str(), 1);
        for row in &answer.results {
            if let super::Row::Fresh(result) = row {
                let outcome = serde_json::to_value(result.answer.outcome).unwrap_or_default();
                metrics.count_by("Actions", "outcome", outcome.as_str().unwrap_or(""), 1);
            }
        }
        tracing::info!(request_id = %answer.request_id, caller, status = status.as_u16(),
            replayed = answer.replayed, "actions request answered");
        Ok(json_response(status, &answer.to_json()))
    }
}
