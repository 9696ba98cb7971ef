use crate::common::start;
use serde_json::json;

#[tokio::test]
async fn groups_are_listed_by_type_and_name_prefix() {
    let h = start().await;
    let okta = h
        .get("/api/v1/groups?filter=type%20eq%20%22OKTA_GROUP%22")
        .await;
    assert_eq!(okta.status, 200);
    let okta = okta.body.as_array().expect("array").clone();
    assert_eq!(okta.len(), 5);
    assert!(okta.iter().all(|g| g["type"] == "OKTA_GROUP"));
    let builtin = h
        .get("/api/v1/groups?filter=type%20eq%20%22BUILT_IN%22")
        .await;
    assert_eq!(builtin.body[0]["profile"]["name"], "Everyone");
    let q = h.get("/api/v1/groups?q=Fin").await;
    assert_eq!(q.body.as_array().expect("array").len(), 1);
    assert_eq!(q.body[0]["profile"]["name"], "Finance");
}

#[tokio::test]
async fn group_listing_pages_with_link_headers() {
    let h = start().await;
    let first = h.get("/api/v1/groups?limit=4").await;
    assert_eq!(first.body.as_array().expect("array").len(), 4);
    let next = first.next().expect("next link");
    let second = h.get(&next).await;
    assert_eq!(second.body.as_array().expect("array").len(), 3);
    assert!(second.next().is_none());
}

#[tokio::test]
async fn created_group_gets_members_idempotently_and_logs_each_change_once() {
    let h = start().await;
    let g = h
        .post(
            "/api/v1/groups",
            json!({"profile": {"name": "Contractors", "description": "External staff"}}),
        )
        .await;
    assert_eq!(g.status, 200);
    let gid = g.body["id"].as_str().expect("id").to_string();
    assert!(gid.starts_with("00g"));
    let uid = h.user_id("alan.turing@example.com").await;
    let path = format!("/api/v1/groups/{gid}/users/{uid}");
    assert_eq!(h.put(&path).await.status, 204);
    assert_eq!(h.put(&path).await.status, 204);
    let members = h.get(&format!("/api/v1/groups/{gid}/users")).await;
    assert_eq!(members.body.as_array().expect("array").len(), 1);
    assert_eq!(h.delete(&path).await.status, 204);
    assert_eq!(h.delete(&path).await.status, 204);
    let adds = h.log_events("group.user_membership.add").await;
    assert_eq!(adds.len(), 1);
    let targets = adds[0]["target"].as_array().expect("targets");
    assert!(targets
        .iter()
        .any(|t| t["type"] == "User" && t["id"] == uid.as_str()));
    assert!(targets
        .iter()
        .any(|t| t["type"] == "UserGroup" && t["id"] == gid.as_str()));
    assert_eq!(h.log_events("group.user_membership.remove").await.len(), 1);
}

#[tokio::test]
async fn everyone_membership_cannot_be_changed() {
    let h = start().await;
    let everyone = h.group_id("Everyone").await;
    let uid = h.user_id("alan.turing@example.com").await;
    let a = h
        .delete(&format!("/api/v1/groups/{everyone}/users/{uid}"))
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error_code(), "E0000060");
    let members = h.get(&format!("/api/v1/groups/{everyone}/users")).await;
    assert_eq!(members.body.as_array().expect("array").len(), 14);
}

#[tokio::test]
async fn app_group_membership_is_not_api_managed() {
    let h = start().await;
    let ad = h.group_id("AD Domain Users").await;
    let uid = h.user_id("ada.lovelace@example.com").await;
    let a = h.delete(&format!("/api/v1/groups/{ad}/users/{uid}")).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.error_code(), "E0000006");
    let groups = h.get(&format!("/api/v1/users/{uid}/groups")).await;
    assert!(groups
        .body
        .as_array()
        .expect("array")
        .iter()
        .any(|g| g["id"] == ad.as_str()));
}

#[tokio::test]
async fn unknown_group_and_unknown_user_are_404() {
    let h = start().await;
    let eng = h.group_id("Engineering").await;
    let a = h
        .put(&format!("/api/v1/groups/{eng}/users/00unobody"))
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.body["errorSummary"],
        "Not found: Resource not found: 00unobody (User)"
    );
    let b = h.get("/api/v1/groups/00gnothing").await;
    assert_eq!(b.status, 404);
    assert_eq!(b.error_code(), "E0000007");
}

#[tokio::test]
async fn a_duplicate_okta_group_name_is_e0000001_on_name() {
    let h = start().await;
    let a = h
        .post(
            "/api/v1/groups",
            json!({"profile": {"name": "Engineering"}}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error_code(), "E0000001");
    assert_eq!(a.body["errorSummary"], "Api validation failed: name");
    assert_eq!(
        a.body["errorCauses"],
        json!([{"errorSummary": "name: An object with this field already exists in the current organization"}])
    );
    let log = h.log_events("group.lifecycle.create").await;
    assert!(log.is_empty(), "a refused create logs nothing");
}

#[tokio::test]
async fn a_created_group_is_an_okta_group_found_by_search_and_q_exact_match_first() {
    let h = start().await;
    let g = h
        .post(
            "/api/v1/groups",
            json!({"profile": {"name": "Sales Ops", "description": "d"}, "type": "APP_GROUP"}),
        )
        .await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["type"], "OKTA_GROUP", "type is read-only");
    assert_eq!(g.body["profile"]["name"], "Sales Ops");
    assert_eq!(g.body["profile"]["description"], "d");
    let gid = g.body["id"].as_str().expect("id");
    let search = okta_sim::qs::encode(r#"profile.name eq "Sales Ops""#);
    let found = h.get(&format!("/api/v1/groups?search={search}")).await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body.as_array().expect("array").len(), 1);
    assert_eq!(found.body[0]["id"], gid);
    let q = h.get("/api/v1/groups?q=Sales").await;
    let names: Vec<&str> = q
        .body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|g| g["profile"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0], "Sales", "the exact match comes first");
    let created = h.log_events("group.lifecycle.create").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["target"][0]["id"], gid);
}

#[tokio::test]
async fn membership_writes_on_app_and_built_in_groups_are_refused_both_ways() {
    let h = start().await;
    let ad = h.group_id("AD Domain Users").await;
    let everyone = h.group_id("Everyone").await;
    let uid = h.user_id("grace.hopper@example.com").await;
    let put_ad = h.put(&format!("/api/v1/groups/{ad}/users/{uid}")).await;
    assert_eq!((put_ad.status, put_ad.error_code()), (403, "E0000006"));
    let put_all = h
        .put(&format!("/api/v1/groups/{everyone}/users/{uid}"))
        .await;
    assert_eq!((put_all.status, put_all.error_code()), (400, "E0000060"));
    assert!(h.log_events("group.user_membership.add").await.is_empty());
}
