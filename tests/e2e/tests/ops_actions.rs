//! `lifecycle-ops`'s action commands against the running local stack: the command line
//! parsed and run in-process, its requests signed with the stack's credentials and sent
//! through the gateway's IAM authorizer to the actions function, exactly as any other
//! caller's. What the actions did is read back through the simulator's Okta API.

use clap::Parser;
use e2e_tests::{create_okta_user, okta_api, unique, Stack};
use lifecycle_ops::sign::{ApiClient, Credentials};
use lifecycle_ops::{execute, Cli, Exit, Report};
use reqwest::Method;
use serde_json::{json, Value};

/// The actions API of the stack. (`.local/stack.env` names it `ACTIONS_URL` once the
/// stack is started by a `tools/stack.py` that writes it; it is `API_URL` + `/actions`.)
fn actions_url(stack: &Stack) -> String {
    format!("{}/actions", stack.api_url())
}

/// `lifecycle-ops --api-url … --region … <args>`, in-process.
async fn ops(stack: &Stack, args: &[&str]) -> Report {
    let url = actions_url(stack);
    let mut argv = vec![
        "lifecycle-ops",
        "--api-url",
        &url,
        "--region",
        stack.var("AWS_REGION"),
    ];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    execute(cli).await
}

/// `ops` with `--json`: the answer as received, parsed.
async fn ops_json(stack: &Stack, args: &[&str]) -> (Exit, Value) {
    let mut argv = vec!["--json"];
    argv.extend_from_slice(args);
    let report = ops(stack, &argv).await;
    let answer = serde_json::from_str(&report.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {report:?}"));
    (report.exit, answer)
}

async fn okta(stack: &Stack, method: Method, path: &str) -> Value {
    okta_api(
        stack.var("OKTA_URL"),
        stack.var("OKTA_API_TOKEN"),
        method,
        path,
        None,
    )
    .await
}

/// Okta's answer status for `GET /api/v1/users/{user}`.
async fn okta_user_status(stack: &Stack, user: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v1/users/{user}", stack.var("OKTA_URL")))
        .header(
            "Authorization",
            format!("SSWS {}", stack.var("OKTA_API_TOKEN")),
        )
        .send()
        .await
        .expect("simulator reachable")
        .status()
        .as_u16()
}

async fn group_names(stack: &Stack, user_id: &str) -> Vec<String> {
    let groups = okta(
        stack,
        Method::GET,
        &format!("/api/v1/users/{user_id}/groups"),
    )
    .await;
    let mut names: Vec<String> = groups
        .as_array()
        .expect("a list of groups")
        .iter()
        .map(|g| g["profile"]["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

fn login(prefix: &str) -> String {
    format!("{}@example.com", unique(prefix))
}

/// Creates a user through `sync-identity`; returns its id.
async fn synced_user(stack: &Stack, login: &str) -> String {
    let (exit, answer) = ops_json(
        stack,
        &[
            "sync-identity",
            "--login",
            login,
            "--email",
            login,
            "--first-name",
            "Ada",
            "--last-name",
            "Ops",
        ],
    )
    .await;
    assert_eq!(exit, Exit::Success, "{answer}");
    answer["results"][0]["user_id"]
        .as_str()
        .expect("a user id")
        .to_owned()
}

fn outcome(answer: &Value) -> &str {
    answer["results"][0]["outcome"].as_str().unwrap_or_default()
}

/// The request id in a table's footer, `request <id> <status>…`.
fn footer_request_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("request "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no footer in {stdout}"))
        .to_owned()
}

#[tokio::test]
async fn sync_identity_creates_a_user_and_okta_shows_it() {
    let stack = Stack::get();
    let login = login("ops-sync");
    let report = ops(
        &stack,
        &[
            "sync-identity",
            "--login",
            &login,
            "--email",
            &login,
            "--first-name",
            "Ada",
            "--last-name",
            "Ops",
            "--department",
            "Engineering",
            "--title",
            "Analyst",
            "--nick-name",
            "ada",
        ],
    )
    .await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    let first = report.stdout.lines().nth(1).expect("a row");
    assert!(
        first.contains("SYNC_IDENTITIES") && first.contains("created"),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("idempotency key ops-"),
        "{}",
        report.stdout
    );
    let user = okta(&stack, Method::GET, &format!("/api/v1/users/{login}")).await;
    assert_eq!(user["profile"]["login"], login.as_str());
    assert_eq!(user["profile"]["department"], "Engineering");
    assert_eq!(user["profile"]["title"], "Analyst");
    assert_eq!(user["profile"]["nickName"], "ada");

    let (exit, answer) = ops_json(
        &stack,
        &[
            "sync-identity",
            "--login",
            &login,
            "--email",
            &login,
            "--first-name",
            "Ada",
            "--last-name",
            "Ops",
            "--clear",
            "title",
        ],
    )
    .await;
    assert_eq!(
        (exit, outcome(&answer)),
        (Exit::Success, "updated"),
        "{answer}"
    );
    let user = okta(&stack, Method::GET, &format!("/api/v1/users/{login}")).await;
    assert!(user["profile"]["title"].is_null(), "{user}");
    assert_eq!(
        user["profile"]["department"], "Engineering",
        "left as it was"
    );
}

#[tokio::test]
async fn groups_add_then_remove_changes_memberships() {
    let stack = Stack::get();
    let login = login("ops-groups");
    let id = synced_user(&stack, &login).await;

    let report = ops(
        &stack,
        &["groups", "add", &login, "Engineering", "VPN Users"],
    )
    .await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    assert!(report.stdout.contains("+Engineering"), "{}", report.stdout);
    assert!(report.stdout.contains("+VPN Users"), "{}", report.stdout);
    let names = group_names(&stack, &id).await;
    assert!(
        names.contains(&"Engineering".to_owned()) && names.contains(&"VPN Users".to_owned()),
        "{names:?}"
    );

    let report = ops(&stack, &["groups", "remove", &id, "VPN Users"]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    assert!(report.stdout.contains("-VPN Users"), "{}", report.stdout);
    let names = group_names(&stack, &id).await;
    assert!(names.contains(&"Engineering".to_owned()), "{names:?}");
    assert!(!names.contains(&"VPN Users".to_owned()), "{names:?}");

    let report = ops(&stack, &["groups", "add", &id, "No Such Group Anywhere"]).await;
    assert_eq!(
        report.exit,
        Exit::Failed,
        "a failed action exits 1: {report:?}"
    );
}

#[tokio::test]
async fn create_group_twice_is_created_then_already_with_the_same_id() {
    let stack = Stack::get();
    let name = unique("Ops Group ");
    let (exit, first) = ops_json(&stack, &["create-group", &name, "--description", "ops"]).await;
    assert_eq!(
        (exit, outcome(&first)),
        (Exit::Success, "created"),
        "{first}"
    );
    let (exit, second) = ops_json(&stack, &["create-group", &name]).await;
    assert_eq!(
        (exit, outcome(&second)),
        (Exit::Success, "already"),
        "{second}"
    );
    let id = first["results"][0]["group_id"]
        .as_str()
        .expect("a group id");
    assert_eq!(second["results"][0]["group_id"], id);
    let group = okta(&stack, Method::GET, &format!("/api/v1/groups/{id}")).await;
    assert_eq!(group["profile"]["name"], name.as_str());
}

#[tokio::test]
async fn reset_password_prints_it_once_and_action_status_does_not() {
    let stack = Stack::get();
    let (id, login) = create_okta_user(
        stack.var("OKTA_URL"),
        stack.var("OKTA_API_TOKEN"),
        "ops-reset",
    )
    .await;
    let report = ops(&stack, &["reset-password", &login]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    let line = report
        .stdout
        .lines()
        .find(|l| l.starts_with("TEMPORARY PASSWORD"))
        .unwrap_or_else(|| panic!("no password line in {}", report.stdout));
    assert!(line.contains(&id), "{line}");
    let password = line.rsplit(": ").next().unwrap().trim().to_owned();
    assert!(password.len() >= 8, "{line}");
    assert_eq!(
        report.stdout.matches(password.as_str()).count(),
        1,
        "on its own line only: {}",
        report.stdout
    );
    let user = okta(&stack, Method::GET, &format!("/api/v1/users/{id}")).await;
    assert_eq!(user["status"], "PASSWORD_EXPIRED");

    let request_id = footer_request_id(&report.stdout);
    let status = ops(&stack, &["action-status", &request_id]).await;
    assert_eq!(status.exit, Exit::Success, "{status:?}");
    assert!(status.stdout.contains("reset"), "{}", status.stdout);
    assert!(!status.stdout.contains(&password), "{}", status.stdout);
    assert!(
        status.stdout.contains("not shown again"),
        "{}",
        status.stdout
    );
    let (exit, json) = ops_json(&stack, &["action-status", &request_id]).await;
    assert_eq!(exit, Exit::Success);
    assert!(!json.to_string().contains(&password), "{json}");
    assert_eq!(json["results"][0]["temp_password_issued"], true);
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let stack = Stack::get();
    let fresh = login("ops-dry");
    let report = ops(
        &stack,
        &[
            "--dry-run",
            "sync-identity",
            "--login",
            &fresh,
            "--email",
            &fresh,
            "--first-name",
            "Dry",
            "--last-name",
            "Run",
        ],
    )
    .await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    assert!(report.stdout.contains("planned"), "{}", report.stdout);
    assert!(
        report.stdout.contains("dry run: nothing was changed"),
        "{}",
        report.stdout
    );
    assert_eq!(okta_user_status(&stack, &fresh).await, 404, "no user made");

    let existing = login("ops-dry");
    let id = synced_user(&stack, &existing).await;
    let before = group_names(&stack, &id).await;
    // The global flag after the subcommand too.
    let (exit, answer) = ops_json(&stack, &["groups", "add", &id, "Finance", "--dry-run"]).await;
    assert_eq!(
        (exit, outcome(&answer)),
        (Exit::Success, "planned"),
        "{answer}"
    );
    assert_eq!(answer["dry_run"], true);
    assert_eq!(answer["results"][0]["changes"][0]["kind"], "add_group");
    assert_eq!(
        group_names(&stack, &id).await,
        before,
        "memberships unchanged"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_twice_returns_the_first_answer() {
    let stack = Stack::get();
    let key = unique("ops-key-");
    let name = unique("Ops Replay ");
    let (_, first) = ops_json(&stack, &["--idempotency-key", &key, "create-group", &name]).await;
    assert_eq!(
        (outcome(&first), &first["replayed"]),
        ("created", &json!(false))
    );
    let report = ops(&stack, &["--idempotency-key", &key, "create-group", &name]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    assert!(report.stdout.contains("replayed"), "{}", report.stdout);
    assert!(
        report.stdout.contains("created"),
        "the first answer: {}",
        report.stdout
    );
    let (_, again) = ops_json(&stack, &["--idempotency-key", &key, "create-group", &name]).await;
    assert_eq!(again["replayed"], true);
    assert_eq!(again["request_id"], first["request_id"]);
    assert_eq!(again["results"], first["results"]);

    let other = ops(
        &stack,
        &["--idempotency-key", &key, "create-group", "Another"],
    )
    .await;
    assert_eq!(other.exit, Exit::Refused, "{other:?}");
    assert!(other.stderr.contains("409"), "{}", other.stderr);
}

#[tokio::test]
async fn unsigned_and_wrongly_signed_requests_are_forbidden() {
    let stack = Stack::get();
    let url = actions_url(&stack);
    let body = serde_json::to_vec(&json!({"idempotency_key": unique("k"),
        "actions": [{"type": "CREATE_ENTITLEMENT", "name": unique("Never ")}]}))
    .unwrap();
    let unsigned = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("gateway reachable");
    assert_eq!(unsigned.status().as_u16(), 403);

    let region = stack.var("AWS_REGION");
    let access_key = stack.var("AWS_ACCESS_KEY_ID");
    let wrong = Credentials::new(access_key, "not-the-secret", None, None, "test");
    let client = ApiClient::new(&url, region, wrong).expect("client");
    let reply = client.post(body).await.expect("an answer");
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(
        reply.body.contains("signature"),
        "the signature is what fails: {}",
        reply.body
    );

    let options = lifecycle_ops::ActionOptions::default();
    let command = lifecycle_ops::ActionCommand::Restore {
        user: login("ops-forbidden"),
    };
    let report = lifecycle_ops::actions::perform(&client, &options, &command).await;
    assert_eq!(report.exit, Exit::Refused, "{report:?}");
    assert!(
        report.stderr.contains("forbidden (403)"),
        "{}",
        report.stderr
    );
    assert!(
        !report.stderr.contains("not-the-secret"),
        "{}",
        report.stderr
    );
    assert!(!report.stderr.contains("Signature="), "{}", report.stderr);
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_refused_naming_the_problem() {
    let stack = Stack::get();
    let aws = lifecycle::aws::sdk_config().await;
    let client = ApiClient::from_sdk_config(&actions_url(&stack), stack.var("AWS_REGION"), &aws)
        .expect("client");
    let reply = client
        .post(b"this is not JSON".to_vec())
        .await
        .expect("an answer");
    assert_eq!(reply.status, 400, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body).expect("a JSON refusal");
    assert_eq!(body["error"], "invalid_request");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not JSON"), "{body}");

    let report = lifecycle_ops::output::render(&reply, false, None);
    assert_eq!(report.exit, Exit::Refused);
    assert!(
        report.stderr.contains("the body is not JSON"),
        "{}",
        report.stderr
    );
}

#[tokio::test]
async fn deprovision_delete_and_restore_are_sent_well_formed() {
    let stack = Stack::get();
    let url = actions_url(&stack);
    let nobody = login("ops-nobody");
    let missing = Cli::try_parse_from(["lifecycle-ops", "--api-url", &url, "delete", &nobody])
        .expect_err("--confirm is required");
    assert_eq!(
        missing.kind(),
        clap::error::ErrorKind::MissingRequiredArgument
    );
    assert!(missing.to_string().contains("--confirm"), "{missing}");

    // A user nobody has, and a dry run: whatever these do when offered, here they touch
    // nothing. The API took each as a well-formed action (no 400): it answered a row.
    for (args, kind) in [
        (
            vec!["deprovision", nobody.as_str(), "--mode", "suspend"],
            "DEPROVISION_IDENTITY",
        ),
        (
            vec!["delete", nobody.as_str(), "--confirm", nobody.as_str()],
            "DELETE_IDENTITY",
        ),
        (vec!["restore", nobody.as_str()], "RESTORE_IDENTITY"),
    ] {
        let mut argv = vec!["--dry-run"];
        argv.extend(args);
        let (exit, answer) = ops_json(&stack, &argv).await;
        assert_ne!(exit, Exit::Refused, "{answer}");
        assert_eq!(answer["results"][0]["type"], kind, "{answer}");
    }
}

/// `ops_json`, then, while the answer is pending (the leaver path's job is still to run:
/// under the whole suite the stack's Okta rate budget is spent and the job waits for the
/// next window, a minute at a time), `action-status` of the request every half second
/// for up to four minutes, as a caller would.
async fn settled(stack: &Stack, args: &[&str]) -> (Exit, Value) {
    let (mut exit, mut answer) = ops_json(stack, args).await;
    let id = answer["request_id"].as_str().unwrap_or_default().to_owned();
    for _ in 0..480 {
        if exit != Exit::Pending {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        (exit, answer) = ops_json(stack, &["action-status", &id]).await;
    }
    (exit, answer)
}

#[tokio::test]
async fn deprovision_restore_and_delete_through_the_cli_change_okta_and_end_done() {
    let stack = Stack::get();
    let (id, login) = create_okta_user(
        stack.var("OKTA_URL"),
        stack.var("OKTA_API_TOKEN"),
        "ops-leaver",
    )
    .await;
    let report = ops(&stack, &["groups", "add", &id, "Sales"]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");

    // The stack's worker runs the job from the stream; the action's answer is its end.
    let (exit, answer) = settled(&stack, &["deprovision", &login]).await;
    assert_eq!(exit, Exit::Success, "{answer}");
    assert_eq!(outcome(&answer), "deprovisioned", "{answer}");
    let user = okta(&stack, Method::GET, &format!("/api/v1/users/{id}")).await;
    assert_eq!(user["status"], "DEPROVISIONED");
    assert_eq!(group_names(&stack, &id).await, ["Everyone"]);

    // Restored by this action's job, or first by the job of Okta's own activation event
    // that the restore caused (then this one is `already`): the person is back either way.
    let (exit, answer) = settled(&stack, &["restore", &id]).await;
    assert_eq!(exit, Exit::Success, "{answer}");
    assert!(
        ["restored", "already"].contains(&outcome(&answer)),
        "{answer}"
    );
    let user = okta(&stack, Method::GET, &format!("/api/v1/users/{id}")).await;
    assert_eq!(user["status"], "ACTIVE");
    assert_eq!(group_names(&stack, &id).await, ["Everyone", "Sales"]);

    let (exit, answer) = settled(&stack, &["delete", &id, "--confirm", &login]).await;
    assert_eq!(exit, Exit::Success, "{answer}");
    assert_eq!(outcome(&answer), "deleted", "{answer}");
    assert_eq!(okta_user_status(&stack, &id).await, 404, "gone from Okta");
}

/// `lifecycle-ops --stack <name> <args>` with neither a table nor an API given: both
/// come from the stack's outputs (the local stack registers its own in moto).
async fn ops_by_stack(stack: &Stack, name: &str, args: &[&str]) -> Report {
    let mut argv = vec![
        "lifecycle-ops",
        "--stack",
        name,
        "--region",
        stack.var("AWS_REGION"),
    ];
    argv.extend_from_slice(args);
    let mut cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    (cli.table, cli.audit_table, cli.api_url) = (None, None, None);
    execute(cli).await
}

#[tokio::test]
async fn the_stack_name_alone_finds_the_table_and_the_actions_api() {
    let stack = Stack::get();
    let name = stack.var("STACK_NAME");
    // A table command reads the table the stack names (another name fails to read).
    let report = ops_by_stack(&stack, name, &["fuse"]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    // The trail is read from the audit table the stack names (`AuditTableName`).
    let period = [
        "audit-export",
        "--since",
        "2026-01-01T00:00:00Z",
        "--until",
        "2026-01-02T00:00:00Z",
    ];
    let report = ops_by_stack(&stack, name, &period).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");

    let group = unique("stack-group-");
    let report = ops_by_stack(&stack, name, &["--json", "create-group", &group]).await;
    assert_eq!(report.exit, Exit::Success, "{report:?}");
    assert!(report.stdout.contains("\"created\""), "{report:?}");

    let report = ops_by_stack(&stack, "no-such-stack", &["fuse"]).await;
    assert_eq!(report.exit, Exit::Failed, "{report:?}");
    assert!(
        report.stderr.contains("no-such-stack"),
        "names the stack: {report:?}"
    );
}

#[tokio::test]
async fn status_reads_the_hook_as_okta_sees_it() {
    let stack = Stack::get();
    let name = stack.var("STACK_NAME");
    let args = |hook: &str| {
        vec![
            "status".to_owned(),
            "--okta-url".into(),
            stack.var("OKTA_URL").into(),
            "--okta-credentials-secret-id".into(),
            stack.var("OKTA_CREDENTIALS_SECRET_ID").into(),
            "--event-hook-id".into(),
            hook.into(),
        ]
    };
    let ours = args(stack.var("OKTA_EVENT_HOOK_ID"));
    let report = ops_by_stack(
        &stack,
        name,
        &ours.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let hook = report
        .stdout
        .lines()
        .skip_while(|l| l.split_whitespace().nth(1) != Some("hook"))
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(hook.contains("ACTIVE, VERIFIED"), "{report:?}");

    let other = args("whoNoSuchHook0000000");
    let report = ops_by_stack(
        &stack,
        name,
        &other.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(report.exit, Exit::Failed, "{report:?}");
    assert!(
        report
            .stdout
            .contains("Okta has no event hook whoNoSuchHook0000000"),
        "{report:?}"
    );
}
