//! Full reads and delta rounds: paging, merging, absent versus null, removals and expiry.

use std::time::Duration;

use roster_domain::{DirectoryMember, MemberType};
use roster_graph::{DirectoryEvent, GraphError, Priority, ReadStep};
use serde_json::json;
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{BatchGraph, Mirror, Tenant, id, members_url, ok, options, read_all};

const USER_SELECT: &str = "id,userPrincipalName,mail,proxyAddresses,accountEnabled,userType,displayName,givenName,surname";
const GROUP_SELECT: &str =
    "id,displayName,mail,mailEnabled,securityEnabled,groupTypes,proxyAddresses";

fn user_json(object_id: &str, mail: &str) -> serde_json::Value {
    json!({
        "id": object_id, "userPrincipalName": mail, "mail": mail, "proxyAddresses": [format!("SMTP:{mail}")],
        "accountEnabled": true, "userType": "Member", "displayName": object_id, "givenName": null, "surname": null
    })
}

fn member(object_id: &str, kind: &str) -> serde_json::Value {
    json!({"@odata.type": format!("#microsoft.graph.{kind}"), "id": object_id})
}

/// A tenant with three users over three pages (the middle one empty), two groups, and
/// members fetched by batch: g1's over two pages, g2's throttled once.
async fn listed_tenant() -> Tenant {
    let tenant = Tenant::start().await;
    tenant.latest_links().await;
    tenant
        .get(
            "/users",
            &[("$select", USER_SELECT), ("$top", "999")],
            ok(json!({"value": [user_json("u1", "a@contoso.com"), user_json("u2", "b@contoso.com")],
                      "@odata.nextLink": tenant.link("/users?$skiptoken=page2")})),
        )
        .await;
    tenant
        .get(
            "/users",
            &[("$skiptoken", "page2")],
            ok(json!({"value": [], "@odata.nextLink": tenant.link("/users?$skiptoken=page3")})),
        )
        .await;
    tenant
        .get(
            "/users",
            &[("$skiptoken", "page3")],
            ok(json!({"value": [user_json("u3", "c@contoso.com")]})),
        )
        .await;
    tenant
        .get(
            "/groups",
            &[("$select", GROUP_SELECT), ("$top", "999")],
            ok(json!({"value": [
                {"id": "g1", "displayName": "Sales", "mail": "sales@contoso.com", "mailEnabled": true, "securityEnabled": false,
                 "groupTypes": [], "proxyAddresses": ["SMTP:sales@contoso.com"]},
                {"id": "g2", "displayName": "Staff", "mail": null, "mailEnabled": false, "securityEnabled": true,
                 "groupTypes": [], "proxyAddresses": []}
            ]})),
        )
        .await;
    let g1_page2 = "/groups/g1/members?$select=id&$top=999&$skiptoken=m2";
    BatchGraph::new([
        (
            members_url("g1"),
            (
                200,
                json!({"value": [member("u1", "user")], "@odata.nextLink": tenant.link(g1_page2)}),
            ),
        ),
        (
            g1_page2.to_owned(),
            (
                200,
                json!({"value": [member("u2", "user"), member("g2", "group")]}),
            ),
        ),
        (
            members_url("g2"),
            (
                200,
                json!({"value": [member("u3", "user"), member("c1", "orgContact")]}),
            ),
        ),
    ])
    .throttling_once(&[&members_url("g2")])
    .mount(&tenant)
    .await;
    tenant
}

#[tokio::test]
async fn full_read_lists_every_user_group_and_member_through_empty_pages_and_throttled_items() {
    let tenant = listed_tenant().await;
    let client = tenant.client();
    let (events, links) = read_all(client.read_full()).await.unwrap();
    let mut mirror = Mirror::default();
    mirror.apply(events);
    assert_eq!(
        mirror.users.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["u1", "u2", "u3"]
    );
    assert_eq!(
        mirror.users[&id("u2")].mail.as_deref(),
        Some("b@contoso.com")
    );
    let sales = &mirror.groups[&id("g1")];
    assert_eq!(sales.display_name.as_deref(), Some("Sales"));
    assert_eq!(
        sales.members,
        [
            DirectoryMember {
                id: id("u1"),
                kind: MemberType::User
            },
            DirectoryMember {
                id: id("u2"),
                kind: MemberType::User
            },
            DirectoryMember {
                id: id("g2"),
                kind: MemberType::Group
            },
        ]
    );
    assert_eq!(
        mirror.groups[&id("g2")].members.len(),
        2,
        "members after the throttled item was retried"
    );
    assert!(
        links
            .users
            .as_str()
            .ends_with("/users/delta?$deltatoken=users-latest")
    );
    assert!(
        links
            .groups
            .as_str()
            .ends_with("/groups/delta?$deltatoken=groups-latest")
    );
    assert_eq!(client.stats().throttled, 1);
}

#[tokio::test]
async fn full_read_takes_delta_links_before_listing() {
    let tenant = listed_tenant().await;
    read_all(tenant.client().read_full()).await.unwrap();
    let requests = tenant.server.received_requests().await.unwrap();
    let graph: Vec<String> = requests
        .iter()
        .filter(|r| r.url.path().starts_with("/v1.0"))
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(&graph[..2], ["/v1.0/users/delta", "/v1.0/groups/delta"]);
    assert!(
        graph[2..].iter().all(|path| !path.ends_with("/delta")),
        "{graph:?}"
    );
    let groups_latest = requests
        .iter()
        .find(|r| r.url.path() == "/v1.0/groups/delta")
        .unwrap();
    let select = groups_latest
        .url
        .query_pairs()
        .find(|(k, _)| k == "$select")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        select,
        format!("{GROUP_SELECT},members"),
        "members must be tracked by delta"
    );
}

#[tokio::test]
async fn requests_carry_priority_client_request_id_and_bearer_token() {
    let tenant = Tenant::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/delta"))
        .and(header("x-ms-throttle-priority", "High"))
        .and(header_exists("client-request-id"))
        .and(header(
            "authorization",
            format!("Bearer {}", crate::support::granted_token()).as_str(),
        ))
        .respond_with(ok(
            json!({"value": [], "@odata.deltaLink": tenant.link("/users/delta?$deltatoken=next")}),
        ))
        .mount(&tenant.server)
        .await;
    tenant.get("/groups/delta", &[], ok(json!({"value": [], "@odata.deltaLink": tenant.link("/groups/delta?$deltatoken=next")}))).await;
    let client = tenant.client_with(roster_graph::ClientOptions {
        priority: Priority::High,
        ..options()
    });
    let (_, links) = read_all(client.read_changes(&tenant.delta_links("u0", "g0")))
        .await
        .unwrap();
    assert!(links.users.as_str().ends_with("$deltatoken=next"));
}

#[tokio::test]
async fn delta_round_follows_empty_pages_and_merges_a_group_split_across_pages() {
    let tenant = Tenant::start().await;
    tenant
        .get(
            "/users/delta",
            &[("$deltatoken", "u0")],
            ok(json!({"value": [], "@odata.nextLink": tenant.link("/users/delta?$skiptoken=u1")})),
        )
        .await;
    tenant
        .get(
            "/users/delta",
            &[("$skiptoken", "u1")],
            ok(json!({"value": [{"id": "u1", "mail": null, "displayName": "Renamed"}, {"id": "u2", "@removed": {"reason": "deleted"}}],
                      "@odata.deltaLink": tenant.link("/users/delta?$deltatoken=u-next")})),
        )
        .await;
    tenant
        .get(
            "/groups/delta",
            &[("$deltatoken", "g0")],
            ok(json!({"value": [{"id": "g1", "displayName": "Big", "members@delta": [member("u1", "user")]}],
                      "@odata.nextLink": tenant.link("/groups/delta?$skiptoken=g1")})),
        )
        .await;
    tenant
        .get(
            "/groups/delta",
            &[("$skiptoken", "g1")],
            ok(json!({"value": [{"id": "g1", "members@delta": [
                        member("u3", "user"),
                        {"@odata.type": "#microsoft.graph.user", "id": "u9", "@removed": {"reason": "deleted"}}]},
                      {"id": "g2", "@removed": {"reason": "changed"}}],
                      "@odata.deltaLink": tenant.link("/groups/delta?$deltatoken=g-next")})),
        )
        .await;

    let mut mirror = Mirror::default();
    let seed =
        json!({"value": [user_json("u1", "a@contoso.com"), user_json("u2", "b@contoso.com")]});
    mirror.apply(
        roster_graph::parse::user_page(seed.to_string().as_bytes())
            .unwrap()
            .items,
    );
    let seed = json!({"value": [{"id": "g1", "displayName": "Big", "members@delta": [member("u9", "user")]}, {"id": "g2"}]});
    mirror.apply(
        roster_graph::parse::group_page(seed.to_string().as_bytes())
            .unwrap()
            .items,
    );
    let (events, links) = read_all(
        tenant
            .client()
            .read_changes(&tenant.delta_links("u0", "g0")),
    )
    .await
    .unwrap();
    mirror.apply(events);

    let renamed = &mirror.users[&id("u1")];
    assert_eq!(renamed.mail, None, "null clears");
    assert_eq!(renamed.display_name.as_deref(), Some("Renamed"));
    assert_eq!(
        renamed.user_principal_name.as_deref(),
        Some("a@contoso.com"),
        "absent is unchanged"
    );
    assert!(!mirror.users.contains_key(&id("u2")));
    let big = &mirror.groups[&id("g1")];
    assert_eq!(big.display_name.as_deref(), Some("Big"));
    let members: Vec<_> = big.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        members,
        ["u1", "u3"],
        "both pages merged, the removed member gone"
    );
    assert!(!mirror.groups.contains_key(&id("g2")));
    assert!(links.users.as_str().ends_with("u-next") && links.groups.as_str().ends_with("g-next"));
}

#[tokio::test]
async fn expired_delta_link_asks_for_a_full_read() {
    let cases = [
        (
            410,
            json!({"error": {"code": "SyncStateNotFound", "message": "The sync state is gone."}}),
        ),
        (
            400,
            json!({"error": {"code": "syncStateNotFound", "message": "The delta token is expired."}}),
        ),
        (
            400,
            json!({"error": {"code": "resyncRequired", "message": "Reset the sync state."}}),
        ),
        (
            409,
            json!({"error": {"code": "SyncStateInvalid", "message": "Invalid."}}),
        ),
        (410, json!({})),
    ];
    for (status, body) in cases {
        let tenant = Tenant::start().await;
        tenant.quiet_delta_round("groups").await;
        tenant
            .get(
                "/users/delta",
                &[("$deltatoken", "u0")],
                ResponseTemplate::new(status).set_body_json(&body),
            )
            .await;
        let error = read_all(
            tenant
                .client()
                .read_changes(&tenant.delta_links("u0", "g0")),
        )
        .await
        .unwrap_err();
        assert!(error.needs_full_read(), "HTTP {status} {body}: {error:?}");
        assert!(error.fix().contains("reads the whole directory again"));
    }
}

#[tokio::test]
async fn expired_group_delta_link_after_a_good_user_round_asks_for_a_full_read() {
    let tenant = Tenant::start().await;
    tenant.get("/users/delta", &[("$deltatoken", "u0")], ok(json!({"value": [], "@odata.deltaLink": tenant.link("/users/delta?$deltatoken=u1")}))).await;
    tenant
        .get(
            "/groups/delta",
            &[("$deltatoken", "g0")],
            ResponseTemplate::new(410),
        )
        .await;
    let error = read_all(
        tenant
            .client()
            .read_changes(&tenant.delta_links("u0", "g0")),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, GraphError::DeltaExpired { status: 410, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn next_link_to_another_host_is_refused_and_never_sent_the_token() {
    let tenant = Tenant::start().await;
    tenant.quiet_delta_round("groups").await;
    let foreign = MockServer::start().await;
    let foreign_link = format!("{}/v1.0/users/delta?$skiptoken=steal", foreign.uri());
    tenant
        .get(
            "/users/delta",
            &[("$deltatoken", "u0")],
            ok(json!({"value": [], "@odata.nextLink": foreign_link})),
        )
        .await;
    let error = read_all(
        tenant
            .client()
            .read_changes(&tenant.delta_links("u0", "g0")),
    )
    .await
    .unwrap_err();
    match &error {
        GraphError::Protocol {
            path,
            location,
            problem,
        } => {
            assert_eq!(path, "/v1.0/users/delta");
            assert_eq!(location, "@odata.nextLink");
            assert!(problem.contains(&foreign.uri()), "{problem}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(
        foreign.received_requests().await.unwrap().is_empty(),
        "the foreign host saw a request"
    );
}

#[tokio::test]
async fn saved_delta_link_to_another_host_is_refused() {
    let tenant = Tenant::start().await;
    tenant.quiet_delta_round("groups").await;
    let mut links = tenant.delta_links("u0", "g0");
    links.users = "https://attacker.example/v1.0/users/delta?$deltatoken=x"
        .parse()
        .unwrap();
    let error = read_all(tenant.client().read_changes(&links))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GraphError::Protocol { location, .. } if location == "the request URL"),
        "{error:?}"
    );
}

#[tokio::test]
async fn redirects_are_refused_not_followed() {
    let tenant = Tenant::start().await;
    tenant.quiet_delta_round("groups").await;
    let foreign = MockServer::start().await;
    let redirect = ResponseTemplate::new(302).insert_header(
        "Location",
        format!("{}/v1.0/users/delta", foreign.uri()).as_str(),
    );
    tenant.get("/users/delta", &[], redirect).await;
    let error = read_all(
        tenant
            .client()
            .read_changes(&tenant.delta_links("u0", "g0")),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, GraphError::Protocol { problem, .. } if problem.contains("redirect refused")),
        "{error:?}"
    );
    assert!(foreign.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_group_whose_members_answer_404_is_not_removed_and_the_read_fails() {
    let tenant = Tenant::start().await;
    tenant.latest_links().await;
    tenant.get("/users", &[], ok(json!({"value": []}))).await;
    tenant
        .get(
            "/groups",
            &[],
            ok(json!({"value": [{"id": "gone", "displayName": "Gone"}]})),
        )
        .await;
    BatchGraph::new([]).mount(&tenant).await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert!(
        matches!(&error, GraphError::GroupMembersNotFound { group, attempts: 5, .. } if group == "gone"),
        "{error:?}"
    );
}

#[tokio::test]
async fn batch_envelope_424_without_items_is_retried() {
    let tenant = Tenant::with_one_group().await;
    tenant
        .once("POST", "/$batch", ResponseTemplate::new(424))
        .await;
    BatchGraph::new([(
        members_url("g1"),
        (200, json!({"value": [member("u1", "user")]})),
    )])
    .mount(&tenant)
    .await;
    let (events, _) = read_all(tenant.client().read_full()).await.unwrap();
    let mut mirror = Mirror::default();
    mirror.apply(events);
    assert_eq!(mirror.groups[&id("g1")].members.len(), 1);
}

#[tokio::test]
async fn batch_items_missing_from_the_envelope_are_retried() {
    let tenant = Tenant::with_one_group().await;
    tenant
        .once("POST", "/$batch", ok(json!({"responses": []})))
        .await;
    BatchGraph::new([(
        members_url("g1"),
        (200, json!({"value": [member("u1", "user")]})),
    )])
    .mount(&tenant)
    .await;
    let (events, _) = read_all(tenant.client().read_full()).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, DirectoryEvent::Group(g) if g.members_added.len() == 1))
    );
}

#[tokio::test]
async fn throttling_with_a_fractional_retry_after_is_waited_out() {
    let tenant = Tenant::start().await;
    tenant
        .once(
            "GET",
            "/users/delta",
            ResponseTemplate::new(429).insert_header("Retry-After", "0.3"),
        )
        .await;
    tenant.quiet_delta_rounds().await;
    let client = tenant.client();
    let started = std::time::Instant::now();
    read_all(client.read_changes(&tenant.delta_links("u0", "g0")))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "retried before Retry-After"
    );
    assert_eq!(client.stats().throttled, 1);
    assert_eq!(client.stats().graph_requests, 3);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let tenant = Tenant::start().await;
    tenant
        .once("GET", "/users/delta", ResponseTemplate::new(502))
        .await;
    tenant
        .once("GET", "/users/delta", ResponseTemplate::new(504))
        .await;
    tenant.quiet_delta_rounds().await;
    let client = tenant.client();
    read_all(client.read_changes(&tenant.delta_links("u0", "g0")))
        .await
        .unwrap();
    assert_eq!(client.stats().retries, 2);
}

#[tokio::test]
async fn the_token_is_fetched_once_and_shared_by_concurrent_requests() {
    let tenant = listed_tenant().await;
    let client = tenant.client();
    let reads = (0..4).map(|_| read_all(client.read_full()));
    for outcome in futures_util::future::join_all(reads).await {
        outcome.unwrap();
    }
    assert_eq!(client.stats().token_requests, 1);
}

#[tokio::test]
async fn a_page_yields_its_events_before_the_next_page_is_requested() {
    let tenant = listed_tenant().await;
    let mut read = tenant.client().read_full();
    let first = read.next().await.unwrap();
    assert!(
        matches!(&first, ReadStep::Page(events) if events.len() == 2),
        "{first:?}"
    );
    let users_pages = tenant
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1.0/users")
        .count();
    assert_eq!(users_pages, 1, "the client read ahead of its caller");
}
