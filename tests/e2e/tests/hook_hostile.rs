//! Hostile requests to the hook endpoint through the local gateway: each gets the status
//! the table says, and none leaves a job or a dedupe marker behind (a malformed body may
//! be kept in quarantine; that is the point of quarantine).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e_tests::{deactivations, events, fixture, user_of, Stack};
use serde_json::Value;

/// One request as bytes on the wire, its status; a 503 (the table did not answer in
/// time, nothing written: the hook's "ask again") is asked again as Okta would, a few
/// times, so that a loaded moto does not stand in for the status under test.
fn raw_request(stack: &Stack, head: &[(String, String)], body: &[u8]) -> u16 {
    const TRIES: u32 = 4;
    let mut tries = 1;
    loop {
        let status = raw_answer(stack, head, body);
        if status != 503 || tries == TRIES {
            return status;
        }
        std::thread::sleep(Duration::from_secs(u64::from(tries)));
        tries += 1;
    }
}

/// One request as bytes on the wire, so that what an HTTP client would refuse to send
/// (a header with a bare newline, invalid UTF-8) is sent all the same.
fn raw_answer(stack: &Stack, head: &[(String, String)], body: &[u8]) -> u16 {
    let url = reqwest::Url::parse(stack.hook_url()).expect("hook url");
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let mut conn = TcpStream::connect(&addr).expect("gateway reachable");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut req = format!("POST {} HTTP/1.1\r\nHost: {addr}\r\n", url.path()).into_bytes();
    for (k, v) in head {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    req.extend_from_slice(body);
    // The gateway may answer (413) and close before it has read a large body.
    let _ = conn.write_all(&req);
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {:?}", &text[..text.len().min(200)]))
}

/// A body with one fresh deactivation, and that event's user and uuid.
fn one_event() -> (Value, String, String) {
    let delivery = fixture("deactivate.json");
    let event = &events(&delivery)[0];
    let (user, uuid) = (
        user_of(event).to_owned(),
        event["uuid"].as_str().unwrap().to_owned(),
    );
    (delivery, user, uuid)
}

async fn nothing_written(stack: &Stack, user: &str, uuid: &str, case: &str) {
    let jobs = stack.jobs(user).await;
    assert!(jobs.is_empty(), "{case}: a job for {uuid} was written");
}

fn auth(stack: &Stack, value: &str) -> Vec<(String, String)> {
    vec![(stack.auth_header().to_owned(), value.to_owned())]
}

#[tokio::test]
async fn hostile_requests_get_their_status_and_write_nothing() {
    let stack = Stack::get();
    let secret = stack.secret().to_owned();
    type Case = (
        &'static str,
        fn(&Stack, &str, Value) -> (Vec<(String, String)>, Vec<u8>),
        u16,
    );
    let cases: Vec<Case> = vec![
        (
            "a 60 KiB secret header",
            |s, _, d| {
                (
                    auth(s, &"x".repeat(60 * 1024)),
                    serde_json::to_vec(&d).unwrap(),
                )
            },
            401,
        ),
        (
            "the secret with a trailing space",
            |s, secret, d| {
                (
                    auth(s, &format!("{secret}x ")),
                    serde_json::to_vec(&d).unwrap(),
                )
            },
            401,
        ),
        (
            "JSON nested 100,000 deep",
            |s, secret, _| {
                let deep = format!(
                    "{{\"data\": {{\"events\": {}{}}}}}",
                    "[".repeat(100_000),
                    "]".repeat(100_000)
                );
                (auth(s, secret), deep.into_bytes())
            },
            400,
        ),
        (
            "invalid UTF-8 in the body",
            |s, secret, d| {
                let mut body = serde_json::to_vec(&d).unwrap();
                let at = body.len() / 2;
                body.splice(at..at, [0xff, 0xfe, 0xc3]);
                (auth(s, secret), body)
            },
            400,
        ),
        (
            "a duplicate `data` key (which one counts?)",
            |s, secret, d| {
                let body = format!(
                "{{\"eventType\": \"com.okta.event_hook\", \"data\": {}, \"data\": {{\"events\": []}}}}",
                d["data"]
            );
                (auth(s, secret), body.into_bytes())
            },
            400,
        ),
        (
            "a duplicate `uuid` key in one event",
            |s, secret, d| {
                let mut text = serde_json::to_string(&d).unwrap();
                text = text.replacen("\"uuid\":", "\"uuid\": \"dup-1\", \"uuid\":", 1);
                (auth(s, secret), text.into_bytes())
            },
            400,
        ),
    ];
    for (case, build, expected) in cases {
        let (delivery, user, uuid) = one_event();
        let (head, body) = build(&stack, &secret, delivery);
        let got = raw_request(&stack, &head, &body);
        assert_eq!(got, expected, "{case}");
        nothing_written(&stack, &user, &uuid, case).await;
    }
}

#[tokio::test]
async fn ten_thousand_events_in_one_delivery_are_refused_whole_or_taken_whole() {
    let stack = Stack::get();
    let delivery = deactivations(10_000);
    let body = serde_json::to_vec(&delivery).unwrap();
    let got = raw_request(&stack, &auth(&stack, stack.secret()), &body);
    // Over the 1 MiB a delivery may be, as Okta's own batches never are: refused whole.
    assert!(body.len() > 1024 * 1024, "{} bytes", body.len());
    assert_eq!(got, 413);
    for event in events(&delivery).iter().step_by(997) {
        nothing_written(
            &stack,
            user_of(event),
            event["uuid"].as_str().unwrap(),
            "10,000 events",
        )
        .await;
    }
}

#[tokio::test]
async fn the_secret_header_is_found_in_any_case_and_only_with_the_exact_value() {
    let stack = Stack::get();
    let secret = stack.secret().to_owned();
    let name = stack.auth_header().to_owned();
    for header in [name.to_lowercase(), name.to_uppercase()] {
        let (delivery, user, _) = one_event();
        let head = vec![(header.clone(), secret.clone())];
        let got = raw_request(&stack, &head, &serde_json::to_vec(&delivery).unwrap());
        assert_eq!(got, 200, "{header}");
        assert_eq!(stack.jobs(&user).await.len(), 1, "{header}");
    }
    // Two secret headers, one wrong: refused, as an ambiguous credential.
    let (delivery, user, uuid) = one_event();
    let head = vec![
        (name.clone(), "wrong".to_owned()),
        (name.clone(), secret.clone()),
    ];
    let got = raw_request(&stack, &head, &serde_json::to_vec(&delivery).unwrap());
    assert_eq!(got, 401, "a wrong secret beside the right one");
    nothing_written(&stack, &user, &uuid, "two secret headers").await;
}
