//! The Okta client against the Okta org simulator (tests/okta-sim), started in-process
//! with the demo org for each test. One binary; the modules group the tests by concern.

mod auth;
mod limits;
mod log;
mod rotation;
mod scope;
mod users;
mod writes;

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
const KEY_PEM: &str = include_str!("../../../../tests/okta-sim/demo-service-app.key.pem");

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
