//! Liveness, readiness and metrics.

use axum::http::{Method, StatusCode};

use super::support::{As, TestApp};

#[tokio::test]
async fn healthz_and_readyz_answer_while_the_database_does() {
    let app = TestApp::start().await;
    let health = app.call(&As::Nobody, Method::GET, "/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.call(&As::Nobody, Method::GET, "/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_failed_sign_ins() {
    let app = TestApp::start().await;
    let path = app.path("/users");
    app.call(&app.callers.admin, Method::GET, &path, None).await;
    app.call(
        &As::Nobody,
        Method::POST,
        "/api/v1/session",
        Some(serde_json::json!({"email": "admin@contoso.com", "password": "not the password"})),
    )
    .await;
    let metrics = app.call(&As::Nobody, Method::GET, "/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().expect("Prometheus text");
    assert!(
        text.lines()
            .any(|l| l.starts_with("roster_http_requests_total")
                && l.contains("route=\"/api/v1/accounts/{account}/users\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(
        text.contains("roster_login_failures_total{reason=\"wrong_credentials\"}"),
        "{text}"
    );
}
