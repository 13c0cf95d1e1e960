//! The full read's cost: a tenant read in a handful of requests per thousand objects, even
//! when every request takes 50 ms.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::support::{Mirror, Tenant, read_all};

const USERS: usize = 10_000;
const GROUPS: usize = 1_000;
const MEMBERS_PER_GROUP: usize = 100;
/// Group 0 is large: its members take two pages.
const LARGE_GROUP_MEMBERS: usize = 1_500;
const PAGE: usize = 999;
const LATENCY: Duration = Duration::from_millis(50);

fn skiptoken(request: &Request) -> usize {
    request
        .url
        .query_pairs()
        .find(|(key, _)| key == "$skiptoken")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// The page starting at `start` of `total` generated objects, with a nextLink while more remain.
fn page(tenant_link: &str, start: usize, total: usize, object: impl Fn(usize) -> Value) -> Value {
    let end = (start + PAGE).min(total);
    let mut body = json!({ "value": (start..end).map(object).collect::<Vec<_>>() });
    if end < total {
        body["@odata.nextLink"] = json!(format!(
            "{tenant_link}?$select=id&$top=999&$skiptoken={end}"
        ));
    }
    body
}

async fn mount_large_tenant(tenant: &Tenant) {
    tenant.latest_links().await;
    let users_link = tenant.link("/users");
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .respond_with(move |request: &Request| {
            let body = page(&users_link, skiptoken(request), USERS, |n| {
                json!({"id": format!("u{n}"), "mail": format!("user{n}@contoso.com"), "proxyAddresses": [format!("SMTP:user{n}@contoso.com")],
                       "accountEnabled": true, "userType": "Member", "displayName": format!("User {n}")})
            });
            ResponseTemplate::new(200).set_body_json(body).set_delay(LATENCY)
        })
        .mount(&tenant.server)
        .await;
    let groups_link = tenant.link("/groups");
    Mock::given(method("GET"))
        .and(path("/v1.0/groups"))
        .respond_with(move |request: &Request| {
            let body = page(&groups_link, skiptoken(request), GROUPS, |n| {
                json!({"id": format!("g{n}"), "displayName": format!("Group {n}"), "mailEnabled": false, "securityEnabled": true, "groupTypes": []})
            });
            ResponseTemplate::new(200).set_body_json(body).set_delay(LATENCY)
        })
        .mount(&tenant.server)
        .await;
    let root = tenant.link("");
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(move |request: &Request| {
            let batch: Value = serde_json::from_slice(&request.body).expect("a JSON batch");
            let responses: Vec<Value> = batch["requests"]
                .as_array()
                .expect("requests")
                .iter()
                .map(|item| {
                    let url = item["url"].as_str().expect("a url");
                    let group: usize = url
                        .split('/')
                        .nth(2)
                        .and_then(|g| g.strip_prefix('g'))
                        .and_then(|n| n.parse().ok())
                        .expect("a group");
                    let total = if group == 0 {
                        LARGE_GROUP_MEMBERS
                    } else {
                        MEMBERS_PER_GROUP
                    };
                    let start = url
                        .split("$skiptoken=")
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    let link = format!("{root}/groups/g{group}/members");
                    let body = page(
                        &link,
                        start,
                        total,
                        |n| json!({"@odata.type": "#microsoft.graph.user", "id": format!("u{n}")}),
                    );
                    json!({"id": item["id"], "status": 200, "body": body})
                })
                .collect();
            ResponseTemplate::new(200)
                .set_body_json(json!({ "responses": responses }))
                .set_delay(LATENCY)
        })
        .mount(&tenant.server)
        .await;
}

#[tokio::test]
async fn full_read_lists_with_top_999_and_batches_members_twenty_groups_at_a_time() {
    let tenant = Tenant::start().await;
    mount_large_tenant(&tenant).await;
    let client = tenant.client();
    let started = Instant::now();
    let (events, _) = read_all(client.read_full()).await.unwrap();
    let took = started.elapsed();

    let mut mirror = Mirror::default();
    mirror.apply(events);
    assert_eq!(mirror.users.len(), USERS);
    assert_eq!(mirror.groups.len(), GROUPS);
    let memberships: usize = mirror
        .groups
        .values()
        .map(|group| group.members.len())
        .sum();
    assert_eq!(
        memberships,
        (GROUPS - 1) * MEMBERS_PER_GROUP + LARGE_GROUP_MEMBERS
    );

    let user_pages = USERS.div_ceil(PAGE);
    let group_pages = GROUPS.div_ceil(PAGE);
    // One batch more than the groups need, for the large group's second page.
    let batches = GROUPS.div_ceil(20) + 1;
    assert_eq!(
        client.stats().graph_requests as usize,
        2 + user_pages + group_pages + batches
    );
    assert!(
        took < Duration::from_secs(20),
        "a scaled-down tenant took {took:?}"
    );
}
