//! Graph's error shape, authentication failures, and hostile input.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Harness, Reply, config};

fn assert_graph_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error_code(), code);
    assert!(reply.body["error"]["message"].is_string());
    let inner = &reply.body["error"]["innerError"];
    assert!(
        inner["date"].is_string()
            && inner["request-id"].is_string()
            && inner["client-request-id"].is_string()
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("request-id"), inner["request-id"].as_str());
}

#[tokio::test]
async fn errors_carry_microsofts_body_and_echo_the_client_request_id() {
    let harness = Harness::small().await;
    let reply = harness
        .get_with("/groups/nope", &[("client-request-id", "my-correlation-7")])
        .await;
    assert_graph_error(&reply, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    assert_eq!(
        reply.body["error"]["innerError"]["client-request-id"],
        "my-correlation-7"
    );
    assert_eq!(reply.header("client-request-id"), Some("my-correlation-7"));
    let ok = harness
        .get_with("/users?$top=1", &[("client-request-id", "abc")])
        .await;
    assert_eq!(ok.header("client-request-id"), Some("abc"));
    assert!(ok.header("request-id").is_some());
}

#[tokio::test]
async fn graph_refuses_missing_malformed_expired_forged_and_foreign_tokens_with_401() {
    let mut harness = Harness::small().await;
    let valid = harness.token.clone();
    let mut forged = valid.clone();
    forged.pop();
    forged.push(if valid.ends_with('A') { 'B' } else { 'A' });
    let other = Harness::start(config(10, 2, 11)).await;
    for token in [
        "",
        "not-a-jwt",
        "a.b.c",
        forged.as_str(),
        other.token.as_str(),
    ] {
        harness.token = token.to_owned();
        let reply = harness.get("/users").await;
        assert_graph_error(
            &reply,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
        );
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer"))
        );
    }
    harness.token = other.token.clone();
    let foreign = harness.get("/users").await;
    assert_eq!(
        foreign.body["error"]["message"],
        "Access token validation failure. Invalid audience."
    );

    harness.token = valid;
    harness
        .control()
        .set_access_token_lifetime(std::time::Duration::ZERO)
        .await
        .unwrap();
    harness.token = harness.fresh_token().await;
    let expired = harness.get("/users").await;
    assert_graph_error(
        &expired,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    );
    assert_eq!(
        expired.body["error"]["message"],
        "Access token has expired or is not yet valid."
    );
}

#[tokio::test]
async fn hostile_requests_get_graph_errors_and_never_break_the_simulator() {
    let harness = Harness::start(config(60, 5, 13)).await;
    for n in 0..6 {
        harness
            .control()
            .create_user(json!({"displayName": format!("Change {n}")}))
            .await
            .unwrap();
    }
    let endless_or = vec!["id eq 'x'"; 1_500].join(" or ");
    let hostile = [
        &format!("/users?$filter={endless_or}"),
        "/users?$filter=((((((accountEnabled",
        "/users?$filter=accountEnabled eq",
        "/users?$filter='unterminated",
        &format!("/users?$filter={}", "(".repeat(5_000)),
        "/users?$filter=proxyAddresses/any(p:p eq 1)",
        "/users?$filter=displayName gt 'a'",
        "/users?$top=99999999999999999999999",
        "/users?$skiptoken=%FF%FE",
        "/users?$skiptoken=eyJ0IjoxMDAsInAiOjB9",
        "/users/delta?$deltatoken=garbage",
        "/users/delta?$skiptoken=eyJ0IjowfQ",
        // A forged token whose change window runs backwards.
        "/users/delta?$skiptoken=eyJ0IjowLCJrIjoidXNlciIsImciOjAsImkiOjk5OTk5OTk5OTk5LCJwIjp7IkNoYW5nZXMiOnsiZnJvbSI6NSwidG8iOjEsImVudHJ5IjowLCJtZW1iZXIiOjB9fX0",
        "/users?$select=id&$select=mail",
        "/users?$bogus=1",
        "/users/%00%ZZ",
        "/groups/x/members/y/z",
        "/v2.0/users",
        "/v1.0",
        "/users?$expand=manager",
    ];
    for path in hostile {
        let reply = harness.get(path).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
        assert!(
            reply.body["error"]["code"].is_string(),
            "{path}: {}",
            reply.body
        );
    }
    for body in [
        "not json",
        "{\"requests\": 5}",
        "{\"requests\": [{\"id\": 1}]}",
    ] {
        let response = harness
            .http
            .post(harness.url("/$batch"))
            .bearer_auth(&harness.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    for item in [
        json!({"id": "1", "method": "POST", "url": "/$batch"}),
        json!({"id": "1", "method": "GET", "url": "/users", "headers": {"x": 1}}),
        json!({"id": "1", "method": "G E T", "url": "/users"}),
        json!({"id": "1", "method": "GET"}),
    ] {
        let reply = harness.post_batch(&json!({"requests": [item]})).await;
        assert_eq!(reply.status, StatusCode::OK, "a bad item fails alone");
        assert!(
            reply.body["responses"][0]["status"]
                .as_u64()
                .is_some_and(|s| (400..500).contains(&s)),
            "{item}"
        );
    }
    assert_eq!(
        harness.get("/users?$top=1").await.status,
        StatusCode::OK,
        "still serving"
    );
}

#[tokio::test]
async fn methods_other_than_get_are_405() {
    let harness = Harness::small().await;
    let response = harness
        .http
        .post(harness.url("/users"))
        .bearer_auth(&harness.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}
