//! `/users/delta` and `/groups/delta`: rounds, pages, links, representation and expiry.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use roster_sim::SimConfig;
use serde_json::{Value, json};

use crate::support::{Harness, Reply, config, ids};

const USER_SELECT: &str =
    "id,displayName,givenName,jobTitle,mail,proxyAddresses,accountEnabled,userType";

/// Runs a whole round from `first`; returns its pages and the delta link that ends it.
async fn round(harness: &Harness, first: &str, headers: &[(&str, &str)]) -> (Vec<Reply>, String) {
    let pages = harness.pages(first, headers).await;
    for page in &pages[..pages.len() - 1] {
        assert!(
            page.body.get("@odata.deltaLink").is_none(),
            "a page has a nextLink or a deltaLink, never both"
        );
    }
    let last = pages.last().unwrap();
    assert_eq!(last.status, StatusCode::OK, "{}", last.body);
    let delta_link = last.body["@odata.deltaLink"]
        .as_str()
        .expect("the last page carries the delta link")
        .to_owned();
    assert!(delta_link.contains("$deltatoken="));
    (pages, delta_link)
}

fn objects(pages: &[Reply]) -> Vec<Value> {
    pages.iter().flat_map(|p| p.values().clone()).collect()
}

fn by_id(values: &[Value]) -> BTreeMap<String, Value> {
    values
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

#[tokio::test]
async fn an_initial_round_has_pages_of_at_most_200_objects_and_ends_with_a_delta_link() {
    let harness = Harness::start(config(500, 10, 2)).await;
    let (pages, _) = round(
        &harness,
        &format!("/users/delta?$select={USER_SELECT}"),
        &[],
    )
    .await;
    assert!(pages.len() >= 3);
    assert!(pages.iter().all(|p| p.values().len() <= 200));
    assert_eq!(
        pages[0].values().len(),
        200,
        "$top is not needed: delta pages hold up to 200"
    );
    assert_eq!(
        pages[0].body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users({USER_SELECT})",
            harness.tenant().graph_url
        )
    );
    let next = pages[0].next_link().unwrap();
    assert!(next.starts_with(&format!(
        "{}/v1.0/users/delta?$skiptoken=",
        harness.tenant().graph_url
    )));
    let all = objects(&pages);
    let listed = harness.all("/users?$select=id&$top=999").await;
    let present: BTreeSet<String> = all
        .iter()
        .filter(|u| u.get("@removed").is_none())
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(present, ids(&listed).into_iter().collect());
    let removed: Vec<&Value> = all.iter().filter(|u| u.get("@removed").is_some()).collect();
    assert!(
        !removed.is_empty(),
        "soft-deleted users appear as @removed even in the initial round"
    );
    assert!(removed.iter().all(
        |u| u["@removed"] == json!({"reason": "changed"}) && u.as_object().unwrap().len() == 2
    ));
}

#[tokio::test]
async fn top_is_ignored_by_delta_and_odata_maxpagesize_can_only_lower_the_page() {
    let harness = Harness::start(config(500, 10, 2)).await;
    assert_eq!(harness.get("/users/delta?$top=5").await.values().len(), 200);
    let smaller = harness
        .get_with("/users/delta", &[("Prefer", "odata.maxpagesize=50")])
        .await;
    assert_eq!(smaller.values().len(), 50);
    assert_eq!(
        smaller.header("preference-applied"),
        Some("odata.maxpagesize=50")
    );
    let larger = harness
        .get_with("/users/delta", &[("Prefer", "odata.maxpagesize=900")])
        .await;
    assert_eq!(larger.values().len(), 200);
}

#[tokio::test]
async fn absent_means_never_set_in_delta_while_listings_write_null() {
    let harness = Harness::small().await;
    let (pages, _) = round(
        &harness,
        "/users/delta?$select=id,displayName,jobTitle",
        &[],
    )
    .await;
    let delta_users = objects(&pages);
    assert!(
        delta_users
            .iter()
            .any(|u| u.get("@removed").is_none() && u.get("jobTitle").is_none())
    );
    assert!(
        delta_users
            .iter()
            .all(|u| u.get("jobTitle") != Some(&Value::Null))
    );
    let listed = harness.all("/users?$select=id,jobTitle&$top=999").await;
    assert!(
        listed
            .iter()
            .any(|u| u["jobTitle"].is_null() && u.get("jobTitle").is_some())
    );
}

#[tokio::test]
async fn deltatoken_latest_returns_a_delta_link_from_now_and_no_objects() {
    let harness = Harness::small().await;
    let latest = harness
        .get(&format!(
            "/users/delta?$select={USER_SELECT}&$deltatoken=latest"
        ))
        .await;
    assert_eq!(latest.values().len(), 0);
    let link = latest.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let quiet = harness.get(&link).await;
    assert_eq!(quiet.values().len(), 0, "nothing changed since");
    assert!(
        quiet.body["@odata.deltaLink"].is_string(),
        "a no-change round still hands out a new delta link"
    );

    let user = harness.get("/users?$top=1&$select=id").await.values()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    harness
        .control()
        .rename_user(&user, "Renamed After Latest")
        .await
        .unwrap();
    let (pages, _) = round(&harness, &link, &[]).await;
    assert_eq!(ids(&objects(&pages)), [user]);
}

#[tokio::test]
async fn a_later_round_carries_only_changed_objects_with_all_their_selected_properties() {
    let harness = Harness::small().await;
    let (pages, link) = round(
        &harness,
        &format!("/users/delta?$select={USER_SELECT}"),
        &[],
    )
    .await;
    let before = by_id(&objects(&pages));
    let (id, original) = before
        .iter()
        .find(|(_, u)| u["mail"].is_string() && u.get("@removed").is_none())
        .unwrap();
    harness
        .control()
        .rename_user(id, "Grace Hopper")
        .await
        .unwrap();

    let (pages, _) = round(&harness, &link, &[]).await;
    let changed = objects(&pages);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["displayName"], "Grace Hopper");
    assert_eq!(
        changed[0]["mail"], original["mail"],
        "unchanged selected properties come along by default"
    );
    assert_eq!(changed[0]["proxyAddresses"], original["proxyAddresses"]);
}

#[tokio::test]
async fn prefer_return_minimal_returns_only_changed_properties_with_null_when_cleared() {
    let harness = Harness::small().await;
    let (_, link) = round(
        &harness,
        &format!("/users/delta?$select={USER_SELECT}"),
        &[],
    )
    .await;
    let user = harness
        .control()
        .create_user(json!({"displayName": "Temp", "jobTitle": "Engineer"}))
        .await
        .unwrap();
    let (_, link) = round(&harness, &link, &[]).await;
    harness
        .control()
        .update_user(&user.id, json!({"jobTitle": null, "displayName": "Kept"}))
        .await
        .unwrap();

    let (pages, _) = round(&harness, &link, &[("Prefer", "return=minimal")]).await;
    let changed = objects(&pages);
    assert_eq!(
        changed,
        [json!({"id": user.id, "displayName": "Kept", "jobTitle": null})]
    );
    assert_eq!(
        pages[0].header("preference-applied"),
        Some("return=minimal")
    );

    let full = harness
        .get(&format!(
            "/users/delta?$select={USER_SELECT}&$deltatoken=latest"
        ))
        .await;
    let full_link = full.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    harness
        .control()
        .update_user(&user.id, json!({"jobTitle": "Manager"}))
        .await
        .unwrap();
    let (pages, _) = round(&harness, &full_link, &[]).await;
    let changed = objects(&pages);
    assert_eq!(changed[0]["jobTitle"], "Manager");
    assert_eq!(
        changed[0]["mail"],
        user.property("mail").clone(),
        "default representation keeps unchanged properties"
    );
}

#[tokio::test]
async fn a_change_to_an_unselected_property_does_not_surface_the_object() {
    let harness = Harness::small().await;
    let (pages, link) = round(&harness, "/users/delta?$select=displayName", &[]).await;
    let id = objects(&pages)
        .iter()
        .find(|u| u.get("@removed").is_none())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    harness
        .control()
        .update_user(&id, json!({"jobTitle": "Untracked"}))
        .await
        .unwrap();
    let (pages, link) = round(&harness, &link, &[]).await;
    assert!(objects(&pages).is_empty());
    harness.control().disable_user(&id).await.unwrap();
    assert!(
        objects(&round(&harness, &link, &[]).await.0).is_empty(),
        "accountEnabled is not selected either"
    );
}

#[tokio::test]
async fn disabled_users_come_back_as_updates_not_removals() {
    let harness = Harness::small().await;
    let (pages, link) = round(
        &harness,
        &format!("/users/delta?$select={USER_SELECT}"),
        &[],
    )
    .await;
    let id = objects(&pages)
        .iter()
        .find(|u| u["accountEnabled"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    harness.control().disable_user(&id).await.unwrap();
    let changed = objects(&round(&harness, &link, &[]).await.0);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["accountEnabled"], false);
    assert!(changed[0].get("@removed").is_none());
}

#[tokio::test]
async fn removals_say_changed_for_the_recycle_bin_and_deleted_for_good() {
    let harness = Harness::small().await;
    let control = harness.control();
    let (_, users_link) = round(&harness, "/users/delta?$select=id,displayName", &[]).await;
    let (_, groups_link) = round(&harness, "/groups/delta?$select=id,displayName", &[]).await;
    let soft = control
        .create_user(json!({"displayName": "Soft"}))
        .await
        .unwrap();
    let hard = control
        .create_user(json!({"displayName": "Hard"}))
        .await
        .unwrap();
    let team = control
        .create_group(json!({"displayName": "Team", "groupTypes": ["Unified"]}))
        .await
        .unwrap();
    let security = control
        .create_group(json!({"displayName": "Sec", "mailEnabled": false, "securityEnabled": true}))
        .await
        .unwrap();
    let (_, users_link) = round(&harness, &users_link, &[]).await;
    let (_, groups_link) = round(&harness, &groups_link, &[]).await;

    control.soft_delete_user(&soft.id).await.unwrap();
    control.hard_delete_user(&hard.id).await.unwrap();
    control.soft_delete_group(&team.id).await.unwrap();
    control.soft_delete_group(&security.id).await.unwrap();

    let users = by_id(&objects(&round(&harness, &users_link, &[]).await.0));
    assert_eq!(
        users[&soft.id],
        json!({"id": soft.id, "@removed": {"reason": "changed"}})
    );
    assert_eq!(
        users[&hard.id],
        json!({"id": hard.id, "@removed": {"reason": "deleted"}})
    );
    let groups = by_id(&objects(&round(&harness, &groups_link, &[]).await.0));
    assert_eq!(
        groups[&team.id]["@removed"]["reason"], "changed",
        "Microsoft 365 groups go to the recycle bin"
    );
    assert_eq!(
        groups[&security.id]["@removed"]["reason"], "deleted",
        "security groups are deleted for good"
    );
}

#[tokio::test]
async fn a_restored_user_reappears_in_full_without_annotation() {
    let harness = Harness::small().await;
    let user = harness
        .control()
        .create_user(json!({"displayName": "Phoenix"}))
        .await
        .unwrap();
    harness.control().soft_delete_user(&user.id).await.unwrap();
    let (_, link) = round(
        &harness,
        &format!("/users/delta?$select={USER_SELECT}"),
        &[],
    )
    .await;
    harness.control().restore_user(&user.id).await.unwrap();
    let changed = objects(
        &round(&harness, &link, &[("Prefer", "return=minimal")])
            .await
            .0,
    );
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["displayName"], "Phoenix");
    assert_eq!(changed[0]["mail"], user.property("mail").clone());
    assert!(changed[0].get("@removed").is_none());
}

#[tokio::test]
async fn members_delta_lists_full_membership_first_then_only_additions_and_removals() {
    let harness = Harness::small().await;
    let users = ids(&harness.all("/users?$select=id&$top=5").await[..5]);
    let group = harness
        .control()
        .create_group(json!({"displayName": "Crew", "members": [users[0], users[1], users[2]]}))
        .await
        .unwrap();
    let (pages, link) = round(&harness, "/groups/delta?$select=displayName,members", &[]).await;
    let crew = &by_id(&objects(&pages))[&group.id];
    let initial: Vec<Value> = crew["members@delta"].as_array().unwrap().clone();
    assert_eq!(ids(&initial), users[..3]);
    assert!(
        initial
            .iter()
            .all(|m| m["@odata.type"] == "#microsoft.graph.user" && m.get("@removed").is_none())
    );

    harness
        .control()
        .add_members(&group.id, &[&users[3]])
        .await
        .unwrap();
    harness
        .control()
        .remove_members(&group.id, &[&users[0]])
        .await
        .unwrap();
    let changed = objects(&round(&harness, &link, &[]).await.0);
    assert_eq!(changed.len(), 1);
    assert_eq!(
        changed[0]["members@delta"],
        json!([
            {"@odata.type": "#microsoft.graph.user", "id": users[3]},
            {"@odata.type": "#microsoft.graph.user", "id": users[0], "@removed": {"reason": "deleted"}},
        ])
    );
}

#[tokio::test]
async fn groups_delta_without_select_carries_default_properties_and_members() {
    let harness = Harness::small().await;
    let (pages, _) = round(&harness, "/groups/delta", &[]).await;
    let groups = objects(&pages);
    assert!(groups.iter().any(|g| g.get("members@delta").is_some()));
    assert!(
        groups
            .iter()
            .all(|g| g.get("displayName").is_some() && g.get("mailEnabled").is_some())
    );
    assert!(
        groups
            .iter()
            .all(|g| g["members@delta"].as_array().is_none_or(|m| !m.is_empty())),
        "no members: property omitted"
    );
}

#[tokio::test]
async fn a_permanently_deleted_user_leaves_its_groups_in_members_delta() {
    let harness = Harness::small().await;
    let user = harness
        .control()
        .create_user(json!({"displayName": "Leaver"}))
        .await
        .unwrap();
    let group = harness
        .control()
        .create_group(json!({"displayName": "Club", "members": [user.id]}))
        .await
        .unwrap();
    let (_, link) = round(&harness, "/groups/delta?$select=displayName,members", &[]).await;
    harness.control().soft_delete_user(&user.id).await.unwrap();
    let (pages, link) = round(&harness, &link, &[]).await;
    assert!(
        objects(&pages).is_empty(),
        "soft-deleted users keep their memberships"
    );
    harness.control().hard_delete_user(&user.id).await.unwrap();
    let changed = objects(&round(&harness, &link, &[]).await.0);
    assert_eq!(changed[0]["id"], group.id);
    assert_eq!(
        changed[0]["members@delta"][0]["@removed"]["reason"],
        "deleted"
    );
}

#[tokio::test]
async fn a_large_group_is_split_across_pages_of_at_most_500_member_links() {
    let harness = Harness::start(config(1_400, 3, 8)).await;
    let users = ids(&harness.all("/users?$select=id&$top=999").await);
    let big = harness
        .control()
        .create_group(json!({"displayName": "All hands", "members": users[..1_234]}))
        .await
        .unwrap();
    let (pages, link) = round(&harness, "/groups/delta?$select=displayName,members", &[]).await;
    let mut members = Vec::new();
    let mut appearances = 0;
    for page in &pages {
        let links: usize = page
            .values()
            .iter()
            .map(|g| g["members@delta"].as_array().map_or(0, Vec::len))
            .sum();
        assert!(links <= 500, "{links} links on one page");
        for group in page.values().iter().filter(|g| g["id"] == big.id) {
            appearances += 1;
            members.extend(ids(group["members@delta"].as_array().unwrap()));
        }
    }
    assert!(
        appearances >= 3,
        "the group reappears with further chunks of its members"
    );
    assert_eq!(members, users[..1_234]);

    let newcomers: Vec<&str> = users[1_234..1_300].iter().map(String::as_str).collect();
    harness
        .control()
        .add_members(&big.id, &newcomers)
        .await
        .unwrap();
    let changed = objects(&round(&harness, &link, &[]).await.0);
    let added: Vec<String> = changed
        .iter()
        .flat_map(|g| ids(g["members@delta"].as_array().unwrap()))
        .collect();
    assert_eq!(added, users[1_234..1_300]);
}

#[tokio::test]
async fn a_round_may_hold_empty_pages_that_still_link_onwards() {
    let harness = Harness::small().await;
    let (_, link) = round(&harness, "/users/delta?$select=displayName", &[]).await;
    let group = harness.get("/groups?$top=1&$select=id").await.values()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..250 {
        harness
            .control()
            .update_group(&group, json!({"description": format!("revision {n}")}))
            .await
            .unwrap();
    }
    let user = harness
        .control()
        .create_user(json!({"displayName": "After the group churn"}))
        .await
        .unwrap();
    let (pages, _) = round(&harness, &link, &[]).await;
    assert!(pages.len() >= 2);
    assert!(
        pages[0].values().is_empty() && pages[0].next_link().is_some(),
        "an empty page with a nextLink"
    );
    assert_eq!(ids(&objects(&pages)), [user.id]);
}

#[tokio::test]
async fn delta_filters_only_by_id_with_at_most_50_ids() {
    let harness = Harness::small().await;
    let users = ids(&harness.all("/users?$select=id&$top=60").await);
    let filter = format!("id eq '{}' or id eq '{}'", users[0], users[1]);
    let (pages, _) = round(
        &harness,
        &format!("/users/delta?$filter={filter}&$select=displayName"),
        &[],
    )
    .await;
    assert_eq!(
        ids(&objects(&pages)).into_iter().collect::<BTreeSet<_>>(),
        users[..2].iter().cloned().collect()
    );

    let too_many = users[..51]
        .iter()
        .map(|id| format!("id eq '{id}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    assert_eq!(
        harness
            .get(&format!("/users/delta?$filter={too_many}"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let members_of_users = harness
        .get("/users/delta?$select=displayName,members")
        .await;
    assert_eq!(
        members_of_users.status,
        StatusCode::BAD_REQUEST,
        "only groups have members"
    );
    let other = harness
        .get("/users/delta?$filter=accountEnabled eq true")
        .await;
    assert_eq!(other.error_code(), "Request_UnsupportedQuery");
}

#[tokio::test]
async fn expired_delta_tokens_answer_410_with_a_location_that_restarts_the_sync() {
    let harness = Harness::small().await;
    let (_, link) = round(&harness, "/users/delta?$select=displayName", &[]).await;
    let first_page = harness
        .get_with(
            "/users/delta?$select=displayName",
            &[("Prefer", "odata.maxpagesize=50")],
        )
        .await;
    let next = first_page.next_link().unwrap().to_owned();
    harness.control().expire_delta_tokens().await.unwrap();
    for stale in [&link, &next] {
        let gone = harness.get(stale).await;
        assert_eq!(gone.status, StatusCode::GONE);
        assert_eq!(gone.error_code(), "syncStateNotFound");
        let location = gone
            .header("location")
            .expect("a Location header")
            .to_owned();
        assert!(location.ends_with("$deltatoken="), "{location}");
        let (pages, _) = round(&harness, &location, &[]).await;
        assert!(
            objects(&pages).len() > 100,
            "the Location starts a full round"
        );
    }
}

#[tokio::test]
async fn delta_tokens_expire_after_the_configured_age() {
    let harness = Harness::start(SimConfig {
        delta_token_max_age: Duration::from_secs(2),
        ..config(50, 4, 1)
    })
    .await;
    let (_, link) = round(&harness, "/users/delta", &[]).await;
    assert_eq!(harness.get(&link).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(harness.get(&link).await.status, StatusCode::GONE);
    harness
        .control()
        .set_delta_token_max_age(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        harness.get(&link).await.status,
        StatusCode::OK,
        "the age limit is read at use time"
    );
}

#[tokio::test]
async fn a_group_deleted_while_split_across_pages_does_not_cut_the_next_groups_members() {
    let harness = Harness::start(config(1_400, 3, 8)).await;
    let users = ids(&harness.all("/users?$select=id&$top=999").await);
    let control = harness.control();
    let big = control
        .create_group(json!({"displayName": "Big", "members": users[..1_200]}))
        .await
        .unwrap();
    let small = control
        .create_group(json!({"displayName": "Small", "members": users[..10]}))
        .await
        .unwrap();
    let first = harness
        .get("/groups/delta?$select=displayName,members")
        .await;
    assert!(
        first.values().iter().any(|g| g["id"] == big.id),
        "the big group starts on page one"
    );
    control.hard_delete_group(&big.id).await.unwrap();
    let rest = harness.pages(first.next_link().unwrap(), &[]).await;
    let small_members: Vec<String> = objects(&rest)
        .iter()
        .filter(|g| g["id"] == small.id)
        .flat_map(|g| ids(g["members@delta"].as_array().unwrap()))
        .collect();
    assert_eq!(small_members, users[..10]);
}
