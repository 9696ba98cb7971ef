//! Entry points for the fuzz targets (`fuzz/`) and the mutation tests
//! (`tests/parsers_mutated.rs`): each takes arbitrary bytes, hands them to one of the
//! parsers that read what comes from outside (Okta, a SCIM server, Secrets Manager, an
//! API caller, an HR export) and checks what must hold whatever the input. A panic here
//! is a bug: every input must end in `Ok` or an error.

use std::sync::OnceLock;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::domain::provision::{ActionsRequest, MAX_KEY_LEN};
use crate::okta::hook::{parse_delivery, parse_log_event};
use crate::okta::{ClientOptions, OktaClient, OktaCredentials, OktaGroup, OktaUser};
use crate::secrets::Secret;
use crate::sync::{Format, Mapping};
use crate::targets::TargetsConfig;

/// One target: it takes any bytes and panics only on a bug.
pub type Target = fn(&[u8]);

/// The parsers, by the names of their fuzz targets.
pub const TARGETS: [(&str, Target); 8] = [
    ("hook_envelope", hook_envelope),
    ("log_page", log_page),
    ("link_header", link_header),
    ("scim_response", scim_response),
    ("okta_objects", okta_objects),
    ("targets_secret", targets_secret),
    ("actions_request", actions_request),
    ("hr_file", hr_file),
];

/// An event hook delivery body. A delivery that parses gives, event by event, what the
/// System Log reader gives for the same event.
pub fn hook_envelope(data: &[u8]) {
    let Ok(delivery) = parse_delivery(data) else {
        return;
    };
    // serde_json skips the fields the envelope does not read without checking their
    // escapes, so a lone surrogate (`"\ud800"`) there parses as a delivery and not as a
    // `Value`: then there is nothing to compare with.
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let events = value["data"]["events"]
        .as_array()
        .expect("a parsed delivery has data.events");
    assert_eq!(events.len(), delivery.events.len());
    for (index, (raw, parsed)) in events.iter().zip(&delivery.events).enumerate() {
        let again = parse_log_event(index, raw.clone()).expect("the same event parses alone");
        assert_eq!(&again, parsed);
    }
}

/// `Link` header values, one per line: the `rel="next"` target is found without panic,
/// and is the text between `<` and `>` of one of them.
pub fn link_header(data: &[u8]) {
    let headers = headers(data);
    for rel in ["next", "self", "NEXT", ""] {
        if let Some(url) = crate::okta::link::find_link(&headers, rel) {
            assert!(!url.contains('>'), "{url:?}");
            assert!(
                headers
                    .get_all("link")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .any(|v| v.contains(url.as_str())),
                "{url:?} is in no header"
            );
        }
    }
}

/// A System Log answer: the first line is its `Link` header, the rest its body. What
/// decodes gives events that each parse, or fail, on their own.
pub fn log_page(data: &[u8]) {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&[][..], data),
    };
    let Ok((events, _after)) = client().decode_log_page("/api/v1/logs", body, &headers(head))
    else {
        return;
    };
    for (index, event) in events.into_iter().enumerate() {
        let _ = parse_log_event(index, event);
    }
}

/// A SCIM server's answers: `GET /Users/{id}` and `GET /Users?filter=…`. An account
/// read has the id the answer gave.
pub fn scim_response(data: &[u8]) {
    if let Ok(account) = crate::targets::scim::account("fuzz", data) {
        let value: Value = serde_json::from_slice(data).expect("a read account is JSON");
        assert_eq!(value["id"].as_str(), Some(account.id.as_str()));
    }
    if let Ok(Some(account)) = crate::targets::scim::search_result("fuzz", "login", data) {
        let value: Value = serde_json::from_slice(data).expect("a search answer is JSON");
        assert_eq!(
            value["Resources"][0]["id"].as_str(),
            Some(account.id.as_str())
        );
    }
}

/// Okta's user and group objects, one or a list of them. A user read has the id the
/// object gave.
pub fn okta_objects(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let items = match &value {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    };
    for item in items {
        if let Ok(user) = OktaUser::from_json(item) {
            assert_eq!(item["id"].as_str(), Some(user.id.as_str()));
            let _ = user.has_login(&user.login);
        }
        if let Ok(group) = OktaGroup::from_json(item) {
            assert_eq!(item["id"].as_str(), Some(group.id.as_str()));
        }
    }
}

/// The targets secret (and the Okta credentials secret beside it). A refusal never
/// quotes a webhook secret or a SCIM token of the input.
pub fn targets_secret(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match TargetsConfig::from_secret_json(text) {
        Ok(config) => {
            let mut names: Vec<&str> = config
                .scim
                .iter()
                .map(|s| s.name.as_str())
                .chain(config.webhooks.iter().map(|w| w.name.as_str()))
                .collect();
            let all = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), all, "target names are unique");
        }
        Err(e) => {
            let message = e.to_string();
            for secret in secrets_in(text) {
                // The same input with the secret blanked shows what the message says anyway.
                let blank = "x".repeat(secret.chars().count());
                let other = TargetsConfig::from_secret_json(&text.replacen(&secret, &blank, 1))
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert!(
                    !message.contains(&secret) || other.contains(&secret),
                    "{message:?} quotes a secret"
                );
            }
        }
    }
    let _ = OktaCredentials::from_secret_json(text);
}

/// A `POST /actions` body. An accepted request has a valid key; a refused one says why.
pub fn actions_request(data: &[u8]) {
    match ActionsRequest::parse(data) {
        Ok(request) => {
            let key = &request.idempotency_key;
            assert!(!key.is_empty() && key.len() <= MAX_KEY_LEN, "{key:?}");
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
}

/// An HR export, read as CSV, as JSON lines and as its first byte says; the first line
/// is also tried as a column mapping.
pub fn hr_file(data: &[u8]) {
    let mapping = data
        .split(|&b| b == b'\n')
        .next()
        .and_then(|line| Mapping::from_json(line).ok())
        .unwrap_or_default();
    for format in [None, Some(Format::Csv), Some(Format::JsonLines)] {
        if let Ok(parsed) = crate::sync::parse(data, format, &mapping) {
            assert_eq!(parsed.digest.len(), 64);
        }
    }
}

/// Each line that is a valid header value, as a `Link` header.
fn headers(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append("link", value);
        }
    }
    headers
}

/// A client for the org the log pages come from; it sends nothing.
fn client() -> &'static OktaClient {
    static CLIENT: OnceLock<OktaClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        OktaClient::new(
            "https://acme.okta.com",
            OktaCredentials::Ssws(Secret::new("fuzz-token")),
            ClientOptions::default(),
        )
        .expect("a valid org URL")
    })
}

/// The `secret` and `token` strings of the input, where it is JSON enough to have them.
fn secrets_in(text: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    // With escapes, the secret's text and the input's may differ.
    if text.contains('\\') {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (list, field) in [("webhooks", "secret"), ("scim", "token")] {
        for item in value[list].as_array().into_iter().flatten() {
            let once = |s: &&str| s.len() >= 8 && text.matches(*s).count() == 1;
            if let Some(s) = item[field].as_str().filter(once) {
                out.push(s.to_owned());
            }
        }
    }
    out
}
