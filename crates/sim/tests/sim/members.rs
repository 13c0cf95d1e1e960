//! `/groups/{id}/members` and `/groups/{id}/transitiveMembers`.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use roster_sim::SimConfig;
use serde_json::{Value, json};

use crate::support::{Harness, config, ids};

async fn user_ids(harness: &Harness, count: usize) -> Vec<String> {
    ids(&harness.all("/users?$select=id&$top=999").await)[..count].to_vec()
}

#[tokio::test]
async fn direct_members_carry_their_odata_type_and_come_in_pages_of_100() {
    let harness = Harness::small().await;
    let members = user_ids(&harness, 110).await;
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let group = harness
        .control()
        .create_group(json!({"displayName": "Everyone", "members": refs}))
        .await
        .unwrap();

    let pages = harness
        .pages(&format!("/groups/{}/members", group.id), &[])
        .await;
    assert_eq!(
        pages.iter().map(|p| p.values().len()).collect::<Vec<_>>(),
        [100, 10]
    );
    assert_eq!(
        pages[0].body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#directoryObjects",
            harness.tenant().graph_url
        )
    );
    let listed: Vec<Value> = pages.iter().flat_map(|p| p.values().clone()).collect();
    assert!(
        listed
            .iter()
            .all(|m| m["@odata.type"] == "#microsoft.graph.user")
    );
    assert_eq!(ids(&listed), members);

    let whole = harness
        .get(&format!("/groups/{}/members?$top=999", group.id))
        .await;
    assert_eq!(whole.values().len(), 110);
    assert!(whole.next_link().is_none());
}

#[tokio::test]
async fn select_on_members_applies_to_each_member_type_and_absent_properties_stay_absent() {
    let harness = Harness::start(config(400, 60, 9)).await;
    let groups = harness.all("/groups?$select=id&$top=999").await;
    let mut seen_types = BTreeSet::new();
    for group in &groups {
        let members = harness
            .all(&format!(
                "/groups/{}/members?$select=id,mail,userPrincipalName",
                group["id"].as_str().unwrap()
            ))
            .await;
        for member in members {
            let odata_type = member["@odata.type"].as_str().unwrap().to_owned();
            assert!(member.get("id").is_some());
            if odata_type != "#microsoft.graph.user" {
                assert!(member.get("userPrincipalName").is_none(), "{member}");
            }
            seen_types.insert(odata_type);
        }
    }
    for expected in [
        "#microsoft.graph.user",
        "#microsoft.graph.group",
        "#microsoft.graph.orgContact",
        "#microsoft.graph.device",
    ] {
        assert!(
            seen_types.contains(expected),
            "a {expected} member somewhere: {seen_types:?}"
        );
    }
}

#[tokio::test]
async fn transitive_members_expand_nested_groups_once_even_through_a_cycle() {
    let harness = Harness::small().await;
    let users = user_ids(&harness, 6).await;
    let control = harness.control();
    let inner = control
        .create_group(json!({"displayName": "Inner", "members": [users[0], users[1]]}))
        .await
        .unwrap();
    let outer = control
        .create_group(json!({"displayName": "Outer", "members": [users[1], users[2], inner.id]}))
        .await
        .unwrap();
    control.add_members(&inner.id, &[&outer.id]).await.unwrap();

    let direct = ids(&harness.all(&format!("/groups/{}/members", outer.id)).await);
    assert_eq!(
        direct,
        [users[1].clone(), users[2].clone(), inner.id.clone()]
    );
    let transitive = harness
        .all(&format!("/groups/{}/transitiveMembers", outer.id))
        .await;
    let transitive_ids: BTreeSet<String> = ids(&transitive).into_iter().collect();
    assert_eq!(transitive.len(), transitive_ids.len(), "each member once");
    let expected: BTreeSet<String> = [&users[0], &users[1], &users[2], &inner.id]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(transitive_ids, expected);
}

#[tokio::test]
async fn the_generated_tenant_holds_large_groups_and_a_nesting_cycle() {
    let harness = Harness::start(SimConfig {
        memberships: Some(8_000),
        ..config(2_600, 30, 4)
    })
    .await;
    let groups = harness.all("/groups?$select=id&$top=999").await;
    let mut large = 0;
    let mut nested = Vec::new();
    for group in &groups {
        let id = group["id"].as_str().unwrap();
        let members = harness
            .all(&format!("/groups/{id}/members?$top=999&$select=id"))
            .await;
        if members.len() > 1_000 {
            large += 1;
        }
        for member in members
            .iter()
            .filter(|m| m["@odata.type"] == "#microsoft.graph.group")
        {
            nested.push((id.to_owned(), member["id"].as_str().unwrap().to_owned()));
        }
    }
    assert!(
        large >= 1,
        "at least one group with more than 1,000 members"
    );
    assert!(
        nested
            .iter()
            .any(|(parent, child)| nested.contains(&(child.clone(), parent.clone()))),
        "a cycle"
    );
}

#[tokio::test]
async fn members_of_a_group_honour_top_limits_and_refuse_filters_without_advanced_query() {
    let harness = Harness::small().await;
    let group = harness.get("/groups?$top=1&$select=id").await.values()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = harness
        .get(&format!("/groups/{group}/members?$top=1000"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let filtered = harness
        .get(&format!(
            "/groups/{group}/members?$filter=accountEnabled eq true"
        ))
        .await;
    assert_eq!(filtered.error_code(), "Request_UnsupportedQuery");
}

#[tokio::test]
async fn a_groups_members_answer_404_as_often_as_the_control_api_says_then_for_good() {
    let harness = Harness::small().await;
    let members = user_ids(&harness, 2).await;
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let control = harness.control();
    let group = control
        .create_group(json!({"displayName": "Replicating", "members": refs}))
        .await
        .unwrap();
    let path = format!("/groups/{}/members", group.id);

    control.members_not_found(&group.id, Some(2)).await.unwrap();
    for _ in 0..2 {
        let reply = harness.get(&path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.body["error"]["code"], "Request_ResourceNotFound");
    }
    assert_eq!(
        harness.get(&path).await.values().len(),
        2,
        "then served again"
    );
    let group_itself = harness.get(&format!("/groups/{}", group.id)).await;
    assert_eq!(
        group_itself.status,
        StatusCode::OK,
        "only the members answer 404"
    );

    control.members_not_found(&group.id, None).await.unwrap();
    for _ in 0..5 {
        assert_eq!(harness.get(&path).await.status, StatusCode::NOT_FOUND);
    }
    control.members_not_found(&group.id, Some(0)).await.unwrap();
    assert_eq!(harness.get(&path).await.status, StatusCode::OK, "lifted");

    let unknown = control.members_not_found("no-such-group", None).await;
    assert!(unknown.is_err(), "an unknown group is refused: {unknown:?}");
}
