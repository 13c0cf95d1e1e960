//! `POST /$batch`: limits, per-item answers, dependencies and throttled items.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Harness, Reply};

fn responses(reply: &Reply) -> BTreeMap<String, Value> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["responses"]
        .as_array()
        .expect("a responses array")
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

#[tokio::test]
async fn each_item_is_answered_with_its_own_status_headers_and_body() {
    let harness = Harness::small().await;
    let missing = "8ffff70c-1c63-4860-b963-e34ec660931d";
    let reply = harness
        .post_batch(&json!({"requests": [
            {"id": "1", "method": "GET", "url": "/users?$select=id,mail&$top=5"},
            {"id": "2", "method": "GET", "url": format!("/users/{missing}")},
            {"id": "3", "method": "GET", "url": "/users?$search=\"displayName:a\"", "headers": {"ConsistencyLevel": "eventual"}},
            {"id": "4", "method": "DELETE", "url": "/groups"},
            {"id": "5", "method": "GET", "url": "groups/delta"},
        ]}))
        .await;
    let items = responses(&reply);
    assert_eq!(items["1"]["status"], 200);
    assert_eq!(items["1"]["body"]["value"].as_array().unwrap().len(), 5);
    assert!(
        items["1"]["body"]["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken="),
        "items page on their own"
    );
    assert_eq!(
        items["1"]["headers"]["x-ms-resource-unit"], "1",
        "users (2), $select (-1), $top < 20 (-1), at least 1"
    );
    assert_eq!(items["2"]["status"], 404);
    assert_eq!(
        items["2"]["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(
        items["3"]["status"], 200,
        "headers of an item apply to that item"
    );
    assert_eq!(items["4"]["status"], 405);
    assert_eq!(
        items["4"]["body"]["error"]["message"],
        "Specified HTTP method is not allowed for the request target."
    );
    assert_eq!(items["5"]["status"], 200);
}

#[tokio::test]
async fn responses_come_back_in_a_deterministic_order_that_is_not_the_request_order() {
    let harness = Harness::small().await;
    let requests: Vec<Value> = (1..=20)
        .map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/domains"}))
        .collect();
    let order = |reply: &Reply| -> Vec<String> {
        reply.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = order(&harness.post_batch(&json!({"requests": requests})).await);
    let second = order(&harness.post_batch(&json!({"requests": requests})).await);
    assert_eq!(first, second);
    assert_ne!(first, (1..=20).map(|n| n.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_batch_holds_at_most_20_requests_with_unique_ids() {
    let harness = Harness::small().await;
    let requests: Vec<Value> = (1..=21)
        .map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let too_many = harness.post_batch(&json!({"requests": requests})).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert!(too_many.body["error"]["innerError"]["request-id"].is_string());
    let duplicate = harness
        .post_batch(&json!({"requests": [
            {"id": "a", "method": "GET", "url": "/users"},
            {"id": "A", "method": "GET", "url": "/groups"},
        ]}))
        .await;
    assert_eq!(
        duplicate.status,
        StatusCode::BAD_REQUEST,
        "ids compare without case"
    );
    let absolute = harness
        .post_batch(&json!({"requests": [{"id": "1", "method": "GET", "url": format!("{}/v1.0/users", harness.tenant().graph_url)}]}))
        .await;
    assert_eq!(
        responses(&absolute)["1"]["status"],
        400,
        "urls are relative"
    );
}

#[tokio::test]
async fn a_request_whose_dependency_failed_is_answered_424() {
    let harness = Harness::small().await;
    let reply = harness
        .post_batch(&json!({"requests": [
            {"id": "1", "method": "GET", "url": "/groups/8ffff70c-1c63-4860-b963-e34ec660931d"},
            {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": "/domains"},
            {"id": "4", "method": "GET", "url": "/users?$top=1", "dependsOn": ["3"]},
        ]}))
        .await;
    let items = responses(&reply);
    assert_eq!(items["1"]["status"], 404);
    assert_eq!(items["2"]["status"], 424);
    assert_eq!(items["4"]["status"], 200);
}

#[tokio::test]
async fn permissions_apply_to_each_item() {
    let mut harness = Harness::small().await;
    harness
        .control()
        .set_roles(&["User.Read.All"])
        .await
        .unwrap();
    harness.token = harness.fresh_token().await;
    let reply = harness
        .post_batch(&json!({"requests": [
            {"id": "users", "method": "GET", "url": "/users"},
            {"id": "groups", "method": "GET", "url": "/groups"},
        ]}))
        .await;
    let items = responses(&reply);
    assert_eq!(items["users"]["status"], 200);
    assert_eq!(items["groups"]["status"], 403);
    assert_eq!(
        items["groups"]["body"]["error"]["code"],
        "Authorization_RequestDenied"
    );
}

#[tokio::test]
async fn throttled_items_are_429_with_their_own_retry_after() {
    let harness = Harness::small().await;
    harness.control().set_fault_rate(1.0).await.unwrap();
    let requests: Vec<Value> = (1..=20)
        .map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let reply = harness.post_batch(&json!({"requests": requests})).await;
    let items = responses(&reply);
    let throttled: Vec<&Value> = items.values().filter(|i| i["status"] == 429).collect();
    assert!(!throttled.is_empty());
    for item in throttled {
        let retry_after: f64 = item["headers"]["Retry-After"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            retry_after > 0.0 && retry_after < 1.0,
            "a fractional Retry-After: {retry_after}"
        );
        assert_eq!(item["body"]["error"]["code"], "TooManyRequests");
    }
    assert!(
        items
            .values()
            .all(|i| i["status"] == 429 || i["status"] == 503)
    );
}
