#![allow(clippy::cloned_ref_to_slice_refs)] // rows read better as literal lists

use serde_json::json;

use super::*;
use crate::domain::provision::{Activation, Profile};

fn id(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn request(fields: &[(&'static str, Option<&str>)]) -> SyncIdentity {
    let mut profile: Profile = [
        ("login", Some("ada@example.com")),
        ("email", Some("ada@example.com")),
        ("firstName", Some("Ada")),
        ("lastName", Some("Lovelace")),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.map(str::to_owned)))
    .collect();
    for (k, v) in fields {
        profile.insert(k, v.map(str::to_owned));
    }
    SyncIdentity {
        profile,
        create: true,
        update: true,
        activation: Activation::Activate,
    }
}

fn okta_profile(extra: Value) -> Map<String, Value> {
    let mut p = json!({"login": "ada@example.com", "email": "ada@example.com",
        "firstName": "Ada", "lastName": "Lovelace", "title": "Analyst", "mobilePhone": null});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p.as_object().unwrap().clone()
}

fn field(f: &str, before: Option<&str>, after: Option<&str>) -> ActionChange {
    ActionChange::Field {
        field: f.into(),
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
    }
}

#[test]
fn sync_plans_follow_the_rules_row_by_row() {
    let ada = id("00uada");
    let bob = Holder {
        id: id("00ubob"),
        login: "bob@example.com".into(),
    };
    let me = Holder {
        id: ada.clone(),
        login: "ada@example.com".into(),
    };
    let current = okta_profile(json!({}));
    let exists = |login: &'static str| {
        Some(Existing {
            id: &ada,
            login,
            profile: &current,
        })
    };
    type Row<'a> = (
        &'a str,
        SyncIdentity,
        Option<Existing<'a>>,
        Vec<Holder>,
        &'a str,
    );
    let rows: Vec<Row> = vec![
        (
            "nobody has the login: create",
            request(&[]),
            None,
            vec![],
            "create",
        ),
        (
            "create switched off",
            SyncIdentity {
                create: false,
                ..request(&[])
            },
            None,
            vec![],
            "refused: no user has the login ada@example.com and create is off",
        ),
        (
            "create with someone else's e-mail",
            request(&[]),
            None,
            vec![bob.clone()],
            "refused: e-mail ada@example.com is already held by 00ubob (bob@example.com)",
        ),
        (
            "same values: unchanged",
            request(&[("title", Some("Analyst"))]),
            exists("ada@example.com"),
            vec![me.clone()],
            "unchanged",
        ),
        (
            "a field differs: update",
            request(&[("title", Some("Engineer"))]),
            exists("ada@example.com"),
            vec![me.clone()],
            "update",
        ),
        (
            "update switched off",
            SyncIdentity {
                update: false,
                ..request(&[("title", Some("Engineer"))])
            },
            exists("ada@example.com"),
            vec![me.clone()],
            "unchanged",
        ),
        (
            "login differs in case: refused",
            request(&[]),
            exists("Ada@Example.com"),
            vec![me.clone()],
            "refused: login ada@example.com would change 00uada's login Ada@Example.com",
        ),
        (
            "new e-mail held by another",
            request(&[("email", Some("bob@example.com"))]),
            exists("ada@example.com"),
            vec![bob.clone()],
            "refused: e-mail bob@example.com is already held by 00ubob",
        ),
        (
            "unchanged e-mail shared already: not this request's doing",
            request(&[("title", Some("Engineer"))]),
            exists("ada@example.com"),
            vec![me.clone(), bob.clone()],
            "update",
        ),
        (
            "clear a field that is set",
            request(&[("title", None)]),
            exists("ada@example.com"),
            vec![],
            "update",
        ),
        (
            "clear a field that is null already",
            request(&[("mobilePhone", None)]),
            exists("ada@example.com"),
            vec![],
            "unchanged",
        ),
    ];
    for (name, req, existing, holders, expected) in rows {
        let plan = plan_sync(&req, existing, &holders);
        let got = match &plan {
            SyncPlan::Create { .. } => "create".to_owned(),
            SyncPlan::Update { .. } => "update".to_owned(),
            SyncPlan::Unchanged { .. } => "unchanged".to_owned(),
            SyncPlan::Refused(why) => format!("refused: {why}"),
        };
        assert!(got.starts_with(expected), "{name}: {got}");
    }
}

#[test]
fn an_update_sends_only_what_differs_and_null_only_to_clear() {
    let ada = id("00uada");
    let current = okta_profile(json!({"department": "Maths"}));
    let existing = Existing {
        id: &ada,
        login: "ada@example.com",
        profile: &current,
    };
    let req = request(&[
        ("title", Some("Engineer")),
        ("department", None),
        ("costCenter", Some("R&D")),
    ]);
    let SyncPlan::Update {
        user,
        body,
        changes,
    } = plan_sync(&req, Some(existing), &[])
    else {
        panic!("an update")
    };
    assert_eq!(user, ada);
    assert_eq!(
        Value::Object(body),
        json!({"title": "Engineer", "department": null, "costCenter": "R&D"}),
        "firstName, lastName, email and login are the same and not sent"
    );
    assert_eq!(
        changes,
        [
            field("costCenter", None, Some("R&D")),
            field("department", Some("Maths"), None),
            field("title", Some("Analyst"), Some("Engineer")),
        ]
    );
}

#[test]
fn a_create_sends_every_given_attribute_and_no_nulls() {
    let req = request(&[("title", Some("Engineer")), ("department", None)]);
    let SyncPlan::Create { profile, changes } = plan_sync(&req, None, &[]) else {
        panic!("a create")
    };
    assert_eq!(
        Value::Object(profile),
        json!({"login": "ada@example.com", "email": "ada@example.com",
               "firstName": "Ada", "lastName": "Lovelace", "title": "Engineer"})
    );
    assert_eq!(changes.len(), 5);
}

fn group(id: &str, name: &str, kind: GroupType) -> OktaGroup {
    OktaGroup {
        id: id.into(),
        name: name.into(),
        kind,
        description: None,
    }
}

#[test]
fn group_plans_touch_only_what_differs_and_only_okta_groups() {
    let eng = group("00geng", "Engineering", GroupType::Okta);
    let sales = group("00gsales", "Sales", GroupType::Okta);
    let vpn = group("00gvpn", "VPN Users", GroupType::Okta);
    let everyone = group("00gall", "Everyone", GroupType::BuiltIn);
    let ad = group("00gad", "AD Domain Users", GroupType::App);
    let current = vec![eng.clone(), everyone.clone(), ad.clone(), vpn.clone()];

    let plan = plan_groups(
        &current,
        &[sales.clone(), eng.clone()],
        &[vpn.clone()],
        None,
    )
    .unwrap();
    assert_eq!(
        plan.add,
        [sales.clone()],
        "a member already is not added again"
    );
    assert_eq!(plan.already, [eng.clone()]);
    assert_eq!(plan.remove, [vpn.clone()]);

    let plan = plan_groups(&current, &[], &[sales.clone()], None).unwrap();
    assert!(
        plan.remove.is_empty() && plan.add.is_empty(),
        "not a member: already so"
    );
    assert_eq!(plan.already, [sales.clone()]);

    let plan = plan_groups(&current, &[], &[], Some(&[sales.clone(), eng.clone()])).unwrap();
    assert_eq!(plan.add, [sales.clone()]);
    assert_eq!(
        plan.remove,
        [vpn.clone()],
        "Everyone and the app group stay"
    );
    assert_eq!(plan.already, [eng.clone()]);

    for (name, bad) in [("built in", &everyone), ("app group", &ad)] {
        let err = plan_groups(&current, &[bad.clone()], &[], None).unwrap_err();
        assert!(err.contains(&bad.name), "{name}: {err}");
        let err = plan_groups(&current, &[], &[bad.clone()], None).unwrap_err();
        assert!(
            err.contains("cannot") || err.contains("come from"),
            "{name}: {err}"
        );
    }
}
