//! A signed webhook, for internal systems without SCIM: one POST per action, with a JSON
//! description of it.
//!
//! Signed the [Standard Webhooks](https://www.standardwebhooks.com) way, so that any of
//! its libraries verifies a delivery:
//!
//! ```text
//! webhook-id: <event uuid>:<action>:webhook:<name>
//! webhook-timestamp: <unix seconds>
//! webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
//! ```
//!
//! `webhook-id` is the same for every retry of the same action, so receivers dedupe on
//! it; it never contains a `.` (event uuids and names are letters, digits, `-` and `_`).
//! While a webhook has a `previous_secret` (a rotation), `webhook-signature` holds two
//! signatures, space-separated, the current key's first. Keys and signatures are never
//! logged.
//!
//! The URL and the keys are read from the targets secret at each delivery, so a rotation
//! reaches a warm function.
//!
//! | answer | outcome |
//! |---|---|
//! | 2xx | done |
//! | 401, 403 | the secret is read again and, if it changed, the delivery is signed and sent once more |
//! | 401, 403, also after that | refused: the job waits for the next read of the secret |
//! | – (the webhook left the targets secret since the cold start) | skipped |
//! | 408, 429, 5xx, timeout, refused connection | transient error |
//! | other 4xx | permanent error |

use std::sync::Arc;

use aws_lc_rs::hmac;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use super::settings::{TargetsConfig, WebhookConfig, WebhookKey};
use super::{BoxFuture, JobContext, Op, Outcome, Step, Target, TargetError};
use crate::clock::Timestamp;
use crate::domain::{Action, Holdings, Person};
use crate::secrets::CachedSecret;

/// Header with the signatures, space-separated.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// Header with the signing time, in unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Header with the message id, the receivers' idempotency key.
pub const ID_HEADER: &str = "webhook-id";

/// One webhook.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    name: String,
    config_name: String,
    targets: Arc<CachedSecret<TargetsConfig>>,
    http: reqwest::Client,
}

impl WebhookTarget {
    /// A target named `webhook:<config_name>`, the webhook of that name in `targets`.
    pub fn new(
        config_name: &str,
        targets: Arc<CachedSecret<TargetsConfig>>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            name: format!("webhook:{config_name}"),
            config_name: config_name.to_owned(),
            targets,
            http,
        }
    }

    /// This webhook's settings in one version of the secret.
    fn config_in<'c>(&self, targets: &'c TargetsConfig) -> Result<&'c WebhookConfig, TargetError> {
        targets
            .webhooks
            .iter()
            .find(|w| w.name == self.config_name)
            .ok_or_else(|| TargetError::Permanent {
                target: self.name.clone(),
                detail:
                    "no longer in the targets secret; it leaves the list at the next cold start"
                        .into(),
            })
    }

    /// Signs and POSTs `body` with the settings of one version of the secret; the
    /// answer's status.
    async fn deliver(
        &self,
        config: &WebhookConfig,
        id: &str,
        ts: i64,
        body: &str,
    ) -> Result<u16, TargetError> {
        let signatures = signature_header(&config.keys(), id, ts, body.as_bytes());
        let resp = self
            .http
            .post(&config.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ID_HEADER, id)
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, signatures)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| TargetError::transport(&self.name, &e))?;
        Ok(resp.status().as_u16())
    }
}

/// One Standard Webhooks symmetric signature: `v1,<base64>` of the HMAC-SHA256 over
/// `"<id>.<timestamp>.<body>"`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", aws_smithy_types::base64::encode(ctx.sign()))
}

/// The `webhook-signature` value: one signature per key, space-separated, in order.
pub fn signature_header(keys: &[&WebhookKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| signature(k.expose(), id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `webhook-id` of an action's delivery: stable across retries of the same job.
/// Its parts are validated to letters, digits, `-`, `_` and `:` (the target's), never `.`,
/// the separator of the signed content.
pub fn message_id(event_uuid: &str, action: &str, target: &str) -> String {
    format!("{event_uuid}:{action}:{target}")
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
            let id = message_id(job.event_uuid.as_str(), &step.object, &self.name);
            let version = self.targets.get().await;
            if self.config_in(&version).is_err() {
                return Ok(Outcome::Skipped(super::REMOVED.into()));
            }
            let mut status = self
                .deliver(self.config_in(&version)?, &id, ts, &body)
                .await?;
            if matches!(status, 401 | 403) {
                if let Some(fresh) = self.targets.refused(&version).await {
                    tracing::info!(target = %self.name, status,
                        "the receiver refused the signature; signing once more with the secret read again");
                    status = self
                        .deliver(self.config_in(&fresh)?, &id, ts, &body)
                        .await?;
                }
            }
            match status {
                200..=299 => Ok(Outcome::Done),
                401 | 403 => Err(TargetError::Refused {
                    target: self.name.clone(),
                    detail: format!("POST answered {status}"),
                }),
                _ => Err(TargetError::from_status(
                    &self.name,
                    status,
                    format!("POST answered {status}"),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks libraries' own test secret, id and payload; the expected value
    // was computed with the reference Python package (standardwebhooks 1.1.0):
    //   Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign(
    //       "msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1674087231, timezone.utc),
    //       '{"test": 2432232314}')
    // and tests/stack/test_webhook_receiver.py checks the package still agrees.
    const KAT_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const KAT_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const KAT_TS: i64 = 1_674_087_231;
    const KAT_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const KAT_SIGNATURE: &str = "v1,AQG81rX2n4rTN1fkXoqILSHO9gAOcwya9dP41rhrQDI=";

    #[test]
    fn the_signature_matches_the_standard_webhooks_reference() {
        let key = WebhookKey::parse(KAT_SECRET).unwrap();
        assert_eq!(
            signature(key.expose(), KAT_ID, KAT_TS, KAT_BODY),
            KAT_SIGNATURE
        );
        // Every signed part counts.
        let base = signature(key.expose(), KAT_ID, KAT_TS, KAT_BODY);
        assert_ne!(signature(key.expose(), "msg_other", KAT_TS, KAT_BODY), base);
        assert_ne!(signature(key.expose(), KAT_ID, KAT_TS + 1, KAT_BODY), base);
        assert_ne!(signature(key.expose(), KAT_ID, KAT_TS, b"{}"), base);
        assert_ne!(
            signature(b"another key, 16+", KAT_ID, KAT_TS, KAT_BODY),
            base
        );
    }

    #[test]
    fn the_id_names_the_event_action_and_target_and_has_no_dot() {
        let id = message_id(
            "8f3c1e2a-41b0-11ef-9c3e-0b1a2c3d4e5f",
            "deprovision",
            "webhook:hr",
        );
        assert_eq!(
            id,
            "8f3c1e2a-41b0-11ef-9c3e-0b1a2c3d4e5f:deprovision:webhook:hr"
        );
        assert!(!id.contains('.'));
    }

    #[test]
    fn a_rotation_sends_both_signatures_the_current_first() {
        let current = WebhookKey::parse(KAT_SECRET).unwrap();
        let previous = WebhookKey::parse("0123456789abcdef").unwrap();
        let header = signature_header(&[&current, &previous], KAT_ID, KAT_TS, KAT_BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2, "{header}");
        assert_eq!(parts[0], KAT_SIGNATURE);
        assert_eq!(
            parts[1],
            signature(b"0123456789abcdef", KAT_ID, KAT_TS, KAT_BODY)
        );
        assert_eq!(
            signature_header(&[&current], KAT_ID, KAT_TS, KAT_BODY),
            KAT_SIGNATURE
        );
    }
}
