use serde_json::json;

use super::*;
use crate::okta::GroupType;
use crate::sync::input::{parse, Mapping};

const HEADER: &str = "login,email,first_name,last_name,department,groups,status";

fn file(rows: &[&str]) -> Parsed {
    let text = std::iter::once(HEADER)
        .chain(rows.iter().copied())
        .collect::<Vec<_>>();
    parse(text.join("\n").as_bytes(), None, &Mapping::default()).unwrap()
}

fn row(name: &str, department: &str, groups: &str, status: &str) -> String {
    format!("{name}@example.com,{name}@example.com,{name},Tester,{department},{groups},{status}")
}

fn group(name: &str) -> OktaGroup {
    OktaGroup {
        id: format!("00g{:0>17}", name.len()),
        name: name.to_owned(),
        kind: GroupType::Okta,
        description: None,
    }
}

fn groups() -> Vec<OktaGroup> {
    vec![group("hr-eng"), group("hr-sales")]
}

/// Okta as a first run of `rows` would leave it.
fn person(
    n: usize,
    name: &str,
    department: &str,
    groups: &[&str],
    status: UserStatus,
) -> OktaPerson {
    let login = format!("{name}@example.com");
    let profile = json!({"login": login, "email": login, "firstName": name,
                         "lastName": "Tester", "department": department});
    OktaPerson {
        id: UserId::parse(&format!("00u{n:0>17}")).unwrap(),
        login,
        status,
        profile: profile.as_object().cloned().unwrap(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

fn settings() -> Settings {
    Settings {
        manage_groups_prefix: Some("hr-".into()),
        ..Settings::default()
    }
}

fn run(
    parsed: &Parsed,
    people: &[OktaPerson],
    holders: &BTreeMap<String, Vec<Holder>>,
    s: &Settings,
) -> Plan {
    let groups = groups();
    let okta = OktaView {
        people,
        email_holders: holders,
        groups: &groups,
    };
    plan(parsed, okta, s)
}

fn ops(plan: &Plan) -> Vec<(Option<&str>, Op, usize)> {
    plan.entries
        .iter()
        .map(|e| (e.login.as_deref(), e.op, e.actions.len()))
        .collect()
}

fn standard() -> Parsed {
    file(&[
        &row("ada", "Maths", "hr-eng", ""),
        &row("bob", "Sales", "hr-sales;hr-eng", "active"),
    ])
}

fn matching() -> Vec<OktaPerson> {
    vec![
        person(1, "ada", "Maths", &["hr-eng"], UserStatus::Active),
        person(
            2,
            "bob",
            "Sales",
            &["hr-eng", "hr-sales"],
            UserStatus::Active,
        ),
    ]
}

#[test]
fn a_first_run_creates_everyone_and_puts_them_in_their_groups() {
    let plan = run(&standard(), &[], &BTreeMap::new(), &settings());
    assert_eq!(
        ops(&plan),
        [
            (Some("ada@example.com"), Op::Create, 2),
            (Some("bob@example.com"), Op::Create, 2)
        ]
    );
    let bob = &plan.entries[1];
    let ProvisionAction::ManageRelationships(m) = &bob.actions[1] else {
        panic!("{:?}", bob.actions)
    };
    assert_eq!(m.user, UserSelector::Login("bob@example.com".into()));
    assert_eq!(m.add.len(), 2);
    assert!(bob.changes.contains(&ActionChange::AddGroup {
        group_id: group("hr-sales").id,
        name: "hr-sales".into()
    }));
    assert!(
        matches!(&bob.actions[0], ProvisionAction::SyncIdentities(s) if s.login() == "bob@example.com")
    );
    assert_eq!(plan.totals()[&Op::Create], 2);
}

#[test]
fn the_same_file_against_a_matching_okta_is_unchanged_with_no_action() {
    let plan = run(&standard(), &matching(), &BTreeMap::new(), &settings());
    assert_eq!(
        ops(&plan),
        [
            (Some("ada@example.com"), Op::Unchanged, 0),
            (Some("bob@example.com"), Op::Unchanged, 0)
        ]
    );
    assert_eq!(plan.actions().count(), 0);
    assert_eq!(plan.totals()[&Op::Unchanged], 2);
}

/// (name, rows, settings, op, how many actions, a part of the reason)
type Case = (
    &'static str,
    Vec<String>,
    Settings,
    Op,
    usize,
    Option<&'static str>,
);

#[test]
fn rows_plan_their_ops() {
    let holder = |login: &str| Holder {
        id: UserId::parse("00u99999999999999999").unwrap(),
        login: login.into(),
    };
    let held: BTreeMap<String, Vec<Holder>> = [(
        "cy@example.com".to_owned(),
        vec![holder("someone.else@example.com")],
    )]
    .into();
    let cases: [Case; 9] = [
        (
            "changed department",
            vec![row("ada", "Physics", "hr-eng", "")],
            settings(),
            Op::Update,
            1,
            None,
        ),
        (
            "groups only",
            vec![row("ada", "Maths", "hr-sales", "")],
            settings(),
            Op::Groups,
            1,
            None,
        ),
        (
            "terminated",
            vec![row("ada", "Maths", "", "terminated")],
            settings(),
            Op::Deprovision,
            1,
            None,
        ),
        (
            "suspended",
            vec![row("ada", "Maths", "", "Suspended")],
            settings(),
            Op::Suspend,
            1,
            None,
        ),
        (
            "group outside the prefix",
            vec![row("ada", "Maths", "admins", "")],
            settings(),
            Op::Conflict,
            0,
            Some("group admins is not managed by the sync"),
        ),
        (
            "no prefix at all",
            vec![row("ada", "Maths", "hr-eng", "")],
            Settings::default(),
            Op::Conflict,
            0,
            Some("the sync manages no groups"),
        ),
        (
            "unknown managed group",
            vec![row("ada", "Maths", "hr-ops", "")],
            settings(),
            Op::Conflict,
            0,
            Some("group hr-ops does not exist in Okta"),
        ),
        (
            "e-mail held by someone else",
            vec![row("cy", "X", "", "")],
            settings(),
            Op::Conflict,
            0,
            Some("held by 00u99999999999999999 (someone.else@example.com)"),
        ),
        (
            "login differing in case",
            vec![row("ada", "Maths", "", "").replacen("ada@", "Ada@", 1)],
            settings(),
            Op::Conflict,
            0,
            Some("a login never changes"),
        ),
    ];
    let people = vec![person(1, "ada", "Maths", &["hr-eng"], UserStatus::Active)];
    for (name, rows, s, op, actions, reason) in cases {
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let plan = run(&file(&rows), &people, &held, &s);
        let entry = &plan.entries[0];
        assert_eq!(
            (entry.op, entry.actions.len()),
            (op, actions),
            "{name}: {entry:?}"
        );
        match reason {
            Some(r) => assert!(
                entry.reason.as_deref().unwrap_or_default().contains(r),
                "{name}: {entry:?}"
            ),
            None => assert_eq!(entry.reason, None, "{name}"),
        }
    }
}

#[test]
fn a_changed_department_is_one_update_of_one_field() {
    let parsed = file(&[
        &row("ada", "Physics", "hr-eng", ""),
        &row("bob", "Sales", "hr-sales;hr-eng", ""),
    ]);
    let plan = run(&parsed, &matching(), &BTreeMap::new(), &settings());
    assert_eq!(ops(&plan)[0], (Some("ada@example.com"), Op::Update, 1));
    assert_eq!(
        plan.entries[0].changes,
        [ActionChange::Field {
            field: "department".into(),
            before: Some("Maths".into()),
            after: Some("Physics".into())
        }]
    );
    assert_eq!(plan.entries[1].op, Op::Unchanged);
}

#[test]
fn a_terminated_row_deactivates_and_a_shut_out_active_row_conflicts() {
    let parsed = file(&[
        &row("ada", "Maths", "", "terminated"),
        &row("bob", "Sales", "", ""),
    ]);
    let mut people = matching();
    people[1].status = UserStatus::Suspended;
    let plan = run(&parsed, &people, &BTreeMap::new(), &settings());
    assert_eq!(
        plan.entries[0].actions,
        [ProvisionAction::DeprovisionIdentity {
            user: UserSelector::Id(people[0].id.clone()),
            mode: DeprovisionMode::Deactivate
        }]
    );
    assert_eq!(plan.entries[1].op, Op::Conflict);
    assert!(plan.entries[1]
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("RESTORE_IDENTITY"));
    assert_eq!(plan.deprovisions(), 1);
}

#[test]
fn a_removed_row_is_missing_and_untouched_without_the_flag() {
    let parsed = file(&[&row("ada", "Maths", "hr-eng", "")]);
    let plan = run(&parsed, &matching(), &BTreeMap::new(), &settings());
    assert_eq!(
        ops(&plan),
        [
            (Some("ada@example.com"), Op::Unchanged, 0),
            (Some("bob@example.com"), Op::Missing, 0)
        ]
    );
    assert_eq!(plan.entries[1].line, None);
    let flagged = Settings {
        deprovision_missing: true,
        ..settings()
    };
    let plan = run(&parsed, &matching(), &BTreeMap::new(), &flagged);
    assert_eq!(ops(&plan)[1], (Some("bob@example.com"), Op::Missing, 1));
    assert!(plan.entries[1].removes_access());
}

#[test]
fn a_refused_row_is_a_conflict_and_never_missing() {
    let bad =
        row("bob", "Sales", "", "").replacen("bob@example.com,bob@", "bob@example.com,bob-at-", 1);
    let no_login = row("cy", "X", "", "").replacen("cy@example.com,", ",", 1);
    let parsed = file(&[&row("ada", "Maths", "hr-eng", ""), &bad]);
    let flagged = Settings {
        deprovision_missing: true,
        ..settings()
    };
    let plan = run(&parsed, &matching(), &BTreeMap::new(), &flagged);
    assert_eq!(
        ops(&plan),
        [
            (Some("ada@example.com"), Op::Unchanged, 0),
            (Some("bob@example.com"), Op::Conflict, 0)
        ]
    );
    assert_eq!(plan.entries[1].line, Some(3));

    let parsed = file(&[&row("ada", "Maths", "hr-eng", ""), &no_login]);
    let plan = run(&parsed, &matching(), &BTreeMap::new(), &flagged);
    assert_eq!(ops(&plan)[1], (None, Op::Conflict, 0));
    assert_eq!(
        ops(&plan)[2],
        (Some("bob@example.com"), Op::Missing, 0),
        "line 3 might be bob"
    );
    assert!(plan.entries[2]
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("line 3 has no readable login"));
}

#[test]
fn missing_people_are_sorted_by_login_after_the_file() {
    let parsed = file(&[&row("zed", "X", "", "")]);
    let people = vec![
        person(2, "cy", "X", &[], UserStatus::Active),
        person(1, "bo", "X", &[], UserStatus::Deprovisioned),
    ];
    let plan = run(
        &parsed,
        &people,
        &BTreeMap::new(),
        &Settings {
            deprovision_missing: true,
            ..settings()
        },
    );
    assert_eq!(
        ops(&plan),
        [
            (Some("zed@example.com"), Op::Create, 1),
            (Some("bo@example.com"), Op::Missing, 0),
            (Some("cy@example.com"), Op::Missing, 1),
        ]
    );
    assert_eq!(plan.file_rows, 1);
    assert_eq!(plan.totals()[&Op::Missing], 2);
}
