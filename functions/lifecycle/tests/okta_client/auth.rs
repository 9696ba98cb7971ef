//! Authentication: API tokens, private_key_jwt service apps, rejected and unknown credentials, DPoP.

use super::*;

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
