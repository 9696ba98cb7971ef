//! The drops a guard held: `sync-held` lists them, `sync-release <id>` applies exactly
//! the plan the `sync` function stored for one of them, through the actions API.

use lifecycle::domain::{DropStatus, SyncDrop};
use lifecycle::store::{DynamoStore, StoreError};
use lifecycle::sync::drop::audit_line;
use lifecycle::sync::input::sha256_hex;

use super::*;

/// Most held drops listed.
const LIST_LIMIT: usize = 200;

/// `lifecycle-ops sync-held`: every held drop, oldest first, with the guards that held it.
pub async fn sync_held(store: &DynamoStore, json_out: bool) -> Report {
    let drops = match store.held_drops(LIST_LIMIT).await {
        Ok(d) => d,
        Err(e) => return Report::error(Exit::Failed, e.to_string()),
    };
    if json_out {
        let list: Vec<Value> = drops.iter().map(drop_json).collect();
        return Report::ok(
            serde_json::to_string_pretty(&json!({ "held": list })).unwrap_or_default() + "\n",
        );
    }
    if drops.is_empty() {
        return Report::ok("no held drops\n");
    }
    let mut out = String::new();
    for d in &drops {
        let _ = writeln!(
            out,
            "{}  {}  s3://{}/{}",
            d.id, d.created_at, d.bucket, d.key
        );
        let _ = writeln!(out, "  totals {}", d.totals.as_deref().unwrap_or("{}"));
        for g in refusals(d) {
            let _ = writeln!(
                out,
                "  held by {}: {} (observed {}, limit {})",
                g["kind"].as_str().unwrap_or("?"),
                g["message"].as_str().unwrap_or(""),
                g["observed"],
                g["limit"]
            );
        }
        let _ = writeln!(
            out,
            "  plan s3://{}/{}; release it with: lifecycle-ops sync-release {}",
            d.bucket,
            d.plan_key.as_deref().unwrap_or("?"),
            d.id
        );
    }
    Report::ok(out)
}

fn refusals(d: &SyncDrop) -> Vec<Value> {
    d.refusals
        .as_deref()
        .and_then(|r| serde_json::from_str::<Vec<Value>>(r).ok())
        .unwrap_or_default()
}

fn drop_json(d: &SyncDrop) -> Value {
    json!({
        "id": d.id,
        "status": d.status.as_str(),
        "bucket": d.bucket,
        "key": d.key,
        "version": d.version,
        "created_at": d.created_at.to_string(),
        "digest": d.digest,
        "plan_key": d.plan_key,
        "plan_version": d.plan_version,
        "totals": d.totals.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()),
        "refusals": refusals(d),
        "released_by": d.released_by,
    })
}

/// `lifecycle-ops sync-release <id>`: marks the held drop released (once: a second
/// operator is told it was released already), reads its plan from the bucket, checks it
/// is the very plan stored, and applies it through the actions API. Run again on a
/// released drop, it applies the same plan again: its requests repeat their keys, so
/// what is done stays done and the rest is finished.
pub async fn sync_release(
    store: &DynamoStore,
    id: &str,
    operator: &str,
    api_url: Option<String>,
    region: Option<String>,
    json_out: bool,
) -> Report {
    let aws = lifecycle::aws::operator_sdk_config().await;
    let client = match api_client(api_url, region, &aws) {
        Ok(c) => c,
        Err(report) => return report,
    };
    let mut drop = match store.sync_drop(id).await {
        Ok(Some(d)) => d,
        Ok(None) => return Report::error(Exit::Refused, format!("no drop {id}")),
        Err(e) => return Report::error(Exit::Failed, e.to_string()),
    };
    let again = match drop.status {
        DropStatus::Held => false,
        DropStatus::Released => true,
        other => {
            return Report::error(
                Exit::Refused,
                format!(
                    "drop {id} is {}, not held: only a held drop is released",
                    other.as_str()
                ),
            )
        }
    };
    let bytes = match plan_bytes(&aws, &drop).await {
        Ok(b) => b,
        Err(e) => return Report::error(Exit::Refused, e),
    };
    let run = match sync::runnable_released(&bytes) {
        Ok(r) => r,
        Err(e) => return Report::error(Exit::Refused, format!("the stored plan: {e}")),
    };
    let actor = format!("operator:{operator}");
    if !again {
        drop.status = DropStatus::Released;
        drop.released_by = Some(actor.clone());
        drop.updated_at = lifecycle::clock::Timestamp::now();
        match store.release_drop(&drop, &audit_line(&drop, &actor)).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Report::error(
                    Exit::Refused,
                    format!("drop {id} was released by someone else meanwhile"),
                )
            }
            Err(e) => return Report::error(Exit::Failed, e.to_string()),
        }
    }
    let mut report = apply(&client, &run, json_out).await.report;
    if again && !json_out {
        report.stderr.insert_str(
            0,
            &format!(
                "drop {id} was released before ({}); its plan runs again, what is done stays done\n",
                drop.released_by.as_deref().unwrap_or("?")
            ),
        );
    }
    report
}

/// The held plan's bytes, exactly as stored: its version, and its digest checked.
async fn plan_bytes(aws: &aws_config::SdkConfig, drop: &SyncDrop) -> Result<Vec<u8>, String> {
    let key = drop
        .plan_key
        .as_deref()
        .ok_or_else(|| format!("drop {} has no stored plan", drop.id))?;
    let s3 = aws_sdk_s3::Client::new(aws);
    let out = s3
        .get_object()
        .bucket(&drop.bucket)
        .key(key)
        .set_version_id(drop.plan_version.clone())
        .send()
        .await
        .map_err(|e| {
            format!(
                "s3://{}/{key}: {}",
                drop.bucket,
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| format!("s3://{}/{key}: {e}", drop.bucket))?
        .into_bytes()
        .to_vec();
    let digest = sha256_hex(&bytes);
    if drop.plan_digest.as_deref() != Some(digest.as_str()) {
        return Err(format!(
            "s3://{}/{key} is not the plan that was held (its digest is {digest}, the drop recorded {}): not applied",
            drop.bucket,
            drop.plan_digest.as_deref().unwrap_or("none")
        ));
    }
    Ok(bytes)
}
