//! A signed webhook, for internal systems without SCIM: one POST per action, with a JSON
//! description of it.
//!
//! Signature: `X-Lifecycle-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//! with `X-Lifecycle-Timestamp: <unix seconds>`. Receivers check the signature in constant
//! time, refuse old timestamps, and dedupe on `X-Lifecycle-Delivery`, which is the same
//! for every retry of the same action.
//!
//! | answer | outcome |
//! |---|---|
//! | 2xx | done |
//! | 408, 429, 5xx, timeout, refused | transient error |
//! | other 4xx | permanent error |

use aws_lc_rs::hmac;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use super::settings::WebhookConfig;
use super::{BoxFuture, JobContext, Op, Outcome, Step, Target, TargetError};
use crate::clock::Timestamp;
use crate::domain::{Action, Holdings, Person};

/// Header with the signature.
pub const SIGNATURE_HEADER: &str = "x-lifecycle-signature";
/// Header with the signing time.
pub const TIMESTAMP_HEADER: &str = "x-lifecycle-timestamp";
/// Header with the idempotency key.
pub const DELIVERY_HEADER: &str = "x-lifecycle-delivery";

/// One webhook.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    name: String,
    config: WebhookConfig,
    http: reqwest::Client,
}

impl WebhookTarget {
    /// A target named `webhook:<name>`.
    pub fn new(config: WebhookConfig, http: reqwest::Client) -> Self {
        Self {
            name: format!("webhook:{}", config.name),
            config,
            http,
        }
    }
}

/// `v1=<hex>` over `"<timestamp>.<body>"`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

impl Target for WebhookTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn inspect<'a>(
        &'a self,
        _person: &'a Person,
        _known: Option<&'a Holdings>,
    ) -> BoxFuture<'a, Result<Holdings, TargetError>> {
        Box::pin(async { Ok(Holdings::default()) })
    }

    fn plan(
        &self,
        action: Action,
        person: &Person,
        _now: &Holdings,
        _before: &Holdings,
    ) -> Vec<Step> {
        vec![Step {
            target: self.name.clone(),
            op: Op::Notify,
            object: action.as_str().into(),
            label: person.login.clone().unwrap_or_default(),
        }]
    }

    fn apply<'a>(
        &'a self,
        step: &'a Step,
        job: &'a JobContext,
    ) -> BoxFuture<'a, Result<Outcome, TargetError>> {
        Box::pin(async move {
            let now = Timestamp::now();
            let body = json!({
                "version": 1,
                "action": job.action.as_str(),
                "user": {"id": job.person.id.as_str(), "login": job.person.login},
                "event": {
                    "uuid": job.event_uuid.as_str(),
                    "type": job.event_type.as_str(),
                    "published": job.published,
                },
                "job": job.job_id,
                "sent_at": now.to_string(),
            })
            .to_string();
            let ts = now.unix_seconds();
            let resp = self
                .http
                .post(&self.config.url)
                .header(CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(
                    SIGNATURE_HEADER,
                    signature(self.config.secret.expose().as_bytes(), ts, body.as_bytes()),
                )
                .header(
                    DELIVERY_HEADER,
                    format!("{}:{}:{}", job.event_uuid, step.object, self.name),
                )
                .body(body)
                .send()
                .await
                .map_err(|e| TargetError::transport(&self.name, &e))?;
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                Ok(Outcome::Done)
            } else {
                Err(TargetError::from_status(
                    &self.name,
                    status,
                    format!("POST answered {status}"),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: python -c 'import hmac, hashlib;
        // print(hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest())'
        assert_eq!(
            signature(b"key", 1_700_000_000, b"{}"),
            "v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(
            signature(b"key", 1_700_000_001, b"{}"),
            signature(b"key", 1_700_000_000, b"{}")
        );
        assert_ne!(
            signature(b"other", 1_700_000_000, b"{}"),
            signature(b"key", 1_700_000_000, b"{}")
        );
    }
}
