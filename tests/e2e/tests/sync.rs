//! `lifecycle-ops sync` against the running local stack: an HR export planned against the
//! simulator's Okta and applied through the gateway's IAM-authorized actions API, run
//! in-process. Each test has its own user type (its scope) and its own group prefix.

use clap::Parser;
use e2e_tests::{unique, Stack};
use lifecycle_ops::{execute, Cli, Exit, Report};
use serde_json::{json, Value};

struct Sync {
    stack: Stack,
    user_type: String,
    prefix: String,
    dir: std::path::PathBuf,
}

impl Sync {
    async fn new(name: &str) -> Self {
        let stack = Stack::get();
        let user_type = unique(&format!("sync{name}"));
        let prefix = format!("{} ", unique("SyncG"));
        let dir = std::env::temp_dir().join(unique("sync-e2e-"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let me = Self {
            stack,
            user_type,
            prefix,
            dir,
        };
        for group in ["Eng", "Ops"] {
            let name = format!("{}{group}", me.prefix);
            let report = me.ops(&["create-group", &name]).await;
            assert_eq!(report.exit, Exit::Success, "{report:?}");
        }
        me
    }

    /// `lifecycle-ops --api-url … --region … <args>`, in-process.
    async fn ops(&self, args: &[&str]) -> Report {
        let url = format!("{}/actions", self.stack.api_url());
        let mut argv = vec![
            "lifecycle-ops",
            "--api-url",
            &url,
            "--region",
            self.stack.var("AWS_REGION"),
        ];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        execute(cli).await
    }

    /// `sync FILE` in this test's scope, with `extra` flags.
    async fn sync(&self, file: &std::path::Path, extra: &[&str]) -> Report {
        let file = file.to_str().expect("utf-8 path");
        let mut args = vec![
            "sync",
            file,
            "--scope-user-type",
            &self.user_type,
            "--manage-groups",
            &self.prefix,
            "--okta-url",
            self.stack.var("OKTA_URL"),
            "--okta-credentials-secret-id",
            self.stack.var("OKTA_CREDENTIALS_SECRET_ID"),
        ];
        args.extend_from_slice(extra);
        self.ops(&args).await
    }

    async fn plan_json(&self, file: &std::path::Path) -> Value {
        let report = self.sync(file, &["--json"]).await;
        assert_eq!(report.exit, Exit::Success, "{report:?}");
        serde_json::from_str(&report.stdout).unwrap_or_else(|e| panic!("{e}: {report:?}"))
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("file written");
        path
    }

    /// GET on Okta; its 429s waited out, any other non-2xx fails the test.
    async fn okta(&self, path: &str) -> Value {
        let (status, body) =
            e2e_tests::okta_call(&self.stack, reqwest::Method::GET, path, None).await;
        assert!((200..300).contains(&status), "{path}: {status}");
        body
    }

    async fn groups_of(&self, login: &str) -> Vec<String> {
        let user = self.okta(&format!("/api/v1/users/{login}")).await;
        let id = user["id"].as_str().expect("user exists");
        let groups = self.okta(&format!("/api/v1/users/{id}/groups")).await;
        let mut names: Vec<String> = groups
            .as_array()
            .expect("groups")
            .iter()
            .filter_map(|g| g["profile"]["name"].as_str())
            .filter(|n| n.starts_with(&self.prefix))
            .map(|n| n.trim_start_matches(&self.prefix).to_owned())
            .collect();
        names.sort();
        names
    }

    /// Each login's `lastUpdated` in Okta: any write to a user changes it.
    async fn last_updated(&self, logins: &[String]) -> Vec<Value> {
        let mut out = Vec::new();
        for login in logins {
            let user = self.okta(&format!("/api/v1/users/{login}")).await;
            out.push(json!([user["lastUpdated"], user["status"]]));
        }
        out
    }
}

struct Person {
    login: String,
    department: String,
    group: &'static str,
}

fn people(n: usize) -> Vec<Person> {
    (0..n)
        .map(|i| Person {
            login: format!("{}@example.com", unique("sync")),
            department: if i % 2 == 0 {
                "Engineering"
            } else {
                "Operations"
            }
            .into(),
            group: if i % 2 == 0 { "Eng" } else { "Ops" },
        })
        .collect()
}

fn csv(sync: &Sync, people: &[Person]) -> String {
    let mut text = String::from("login,email,first_name,last_name,department,user_type,groups\n");
    for p in people {
        text.push_str(&format!(
            "{0},{0},Ada,Sync,{1},{2},{3}{4}\n",
            p.login, p.department, sync.user_type, sync.prefix, p.group
        ));
    }
    text
}

fn ops_of(plan: &Value) -> Vec<(String, String)> {
    plan["plan"]
        .as_array()
        .expect("plan entries")
        .iter()
        .map(|e| {
            (
                e["login"].as_str().unwrap_or("?").to_owned(),
                e["op"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_file_creates_everyone_then_changes_only_what_changed_and_refuses_a_cut_file() {
    let sync = Sync::new("a").await;
    let mut everyone = people(10);
    let logins: Vec<String> = everyone.iter().map(|p| p.login.clone()).collect();

    // First run: everyone created, in their group.
    let file = sync.write("people.csv", &csv(&sync, &everyone));
    let report = sync.sync(&file, &["--apply"]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    assert_eq!(
        report.stdout.matches("create ").count(),
        10,
        "{}",
        report.stdout
    );
    assert!(report.stdout.contains("created"), "{}", report.stdout);
    for p in &everyone {
        let user = sync.okta(&format!("/api/v1/users/{}", p.login)).await;
        // Activated without e-mail and without a password: Okta's PROVISIONED.
        assert_eq!(user["status"], "PROVISIONED", "{user}");
        assert_eq!(user["profile"]["department"], p.department.as_str());
        assert_eq!(sync.groups_of(&p.login).await, [p.group]);
    }

    // Second run of the same file: unchanged for all, no write.
    let plan = sync.plan_json(&file).await;
    assert!(
        ops_of(&plan).iter().all(|(_, op)| op == "unchanged"),
        "{plan}"
    );
    assert_eq!(plan["totals"]["unchanged"], 10);
    let before = sync.last_updated(&logins).await;
    let report = sync.sync(&file, &["--apply"]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    assert!(report.stdout.contains("nothing to do"), "{}", report.stdout);
    assert_eq!(sync.last_updated(&logins).await, before, "no Okta write");

    // A changed department: one update, of that field only.
    everyone[3].department = "Finance".into();
    let changed = sync.write("changed.csv", &csv(&sync, &everyone));
    let plan = sync.plan_json(&changed).await;
    let updates: Vec<&Value> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["op"] != "unchanged")
        .collect();
    assert_eq!(updates.len(), 1, "{plan}");
    assert_eq!(updates[0]["op"], "update");
    assert_eq!(updates[0]["login"], everyone[3].login.as_str());
    assert_eq!(
        updates[0]["changes"],
        json!([{"kind": "field", "field": "department", "before": "Operations", "after": "Finance"}])
    );
    let report = sync.sync(&changed, &["--apply"]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    let user = sync
        .okta(&format!("/api/v1/users/{}", everyone[3].login))
        .await;
    assert_eq!(user["profile"]["department"], "Finance");

    // A removed row: missing, and left alone without --deprovision-missing.
    let gone = everyone.remove(9);
    let shorter = sync.write("shorter.csv", &csv(&sync, &everyone));
    let plan = sync.plan_json(&shorter).await;
    assert!(
        ops_of(&plan).contains(&(gone.login.clone(), "missing".into())),
        "{plan}"
    );
    assert_eq!(plan["totals"]["missing"], 1);
    let report = sync.sync(&shorter, &["--apply"]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    let user = sync.okta(&format!("/api/v1/users/{}", gone.login)).await;
    assert_eq!(user["status"], "PROVISIONED", "untouched");

    // A file cut in half, with --deprovision-missing: refused by the guard, nothing written.
    let before = sync.last_updated(&logins).await;
    let half = sync.write("half.csv", &csv(&sync, &everyone[..5]));
    let report = sync
        .sync(&half, &["--deprovision-missing", "--apply"])
        .await;
    assert_eq!(report.exit, Exit::Refused, "{report:?}");
    assert!(
        report.stderr.contains("--allow-short-file") && report.stderr.contains("ShortFile"),
        "{}",
        report.stderr
    );
    assert_eq!(sync.last_updated(&logins).await, before, "nothing written");
}

#[tokio::test]
async fn a_bad_email_row_is_reported_by_line_and_a_stored_plan_applies_the_rest() {
    let sync = Sync::new("b").await;
    let everyone = people(3);
    let mut text = csv(&sync, &everyone);
    let bad = format!("{}@example.com", unique("syncbad"));
    text.push_str(&format!(
        "{bad},not-an-email,Bad,Row,Engineering,{},{}Eng\n",
        sync.user_type, sync.prefix
    ));
    let file = sync.write("people.csv", &text);
    let plan_file = sync.dir.join("plan.json");
    let plan_path = plan_file.to_str().unwrap();

    let report = sync.sync(&file, &["--out", plan_path]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    let bad_line = report
        .stdout
        .lines()
        .find(|l| l.starts_with("conflict"))
        .unwrap_or_else(|| panic!("{}", report.stdout));
    assert!(bad_line.contains("line 5"), "{bad_line}");
    assert!(
        bad_line.contains("e-mail") || bad_line.contains("email"),
        "{bad_line}"
    );
    let stored: Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["digest"].as_str().unwrap().len(), 64);
    assert_eq!(stored["plan"][0]["actions"][0]["type"], "SYNC_IDENTITIES");
    assert!(
        okta_status(&sync, &everyone[0].login).await == 404,
        "a plan writes nothing"
    );

    let csv_file = sync.dir.join("report.csv");
    let csv_path = csv_file.to_str().unwrap();
    let report = sync
        .ops(&["sync", "--plan", plan_path, "--apply", "--report", csv_path])
        .await;
    assert_eq!(
        report.exit,
        Exit::Failed,
        "the bad row did not apply: {report:?}"
    );
    assert!(report.stdout.contains("failed line 5"), "{}", report.stdout);
    // The CSV report: a row per action with its outcome, and the row not applied with
    // its reason.
    let csv = std::fs::read_to_string(&csv_file).unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows[0], "line,login,action,outcome,error", "{csv}");
    for p in &everyone {
        assert!(
            rows.iter()
                .any(|r| r.contains(&format!(",{},SYNC_IDENTITIES,created,", p.login))),
            "{csv}"
        );
    }
    let not_applied = rows
        .iter()
        .find(|r| r.starts_with(&format!("5,{bad},,not_applied,")))
        .unwrap_or_else(|| panic!("{csv}"));
    assert!(not_applied.contains("mail"), "{not_applied}");
    for p in &everyone {
        assert_eq!(sync.groups_of(&p.login).await, [p.group]);
    }
    assert_eq!(okta_status(&sync, &bad).await, 404);

    // The same stored plan again: its keys replay, nothing runs twice.
    let again = sync
        .ops(&["--json", "sync", "--plan", plan_path, "--apply"])
        .await;
    let answer: Value =
        serde_json::from_str(&again.stdout).unwrap_or_else(|e| panic!("{e}: {again:?}"));
    assert_eq!(answer["outcomes"]["created"], 3, "{answer}");
    assert_eq!(answer["requests"].as_array().map(Vec::len), Some(1));
}

async fn okta_status(sync: &Sync, login: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{}/api/v1/users/{login}",
            sync.stack.var("OKTA_URL")
        ))
        .header(
            "Authorization",
            format!("SSWS {}", sync.stack.var("OKTA_API_TOKEN")),
        )
        .send()
        .await
        .expect("simulator reachable")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_row_whose_login_belongs_to_someone_outside_the_scope_is_a_conflict_left_alone() {
    let sync = Sync::new("outside").await;
    // Someone of another user type (outside this sync's scope) already has the login.
    let (id, login) = e2e_tests::create_okta_user(
        sync.stack.var("OKTA_URL"),
        sync.stack.var("OKTA_API_TOKEN"),
        "outsider",
    )
    .await;
    let before = sync.last_updated(std::slice::from_ref(&login)).await;
    let mut people = people(2);
    people[0].login = login.clone();
    let file = sync.write("outside.csv", &csv(&sync, &people));
    let plan = sync.plan_json(&file).await;
    let ops = ops_of(&plan);
    assert_eq!(ops[0], (login.clone(), "conflict".to_owned()), "{plan}");
    assert_eq!(ops[1].1, "create");
    let reason = plan["plan"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&id) && reason.contains("outside"),
        "{reason}"
    );
    let report = sync.sync(&file, &["--apply"]).await;
    assert_eq!(
        report.exit,
        Exit::Failed,
        "the conflict is reported: {report:?}"
    );
    assert_eq!(
        sync.last_updated(std::slice::from_ref(&login)).await,
        before,
        "the outsider was not touched"
    );
    assert!(sync.groups_of(&login).await.is_empty(), "nor given a group");
}

#[tokio::test]
async fn an_apply_killed_halfway_then_run_again_applies_every_row_once() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let sync = Sync::new("crash").await;
    // 60 people, a create and a group each: 120 actions, two requests.
    let everyone = people(60);
    let file = sync.write("people.csv", &csv(&sync, &everyone));
    let binary = e2e_tests::root().join("target/debug/lifecycle-ops");
    let url = format!("{}/actions", sync.stack.api_url());
    let mut child = Command::new(&binary)
        .args(["--api-url", &url, "--region", sync.stack.var("AWS_REGION")])
        .args(["sync", file.to_str().unwrap(), "--apply"])
        .args([
            "--scope-user-type",
            &sync.user_type,
            "--manage-groups",
            &sync.prefix,
        ])
        .args(["--okta-url", sync.stack.var("OKTA_URL")])
        .args([
            "--okta-credentials-secret-id",
            sync.stack.var("OKTA_CREDENTIALS_SECRET_ID"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", binary.display()));
    // Killed as soon as the first request is answered: the second never sent.
    let stderr = child.stderr.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("request 1/2"))
    })
    .await
    .unwrap();
    child.kill().expect("kill");
    child.wait().expect("reaped");
    let first = first.expect("the first request's progress line");
    assert!(first.contains("done 100 failed 0"), "{first}");
    // The request sent just before the kill (if any) runs on in the actions path, which
    // is durable whoever waits for it: count once Okta stops changing.
    let mut created = usize::MAX;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let search = format!(
        "/api/v1/users?search=profile.userType%20eq%20%22{}%22&limit=200",
        sync.user_type
    );
    loop {
        // One search a look (the users' window is shared with the other tests).
        let n = sync.okta(&search).await.as_array().map_or(0, Vec::len);
        if n == created || std::time::Instant::now() > until {
            break;
        }
        created = n;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    assert!(created >= 50, "the first request's 50 people: {created}");

    // Run again: the rows applied before the kill plan as unchanged and cost no write;
    // only the rest is created (a second create of anyone would fail the run).
    let report = sync.sync(&file, &["--apply", "--json"]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    let answer: Value = serde_json::from_str(&report.stdout).unwrap();
    assert!(
        answer["failures"].as_array().unwrap().is_empty(),
        "{answer}"
    );
    assert_eq!(
        answer["outcomes"]["created"].as_u64().unwrap_or(0),
        (everyone.len() - created) as u64,
        "{answer}"
    );
    for p in &everyone {
        let user = sync.okta(&format!("/api/v1/users/{}", p.login)).await;
        assert_eq!(user["profile"]["department"], p.department.as_str());
        assert_eq!(sync.groups_of(&p.login).await, [p.group]);
    }
    let users = sync.okta(&search).await;
    assert_eq!(
        users.as_array().unwrap().len(),
        everyone.len(),
        "one user per row"
    );
}

async fn okta_get_status(sync: &Sync, path: &str) -> u16 {
    e2e_tests::okta_call(&sync.stack, reqwest::Method::GET, path, None)
        .await
        .0
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_naming_the_other_row_or_the_holder() {
    let sync = Sync::new("dupe").await;
    // Someone outside the file (and the scope) already holds an e-mail a row names.
    let (holder_id, holder_login) = e2e_tests::create_okta_user(
        sync.stack.var("OKTA_URL"),
        sync.stack.var("OKTA_API_TOKEN"),
        "holder",
    )
    .await;
    let [a, b, c, d] = [0, 1, 2, 3].map(|_| format!("{}@example.com", unique("dupe")));
    let shared = format!("{}@example.com", unique("shared"));
    let mut text = String::from("login,email,first_name,last_name,department,user_type,groups\n");
    for (login, email) in [(&a, &shared), (&b, &shared), (&c, &holder_login), (&d, &d)] {
        text.push_str(&format!(
            "{login},{email},Ada,Sync,Engineering,{},\n",
            sync.user_type
        ));
    }
    let file = sync.write("dupes.csv", &text);
    let plan = sync.plan_json(&file).await;
    let entry = |login: &str| {
        plan["plan"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["login"] == login)
            .unwrap_or_else(|| panic!("{login} not in {plan}"))
            .clone()
    };
    let (ea, eb, ec) = (entry(&a), entry(&b), entry(&c));
    assert_eq!(ea["op"], "conflict", "{ea}");
    assert!(ea["reason"].as_str().unwrap().contains("line 3"), "{ea}");
    assert_eq!(eb["op"], "conflict", "{eb}");
    assert!(eb["reason"].as_str().unwrap().contains("line 2"), "{eb}");
    assert_eq!(ec["op"], "conflict", "{ec}");
    let reason = ec["reason"].as_str().unwrap();
    assert!(
        reason.contains(&holder_id) && reason.contains(&holder_login),
        "{ec}"
    );
    assert_eq!(entry(&d)["op"], "create");

    // Applied, only the clean row is created; the others are reported with their lines.
    let report = sync.sync(&file, &["--apply"]).await;
    assert_eq!(report.exit, Exit::Failed, "{report:?}");
    for line in ["failed line 2", "failed line 3", "failed line 4"] {
        assert!(report.stdout.contains(line), "{line}: {}", report.stdout);
    }
    assert_eq!(
        okta_get_status(&sync, &format!("/api/v1/users/{d}")).await,
        200
    );
    for login in [&a, &b, &c] {
        let path = format!("/api/v1/users/{login}");
        assert_eq!(
            okta_get_status(&sync, &path).await,
            404,
            "{login} not created"
        );
    }
}
