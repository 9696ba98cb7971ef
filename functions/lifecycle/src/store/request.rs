//! Request items (`REQUEST#<id>` / `REQUEST`): one `POST /actions` request, its
//! idempotency record and its progress. Created once with `attribute_not_exists`; every
//! later write is conditional on the caller's claim, as for jobs, so an invocation whose
//! claim lapsed cannot record anything.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::dynamo::{classify, condition_failed, flag, key_item, n, number, s, text};
use super::job::corrupt;
use super::update::UpdateExpr;
use super::{DynamoStore, Key, StoreError};
use crate::clock::Timestamp;
use crate::domain::provision::{RequestRecord, RequestStatus};
use crate::domain::AuditEntry;

fn index_map(item: &HashMap<String, AttributeValue>, name: &str) -> BTreeMap<usize, String> {
    item.get(name)
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_s().ok()?.clone())))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_request(
    key: &Key,
    item: &HashMap<String, AttributeValue>,
) -> Result<RequestRecord, StoreError> {
    let required = |name: &str| text(item, name).ok_or_else(|| corrupt(name, key));
    Ok(RequestRecord {
        id: required("request_id")?,
        idempotency_key: required("idempotency_key")?,
        caller: required("caller")?,
        digest: required("digest")?,
        dry_run: flag(item, "dry_run").unwrap_or(false),
        actions: required("actions")?,
        count: number(item, "count")
            .and_then(|c| usize::try_from(c).ok())
            .ok_or_else(|| corrupt("count", key))?,
        status: RequestStatus::parse(&required("status")?),
        results: index_map(item, "results"),
        started: index_map(item, "started"),
        created_at: Timestamp::parse(&required("created_at")?)
            .map_err(|_| corrupt("created_at", key))?,
        claim: text(item, "claim"),
        claim_expires_ms: number(item, "claim_expires_ms"),
        runs: number(item, "runs")
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(1),
        parked: flag(item, "parked").unwrap_or(false),
    })
}

impl DynamoStore {
    /// Records a new request under `token`'s claim until `lease` from now, kept for
    /// `keep` (the idempotency window). When a request of that id exists already, it is
    /// returned instead and nothing is written.
    pub async fn create_request(
        &self,
        request: &RequestRecord,
        token: &str,
        lease: Duration,
        keep: Duration,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let key = Key::request(&request.id);
        let mut item = key_item(&key);
        let now = request.created_at;
        item.extend([
            ("kind".to_string(), s("request")),
            ("request_id".into(), s(&request.id)),
            ("idempotency_key".into(), s(&request.idempotency_key)),
            ("caller".into(), s(&request.caller)),
            ("digest".into(), s(&request.digest)),
            ("dry_run".into(), AttributeValue::Bool(request.dry_run)),
            ("actions".into(), s(&request.actions)),
            ("count".into(), n(request.count as i64)),
            ("status".into(), s(RequestStatus::Running.as_str())),
            ("results".into(), AttributeValue::M(HashMap::new())),
            ("started".into(), AttributeValue::M(HashMap::new())),
            ("created_at".into(), s(&now.to_string())),
            ("claim".into(), s(token)),
            ("claim_expires_ms".into(), n(now.plus(lease).unix_millis())),
            ("runs".into(), n(1)),
            ("expires_at".into(), n(now.plus(keep).unix_millis() / 1000)),
        ]);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(None),
            Err(e) if condition_failed(&e) => match self.request(&request.id).await? {
                Some(existing) => Ok(Some(existing)),
                // Expired by TTL between the put and the read: not worth a second try.
                None => Err(StoreError::Conflict {
                    op: "create request",
                    detail: "the request vanished while it was read".into(),
                }),
            },
            Err(e) => Err(classify("PutItem", &e)),
        }
    }

    /// Reads a request.
    pub async fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        let key = Key::request(id);
        self.read(&key)
            .await?
            .map(|item| parse_request(&key, &item))
            .transpose()
    }

    /// Claims a request that is not done for one run under `token`: at once when nobody
    /// holds it, or when the holder's claim lapsed. `None` when someone else holds it or
    /// it is done.
    pub async fn claim_request(
        &self,
        id: &str,
        token: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let key = Key::request(id);
        let mut u = UpdateExpr::new();
        u.set("status", s(RequestStatus::Running.as_str()))
            .set("claim", s(token))
            .set("claim_expires_ms", n(now.plus(lease).unix_millis()))
            .increment("runs", 1);
        let (status, done) = (u.name("status"), u.value(s(RequestStatus::Done.as_str())));
        let (expires, now_ms) = (u.name("claim_expires_ms"), u.value(n(now.unix_millis())));
        let (claim, mine) = (u.name("claim"), u.value(s(token)));
        u.condition(format!("attribute_exists({status}) AND {status} <> {done}"));
        u.condition(format!(
            "attribute_not_exists({expires}) OR {expires} < {now_ms} OR {claim} = {mine}"
        ));
        let result = self
            .update_request(&key, u)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes() {
                Some(item) => parse_request(&key, item).map(Some),
                None => Err(corrupt("attributes after claim", &key)),
            },
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(classify("UpdateItem", &e)),
        }
    }

    /// One update of a request under the caller's claim: a single `UpdateItem` (a
    /// one-item transaction would cost twice the write units).
    async fn claimed_update(
        &self,
        op: &'static str,
        id: &str,
        u: UpdateExpr,
    ) -> Result<(), StoreError> {
        match self.update_request(&Key::request(id), u).send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(StoreError::Conflict {
                op,
                detail: "the request's claim was lost".into(),
            }),
            Err(e) => Err(classify("UpdateItem", &e)),
        }
    }

    fn claimed(token: &str) -> UpdateExpr {
        let mut u = UpdateExpr::new();
        let (claim, mine) = (u.name("claim"), u.value(s(token)));
        u.condition(format!("{claim} = {mine}"));
        u
    }

    /// Notes that action `index` has started something that must not be started twice: a
    /// reset about to be sent (`what`: the time), or the job that carries the action on
    /// the leaver path (`what`: the job's reference).
    pub async fn mark_started(
        &self,
        id: &str,
        token: &str,
        index: usize,
        what: &str,
    ) -> Result<(), StoreError> {
        let mut u = Self::claimed(token);
        u.set_path(&["started", &index.to_string()], s(what));
        self.claimed_update("mark action started", id, u).await
    }

    /// Records the answer of action `index` and its audit lines, together.
    pub async fn record_result(
        &self,
        id: &str,
        token: &str,
        index: usize,
        answer: &str,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let mut u = Self::claimed(token);
        u.set_path(&["results", &index.to_string()], s(answer));
        let mut items = vec![self.transact_update(&Key::request(id), u)?];
        for entry in audit {
            items.push(self.audit_put(entry)?);
        }
        self.transact("record action result", items).await
    }

    /// Ends a run: `done` when every action has its answer, else `pending` for the
    /// worker to carry on, or `pending` and `parked` when the worker has tried often
    /// enough (a repeat of the caller's key still carries on). The claim is given up.
    pub async fn finish_request(
        &self,
        id: &str,
        token: &str,
        status: RequestStatus,
        park: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut u = Self::claimed(token);
        if park {
            u.set("parked", AttributeValue::Bool(true));
        } else {
            u.remove("parked");
        }
        u.set("status", s(status.as_str()))
            .set("updated_at", s(&at.to_string()))
            .remove("claim")
            .remove("claim_expires_ms");
        self.claimed_update("finish request", id, u).await
    }
}
