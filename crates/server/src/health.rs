//! Liveness, readiness and metrics, for the orchestrator and Prometheus.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// `GET /healthz`: the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers; a load balancer sends traffic only then.
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store().ping().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready",
            format!("the database does not answer: {e}"),
        )
    })?;
    Ok("ready")
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => ApiError::not_found("this server records no metrics").into_response(),
    }
}
