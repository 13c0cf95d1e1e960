//! Hostile responses: each fails cleanly with a protocol error that says where.

use std::time::{Duration, Instant};

use roster_graph::{ClientOptions, GraphError, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{BatchGraph, Tenant, members_url, ok, options, read_all};

/// The protocol error a delta round ends with when the first users page is `response`.
async fn users_delta_fails_with(response: ResponseTemplate) -> (String, String, String) {
    let tenant = Tenant::start().await;
    tenant.quiet_delta_round("groups").await;
    tenant.get("/users/delta", &[], response).await;
    let error = read_all(
        tenant
            .client()
            .read_changes(&tenant.delta_links("u0", "g0")),
    )
    .await
    .unwrap_err();
    crate::support::assert_no_secret(&error);
    match error {
        GraphError::Protocol {
            path,
            location,
            problem,
        } => (path, location, problem),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn truncated_json_names_the_line_and_column() {
    let (path, location, problem) = users_delta_fails_with(
        ResponseTemplate::new(200).set_body_string(r#"{"value": [{"id": "u1", "mail": "a@"#),
    )
    .await;
    assert_eq!(path, "/v1.0/users/delta");
    assert_eq!(location, "line 1 column 35");
    assert!(problem.contains("not valid JSON"), "{problem}");
}

#[tokio::test]
async fn a_property_of_the_wrong_type_is_named_by_its_json_location() {
    let body = json!({"value": [{"id": "u1"}, {"id": "u2", "proxyAddresses": ["SMTP:a@contoso.com", 7]}], "@odata.deltaLink": "x"});
    let (_, location, problem) = users_delta_fails_with(ok(body)).await;
    assert_eq!(location, "value[1].proxyAddresses[1]");
    assert_eq!(problem, "expected a string, found a number");
}

#[tokio::test]
async fn a_flag_given_as_a_string_is_refused() {
    let (_, location, _) = users_delta_fails_with(ok(
        json!({"value": [{"id": "u1", "accountEnabled": "yes"}]}),
    ))
    .await;
    assert_eq!(location, "value[0].accountEnabled");
}

#[tokio::test]
async fn a_value_that_is_not_an_array_is_refused() {
    let (_, location, problem) = users_delta_fails_with(ok(json!({"value": {"id": "u1"}}))).await;
    assert_eq!(location, "value");
    assert_eq!(problem, "expected an array, found an object");
}

#[tokio::test]
async fn a_ten_megabyte_string_is_refused_where_it_stands() {
    let huge = "x".repeat(10 * 1024 * 1024);
    let (_, location, problem) =
        users_delta_fails_with(ok(json!({"value": [{"id": "u1", "displayName": huge}]}))).await;
    assert_eq!(location, "value[0].displayName");
    assert!(problem.contains("longer than 4096 characters"), "{problem}");
}

#[tokio::test]
async fn an_id_that_is_not_an_object_id_is_refused() {
    let (_, location, _) =
        users_delta_fails_with(ok(json!({"value": [{"id": "has space"}]}))).await;
    assert_eq!(location, "value[0].id");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let body = format!(
        "{{\"value\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (_, _, problem) =
        users_delta_fails_with(ResponseTemplate::new(200).set_body_string(body)).await;
    assert!(problem.contains("not valid JSON"), "{problem}");
}

#[tokio::test]
async fn a_delta_page_with_neither_next_link_nor_delta_link_is_refused() {
    let (_, location, problem) = users_delta_fails_with(ok(json!({"value": []}))).await;
    assert_eq!(location, "the document root");
    assert!(problem.contains("neither @odata.nextLink nor @odata.deltaLink"));
}

#[tokio::test]
async fn a_page_with_both_links_is_refused() {
    let (_, _, problem) = users_delta_fails_with(ok(
        json!({"value": [], "@odata.nextLink": "a", "@odata.deltaLink": "b"}),
    ))
    .await;
    assert!(problem.contains("both"), "{problem}");
}

#[tokio::test]
async fn a_next_link_that_repeats_is_detected() {
    let tenant = Tenant::start().await;
    tenant.quiet_delta_round("groups").await;
    let looping = tenant.link("/users/delta?$skiptoken=again");
    tenant
        .get(
            "/users/delta",
            &[],
            ok(json!({"value": [], "@odata.nextLink": looping})),
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
        matches!(&error, GraphError::Protocol { problem, .. } if problem.contains("repeats")),
        "{error:?}"
    );
}

#[tokio::test]
async fn endless_fresh_next_links_stop_at_the_page_bound() {
    let tenant = Tenant::start().await;
    tenant.quiet_delta_round("groups").await;
    let base = tenant.link("/users/delta");
    Mock::given(method("GET"))
        .and(path("/v1.0/users/delta"))
        .respond_with(move |request: &wiremock::Request| {
            let page: u64 = request
                .url
                .query_pairs()
                .find(|(key, _)| key == "$skiptoken")
                .and_then(|(_, value)| value.parse().ok())
                .unwrap_or(0);
            ok(json!({"value": [], "@odata.nextLink": format!("{base}?$skiptoken={}", page + 1)}))
        })
        .mount(&tenant.server)
        .await;
    let client = tenant.client_with(ClientOptions {
        max_pages_per_round: 25,
        ..options()
    });
    let error = read_all(client.read_changes(&tenant.delta_links("u0", "g0")))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GraphError::Protocol { problem, .. } if problem.contains("more than 25 pages")),
        "{error:?}"
    );
    assert_eq!(
        client.stats().graph_requests,
        25 + 1,
        "25 users pages and the groups round"
    );
}

#[tokio::test]
async fn a_huge_retry_after_is_capped() {
    let tenant = Tenant::start().await;
    tenant
        .once(
            "GET",
            "/users/delta",
            ResponseTemplate::new(429).insert_header("Retry-After", "86400000"),
        )
        .await;
    tenant.quiet_delta_rounds().await;
    let retry = RetryPolicy {
        max_retry_after: Duration::from_millis(200),
        ..options().retry
    };
    let client = tenant.client_with(ClientOptions { retry, ..options() });
    let started = Instant::now();
    read_all(client.read_changes(&tenant.delta_links("u0", "g0")))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(5),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn a_token_response_without_an_access_token_is_refused() {
    let tenant = Tenant::without_token().await;
    tenant
        .token_response(ok(json!({"token_type": "Bearer", "expires_in": 3599})))
        .await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    match &error {
        GraphError::Protocol {
            path,
            location,
            problem,
        } => {
            assert_eq!(path, "/contoso.com/oauth2/v2.0/token");
            assert_eq!(location, "access_token");
            assert!(problem.contains("no access_token"));
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_response_with_an_absurd_lifetime_is_refused() {
    let tenant = Tenant::without_token().await;
    tenant
        .token_response(ok(
            json!({"token_type": "Bearer", "expires_in": 1e300, "access_token": "abc"}),
        ))
        .await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert!(
        matches!(&error, GraphError::Protocol { location, .. } if location == "expires_in"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_token_error_without_an_oauth_body_is_a_protocol_error() {
    let tenant = Tenant::without_token().await;
    tenant
        .token_response(ResponseTemplate::new(400).set_body_string("<html>Bad Request</html>"))
        .await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert!(
        matches!(&error, GraphError::Protocol { problem, .. } if problem.contains("HTTP 400")),
        "{error:?}"
    );
}

/// A full read whose only group's members come back as `body` inside the batch envelope.
async fn member_page_fails_with(body: serde_json::Value) -> GraphError {
    let tenant = Tenant::with_one_group().await;
    BatchGraph::new([(members_url("g1"), (200, body))])
        .mount(&tenant)
        .await;
    read_all(tenant.client().read_full()).await.unwrap_err()
}

#[tokio::test]
async fn a_bad_member_inside_a_batch_is_located_inside_the_envelope() {
    let error = member_page_fails_with(
        json!({"value": [{"@odata.type": "#microsoft.graph.user", "id": 42}]}),
    )
    .await;
    match &error {
        GraphError::Protocol { path, location, .. } => {
            assert_eq!(path, "/v1.0/$batch");
            assert_eq!(location, "responses[0].body.value[0].id");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_member_next_link_to_another_host_is_refused() {
    let body = json!({"value": [], "@odata.nextLink": "https://attacker.example/v1.0/groups/g1/members?$skiptoken=x"});
    let error = member_page_fails_with(body).await;
    assert!(
        matches!(&error, GraphError::Protocol { location, .. } if location == "responses[0].body.@odata.nextLink"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_batch_envelope_without_responses_is_refused() {
    let tenant = Tenant::with_one_group().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(ok(json!({"value": []})))
        .mount(&tenant.server)
        .await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert!(
        matches!(&error, GraphError::Protocol { location, .. } if location == "responses"),
        "{error:?}"
    );
}
