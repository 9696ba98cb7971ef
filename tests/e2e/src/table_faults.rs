//! A fault-injecting proxy between a DynamoDB client and moto, for the tests of what the
//! functions do when the table fails: throttling, 500s, timeouts, dropped connections,
//! and the worst case, a write that was made but whose answer was lost.
//!
//! Each test starts its own proxy on a loopback port of its own (a task in the test's
//! process: nothing to stop afterwards, nothing shared with other tests), builds its
//! store over [`TableFaults::client`] (the functions' own timeouts and retries), and says
//! which calls fail: the next few calls of an operation ([`TableFaults::fail_next`]), or
//! each call of some operations at a rate ([`TableFaults::fail_at_rate`], from a fixed
//! seed, so a failing run fails the same way again). The proxy counts what it passed and
//! what it failed, per operation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a [`Fault::Timeout`] holds a request before it closes the connection: longer
/// than any attempt timeout of the functions (800 ms) and their whole operation (2 s).
pub const HOLD: Duration = Duration::from_secs(3);

/// What happens to a call the proxy fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Answered at once as DynamoDB throttles a request (400,
    /// `ProvisionedThroughputExceededException`); nothing reaches the table.
    Throttle,
    /// 500 `InternalServerError`; nothing reaches the table.
    ServerError,
    /// No answer for [`HOLD`], then the connection is closed; nothing reaches the table.
    Timeout,
    /// The connection is closed without an answer; nothing reaches the table.
    Drop,
    /// Passed to the table, then the connection closed before the answer: the write is
    /// made and the caller cannot know it.
    LoseAnswer,
}

/// What the proxy did with one operation's calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Passed to the table and answered.
    pub passed: usize,
    /// Failed, by fault.
    pub failed: HashMap<Fault, usize>,
}

impl Tally {
    /// Calls failed, whatever the fault.
    pub fn failed_total(&self) -> usize {
        self.failed.values().sum()
    }
}

#[derive(Debug)]
struct Rule {
    /// `PutItem`, `TransactWriteItems`, …; `*` for every operation.
    op: String,
    /// Only calls whose request body holds this text.
    contains: Option<String>,
    faults: Vec<Fault>,
    /// The share of matching calls failed (1.0: every one).
    rate: f64,
    /// Calls still to fail; `None`: no end.
    left: Option<usize>,
    /// The next fault of `faults` to use (they take turns).
    turn: usize,
}

#[derive(Debug)]
struct State {
    rules: Vec<Rule>,
    /// xorshift64 state: the rate's draws, the same in every run.
    rng: u64,
    tally: HashMap<String, Tally>,
}

impl State {
    fn draw(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The fault for one call of `op` with `body`, if a rule fails it; counted.
    fn decide(&mut self, op: &str, body: &str) -> Option<Fault> {
        let mut chosen = None;
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            let matches = (rule.op == "*" || rule.op == op)
                && rule.left != Some(0)
                && rule.contains.as_deref().is_none_or(|c| body.contains(c));
            if !matches {
                continue;
            }
            let rate = rule.rate;
            if rate < 1.0 && self.draw() >= rate {
                continue;
            }
            let rule = &mut self.rules[i];
            let fault = rule.faults[rule.turn % rule.faults.len()];
            rule.turn += 1;
            if let Some(left) = rule.left.as_mut() {
                *left -= 1;
            }
            chosen = Some(fault);
            break;
        }
        let tally = self.tally.entry(op.to_owned()).or_default();
        match chosen {
            Some(f) => *tally.failed.entry(f).or_default() += 1,
            None => tally.passed += 1,
        }
        chosen
    }
}

/// The proxy: its address, its rules and its counts.
#[derive(Debug)]
pub struct TableFaults {
    endpoint: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TableFaults {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TableFaults {
    /// A proxy on a fresh loopback port in front of `upstream` (moto's URL), failing
    /// nothing until told.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            rules: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
            tally: HashMap::new(),
        }));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        let (upstream, shared) = (upstream.trim_end_matches('/').to_owned(), state.clone());
        let server = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, http.clone(), upstream.clone(), shared.clone()));
            }
        });
        Self {
            endpoint,
            state,
            server,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A DynamoDB client through the proxy, with the functions' own timeouts and retries.
    pub async fn client(&self) -> aws_sdk_dynamodb::Client {
        let config = lifecycle::aws::sdk_config().await;
        let conf = aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// Fails the next `times` calls of `op` (`*`: any) with `fault`.
    pub fn fail_next(&self, op: &str, fault: Fault, times: usize) {
        self.add(op, None, &[fault], 1.0, Some(times));
    }

    /// Fails the next `times` calls of `op` whose request body holds `text`.
    pub fn fail_next_with(&self, op: &str, text: &str, fault: Fault, times: usize) {
        self.add(op, Some(text), &[fault], 1.0, Some(times));
    }

    /// Fails each call of the operations `ops` (`*`: any) with probability `rate`, the
    /// faults taking turns, until [`clear`](Self::clear).
    pub fn fail_at_rate(&self, ops: &[&str], faults: &[Fault], rate: f64) {
        for op in ops {
            self.add(op, None, faults, rate, None);
        }
    }

    fn add(
        &self,
        op: &str,
        contains: Option<&str>,
        faults: &[Fault],
        rate: f64,
        left: Option<usize>,
    ) {
        assert!(!faults.is_empty(), "a rule needs a fault");
        self.state.lock().unwrap().rules.push(Rule {
            op: op.to_owned(),
            contains: contains.map(str::to_owned),
            faults: faults.to_vec(),
            rate,
            left,
            turn: 0,
        });
    }

    /// Fails nothing from now on.
    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// What was done with the calls of `op` so far.
    pub fn tally(&self, op: &str) -> Tally {
        self.state
            .lock()
            .unwrap()
            .tally
            .get(op)
            .cloned()
            .unwrap_or_default()
    }

    /// Calls failed so far, every operation and fault.
    pub fn failed(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .tally
            .values()
            .map(Tally::failed_total)
            .sum()
    }
}

/// One HTTP/1.1 request as the AWS SDK sends it (a `Content-Length` body).
struct Request {
    head: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves one connection's requests in turn, until the client closes it or a fault does.
async fn serve(
    mut conn: TcpStream,
    http: reqwest::Client,
    upstream: String,
    state: Arc<Mutex<State>>,
) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut conn, &mut buf).await {
        let op = req
            .header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        let fault = state
            .lock()
            .unwrap()
            .decide(&op, &String::from_utf8_lossy(&req.body));
        let answer = match fault {
            Some(Fault::Throttle) => error(
                400,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            Some(Fault::ServerError) => error(
                500,
                "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "Internal server error",
            ),
            Some(Fault::Timeout) => {
                tokio::time::sleep(HOLD).await;
                return;
            }
            Some(Fault::Drop) => return,
            Some(Fault::LoseAnswer) => {
                let _ = forward(&http, &upstream, req).await;
                return;
            }
            None => match forward(&http, &upstream, req).await {
                Some(answer) => answer,
                None => return,
            },
        };
        if conn.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// Reads the next request from `conn` (`buf` keeps what was read past it); `None` when
/// the connection ends.
async fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let head: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = head
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    assert!(
        !head
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")),
        "the proxy reads Content-Length bodies only, as the SDK sends DynamoDB's"
    );
    buf.drain(..end + 4);
    while buf.len() < length {
        let mut chunk = [0u8; 64 * 1024];
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..length).collect();
    Some(Request { head, body })
}

/// Passes `req` to the table; its answer as bytes for the client, `None` when the table
/// did not answer.
async fn forward(http: &reqwest::Client, upstream: &str, req: Request) -> Option<Vec<u8>> {
    let mut out = http.post(format!("{upstream}/"));
    for (k, v) in &req.head {
        let skip = ["host", "content-length", "connection"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h));
        if !skip {
            out = out.header(k, v);
        }
    }
    let resp = out.body(req.body).send().await.ok()?;
    let status = resp.status().as_u16();
    let keep: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| ["content-type", "x-amzn-requestid", "x-amz-crc32"].contains(&k.as_str()))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp.bytes().await.ok()?;
    Some(response(status, &keep, &body))
}

fn error(status: u16, kind: &str, message: &str) -> Vec<u8> {
    let body = serde_json::json!({"__type": kind, "message": message}).to_string();
    response(
        status,
        &[("content-type".into(), "application/x-amz-json-1.0".into())],
        body.as_bytes(),
    )
}

fn response(status: u16, head: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in head {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
