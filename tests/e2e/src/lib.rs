//! Helpers for tests that run against the local stack (`make up`): where it is, clients
//! for it, and fixtures with fresh ids so tests never see each other's items.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

pub mod table_faults;
pub mod trail;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The running local stack, as described by `.local/stack.env`.
#[derive(Debug, Clone)]
pub struct Stack {
    vars: HashMap<String, String>,
}

impl Stack {
    /// Reads `.local/stack.env` and exports its AWS settings to this process, so SDK
    /// clients built here reach moto. Panics with the remedy if the stack is not up.
    pub fn get() -> Self {
        let path = root().join(".local/stack.env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} not found: these tests need the local stack; run them with `make test`, or `make up` first",
                path.display()
            )
        });
        let vars: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            // Values that a shell would split are single-quoted.
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        for key in [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            if std::env::var(key).is_err() {
                // Every test sets the same values, before any client reads them.
                std::env::set_var(key, &vars[key]);
            }
        }
        Self { vars }
    }

    /// A variable of `.local/stack.env`.
    pub fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from .local/stack.env"))
    }

    /// `http://127.0.0.1:<port>/okta`.
    pub fn hook_url(&self) -> &str {
        self.var("HOOK_URL")
    }

    /// `http://127.0.0.1:<port>`.
    pub fn api_url(&self) -> &str {
        self.var("API_URL")
    }

    /// The hook secret Okta would send.
    pub fn secret(&self) -> &str {
        self.var("HOOK_SECRET")
    }

    /// The header it is sent in.
    pub fn auth_header(&self) -> &str {
        self.var("HOOK_AUTH_HEADER")
    }

    /// The state table.
    pub fn table(&self) -> &str {
        self.var("TABLE_NAME")
    }

    /// The audit table.
    pub fn audit_table(&self) -> &str {
        self.var("AUDIT_TABLE_NAME")
    }

    /// A store over the stack's two tables, with the operator's timeouts.
    pub async fn store(&self) -> lifecycle::store::DynamoStore {
        lifecycle::store::DynamoStore::new(self.dynamodb().await, self.table(), self.audit_table())
    }

    /// Every audit line under a partition key, from the audit table.
    pub async fn audit_items(&self, pk: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.items_in(self.audit_table(), pk).await
    }

    /// A DynamoDB client for moto, with the operator's timeouts: a test's own reads and
    /// seeding must not fail because moto is busy with another test (the functions keep
    /// their own, tighter, timeouts; tests of those build their client from
    /// [`lifecycle::aws::sdk_config`]).
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&lifecycle::aws::operator_sdk_config().await)
    }

    /// A Secrets Manager client for moto, with the operator's timeouts.
    pub async fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&lifecycle::aws::operator_sdk_config().await)
    }

    /// POSTs a delivery with the right secret.
    pub async fn deliver(&self, body: &Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(self.hook_url())
            .header(self.auth_header(), self.secret())
            .json(body)
            .send()
            .await
            .expect("gateway reachable");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// All items under a partition key in the state table, every page of the query.
    pub async fn items(&self, pk: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.items_in(self.table(), pk).await
    }

    /// All items under a partition key in `table`, every page of the query.
    pub async fn items_in(&self, table: &str, pk: &str) -> Vec<HashMap<String, AttributeValue>> {
        let client = self.dynamodb().await;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = client
                .query()
                .table_name(table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("query");
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// The jobs of a user.
    pub async fn jobs(&self, user_id: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.items(&format!("USER#{user_id}"))
            .await
            .into_iter()
            .filter(|i| text(i, "sk").starts_with("JOB#"))
            .collect()
    }

    /// Whether the dedupe marker of an event exists.
    /// The jobs of `user` made by deactivations. The local stack also enables
    /// `user.lifecycle.activate` (restore), which a newly created user raises too.
    pub async fn deactivation_jobs(&self, user_id: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut jobs = self.jobs(user_id).await;
        jobs.retain(|j| text(j, "event_type") == "user.lifecycle.deactivate");
        jobs
    }

    /// Waits until every deactivation job of `user` has left the statuses in which the
    /// engine is still working on it, and returns them; panics after `timeout`.
    pub async fn settled_jobs(
        &self,
        user_id: &str,
        timeout: std::time::Duration,
    ) -> Vec<HashMap<String, AttributeValue>> {
        let until = std::time::Instant::now() + timeout;
        loop {
            let jobs = self.deactivation_jobs(user_id).await;
            let busy = |j: &HashMap<String, AttributeValue>| {
                matches!(
                    text(j, "status").as_str(),
                    "pending" | "running" | "retrying"
                )
            };
            if !jobs.is_empty() && !jobs.iter().any(busy) {
                return jobs;
            }
            assert!(
                std::time::Instant::now() < until,
                "jobs of {user_id} still in progress after {timeout:?}: {:?}",
                jobs.iter().map(|j| text(j, "status")).collect::<Vec<_>>()
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

/// A string attribute of an item ("" if absent).
pub fn text(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// A value unique to this test run and call, usable in ids.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{nanos:x}{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Loads `tests/fixtures/<name>` and replaces every event uuid and User target id with a
/// fresh one, consistently: a uuid repeated in the fixture is repeated in the result.
pub fn fixture(name: &str) -> Value {
    let path = root().join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut value: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let mut fresh: HashMap<String, String> = HashMap::new();
    let mut renew = |old: &str, prefix: &str| {
        fresh
            .entry(old.to_string())
            .or_insert_with(|| unique(prefix))
            .clone()
    };
    if let Some(events) = value["data"]["events"].as_array_mut() {
        for event in events {
            let uuid = event["uuid"].as_str().unwrap_or_default().to_string();
            event["uuid"] = Value::String(renew(&uuid, "evt"));
            if let Some(targets) = event["target"].as_array_mut() {
                for t in targets.iter_mut().filter(|t| t["type"] == "User") {
                    let id = t["id"].as_str().unwrap_or_default().to_string();
                    t["id"] = Value::String(renew(&id, "00u"));
                }
            }
        }
    }
    value
}

/// The events of a delivery body.
pub fn events(body: &Value) -> &Vec<Value> {
    body["data"]["events"].as_array().expect("data.events")
}

/// The User target id of an event.
pub fn user_of(event: &Value) -> &str {
    event["target"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["type"] == "User"))
        .and_then(|t| t["id"].as_str())
        .expect("event has a User target")
}

/// A delivery of `n` deactivations of distinct fresh users.
pub fn deactivations(n: usize) -> Value {
    let template = fixture("deactivate.json");
    let mut body = template.clone();
    let one = events(&template)[0].clone();
    let list: Vec<Value> = (0..n)
        .map(|_| {
            let mut e = one.clone();
            e["uuid"] = Value::String(unique("evt"));
            e["target"][0]["id"] = Value::String(unique("00u"));
            e
        })
        .collect();
    body["data"]["events"] = Value::Array(list);
    body
}

impl Stack {
    /// Creates a fresh state table with the stack's definition (`.local/table.json`,
    /// written from infra/template.yaml) under a unique name, for tests that need their
    /// own state.
    pub async fn fresh_table(&self) -> String {
        self.table_like(".local/table.json", "test-table-").await
    }

    /// Creates a fresh audit table with the stack's definition (`.local/audit-table.json`),
    /// for tests that read a trail of their own.
    pub async fn fresh_audit_table(&self) -> String {
        self.table_like(".local/audit-table.json", "test-audit-")
            .await
    }

    /// A fresh state table and a fresh audit table: `(table, audit_table)`.
    pub async fn fresh_tables(&self) -> (String, String) {
        (self.fresh_table().await, self.fresh_audit_table().await)
    }

    async fn table_like(&self, definition: &str, prefix: &str) -> String {
        let path = root().join(definition);
        let def: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .expect("table.json is JSON");
        let name = unique(prefix);
        let client = self.dynamodb().await;
        let mut req = client
            .create_table()
            .table_name(&name)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest);
        for a in def["AttributeDefinitions"].as_array().expect("attributes") {
            req = req.attribute_definitions(
                aws_sdk_dynamodb::types::AttributeDefinition::builder()
                    .attribute_name(a["AttributeName"].as_str().unwrap())
                    .attribute_type(a["AttributeType"].as_str().unwrap().into())
                    .build()
                    .unwrap(),
            );
        }
        for k in def["KeySchema"].as_array().expect("key schema") {
            req = req.key_schema(
                aws_sdk_dynamodb::types::KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap())
                    .key_type(k["KeyType"].as_str().unwrap().into())
                    .build()
                    .unwrap(),
            );
        }
        for index in def["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let mut gsi = aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name(index["IndexName"].as_str().unwrap())
                .projection(
                    aws_sdk_dynamodb::types::Projection::builder()
                        .projection_type(
                            index["Projection"]["ProjectionType"]
                                .as_str()
                                .unwrap()
                                .into(),
                        )
                        .build(),
                );
            for k in index["KeySchema"].as_array().expect("index key schema") {
                gsi = gsi.key_schema(
                    aws_sdk_dynamodb::types::KeySchemaElement::builder()
                        .attribute_name(k["AttributeName"].as_str().unwrap())
                        .key_type(k["KeyType"].as_str().unwrap().into())
                        .build()
                        .unwrap(),
                );
            }
            req = req.global_secondary_indexes(gsi.build().unwrap());
        }
        req.send().await.expect("create table");
        name
    }
}

/// GET on the stack's Okta with its SSWS token: the status and the body (whatever the
/// status, `null` when it is not JSON).
pub async fn okta_get(stack: &Stack, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", stack.var("OKTA_URL")))
        .header(
            "Authorization",
            format!("SSWS {}", stack.var("OKTA_API_TOKEN")),
        )
        .header("Accept", "application/json")
        .send()
        .await
        .expect("Okta simulator reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An Okta call with the stack's SSWS token, its 429s (the other tests spent the window)
/// waited out for at most two minutes: the status and the body (`null` when not JSON).
pub async fn okta_call(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let mut req = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", stack.var("OKTA_URL")))
            .header(
                "Authorization",
                format!("SSWS {}", stack.var("OKTA_API_TOKEN")),
            )
            .header("Accept", "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("Okta simulator reachable");
        let status = resp.status().as_u16();
        if status == 429 && std::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        return (status, resp.json().await.unwrap_or(Value::Null));
    }
}

/// Calls an Okta (simulator) API with an SSWS token; panics on a non-2xx answer.
pub async fn okta_api(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("Authorization", format!("SSWS {token}"))
        .header("Accept", "application/json");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("Okta simulator reachable");
    let status = resp.status();
    assert!(status.is_success(), "{path}: {status}");
    resp.json().await.unwrap_or(Value::Null)
}

/// Creates an active user with a password; returns its id and login.
pub async fn create_okta_user(base: &str, token: &str, prefix: &str) -> (String, String) {
    let login = format!("{}@example.com", unique(prefix));
    let user = okta_api(
        base,
        token,
        reqwest::Method::POST,
        "/api/v1/users?activate=true",
        Some(serde_json::json!({
            "profile": {"firstName": "Test", "lastName": prefix, "email": login, "login": login},
            "credentials": {"password": {"value": "Correct-Horse-9"}}
        })),
    )
    .await;
    let id = user["id"].as_str().expect("user created").to_string();
    (id, login)
}

/// Deactivates a user without emailing them.
pub async fn deactivate_okta_user(base: &str, token: &str, id: &str) {
    okta_api(
        base,
        token,
        reqwest::Method::POST,
        &format!("/api/v1/users/{id}/lifecycle/deactivate?sendEmail=false"),
        None,
    )
    .await;
}
