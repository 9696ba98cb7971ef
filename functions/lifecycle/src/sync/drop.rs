//! The S3 drop: an HR export put into the sync bucket is planned against Okta like
//! `lifecycle-ops sync` plans it; when every guard passes its actions go to the actions
//! path as durable requests (the worker carries them on), otherwise the plan is stored
//! and the drop held for an operator (`lifecycle-ops sync-held`, `sync-release`).
//!
//! Every drop's plan is kept in the bucket under the plans prefix, whether applied or
//! held: what ran, or would run, is what the audit line names. A notification delivered
//! twice names the same drop (its id comes from the bucket, key and version) and plans
//! once; a run that dies leaves its claim to lapse, and the next delivery takes it over
//! (the requests' keys come from the file and the chunk, so nothing runs twice).

use std::time::Duration;

use tokio::time::Instant;

use aws_sdk_s3::error::ProvideErrorMetadata;
use serde_json::{json, Value};

use super::input::sha256_hex;
use super::{chunk_key, chunks, parse, plan_json, refused, runnable, Format, Planned};
use crate::actions::Provisioner;
use crate::clock::Timestamp;
use crate::config::SyncConfig;
use crate::domain::{AuditAction, AuditEntry, AuditOutcome, AuditSubject, DropStatus, SyncDrop};
use crate::metrics::Metrics;
use crate::okta::OktaClient;
use crate::store::{DropClaim, DynamoStore, StoreError};

/// Who the `sync` function's requests come from: its own caller, so its keys never meet
/// an operator's.
pub const CALLER: &str = "okta-lifecycle:sync";
/// How long a run holds a drop: the function's longest run (its timeout is 15 minutes).
const LEASE: Duration = Duration::from_secs(15 * 60);
/// How long the function runs one request itself before the worker carries it on.
const FIRST_RUN: Duration = Duration::from_secs(2);

/// What went wrong with a drop that a later delivery may get right: Lambda retries the
/// event, and the claim is given back so that the retry can take it.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    /// Another run holds the drop.
    #[error("drop {0} is being planned by another run; retry later")]
    Busy(String),
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bucket failed.
    #[error("S3 {op} {key}: {detail}")]
    S3 {
        /// The operation.
        op: &'static str,
        /// The object.
        key: String,
        /// What S3 said.
        detail: String,
    },
    /// Okta could not be read for the plan.
    #[error("Okta could not be read for the plan: {0}")]
    Okta(String),
    /// A request of the plan could not be submitted.
    #[error("submitting request {key}: {detail}")]
    Submit {
        /// Its idempotency key.
        key: String,
        /// Why.
        detail: String,
    },
}

/// One object of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedObject {
    /// The bucket.
    pub bucket: String,
    /// The key, decoded (S3 sends it form-encoded).
    pub key: String,
    /// The version, when the bucket is versioned.
    pub version: Option<String>,
}

/// The objects a notification names: EventBridge's `Object Created` event (the
/// template's route: its key is plain text), or S3's own notification (`Records`, each
/// `ObjectCreated:*`, its key form-encoded). Anything else names none.
pub fn dropped_objects(event: &Value) -> Vec<DroppedObject> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    if event["detail-type"] == "Object Created" {
        let detail = &event["detail"];
        return match (
            text(&detail["bucket"]["name"]),
            text(&detail["object"]["key"]),
        ) {
            (Some(bucket), Some(key)) => vec![DroppedObject {
                bucket,
                key,
                version: text(&detail["object"]["version-id"]),
            }],
            _ => Vec::new(),
        };
    }
    event["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            r["eventName"]
                .as_str()
                .is_some_and(|n| n.starts_with("ObjectCreated"))
        })
        .filter_map(|r| {
            Some(DroppedObject {
                bucket: text(&r["s3"]["bucket"]["name"])?,
                key: decode_key(&text(&r["s3"]["object"]["key"])?),
                version: text(&r["s3"]["object"]["versionId"]),
            })
        })
        .collect()
}

/// An S3 notification's key as S3 wrote it: form-encoded, `+` for a space.
pub fn decode_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// A drop's id: from its bucket, key and version.
pub fn drop_id(object: &DroppedObject) -> String {
    let version = object.version.as_deref().unwrap_or("");
    let digest = sha256_hex(format!("{}\n{}\n{version}", object.bucket, object.key).as_bytes());
    format!("drop-{}", &digest[..16])
}

/// The `sync` function's parts.
#[derive(Debug, Clone)]
pub struct SyncFunction {
    s3: aws_sdk_s3::Client,
    okta: OktaClient,
    provisioner: Provisioner,
    config: SyncConfig,
}

impl SyncFunction {
    /// Wraps the clients.
    pub fn new(
        s3: aws_sdk_s3::Client,
        okta: OktaClient,
        store: DynamoStore,
        config: SyncConfig,
    ) -> Self {
        let provisioner = Provisioner::new(okta.clone(), store, config.fuse);
        Self {
            s3,
            okta,
            provisioner,
            config,
        }
    }

    /// Builds the clients from the environment once per execution environment.
    pub async fn from_environment(config: SyncConfig) -> Result<Self, crate::setup::SetupError> {
        let aws = crate::aws::sdk_config().await;
        let store = crate::setup::store(&aws, &config.table);
        // The plan's reads are bound by Okta's rate: at the reserve they wait for the
        // window (the writes of a request's first run have a deadline and do not).
        let options = crate::okta::ClientOptions {
            wait_for_reserve: true,
            ..Default::default()
        };
        let okta = crate::setup::okta_client(&aws, &config.okta, options).await?;
        Ok(Self::new(
            aws_sdk_s3::Client::new(&aws),
            okta,
            store,
            config,
        ))
    }

    fn store(&self) -> &DynamoStore {
        self.provisioner.store()
    }

    /// Handles every object of a notification; the first failure that a retry may cure
    /// is returned after the rest were tried (the drops done stay done: a retry finds
    /// them settled).
    pub async fn handle(&self, event: &Value, run_id: &str) -> Result<Vec<SyncDrop>, DropError> {
        let mut metrics = Metrics::invocation("sync");
        let mut done = Vec::new();
        let mut first_error = None;
        for object in dropped_objects(event) {
            if !object.key.starts_with(&self.config.incoming_prefix) {
                tracing::info!(key = %object.key, "not under the incoming prefix; left alone");
                metrics.count_by("Drops", "outcome", "ignored", 1);
                continue;
            }
            match self.one(&object, run_id, &mut metrics).await {
                Ok(drop) => done.push(drop),
                Err(e) => {
                    tracing::error!(bucket = %object.bucket, key = %object.key, error = %e,
                        "sync drop not settled; the notification will be retried");
                    metrics.count_by("DropFailures", "reason", failure_reason(&e), 1);
                    first_error.get_or_insert(e);
                }
            }
        }
        metrics.flush();
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    async fn one(
        &self,
        object: &DroppedObject,
        run_id: &str,
        metrics: &mut Metrics,
    ) -> Result<SyncDrop, DropError> {
        let mut drop = SyncDrop::planning(
            drop_id(object),
            object.bucket.clone(),
            object.key.clone(),
            object.version.clone(),
            Timestamp::now(),
        );
        match self.store().claim_drop(&drop, run_id, LEASE).await? {
            DropClaim::Claimed => {}
            DropClaim::Busy => return Err(DropError::Busy(drop.id)),
            DropClaim::Settled(found) => {
                tracing::info!(drop = %found.id, status = found.status.as_str(),
                    "sync drop seen again; already settled");
                metrics.count_by("Drops", "outcome", "duplicate", 1);
                return Ok(*found);
            }
        }
        match self.plan_and_run(&mut drop, run_id).await {
            Ok(()) => {}
            Err(e) => {
                // Given back, so that the retry need not wait for the lease.
                if let Err(release) = self.store().abandon_drop(&drop.id, run_id).await {
                    tracing::warn!(drop = %drop.id, error = %release, "claim not given back");
                }
                return Err(e);
            }
        }
        drop.updated_at = Timestamp::now();
        let line = audit_line(&drop, &format!("sync:{run_id}"));
        self.store().settle_drop(&drop, run_id, &line).await?;
        metrics.count_by("Drops", "outcome", drop.status.as_str(), 1);
        tracing::info!(drop = %drop.id, key = %drop.key, status = drop.status.as_str(),
            requests = drop.requests.len(), "sync drop settled");
        Ok(drop)
    }

    /// Reads, plans, stores the plan, and applies it or holds it; `drop` records each.
    async fn plan_and_run(&self, drop: &mut SyncDrop, run_id: &str) -> Result<(), DropError> {
        let Some(bytes) = self.read_file(drop).await? else {
            return Ok(());
        };
        // Recorded before parsing, so an invalid file is named by its digest too (the
        // parsed file's digest is the same SHA-256).
        drop.digest = Some(sha256_hex(&bytes));
        let format = drop
            .key
            .rsplit_once('.')
            .and_then(|(_, ext)| Format::from_extension(ext));
        let parsed = match parse(&bytes, format, &self.config.mapping) {
            Ok(p) => p,
            Err(e) => {
                drop.status = DropStatus::Invalid;
                drop.error = Some(e.to_string());
                return Ok(());
            }
        };
        let Planned { plan, guards, .. } = super::plan_against_okta(
            &self.okta,
            &parsed,
            &self.config.scope,
            &self.config.settings,
        )
        .await
        .map_err(DropError::Okta)?;
        let file = plan_json(&plan, &guards, true);
        self.store_plan(drop, &file).await?;
        drop.totals = Some(file["totals"].to_string());
        if refused(&guards) {
            let refusing: Vec<_> = guards.iter().filter(|g| g.refuses()).collect();
            drop.refusals = Some(serde_json::to_string(&refusing).unwrap_or_default());
            drop.status = DropStatus::Held;
            return Ok(());
        }
        drop.requests = self.submit(&runnable(&plan), run_id).await?;
        drop.status = DropStatus::Applied;
        Ok(())
    }

    /// The file's bytes; `None` (and the drop `invalid`) when there is no such object any
    /// more or it is larger than the function takes.
    async fn read_file(&self, drop: &mut SyncDrop) -> Result<Option<Vec<u8>>, DropError> {
        let got = self
            .s3
            .get_object()
            .bucket(&drop.bucket)
            .key(&drop.key)
            .set_version_id(drop.version.clone())
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) if matches!(e.code(), Some("NoSuchKey" | "NoSuchVersion")) => {
                drop.status = DropStatus::Invalid;
                drop.error = Some("the object is gone: nothing to plan".into());
                return Ok(None);
            }
            Err(e) => return Err(s3_error("GetObject", &drop.key, &e)),
        };
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        if size > self.config.max_file_bytes {
            drop.status = DropStatus::Invalid;
            drop.error = Some(format!(
                "the file has {size} bytes, more than the {} the sync takes (SYNC_MAX_FILE_BYTES)",
                self.config.max_file_bytes
            ));
            return Ok(None);
        }
        let body = out.body.collect().await.map_err(|e| DropError::S3 {
            op: "GetObject",
            key: drop.key.clone(),
            detail: e.to_string(),
        })?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    /// Puts the plan beside the file under the plans prefix; records where and its digest.
    async fn store_plan(&self, drop: &mut SyncDrop, file: &Value) -> Result<(), DropError> {
        let text = serde_json::to_vec_pretty(file).unwrap_or_default();
        let key = format!("{}{}.json", self.config.plans_prefix, drop.id);
        let out = self
            .s3
            .put_object()
            .bucket(&drop.bucket)
            .key(&key)
            .content_type("application/json")
            .body(text.clone().into())
            .send()
            .await
            .map_err(|e| s3_error("PutObject", &key, &e))?;
        drop.plan_key = Some(key);
        drop.plan_version = out.version_id().map(str::to_owned);
        drop.plan_digest = Some(sha256_hex(&text));
        Ok(())
    }

    /// Submits the plan's requests, each run briefly here and carried on by the worker;
    /// the requests' ids.
    async fn submit(&self, run: &super::Runnable, run_id: &str) -> Result<Vec<String>, DropError> {
        let mut ids = Vec::new();
        for (n, chunk) in chunks(run).iter().enumerate() {
            let key = chunk_key(&run.digest, n, chunk);
            let actions: Vec<&Value> = chunk.iter().map(|s| &s.action).collect();
            let body = serde_json::to_vec(
                &json!({"idempotency_key": key, "dry_run": false, "actions": actions}),
            )
            .unwrap_or_default();
            let answer = self
                .provisioner
                .submit(CALLER, &body, Instant::now() + FIRST_RUN, run_id)
                .await
                .map_err(|e| DropError::Submit {
                    key: key.clone(),
                    detail: e.to_string(),
                })?;
            ids.push(answer.request_id);
        }
        Ok(ids)
    }
}

fn s3_error<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    op: &'static str,
    key: &str,
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> DropError {
    let detail = match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("")),
        None => format!("{e}"),
    };
    DropError::S3 {
        op,
        key: key.to_owned(),
        detail,
    }
}

fn failure_reason(e: &DropError) -> &'static str {
    match e {
        DropError::Busy(_) => "busy",
        DropError::Store(_) => "table",
        DropError::S3 { .. } => "s3",
        DropError::Okta(_) => "okta",
        DropError::Submit { .. } => "submit",
    }
}

/// The drop's line in the integration's audit trail.
pub fn audit_line(drop: &SyncDrop, actor: &str) -> AuditEntry {
    let object = match &drop.version {
        Some(v) => format!("s3://{}/{}?versionId={v}", drop.bucket, drop.key),
        None => format!("s3://{}/{}", drop.bucket, drop.key),
    };
    let detail = [
        drop.totals.as_ref().map(|t| format!("totals {t}")),
        drop.refusals
            .as_ref()
            .filter(|r| r.as_str() != "[]")
            .map(|r| format!("refused by {r}")),
        (!drop.requests.is_empty()).then(|| format!("requests {}", drop.requests.join(","))),
        drop.plan_key.as_ref().map(|k| format!("plan {k}")),
        drop.error.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ");
    AuditEntry {
        subject: AuditSubject::Integration,
        at: drop.updated_at,
        seq: 0,
        event_uuid: drop.id.clone(),
        event_type: "sync.drop".into(),
        job_id: drop.id.clone(),
        action: AuditAction::Sync(drop.status.as_str().to_owned()),
        target: Some("okta".into()),
        object: Some(object),
        label: drop.digest.clone(),
        outcome: match drop.status {
            DropStatus::Applied | DropStatus::Released => AuditOutcome::Done,
            DropStatus::Held => AuditOutcome::Held,
            DropStatus::Invalid => AuditOutcome::Failed,
            DropStatus::Planning => AuditOutcome::Skipped,
        },
        detail: (!detail.is_empty()).then_some(detail),
        actor: actor.to_owned(),
        dry_run: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(
            decode_key("incoming/people+2026.csv"),
            "incoming/people 2026.csv"
        );
        assert_eq!(
            decode_key("incoming/%C3%A9quipe%2Bhr.csv"),
            "incoming/équipe+hr.csv"
        );
        assert_eq!(decode_key("a%2"), "a%2", "a cut escape is kept as it is");
        assert_eq!(decode_key("100%zz"), "100%zz");
    }

    #[test]
    fn a_drop_is_named_by_its_bucket_key_and_version() {
        let a = DroppedObject {
            bucket: "b".into(),
            key: "incoming/p.csv".into(),
            version: Some("v1".into()),
        };
        let id = drop_id(&a);
        assert!(id.starts_with("drop-") && id.len() == 21, "{id}");
        assert_eq!(id, drop_id(&a.clone()));
        let b = DroppedObject {
            version: Some("v2".into()),
            ..a.clone()
        };
        assert_ne!(id, drop_id(&b), "a new version is a new drop");
    }

    #[test]
    fn only_created_objects_are_taken_from_a_notification() {
        let classic = json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"},
              "object": {"key": "incoming/a+b%3A1.csv", "versionId": "v1"}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "b"},
              "object": {"key": "incoming/c.csv"}}},
        ]});
        let one = DroppedObject {
            bucket: "b".into(),
            key: "incoming/a b:1.csv".into(),
            version: Some("v1".into()),
        };
        assert_eq!(dropped_objects(&classic), std::slice::from_ref(&one));
        let bridged = json!({"detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "b"},
                       "object": {"key": "incoming/a b:1.csv", "version-id": "v1"}}});
        assert_eq!(
            dropped_objects(&bridged),
            [one],
            "EventBridge's key is plain"
        );
        let deleted = json!({"detail-type": "Object Deleted", "detail": {"bucket": {"name": "b"},
            "object": {"key": "incoming/x.csv"}}});
        assert!(dropped_objects(&deleted).is_empty());
        assert!(dropped_objects(&json!({"hello": 1})).is_empty());
    }
}
