//! The two HTTP handlers behind API Gateway: Okta's one-time verification (`GET`) and
//! event deliveries (`POST`). Each error maps to its status code in one place,
//! [`HookError::status`].

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use crate::aws::sdk_config;
use crate::clock::Timestamp;
use crate::config::Config;
use crate::domain::{IntakeContext, Source};
use crate::intake;
use crate::metrics::{Metrics, Unit};
use crate::okta::hook::parse_delivery;
use crate::secrets::{AuthOutcome, HookSecret, SecretError, SecretSource, SecretsManagerSource};
use crate::store::{DynamoStore, IntakeStore, Quarantine, StoreError};

/// The header Okta's verification request carries.
pub const CHALLENGE_HEADER: &str = "x-okta-verification-challenge";
/// Longest challenge echoed back; Okta's are short random strings.
const MAX_CHALLENGE_BYTES: usize = 512;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// Not the hook's path.
    #[error("no route for this path")]
    NotFound,
    /// The hook's path with a method it does not serve.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The integration is switched off, or has no secret configured.
    #[error("integration disabled")]
    Disabled,
    /// The authentication header is missing or wrong.
    #[error("wrong or missing credentials")]
    Unauthorized,
    /// A verification request without a usable challenge.
    #[error("missing or invalid X-Okta-Verification-Challenge header")]
    MissingChallenge,
    /// The body exceeds the configured limit.
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size received.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// Authenticated, but not an Okta event hook delivery; the body was quarantined.
    #[error("{0}")]
    Malformed(String),
    /// The table could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl HookError {
    /// The one mapping from error to HTTP status. Okta never retries a 4xx and retries a
    /// 5xx once, so only "try again later" conditions are 5xx.
    pub fn status(&self) -> StatusCode {
        match self {
            HookError::NotFound | HookError::Disabled => StatusCode::NOT_FOUND,
            HookError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HookError::Unauthorized => StatusCode::UNAUTHORIZED,
            HookError::MissingChallenge | HookError::Malformed(_) => StatusCode::BAD_REQUEST,
            HookError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HookError::Store(_) | HookError::Secret(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            HookError::NotFound => "not_found",
            HookError::MethodNotAllowed => "method_not_allowed",
            HookError::Disabled => "integration_disabled",
            HookError::Unauthorized => "unauthorized",
            HookError::MissingChallenge => "missing_challenge",
            HookError::TooLarge { .. } => "payload_too_large",
            HookError::Malformed(_) => "malformed_body",
            HookError::Store(_) | HookError::Secret(_) => "unavailable",
        }
    }

    fn into_response(self) -> Response<Body> {
        let status = self.status();
        // Internal details (endpoints, table names) go to the log, not to the caller.
        let message = if status.is_server_error() {
            "state unavailable; retry later".to_string()
        } else {
            self.to_string()
        };
        match &self {
            HookError::Store(_) | HookError::Secret(_) => {
                tracing::error!(status = status.as_u16(), error = %self, "request failed: state unavailable")
            }
            HookError::Unauthorized => {
                tracing::warn!(
                    status = status.as_u16(),
                    "request rejected: wrong or missing credentials"
                )
            }
            _ => tracing::info!(status = status.as_u16(), error = %self, "request rejected"),
        }
        let mut response =
            json_response(status, &json!({ "error": self.code(), "message": message }));
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        }
        response
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Both hook endpoints, sharing configuration, the table and the secret cache.
#[derive(Debug)]
pub struct HookHandler<S, K> {
    config: Config,
    store: S,
    secret: HookSecret<K>,
}

impl HookHandler<DynamoStore, SecretsManagerSource> {
    /// Builds the AWS clients from the environment and warms them up: the secret is read
    /// and the table touched during init, so Okta's first request does not pay for the
    /// TLS handshakes inside its 3-second budget.
    pub async fn from_environment(config: Config) -> Self {
        let aws = sdk_config().await;
        let store = crate::setup::store(&aws, &config.table);
        let source = SecretsManagerSource::new(
            aws_sdk_secretsmanager::Client::new(&aws),
            &config.hook_secret_id,
        );
        let handler = Self::new(config, store, source);
        handler.warm_up().await;
        handler
    }
}

impl<S: IntakeStore, K: SecretSource> HookHandler<S, K> {
    /// A handler over the given table and secret source.
    pub fn new(config: Config, store: S, source: K) -> Self {
        let secret = HookSecret::new(
            source,
            config.secret_refresh_interval,
            config.secret_rotation_grace,
        );
        Self {
            config,
            store,
            secret,
        }
    }

    /// Reads the secret and the config item concurrently. Failures are logged, not fatal:
    /// requests retry both.
    pub async fn warm_up(&self) {
        let (secret, integration) = tokio::join!(self.secret.prime(), self.store.integration());
        if let Err(e) = secret {
            tracing::warn!(error = %e, "init: hook secret not loaded");
        }
        match integration {
            Ok(i) => tracing::info!(enabled = i.enabled, "init: table reachable"),
            Err(e) => tracing::warn!(error = %e, "init: table not reachable"),
        }
    }

    /// `GET /okta`: answers Okta's one-time verification.
    pub async fn verify(&self, req: Request) -> Response<Body> {
        let mut metrics = Metrics::invocation("hook-verify");
        let response = match self.try_verify(&req).await {
            Ok(response) => {
                metrics.count("Verifications", 1);
                response
            }
            Err(e) => {
                metrics.count_by("VerificationsRejected", "reason", e.code(), 1);
                e.into_response()
            }
        };
        metrics.flush();
        response
    }

    /// `POST /okta`: accepts an event delivery. Its metrics (deliveries accepted and
    /// rejected by reason, events accepted, duplicate and ignored, the answer's latency)
    /// are written once, as it ends.
    pub async fn intake(&self, req: Request) -> Response<Body> {
        let started = std::time::Instant::now();
        let mut metrics = Metrics::invocation("hook-intake");
        let response = match self.try_intake(&req, &mut metrics).await {
            Ok(response) => response,
            Err(e) => {
                metrics.count_by("DeliveriesRejected", "reason", e.code(), 1);
                e.into_response()
            }
        };
        metrics.observe(
            "IntakeLatency",
            Unit::Milliseconds,
            started.elapsed().as_secs_f64() * 1000.0,
        );
        metrics.flush();
        response
    }

    async fn try_verify(&self, req: &Request) -> Result<Response<Body>, HookError> {
        self.route(req, Method::GET)?;
        self.authenticate(req).await?;
        let challenge = req
            .headers()
            .get(CHALLENGE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CHALLENGE_BYTES)
            .ok_or(HookError::MissingChallenge)?;
        self.store.mark_verified(Timestamp::now()).await?;
        tracing::info!("event hook verified");
        Ok(json_response(
            StatusCode::OK,
            &json!({ "verification": challenge }),
        ))
    }

    async fn try_intake(
        &self,
        req: &Request,
        metrics: &mut Metrics,
    ) -> Result<Response<Body>, HookError> {
        self.route(req, Method::POST)?;
        self.authenticate(req).await?;
        let body: &[u8] = req.body().as_ref();
        if body.len() > self.config.max_body_bytes {
            return Err(HookError::TooLarge {
                size: body.len(),
                limit: self.config.max_body_bytes,
            });
        }
        let received_at = Timestamp::now();
        let request_id = request_id(req);
        let delivery = match parse_delivery(body) {
            Ok(d) => d,
            Err(e) => {
                self.store
                    .quarantine(&Quarantine {
                        body,
                        reason: e.to_string(),
                        received_at,
                        request_id: request_id.clone(),
                        ttl: self.config.quarantine_ttl,
                    })
                    .await?;
                tracing::warn!(request_id = %request_id, error = %e, bytes = body.len(), "malformed delivery quarantined");
                return Err(HookError::Malformed(e.to_string()));
            }
        };
        let ctx = IntakeContext {
            source: Source::Hook,
            received_at,
            request_id,
            delivery_id: delivery.delivery_id.clone(),
            action: None,
        };
        let events = delivery.events.len();
        let (summary, marked) = tokio::join!(
            intake::intake(
                &self.store,
                delivery.events,
                &self.config.enabled_event_types,
                &ctx
            ),
            self.store.mark_delivery(received_at)
        );
        if let Err(e) = marked {
            tracing::warn!(error = %e, "last_delivery_at not recorded");
        }
        let summary = summary?;
        metrics.count("DeliveriesAccepted", 1);
        metrics.count("EventsAccepted", summary.accepted as u64);
        metrics.count("EventsDuplicate", summary.duplicates as u64);
        metrics.count("EventsIgnored", summary.ignored as u64);
        tracing::info!(
            delivery_id = ctx.delivery_id.as_deref().unwrap_or(""),
            events,
            accepted = summary.accepted,
            duplicates = summary.duplicates,
            ignored = summary.ignored,
            "delivery accepted"
        );
        Ok(json_response(StatusCode::OK, &json!(summary)))
    }

    fn route(&self, req: &Request, method: Method) -> Result<(), HookError> {
        let path = req.uri().path();
        if path.trim_end_matches('/') != self.config.hook_path.trim_end_matches('/') {
            return Err(HookError::NotFound);
        }
        if req.method() != method {
            return Err(HookError::MethodNotAllowed);
        }
        Ok(())
    }

    /// Checks that the integration is on and the request carries the secret. A disabled
    /// integration answers 404 before any secret is compared.
    async fn authenticate(&self, req: &Request) -> Result<(), HookError> {
        if !self.store.integration().await?.enabled {
            return Err(HookError::Disabled);
        }
        let presented = req
            .headers()
            .get(self.config.auth_header.as_str())
            .map(HeaderValue::as_bytes);
        match self.secret.check(presented).await? {
            AuthOutcome::Accepted => Ok(()),
            AuthOutcome::Rejected => Err(HookError::Unauthorized),
            AuthOutcome::NotConfigured => Err(HookError::Disabled),
        }
    }
}

fn request_id(req: &Request) -> String {
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("local-{}", Timestamp::now().unix_seconds()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{SecretVersion, Stage};
    use crate::store::{Integration, MemoryStore};
    use std::time::SystemTime;

    struct Fixed(Option<&'static str>);

    impl SecretSource for Fixed {
        async fn fetch(&self, stage: Stage) -> Result<Option<SecretVersion>, SecretError> {
            Ok(match stage {
                Stage::Current => self.0.map(|s| SecretVersion {
                    value: crate::secrets::Secret::new(s),
                    created: Some(SystemTime::now()),
                }),
                Stage::Previous => None,
            })
        }
    }

    const SECRET: &str = "s3cr3t-token";

    fn handler(secret: Option<&'static str>) -> HookHandler<MemoryStore, Fixed> {
        let config = Config::from_lookup(|k| match k {
            "TABLE_NAME" => Some("t".into()),
            "AUDIT_TABLE_NAME" => Some("a".into()),
            "HOOK_SECRET_ID" => Some("s".into()),
            "MAX_BODY_BYTES" => Some("4096".into()),
            _ => None,
        })
        .unwrap();
        HookHandler::new(config, MemoryStore::new(), Fixed(secret))
    }

    fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut b = lambda_http::http::Request::builder()
            .method(method)
            .uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::from(body)).unwrap()
    }

    fn body_json(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    const ONE_EVENT: &str = r#"{"data":{"events":[{"uuid":"e1","published":"2026-11-23T10:00:00Z",
        "eventType":"user.lifecycle.deactivate","target":[{"id":"00u1","type":"User"}]}]}}"#;

    #[tokio::test]
    async fn verification_echoes_the_challenge_as_json_and_records_it() {
        let h = handler(Some(SECRET));
        let r = h
            .verify(request(
                "GET",
                "/okta",
                &[(CHALLENGE_HEADER, "abc"), ("Authorization", SECRET)],
                "",
            ))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(body_json(&r), json!({"verification": "abc"}));
        assert!(h.store.integration_item().unwrap().verified_at.is_some());
    }

    #[tokio::test]
    async fn a_wrong_secret_is_401_and_nothing_is_written() {
        let h = handler(Some(SECRET));
        for headers in [vec![], vec![("Authorization", "nope")]] {
            let r = h
                .intake(request("POST", "/okta", &headers, ONE_EVENT))
                .await;
            assert_eq!(r.status(), 401);
        }
        let r = h
            .verify(request("GET", "/okta", &[(CHALLENGE_HEADER, "abc")], ""))
            .await;
        assert_eq!(r.status(), 401);
        assert!(h.store.jobs().is_empty());
        assert!(h.store.integration_item().is_none());
    }

    #[tokio::test]
    async fn a_disabled_integration_or_a_missing_secret_is_404() {
        let h = handler(Some(SECRET));
        h.store.set_integration(Integration {
            enabled: false,
            ..Default::default()
        });
        let auth = [("Authorization", SECRET)];
        assert_eq!(
            h.intake(request("POST", "/okta", &auth, ONE_EVENT))
                .await
                .status(),
            404
        );
        let h = handler(None);
        assert_eq!(
            h.intake(request("POST", "/okta", &auth, ONE_EVENT))
                .await
                .status(),
            404
        );
        assert!(h.store.jobs().is_empty());
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413() {
        let h = handler(Some(SECRET));
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(5000));
        let r = h
            .intake(request("POST", "/okta", &[("Authorization", SECRET)], &big))
            .await;
        assert_eq!(r.status(), 413);
        assert!(h.store.quarantined().is_empty());
    }

    #[tokio::test]
    async fn malformed_bodies_are_400_and_quarantined_verbatim() {
        let h = handler(Some(SECRET));
        let r = h
            .intake(request(
                "POST",
                "/okta",
                &[("Authorization", SECRET)],
                "{oops",
            ))
            .await;
        assert_eq!(r.status(), 400);
        let kept = h.store.quarantined();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].1, b"{oops");
    }

    #[tokio::test]
    async fn an_unavailable_table_is_503_so_okta_retries() {
        let h = handler(Some(SECRET));
        h.store.set_unavailable(true);
        let r = h
            .intake(request(
                "POST",
                "/okta",
                &[("Authorization", SECRET)],
                ONE_EVENT,
            ))
            .await;
        assert_eq!(r.status(), 503);
        // Internal details stay in the log.
        assert_eq!(body_json(&r)["message"], "state unavailable; retry later");
    }

    #[tokio::test]
    async fn routes_other_than_the_hook_are_404_and_other_methods_405() {
        let h = handler(Some(SECRET));
        let auth = [("Authorization", SECRET)];
        assert_eq!(
            h.intake(request("POST", "/other", &auth, ONE_EVENT))
                .await
                .status(),
            404
        );
        let r = h.intake(request("DELETE", "/okta", &auth, "")).await;
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "GET, POST");
        assert_eq!(
            h.verify(request("POST", "/okta", &auth, "")).await.status(),
            405
        );
    }

    #[tokio::test]
    async fn a_delivery_creates_jobs_and_a_repeat_only_duplicates() {
        let h = handler(Some(SECRET));
        let auth = [("Authorization", SECRET)];
        let r = h.intake(request("POST", "/okta", &auth, ONE_EVENT)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            body_json(&r),
            json!({"accepted": 1, "duplicates": 0, "ignored": 0})
        );
        let r = h.intake(request("POST", "/okta", &auth, ONE_EVENT)).await;
        assert_eq!(
            body_json(&r),
            json!({"accepted": 0, "duplicates": 1, "ignored": 0})
        );
        assert_eq!(h.store.jobs().len(), 1);
        assert!(h
            .store
            .integration_item()
            .unwrap()
            .last_delivery_at
            .is_some());
    }
}
