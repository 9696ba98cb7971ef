//! Provisioning actions in-process against real peers: a table of their own in moto and
//! an Okta simulator of their own per test. What the actions did is read back through
//! Okta's own API, and the table is searched for what must never be in it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use e2e_tests::{create_okta_user, deactivate_okta_user, okta_api, unique, Stack};
use lifecycle::actions::{Answer, Row, SubmitError};
use lifecycle::config::EngineConfig;
use lifecycle::domain::provision::RequestStatus;
use lifecycle::domain::{AcceptedEvent, EventType, EventUuid, IntakeContext, Source, UserRef};
use lifecycle::domain::{AuditAction, AuditSubject, UserId};
use lifecycle::engine::Engine;
use lifecycle::okta::{ClientOptions, OktaClient, OktaCredentials};
use lifecycle::secrets::Secret;
use lifecycle::store::DynamoStore;
use lifecycle::store::{IntakeStore, Key};
use lifecycle::targets::TargetsConfig;
use lifecycle::worker::Worker;
use okta_sim::{Sim, SimOptions};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

const TOKEN: &str = "00sim-demo-ssws-token-TEST-ONLY";
const CALLER: &str = "arn:aws:iam::000000000000:user/hr-sync";

struct World {
    stack: Stack,
    table: String,
    audit_table: String,
    okta: String,
    worker: Worker,
    _sim: Arc<Sim>,
}

async fn world() -> World {
    world_with_fuse(25).await
}

async fn world_with_fuse(limit: u32) -> World {
    let stack = Stack::get();
    let (table, audit_table) = stack.fresh_tables().await;
    let seed = okta_sim::load_seed_file(&e2e_tests::root().join("tests/okta-sim/demo-org.json"))
        .expect("demo org");
    let (addr, sim) = okta_sim::spawn(SimOptions {
        seed: unique("")
            .bytes()
            .fold(11u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into())),
        seed_doc: Some(seed),
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    let okta = format!("http://{addr}");
    let client = OktaClient::new(
        &okta,
        OktaCredentials::Ssws(Secret::new(TOKEN)),
        ClientOptions {
            max_attempts: 2,
            backoff_base: Duration::from_millis(10),
            ..ClientOptions::default()
        },
    )
    .expect("client");
    let store = DynamoStore::new(stack.dynamodb().await, &table, &audit_table);
    let vars: HashMap<&str, String> = [
        ("TABLE_NAME", table.clone()),
        ("AUDIT_TABLE_NAME", audit_table.clone()),
        ("OKTA_ORG_URL", okta.clone()),
        ("OKTA_CREDENTIALS_SECRET_ID", "unused-here".into()),
        ("FUSE_LIMIT", limit.to_string()),
    ]
    .into_iter()
    .collect();
    let config = EngineConfig::from_lookup(|k| vars.get(k).cloned()).expect("engine config");
    let targets =
        Engine::targets_from(&config, &client, TargetsConfig::default()).expect("targets");
    World {
        worker: Worker::new(Engine::new(store, client, targets, config)),
        stack,
        table,
        audit_table,
        okta,
        _sim: sim,
    }
}

fn body(key: &str, dry_run: bool, actions: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"idempotency_key": key, "dry_run": dry_run, "actions": actions}))
        .unwrap()
}

fn person(login: &str) -> Value {
    json!({"type": "SYNC_IDENTITIES", "login": login, "email": login,
           "first_name": "Grace", "last_name": "Hopper"})
}

impl World {
    async fn submit(&self, key: &str, dry_run: bool, actions: Value) -> Answer {
        self.submit_within(key, dry_run, actions, Duration::from_secs(20))
            .await
            .expect("request taken")
    }

    async fn submit_within(
        &self,
        key: &str,
        dry_run: bool,
        actions: Value,
        time: Duration,
    ) -> Result<Answer, SubmitError> {
        self.worker
            .provisioner()
            .submit(
                CALLER,
                &body(key, dry_run, actions),
                Instant::now() + time,
                &unique("run-"),
            )
            .await
    }

    async fn okta(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        okta_api(&self.okta, TOKEN, method, path, body).await
    }

    async fn user(&self, login: &str) -> Value {
        self.okta(Method::GET, &format!("/api/v1/users/{login}"), None)
            .await
    }

    async fn group_names(&self, user_id: &str) -> Vec<String> {
        let groups = self
            .okta(
                Method::GET,
                &format!("/api/v1/users/{user_id}/groups"),
                None,
            )
            .await;
        let mut names: Vec<String> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["profile"]["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    async fn sim(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.okta));
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null)
    }

    /// Runs, as the deprovision function would, the jobs a request handed actions to;
    /// then the request's answer as its caller would read it.
    async fn run_handed(&self, answer: &Answer) -> Answer {
        let record = self
            .worker
            .provisioner()
            .store()
            .request(&answer.request_id)
            .await
            .unwrap()
            .expect("recorded");
        for reference in record.started.values() {
            if let Some(key) = Key::of_held_ref(reference) {
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                self.worker
                    .engine()
                    .run_job(&key, &unique("tok-"), "test", deadline)
                    .await
                    .unwrap();
            }
        }
        self.worker
            .provisioner()
            .status(CALLER, &answer.request_id)
            .await
            .unwrap()
            .expect("the caller's request")
    }

    /// Okta's own event for a change, from its System Log, taken in as the hook would.
    async fn okta_event(&self, event_type: &str, user_id: &str) -> Key {
        let log = self
            .okta(
                Method::GET,
                &format!("/api/v1/logs?filter=eventType+eq+%22{event_type}%22&limit=1000"),
                None,
            )
            .await;
        let event = log
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| {
                e["target"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["id"] == user_id)
            })
            .expect("Okta logged the change")
            .clone();
        let uuid = EventUuid::parse(event["uuid"].as_str().unwrap()).unwrap();
        let published =
            lifecycle::clock::Timestamp::parse(event["published"].as_str().unwrap()).unwrap();
        let user = UserId::parse(user_id).unwrap();
        let accepted = AcceptedEvent {
            uuid: uuid.clone(),
            published,
            event_type: EventType::from(event_type),
            user: UserRef {
                id: user.clone(),
                login: None,
                display_name: None,
            },
        };
        let ctx = IntakeContext {
            source: Source::Hook,
            received_at: lifecycle::clock::Timestamp::now(),
            request_id: "okta".into(),
            delivery_id: None,
            action: None,
        };
        self.worker
            .provisioner()
            .store()
            .record_events(&[accepted], &ctx)
            .await
            .unwrap();
        Key::job(&user, &published, &uuid)
    }

    /// Every item of the test's two tables (state and audit), as text.
    async fn table_text(&self) -> String {
        let mut text = String::new();
        for table in [&self.table, &self.audit_table] {
            let out = self
                .stack
                .dynamodb()
                .await
                .scan()
                .table_name(table)
                .send()
                .await
                .unwrap();
            text.push_str(&format!("{:?}", out.items()));
        }
        text
    }
}

/// The JSON rows of an answer (fresh rows without their password).
fn rows(answer: &Answer) -> Vec<Value> {
    answer.to_json()["results"].as_array().unwrap().clone()
}

fn outcomes(answer: &Answer) -> Vec<String> {
    rows(answer)
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sync_identity_creates_a_user_without_any_email_and_okta_shows_it() {
    let w = world().await;
    let login = format!("{}@example.com", unique("grace"));
    let mut action = person(&login);
    action["department"] = json!("Navy");
    action["employee_id"] = json!("E-1906");
    let answer = w.submit(&unique("k"), false, json!([action])).await;
    assert_eq!(answer.status, RequestStatus::Done);
    assert_eq!(outcomes(&answer), ["created"]);
    let user = w.user(&login).await;
    assert_eq!(user["id"], rows(&answer)[0]["user_id"]);
    assert_eq!(user["profile"]["department"], "Navy");
    assert_eq!(user["profile"]["employeeNumber"], "E-1906");
    assert_eq!(
        user["status"], "PROVISIONED",
        "activated, without a password"
    );
    let state = w.sim(Method::GET, "/_sim/state", None).await;
    let mails = state["emails"].as_array().map_or(0, Vec::len);
    assert_eq!(mails, 0, "no activation e-mail: {state:?}");
}

#[tokio::test]
async fn a_repeated_key_returns_the_first_answer_and_another_body_is_refused() {
    let w = world().await;
    let login = format!("{}@example.com", unique("repeat"));
    let key = unique("k");
    let first = w.submit(&key, false, json!([person(&login)])).await;
    let before = w.sim(Method::GET, "/_sim/counters", None).await;
    let again = w.submit(&key, false, json!([person(&login)])).await;
    let after = w.sim(Method::GET, "/_sim/counters", None).await;
    assert!(again.replayed);
    assert_eq!(rows(&again), rows(&first), "the first answer, as it was");
    assert_eq!(
        after["requests"], before["requests"],
        "Okta was not asked again"
    );

    let mut other = person(&login);
    other["title"] = json!("Admiral");
    let refused = w
        .submit_within(&key, false, json!([other]), Duration::from_secs(20))
        .await
        .unwrap_err();
    assert!(matches!(refused, SubmitError::KeyReused(_)), "{refused:?}");
    assert!(w.user(&login).await["profile"].get("title").is_none());
}

#[tokio::test]
async fn an_update_sends_only_what_differs_and_leaves_every_other_attribute() {
    let w = world().await;
    let login = format!("{}@example.com", unique("partial"));
    let mut create = person(&login);
    create["title"] = json!("Rear Admiral");
    create["department"] = json!("Navy");
    w.submit(&unique("k"), false, json!([create])).await;
    let mut update = person(&login);
    update["department"] = json!("Computing");
    let answer = w.submit(&unique("k"), false, json!([update])).await;
    assert_eq!(outcomes(&answer), ["updated"]);
    assert_eq!(
        rows(&answer)[0]["changes"],
        json!([{"kind": "field", "field": "department", "before": "Navy", "after": "Computing"}])
    );
    let profile = w.user(&login).await["profile"].clone();
    assert_eq!(profile["department"], "Computing");
    assert_eq!(profile["title"], "Rear Admiral", "not sent, not touched");
    let same = w.submit(&unique("k"), false, json!([person(&login)])).await;
    assert_eq!(outcomes(&same), ["unchanged"]);
}

#[tokio::test]
async fn a_login_change_and_a_duplicate_email_are_refused_whoever_holds_it() {
    let w = world().await;
    let login = format!("{}@example.com", unique("holder"));
    w.submit(&unique("k"), false, json!([person(&login)])).await;
    let (gone_id, gone_login) = create_okta_user(&w.okta, TOKEN, "gone").await;
    deactivate_okta_user(&w.okta, TOKEN, &gone_id).await;

    let mut case_change = person(&login.to_uppercase());
    case_change["email"] = json!(login);
    let mut taken = person(&format!("{}@example.com", unique("new")));
    taken["email"] = json!(login.to_uppercase());
    let mut deactivated_holder = person(&format!("{}@example.com", unique("new")));
    deactivated_holder["email"] = json!(gone_login);
    let answer = w
        .submit(
            &unique("k"),
            false,
            json!([case_change, taken, deactivated_holder]),
        )
        .await;
    assert_eq!(outcomes(&answer), ["failed", "failed", "failed"]);
    let errors: Vec<String> = rows(&answer)
        .iter()
        .map(|r| r["error"].as_str().unwrap().to_owned())
        .collect();
    assert!(errors[0].contains("a login never changes"), "{}", errors[0]);
    assert!(errors[1].contains("already held by"), "{}", errors[1]);
    assert!(
        errors[2].contains(&gone_id),
        "names the deactivated holder: {}",
        errors[2]
    );
}

#[tokio::test]
async fn group_memberships_change_only_among_okta_groups() {
    let w = world().await;
    let (id, login) = create_okta_user(&w.okta, TOKEN, "member").await;
    let answer = w
        .submit(
            &unique("k"),
            false,
            json!([
                {"type": "MANAGE_RELATIONSHIPS", "user": login, "add": ["Engineering", "Sales"]},
                {"type": "MANAGE_RELATIONSHIPS", "user": id, "remove": ["Sales"], "add": ["Engineering"]},
                {"type": "MANAGE_RELATIONSHIPS", "user": login, "add": ["Everyone"]},
                {"type": "MANAGE_RELATIONSHIPS", "user": login, "add": ["No Such Group"]},
                {"type": "MANAGE_RELATIONSHIPS", "user": login, "set": ["Finance"]},
            ]),
        )
        .await;
    assert_eq!(
        outcomes(&answer),
        ["added", "removed", "failed", "failed", "added"]
    );
    let r = rows(&answer);
    assert!(
        r[2]["error"].as_str().unwrap().contains("Everyone"),
        "{:?}",
        r[2]
    );
    assert!(
        r[3]["error"].as_str().unwrap().contains("No Such Group"),
        "{:?}",
        r[3]
    );
    assert_eq!(
        w.group_names(&id).await,
        ["Everyone", "Finance"],
        "set replaced Engineering by Finance and kept Everyone"
    );
}

#[tokio::test]
async fn create_entitlement_creates_once_and_then_finds_the_same_group() {
    let w = world().await;
    let name = unique("Analysts ");
    let action = json!({"type": "CREATE_ENTITLEMENT", "name": name, "description": "who analyse"});
    let first = w.submit(&unique("k"), false, json!([action.clone()])).await;
    let second = w.submit(&unique("k"), false, json!([action])).await;
    assert_eq!(outcomes(&first), ["created"]);
    assert_eq!(outcomes(&second), ["already"]);
    assert_eq!(rows(&first)[0]["group_id"], rows(&second)[0]["group_id"]);
    let id = rows(&first)[0]["group_id"].as_str().unwrap().to_owned();
    let group = w
        .okta(Method::GET, &format!("/api/v1/groups/{id}"), None)
        .await;
    assert_eq!(group["type"], "OKTA_GROUP");
    assert_eq!(group["profile"]["description"], "who analyse");
    // The audit line of a group action belongs to the group.
    let trail = w
        .worker
        .provisioner()
        .store()
        .audit_trail_of(&AuditSubject::Group(id))
        .await
        .unwrap();
    assert_eq!(trail.len(), 2);
    assert!(trail.iter().all(|l| l.actor == CALLER));
}

#[tokio::test]
async fn a_temporary_password_is_in_the_first_answer_only_and_nowhere_in_the_table() {
    let w = world().await;
    let (id, login) = create_okta_user(&w.okta, TOKEN, "reset").await;
    let key = unique("k");
    let actions = json!([{"type": "RESET_PASSWORD", "user": login}]);
    let answer = w.submit(&key, false, actions.clone()).await;
    assert_eq!(outcomes(&answer), ["reset"]);
    let Row::Fresh(result) = &answer.results[0] else {
        panic!("a fresh row")
    };
    let password = result
        .temp_password
        .as_ref()
        .expect("a password")
        .expose()
        .to_owned();
    assert!(password.len() >= 8);
    assert_eq!(answer.to_json()["results"][0]["temp_password"], password);
    assert!(answer.has_secret());
    assert!(
        !format!("{answer:?}").contains(&password),
        "Debug never shows it"
    );
    assert_eq!(w.user(&id).await["status"], "PASSWORD_EXPIRED");

    let table = w.table_text().await;
    assert!(
        !table.contains(&password),
        "the password is in no table item"
    );
    assert!(
        table.contains("temp_password_issued"),
        "the trail says one was issued"
    );

    let again = w.submit(&key, false, actions).await;
    assert!(again.replayed && !again.has_secret());
    assert_eq!(again.to_json()["results"][0]["temp_password_issued"], true);
    assert!(again.to_json()["results"][0].get("temp_password").is_none());
}

#[tokio::test]
async fn a_dry_run_plans_every_change_and_touches_nothing() {
    let w = world().await;
    let (id, login) = create_okta_user(&w.okta, TOKEN, "dry").await;
    let new_login = format!("{}@example.com", unique("dry-new"));
    let log = |w: &World| {
        let okta = w.okta.clone();
        async move {
            okta_api(&okta, TOKEN, Method::GET, "/api/v1/logs?limit=1000", None)
                .await
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    let events_before = log(&w).await;
    let answer = w
        .submit(
            &unique("k"),
            true,
            json!([
                person(&new_login),
                {"type": "MANAGE_RELATIONSHIPS", "user": login, "add": ["Sales"]},
                {"type": "CREATE_ENTITLEMENT", "name": unique("Dry ")},
                {"type": "RESET_PASSWORD", "user": login},
            ]),
        )
        .await;
    assert!(answer.dry_run);
    assert_eq!(
        outcomes(&answer),
        ["planned", "planned", "planned", "planned"]
    );
    assert_eq!(rows(&answer)[1]["changes"][0]["name"], "Sales");
    assert_eq!(log(&w).await, events_before, "Okta logged no change at all");
    let state = w.sim(Method::GET, "/_sim/state", None).await;
    let logins: Vec<&str> = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["profile"]["login"].as_str())
        .collect();
    assert!(!logins.contains(&new_login.as_str()), "no user created");
    assert_eq!(w.group_names(&id).await, ["Everyone"]);
    assert_eq!(w.user(&id).await["status"], "ACTIVE", "no reset");
}

#[tokio::test]
async fn actions_okta_cannot_take_now_stay_pending_and_finish_later() {
    let w = world().await;
    let login = format!("{}@example.com", unique("later"));
    w.sim(
        Method::POST,
        "/_sim/faults",
        Some(json!({"endpoints": [{"family": "users", "status": 503, "fraction": 1.0}]})),
    )
    .await;
    let key = unique("k");
    let answer = w.submit(&key, false, json!([person(&login)])).await;
    assert_eq!(answer.status, RequestStatus::Pending);
    assert_eq!(
        outcomes(&answer),
        ["pending"],
        "an outage never fails an action"
    );
    w.sim(Method::DELETE, "/_sim/faults", None).await;

    let done = w
        .worker
        .provisioner()
        .carry_on(
            &answer.request_id,
            &unique("worker-"),
            Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap()
        .expect("still pending");
    assert_eq!(done.status, RequestStatus::Done);
    assert_eq!(outcomes(&done), ["created"]);
    assert_eq!(w.user(&login).await["profile"]["login"], login.as_str());
    let status = w
        .worker
        .provisioner()
        .status(CALLER, &answer.request_id)
        .await
        .unwrap()
        .expect("the caller sees it");
    assert_eq!(status.status, RequestStatus::Done);
    assert!(w
        .worker
        .provisioner()
        .status(
            "arn:aws:iam::000000000000:user/someone-else",
            &answer.request_id
        )
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn no_time_left_leaves_every_action_pending_and_the_key_carries_on() {
    let w = world().await;
    let login = format!("{}@example.com", unique("budget"));
    let key = unique("k");
    let answer = w
        .submit_within(&key, false, json!([person(&login)]), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(outcomes(&answer), ["pending"]);
    // The caller repeats its key once the run's claim has been given up.
    let again = w.submit(&key, false, json!([person(&login)])).await;
    assert!(again.replayed);
    assert_eq!(outcomes(&again), ["created"]);
    let user_id = UserId::parse(rows(&again)[0]["user_id"].as_str().unwrap()).unwrap();
    let trail = w
        .worker
        .provisioner()
        .store()
        .audit_trail_of(&AuditSubject::User(user_id))
        .await
        .unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(
        trail[0].action,
        AuditAction::Provision(lifecycle::domain::provision::ActionType::SyncIdentities)
    );
    assert_eq!(trail[0].actor, CALLER);
}

#[tokio::test]
async fn a_deprovision_on_request_takes_the_leaver_path_and_oktas_own_event_is_skipped() {
    let w = world().await;
    let (id, login) = create_okta_user(&w.okta, TOKEN, "leaver").await;
    w.submit(
        &unique("k"),
        false,
        json!([{"type": "MANAGE_RELATIONSHIPS", "user": id, "add": ["Engineering", "VPN Users"]}]),
    )
    .await;
    let actions = json!([{"type": "DEPROVISION_IDENTITY", "user": login}]);
    let answer = w
        .submit_within(&unique("k"), false, actions, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(outcomes(&answer), ["pending"], "the job has not run yet");
    assert_eq!(w.user(&id).await["status"], "DEPROVISIONED");

    let done = w.run_handed(&answer).await;
    assert_eq!(done.status, RequestStatus::Done);
    assert_eq!(outcomes(&done), ["deprovisioned"]);
    assert_eq!(
        w.group_names(&id).await,
        ["Everyone"],
        "the leaver path removed the groups"
    );
    let steps = rows(&done)[0]["changes"].to_string();
    assert!(
        steps.contains("remove_membership") && steps.contains("end_sessions"),
        "{steps}"
    );

    // Okta's own deactivate event for the same change comes to nothing.
    let okta_job = w.okta_event("user.lifecycle.deactivate", &id).await;
    let report = w
        .worker
        .engine()
        .run_job(
            &okta_job,
            "tok",
            "test",
            std::time::Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(
        report.status,
        Some(lifecycle::domain::JobStatus::Skipped),
        "{report:?}"
    );

    // The attributes at that moment are in the trail, with who asked.
    let trail = w
        .worker
        .provisioner()
        .store()
        .audit_trail(&UserId::parse(&id).unwrap())
        .await
        .unwrap();
    let kept = trail
        .iter()
        .find(|l| {
            l.detail
                .as_deref()
                .is_some_and(|d| d.contains("\"profile\""))
        })
        .expect("an attributes line");
    assert_eq!(kept.actor, CALLER);
    assert!(kept.detail.as_deref().unwrap().contains(&login));
}

#[tokio::test]
async fn a_restore_on_request_activates_without_email_and_gives_the_groups_back() {
    let w = world().await;
    let (id, login) = create_okta_user(&w.okta, TOKEN, "comeback").await;
    w.submit(
        &unique("k"),
        false,
        json!([{"type": "MANAGE_RELATIONSHIPS", "user": id, "add": ["Sales"]}]),
    )
    .await;
    let gone = w
        .submit_within(
            &unique("k"),
            false,
            json!([{"type": "DEPROVISION_IDENTITY", "user": id}]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    w.run_handed(&gone).await;
    assert_eq!(w.group_names(&id).await, ["Everyone"]);
    let emails_before = w.sim(Method::GET, "/_sim/state", None).await["emails"]
        .as_array()
        .map_or(0, Vec::len);

    let back = w
        .submit_within(
            &unique("k"),
            false,
            json!([{"type": "RESTORE_IDENTITY", "user": login}]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let back = w.run_handed(&back).await;
    assert_eq!(outcomes(&back), ["restored"]);
    assert_eq!(w.user(&id).await["status"], "ACTIVE");
    assert_eq!(w.group_names(&id).await, ["Everyone", "Sales"]);
    let emails_after = w.sim(Method::GET, "/_sim/state", None).await["emails"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(emails_after, emails_before, "activated without an e-mail");

    let again = w
        .submit(
            &unique("k"),
            false,
            json!([{"type": "RESTORE_IDENTITY", "user": login}]),
        )
        .await;
    assert_eq!(outcomes(&again), ["already"]);
}

#[tokio::test]
async fn a_delete_needs_the_login_repeated_and_is_confirmed_by_a_404() {
    let w = world().await;
    let (id, login) = create_okta_user(&w.okta, TOKEN, "delete").await;
    let wrong = w
        .submit(
            &unique("k"),
            false,
            json!([{"type": "DELETE_IDENTITY", "user": id, "confirm": "someone@example.com"}]),
        )
        .await;
    assert_eq!(outcomes(&wrong), ["failed"]);
    assert!(rows(&wrong)[0]["error"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    assert_eq!(w.user(&id).await["status"], "ACTIVE", "nothing happened");

    let delete = json!([{"type": "DELETE_IDENTITY", "user": id, "confirm": login.to_uppercase()}]);
    let answer = w
        .submit_within(&unique("k"), false, delete.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    let done = w.run_handed(&answer).await;
    assert_eq!(outcomes(&done), ["deleted"]);
    let status = reqwest::Client::new()
        .get(format!("{}/api/v1/users/{id}", w.okta))
        .header("Authorization", format!("SSWS {TOKEN}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404, "Okta no longer knows the user");
    let again = w.submit(&unique("k"), false, delete).await;
    assert_eq!(
        outcomes(&again),
        ["already"],
        "a user already gone is success"
    );
}

#[tokio::test]
async fn the_fuse_stops_a_deprovision_on_request_before_okta_is_touched() {
    let w = world_with_fuse(1).await;
    let (first, _) = create_okta_user(&w.okta, TOKEN, "fuse-a").await;
    let (second, _) = create_okta_user(&w.okta, TOKEN, "fuse-b").await;
    let answer = w
        .submit_within(
            &unique("k"),
            false,
            json!([
                {"type": "DEPROVISION_IDENTITY", "user": first},
                {"type": "DEPROVISION_IDENTITY", "user": second},
            ]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let answer = w.run_handed(&answer).await;
    assert_eq!(outcomes(&answer), ["deprovisioned", "failed"]);
    assert!(rows(&answer)[1]["error"]
        .as_str()
        .unwrap()
        .contains("safety fuse"));
    assert_eq!(w.user(&second).await["status"], "ACTIVE", "Okta untouched");
    let fuse = w
        .worker
        .provisioner()
        .store()
        .fuse_state()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fuse.held_count, 0, "nothing left held for an operator");
}

#[tokio::test]
async fn a_dry_run_of_a_deprovision_lists_the_change_and_makes_none() {
    let w = world().await;
    let (id, login) = create_okta_user(&w.okta, TOKEN, "dry-leaver").await;
    w.submit(
        &unique("k"),
        false,
        json!([{"type": "MANAGE_RELATIONSHIPS", "user": id, "add": ["Finance"]}]),
    )
    .await;
    let answer = w
        .submit(
            &unique("k"),
            true,
            json!([{"type": "DEPROVISION_IDENTITY", "user": login}]),
        )
        .await;
    assert_eq!(outcomes(&answer), ["planned"]);
    let changes = rows(&answer)[0]["changes"].clone();
    assert_eq!(
        changes[0],
        json!({"kind": "status", "before": "ACTIVE", "after": "DEPROVISIONED"})
    );
    assert_eq!(changes[1]["name"], "Finance");
    assert_eq!(w.user(&id).await["status"], "ACTIVE");
    assert_eq!(w.group_names(&id).await, ["Everyone", "Finance"]);
}

/// The stream record of a change to request `id`, as the table's stream sends it.
fn request_record(id: &str, sequence: &str) -> aws_lambda_events::event::dynamodb::Event {
    serde_json::from_value(json!({
        "Records": [{
            "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"pk": {"S": format!("REQUEST#{id}")}, "sk": {"S": "REQUEST"}},
                "SequenceNumber": sequence, "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        }]
    }))
    .expect("a stream event")
}

#[tokio::test]
async fn the_worker_carries_on_a_pending_request_from_its_stream_record() {
    let w = world().await;
    let login = format!("{}@example.com", unique("worker"));
    w.sim(
        Method::POST,
        "/_sim/faults",
        Some(json!({"endpoints": [{"family": "users", "status": 503, "fraction": 1.0}]})),
    )
    .await;
    let answer = w.submit(&unique("k"), false, json!([person(&login)])).await;
    assert_eq!(answer.status, RequestStatus::Pending);
    w.sim(Method::DELETE, "/_sim/faults", None).await;

    // The record the table's stream sends when the request was left pending.
    let record = request_record(&answer.request_id, "100");
    let response = w
        .worker
        .handle(
            record,
            "test",
            std::time::Instant::now() + Duration::from_secs(20),
        )
        .await;
    assert!(response.batch_item_failures.is_empty());
    let status = w
        .worker
        .provisioner()
        .status(CALLER, &answer.request_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.status, RequestStatus::Done);
    assert_eq!(outcomes(&status), ["created"]);
    assert_eq!(w.user(&login).await["profile"]["login"], login.as_str());
}

#[tokio::test]
async fn the_worker_parks_a_request_that_waits_only_on_its_jobs_and_the_read_derives_them() {
    let w = world().await;
    let (id, login) = create_okta_user(&w.okta, TOKEN, "parked").await;
    let actions = json!([{"type": "DEPROVISION_IDENTITY", "user": login}]);
    let answer = w
        .submit_within(&unique("k"), false, actions, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(outcomes(&answer), ["pending"], "the job has not run yet");
    let store = w.worker.provisioner().store();
    let record = store.request(&answer.request_id).await.unwrap().unwrap();
    assert!(
        record.parked,
        "only a job is open: the stream filter must not hand it to the worker"
    );

    // Should a stream record reach the worker all the same, it looks at the job once and
    // leaves it to its own lane: the job is still where the request left it.
    let record = request_record(&answer.request_id, "101");
    let response = w
        .worker
        .handle(
            record,
            "test",
            std::time::Instant::now() + Duration::from_secs(30),
        )
        .await;
    assert!(response.batch_item_failures.is_empty());
    let after = store.request(&answer.request_id).await.unwrap().unwrap();
    assert_eq!(after.status, RequestStatus::Pending);
    assert!(after.parked, "parked again: the worker has nothing to do");
    let job = store
        .job(&Key::of_held_ref(&after.started[&0]).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, lifecycle::domain::JobStatus::Pending);

    // The job runs in its lane; the caller's read derives the answer from it.
    let done = w.run_handed(&answer).await;
    assert_eq!(done.status, RequestStatus::Done);
    assert_eq!(outcomes(&done), ["deprovisioned"]);
    assert_eq!(w.group_names(&id).await, ["Everyone"]);
}
