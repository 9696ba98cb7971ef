//! The Okta client against the Okta org simulator (tests/okta-sim), started in-process
//! with the demo org for each test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lifecycle::okta::hook::{parse_log_event, EnvelopeError, LogEvent};
use lifecycle::okta::{
    ClientOptions, EndpointFamily, LogPage, LogQuery, OktaClient, OktaCredentials, OktaError,
    Sleeper, UserStatus,
};

use lifecycle::domain::{EventType, UserId};
use lifecycle::secrets::Secret;
use okta_sim::{load_seed_file, Sim, SimOptions};
use serde_json::{json, Value};

const TOKEN: &str = "00sim-demo-ssws-token-TEST-ONLY";
const CLIENT_ID: &str = "0oasimdemoserviceapp";
const KEY_PEM: &str = include_str!("../../../tests/okta-sim/demo-service-app.key.pem");

struct Org {
    base: String,
    _sim: Arc<Sim>,
    http: reqwest::Client,
}

async fn start_org() -> Org {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/okta-sim/demo-org.json");
    let seed = load_seed_file(&path).expect("demo org loads");
    let (addr, sim) = okta_sim::spawn(SimOptions {
        seed: 11,
        seed_doc: Some(seed),
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    Org {
        base: format!("http://{addr}"),
        _sim: sim,
        http: reqwest::Client::new(),
    }
}

impl Org {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("SSWS {TOKEN}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("simulator answers");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        let text = resp.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn user_id(&self, login: &str) -> String {
        let u = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/users/{login}"),
                None,
            )
            .await;
        u["id"].as_str().expect("user id").to_owned()
    }

    async fn deactivate(&self, login: &str) -> String {
        let id = self.user_id(login).await;
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/users/{id}/lifecycle/deactivate"),
            None,
        )
        .await;
        id
    }

    async fn faults(&self, endpoints: Value) {
        self.call(
            reqwest::Method::POST,
            "/_sim/faults",
            Some(json!({ "endpoints": endpoints })),
        )
        .await;
    }

    async fn requests(&self, family: &str) -> u64 {
        let c = self
            .call(reqwest::Method::GET, "/_sim/counters", None)
            .await;
        c["requests"][family].as_u64().unwrap_or(0)
    }

    fn ssws(&self, options: ClientOptions) -> OktaClient {
        OktaClient::new(
            &self.base,
            OktaCredentials::Ssws(Secret::new(TOKEN)),
            options,
        )
        .expect("client builds")
    }

    fn service_app(&self, options: ClientOptions) -> OktaClient {
        OktaClient::new(
            &self.base,
            OktaCredentials::PrivateKeyJwt {
                client_id: CLIENT_ID.into(),
                private_key_pem: Secret::new(KEY_PEM),
                key_id: None,
                scopes: vec!["okta.logs.read".into(), "okta.users.read".into()],
            },
            options,
        )
        .expect("client builds")
    }
}

/// A sleeper that records each wait and returns at once.
fn recording_sleeper() -> (Sleeper, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&waits);
    let sleeper = Sleeper::new(move |d| {
        seen.lock().expect("lock").push(d);
        Box::pin(async {})
    });
    (sleeper, waits)
}

fn deactivations(limit: u32) -> LogQuery {
    LogQuery {
        event_types: vec![EventType::Deactivate],
        limit: Some(limit),
        ..LogQuery::default()
    }
}

/// The page's events parsed one by one, as the poller parses them.
fn parsed(page: &LogPage) -> Vec<Result<LogEvent, EnvelopeError>> {
    page.events
        .iter()
        .enumerate()
        .map(|(index, e)| parse_log_event(index, e.clone()))
        .collect()
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The simulator's windows are whole minutes; a test that counts requests in one window
/// starts early enough not to straddle two.
async fn stay_inside_one_minute() {
    let second = epoch_now() % 60;
    if second >= 55 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

#[tokio::test]
async fn an_api_token_reads_the_system_log() {
    let org = start_org().await;
    let id = org.deactivate("ada.lovelace@example.com").await;
    let client = org.ssws(ClientOptions::default());
    let page = client.system_log_page(&deactivations(100)).await.unwrap();
    assert_eq!(page.events.len(), 1);
    let event = parsed(&page).remove(0).unwrap();
    assert_eq!(event.event_type, EventType::Deactivate);
    assert_eq!(event.user.unwrap().id.as_str(), id);
    assert!(Value::Array(page.events.clone()).to_string().contains(&id));
    assert!(
        page.next_after.is_some(),
        "a polling read always has a next cursor"
    );
    let rate = page.rate.expect("rate-limit headers");
    assert_eq!(client.rate_limit(EndpointFamily::Logs), Some(rate));
    assert_eq!(rate.limit, 120);
}

#[tokio::test]
async fn a_service_app_with_private_key_jwt_reads_the_system_log_and_reuses_its_token() {
    let org = start_org().await;
    org.deactivate("grace.hopper@example.com").await;
    let client = org.service_app(ClientOptions::default());
    let first = client.system_log_page(&deactivations(100)).await.unwrap();
    assert_eq!(first.events.len(), 1);
    let again = LogQuery {
        after: first.next_after.clone(),
        ..deactivations(100)
    };
    assert!(client
        .system_log_page(&again)
        .await
        .unwrap()
        .events
        .is_empty());
    assert_eq!(org.requests("token").await, 1, "the access token is cached");
    assert!(client.rate_limit(EndpointFamily::Token).is_some());
}

#[tokio::test]
async fn a_rejected_access_token_is_replaced_once_and_the_call_succeeds() {
    let org = start_org().await;
    let client = org.service_app(ClientOptions::default());
    client.system_log_page(&deactivations(10)).await.unwrap();
    org.faults(json!([{ "family": "logs", "status": 401, "count": 1 }]))
        .await;
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(org.requests("token").await, 2);
    assert_eq!(org.requests("logs").await, 3);
}

#[tokio::test]
async fn an_unknown_service_app_gets_a_token_error_without_its_assertion() {
    let org = start_org().await;
    let client = OktaClient::new(
        &org.base,
        OktaCredentials::PrivateKeyJwt {
            client_id: "0oanotregistered".into(),
            private_key_pem: Secret::new(KEY_PEM),
            key_id: None,
            scopes: vec!["okta.logs.read".into()],
        },
        ClientOptions::default(),
    )
    .unwrap();
    let err = client
        .system_log_page(&deactivations(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OktaError::Token { status: 401, error, .. } if error == "invalid_client"),
        "{err:?}"
    );
    assert!(
        !format!("{err} {err:?}").contains("eyJ"),
        "no JWT in the error"
    );
    assert_eq!(org.requests("logs").await, 0);
}

#[tokio::test]
async fn paging_follows_next_to_the_end_and_an_empty_page_keeps_the_cursor() {
    let org = start_org().await;
    let mut expected = Vec::new();
    for login in [
        "ada.lovelace@example.com",
        "grace.hopper@example.com",
        "alan.turing@example.com",
        "margaret.hamilton@example.com",
        "linus.pauling@example.com",
    ] {
        expected.push(org.deactivate(login).await);
    }
    let client = org.ssws(ClientOptions::default());
    let mut query = deactivations(2);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = client.system_log_page(&query).await.unwrap();
        pages += 1;
        assert!(pages <= 5, "paging must end");
        let cursor = page.next_after.clone().expect("polling always has next");
        if page.events.is_empty() {
            assert_eq!(query.after.as_deref(), Some(cursor.as_str()));
            break;
        }
        seen.extend(
            parsed(&page)
                .into_iter()
                .map(|e| e.unwrap().user.expect("target user").id.as_str().to_owned()),
        );
        query.after = Some(cursor);
    }
    assert_eq!(pages, 4, "2 + 2 + 1 events, then the empty page");
    assert_eq!(seen, expected, "every event once, in order");
    // A new event after the empty page is found from the kept cursor.
    let late = org.deactivate("hedy.lamarr@example.com").await;
    let page = client.system_log_page(&query).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(
        parsed(&page)[0]
            .as_ref()
            .unwrap()
            .user
            .as_ref()
            .unwrap()
            .id
            .as_str(),
        late
    );
}

#[tokio::test]
async fn a_forced_429_is_waited_out_for_reset_minus_date_plus_one_second() {
    let org = start_org().await;
    let (sleeper, waits) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "logs", "status": 429, "count": 1 }]))
        .await;
    let before = epoch_now();
    client.system_log_page(&deactivations(10)).await.unwrap();
    let after = epoch_now();
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "one wait, then success: {waits:?}");
    // The simulator's window ends on the next whole minute.
    let earliest = 60 - after % 60 + 1;
    let latest = 60 - before % 60 + 1;
    let wait = waits[0].as_secs();
    assert!(
        (earliest.min(latest)..=earliest.max(latest)).contains(&wait),
        "waited {wait} s, expected {earliest}..={latest}"
    );
    assert_eq!(org.requests("logs").await, 2);
}

#[tokio::test]
async fn a_429_that_would_outlast_the_deadline_comes_back_as_rate_limited() {
    let org = start_org().await;
    let (sleeper, waits) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "logs", "status": 429, "count": 1 }]))
        .await;
    let short = client.with_deadline(Instant::now() + Duration::from_millis(800));
    let err = short.system_log_page(&deactivations(10)).await.unwrap_err();
    match err {
        OktaError::RateLimited {
            family,
            retry_after,
        } => {
            assert_eq!(family, EndpointFamily::Logs);
            assert!(
                retry_after >= Duration::from_secs(1) && retry_after <= Duration::from_secs(61)
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(
        waits.lock().unwrap().is_empty(),
        "nothing slept past the deadline"
    );
    assert_eq!(org.requests("logs").await, 1);
}

#[tokio::test]
async fn the_reserve_stops_requests_before_the_org_budget_is_spent() {
    let org = start_org().await;
    org.call(
        reqwest::Method::POST,
        "/_sim/rate-limits",
        Some(json!({ "logs": 10 })),
    )
    .await;
    stay_inside_one_minute().await;
    let client = org.ssws(ClientOptions::default());
    let mut sent = 0;
    let err = loop {
        match client.system_log_page(&deactivations(10)).await {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent <= 10, "the reserve never stopped the client");
    };
    // 10 × 0.2 = 2 kept back: requests stop once fewer than 2 remain.
    assert_eq!(sent, 9);
    assert!(
        matches!(
            err,
            OktaError::BudgetExhausted {
                family: EndpointFamily::Logs,
                remaining: 1,
                limit: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        org.requests("logs").await,
        9,
        "the refused request was never sent"
    );
    // Other families have their own budget.
    client
        .get_user(&UserId::parse("00unknown").unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_forced_500_is_retried_and_succeeds() {
    let org = start_org().await;
    let (sleeper, waits) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "logs", "status": 500, "count": 2 }]))
        .await;
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(org.requests("logs").await, 3);
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 2);
    assert!(
        waits[1] >= Duration::from_millis(200),
        "backoff grows: {waits:?}"
    );
}

#[tokio::test]
async fn server_errors_past_the_attempt_limit_are_reported_with_oktas_code() {
    let org = start_org().await;
    let (sleeper, _) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "users", "status": 503, "count": 5 }]))
        .await;
    let err = client
        .get_user(&UserId::parse("00unknown").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), Some("E0000010"));
    assert_eq!(org.requests("users").await, 3);
}

#[tokio::test]
async fn a_hanging_okta_times_out_and_is_retried_a_bounded_number_of_times() {
    let org = start_org().await;
    let (sleeper, _) = recording_sleeper();
    let client = org.ssws(ClientOptions {
        sleeper,
        timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    });
    org.faults(json!([{ "family": "logs", "timeout": true, "hangMs": 1500, "count": 3 }]))
        .await;
    let started = Instant::now();
    let err = client
        .system_log_page(&deactivations(10))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OktaError::Transport {
                attempts: 3,
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_wrong_token_is_an_error_without_retry_and_without_the_token() {
    let org = start_org().await;
    let wrong = "00wrong-token-that-must-not-leak";
    let client = OktaClient::new(
        &org.base,
        OktaCredentials::Ssws(Secret::new(wrong)),
        ClientOptions::default(),
    )
    .unwrap();
    let err = client
        .system_log_page(&deactivations(10))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some("E0000011"));
    let shown = format!("{err} {err:?} {client:?}");
    assert!(!shown.contains(wrong), "{shown}");
    assert_eq!(org.requests("logs").await, 1, "a 4xx is not retried");
}

#[tokio::test]
async fn get_user_of_an_unknown_id_is_none() {
    let org = start_org().await;
    let client = org.ssws(ClientOptions::default());
    let missing = client
        .get_user(&UserId::parse("00unosuchuser").unwrap())
        .await
        .unwrap();
    assert_eq!(missing, None);
    let id = org.user_id("ada.lovelace@example.com").await;
    let ada = client
        .get_user(&UserId::parse(&id).unwrap())
        .await
        .unwrap()
        .expect("ada exists");
    assert_eq!(ada.status, UserStatus::Active);
    assert_eq!(ada.login, "ada.lovelace@example.com");
    assert!(ada.display_name.is_some());
}

#[tokio::test]
async fn list_users_with_a_deprovisioned_filter_finds_a_deactivated_user() {
    let org = start_org().await;
    let client = org.service_app(ClientOptions::default());
    let none = client
        .list_users(r#"status eq "DEPROVISIONED""#, 200, 5)
        .await
        .unwrap();
    assert!(none.users.is_empty());
    let id = org.deactivate("alan.turing@example.com").await;
    let found = client
        .list_users(r#"status eq "DEPROVISIONED""#, 200, 5)
        .await
        .unwrap();
    assert!(!found.truncated);
    assert_eq!(found.users.len(), 1);
    let user = &found.users[0];
    assert_eq!(user.id.as_str(), id);
    assert_eq!(user.status, UserStatus::Deprovisioned);
    assert!(user.status_changed.is_some());
}

#[tokio::test]
async fn list_users_follows_next_links_and_says_when_the_page_bound_cut_it_short() {
    let org = start_org().await;
    let client = org.ssws(ClientOptions::default());
    let all = client
        .list_users(r#"status eq "ACTIVE""#, 5, 10)
        .await
        .unwrap();
    assert_eq!(all.users.len(), 14);
    assert!(!all.truncated);
    let mut ids: Vec<_> = all.users.iter().map(|u| u.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 14, "no user twice across pages");
    let cut = client
        .list_users(r#"status eq "ACTIVE""#, 5, 2)
        .await
        .unwrap();
    assert_eq!(cut.users.len(), 10);
    assert!(cut.truncated);
    assert_eq!(org.requests("users").await, 5);
}

#[tokio::test]
async fn credentials_from_a_secrets_manager_json_reach_okta() {
    let org = start_org().await;
    org.deactivate("claude.shannon@example.com").await;
    let secret = json!({
        "client_id": CLIENT_ID,
        "private_key": KEY_PEM,
        "scopes": "okta.logs.read okta.users.read",
    })
    .to_string();
    let credentials = OktaCredentials::from_secret_json(&secret).unwrap();
    let client = OktaClient::new(&org.base, credentials, ClientOptions::default()).unwrap();
    let page = client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(page.events.len(), 1);
}

/// A one-route HTTP server that answers every request with `status` and `body`.
async fn fixed_answer_server(status: u16, body: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the announced body before answering.
            loop {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_service_app_that_requires_dpop_gets_an_error_that_says_how_to_turn_it_off() {
    let base = fixed_answer_server(
        400,
        r#"{"error":"invalid_dpop_proof","error_description":"The DPoP proof JWT header is missing."}"#,
    )
    .await;
    let client = OktaClient::new(
        &base,
        OktaCredentials::PrivateKeyJwt {
            client_id: CLIENT_ID.into(),
            private_key_pem: Secret::new(KEY_PEM),
            key_id: Some("key-1".into()),
            scopes: vec!["okta.logs.read".into()],
        },
        ClientOptions::default(),
    )
    .unwrap();
    let err = client
        .system_log_page(&deactivations(10))
        .await
        .unwrap_err();
    assert!(matches!(err, OktaError::DpopRequired), "{err:?}");
    assert!(err.to_string().contains("turn off"));
}
