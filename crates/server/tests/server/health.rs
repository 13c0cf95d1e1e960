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

#[tokio::test]
async fn a_finished_run_is_counted_by_trigger_and_status_and_timed() {
    let app = TestApp::start().await;
    let started = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path("/sync/preview"),
            None,
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let run_id = started.field("run_id").as_str().unwrap().to_owned();
    let finished = app.finished_run(&app.callers.admin, &run_id).await;
    assert_eq!(finished.field("status"), "succeeded", "{}", finished.body);

    let metrics = app.call(&As::Nobody, Method::GET, "/metrics", None).await;
    let text = metrics.body.as_str().expect("Prometheus text");
    let preview_line = |name: &str| {
        text.lines().any(|l| {
            l.starts_with(name)
                && l.contains("trigger=\"preview\"")
                && l.contains("status=\"succeeded\"")
        })
    };
    assert!(preview_line("roster_runs_total{"), "{text}");
    assert!(
        preview_line("roster_run_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(preview_line("roster_run_duration_seconds_count{"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("roster_graph_requests_total{")),
        "the run's Graph requests are counted too: {text}"
    );
}
