//! The S3 drop on the running local stack: an HR export put into the sync bucket (moto's
//! S3, its EventBridge notification driven by tools/drops.py) is planned by the `sync`
//! function and applied; a notification delivered again changes nothing; a file a guard
//! refuses is held, listed by `sync-held` and applied by `sync-release`; a file that is
//! not an HR export is recorded as invalid. One scenario, one scope: the local stack's
//! sync function speaks for the users of type `SYNC_USER_TYPE`.

use std::time::{Duration, Instant};

use clap::Parser;
use e2e_tests::{unique, Stack};
use lifecycle::domain::{AuditSubject, DropStatus, SyncDrop};
use lifecycle::store::DynamoStore;
use lifecycle::sync::drop::{drop_id, DroppedObject};
use lifecycle_ops::{execute, Cli, Exit, Report};
use reqwest::Method;
use serde_json::{json, Value};

struct Drops {
    stack: Stack,
    s3: aws_sdk_s3::Client,
    store: DynamoStore,
}

impl Drops {
    async fn new() -> Self {
        let stack = Stack::get();
        let aws = lifecycle::aws::operator_sdk_config().await;
        // moto serves S3 on its one endpoint, path-style.
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&aws)
                .force_path_style(true)
                .build(),
        );
        let store = stack.store().await;
        Self { stack, s3, store }
    }

    fn bucket(&self) -> &str {
        self.stack.var("SYNC_BUCKET")
    }

    /// An Okta call; its 429s waited out, any other non-2xx fails the test.
    async fn okta(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) =
            e2e_tests::okta_call(&self.stack, method.clone(), path, body.as_ref()).await;
        assert!((200..300).contains(&status), "{method} {path}: {status}");
        answer
    }

    /// Nobody of the sync's user type left in Okta (an earlier run of this test), and its
    /// managed group there.
    async fn clean_scope(&self) {
        let expr = format!(
            "profile.userType eq \"{}\"",
            self.stack.var("SYNC_USER_TYPE")
        );
        let path = format!("/api/v1/users?search={}&limit=200", urlencode(&expr));
        for user in self
            .okta(Method::GET, &path, None)
            .await
            .as_array()
            .unwrap()
        {
            let id = user["id"].as_str().unwrap();
            if user["status"] != "DEPROVISIONED" {
                let deactivate = format!("/api/v1/users/{id}/lifecycle/deactivate");
                self.okta(Method::POST, &deactivate, None).await;
            }
            self.okta(Method::DELETE, &format!("/api/v1/users/{id}"), None)
                .await;
        }
        let group = format!("{}Eng", self.stack.var("SYNC_GROUPS"));
        let found = self
            .okta(Method::GET, &format!("/api/v1/groups?q={group}"), None)
            .await;
        if !found
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["profile"]["name"] == group.as_str())
        {
            let body = json!({"profile": {"name": group, "description": "sync drops"}});
            self.okta(Method::POST, "/api/v1/groups", Some(body)).await;
        }
    }

    /// Puts `text` under `incoming/`; the drop it makes.
    async fn put(&self, name: &str, text: &str) -> DroppedObject {
        let key = format!("incoming/{}-{name}", unique("hr"));
        let out = self
            .s3
            .put_object()
            .bucket(self.bucket())
            .key(&key)
            .body(text.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put object");
        DroppedObject {
            bucket: self.bucket().to_owned(),
            key,
            version: out.version_id().map(str::to_owned),
        }
    }

    /// The drop once the function settled it (up to four minutes: its reads wait for
    /// the rate-limit window when other tests spent Okta's budget).
    async fn settled(&self, object: &DroppedObject) -> SyncDrop {
        let id = drop_id(object);
        let until = Instant::now() + Duration::from_secs(240);
        loop {
            if let Some(d) = self.store.sync_drop(&id).await.expect("read drop") {
                if d.status != DropStatus::Planning {
                    return d;
                }
            }
            assert!(
                Instant::now() < until,
                "drop {id} of {} not settled",
                object.key
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// `lifecycle-ops --table … --api-url … <args>`, in-process.
    async fn ops(&self, args: &[&str]) -> Report {
        let url = format!("{}/actions", self.stack.api_url());
        let mut argv = vec![
            "lifecycle-ops",
            "--table",
            self.stack.table(),
            "--audit-table",
            self.stack.audit_table(),
            "--api-url",
            &url,
            "--region",
            self.stack.var("AWS_REGION"),
        ];
        argv.extend_from_slice(args);
        execute(Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"))).await
    }

    /// The user once `done` holds (up to four minutes).
    async fn user_when(&self, login: &str, done: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + Duration::from_secs(240);
        loop {
            let user = okta_get(&self.stack, &format!("/api/v1/users/{login}")).await;
            if let Some(user) = user.filter(|u| done(u)) {
                return user;
            }
            assert!(Instant::now() < until, "{login} never got there");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn group_names(&self, id: &str) -> Vec<String> {
        let groups = self
            .okta(Method::GET, &format!("/api/v1/users/{id}/groups"), None)
            .await;
        groups
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["profile"]["name"].as_str().map(str::to_owned))
            .collect()
    }
}

/// GET that answers `None` for a 404; its 429s waited out.
async fn okta_get(stack: &Stack, path: &str) -> Option<Value> {
    match e2e_tests::okta_call(stack, Method::GET, path, None).await {
        (404, _) => None,
        (200..=299, body) => Some(body),
        (status, _) => panic!("{path}: {status}"),
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn csv(user_type: &str, rows: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("login,email,first_name,last_name,department,user_type,groups\n");
    for (login, department, groups) in rows {
        out.push_str(&format!(
            "{login},{login},Drop,Person,{department},{user_type},{groups}\n"
        ));
    }
    out
}

#[tokio::test]
async fn a_dropped_file_is_applied_a_short_one_held_until_released_and_a_bad_one_recorded() {
    let d = Drops::new().await;
    d.clean_scope().await;
    let user_type = d.stack.var("SYNC_USER_TYPE").to_owned();
    let eng = format!("{}Eng", d.stack.var("SYNC_GROUPS"));
    let logins: Vec<String> = (0..3)
        .map(|_| format!("{}@example.com", unique("drop")))
        .collect();

    // A first file: everyone created, in their group, through the actions path.
    let rows: Vec<(&str, &str, &str)> = logins
        .iter()
        .map(|l| (l.as_str(), "Engineering", eng.as_str()))
        .collect();
    let first = d.put("people.csv", &csv(&user_type, &rows)).await;
    let applied = d.settled(&first).await;
    assert_eq!(applied.status, DropStatus::Applied, "{applied:?}");
    assert_eq!(applied.requests.len(), 1, "six actions are one request");
    let totals: Value = serde_json::from_str(applied.totals.as_deref().unwrap()).unwrap();
    assert_eq!(totals["create"], 3, "{totals}");
    for login in &logins {
        let user = d
            .user_when(login, |u| u["profile"]["department"] == "Engineering")
            .await;
        let id = user["id"].as_str().unwrap().to_owned();
        let until = Instant::now() + Duration::from_secs(60);
        while !d.group_names(&id).await.contains(&eng) {
            assert!(Instant::now() < until, "{login} never put in {eng}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    // The same notification again: the drop is settled, nothing is planned twice.
    let event = json!({"detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": first.bucket}, "object": {"key": first.key,
                   "version-id": first.version}}});
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/{}/invocations",
            d.stack.var("LAMBDA_URL"),
            d.stack.var("SYNC_FUNCTION")
        ))
        .json(&event)
        .send()
        .await
        .expect("invoke")
        .json()
        .await
        .expect("an answer");
    assert_eq!(answer, json!([format!("{} applied", applied.id)]));
    let again = d.store.sync_drop(&applied.id).await.unwrap().unwrap();
    assert_eq!(again, applied, "the drop's record is untouched");

    // A file with one of the three, her department changed: fewer rows than 90% of the
    // people in scope, so the guard holds it and Okta is untouched.
    let short = d
        .put(
            "short.csv",
            &csv(
                &user_type,
                &[(logins[0].as_str(), "Research", eng.as_str())],
            ),
        )
        .await;
    let held = d.settled(&short).await;
    assert_eq!(held.status, DropStatus::Held, "{held:?}");
    assert!(held.requests.is_empty());
    assert!(
        held.refusals.as_deref().unwrap().contains("short_file"),
        "{held:?}"
    );
    let listed = d.ops(&["--json", "sync-held"]).await;
    assert_eq!(listed.exit, Exit::Success, "{listed:?}");
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    let entry = listed["held"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == held.id.as_str())
        .unwrap_or_else(|| panic!("{} not listed: {listed}", held.id))
        .clone();
    assert_eq!(entry["refusals"][0]["kind"], "short_file", "{entry}");
    let user = okta_get(&d.stack, &format!("/api/v1/users/{}", logins[0]))
        .await
        .unwrap();
    assert_eq!(
        user["profile"]["department"], "Engineering",
        "held: nothing applied"
    );

    // Released by an operator: exactly that plan runs; the two missing are left alone.
    let released = d.ops(&["sync-release", &held.id]).await;
    assert_eq!(released.exit, Exit::Success, "{released:?}");
    d.user_when(&logins[0], |u| u["profile"]["department"] == "Research")
        .await;
    for login in &logins[1..] {
        let user = okta_get(&d.stack, &format!("/api/v1/users/{login}"))
            .await
            .unwrap();
        assert_eq!(
            user["status"], "PROVISIONED",
            "{login} missing, untouched: {user}"
        );
        assert_eq!(user["profile"]["department"], "Engineering");
    }
    let now = d.store.sync_drop(&held.id).await.unwrap().unwrap();
    assert_eq!(now.status, DropStatus::Released);
    assert!(now.released_by.as_deref().unwrap().starts_with("operator:"));
    let listed = d.ops(&["--json", "sync-held"]).await;
    assert!(
        !listed.stdout.contains(&held.id),
        "no longer held: {}",
        listed.stdout
    );
    // Released again (a crash after the release, say): the same plan, nothing redone.
    let rerun = d.ops(&["sync-release", &held.id]).await;
    assert_eq!(rerun.exit, Exit::Success, "{rerun:?}");
    assert!(rerun.stderr.contains("released before"), "{rerun:?}");

    // Not an HR export: recorded as invalid, with why.
    let bad = d.put("bad.csv", "name,colour\nAda,blue\n").await;
    let invalid = d.settled(&bad).await;
    assert_eq!(invalid.status, DropStatus::Invalid, "{invalid:?}");
    assert!(
        invalid.error.as_deref().unwrap().contains("login"),
        "{invalid:?}"
    );

    // Every drop's outcome is a line of the integration's audit trail.
    let trail = d
        .store
        .audit_trail_of(&AuditSubject::Integration)
        .await
        .unwrap();
    for (drop, action) in [
        (&applied.id, "sync.applied"),
        (&held.id, "sync.held"),
        (&held.id, "sync.released"),
        (&invalid.id, "sync.invalid"),
    ] {
        assert!(
            trail
                .iter()
                .any(|l| &l.job_id == drop && l.action.to_string() == action),
            "no {action} line for {drop}"
        );
    }
}
