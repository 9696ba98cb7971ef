//! Provisioning actions through the running local stack, as an IAM caller reaches them:
//! SigV4-signed requests to the gateway (which verifies the signature), the actions
//! function under `cargo lambda watch`, the stack's Okta simulator and table in moto, and
//! for the leaver path the deprovision function fed by the table's stream. What the
//! actions did is read back through Okta's own API and the table.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use e2e_tests::{create_okta_user, okta_api, okta_get, text, unique, Stack};
use reqwest::Method;
use serde_json::{json, Value};

/// The caller the gateway names for the stack's credentials (tools/gateway.py).
const LOCAL_CALLER: &str = "arn:aws:iam::000000000000:user/local";

/// One answer of the actions API.
#[derive(Debug)]
struct Reply {
    status: u16,
    cache_control: Option<String>,
    body: Value,
}

/// `method` `path` on the stack's API with `body`, signed with the stack's credentials
/// for execute-api (or not at all).
async fn call(stack: &Stack, method: Method, path: &str, body: Vec<u8>, signed: bool) -> Reply {
    let url = format!("{}{path}", stack.api_url());
    let mut req = reqwest::Client::new()
        .request(method.clone(), &url)
        .header("content-type", "application/json");
    if signed {
        for (name, value) in signature(stack, method.as_str(), &url, &body) {
            req = req.header(name, value);
        }
    }
    let resp = req.body(body).send().await.expect("gateway reachable");
    let status = resp.status().as_u16();
    let cache_control = resp
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = resp.bytes().await.expect("answer read");
    let body = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    Reply {
        status,
        cache_control,
        body,
    }
}

/// The headers SigV4 adds (`authorization`, `x-amz-date`) for a request with only a
/// content type besides the host, which the signer takes from the URL.
fn signature(stack: &Stack, method: &str, url: &str, body: &[u8]) -> Vec<(String, String)> {
    let identity = Credentials::new(
        stack.var("AWS_ACCESS_KEY_ID"),
        stack.var("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        ".local/stack.env",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(stack.var("AWS_REGION"))
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let headers = [("content-type", "application/json")];
    let request = SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body))
        .expect("signable request");
    let (instructions, _) = sign(request, &params).expect("signed").into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn request(key: &str, dry_run: bool, actions: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"idempotency_key": key, "dry_run": dry_run, "actions": actions}))
        .unwrap()
}

async fn post(stack: &Stack, key: &str, dry_run: bool, actions: Value) -> Reply {
    call(
        stack,
        Method::POST,
        "/actions",
        request(key, dry_run, actions),
        true,
    )
    .await
}

fn person(login: &str) -> Value {
    json!({"type": "SYNC_IDENTITIES", "login": login, "email": login,
           "first_name": "Stack", "last_name": "Hire", "department": "Engineering"})
}

fn login(prefix: &str) -> String {
    format!("{}@example.com", unique(prefix))
}

/// The first result row.
fn first(reply: &Reply) -> &Value {
    &reply.body["results"][0]
}

async fn okta(stack: &Stack, path: &str) -> Value {
    okta_api(
        stack.var("OKTA_URL"),
        stack.var("OKTA_API_TOKEN"),
        Method::GET,
        path,
        None,
    )
    .await
}

async fn group_names(stack: &Stack, user_id: &str) -> Vec<String> {
    let groups = okta(stack, &format!("/api/v1/users/{user_id}/groups")).await;
    let mut names: Vec<String> = groups
        .as_array()
        .expect("a list of groups")
        .iter()
        .map(|g| g["profile"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Every item of the stack's two tables (state and audit), every page of the scans, as
/// text.
async fn table_text(stack: &Stack) -> String {
    let client = stack.dynamodb().await;
    let mut all = String::new();
    for table in [stack.table(), stack.audit_table()] {
        let mut start = None;
        loop {
            let page = client
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in page.items() {
                all.push_str(&format!("{item:?}\n"));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
    }
    all
}

/// The stack's logs, file by file.
fn logs() -> Vec<(std::path::PathBuf, String)> {
    let dir = e2e_tests::root().join(".local/logs");
    std::fs::read_dir(&dir)
        .expect("stack logs")
        .map(|entry| {
            let path = entry.unwrap().path();
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            (path, text)
        })
        .collect()
}

#[tokio::test]
async fn an_unsigned_or_wrongly_signed_request_is_403_and_the_function_never_runs() {
    let stack = Stack::get();
    let key = unique("k");
    let who = login("unsigned");
    let body = request(&key, false, json!([person(&who)]));

    let unsigned = call(&stack, Method::POST, "/actions", body.clone(), false).await;
    assert_eq!(unsigned.status, 403, "{unsigned:?}");
    assert_eq!(unsigned.body, json!({"message": "Forbidden"}));

    // Signed, but for another body than the one sent.
    let url = format!("{}/actions", stack.api_url());
    let mut req = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json");
    for (name, value) in signature(&stack, "POST", &url, b"{}") {
        req = req.header(name, value);
    }
    let resp = req.body(body.clone()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let refused: Value = resp.json().await.unwrap();
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("The request signature we calculated does not match"),
        "{refused}"
    );

    let id = lifecycle::actions::request_id(LOCAL_CALLER, &key);
    assert!(
        stack.items(&format!("REQUEST#{id}")).await.is_empty(),
        "no request item: the function never ran"
    );
    assert!(
        !table_text(&stack).await.contains(&key),
        "the key is nowhere"
    );
    assert_eq!(
        okta_get(&stack, &format!("/api/v1/users/{who}")).await.0,
        404
    );
}

#[tokio::test]
async fn a_signed_sync_identities_creates_the_user_in_okta() {
    let stack = Stack::get();
    let key = unique("k");
    let who = login("created");
    let reply = post(&stack, &key, false, json!([person(&who)])).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.cache_control.as_deref(), Some("no-store"));
    assert_eq!(reply.body["status"], "done");
    assert_eq!(reply.body["replayed"], false);
    assert_eq!(reply.body["dry_run"], false);
    assert_eq!(first(&reply)["outcome"], "created", "{reply:?}");
    let user_id = first(&reply)["user_id"]
        .as_str()
        .expect("user_id")
        .to_owned();

    // The id is the caller's and the key's; the request is in the table under it.
    let id = lifecycle::actions::request_id(LOCAL_CALLER, &key);
    assert_eq!(reply.body["request_id"], id.as_str());
    let items = stack.items(&format!("REQUEST#{id}")).await;
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items[0], "idempotency_key"), key);

    let user = okta(&stack, &format!("/api/v1/users/{who}")).await;
    assert_eq!(user["id"], user_id.as_str());
    assert_eq!(user["profile"]["login"], who.as_str());
    assert_eq!(user["profile"]["email"], who.as_str());
    assert_eq!(user["profile"]["firstName"], "Stack");
    assert_eq!(user["profile"]["department"], "Engineering");
    assert_eq!(
        user["status"], "PROVISIONED",
        "activated, without a password"
    );

    // And the caller reads it back by its id.
    let read = call(
        &stack,
        Method::GET,
        &format!("/actions/{id}"),
        Vec::new(),
        true,
    )
    .await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.cache_control.as_deref(), Some("no-store"));
    assert_eq!(read.body["results"], reply.body["results"]);
}

#[tokio::test]
async fn the_same_key_and_body_is_replayed_and_another_body_is_409() {
    let stack = Stack::get();
    let key = unique("k");
    let who = login("replay");
    let actions = json!([person(&who)]);
    let reply = post(&stack, &key, false, actions.clone()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["replayed"], false);

    let again = post(&stack, &key, false, actions).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["request_id"], reply.body["request_id"]);
    assert_eq!(again.body["results"], reply.body["results"]);

    let other = login("replay-other");
    let conflict = post(&stack, &key, false, json!([person(&other)])).await;
    assert_eq!(conflict.status, 409, "{conflict:?}");
    assert_eq!(conflict.body["error"], "idempotency_key_reused");
    assert!(
        conflict.body["message"].as_str().unwrap().contains(&key),
        "{conflict:?}"
    );
    assert_eq!(
        okta_get(&stack, &format!("/api/v1/users/{other}")).await.0,
        404,
        "the refused body ran nothing"
    );
    let users = okta(
        &stack,
        &format!("/api/v1/users?search=profile.login+eq+%22{who}%22"),
    )
    .await;
    assert_eq!(users.as_array().map(Vec::len), Some(1), "one user: {users}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let stack = Stack::get();
    let key = unique("k");
    let mut big = person(&login("big"));
    // ACTIONS_MAX_BODY_BYTES' default, 256 KiB; the gateway itself takes up to 10 MB.
    big["title"] = json!("x".repeat(262_144));
    let body = request(&key, false, json!([big]));
    assert!(body.len() > 262_144);
    let reply = call(&stack, Method::POST, "/actions", body, true).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.body["error"], "payload_too_large");
    assert_eq!(reply.cache_control.as_deref(), Some("no-store"));
    let id = lifecycle::actions::request_id(LOCAL_CALLER, &key);
    assert!(stack.items(&format!("REQUEST#{id}")).await.is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_and_says_so() {
    let stack = Stack::get();
    let raw = format!("{{\"idempotency_key\": \"{}\", \"actions\": [", unique("k"));
    let reply = call(&stack, Method::POST, "/actions", raw.into_bytes(), true).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.body["error"], "invalid_request");
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.starts_with("the body is not JSON"), "{reply:?}");
}

#[tokio::test]
async fn more_than_a_hundred_actions_is_400_and_nothing_runs() {
    let stack = Stack::get();
    let key = unique("k");
    let prefix = unique("many");
    let actions: Vec<Value> = (0..101)
        .map(|i| person(&format!("{prefix}-{i}@example.com")))
        .collect();
    let reply = post(&stack, &key, false, Value::Array(actions)).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.body["error"], "invalid_request");
    assert_eq!(
        reply.body["errors"][0]["message"],
        "101 actions; at most 100 per request"
    );
    assert_eq!(
        okta_get(&stack, &format!("/api/v1/users/{prefix}-0@example.com"))
            .await
            .0,
        404
    );
    let id = lifecycle::actions::request_id(LOCAL_CALLER, &key);
    assert!(stack.items(&format!("REQUEST#{id}")).await.is_empty());
}

#[tokio::test]
async fn a_temporary_password_is_answered_once_and_reaches_no_log_and_no_table_item() {
    let stack = Stack::get();
    // A reset needs a user who has a password (one SYNC_IDENTITIES made has none).
    let (user_id, who) =
        create_okta_user(stack.var("OKTA_URL"), stack.var("OKTA_API_TOKEN"), "reset").await;
    let key = unique("k");
    let actions = json!([{"type": "RESET_PASSWORD", "user": who, "send_email": false}]);
    let reply = post(&stack, &key, false, actions.clone()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.cache_control.as_deref(), Some("no-store"));
    let row = first(&reply);
    assert_eq!(row["outcome"], "reset", "{}", row["error"]);
    assert_eq!(row["user_id"], user_id.as_str());
    assert_eq!(row["temp_password_issued"], true);
    let password = row["temp_password"]
        .as_str()
        .expect("a temporary password in the answer")
        .to_owned();
    assert!(password.len() >= 8, "{} characters", password.len());
    assert_eq!(
        okta(&stack, &format!("/api/v1/users/{user_id}")).await["status"],
        "PASSWORD_EXPIRED"
    );

    let again = post(&stack, &key, false, actions).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["replayed"], true);
    assert_eq!(first(&again)["temp_password_issued"], true);
    assert!(first(&again).get("temp_password").is_none(), "only once");

    // Give the processes a moment to flush what they log about these requests.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut read = 0;
    for (path, text) in logs() {
        read += text.len();
        assert!(
            !text.contains(&password),
            "the temporary password is in {}",
            path.display()
        );
    }
    assert!(read > 0, "the stack's logs were read");
    let table = table_text(&stack).await;
    assert!(table.contains(&user_id), "the scan saw this test's items");
    assert!(
        !table.contains(&password),
        "the temporary password is in a table item"
    );
}

/// The deactivation jobs of a user once none is in progress and `ready` holds of them.
async fn settled_deactivations(
    stack: &Stack,
    user_id: &str,
    timeout: Duration,
    ready: impl Fn(&[HashMap<String, AttributeValue>]) -> bool,
) -> Vec<HashMap<String, AttributeValue>> {
    let until = Instant::now() + timeout;
    loop {
        let jobs = stack.deactivation_jobs(user_id).await;
        let busy = jobs.iter().any(|j| {
            matches!(
                text(j, "status").as_str(),
                "pending" | "running" | "retrying"
            )
        });
        if !busy && ready(&jobs) {
            return jobs;
        }
        assert!(
            Instant::now() < until,
            "deactivation jobs of {user_id} after {timeout:?}: {:?}",
            jobs.iter()
                .map(|j| (text(j, "source"), text(j, "status")))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_deprovision_through_the_stack_ends_deprovisioned_and_oktas_own_event_is_skipped() {
    let stack = Stack::get();
    let (user_id, who) =
        create_okta_user(stack.var("OKTA_URL"), stack.var("OKTA_API_TOKEN"), "leaver").await;
    let groups = post(
        &stack,
        &unique("k"),
        false,
        json!([{"type": "MANAGE_RELATIONSHIPS", "user": user_id, "add": ["Engineering"]}]),
    )
    .await;
    assert_eq!(first(&groups)["outcome"], "added", "{groups:?}");
    assert_eq!(
        group_names(&stack, &user_id).await,
        ["Engineering", "Everyone"]
    );

    let started = Instant::now();
    let reply = post(
        &stack,
        &unique("k"),
        false,
        json!([{"type": "DEPROVISION_IDENTITY", "user": who, "mode": "deactivate"}]),
    )
    .await;
    assert!(matches!(reply.status, 200 | 202), "{reply:?}");
    assert_ne!(first(&reply)["outcome"], "failed", "{reply:?}");
    let id = reply.body["request_id"].as_str().unwrap().to_owned();

    // The deprovision function runs the job from the table's stream; the request follows it.
    let mut answer = reply.body.clone();
    while answer["status"] != "done" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "request {id} not done after 20 s: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let read = call(
            &stack,
            Method::GET,
            &format!("/actions/{id}"),
            Vec::new(),
            true,
        )
        .await;
        assert_eq!(read.status, 200, "{read:?}");
        answer = read.body;
    }
    let row = &answer["results"][0];
    assert_eq!(row["outcome"], "deprovisioned", "{answer}");
    assert_eq!(row["user_id"], user_id.as_str());
    let steps = row["changes"].to_string();
    assert!(
        steps.contains("remove_membership") && steps.contains("end_sessions"),
        "{steps}"
    );
    assert_eq!(
        okta(&stack, &format!("/api/v1/users/{user_id}")).await["status"],
        "DEPROVISIONED"
    );
    assert_eq!(group_names(&stack, &user_id).await, ["Everyone"]);

    // Okta's own event for the deactivation reaches the hook (and perhaps the poller):
    // its job finds the change applied.
    let jobs = settled_deactivations(&stack, &user_id, Duration::from_secs(30), |jobs| {
        jobs.iter().any(|j| text(j, "source") == "action")
            && jobs.iter().any(|j| text(j, "source") != "action")
    })
    .await;
    let from_action: Vec<_> = jobs
        .iter()
        .filter(|j| text(j, "source") == "action")
        .collect();
    assert_eq!(from_action.len(), 1, "one job from the action");
    assert_eq!(text(from_action[0], "status"), "done");
    for job in jobs.iter().filter(|j| text(j, "source") != "action") {
        assert!(
            matches!(text(job, "source").as_str(), "hook" | "poll"),
            "{job:?}"
        );
        assert_eq!(
            text(job, "status"),
            "skipped",
            "Okta's own event ({}) ends skipped: {job:?}",
            text(job, "source")
        );
    }
}
