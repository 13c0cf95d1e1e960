//! `/users`, `/groups`, single objects, `$count`, `$search` and `/domains`.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Harness, config, ids};

const DEFAULT_USER_PROPERTIES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

fn keys(object: &Value) -> BTreeSet<&str> {
    object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn users_come_in_pages_of_100_linked_by_opaque_next_links() {
    let harness = Harness::small().await;
    let pages = harness.pages("/users", &[]).await;
    let summary = harness.control().summary().await.unwrap();
    assert_eq!(pages[0].values().len(), 100);
    assert_eq!(
        pages[0].body["@odata.context"],
        format!("{}/v1.0/$metadata#users", harness.tenant().graph_url)
    );
    let next = pages[0].next_link().expect("a next link");
    assert!(
        next.starts_with(&format!("{}/v1.0/users?", harness.tenant().graph_url))
            && next.contains("$skiptoken=")
    );
    assert!(pages.last().unwrap().next_link().is_none());
    let all: Vec<String> = pages.iter().flat_map(|p| ids(p.values())).collect();
    assert_eq!(all.len(), summary.users);
    assert_eq!(
        all.iter().collect::<BTreeSet<_>>().len(),
        all.len(),
        "no user twice"
    );
}

#[tokio::test]
async fn top_ranges_from_1_to_999_and_1000_is_refused_with_microsofts_message() {
    let harness = Harness::start(config(1_200, 4, 3)).await;
    assert_eq!(harness.get("/users?$top=999").await.values().len(), 999);
    assert_eq!(harness.get("/users?$top=1").await.values().len(), 1);
    let next_keeps_top = harness.get("/users?$top=7&$select=id").await;
    assert_eq!(
        harness
            .get(next_keeps_top.next_link().unwrap())
            .await
            .values()
            .len(),
        7
    );
    for top in ["1000", "0", "-3", "many"] {
        let reply = harness.get(&format!("/users?$top={top}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.body["error"]["message"],
            format!("Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")
        );
    }
}

#[tokio::test]
async fn default_user_properties_leave_out_account_enabled_user_type_and_proxy_addresses() {
    let harness = Harness::small().await;
    let user = &harness.get("/users?$top=1").await.values()[0].clone();
    assert_eq!(keys(user), DEFAULT_USER_PROPERTIES.into_iter().collect());
    assert!(
        user.get("jobTitle").is_some(),
        "unset defaults are written as null in listings"
    );
}

#[tokio::test]
async fn select_returns_exactly_the_named_properties_and_names_them_in_the_context() {
    let harness = Harness::small().await;
    let reply = harness
        .get("/users?$select=id,mail,accountEnabled,userType,proxyAddresses&$top=3")
        .await;
    assert_eq!(
        reply.body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users(id,mail,accountEnabled,userType,proxyAddresses)",
            harness.tenant().graph_url
        )
    );
    for user in reply.values() {
        assert_eq!(
            keys(user),
            ["accountEnabled", "id", "mail", "proxyAddresses", "userType"]
                .into_iter()
                .collect()
        );
    }
    let unknown = harness.get("/users?$select=id,shoeSize").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.error_code(), "Request_BadRequest");
}

#[tokio::test]
async fn the_generated_mix_holds_every_kind_of_recipient_a_mail_platform_meets() {
    let harness = Harness::start(config(1_500, 60, 21)).await;
    let users = harness.all("/users?$select=id,userPrincipalName,mail,proxyAddresses,accountEnabled,userType&$top=999").await;
    let summary = harness.control().summary().await.unwrap();
    let proxies = |u: &Value| -> Vec<String> {
        u["proxyAddresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    };
    let guests: Vec<&Value> = users.iter().filter(|u| u["userType"] == "Guest").collect();
    assert!(
        !guests.is_empty()
            && guests
                .iter()
                .all(|g| g["userPrincipalName"].as_str().unwrap().contains("#EXT#"))
    );
    assert!(
        users
            .iter()
            .any(|u| u["mail"].is_null() && proxies(u).is_empty()),
        "users without a mailbox"
    );
    assert!(
        users
            .iter()
            .any(|u| u["accountEnabled"] == false && u["mail"].is_string()),
        "blocked mailboxes"
    );
    let all_proxies: Vec<String> = users.iter().flat_map(proxies).collect();
    assert!(
        all_proxies.iter().any(|p| p.starts_with("SMTP: ")),
        "the documented space after the prefix"
    );
    assert!(
        all_proxies.iter().any(|p| p.starts_with("X500:"))
            && all_proxies.iter().any(|p| p.starts_with("SIP:"))
    );
    let domain_of = |p: &String| p.rsplit('@').next().unwrap_or_default().to_owned();
    let domains: BTreeSet<String> = all_proxies
        .iter()
        .filter(|p| p.to_lowercase().starts_with("smtp:"))
        .map(domain_of)
        .collect();
    for domain in summary
        .verified_domains
        .iter()
        .chain(&summary.unverified_domains)
    {
        assert!(domains.contains(domain), "an address in {domain}");
    }
    assert!(
        users.iter().any(|u| proxies(u).len() >= 3),
        "users with several aliases"
    );

    let groups = harness.all("/groups?$top=999").await;
    let kinds: BTreeSet<&str> = groups
        .iter()
        .map(|g| {
            let unified = g["groupTypes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "Unified");
            match (
                unified,
                g["mailEnabled"].as_bool(),
                g["securityEnabled"].as_bool(),
            ) {
                (true, _, _) => "microsoft 365",
                (false, Some(true), Some(false)) => "distribution",
                (false, Some(true), Some(true)) => "mail-enabled security",
                (false, Some(false), Some(true)) => "security",
                _ => "unclassified",
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "distribution",
            "mail-enabled security",
            "microsoft 365",
            "security"
        ]
        .into_iter()
        .collect()
    );
}

#[tokio::test]
async fn the_filters_a_sync_needs_work_without_an_advanced_query() {
    let harness = Harness::small().await;
    let users = harness
        .all("/users?$select=id,accountEnabled,userType&$top=999")
        .await;
    let enabled = harness
        .all("/users?$filter=accountEnabled eq true&$select=id&$top=999")
        .await;
    assert_eq!(
        enabled.len(),
        users.iter().filter(|u| u["accountEnabled"] == true).count()
    );
    let guests = harness
        .all("/users?$filter=userType eq 'Guest'&$select=id,userType")
        .await;
    assert!(
        !guests.is_empty()
            && guests.len() == users.iter().filter(|u| u["userType"] == "Guest").count()
    );
    let some: Vec<String> = ids(&users[..3]);
    let by_id = harness
        .get(&format!(
            "/users?$filter=id in ('{}','{}','{}')",
            some[0], some[1], some[2]
        ))
        .await;
    assert_eq!(
        ids(by_id.values()).into_iter().collect::<BTreeSet<_>>(),
        some.iter().cloned().collect()
    );

    let groups = harness.all("/groups?$top=999").await;
    let unified = harness
        .all("/groups?$filter=groupTypes/any(c:c eq 'Unified')")
        .await;
    assert_eq!(
        unified.len(),
        groups
            .iter()
            .filter(|g| g["groupTypes"]
                .as_array()
                .unwrap()
                .contains(&"Unified".into()))
            .count()
    );
    let distribution = harness
        .all("/groups?$filter=mailEnabled eq true and securityEnabled eq false")
        .await;
    assert!(
        distribution
            .iter()
            .all(|g| g["mailEnabled"] == true && g["securityEnabled"] == false)
    );
    let address = users
        .iter()
        .find_map(|u| u.get("mail").and_then(Value::as_str))
        .map(str::to_owned);
    if let Some(address) = address {
        let found = harness
            .get(&format!(
                "/users?$filter=proxyAddresses/any(p:startswith(p,'smtp:{address}'))"
            ))
            .await;
        assert_eq!(found.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn advanced_queries_need_consistency_level_eventual() {
    let harness = Harness::small().await;
    let endswith = "/users?$filter=endswith(mail,'.com')&$count=true";
    let refused = harness.get(endswith).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (StatusCode::BAD_REQUEST, "Request_UnsupportedQuery")
    );
    assert_eq!(refused.body["error"]["message"], "Unsupported Query.");
    let advanced = harness
        .get_with(endswith, &[("ConsistencyLevel", "eventual")])
        .await;
    assert_eq!(advanced.status, StatusCode::OK);
    assert!(advanced.body["@odata.count"].as_u64().is_some());

    let search = harness.get("/users?$search=\"displayName:a\"").await;
    assert_eq!(search.error_code(), "Request_UnsupportedQuery");
    assert!(
        search.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ConsistencyLevel: eventual")
    );
    assert_eq!(
        harness
            .get_with(
                "/users?$search=\"displayName:a\"",
                &[("ConsistencyLevel", "eventual")]
            )
            .await
            .status,
        StatusCode::OK
    );

    let count = harness.get("/users/$count").await;
    assert_eq!(
        (count.status, count.error_code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    assert_eq!(
        count.body["error"]["message"],
        "$count is not currently supported."
    );
    let counted = harness
        .get_with("/users/$count", &[("ConsistencyLevel", "eventual")])
        .await;
    assert_eq!(
        counted.body.as_u64(),
        Some(harness.control().summary().await.unwrap().users as u64)
    );

    let ignored = harness.get("/users?$count=true").await;
    assert_eq!(ignored.status, StatusCode::OK);
    assert!(
        ignored.body.get("@odata.count").is_none(),
        "$count without the header is silently ignored"
    );
}

#[tokio::test]
async fn one_object_by_id_or_user_principal_name_and_404_for_unknown_ids() {
    let harness = Harness::small().await;
    let user = harness
        .get("/users?$top=1&$select=id,userPrincipalName")
        .await
        .values()[0]
        .clone();
    let by_id = harness
        .get(&format!(
            "/users/{}?$select=id,displayName",
            user["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id.body["id"], user["id"]);
    assert_eq!(
        by_id.body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users(id,displayName)/$entity",
            harness.tenant().graph_url
        )
    );
    let upn = user["userPrincipalName"]
        .as_str()
        .unwrap()
        .replace('#', "%23");
    assert_eq!(
        harness.get(&format!("/users/{upn}")).await.body["id"],
        user["id"]
    );

    let missing = "8ffff70c-1c63-4860-b963-e34ec660931d";
    for path in [
        format!("/users/{missing}"),
        format!("/groups/{missing}"),
        format!("/groups/{missing}/members"),
    ] {
        let reply = harness.get(&path).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
        );
        assert_eq!(
            reply.body["error"]["message"],
            format!(
                "Resource '{missing}' does not exist or one of its queried reference-property objects are not present."
            )
        );
    }
}

#[tokio::test]
async fn domains_list_the_verified_and_unverified_domains_of_the_tenant() {
    let harness = Harness::small().await;
    let domains = harness.get("/domains").await;
    let values = domains.values();
    assert_eq!(values.iter().filter(|d| d["isDefault"] == true).count(), 1);
    let default = values.iter().find(|d| d["isDefault"] == true).unwrap();
    assert_eq!(default["id"], harness.tenant().tenant);
    assert!(
        values
            .iter()
            .any(|d| d["isInitial"] == true
                && d["id"].as_str().unwrap().ends_with(".onmicrosoft.com"))
    );
    assert!(values.iter().any(|d| d["isVerified"] == false));
    for domain in values {
        for field in [
            "authenticationType",
            "isVerified",
            "isDefault",
            "isInitial",
            "supportedServices",
        ] {
            assert!(domain.get(field).is_some(), "{field}");
        }
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_tenant() {
    let first = Harness::start(config(300, 20, 5)).await;
    let second = Harness::start(config(300, 20, 5)).await;
    let other = Harness::start(config(300, 20, 6)).await;
    let listing = "/users?$top=999&$select=id,userPrincipalName,proxyAddresses,accountEnabled";
    assert_eq!(first.all(listing).await, second.all(listing).await);
    assert_eq!(first.tenant().client_id, second.tenant().client_id);
    assert_ne!(first.all(listing).await, other.all(listing).await);
}
