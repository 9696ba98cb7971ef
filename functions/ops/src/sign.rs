//! The actions API as any other IAM caller reaches it: each request signed with SigV4
//! (service `execute-api`) over the exact bytes sent, with credentials from the default
//! chain. Neither the credentials nor the signature are ever printed or put in an error.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use lifecycle::retry::Backoff;
use reqwest::{Method, Url};

pub use aws_credential_types::Credentials;

/// The service API Gateway's IAM authorizer checks signatures for.
pub const SERVICE: &str = "execute-api";
/// Connecting to the API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole request: the API answers within API Gateway's 30 s, `pending` past its budget.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
/// Resolving credentials (a profile, SSO, an instance role).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(15);
/// Tries of one request. An answer that says nothing ran (429 from the gateway's
/// throttle, 500, 502, 503, 504) or no connection at all is asked again with exactly the
/// same bytes: a `POST` carries its idempotency key, so a repeat can only return the
/// first answer. A request that was sent and timed out is not repeated here: the caller
/// says how to ask for its answer.
const TRIES: u32 = 5;
/// The wait between tries: 0.5 s doubling to 4 s, half of it random (about 7 s in all).
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));

/// The API could not be asked, or gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The configuration is incomplete or wrong.
    #[error("{0}")]
    Config(String),
    /// No credentials from the default chain.
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    /// The request could not be signed.
    #[error("the request could not be signed: {0}")]
    Sign(String),
    /// No answer: refused, reset, timed out. Nothing is known to have run, or not.
    #[error("{method} {url}: {reason}")]
    Transport {
        /// The method.
        method: Method,
        /// Where.
        url: String,
        /// Why, with its sources.
        reason: String,
    },
}

/// An answer as it came: its status and its body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

/// A client for `POST /actions` and `GET /actions/{request_id}`.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    url: Url,
    region: String,
    credentials: SharedCredentialsProvider,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("url", &self.url.as_str())
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for the API at `url` (the stack's `ActionsUrl`: `…/actions`) signing for
    /// `region` with `credentials`.
    pub fn new(
        url: &str,
        region: &str,
        credentials: impl ProvideCredentials + 'static,
    ) -> Result<Self, CallError> {
        let url = Url::parse(url.trim_end_matches('/'))
            .map_err(|e| CallError::Config(format!("the API URL {url:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(CallError::Config(format!(
                "the API URL {url} must be an http(s) URL with a host"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(CallError::Config(format!(
                "the API URL {url} must not carry a query or fragment"
            )));
        }
        if region.trim().is_empty() {
            return Err(CallError::Config("the region is empty".into()));
        }
        let http = lifecycle::net::http_client(
            CONNECT_TIMEOUT,
            REQUEST_TIMEOUT,
            lifecycle::net::USER_AGENT,
        )
        .map_err(|e| CallError::Config(lifecycle::net::error_chain(&e)))?;
        Ok(Self {
            http,
            url,
            region: region.trim().to_owned(),
            credentials: SharedCredentialsProvider::new(credentials),
        })
    }

    /// A client with the default credential chain of `aws`.
    pub fn from_sdk_config(
        url: &str,
        region: &str,
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, CallError> {
        let provider = aws
            .credentials_provider()
            .ok_or_else(|| CallError::Credentials("the default chain found no provider".into()))?;
        Self::new(url, region, provider)
    }

    /// The API's URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// `POST /actions` with `body`, exactly these bytes.
    pub async fn post(&self, body: Vec<u8>) -> Result<Reply, CallError> {
        self.send(Method::POST, self.url.clone(), body).await
    }

    /// `GET /actions/{request_id}`.
    pub async fn get(&self, request_id: &str) -> Result<Reply, CallError> {
        if request_id.is_empty()
            || !request_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(CallError::Config(format!(
                "{request_id:?} is not a request id (letters, digits, - and _)"
            )));
        }
        let url = Url::parse(&format!("{}/{request_id}", self.url))
            .map_err(|e| CallError::Config(e.to_string()))?;
        self.send(Method::GET, url, Vec::new()).await
    }

    /// Sends the request, again (at most [`TRIES`] in all, [`BACKOFF`] between) while
    /// the answer is one that [`worth_repeating`] says nothing ran for.
    async fn send(&self, method: Method, url: Url, body: Vec<u8>) -> Result<Reply, CallError> {
        let mut tried = 0;
        loop {
            let (result, connected) = self.send_once(&method, &url, &body).await;
            tried += 1;
            if tried >= TRIES || !worth_repeating(&result, connected) {
                return result;
            }
            tokio::time::sleep(BACKOFF.delay(tried - 1)).await;
        }
    }

    /// One try, and whether a connection was made (a refused or failed connection sent
    /// nothing).
    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: &[u8],
    ) -> (Result<Reply, CallError>, bool) {
        let mut headers: Vec<(&'static str, String)> =
            vec![("accept", "application/json".to_owned())];
        if method == Method::POST {
            headers.push(("content-type", "application/json".to_owned()));
        }
        let credentials = match self.credentials().await {
            Ok(c) => c,
            Err(e) => return (Err(e), true),
        };
        let signed = match sign_request(
            method,
            url,
            &headers,
            body,
            &credentials,
            &self.region,
            SystemTime::now(),
        ) {
            Ok(s) => s,
            Err(e) => return (Err(e), true),
        };
        let mut request = self.http.request(method.clone(), url.clone());
        for (name, value) in headers.iter().chain(signed.iter()) {
            request = request.header(*name, value);
        }
        let transport = |e: &reqwest::Error| CallError::Transport {
            method: method.clone(),
            url: url.to_string(),
            reason: lifecycle::net::error_chain(e),
        };
        let response = match request.body(body.to_vec()).send().await {
            Ok(r) => r,
            Err(e) => return (Err(transport(&e)), !e.is_connect()),
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(body) => (Ok(Reply { status, body }), true),
            Err(e) => (Err(transport(&e)), true),
        }
    }

    async fn credentials(&self) -> Result<Credentials, CallError> {
        match tokio::time::timeout(CREDENTIALS_TIMEOUT, self.credentials.provide_credentials())
            .await
        {
            Ok(Ok(credentials)) => Ok(credentials),
            Ok(Err(e)) => Err(CallError::Credentials(lifecycle::net::error_chain(&e))),
            Err(_) => Err(CallError::Credentials(format!(
                "the default chain gave none within {CREDENTIALS_TIMEOUT:?}"
            ))),
        }
    }
}

/// Whether a try's outcome says nothing ran and asking again may get a real answer: the
/// gateway's throttle, a server error, or a connection that was never made.
fn worth_repeating(result: &Result<Reply, CallError>, connected: bool) -> bool {
    match result {
        Ok(reply) => matches!(reply.status, 429 | 500 | 502 | 503 | 504),
        Err(CallError::Transport { .. }) => !connected,
        Err(_) => false,
    }
}

/// The headers that sign a request of `method` to `url` carrying `headers` (all of them
/// signed, with `host` from the URL) and exactly `body`: `x-amz-date`, the session token
/// when there is one, and `authorization`. They hold secrets: never print them.
pub fn sign_request(
    method: &Method,
    url: &Url,
    headers: &[(&'static str, String)],
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, CallError> {
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| CallError::Sign(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        method.as_str(),
        url.as_str(),
        headers.iter().map(|(n, v)| (*n, v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| CallError::Sign(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| CallError::Sign(e.to_string()))?
        .into_parts();
    let (signed, _params) = instructions.into_parts();
    Ok(signed
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        )
    }

    fn headers_for(body: &[u8], token: Option<&str>) -> Vec<(&'static str, String)> {
        let url = Url::parse("https://abc.execute-api.eu-west-1.amazonaws.com/actions").unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let headers = vec![("content-type", "application/json".to_owned())];
        sign_request(
            &Method::POST,
            &url,
            &headers,
            body,
            &creds(token),
            "eu-west-1",
            time,
        )
        .unwrap()
    }

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_signature_is_scoped_to_execute_api_and_signs_host_and_content_type() {
        let signed = headers_for(b"{}", None);
        let auth = header(&signed, "authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/execute-api/aws4_request"
            ),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date"),
            "{auth}"
        );
        assert_eq!(header(&signed, "x-amz-date"), Some("20231114T221320Z"));
        assert_eq!(header(&signed, "x-amz-security-token"), None);
    }

    #[test]
    fn the_signature_covers_the_body() {
        let a = headers_for(b"{\"a\":1}", None);
        let b = headers_for(b"{\"a\":2}", None);
        assert_ne!(header(&a, "authorization"), header(&b, "authorization"));
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let signed = headers_for(b"{}", Some("session-token"));
        assert_eq!(
            header(&signed, "x-amz-security-token"),
            Some("session-token")
        );
        let auth = header(&signed, "authorization").unwrap();
        assert!(auth.contains("x-amz-security-token"), "{auth}");
    }

    #[test]
    fn the_client_debug_shows_no_credentials() {
        let client =
            ApiClient::new("http://127.0.0.1:1/actions", "us-east-1", creds(None)).unwrap();
        let text = format!("{client:?}");
        assert!(!text.contains("wJalr") && !text.contains("AKID"), "{text}");
    }

    #[test]
    fn a_request_id_with_path_characters_is_refused_before_sending() {
        let client =
            ApiClient::new("http://127.0.0.1:1/actions", "us-east-1", creds(None)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt.block_on(client.get("../x")).unwrap_err();
        assert!(matches!(e, CallError::Config(_)), "{e}");
    }

    #[test]
    fn an_api_url_must_be_http_with_a_host() {
        for url in ["not a url", "ftp://x/actions", "https://x/actions?a=1"] {
            assert!(
                ApiClient::new(url, "us-east-1", creds(None)).is_err(),
                "{url}"
            );
        }
    }

    /// A server on loopback that answers each connection with the next of `statuses`
    /// (then 200) and hands every request's body to the test.
    fn answering(statuses: Vec<u16>) -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/actions", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                if tx.send(body).is_err() {
                    return;
                }
                let status = statuses.next().unwrap_or(200);
                let text = format!("{{\"status\":{status}}}");
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        (url, rx)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn an_answer_that_nothing_ran_is_asked_again_with_the_same_bytes() {
        let (url, bodies) = answering(vec![503, 429, 502]);
        let client = ApiClient::new(&url, "us-east-1", creds(None)).unwrap();
        let reply = runtime()
            .block_on(client.post(b"{\"idempotency_key\":\"k\"}".to_vec()))
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let sent: Vec<Vec<u8>> = bodies.try_iter().collect();
        assert_eq!(sent.len(), 4);
        assert!(sent.iter().all(|b| b == b"{\"idempotency_key\":\"k\"}"));
    }

    #[test]
    fn a_refusal_is_not_repeated_and_the_tries_are_bounded() {
        let (url, bodies) = answering(vec![400]);
        let client = ApiClient::new(&url, "us-east-1", creds(None)).unwrap();
        let reply = runtime().block_on(client.post(b"{}".to_vec())).unwrap();
        assert_eq!(reply.status, 400);
        assert_eq!(bodies.try_iter().count(), 1);

        let (url, bodies) = answering(vec![503; 10]);
        let client = ApiClient::new(&url, "us-east-1", creds(None)).unwrap();
        let reply = runtime().block_on(client.post(b"{}".to_vec())).unwrap();
        assert_eq!(reply.status, 503, "the last answer is the caller's");
        assert_eq!(bodies.try_iter().count(), TRIES as usize);
    }
}
