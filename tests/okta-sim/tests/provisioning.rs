//! Where provisioning actions meet the org: login uniqueness, lookups by login and email,
//! create/update checks, the emails Okta would send, two-step delete, System Log events.

use crate::common::{start, start_with, Answer, Harness};
use okta_sim::qs::encode;
use okta_sim::SimOptions;
use serde_json::{json, Value};

const ADA: &str = "ada.lovelace@example.com";
const GRACE: &str = "grace.hopper@example.com";
const TAKEN: &str = "login: An object with this field already exists in the current organization";

fn new_user(login: &str, email: &str) -> Value {
    json!({"profile": {"firstName": "New", "lastName": "Hire", "email": email, "login": login}})
}

fn causes(a: &Answer) -> Vec<String> {
    a.body["errorCauses"]
        .as_array()
        .expect("errorCauses")
        .iter()
        .map(|c| c["errorSummary"].as_str().unwrap_or("").to_string())
        .collect()
}

fn assert_login_taken(a: &Answer) {
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert_eq!(a.error_code(), "E0000001");
    assert_eq!(a.body["errorSummary"], "Api validation failed: login");
    assert_eq!(causes(a), [TAKEN]);
}

fn ids(a: &Answer) -> Vec<String> {
    a.body
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The `_sim` part of a user in `/_sim/state`.
async fn sim_of(h: &Harness, id: &str) -> Value {
    let state = h.sim_get("/_sim/state").await;
    state["users"]
        .as_array()
        .and_then(|us| us.iter().find(|u| u["id"] == id).cloned())
        .map(|u| u["_sim"].clone())
        .expect("user in state")
}

async fn email_kinds(h: &Harness, id: &str) -> Vec<String> {
    sim_of(h, id).await["emails"]
        .as_array()
        .expect("emails")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn emails_sent(h: &Harness) -> u64 {
    h.counters().await["emailsSent"]
        .as_u64()
        .expect("emailsSent")
}

#[tokio::test]
async fn a_login_differing_only_in_case_is_taken_in_every_status_including_deprovisioned() {
    let h = start().await;
    let upper = ADA.to_uppercase();
    assert_login_taken(
        &h.post("/api/v1/users", new_user(&upper, "x@example.com"))
            .await,
    );
    let accented = "adá.lovelace@example.com";
    assert_login_taken(
        &h.post("/api/v1/users", new_user(accented, "x@example.com"))
            .await,
    );
    let id = h.user_id(ADA).await;
    h.post_empty(&format!("/api/v1/users/{id}/lifecycle/deactivate"))
        .await;
    let listed = h.get("/api/v1/users").await;
    assert!(!ids(&listed).contains(&id), "the plain list hides her");
    assert_login_taken(
        &h.post("/api/v1/users", new_user(&upper, "x@example.com"))
            .await,
    );
}

#[tokio::test]
async fn a_profile_update_to_a_taken_login_is_refused_ignoring_case() {
    let h = start().await;
    let grace = h.user_id(GRACE).await;
    let a = h
        .post(
            &format!("/api/v1/users/{grace}"),
            json!({"profile": {"login": "Ada.Lovelace@EXAMPLE.com"}}),
        )
        .await;
    assert_login_taken(&a);
    let own_case = h
        .post(
            &format!("/api/v1/users/{grace}"),
            json!({"profile": {"login": "Grace.Hopper@example.com"}}),
        )
        .await;
    assert_eq!(own_case.status, 200, "her own login in another case");
    assert_eq!(
        own_case.body["profile"]["login"],
        "Grace.Hopper@example.com"
    );
}

#[tokio::test]
async fn get_by_login_ignores_case_and_resolves_an_unambiguous_shortname() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let upper = h
        .get(&format!("/api/v1/users/{}", ADA.to_uppercase()))
        .await;
    assert_eq!(upper.body["id"], id.as_str());
    let short = h.get("/api/v1/users/Ada.Lovelace").await;
    assert_eq!(short.status, 200, "a login shortname finds her");
    assert_eq!(short.body["profile"]["login"], ADA);
    let other = h
        .post(
            "/api/v1/users?activate=false",
            new_user("ada.lovelace@other.example", "a@other.example"),
        )
        .await;
    assert_eq!(other.status, 200);
    let ambiguous = h.get("/api/v1/users/ada.lovelace").await;
    assert_eq!(ambiguous.status, 404, "two users share the shortname");
    assert_eq!(ambiguous.error_code(), "E0000007");
}

#[tokio::test]
async fn filter_is_case_sensitive_and_search_is_not() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let expr = |login: &str| encode(&format!("profile.login eq \"{login}\""));
    let upper = ADA.to_uppercase();
    let f_exact = h.get(&format!("/api/v1/users?filter={}", expr(ADA))).await;
    assert_eq!(ids(&f_exact), std::slice::from_ref(&id));
    let f_upper = h
        .get(&format!("/api/v1/users?filter={}", expr(&upper)))
        .await;
    assert_eq!(f_upper.status, 200);
    assert!(ids(&f_upper).is_empty(), "filter values are case-sensitive");
    let s_upper = h
        .get(&format!("/api/v1/users?search={}", expr(&upper)))
        .await;
    assert_eq!(ids(&s_upper), [id], "search values are not");
}

#[tokio::test]
async fn every_holder_of_an_email_is_found_by_search_in_any_status() {
    let h = start().await;
    let ada = h.user_id(ADA).await;
    let mut holders = vec![ada.clone()];
    for login in ["ada.one@example.com", "ada.two@example.com"] {
        let a = h
            .post("/api/v1/users?activate=false", new_user(login, ADA))
            .await;
        assert_eq!(a.status, 200, "emails need not be unique: {:?}", a.body);
        holders.push(a.body["id"].as_str().expect("id").to_string());
    }
    h.post_empty(&format!("/api/v1/users/{ada}/lifecycle/deactivate"))
        .await;
    holders.sort();
    let email = encode(&format!("profile.email eq \"{}\"", ADA.to_uppercase()));
    let mut found = ids(&h.get(&format!("/api/v1/users?search={email}")).await);
    found.sort();
    assert_eq!(
        found, holders,
        "search finds all three, DEPROVISIONED included"
    );
    let exact = encode(&format!("profile.email eq \"{ADA}\""));
    let mut filtered = ids(&h.get(&format!("/api/v1/users?filter={exact}")).await);
    filtered.sort();
    assert_eq!(filtered, holders, "filter includes DEPROVISIONED too");
    let q = ids(&h.get("/api/v1/users?q=ada").await);
    assert!(!q.contains(&ada), "q leaves DEPROVISIONED out");
    assert_eq!(q.len(), 2);
}

#[tokio::test]
async fn create_activates_by_default_and_emails_only_a_user_without_a_password() {
    let h = start().await;
    let with_pw = h
        .post(
            "/api/v1/users",
            json!({
                "profile": {"firstName": "P", "lastName": "W", "email": "p.w@example.com", "login": "p.w@example.com"},
                "credentials": {"password": {"value": "Tr0ub4dor&3"}}
            }),
        )
        .await;
    assert_eq!(
        with_pw.body["status"], "ACTIVE",
        "activate defaults to true"
    );
    let pw_id = with_pw.body["id"].as_str().expect("id").to_string();
    assert!(email_kinds(&h, &pw_id).await.is_empty());
    let staged = h
        .post(
            "/api/v1/users?activate=false",
            new_user("s@example.com", "s@example.com"),
        )
        .await;
    assert_eq!(staged.body["status"], "STAGED");
    assert_eq!(emails_sent(&h).await, 0);
    let no_pw = h
        .post(
            "/api/v1/users",
            new_user("n.p@example.com", "n.p@example.com"),
        )
        .await;
    assert_eq!(no_pw.body["status"], "PROVISIONED");
    let id = no_pw.body["id"].as_str().expect("id").to_string();
    assert_eq!(email_kinds(&h, &id).await, ["activation"]);
    assert_eq!(emails_sent(&h).await, 1);
    let state = h.sim_get("/_sim/state").await;
    let email = &state["emails"][0];
    assert_eq!(email["to"], "n.p@example.com");
    assert_eq!(email["userId"], id.as_str());
    assert!(email["at"].is_string());
}

#[tokio::test]
async fn activate_emails_by_default_and_never_with_send_email_false() {
    let h = start().await;
    let mut staged = Vec::new();
    for login in ["one@example.com", "two@example.com"] {
        let a = h
            .post("/api/v1/users?activate=false", new_user(login, login))
            .await;
        staged.push(a.body["id"].as_str().expect("id").to_string());
    }
    let quiet = h
        .post_empty(&format!(
            "/api/v1/users/{}/lifecycle/activate?sendEmail=false",
            staged[0]
        ))
        .await;
    assert!(quiet.body["activationToken"].is_string());
    assert!(quiet.body["activationUrl"].is_string());
    assert_eq!(emails_sent(&h).await, 0);
    let loud = h
        .post_empty(&format!("/api/v1/users/{}/lifecycle/activate", staged[1]))
        .await;
    assert_eq!(loud.status, 200);
    assert_eq!(loud.body, json!({}));
    assert_eq!(email_kinds(&h, &staged[1]).await, ["activation"]);
    assert_eq!(emails_sent(&h).await, 1);
    let react = h
        .post_empty(&format!("/api/v1/users/{}/lifecycle/reactivate", staged[1]))
        .await;
    assert!(
        react.body["activationToken"].is_string(),
        "reactivate: sendEmail defaults to false"
    );
    assert_eq!(emails_sent(&h).await, 1);
}

#[tokio::test]
async fn reset_password_needs_send_email_and_emails_only_when_true() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let path = format!("/api/v1/users/{id}/lifecycle/reset_password");
    let missing = h.post_empty(&path).await;
    assert_eq!(
        missing.status, 400,
        "sendEmail is required in the current spec"
    );
    assert_eq!(missing.error_code(), "E0000028");
    assert_eq!(
        h.get(&format!("/api/v1/users/{id}")).await.body["status"],
        "ACTIVE"
    );
    let link = h.post_empty(&format!("{path}?sendEmail=false")).await;
    assert!(link.body["resetPasswordUrl"].is_string());
    assert_eq!(emails_sent(&h).await, 0);
    let mailed = h.post_empty(&format!("{path}?sendEmail=true")).await;
    assert_eq!(mailed.status, 200);
    assert_eq!(mailed.body, json!({}));
    assert_eq!(email_kinds(&h, &id).await, ["reset_password"]);
    assert_eq!(emails_sent(&h).await, 1);
}

#[tokio::test]
async fn deactivate_and_delete_notify_the_admin_only_on_request() {
    let h = start().await;
    let ada = h.user_id(ADA).await;
    let grace = h.user_id(GRACE).await;
    h.post_empty(&format!("/api/v1/users/{ada}/lifecycle/deactivate"))
        .await;
    h.delete(&format!("/api/v1/users/{ada}")).await;
    assert_eq!(emails_sent(&h).await, 0, "both default to sendEmail=false");
    h.post_empty(&format!(
        "/api/v1/users/{grace}/lifecycle/deactivate?sendEmail=true"
    ))
    .await;
    let state = h.sim_get("/_sim/state").await;
    assert_eq!(state["emails"][0]["kind"], "deactivate");
    assert_eq!(state["emails"][0]["to"], "admin");
    h.delete(&format!("/api/v1/users/{grace}?sendEmail=true"))
        .await;
    let state = h.sim_get("/_sim/state").await;
    assert_eq!(state["emails"][1]["kind"], "delete");
    assert_eq!(
        state["emails"][1]["login"], GRACE,
        "kept after the user is gone"
    );
    assert_eq!(emails_sent(&h).await, 2);
}

#[tokio::test]
async fn partial_update_merges_clears_with_null_and_keeps_empty_strings() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let path = format!("/api/v1/users/{id}");
    let set = h
        .post(
            &path,
            json!({"profile": {"title": "Countess", "nickName": "Ada"}}),
        )
        .await;
    assert_eq!(set.body["profile"]["title"], "Countess");
    let cleared = h
        .post(&path, json!({"profile": {"title": null, "department": ""}}))
        .await;
    assert_eq!(cleared.status, 200, "{:?}", cleared.body);
    let p = &cleared.body["profile"];
    assert!(
        p.get("title").is_none_or(Value::is_null),
        "null clears: {p}"
    );
    assert_eq!(p["department"], "", "\"\" is present-but-empty");
    assert_eq!(p["nickName"], "Ada", "untouched attributes stay");
    assert_eq!(p["firstName"], "Ada");
    assert_eq!(p["login"], ADA);
}

#[tokio::test]
async fn partial_update_refuses_unknown_attributes_and_blanking_required_ones_as_a_whole() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let path = format!("/api/v1/users/{id}");
    let unknown = h
        .post(
            &path,
            json!({"profile": {"title": "Countess", "shoeSize": 38}}),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.error_code(), "E0000001");
    assert_eq!(
        unknown.body["errorSummary"],
        "Api validation failed: shoeSize"
    );
    assert_eq!(
        causes(&unknown),
        ["Property name 'shoeSize' is not defined in profile"]
    );
    let now = h.get(&path).await;
    assert_ne!(now.body["profile"]["title"], "Countess", "nothing applied");
    let blank = h.post(&path, json!({"profile": {"firstName": null}})).await;
    assert_eq!(blank.status, 400);
    assert_eq!(
        causes(&blank),
        ["firstName: The field cannot be left blank"]
    );
    assert_eq!(h.get(&path).await.body["profile"]["firstName"], "Ada");
    assert_eq!(h.log_events("user.account.update_profile").await.len(), 0);
}

#[tokio::test]
async fn create_refuses_unknown_attributes_and_a_login_that_is_not_an_email() {
    let h = start().await;
    let mut body = new_user("odd@example.com", "odd@example.com");
    body["profile"]["favouriteColour"] = json!("teal");
    let unknown = h.post("/api/v1/users", body).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        causes(&unknown),
        ["Property name 'favouriteColour' is not defined in profile"]
    );
    let bad = h
        .post("/api/v1/users", new_user("not-an-email", "x@example.com"))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errorSummary"], "Api validation failed: login");
    assert_eq!(
        causes(&bad),
        ["login: Username must be in the form of an email address"]
    );
    let missing = h
        .post("/api/v1/users", json!({"profile": {"firstName": "X"}}))
        .await;
    assert_eq!(missing.body["errorSummary"], "Api validation failed: login");
    assert_eq!(
        causes(&missing),
        [
            "login: The field cannot be left blank",
            "email: The field cannot be left blank",
            "lastName: The field cannot be left blank",
        ]
    );
    assert_eq!(h.log_events("user.lifecycle.create").await.len(), 0);
}

#[tokio::test]
async fn a_seed_may_declare_custom_profile_attributes() {
    let mut seed = crate::common::demo_seed();
    seed.custom_profile_attributes = vec!["githubHandle".into()];
    let h = start_with(SimOptions {
        seed: 7,
        seed_doc: Some(seed),
        ..SimOptions::default()
    })
    .await;
    let id = h.user_id(ADA).await;
    let a = h
        .post(
            &format!("/api/v1/users/{id}"),
            json!({"profile": {"githubHandle": "ada"}}),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["profile"]["githubHandle"], "ada");
}

#[tokio::test]
async fn create_with_group_ids_checks_every_group_before_creating() {
    let h = start().await;
    let eng = h.group_id("Engineering").await;
    let ad = h.group_id("AD Domain Users").await;
    let mut body = new_user("g@example.com", "g@example.com");
    body["groupIds"] = json!([eng, ad]);
    let refused = h.post("/api/v1/users", body.clone()).await;
    assert_eq!(
        refused.status, 403,
        "APP_GROUP membership: {:?}",
        refused.body
    );
    assert_eq!(
        h.get("/api/v1/users/g@example.com").await.status,
        404,
        "no user left behind"
    );
    body["groupIds"] = json!(vec![eng.clone(); 21]);
    let too_many = h.post("/api/v1/users", body.clone()).await;
    assert_eq!(too_many.status, 400);
    assert_eq!(too_many.error_code(), "E0000093");
    body["groupIds"] = json!([eng]);
    let ok = h.post("/api/v1/users", body).await;
    assert_eq!(ok.status, 200);
    let uid = ok.body["id"].as_str().expect("id");
    assert!(sim_of(&h, uid).await["groups"]
        .as_array()
        .expect("groups")
        .contains(&json!(eng)));
}

#[tokio::test]
async fn delete_is_two_step_and_logs_deactivate_then_delete_initiated_and_completed() {
    let h = start().await;
    let id = h.user_id(ADA).await;
    let eng = h.group_id("Engineering").await;
    let path = format!("/api/v1/users/{id}");
    assert_eq!(h.delete(&path).await.status, 204);
    assert_eq!(h.get(&path).await.body["status"], "DEPROVISIONED");
    assert!(
        sim_of(&h, &id).await["groups"]
            .as_array()
            .expect("groups")
            .contains(&json!(eng)),
        "deactivation keeps memberships"
    );
    assert_eq!(h.delete(&path).await.status, 204);
    let gone = h.get(&path).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error_code(), "E0000007");
    assert_eq!(
        gone.body["errorSummary"],
        format!("Not found: Resource not found: {id} (User)")
    );
    let state = h.sim_get("/_sim/state").await;
    for g in state["groups"].as_array().expect("groups") {
        assert!(!g["_sim"]["members"]
            .as_array()
            .expect("members")
            .contains(&json!(id)));
    }
    assert_eq!(h.delete(&path).await.status, 404, "nothing left to delete");
    let log = h.get("/api/v1/logs?limit=1000").await;
    let types: Vec<&str> = log
        .body
        .as_array()
        .expect("log")
        .iter()
        .filter(|e| e["target"][0]["id"] == id.as_str())
        .filter_map(|e| e["eventType"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "user.lifecycle.deactivate",
            "user.lifecycle.delete.initiated",
            "user.lifecycle.delete.completed"
        ]
    );
}

#[tokio::test]
async fn every_write_logs_its_system_log_event() {
    let h = start().await;
    let created = h
        .post(
            "/api/v1/users",
            json!({
                "profile": {"firstName": "L", "lastName": "G", "email": "l.g@example.com", "login": "l.g@example.com"},
                "credentials": {"password": {"value": "Tr0ub4dor&3"}}
            }),
        )
        .await;
    let uid = created.body["id"].as_str().expect("id").to_string();
    let u = |p: &str| format!("/api/v1/users/{uid}{p}");
    h.post(&u(""), json!({"profile": {"title": "Tester"}}))
        .await;
    for op in [
        "suspend",
        "unsuspend",
        "reset_password?sendEmail=false",
        "expire_password_with_temp_password",
    ] {
        let a = h.post_empty(&u(&format!("/lifecycle/{op}"))).await;
        assert_eq!(a.status, 200, "{op}: {:?}", a.body);
    }
    let g = h
        .post("/api/v1/groups", json!({"profile": {"name": "Loggers"}}))
        .await;
    let gid = g.body["id"].as_str().expect("gid").to_string();
    let m = format!("/api/v1/groups/{gid}/users/{uid}");
    assert_eq!(h.put(&m).await.status, 204);
    assert_eq!(h.delete(&m).await.status, 204);
    let expected = [
        ("user.lifecycle.create", &uid),
        ("user.lifecycle.activate", &uid),
        ("user.account.update_profile", &uid),
        ("user.lifecycle.suspend", &uid),
        ("user.lifecycle.unsuspend", &uid),
        ("user.account.reset_password", &uid),
        ("user.account.expire_password", &uid),
        ("group.lifecycle.create", &gid),
        ("group.user_membership.add", &uid),
        ("group.user_membership.remove", &uid),
    ];
    let log = h.get("/api/v1/logs?limit=1000").await;
    let got: Vec<(String, String)> = log
        .body
        .as_array()
        .expect("log")
        .iter()
        .map(|e| {
            let t = e["eventType"].as_str().unwrap_or("").to_string();
            (t, e["target"][0]["id"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(t, id)| (t.to_string(), id.to_string()))
        .collect();
    assert_eq!(
        got, want,
        "one event per write, in order, naming the target"
    );
    let adds = h.log_events("group.user_membership.add").await;
    assert_eq!(
        adds[0]["target"][1]["id"],
        gid.as_str(),
        "the group is the second target"
    );
}
