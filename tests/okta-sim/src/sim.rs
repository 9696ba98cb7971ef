//! The running simulator: shared state, the hook delivery pipeline and flushing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use crate::clock::{self, iso};
use crate::error::{ApiError, ApiResult};
use crate::seed::SeedDoc;
use crate::state::{Ctx, EventSpec, State};

/// How the simulator is configured at start.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seed of all randomness (ids, uuids, fault decisions).
    pub seed: u64,
    /// Org loaded at start and again on `POST /_sim/reset`.
    pub seed_doc: Option<SeedDoc>,
    /// An SSWS token accepted in addition to the seed file's.
    pub api_token: Option<String>,
    /// Org base URL used in links and hook `source`; default `http://<bound address>`.
    pub org_url: Option<String>,
    /// Events raised within this window go in one delivery.
    pub hook_batch_ms: u64,
    /// How long a hook endpoint has to answer (Okta: 3 s).
    pub hook_timeout_ms: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            seed_doc: None,
            api_token: None,
            org_url: None,
            hook_batch_ms: 200,
            hook_timeout_ms: 3000,
        }
    }
}

/// The simulator shared by every request handler.
pub struct Sim {
    /// Start options.
    pub opts: SimOptions,
    /// Org base URL.
    pub org_url: String,
    state: Mutex<State>,
    /// Client for hook verification and delivery.
    pub http: reqwest::Client,
    /// Org API requests in flight (for the concurrency limit).
    pub inflight: AtomicU64,
    tx: mpsc::UnboundedSender<Vec<Value>>,
    pending: AtomicU64,
    idle: Notify,
    request_seq: AtomicU64,
}

/// One delivery to one hook.
struct Delivery {
    hook_id: String,
    hook_name: String,
    uri: String,
    headers: Vec<(String, String)>,
    auth: Option<(String, String)>,
    events: Vec<Value>,
    delay_ms: u64,
}

enum Attempt {
    Ok,
    Client(u16),
    Retryable(String),
}

impl Sim {
    /// Builds the simulator and starts its delivery task (call inside a Tokio runtime).
    pub fn start(opts: SimOptions, bound: std::net::SocketAddr) -> Result<Arc<Self>, String> {
        let org_url = opts
            .org_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        let state = Self::fresh_state(&opts, &org_url, opts.seed_doc.as_ref())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(opts.hook_timeout_ms))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let sim = Arc::new(Self {
            opts,
            org_url,
            state: Mutex::new(state),
            http,
            inflight: AtomicU64::new(0),
            tx,
            pending: AtomicU64::new(0),
            idle: Notify::new(),
            request_seq: AtomicU64::new(0),
        });
        tokio::spawn(dispatch_loop(Arc::downgrade(&sim), rx));
        Ok(sim)
    }

    fn fresh_state(
        opts: &SimOptions,
        org_url: &str,
        doc: Option<&SeedDoc>,
    ) -> Result<State, String> {
        let mut state = State::new(opts.seed, org_url.to_string());
        if let Some(token) = &opts.api_token {
            state.add_default_token(token);
        }
        if let Some(doc) = doc {
            state.apply_seed(doc)?;
        }
        Ok(state)
    }

    /// Locks the state. A panic elsewhere never makes the simulator unusable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the state, then hands the log events it raised to hook delivery.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let (result, events) = {
            let mut state = self.lock();
            let r = f(&mut state);
            let events: Vec<Value> = std::mem::take(&mut state.outbox);
            (r, events)
        };
        self.enqueue(events);
        result
    }

    fn enqueue(&self, events: Vec<Value>) {
        // Hook events are never delivered to hooks: a failing hook would feed itself.
        let events: Vec<Value> = events
            .into_iter()
            .filter(|e| {
                !e["eventType"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("event_hook."))
            })
            .collect();
        if events.is_empty() {
            return;
        }
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(events).is_err() {
            self.done(1);
        }
    }

    fn done(&self, n: u64) {
        self.pending.fetch_sub(n, Ordering::SeqCst);
        self.idle.notify_waiters();
    }

    /// A fresh request id (`X-Okta-Request-Id`, log `transaction.id`).
    pub fn request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let mut rng = crate::rng::Rng::new(self.opts.seed ^ n.wrapping_mul(0x9E37_79B9));
        rng.base62(27)
    }

    /// Replaces the whole org: with `doc`, or with the start seed when `None`.
    pub fn reset(&self, doc: Option<&SeedDoc>) -> Result<(), String> {
        let doc = doc.or(self.opts.seed_doc.as_ref());
        let fresh = Self::fresh_state(&self.opts, &self.org_url, doc)?;
        *self.lock() = fresh;
        Ok(())
    }

    /// Waits until every queued and in-flight delivery is done; false on timeout.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.pending.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// Deliveries queued or in flight.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    fn plan(&self, events: Vec<Value>) -> Vec<Delivery> {
        let mut state = self.lock();
        let faults = state.faults.hooks.clone();
        let hooks: Vec<_> = state
            .hooks
            .values()
            .filter(|h| h.active && h.verified)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for hook in hooks {
            let mut matching: Vec<Value> = events
                .iter()
                .filter(|e| {
                    e["eventType"]
                        .as_str()
                        .is_some_and(|t| hook.event_types.iter().any(|s| s == t))
                })
                .cloned()
                .collect();
            if matching.is_empty() {
                continue;
            }
            if state.rng.chance(faults.drop) {
                state.counters.deliveries.dropped += 1;
                continue;
            }
            let mut delay_ms = faults.delay_ms;
            if state.rng.chance(faults.reorder) {
                state.counters.deliveries.reordered += 1;
                state.rng.shuffle(&mut matching);
                delay_ms += if faults.reorder_delay_ms == 0 {
                    500
                } else {
                    faults.reorder_delay_ms
                };
            }
            let copies = if state.rng.chance(faults.duplicate) {
                state.counters.deliveries.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                out.push(Delivery {
                    hook_id: hook.id.clone(),
                    hook_name: hook.name.clone(),
                    uri: hook.uri.clone(),
                    headers: hook.headers.clone(),
                    auth: hook.auth.clone(),
                    events: matching.clone(),
                    delay_ms,
                });
            }
        }
        state.counters.deliveries.attempted += out.len() as u64;
        out
    }

    async fn post(&self, d: &Delivery) -> Attempt {
        let (event_id, source) = {
            let mut state = self.lock();
            state.counters.deliveries.http_requests += 1;
            (
                state.rng.uuid(),
                format!("{}/api/v1/eventHooks/{}", self.org_url, d.hook_id),
            )
        };
        let body = json!({
            "eventType": "com.okta.event_hook",
            "eventTypeVersion": "1.0",
            "cloudEventsVersion": "0.1",
            "source": source,
            "eventId": event_id,
            "eventTime": iso(clock::now()),
            "contentType": "application/json",
            "data": { "events": d.events },
        });
        let mut req = self
            .http
            .post(&d.uri)
            .header("Accept", "application/json")
            .header("User-Agent", "Okta Event Hooks (okta-sim)")
            .json(&body);
        for (k, v) in &d.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((k, v)) = &d.auth {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => Attempt::Ok,
            Ok(resp) if resp.status().is_client_error() => Attempt::Client(resp.status().as_u16()),
            Ok(resp) => Attempt::Retryable(format!("HTTP {}", resp.status().as_u16())),
            Err(e) if e.is_timeout() => Attempt::Retryable("timeout".into()),
            Err(e) => Attempt::Retryable(format!("connection error: {e}")),
        }
    }

    async fn deliver(self: Arc<Self>, d: Delivery) {
        if d.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(d.delay_ms)).await;
        }
        let mut outcome = self.post(&d).await;
        if let Attempt::Retryable(_) = outcome {
            self.lock().counters.deliveries.retries += 1;
            outcome = self.post(&d).await;
        }
        let failure = match outcome {
            Attempt::Ok => None,
            Attempt::Client(code) => Some(format!("HTTP {code}")),
            Attempt::Retryable(reason) => Some(reason),
        };
        let request_id = self.request_id();
        self.with(|state| match failure {
            None => state.counters.deliveries.succeeded += 1,
            Some(reason) => {
                state.counters.deliveries.failed += 1;
                let target = state
                    .hooks
                    .get(&d.hook_id)
                    .map(|h| h.target())
                    .unwrap_or_else(|| {
                        json!({
                            "id": d.hook_id, "type": "EventHook", "alternateId": null,
                            "displayName": d.hook_name, "detailEntry": null,
                        })
                    });
                let mut spec = EventSpec::info(
                    "event_hook.delivery",
                    "Event hook delivery",
                    None,
                    vec![target],
                );
                spec.result = "FAILURE";
                spec.severity = "WARN";
                spec.reason = Some(format!("Event hook delivery failed: {reason}"));
                spec.debug
                    .insert("DeliveryFailureReason".into(), json!(reason));
                spec.debug.insert("EventHookUri".into(), json!(d.uri));
                let uuids: Vec<_> = d.events.iter().map(|e| e["uuid"].clone()).collect();
                spec.debug.insert("EventUuids".into(), json!(uuids));
                let ctx = Ctx::system(request_id);
                state.log_event(&ctx, spec);
            }
        });
        self.done(1);
    }

    /// `POST /api/v1/eventHooks/{id}/lifecycle/verify`: the one-time GET challenge.
    pub async fn verify_hook(&self, ctx: &Ctx, id: &str) -> ApiResult<Value> {
        let (hook, challenge) = {
            let mut state = self.lock();
            let hook = state
                .hooks
                .get(id)
                .cloned()
                .ok_or_else(|| ApiError::not_found(id, "EventHook"))?;
            state.counters.deliveries.verifications += 1;
            let challenge = state.rng.base62(40);
            (hook, challenge)
        };
        let mut req = self
            .http
            .get(&hook.uri)
            .header("Accept", "application/json")
            .header("X-Okta-Verification-Challenge", challenge.as_str());
        for (k, v) in &hook.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((k, v)) = &hook.auth {
            req = req.header(k.as_str(), v.as_str());
        }
        let failure = match req.send().await {
            Ok(resp) if resp.status().is_success() => match resp.json::<Value>().await {
                Ok(body) if body["verification"].as_str() == Some(challenge.as_str()) => None,
                Ok(_) => Some("the response did not echo the verification value".to_string()),
                Err(_) => Some("the response was not JSON".to_string()),
            },
            Ok(resp) => Some(format!(
                "the endpoint answered HTTP {}",
                resp.status().as_u16()
            )),
            Err(e) if e.is_timeout() => Some("the endpoint did not answer in time".to_string()),
            Err(_) => Some("the endpoint could not be reached".to_string()),
        };
        if let Some(reason) = failure {
            return Err(ApiError::validation(format!(
                "Event hook verification failed: {reason}"
            )));
        }
        self.with(|state| {
            let hook = state
                .hooks
                .get_mut(id)
                .ok_or_else(|| ApiError::not_found(id, "EventHook"))?;
            hook.verified = true;
            hook.last_updated = clock::now();
            let target = hook.target();
            let json = hook.to_json(&state.org_url);
            state.log_event(
                ctx,
                EventSpec::info(
                    "event_hook.verified",
                    "Event hook verified",
                    None,
                    vec![target],
                ),
            );
            Ok(json)
        })
    }
}

async fn dispatch_loop(sim: Weak<Sim>, mut rx: mpsc::UnboundedReceiver<Vec<Value>>) {
    while let Some(mut batch) = rx.recv().await {
        let Some(strong) = sim.upgrade() else { return };
        let mut messages = 1;
        let window = Duration::from_millis(strong.opts.hook_batch_ms);
        if !window.is_zero() {
            let deadline = tokio::time::Instant::now() + window;
            while let Ok(Some(more)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                batch.extend(more);
                messages += 1;
            }
        }
        let deliveries = strong.plan(batch);
        strong
            .pending
            .fetch_add(deliveries.len() as u64, Ordering::SeqCst);
        for d in deliveries {
            tokio::spawn(Arc::clone(&strong).deliver(d));
        }
        strong.done(messages);
    }
}
