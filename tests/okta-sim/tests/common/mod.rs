//! Shared test harness: an in-process simulator with the demo org, and a hook receiver.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use okta_sim::{load_seed_file, Sim, SimOptions};
use serde_json::{json, Value};

pub const TOKEN: &str = "00sim-demo-ssws-token-TEST-ONLY";
pub const CLIENT_ID: &str = "0oasimdemoserviceapp";

pub fn demo_seed() -> okta_sim::SeedDoc {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-org.json");
    load_seed_file(&path).expect("demo org loads")
}

pub struct Harness {
    pub base: String,
    pub addr: SocketAddr,
    pub sim: Arc<Sim>,
    pub http: reqwest::Client,
}

pub async fn start() -> Harness {
    start_with(SimOptions {
        seed: 7,
        seed_doc: Some(demo_seed()),
        hook_batch_ms: 50,
        hook_timeout_ms: 3000,
        ..SimOptions::default()
    })
    .await
}

pub async fn start_with(opts: SimOptions) -> Harness {
    let (addr, sim) = okta_sim::spawn(opts).await.expect("simulator starts");
    Harness {
        base: format!("http://{addr}"),
        addr,
        sim,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn links(&self) -> Vec<String> {
        self.headers
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    }

    /// The URL of the `rel="next"` link, if any.
    pub fn next(&self) -> Option<String> {
        self.links()
            .iter()
            .find(|l| l.ends_with("rel=\"next\""))
            .map(|l| {
                l.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
    }

    pub fn error_code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or("")
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(method, self.url(path));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("SSWS {TOKEN}");
        self.call_as(method, path, Some(&auth), body).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Answer {
        self.call(Method::POST, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    pub async fn put(&self, path: &str) -> Answer {
        self.call(Method::PUT, path, None).await
    }

    pub async fn sim_get(&self, path: &str) -> Value {
        self.call_as(Method::GET, path, None, None).await.body
    }

    pub async fn sim_post(&self, path: &str, body: Value) -> Answer {
        self.call_as(Method::POST, path, None, Some(body)).await
    }

    /// The id of a demo user by login.
    pub async fn user_id(&self, login: &str) -> String {
        let a = self.get(&format!("/api/v1/users/{login}")).await;
        assert_eq!(a.status, 200, "user {login}: {:?}", a.body);
        a.body["id"].as_str().expect("id").to_string()
    }

    /// The id of a group by name.
    pub async fn group_id(&self, name: &str) -> String {
        let a = self
            .get(&format!("/api/v1/groups?q={}", name.replace(' ', "%20")))
            .await;
        a.body
            .as_array()
            .and_then(|gs| gs.iter().find(|g| g["profile"]["name"] == name))
            .and_then(|g| g["id"].as_str())
            .expect("group exists")
            .to_string()
    }

    pub async fn flush(&self) -> Value {
        let a = self
            .sim_post("/_sim/hooks/flush?timeoutMs=20000", json!({}))
            .await;
        assert_eq!(a.status, 200, "flush: {:?}", a.body);
        a.body
    }

    pub async fn counters(&self) -> Value {
        self.sim_get("/_sim/counters").await
    }

    /// Every System Log event of `event_type` since the start.
    pub async fn log_events(&self, event_type: &str) -> Vec<Value> {
        let filter = okta_sim::qs::encode(&format!("eventType eq \"{event_type}\""));
        let a = self
            .get(&format!("/api/v1/logs?limit=1000&filter={filter}"))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body.as_array().cloned().unwrap_or_default()
    }
}

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct ReceiverState {
    seen: Vec<Seen>,
    /// Statuses to answer POSTs with, in order; 200 once empty.
    script: VecDeque<u16>,
    /// Delay before answering a POST.
    delay_ms: u64,
}

/// A tiny event hook endpoint: echoes verification challenges and records POSTs.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::any(receive))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    pub fn answer_with(&self, statuses: &[u16]) {
        self.state
            .lock()
            .expect("lock")
            .script
            .extend(statuses.iter().copied());
    }

    pub fn delay(&self, ms: u64) {
        self.state.lock().expect("lock").delay_ms = ms;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    pub fn posts(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == Method::POST)
            .collect()
    }

    /// Every event uuid delivered so far.
    pub fn delivered_uuids(&self) -> Vec<String> {
        self.posts()
            .iter()
            .flat_map(|p| {
                p.body["data"]["events"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|e| e["uuid"].as_str().map(String::from))
            .collect()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, delay) = {
        let mut s = state.lock().expect("lock");
        s.seen.push(Seen {
            method: method.clone(),
            headers: headers.clone(),
            body: body_json,
        });
        if method == Method::GET {
            (200, 0)
        } else {
            (s.script.pop_front().unwrap_or(200), s.delay_ms)
        }
    };
    if method == Method::GET {
        let challenge = headers
            .get("x-okta-verification-challenge")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        return Json(json!({ "verification": challenge })).into_response();
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    StatusCode::from_u16(status)
        .unwrap_or(StatusCode::OK)
        .into_response()
}

/// Registers, verifies and returns the id of a hook for `events` pointing at `receiver`.
pub async fn register_hook(h: &Harness, receiver: &Receiver, events: &[&str]) -> String {
    let a = h
        .post(
            "/api/v1/eventHooks",
            json!({
                "name": "okta-lifecycle",
                "events": { "type": "EVENT_TYPE", "items": events },
                "channel": {
                    "type": "HTTP",
                    "version": "1.0.0",
                    "config": {
                        "uri": receiver.url,
                        "headers": [{ "key": "X-Custom", "value": "custom-value" }],
                        "authScheme": { "type": "HEADER", "key": "Authorization", "value": "hook-secret" }
                    }
                }
            }),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let id = a.body["id"].as_str().expect("hook id").to_string();
    let v = h
        .post_empty(&format!("/api/v1/eventHooks/{id}/lifecycle/verify"))
        .await;
    assert_eq!(v.status, 200, "{:?}", v.body);
    assert_eq!(v.body["verificationStatus"], "VERIFIED");
    id
}
