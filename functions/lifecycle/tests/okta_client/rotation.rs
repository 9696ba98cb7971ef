//! Rotated credentials: the client reads its secret again when Okta refuses the token or
//! the key, and tries the call once more with what it read.

use std::sync::atomic::{AtomicUsize, Ordering};

use lifecycle::secrets::{ReadFuture, RefreshSettings, SecretRead};

use super::*;

const NEW_KEY_PEM: &str =
    include_str!("../../../../tests/okta-sim/tests/fixtures/unregistered.key.pem");
const NEW_PUBLIC_PEM: &str =
    include_str!("../../../../tests/okta-sim/tests/fixtures/unregistered.pub.pem");

/// The credentials secret as a test sets it, counting reads.
#[derive(Default)]
struct Source {
    text: Mutex<String>,
    reads: AtomicUsize,
}

impl Source {
    fn new(text: String) -> Arc<Self> {
        Arc::new(Self {
            text: Mutex::new(text),
            reads: AtomicUsize::new(0),
        })
    }

    fn set(&self, text: String) {
        *self.text.lock().expect("lock") = text;
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl SecretRead for Source {
    fn read(&self) -> ReadFuture<'_> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let text = self.text.lock().expect("lock").clone();
        Box::pin(async move { Ok(Some(Secret::new(text))) })
    }
}

fn ssws(token: &str) -> String {
    json!({ "ssws_token": token }).to_string()
}

fn service_app(key: &str) -> String {
    json!({"client_id": CLIENT_ID, "private_key": key, "scopes": "okta.logs.read okta.users.read"})
        .to_string()
}

/// A client over `source`, whose refused credentials may be read again at once.
fn client(org: &Org, source: &Arc<Source>, max_age: Duration) -> OktaClient {
    let text = Secret::new(source.text.lock().expect("lock").clone());
    OktaClient::from_secret(
        &org.base,
        "test/okta-credentials",
        text,
        Arc::clone(source) as Arc<dyn SecretRead>,
        RefreshSettings {
            interval: Duration::ZERO,
            max_age,
        },
        ClientOptions::default(),
    )
    .expect("client builds")
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_rotated_api_token_is_read_again_when_okta_refuses_the_old_one() {
    let org = start_org().await;
    org.call(
        reqwest::Method::POST,
        "/_sim/api-tokens",
        Some(json!({"add": ["00old"]})),
    )
    .await;
    let source = Source::new(ssws("00old"));
    let client = client(&org, &source, HOUR);
    client.system_log_page(&deactivations(10)).await.unwrap();

    org.call(
        reqwest::Method::POST,
        "/_sim/api-tokens",
        Some(json!({"add": ["00new"], "revoke": ["00old"]})),
    )
    .await;
    source.set(ssws("00new"));
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(source.reads(), 1, "read again once, on the refusal");
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(source.reads(), 1, "the new token is kept");
}

#[tokio::test]
async fn a_refusal_with_nothing_new_in_the_secret_stands() {
    let org = start_org().await;
    org.call(
        reqwest::Method::POST,
        "/_sim/api-tokens",
        Some(json!({"add": ["00gone"]})),
    )
    .await;
    let source = Source::new(ssws("00gone"));
    let client = client(&org, &source, HOUR);
    org.call(
        reqwest::Method::POST,
        "/_sim/api-tokens",
        Some(json!({"revoke": ["00gone"]})),
    )
    .await;
    let err = client
        .system_log_page(&deactivations(10))
        .await
        .unwrap_err();
    assert!(err.is_credentials_refused(), "{err:?}");
    assert_eq!(err.code(), Some("E0000011"));
    assert!(!format!("{err:?}{err}").contains("00gone"));
    assert_eq!(source.reads(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_read_again_when_the_token_endpoint_refuses_the_old_one() {
    let org = start_org().await;
    let source = Source::new(service_app(KEY_PEM));
    let client = client(&org, &source, HOUR);
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(org.requests("token").await, 1);

    // The app's key is replaced and its access tokens run out.
    org.call(
        reqwest::Method::POST,
        &format!("/_sim/oauth-clients/{CLIENT_ID}/keys"),
        Some(json!({"publicKeysPem": [NEW_PUBLIC_PEM], "revokeTokens": true})),
    )
    .await;
    source.set(service_app(NEW_KEY_PEM));
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(source.reads(), 1);
    // The old token refused, the old key refused (invalid_client), the new key's token.
    assert_eq!(org.requests("token").await, 3);
}

#[tokio::test]
async fn a_new_key_read_when_the_old_is_due_drops_the_access_token_of_the_old_key() {
    let org = start_org().await;
    let source = Source::new(service_app(KEY_PEM));
    // Every use reads the secret again (max age zero).
    let client = client(&org, &source, Duration::ZERO);
    client.system_log_page(&deactivations(10)).await.unwrap();
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(
        org.requests("token").await,
        1,
        "the same text keeps the token"
    );

    // Both keys on the app, the old token still valid: only the new key's token is used.
    let old_public = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/okta-sim/demo-org.json"),
    )
    .map(|t| serde_json::from_str::<Value>(&t).expect("json"))
    .expect("demo org")["oauthClients"][0]["publicKeyPem"]
        .as_str()
        .expect("key")
        .to_owned();
    org.call(
        reqwest::Method::POST,
        &format!("/_sim/oauth-clients/{CLIENT_ID}/keys"),
        Some(json!({"publicKeysPem": [old_public, NEW_PUBLIC_PEM]})),
    )
    .await;
    source.set(service_app(NEW_KEY_PEM));
    client.system_log_page(&deactivations(10)).await.unwrap();
    assert_eq!(
        org.requests("token").await,
        2,
        "a new token, from the new key"
    );
}
