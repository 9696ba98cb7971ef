use serde_json::json;

use super::*;
use crate::domain::UserId;

fn sync(extra: Value) -> Value {
    let mut v = json!({"type": "SYNC_IDENTITIES", "login": "ada@example.com",
        "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"});
    if let Value::Object(m) = extra {
        for (k, val) in m {
            v[k] = val;
        }
    }
    v
}

fn body(actions: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"idempotency_key": "k-1", "actions": actions})).unwrap()
}

#[test]
fn a_request_of_every_kind_parses() {
    let request = ActionsRequest::parse(&body(vec![
        sync(json!({"department": "Maths", "staged": true})),
        json!({"type": "MANAGE_RELATIONSHIPS", "user": "ada@example.com",
               "add": ["Engineering", "00g1234567890abcdefg"], "remove": ["Sales"]}),
        json!({"type": "DEPROVISION_IDENTITY", "user": "00u1abcdEFGH", "mode": "suspend"}),
        json!({"type": "DELETE_IDENTITY", "user": "ada@example.com", "confirm": "ada@example.com"}),
        json!({"type": "CREATE_ENTITLEMENT", "name": " Analysts ", "description": "who analyse"}),
        json!({"type": "RESET_PASSWORD", "user": "ada@example.com", "send_email": true}),
        json!({"type": "RESTORE_IDENTITY", "user": "00u1abcdEFGH"}),
    ]))
    .unwrap();
    assert_eq!(request.idempotency_key, "k-1");
    assert!(!request.dry_run);
    let kinds: Vec<_> = request.actions.iter().map(ProvisionAction::kind).collect();
    assert_eq!(kinds, ActionType::ALL);
    let ProvisionAction::SyncIdentities(s) = &request.actions[0] else {
        unreachable!()
    };
    assert_eq!(
        (s.login(), s.activation, s.create, s.update),
        ("ada@example.com", Activation::Staged, true, true)
    );
    let ProvisionAction::ManageRelationships(m) = &request.actions[1] else {
        unreachable!()
    };
    assert_eq!(m.user, UserSelector::Login("ada@example.com".into()));
    assert_eq!(
        m.add,
        [
            GroupSelector::Name("Engineering".into()),
            GroupSelector::Id("00g1234567890abcdefg".into())
        ]
    );
    assert_eq!(
        request.actions[2],
        ProvisionAction::DeprovisionIdentity {
            user: UserSelector::Id(UserId::parse("00u1abcdEFGH").unwrap()),
            mode: DeprovisionMode::Suspend
        }
    );
    assert_eq!(
        request.actions[4],
        ProvisionAction::CreateEntitlement {
            name: "Analysts".into(),
            description: Some("who analyse".into())
        }
    );
    let removing: Vec<_> = request
        .actions
        .iter()
        .map(ProvisionAction::removes_access)
        .collect();
    assert_eq!(removing, [false, false, true, true, false, false, false]);
}

#[test]
fn bad_requests_are_refused_as_a_whole() {
    let many: Vec<Value> = (0..=MAX_ACTIONS).map(|_| sync(json!({}))).collect();
    let cases: [(&str, Vec<u8>, &str); 8] = [
        ("not JSON", b"{oops".to_vec(), "the body is not JSON"),
        ("not an object", b"[1]".to_vec(), "must be a JSON object"),
        (
            "no key",
            br#"{"actions":[]}"#.to_vec(),
            "idempotency_key is required",
        ),
        (
            "bad key",
            br#"{"idempotency_key":"a b","actions":[]}"#.to_vec(),
            "printable ASCII",
        ),
        (
            "no actions",
            br#"{"idempotency_key":"k"}"#.to_vec(),
            "actions is required",
        ),
        (
            "empty",
            br#"{"idempotency_key":"k","actions":[]}"#.to_vec(),
            "actions is empty",
        ),
        ("too many", body(many), "101 actions; at most 100"),
        (
            "unknown field",
            br#"{"idempotency_key":"k","actions":[],"force":true}"#.to_vec(),
            "unknown field \"force\"",
        ),
    ];
    for (name, body, expected) in cases {
        let errors = ActionsRequest::parse(&body).unwrap_err();
        assert_eq!(errors.len(), 1, "{name}");
        assert_eq!(errors[0].index, None, "{name}");
        assert!(
            errors[0].message.contains(expected),
            "{name}: {}",
            errors[0].message
        );
    }
}

#[test]
fn bad_actions_are_each_named_by_index() {
    let cases: [(&str, Value, &str); 14] = [
        (
            "unknown type",
            json!({"type": "SOURCE_OF_IDENTITY"}),
            "unknown action type \"SOURCE_OF_IDENTITY\"",
        ),
        ("no type", json!({"user": "x"}), "type is missing"),
        (
            "not an object",
            json!("SYNC_IDENTITIES"),
            "must be a JSON object",
        ),
        (
            "missing attribute",
            json!({"type": "SYNC_IDENTITIES", "login": "ada@example.com"}),
            "is required",
        ),
        (
            "unknown attribute",
            sync(json!({"shoe_size": "9"})),
            "unknown attribute \"shoe_size\"",
        ),
        (
            "nothing to do",
            sync(json!({"create": false, "update": false})),
            "nothing to do",
        ),
        (
            "no user",
            json!({"type": "RESTORE_IDENTITY"}),
            "user is required",
        ),
        (
            "not a user",
            json!({"type": "RESTORE_IDENTITY", "user": "ada"}),
            "neither an Okta user id nor a login",
        ),
        (
            "no confirm",
            json!({"type": "DELETE_IDENTITY", "user": "ada@example.com"}),
            "confirm is required",
        ),
        (
            "bad mode",
            json!({"type": "DEPROVISION_IDENTITY", "user": "ada@example.com", "mode": "nuke"}),
            "mode \"nuke\"",
        ),
        (
            "add and remove",
            json!({"type": "MANAGE_RELATIONSHIPS", "user": "ada@example.com", "add": ["A"], "remove": ["A"]}),
            "A is both added and removed",
        ),
        (
            "set and add",
            json!({"type": "MANAGE_RELATIONSHIPS", "user": "ada@example.com", "add": ["A"], "set": ["B"]}),
            "set cannot be combined",
        ),
        (
            "unknown field",
            json!({"type": "RESET_PASSWORD", "user": "ada@example.com", "via": "sms"}),
            "unknown field \"via\" for RESET_PASSWORD",
        ),
        (
            "no group name",
            json!({"type": "CREATE_ENTITLEMENT", "name": "  "}),
            "name is required",
        ),
    ];
    for (name, action, expected) in cases {
        let errors = ActionsRequest::parse(&body(vec![sync(json!({})), action])).unwrap_err();
        assert_eq!(errors.len(), 1, "{name}: only the bad action is named");
        assert_eq!(errors[0].index, Some(1), "{name}");
        assert!(
            errors[0].message.contains(expected),
            "{name}: {}",
            errors[0].message
        );
        assert!(errors[0].to_string().starts_with("action 1: "), "{name}");
    }
}

#[test]
fn every_bad_action_of_a_request_is_reported_together() {
    let errors = ActionsRequest::parse(&body(vec![
        json!({"type": "NOPE"}),
        sync(json!({})),
        json!({"type": "RESTORE_IDENTITY"}),
    ]))
    .unwrap_err();
    let indexes: Vec<_> = errors.iter().map(|e| e.index).collect();
    assert_eq!(indexes, [Some(0), Some(2)]);
}

#[test]
fn selectors_tell_ids_from_logins_and_names() {
    assert_eq!(
        UserSelector::parse("00uabc123").unwrap(),
        UserSelector::Id(UserId::parse("00uabc123").unwrap())
    );
    assert_eq!(
        UserSelector::parse(" Ada@Example.com ").unwrap(),
        UserSelector::Login("Ada@Example.com".into())
    );
    assert!(UserSelector::parse("").is_err());
    assert_eq!(
        GroupSelector::parse("00g1234567890abcdefg").unwrap(),
        GroupSelector::Id("00g1234567890abcdefg".into())
    );
    // Shorter than an id, or with other characters: a name.
    assert_eq!(
        GroupSelector::parse("00gadmins").unwrap(),
        GroupSelector::Name("00gadmins".into())
    );
    assert_eq!(
        GroupSelector::parse("VPN Users").unwrap(),
        GroupSelector::Name("VPN Users".into())
    );
}

#[test]
fn outcomes_and_changes_serialize_as_the_api_documents() {
    assert_eq!(
        serde_json::to_value(ActionOutcome::Deprovisioned).unwrap(),
        "deprovisioned"
    );
    assert_eq!(
        serde_json::to_value(ActionType::ResetPassword).unwrap(),
        "RESET_PASSWORD"
    );
    let change = ActionChange::Field {
        field: "department".into(),
        before: None,
        after: Some("Maths".into()),
    };
    assert_eq!(
        serde_json::to_value(change).unwrap(),
        json!({"kind": "field", "field": "department", "before": null, "after": "Maths"})
    );
}
