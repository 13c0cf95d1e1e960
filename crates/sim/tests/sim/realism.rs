//! Latency, injected faults, throttling by resource units, and request counting.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use roster_sim::SimConfig;

use crate::support::{Harness, config};

#[tokio::test]
async fn latency_is_added_to_every_graph_request() {
    let harness = Harness::small().await;
    harness
        .control()
        .set_latency(Duration::from_millis(150))
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(harness.get("/domains").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

/// The outcome of a request as a client sees it: a status, or a broken connection.
async fn outcome(harness: &Harness) -> String {
    let response = match harness
        .http
        .get(harness.url("/users?$top=2"))
        .bearer_auth(&harness.token)
        .send()
        .await
    {
        Ok(response) => response,
        Err(_) => return "dropped".to_owned(),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    match response.bytes().await {
        Ok(_) => format!("{} {}", status.as_u16(), retry_after.unwrap_or_default()),
        Err(_) => "dropped".to_owned(),
    }
}

#[tokio::test]
async fn faults_follow_the_seed_and_mix_429_503_and_dropped_connections() {
    let faulty = || SimConfig {
        fault_rate: 0.5,
        ..config(40, 4, 99)
    };
    let first = Harness::start(faulty()).await;
    let second = Harness::start(faulty()).await;
    let mut outcomes = Vec::new();
    for _ in 0..60 {
        let (a, b) = (outcome(&first).await, outcome(&second).await);
        assert_eq!(a, b, "the same seed injects the same faults");
        outcomes.push(a);
    }
    assert!(outcomes.iter().any(|o| o.starts_with("200")));
    assert!(outcomes.iter().any(|o| o.starts_with("503")));
    assert!(outcomes.iter().any(|o| o == "dropped"));
    let throttled = outcomes
        .iter()
        .find(|o| o.starts_with("429"))
        .expect("a 429");
    let retry_after: f64 = throttled.trim_start_matches("429 ").parse().unwrap();
    assert!(
        retry_after > 0.0 && retry_after < 1.0,
        "a fractional Retry-After"
    );
}

#[tokio::test]
async fn every_response_names_its_resource_unit_cost() {
    let harness = Harness::small().await;
    let group = harness.get("/groups?$top=1&$select=id").await.values()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (path, cost) in [
        ("/users".to_owned(), "2"),
        ("/users?$select=id".to_owned(), "1"),
        ("/users?$top=5".to_owned(), "1"),
        (format!("/groups/{group}/members"), "3"),
        (format!("/groups/{group}/transitiveMembers"), "5"),
        (
            format!("/groups/{group}/transitiveMembers?$select=id&$top=10"),
            "3",
        ),
        ("/groups".to_owned(), "1"),
    ] {
        assert_eq!(
            harness.get(&path).await.header("x-ms-resource-unit"),
            Some(cost),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_resource_unit_budget_throttles_an_app_that_spends_too_fast() {
    let harness = Harness::start(SimConfig {
        throttle: true,
        ..config(30, 3, 5)
    })
    .await;
    let group = harness.get("/groups?$top=1&$select=id").await.values()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/groups/{group}/transitiveMembers");
    // Batches of 20 spend 100 units per round trip, far faster than the 350 units a second the
    // budget refills, however slow the machine.
    let items: Vec<serde_json::Value> = (0..20)
        .map(|n| serde_json::json!({"id": n.to_string(), "method": "GET", "url": path}))
        .collect();
    let mut warned = false;
    let mut throttled_item = false;
    for _ in 0..200 {
        let reply = harness
            .post_batch(&serde_json::json!({"requests": items}))
            .await;
        for item in reply.body["responses"].as_array().unwrap() {
            warned |= item["headers"]["x-ms-throttle-limit-percentage"].is_string();
            throttled_item |= item["status"] == 429;
        }
        if throttled_item {
            break;
        }
    }
    assert!(
        throttled_item,
        "a small tenant's 3,500 units per 10 s run out"
    );
    assert!(
        warned,
        "x-ms-throttle-limit-percentage appears once more than 80% of the budget is used"
    );
    let throttled = harness.get(&path).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "usage keeps being counted"
    );
    assert_eq!(throttled.error_code(), "TooManyRequests");
    assert!(
        throttled
            .header("retry-after")
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    let scope = throttled.header("x-ms-throttle-scope").unwrap();
    assert!(
        scope.starts_with("Tenant_Application/") && scope.ends_with(&harness.tenant().tenant_id)
    );
    assert!(scope.contains(&harness.tenant().client_id));
    assert_eq!(
        throttled.header("x-ms-throttle-information"),
        Some("ResourceUnitLimitExceeded")
    );

    harness.control().set_throttle(false).await.unwrap();
    assert_eq!(harness.get(&path).await.status, StatusCode::OK);
}

#[tokio::test]
async fn requests_are_counted_per_endpoint_until_reset() {
    let harness = Harness::small().await;
    let control = harness.control();
    control.reset_request_counts().await.unwrap();
    harness.all("/users?$top=50").await;
    harness.get("/groups/delta").await;
    let counts = control.request_counts().await.unwrap();
    assert_eq!(counts.get("GET /v1.0/users"), 3, "120 users in pages of 50");
    assert_eq!(counts.get("GET /v1.0/groups/delta"), 1);
    assert_eq!(counts.total, 4);
    control.reset_request_counts().await.unwrap();
    assert_eq!(control.request_counts().await.unwrap().total, 0);
}
