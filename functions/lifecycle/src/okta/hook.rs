//! The event hook delivery: Okta's envelope and the LogEvents inside it.
//!
//! Parsing is lenient where real payloads vary (extra fields, `null` targets, odd values
//! in fields we do not read) and strict where the product depends on a field: every
//! event must carry a `uuid`, an `eventType` and a `published` time.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::clock::Timestamp;
use crate::domain::{EventType, EventUuid, UserId, UserRef};

/// One event of a delivery, reduced to what the product uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Okta's id for the event, shared with the System Log.
    pub uuid: EventUuid,
    /// When Okta recorded the event.
    pub published: Timestamp,
    /// What happened.
    pub event_type: EventType,
    /// The user the event is about: the `target` element of type `User`, if any.
    pub user: Option<UserRef>,
}

/// A parsed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The envelope's `eventId`: names the POST, not the events in it.
    pub delivery_id: Option<String>,
    /// The events, in the order Okta sent them.
    pub events: Vec<LogEvent>,
}

/// Why a body is not a usable Okta event hook delivery.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or JSON of the wrong shape (no `data.events` array, a field of the wrong type).
    #[error("body is not an Okta event hook envelope: {0}")]
    Shape(#[from] serde_json::Error),
    /// Not UTF-8, as JSON must be (RFC 8259 §8.1); the parser alone would let invalid
    /// bytes through in the fields it skips.
    #[error("body is not an Okta event hook envelope: not UTF-8 at byte {0}")]
    NotUtf8(usize),
    /// An event is missing a field the product depends on, or has an invalid one.
    #[error("data.events[{index}].{field}: {reason}")]
    Event {
        /// Position of the event in `data.events`.
        index: usize,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "eventId")]
    event_id: Option<String>,
    data: Object<RawData>,
}

#[derive(Deserialize)]
struct RawData {
    events: Vec<Object<RawEvent>>,
}

#[derive(Deserialize)]
struct RawEvent {
    uuid: Option<String>,
    published: Option<String>,
    #[serde(rename = "eventType")]
    event_type: Option<String>,
    #[serde(default)]
    target: Option<Vec<Object<RawTarget>>>,
}

#[derive(Deserialize)]
struct RawTarget {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "alternateId")]
    alternate_id: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
}

/// A struct read from a JSON object only. serde's derive also reads a struct from an
/// array of its fields in order (`{"data":[[]]}` would be a delivery of no events), a
/// shape Okta never sends and the envelope refuses.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Fields(PhantomData))
            .map(Object)
    }
}

/// Parses a delivery body.
pub fn parse_delivery(body: &[u8]) -> Result<Delivery, EnvelopeError> {
    let text = std::str::from_utf8(body).map_err(|e| EnvelopeError::NotUtf8(e.valid_up_to()))?;
    let Object(raw): Object<RawEnvelope> = serde_json::from_str(text)?;
    let events = raw
        .data
        .0
        .events
        .into_iter()
        .enumerate()
        .map(|(index, Object(e))| event_from_raw(index, e))
        .collect::<Result<_, _>>()?;
    Ok(Delivery {
        delivery_id: raw.event_id,
        events,
    })
}

/// Parses one LogEvent as the System Log API returns it (the same shape as in a
/// delivery); `index` is its position on the page, for the error message.
pub fn parse_log_event(index: usize, value: serde_json::Value) -> Result<LogEvent, EnvelopeError> {
    let Object(raw): Object<RawEvent> = serde_json::from_value(value)?;
    event_from_raw(index, raw)
}

fn event_from_raw(index: usize, raw: RawEvent) -> Result<LogEvent, EnvelopeError> {
    let bad = |field: &'static str, reason: String| EnvelopeError::Event {
        index,
        field,
        reason,
    };
    let uuid = raw.uuid.ok_or_else(|| bad("uuid", "missing".into()))?;
    let uuid = EventUuid::parse(&uuid).map_err(|e| bad("uuid", e.to_string()))?;
    let event_type = raw
        .event_type
        .ok_or_else(|| bad("eventType", "missing".into()))?;
    let published = raw
        .published
        .ok_or_else(|| bad("published", "missing".into()))?;
    let published = Timestamp::parse(&published).map_err(|e| bad("published", e.to_string()))?;
    let user = match raw
        .target
        .unwrap_or_default()
        .into_iter()
        .map(|Object(t)| t)
        .find(|t| t.kind.as_deref() == Some("User"))
    {
        None => None,
        Some(t) => {
            let id =
                t.id.ok_or_else(|| bad("target", "User without id".into()))?;
            let id = UserId::parse(&id).map_err(|e| bad("target", e.to_string()))?;
            Some(UserRef {
                id,
                login: t.alternate_id,
                display_name: t.display_name,
            })
        }
    };
    Ok(LogEvent {
        uuid,
        published,
        event_type: EventType::from(event_type.as_str()),
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEACTIVATE: &str = r#"{
      "eventType": "com.okta.event_hook",
      "eventTypeVersion": "1.0",
      "cloudEventsVersion": "0.1",
      "source": "https://example.okta.com/api/v1/eventHooks/who8ks8hd2YbbJjr61d7",
      "eventId": "b3f0c1e0-1b8e-4a39-9f3e-0c1d2e3f4a5b",
      "data": {"events": [{
        "uuid": "4f1b6b9e-8a1c-11ee-9c1e-3b5f1f1d2a7c",
        "published": "2026-11-23T10:15:30.123Z",
        "eventType": "user.lifecycle.deactivate",
        "version": "0",
        "displayMessage": "Deactivate Okta user",
        "severity": "INFO",
        "client": {"zone": "null", "device": "Computer"},
        "securityContext": {},
        "transaction": {"id": "Ye9kNUmXHBW3i6ZQWEoI", "detail": {}},
        "target": [
          {"id": "0oa1b2c3", "type": "AppInstance", "alternateId": "Slack", "displayName": "Slack"},
          {"id": "00u1a2b3c4D5e6F7g8h9", "type": "User", "alternateId": "ada@example.com",
           "displayName": "Ada Lovelace", "detailEntry": null}
        ]
      }]},
      "eventTime": "2026-11-23T10:15:31.000Z",
      "contentType": "application/json"
    }"#;

    #[test]
    fn invalid_utf8_is_refused_even_in_a_field_the_parser_skips() {
        // `client.device` is a field the parser skips unread.
        let mut body = DEACTIVATE.as_bytes().to_vec();
        let at = body.windows(8).position(|w| w == b"Computer").unwrap() + 4;
        body[at] = 0xff;
        match parse_delivery(&body) {
            Err(EnvelopeError::NotUtf8(offset)) => assert_eq!(offset, at),
            other => panic!("{other:?}"),
        }
        assert!(parse_delivery(DEACTIVATE.as_bytes()).is_ok());
    }

    #[test]
    fn the_user_is_the_target_of_type_user_wherever_it_stands() {
        let d = parse_delivery(DEACTIVATE.as_bytes()).unwrap();
        assert_eq!(
            d.delivery_id.as_deref(),
            Some("b3f0c1e0-1b8e-4a39-9f3e-0c1d2e3f4a5b")
        );
        let e = &d.events[0];
        assert_eq!(e.event_type, EventType::Deactivate);
        let user = e.user.as_ref().unwrap();
        assert_eq!(user.id.as_str(), "00u1a2b3c4D5e6F7g8h9");
        assert_eq!(user.login.as_deref(), Some("ada@example.com"));
        assert_eq!(e.published.to_string(), "2026-11-23T10:15:30.123Z");
    }

    #[test]
    fn a_preview_event_without_target_has_no_user() {
        let body = r#"{"data":{"events":[{"uuid":"u1","published":"2026-11-23T10:00:00Z",
            "eventType":"user.lifecycle.deactivate","target":null}]}}"#;
        let d = parse_delivery(body.as_bytes()).unwrap();
        assert!(d.events[0].user.is_none());
        let body = r#"{"data":{"events":[{"uuid":"u1","published":"2026-11-23T10:00:00Z",
            "eventType":"user.lifecycle.deactivate"}]}}"#;
        assert!(parse_delivery(body.as_bytes()).unwrap().events[0]
            .user
            .is_none());
    }

    #[test]
    fn arrays_in_place_of_objects_are_wrong_shapes() {
        // Found by fuzzing: serde's derive read a struct from an array of its fields.
        let event = r#"["a1b2c3d4-8a1d-11f1-8f3e-5d4c3b2a1f0e","2026-11-23T10:00:00Z","user.lifecycle.deactivate"]"#;
        for body in [
            r#"{"data":[[]]}"#.to_owned(),
            r#"[null,{"events":[]}]"#.to_owned(),
            format!(r#"{{"data":{{"events":[{event}]}}}}"#),
            r#"{"data":{"events":[{"uuid":"a1b2c3d4-8a1d-11f1-8f3e-5d4c3b2a1f0e","published":"2026-11-23T10:00:00Z","eventType":"x","target":[["00u1abcdEFGH","User"]]}]}}"#.to_owned(),
        ] {
            assert!(
                matches!(parse_delivery(body.as_bytes()), Err(EnvelopeError::Shape(_))),
                "{body}"
            );
        }
        let value = serde_json::from_str(event).unwrap();
        assert!(matches!(
            parse_log_event(0, value),
            Err(EnvelopeError::Shape(_))
        ));
    }

    #[test]
    fn wrong_shapes_are_errors_that_say_where() {
        assert!(matches!(
            parse_delivery(b"not json"),
            Err(EnvelopeError::Shape(_))
        ));
        assert!(matches!(
            parse_delivery(br#"{"data":{}}"#),
            Err(EnvelopeError::Shape(_))
        ));
        assert!(matches!(
            parse_delivery(br#"{"data":{"events":{}}}"#),
            Err(EnvelopeError::Shape(_))
        ));
        let missing_uuid =
            br#"{"data":{"events":[{"published":"2026-11-23T10:00:00Z","eventType":"x"}]}}"#;
        let err = parse_delivery(missing_uuid).unwrap_err();
        assert_eq!(err.to_string(), "data.events[0].uuid: missing");
        let bad_time =
            br#"{"data":{"events":[{"uuid":"a","published":"yesterday","eventType":"x"}]}}"#;
        assert!(parse_delivery(bad_time)
            .unwrap_err()
            .to_string()
            .starts_with("data.events[0].published"));
    }

    #[test]
    fn an_empty_event_list_is_a_valid_delivery() {
        let d = parse_delivery(br#"{"data":{"events":[]}}"#).unwrap();
        assert!(d.events.is_empty());
    }
}
