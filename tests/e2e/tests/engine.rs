//! The deprovisioning engine in-process, against real peers: moto (a table of its own per
//! test), an Okta simulator of its own per test, the stack's `scim2-server` and its signed
//! webhook receiver. Each test makes its own Okta user with a unique login, so SCIM
//! accounts and webhook deliveries never cross between tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::{create_okta_user, deactivate_okta_user, okta_api, text, unique, Stack};
use lifecycle::clock::Timestamp;
use lifecycle::config::EngineConfig;
use lifecycle::domain::{AcceptedEvent, IntakeContext, Source};
use lifecycle::domain::{EventType, EventUuid, UserId};
use lifecycle::domain::{JobStatus, UserRef};
use lifecycle::engine::{Engine, JobReport};
use lifecycle::okta::{ClientOptions, OktaClient, OktaCredentials};
use lifecycle::secrets::Secret;
use lifecycle::store::{held_ref, DynamoStore, IntakeStore, Key};
use lifecycle::targets::TargetsConfig;
use lifecycle_ops::{Command, OpsError, Switch};
use okta_sim::{Sim, SimOptions};
use reqwest::Method;
use serde_json::{json, Value};

const TOKEN: &str = "00sim-demo-ssws-token-TEST-ONLY";

struct World {
    stack: Stack,
    table: String,
    audit_table: String,
    okta: String,
    http: reqwest::Client,
    /// The table client of the engines built here: moto's, unless a test puts a fault
    /// proxy in between.
    table_client: Option<aws_sdk_dynamodb::Client>,
    _sim: Arc<Sim>,
}

async fn world() -> World {
    let stack = Stack::get();
    let (table, audit_table) = stack.fresh_tables().await;
    let seed = okta_sim::load_seed_file(&e2e_tests::root().join("tests/okta-sim/demo-org.json"))
        .expect("demo org");
    // A different seed per world: the ids of users created here differ between tests.
    let (addr, sim) = okta_sim::spawn(SimOptions {
        seed: unique("")
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into())),
        seed_doc: Some(seed),
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    World {
        stack,
        table,
        audit_table,
        okta: format!("http://{addr}"),
        http: reqwest::Client::new(),
        table_client: None,
        _sim: sim,
    }
}

struct Person {
    id: String,
    login: String,
    scim_id: String,
}

impl World {
    async fn engine(&self, extra: &[(&str, &str)]) -> Engine {
        self.engine_with(extra, true).await
    }

    async fn engine_with(&self, extra: &[(&str, &str)], all_targets: bool) -> Engine {
        let secret = self.stack.var("WEBHOOK_SECRET");
        self.engine_of(extra, all_targets.then_some((secret, None)))
            .await
    }

    /// An engine whose webhook signs with `secret` and, if given, `previous_secret`; or
    /// with Okta as its only target.
    async fn engine_of(
        &self,
        extra: &[(&str, &str)],
        webhook: Option<(&str, Option<&str>)>,
    ) -> Engine {
        let mut vars: HashMap<String, String> = [
            ("TABLE_NAME", self.table.as_str()),
            ("AUDIT_TABLE_NAME", self.audit_table.as_str()),
            ("OKTA_ORG_URL", self.okta.as_str()),
            ("OKTA_CREDENTIALS_SECRET_ID", "unused-here"),
            ("JOB_RETRY_DELAY_SECONDS", "0"),
            ("STEP_MAX_ATTEMPTS", "2"),
            ("STEP_TIMEOUT_SECONDS", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        let config = EngineConfig::from_lookup(|k| vars.get(k).cloned()).expect("engine config");
        let okta = OktaClient::new(
            &self.okta,
            OktaCredentials::Ssws(Secret::new(TOKEN)),
            ClientOptions {
                max_attempts: 1,
                ..ClientOptions::default()
            },
        )
        .expect("client");
        let targets = if let Some((secret, previous_secret)) = webhook {
            TargetsConfig::from_secret_json(
                &json!({
                    "scim": [{"name": "demo-app", "base_url": self.stack.var("SCIM_URL"),
                              "token": self.stack.var("SCIM_TOKEN")}],
                    "webhooks": [{"name": "internal",
                                  "url": format!("{}/hook", self.stack.var("WEBHOOK_RECEIVER_URL")),
                                  "secret": secret,
                                  "previous_secret": previous_secret}]
                })
                .to_string(),
            )
            .expect("targets")
        } else {
            TargetsConfig::default()
        };
        let client = match &self.table_client {
            Some(c) => c.clone(),
            None => self.stack.dynamodb().await,
        };
        let store = DynamoStore::new(client, &self.table, &self.audit_table);
        let targets = Engine::targets_from(&config, &okta, targets).expect("targets");
        Engine::new(store, okta, targets, config)
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        okta_api(&self.okta, TOKEN, method, path, body).await
    }

    async fn group_id(&self, name: &str) -> String {
        let groups = self
            .api(
                Method::GET,
                &format!("/api/v1/groups?q={}", name.replace(' ', "%20")),
                None,
            )
            .await;
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["profile"]["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A new Okta user in Engineering and VPN Users, with a session and a SCIM account.
    async fn person(&self, prefix: &str) -> Person {
        let (id, login) = create_okta_user(&self.okta, TOKEN, prefix).await;
        for group in ["Engineering", "VPN Users"] {
            let gid = self.group_id(group).await;
            self.api(
                Method::PUT,
                &format!("/api/v1/groups/{gid}/users/{id}"),
                None,
            )
            .await;
        }
        self.http
            .post(format!("{}/_sim/users/{id}/sessions", self.okta))
            .json(&json!({"sessions": 2, "oauthTokens": 1}))
            .send()
            .await
            .unwrap();
        let scim_id = self.scim_create(&login).await;
        Person { id, login, scim_id }
    }

    /// Replaces the simulator's fault injection.
    async fn sim_faults(&self, faults: Value) {
        let resp = self
            .http
            .post(format!("{}/_sim/faults", self.okta))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }

    async fn groups(&self, id: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .api(Method::GET, &format!("/api/v1/users/{id}/groups"), None)
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["profile"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    async fn sessions(&self, id: &str) -> (u64, u64) {
        let state: Value = self
            .http
            .get(format!("{}/_sim/state", self.okta))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let user = state["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .unwrap()
            .clone();
        (
            user["_sim"]["sessions"].as_u64().unwrap(),
            user["_sim"]["oauthTokens"].as_u64().unwrap(),
        )
    }

    fn scim(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.stack.var("SCIM_URL")))
            .header("Content-Type", "application/scim+json");
        let token = self.stack.var("SCIM_TOKEN");
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        req
    }

    async fn scim_create(&self, login: &str) -> String {
        let resp = self
            .scim(Method::POST, "/Users")
            .body(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "userName": login, "active": true})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "SCIM account created");
        let v: Value = resp.json().await.unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    async fn scim_active(&self, scim_id: &str) -> Option<bool> {
        let resp = self
            .scim(Method::GET, &format!("/Users/{scim_id}"))
            .send()
            .await
            .unwrap();
        if resp.status().as_u16() == 404 {
            return None;
        }
        let v: Value = resp.json().await.unwrap();
        Some(v["active"].as_bool().unwrap_or(true))
    }

    async fn deliveries(&self, user: &str) -> Vec<Value> {
        let url = format!(
            "{}/_deliveries?user={user}",
            self.stack.var("WEBHOOK_RECEIVER_URL")
        );
        let v: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().unwrap().clone()
    }

    async fn accepted(&self, user: &str) -> Vec<Value> {
        self.deliveries(user)
            .await
            .into_iter()
            .filter(|d| d["verified"] == true && d["status"] == 200)
            .collect()
    }

    async fn receiver_fault(&self, user: &str, count: i64) {
        let url = format!("{}/_faults", self.stack.var("WEBHOOK_RECEIVER_URL"));
        let resp = self
            .http
            .post(url)
            .json(&json!({"user": user, "status": 503, "count": count}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }

    async fn clear_receiver_fault(&self, user: &str) {
        let url = format!(
            "{}/_faults?user={user}",
            self.stack.var("WEBHOOK_RECEIVER_URL")
        );
        self.http.delete(url).send().await.unwrap();
    }

    /// Writes a job through the intake path, as the hook would.
    async fn job(
        &self,
        engine: &Engine,
        person: &Person,
        event_type: EventType,
        published: Timestamp,
    ) -> Key {
        let uuid = EventUuid::parse(&unique("evt")).unwrap();
        let user = UserId::parse(&person.id).unwrap();
        let event = AcceptedEvent {
            uuid: uuid.clone(),
            published,
            event_type,
            user: UserRef {
                id: user.clone(),
                login: Some(person.login.clone()),
                display_name: None,
            },
        };
        let ctx = IntakeContext {
            source: Source::Hook,
            received_at: Timestamp::now(),
            request_id: "test".into(),
            delivery_id: None,
            action: None,
        };
        let out = engine.store().record_events(&[event], &ctx).await.unwrap();
        assert_eq!(out.created.len(), 1);
        Key::job(&user, &published, &uuid)
    }

    /// What an operator runs: `lifecycle-ops <command>`.
    async fn ops(&self, engine: &Engine, command: Command) -> Result<String, OpsError> {
        lifecycle_ops::run(engine.store(), "tester", command).await
    }

    async fn run(&self, engine: &Engine, key: &Key) -> JobReport {
        run_once(engine, key).await.expect("the table is reachable")
    }

    async fn item(&self, key: &Key) -> HashMap<String, AttributeValue> {
        self.stack
            .dynamodb()
            .await
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.pk.clone()))
            .key("sk", AttributeValue::S(key.sk.clone()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("item exists")
    }

    async fn set(&self, key: &Key, name: &str, value: AttributeValue) {
        self.stack
            .dynamodb()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.pk.clone()))
            .key("sk", AttributeValue::S(key.sk.clone()))
            .update_expression("SET #n = :v")
            .expression_attribute_names("#n", name)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }

    /// The audit trail as `action outcome` lines, oldest first.
    async fn audit(&self, engine: &Engine, user: &str) -> Vec<String> {
        engine
            .store()
            .audit_trail(&UserId::parse(user).unwrap())
            .await
            .unwrap()
            .iter()
            .map(|line| format!("{} {}", line.action, line.outcome))
            .collect()
    }
}

fn count(lines: &[String], prefix: &str) -> usize {
    lines.iter().filter(|l| l.starts_with(prefix)).count()
}

#[tokio::test]
async fn a_deactivation_removes_access_everywhere_and_a_reactivation_gives_it_back() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("deprov").await;
    assert_eq!(
        w.groups(&p.id).await,
        ["Engineering", "Everyone", "VPN Users"]
    );

    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    let report = w.run(&engine, &key).await;
    assert_eq!(report.status, Some(JobStatus::Done), "{report:?}");
    let took = report
        .removed_after_ms
        .expect("a removal reports its time to removal");
    assert!(took < 60_000, "{took} ms from the event to done");

    assert_eq!(w.groups(&p.id).await, ["Everyone"], "only Everyone is left");
    assert_eq!(
        w.sessions(&p.id).await,
        (0, 0),
        "sessions and OAuth tokens revoked"
    );
    assert_eq!(w.scim_active(&p.scim_id).await, Some(false));
    let hooks = w.accepted(&p.id).await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["action"], "deprovision");
    let audit = w.audit(&engine, &p.id).await;
    for line in [
        "snapshot recorded",
        "plan recorded",
        "okta/remove_membership done",
        "okta/end_sessions done",
        "scim:demo-app/deactivate_account done",
        "webhook:internal/notify done",
        "job.done done",
    ] {
        assert!(
            audit.iter().any(|l| l == line),
            "{line} missing from {audit:?}"
        );
    }
    assert_eq!(count(&audit, "okta/remove_membership"), 2);
    assert_eq!(
        audit.last().unwrap(),
        "job.done done",
        "the trail is in order"
    );

    w.api(
        Method::POST,
        &format!("/api/v1/users/{}/lifecycle/activate?sendEmail=false", p.id),
        None,
    )
    .await;
    let key = w
        .job(&engine, &p, EventType::Activate, Timestamp::now())
        .await;
    let report = w.run(&engine, &key).await;
    assert_eq!(report.status, Some(JobStatus::Done), "{report:?}");
    assert_eq!(report.removed_after_ms, None, "a restore removes nothing");
    assert_eq!(
        w.groups(&p.id).await,
        ["Engineering", "Everyone", "VPN Users"]
    );
    assert_eq!(w.scim_active(&p.scim_id).await, Some(true));
    let hooks = w.accepted(&p.id).await;
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[1]["action"], "restore");
    let audit = w.audit(&engine, &p.id).await;
    assert_eq!(count(&audit, "okta/add_membership done"), 2);
    assert_eq!(count(&audit, "scim:demo-app/activate_account done"), 1);
}

#[tokio::test]
async fn duplicates_and_retries_cause_no_second_effect() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("dup").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let published = Timestamp::now();
    let hook_job = w.job(&engine, &p, EventType::Deactivate, published).await;
    assert_eq!(
        w.run(&engine, &hook_job).await.status,
        Some(JobStatus::Done)
    );

    // The same stream record again: the job is done and is not run again.
    let again = w.run(&engine, &hook_job).await;
    assert_eq!(again.status, Some(JobStatus::Done));
    // A second job for the same deactivation (the sweep's, or the delete that follows).
    let sweep_job = w
        .job(
            &engine,
            &p,
            EventType::Deactivate,
            published.plus(Duration::from_millis(5)),
        )
        .await;
    let report = w.run(&engine, &sweep_job).await;
    assert_eq!(report.status, Some(JobStatus::Skipped), "{report:?}");

    assert_eq!(w.accepted(&p.id).await.len(), 1, "one webhook, not two");
    let audit = w.audit(&engine, &p.id).await;
    assert_eq!(count(&audit, "okta/remove_membership"), 2, "{audit:?}");
    assert_eq!(count(&audit, "scim:demo-app/deactivate_account"), 1);
    assert_eq!(count(&audit, "snapshot"), 1);
}

#[tokio::test]
async fn an_out_of_order_reactivate_then_deactivate_ends_as_okta_says() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("order").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let deactivated = Timestamp::now();
    w.api(
        Method::POST,
        &format!("/api/v1/users/{}/lifecycle/activate?sendEmail=false", p.id),
        None,
    )
    .await;
    let activated = deactivated.plus(Duration::from_millis(10));
    // The reactivation's job arrives and runs first; the deactivation's comes late.
    let late_first = w.job(&engine, &p, EventType::Activate, activated).await;
    let late_second = w.job(&engine, &p, EventType::Deactivate, deactivated).await;
    assert_eq!(
        w.run(&engine, &late_first).await.status,
        Some(JobStatus::Skipped)
    );
    let report = w.run(&engine, &late_second).await;
    assert_eq!(report.status, Some(JobStatus::Stale), "{report:?}");

    // Okta says ACTIVE, and so does everything else.
    assert_eq!(
        w.groups(&p.id).await,
        ["Engineering", "Everyone", "VPN Users"]
    );
    assert_eq!(w.scim_active(&p.scim_id).await, Some(true));
    assert!(w.accepted(&p.id).await.is_empty());
}

#[tokio::test]
async fn a_target_that_fails_then_recovers_ends_done_without_repeating_what_was_done() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("flaky").await;
    // Two tries per attempt (STEP_MAX_ATTEMPTS=2): the first attempt fails, the second
    // gets through.
    w.receiver_fault(&p.id, 2).await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    let first = w.run(&engine, &key).await;
    assert_eq!(first.status, Some(JobStatus::Retrying), "{first:?}");
    assert_eq!(text(&w.item(&key).await, "status"), "retrying");
    let second = w.run(&engine, &key).await;
    assert_eq!(second.status, Some(JobStatus::Done), "{second:?}");

    assert_eq!(w.accepted(&p.id).await.len(), 1);
    // Three deliveries of one message (503, 503, 200): one webhook-id, for the receiver
    // to dedupe on, and a valid signature on each.
    let all = w.deliveries(&p.id).await;
    let statuses: Vec<&Value> = all.iter().map(|d| &d["status"]).collect();
    assert_eq!(statuses, [503, 503, 200], "{all:?}");
    assert!(all.iter().all(|d| d["verified"] == true), "{all:?}");
    let id = format!(
        "{}:deprovision:webhook:internal",
        all[0]["body"]["event"]["uuid"].as_str().unwrap()
    );
    assert!(
        all.iter()
            .all(|d| d["headers"]["webhook-id"] == id.as_str()),
        "{all:?}"
    );
    let audit = w.audit(&engine, &p.id).await;
    assert_eq!(
        count(&audit, "okta/remove_membership"),
        2,
        "done once: {audit:?}"
    );
    assert_eq!(count(&audit, "scim:demo-app/deactivate_account"), 1);
    assert_eq!(count(&audit, "webhook:internal/notify failed"), 1);
    assert_eq!(count(&audit, "webhook:internal/notify done"), 1);
}

#[tokio::test]
async fn during_a_secret_rotation_a_receiver_with_either_key_accepts_the_delivery() {
    let w = world().await;
    let stack_secret = w.stack.var("WEBHOOK_SECRET");
    // A key the receiver does not know (32 bytes of "n", base64).
    let new_secret = "whsec_bm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm4=";
    // The sender moved to a new key while the receiver still has the old one...
    let rotating = w
        .engine_of(&[], Some((new_secret, Some(stack_secret))))
        .await;
    let p = w.person("rotating").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&rotating, &p, EventType::Deactivate, Timestamp::now())
        .await;
    let report = w.run(&rotating, &key).await;
    assert_eq!(report.status, Some(JobStatus::Done), "{report:?}");
    let got = w.accepted(&p.id).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let sigs: Vec<&str> = got[0]["headers"]["webhook-signature"]
        .as_str()
        .unwrap()
        .split(' ')
        .collect();
    assert_eq!(sigs.len(), 2, "two signatures while rotating");
    assert!(sigs.iter().all(|s| s.starts_with("v1,")), "{sigs:?}");

    // ...and once the previous key is dropped, a receiver with only the old key refuses.
    let rotated = w.engine_of(&[], Some((new_secret, None))).await;
    let q = w.person("rotated").await;
    deactivate_okta_user(&w.okta, TOKEN, &q.id).await;
    let key = w
        .job(&rotated, &q, EventType::Deactivate, Timestamp::now())
        .await;
    w.run(&rotated, &key).await;
    let refused = w.deliveries(&q.id).await;
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|d| d["status"] == 401 && d["verified"] == false),
        "{refused:?}"
    );
    let one = refused[0]["headers"]["webhook-signature"].as_str().unwrap();
    assert!(!one.contains(' '), "one signature once rotated");
}

#[tokio::test]
async fn a_target_that_stays_down_ends_failed_and_an_operator_can_retry_it() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("down").await;
    w.receiver_fault(&p.id, -1).await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    let statuses: Vec<Option<JobStatus>> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(w.run(&engine, &key).await.status);
        }
        v
    };
    assert_eq!(
        statuses,
        [
            Some(JobStatus::Retrying),
            Some(JobStatus::Retrying),
            Some(JobStatus::Failed)
        ]
    );
    let item = w.item(&key).await;
    assert_eq!(text(&item, "status"), "failed");
    assert!(text(&item, "last_error").contains("503"), "{item:?}");
    // Failed means not done: the webhook step is not recorded as done.
    assert!(!format!("{:?}", item.get("steps")).contains("webhook"));
    // Nothing runs a failed job by itself.
    assert_eq!(w.run(&engine, &key).await.status, Some(JobStatus::Failed));

    w.clear_receiver_fault(&p.id).await;
    let retry = || Command::Retry {
        user: p.id.clone(),
        job: key.sk.clone(),
    };
    let said = w.ops(&engine, retry()).await.unwrap();
    assert!(said.contains("failed -> retry_requested"), "{said}");
    let report = w.run(&engine, &key).await;
    assert_eq!(report.status, Some(JobStatus::Done), "{report:?}");
    assert_eq!(w.accepted(&p.id).await.len(), 1);
    let audit = w.audit(&engine, &p.id).await;
    assert!(audit.contains(&"operator.retry_requested requested".to_string()));
    // A done job is not run again by mistake.
    let refused = w.ops(&engine, retry()).await.unwrap_err().to_string();
    assert!(refused.contains("is done"), "{refused}");
}

#[tokio::test]
async fn a_dry_run_records_the_plan_and_touches_nothing() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("dry").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    w.set(&key, "dry_run", AttributeValue::Bool(true)).await;
    let report = w.run(&engine, &key).await;
    assert_eq!(report.status, Some(JobStatus::Planned), "{report:?}");

    assert_eq!(
        w.groups(&p.id).await,
        ["Engineering", "Everyone", "VPN Users"]
    );
    assert_eq!(w.sessions(&p.id).await, (2, 1));
    assert_eq!(w.scim_active(&p.scim_id).await, Some(true));
    assert!(w.deliveries(&p.id).await.is_empty());
    let item = w.item(&key).await;
    let plan = format!("{:?}", item.get("plan"));
    assert!(
        plan.contains("okta/remove_membership")
            && plan.contains("scim:demo-app/deactivate_account")
    );
    let audit = w.audit(&engine, &p.id).await;
    assert_eq!(
        count(&audit, "okta/remove_membership planned"),
        2,
        "{audit:?}"
    );
    assert_eq!(count(&audit, "webhook:internal/notify planned"), 1);
    assert_eq!(count(&audit, "snapshot"), 0, "a dry run stores no snapshot");

    // The operator's switch for everything: CONFIG/INTEGRATION dry_run.
    w.ops(&engine, Command::DryRun { state: Switch::On })
        .await
        .unwrap();
    let other = w.person("dry-global").await;
    deactivate_okta_user(&w.okta, TOKEN, &other.id).await;
    let other_job = w
        .job(&engine, &other, EventType::Deactivate, Timestamp::now())
        .await;
    assert_eq!(
        w.run(&engine, &other_job).await.status,
        Some(JobStatus::Planned)
    );
    assert_eq!(
        w.groups(&other.id).await,
        ["Engineering", "Everyone", "VPN Users"]
    );
    assert!(w.deliveries(&other.id).await.is_empty());
    w.ops(&engine, Command::DryRun { state: Switch::Off })
        .await
        .unwrap();

    // The same job for real, afterwards, does everything.
    w.set(&key, "dry_run", AttributeValue::Bool(false)).await;
    w.ops(
        &engine,
        Command::Retry {
            user: p.id.clone(),
            job: key.sk.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(w.run(&engine, &key).await.status, Some(JobStatus::Done));
    assert_eq!(w.groups(&p.id).await, ["Everyone"]);
}

#[tokio::test]
async fn the_fuse_holds_the_26th_deprovisioning_until_it_is_released() {
    let w = world().await;
    // Okta only: the fuse counts jobs, whatever the targets.
    let engine = w
        .engine_with(
            &[("FUSE_LIMIT", "25"), ("FUSE_WINDOW_SECONDS", "600")],
            false,
        )
        .await;
    let mut keys = Vec::new();
    for i in 0..26 {
        let (id, login) = create_okta_user(&w.okta, TOKEN, &format!("fuse{i}-")).await;
        deactivate_okta_user(&w.okta, TOKEN, &id).await;
        let p = Person {
            id,
            login,
            scim_id: String::new(),
        };
        keys.push((
            w.job(&engine, &p, EventType::Deactivate, Timestamp::now())
                .await,
            p,
        ));
    }
    let mut statuses = Vec::new();
    for (key, _) in &keys {
        statuses.push(w.run(&engine, key).await.status);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == Some(JobStatus::Done))
            .count(),
        25
    );
    assert_eq!(statuses[25], Some(JobStatus::Held));

    let (held, _) = &keys[25];
    let fuse = w
        .item(&Key {
            pk: "CONFIG".into(),
            sk: "FUSE".into(),
        })
        .await;
    let held_jobs = fuse["held_jobs"].as_ss().unwrap();
    assert_eq!(
        held_jobs,
        &vec![held_ref(held)],
        "the fuse shows what it holds"
    );
    assert_eq!(fuse["held_count"].as_n().unwrap(), "1");
    assert!(text(&w.item(held).await, "reason").contains("safety fuse"));
    // Held stays held.
    assert_eq!(w.run(&engine, held).await.status, Some(JobStatus::Held));

    let said = w.ops(&engine, Command::ReleaseHeld).await.unwrap();
    assert!(said.contains("held -> released"), "{said}");
    assert_eq!(w.run(&engine, held).await.status, Some(JobStatus::Done));
    let fuse_said = w.ops(&engine, Command::Fuse).await.unwrap();
    assert!(fuse_said.contains("held_count        0"), "{fuse_said}");
    let fuse = w
        .item(&Key {
            pk: "CONFIG".into(),
            sk: "FUSE".into(),
        })
        .await;
    assert!(
        !fuse.contains_key("held_jobs"),
        "released jobs leave the list: {fuse:?}"
    );
    assert_eq!(fuse["held_count"].as_n().unwrap(), "0");
}

#[tokio::test]
async fn an_okta_read_failure_never_leads_to_an_action() {
    let w = world().await;
    let engine = w.engine(&[("JOB_MAX_ATTEMPTS", "2")]).await;
    let p = w.person("blind").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    w.sim_faults(json!({"endpoints": [{"family": "users", "status": 503, "count": 100}]}))
        .await;
    // Okta failing is waited out (it fails for every job alike), never acted through.
    for _ in 0..2 {
        assert_eq!(w.run(&engine, &key).await.status, Some(JobStatus::Retrying));
        w.set(&key, "not_before_ms", AttributeValue::N("0".into()))
            .await;
    }
    w.http
        .delete(format!("{}/_sim/faults", w.okta))
        .send()
        .await
        .unwrap();

    assert_eq!(
        w.groups(&p.id).await,
        ["Engineering", "Everyone", "VPN Users"]
    );
    assert_eq!(w.sessions(&p.id).await, (2, 1));
    assert_eq!(w.scim_active(&p.scim_id).await, Some(true));
    assert!(w.deliveries(&p.id).await.is_empty());
    let audit = w.audit(&engine, &p.id).await;
    assert_eq!(
        audit,
        ["job.deferred retrying", "job.deferred retrying"],
        "nothing but the waits"
    );
}

#[tokio::test]
async fn a_suspension_disables_and_keeps_groups_and_an_unsuspension_restores() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("suspend").await;
    let lifecycle = |op: &str| format!("/api/v1/users/{}/lifecycle/{op}", p.id);
    w.api(Method::POST, &lifecycle("suspend"), None).await;
    let key = w
        .job(&engine, &p, EventType::Suspend, Timestamp::now())
        .await;
    assert_eq!(w.run(&engine, &key).await.status, Some(JobStatus::Done));
    assert_eq!(
        w.groups(&p.id).await,
        ["Engineering", "Everyone", "VPN Users"],
        "a suspension is temporary: groups stay"
    );
    assert_eq!(w.sessions(&p.id).await, (0, 0));
    assert_eq!(w.scim_active(&p.scim_id).await, Some(false));
    assert_eq!(w.accepted(&p.id).await[0]["action"], "disable");

    w.api(Method::POST, &lifecycle("unsuspend"), None).await;
    let key = w
        .job(&engine, &p, EventType::Unsuspend, Timestamp::now())
        .await;
    assert_eq!(w.run(&engine, &key).await.status, Some(JobStatus::Done));
    assert_eq!(w.scim_active(&p.scim_id).await, Some(true));
    assert_eq!(w.accepted(&p.id).await[1]["action"], "restore");
}

#[tokio::test]
async fn with_delete_in_targets_an_okta_delete_deletes_the_scim_account() {
    let w = world().await;
    let engine = w.engine(&[("DELETE_IN_TARGETS", "true")]).await;
    let p = w.person("delete").await;
    // Okta's two-step delete: the first DELETE deactivates, the second deletes.
    for _ in 0..2 {
        let resp = w
            .http
            .delete(format!("{}/api/v1/users/{}", w.okta, p.id))
            .header("Authorization", format!("SSWS {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
    }
    let key = w
        .job(&engine, &p, EventType::DeleteInitiated, Timestamp::now())
        .await;
    let report = w.run(&engine, &key).await;
    assert_eq!(report.status, Some(JobStatus::Done), "{report:?}");
    assert_eq!(w.scim_active(&p.scim_id).await, None, "the account is gone");
    assert_eq!(w.accepted(&p.id).await[0]["action"], "delete");
    let audit = w.audit(&engine, &p.id).await;
    assert!(
        audit.contains(&"scim:demo-app/delete_account done".to_string()),
        "{audit:?}"
    );
    // Okta deleted the user and their memberships with them; ending sessions is "already".
    assert!(
        audit.contains(&"okta/end_sessions already".to_string()),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_deleted_users_login_given_to_someone_else_does_not_lead_to_their_accounts() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("reused").await;
    for _ in 0..2 {
        w.http
            .delete(format!("{}/api/v1/users/{}", w.okta, p.id))
            .header("Authorization", format!("SSWS {TOKEN}"))
            .send()
            .await
            .unwrap();
    }
    // A new hire gets the same login; the SCIM account (matched by userName) is theirs now.
    w.api(
        Method::POST,
        "/api/v1/users?activate=true",
        Some(json!({
            "profile": {"firstName": "New", "lastName": "Hire", "email": p.login, "login": p.login},
            "credentials": {"password": {"value": "Correct-Horse-9"}}
        })),
    )
    .await;
    // The old user's deactivation, late.
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    let report = w.run(&engine, &key).await;
    assert_eq!(report.status, Some(JobStatus::Done), "{report:?}");
    assert_eq!(
        w.scim_active(&p.scim_id).await,
        Some(true),
        "the new hire's account is untouched"
    );
    let audit = w.audit(&engine, &p.id).await;
    assert!(
        audit.contains(&"login.reused noted".to_string()),
        "{audit:?}"
    );
    assert_eq!(count(&audit, "scim:"), 0, "{audit:?}");
}

#[tokio::test]
async fn a_spent_okta_rate_limit_defers_the_job_without_spending_its_attempts() {
    let w = world().await;
    // One attempt only: any other temporary failure would fail the job at once.
    let engine = w.engine(&[("JOB_MAX_ATTEMPTS", "1")]).await;
    let p = w.person("limited").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    w.sim_faults(json!({"endpoints": [{"family": "users", "status": 429, "count": 1}]}))
        .await;
    let before = Timestamp::now();
    assert_eq!(w.run(&engine, &key).await.status, Some(JobStatus::Retrying));
    let item = w.item(&key).await;
    assert_eq!(
        item["attempts"].as_n().unwrap(),
        "0",
        "the attempt was given back"
    );
    assert_eq!(item["deferrals"].as_n().unwrap(), "1");
    // Not before Okta's window resets (the simulator's windows end on the minute).
    let not_before: i64 = item["not_before_ms"].as_n().unwrap().parse().unwrap();
    assert!(not_before > before.unix_millis(), "{item:?}");
    assert!(not_before <= before.unix_millis() + 66_000, "{item:?}");
    let audit = w.audit(&engine, &p.id).await;
    assert_eq!(audit, ["job.deferred retrying"], "nothing was touched");
    assert_eq!(
        w.groups(&p.id).await,
        ["Engineering", "Everyone", "VPN Users"]
    );
}

#[tokio::test]
async fn a_second_departure_after_an_unrestored_return_snapshots_what_the_person_had_then() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let p = w.person("again").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let first = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    assert_eq!(w.run(&engine, &first).await.status, Some(JobStatus::Done));

    // Back without a restore job (restore events off): an admin gives them Sales only.
    let activate = format!("/api/v1/users/{}/lifecycle/activate?sendEmail=false", p.id);
    w.api(Method::POST, &activate, None).await;
    let sales = w.group_id("Sales").await;
    w.api(
        Method::PUT,
        &format!("/api/v1/groups/{sales}/users/{}", p.id),
        None,
    )
    .await;
    // Okta's statusChanged has a resolution of a millisecond at best: a new episode.
    tokio::time::sleep(Duration::from_millis(20)).await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let second = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    assert_eq!(w.run(&engine, &second).await.status, Some(JobStatus::Done));
    assert_eq!(w.groups(&p.id).await, ["Everyone"]);
    let audit = w.audit(&engine, &p.id).await;
    assert_eq!(count(&audit, "snapshot recorded"), 1);
    assert_eq!(count(&audit, "snapshot replaced"), 1, "{audit:?}");

    // A restore now gives back what they had when they left the second time.
    w.api(Method::POST, &activate, None).await;
    let back = w
        .job(&engine, &p, EventType::Activate, Timestamp::now())
        .await;
    assert_eq!(w.run(&engine, &back).await.status, Some(JobStatus::Done));
    assert_eq!(w.groups(&p.id).await, ["Everyone", "Sales"]);
}

#[tokio::test]
async fn switching_the_hook_off_and_on_is_audited_with_the_operator() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    assert!(engine.store().integration().await.unwrap().enabled);
    let said = w.ops(&engine, Command::Disable).await.unwrap();
    assert_eq!(said, "event hook disabled\n");
    assert!(!engine.store().integration().await.unwrap().enabled);
    w.ops(&engine, Command::DryRun { state: Switch::On })
        .await
        .unwrap();
    w.ops(&engine, Command::Enable).await.unwrap();
    let integration = engine.store().integration().await.unwrap();
    assert!(integration.enabled && integration.dry_run);
    let trail = engine
        .store()
        .audit_trail_of(&lifecycle::domain::AuditSubject::Integration)
        .await
        .unwrap();
    let lines: Vec<String> = trail
        .iter()
        .map(|l| format!("{} {} {}", l.action, l.outcome, l.actor))
        .collect();
    assert_eq!(
        lines,
        [
            "switch.enabled off operator:tester",
            "switch.dry_run on operator:tester",
            "switch.enabled on operator:tester"
        ]
    );
}

#[tokio::test]
async fn jobs_that_have_not_settled_are_found_across_users_in_one_query() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let a = w.person("attention-a").await;
    let b = w.person("attention-b").await;
    deactivate_okta_user(&w.okta, TOKEN, &a.id).await;
    let done = w
        .job(&engine, &a, EventType::Deactivate, Timestamp::now())
        .await;
    let waiting = w
        .job(&engine, &b, EventType::Deactivate, Timestamp::now())
        .await;
    assert_eq!(w.run(&engine, &done).await.status, Some(JobStatus::Done));

    let pending = engine
        .store()
        .jobs_in_status(&JobStatus::Pending, None, 100)
        .await
        .unwrap();
    let ids: Vec<&str> = pending.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, [waiting.sk.as_str()], "the done job left the index");
    assert!(engine
        .store()
        .jobs_in_status(&JobStatus::Done, None, 100)
        .await
        .is_err());
    let later = Timestamp::now().plus(Duration::from_secs(3600));
    assert!(engine
        .store()
        .jobs_in_status(&JobStatus::Pending, Some(&later), 100)
        .await
        .unwrap()
        .is_empty());
    let said = w
        .ops(
            &engine,
            Command::Jobs {
                user: None,
                status: Some("pending".into()),
                since: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(
        said.contains(&waiting.sk) && !said.contains(&done.sk),
        "{said}"
    );
}

#[tokio::test]
async fn an_operator_names_a_user_by_login_in_any_case_as_well_as_by_id() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let a = w.person("by-login").await;
    deactivate_okta_user(&w.okta, TOKEN, &a.id).await;
    let job = w
        .job(&engine, &a, EventType::Deactivate, Timestamp::now())
        .await;
    assert_eq!(w.run(&engine, &job).await.status, Some(JobStatus::Done));

    let jobs = |user: &str| Command::Jobs {
        user: Some(user.to_owned()),
        status: None,
        since: None,
        limit: 10,
    };
    let by_id = w.ops(&engine, jobs(&a.id)).await.unwrap();
    let by_login = w.ops(&engine, jobs(&a.login.to_uppercase())).await.unwrap();
    assert!(by_id.contains(&job.sk), "{by_id}");
    assert_eq!(by_login, by_id, "the login finds the same user");
    let trail = w
        .ops(
            &engine,
            Command::Audit {
                user: a.login.clone(),
            },
        )
        .await
        .unwrap();
    assert!(trail.contains("remove_membership"), "{trail}");

    let unknown = w
        .ops(&engine, jobs("nobody-here@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, OpsError::User(u) if u == "nobody-here@example.com"),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn status_is_red_with_the_failed_job_and_its_target_then_green_after_a_retry() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let store = engine.store();
    // The hook verified and delivering, the poller running, as on a live stack.
    store.mark_verified(Timestamp::now()).await.unwrap();
    store.mark_delivery(Timestamp::now()).await.unwrap();
    assert!(store
        .acquire_lease("status-test", Timestamp::now(), Duration::from_secs(60))
        .await
        .unwrap());
    let ran = lifecycle::store::PollStatus {
        last_run_at: Some(Timestamp::now().to_string()),
        outcome: Some(lifecycle::domain::PollOutcome::CaughtUp),
        lag_seconds: Some(30),
        ..Default::default()
    };
    store
        .save_poll_status("status-test", Timestamp::now(), &ran)
        .await
        .unwrap();

    let p = w.person("status").await;
    w.receiver_fault(&p.id, -1).await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    for _ in 0..3 {
        w.run(&engine, &key).await;
    }
    let status = || {
        Command::Status(lifecycle_ops::status::StatusArgs {
            user: Some(p.login.clone()),
            sla: Duration::from_secs(3600),
            okta_url: None,
            okta_credentials_secret_id: None,
            event_hook_id: None,
        })
    };
    let red = match w.ops(&engine, status()).await {
        Err(OpsError::Unhealthy(screen)) => screen,
        other => panic!("red expected: {other:?}"),
    };
    let line = |screen: &str, name: &str| {
        screen
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no {name} line in\n{screen}"))
            .to_owned()
    };
    assert!(line(&red, "hook").starts_with("ok"), "{red}");
    assert!(line(&red, "poller").starts_with("ok"), "{red}");
    assert!(line(&red, "jobs").starts_with("FAIL"), "{red}");
    assert!(
        red.contains(&format!("failed {} {}", p.id, key.sk)),
        "{red}"
    );
    assert!(red.contains("503"), "the job's error is shown: {red}");
    let targets = line(&red, "targets");
    assert!(
        targets.starts_with("FAIL") && targets.contains("webhook"),
        "{red}"
    );

    w.clear_receiver_fault(&p.id).await;
    w.ops(
        &engine,
        Command::Retry {
            user: p.id.clone(),
            job: key.sk.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(w.run(&engine, &key).await.status, Some(JobStatus::Done));
    let green = w.ops(&engine, status()).await.expect("green");
    for name in ["hook", "poller", "jobs", "targets", "removal"] {
        assert!(line(&green, name).starts_with("ok"), "{name}: {green}");
    }
    assert!(line(&green, "removal").contains("1 departures"), "{green}");
}

#[tokio::test]
async fn okta_down_for_minutes_defers_the_job_and_fails_none_then_it_is_done() {
    let w = world().await;
    // One attempt only: were an outage to spend attempts, the first would fail the job.
    let engine = w.engine(&[("JOB_MAX_ATTEMPTS", "1")]).await;
    let p = w.person("outage").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    w.sim_faults(json!({"endpoints": [{"family": "users", "status": 503, "fraction": 1.0}]}))
        .await;
    for run in 1..=4 {
        let before = Timestamp::now();
        assert_eq!(
            w.run(&engine, &key).await.status,
            Some(JobStatus::Retrying),
            "run {run}"
        );
        let item = w.item(&key).await;
        assert_eq!(item["attempts"].as_n().unwrap(), "0", "run {run}: {item:?}");
        assert_eq!(*item["deferrals"].as_n().unwrap(), run.to_string());
        let not_before: i64 = item["not_before_ms"].as_n().unwrap().parse().unwrap();
        assert!(
            (before.unix_millis() + 19_000..=before.unix_millis() + 21_000).contains(&not_before),
            "waits 20 s: {item:?}"
        );
        assert!(
            text(&item, "last_error").contains("unavailable"),
            "{item:?}"
        );
        // The wait is over (the test does not sit through it).
        w.set(&key, "not_before_ms", AttributeValue::N("0".into()))
            .await;
    }
    w.http
        .delete(format!("{}/_sim/faults", w.okta))
        .send()
        .await
        .unwrap();
    assert_eq!(
        w.groups(&p.id).await.len(),
        3,
        "nothing was touched while Okta was down"
    );
    assert_eq!(w.run(&engine, &key).await.status, Some(JobStatus::Done));
    assert_eq!(w.groups(&p.id).await, ["Everyone"]);
}

/// A stream batch of the jobs at `keys`, as the table's stream sends them, numbered from
/// `first` up.
fn batch(keys: &[&Key], first: u64) -> aws_lambda_events::event::dynamodb::Event {
    let records: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            json!({
                "eventID": i.to_string(), "eventName": "INSERT", "eventVersion": "1.1",
                "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": {"S": key.pk}, "sk": {"S": key.sk}},
                    "SequenceNumber": (first + i as u64).to_string(), "SizeBytes": 10,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                }
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("a stream event")
}

#[tokio::test]
async fn a_batch_runs_users_side_by_side_and_reports_the_first_record_it_could_not_handle() {
    let w = world().await;
    let engine = w.engine(&[]).await;
    let (a, b, c) = (
        w.person("batch-a").await,
        w.person("batch-b").await,
        w.person("batch-c").await,
    );
    let mut keys = Vec::new();
    for p in [&a, &b, &c] {
        deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
        keys.push(
            w.job(&engine, p, EventType::Deactivate, Timestamp::now())
                .await,
        );
    }
    // b's job cannot be read (its item is damaged): the table fails for that record only.
    w.set(
        &keys[1],
        "published",
        AttributeValue::S("not a time".into()),
    )
    .await;
    // b's second job comes after the damaged one in the batch: it must wait for it.
    let later = Timestamp::now();
    let b_later = w.job(&engine, &b, EventType::Deactivate, later).await;

    let mut metrics = lifecycle::metrics::Metrics::invocation("deprovision");
    let response = engine
        .handle(
            batch(&[&keys[0], &keys[1], &keys[2], &b_later], 700),
            "test",
            Instant::now() + Duration::from_secs(60),
            &mut metrics,
        )
        .await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        [Some("701".to_owned())],
        "b's damaged job, the earliest"
    );

    // a and c, before and after it in the batch, ran to the end; b's later job did not
    // overtake the one the stream will hand over again.
    for (p, key) in [(&a, &keys[0]), (&c, &keys[2])] {
        assert_eq!(w.groups(&p.id).await, ["Everyone"], "{}", p.login);
        let job = engine.store().job(key).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Done);
    }
    let untouched = engine.store().job(&b_later).await.unwrap().unwrap();
    assert_eq!(untouched.status, JobStatus::Pending);
    assert_eq!(
        w.groups(&b.id).await,
        ["Engineering", "Everyone", "VPN Users"]
    );

    // Handed over again from the failed record, a's and c's done jobs are not run twice.
    let again = engine
        .handle(
            batch(&[&keys[2]], 702),
            "test",
            Instant::now() + Duration::from_secs(60),
            &mut metrics,
        )
        .await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(w.accepted(&c.id).await.len(), 1, "one webhook for c");
}

/// One run of `key` under a fresh claim; the table's failure, if it failed.
async fn run_once(engine: &Engine, key: &Key) -> Result<JobReport, String> {
    engine
        .run_job(
            key,
            &unique("claim"),
            "test",
            Instant::now() + Duration::from_secs(60),
        )
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn with_the_table_failing_steps_have_one_effect_a_failed_settle_is_retried_and_no_job_stays_running(
) {
    use e2e_tests::table_faults::{Fault, TableFaults};
    let mut w = world().await;
    let faults = TableFaults::start(w.stack.var("AWS_ENDPOINT_URL")).await;
    w.table_client = Some(faults.client().await);
    // Claims lapse after 1 s, so a run that died is taken over at once.
    let engine = w.engine(&[("JOB_CLAIM_SECONDS", "1")]).await;
    let p = w.person("tablefault").await;
    deactivate_okta_user(&w.okta, TOKEN, &p.id).await;
    let key = w
        .job(&engine, &p, EventType::Deactivate, Timestamp::now())
        .await;
    let lapse = || tokio::time::sleep(Duration::from_millis(1_500));

    // 1. Every step applied, then their record refused by the table, every one of the
    //    SDK's attempts: the run ends with the table's error; nothing is recorded.
    faults.fail_next_with("TransactWriteItems", "\"steps\"", Fault::ServerError, 3);
    let first = run_once(&engine, &key).await;
    assert!(first.is_err(), "{first:?}");
    assert_eq!(w.groups(&p.id).await, ["Everyone"], "applied in Okta");
    let job = engine.store().job(&key).await.unwrap().unwrap();
    assert!(job.steps_done.is_empty(), "{:?}", job.steps_done);
    assert_eq!(job.status, JobStatus::Running);

    // 2. Taken over (the stream's retry): every step again, "already so" where it is;
    //    the record written, its answer lost. The SDK asks again and the repeat finds
    //    the lines there: the run ends with an error, the steps are on the job.
    lapse().await;
    faults.fail_next_with("TransactWriteItems", "\"steps\"", Fault::LoseAnswer, 1);
    let second = run_once(&engine, &key).await;
    assert!(second.is_err(), "{second:?}");
    let job = engine.store().job(&key).await.unwrap().unwrap();
    assert!(!job.steps_done.is_empty(), "recorded: the write was made");

    // 3. The settle fails on every attempt: the job stays running under a lapsing claim.
    lapse().await;
    faults.fail_next_with("TransactWriteItems", "finished_at", Fault::Throttle, 3);
    let third = run_once(&engine, &key).await;
    assert!(third.is_err(), "{third:?}");
    lapse().await;
    let job = engine.store().job(&key).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Running);

    // 4. Not left running past its claim: the poller's rescue hands it on, and the run
    //    after it settles it, applying nothing again.
    assert!(engine
        .store()
        .rescue_abandoned(&job, "okta-lifecycle:poller", Timestamp::now())
        .await
        .unwrap());
    let fourth = run_once(&engine, &key).await.unwrap();
    assert_eq!(fourth.status, Some(JobStatus::Done), "{fourth:?}");
    let transactions = faults.tally("TransactWriteItems");
    assert!(transactions.failed_total() >= 7, "{transactions:?}");

    // One effect: access gone, one webhook message (its every delivery one id, for the
    // receiver to dedupe on), each step once in the trail, one end.
    assert_eq!(w.groups(&p.id).await, ["Everyone"]);
    assert_eq!(w.scim_active(&p.scim_id).await, Some(false));
    let accepted = w.accepted(&p.id).await;
    let ids: std::collections::BTreeSet<String> = accepted
        .iter()
        .map(|d| d["headers"]["webhook-id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{accepted:?}");
    let audit = w.audit(&engine, &p.id).await;
    assert_eq!(
        count(&audit, "scim:demo-app/deactivate_account"),
        1,
        "{audit:?}"
    );
    assert_eq!(count(&audit, "webhook:internal/notify"), 1);
    assert_eq!(count(&audit, "snapshot"), 1);
    assert_eq!(count(&audit, "job.done"), 1, "{audit:?}");
    assert!(!audit.iter().any(|l| l.ends_with(" failed")), "{audit:?}");
    // The group removals were made by the run whose record was lost; the next run found
    // them done in Okta and did not plan them again, and recorded each as already so.
    let trail = engine
        .store()
        .audit_trail(&UserId::parse(&p.id).unwrap())
        .await
        .unwrap();
    let removals: Vec<_> = trail
        .iter()
        .filter(|l| l.action.to_string() == "okta/remove_membership")
        .map(|l| (l.outcome.to_string(), l.detail.clone().unwrap_or_default()))
        .collect();
    assert_eq!(removals.len(), 2, "{audit:?}");
    assert!(
        removals
            .iter()
            .all(|(o, d)| o == "already" && d.contains("earlier attempt")),
        "{removals:?}"
    );
}
