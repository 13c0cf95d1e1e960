//! Mail-flow lookups as JSON over HTTP, for MTAs other than Postfix and for people: the same
//! maps and answers as the socketmap, from the same view, with whole group expansions (HTTP has
//! no reply limit).
//!
//! - `GET /lookup/v1/status` → `{"ready": bool, "accounts": n}`.
//! - `GET /lookup/v1/{map}/{key}` with `map` one of `recipient`, `alias`, `expand`, `domain` →
//!   200 `{"map", "key", "found": true, "account"}` (recipient, domain) or
//!   `{"map", "key", "found": true, "addresses": [...]}` (alias, expand); 404 with
//!   `"found": false` when the key is not in the map; 404 with an `error` for an unknown map;
//!   503 with an `error` and `Retry-After` while the view is still loading.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use roster_lookup::{Answer, LookupView, MapName, ReplyLimit};
use serde_json::{Value, json};

/// The lookup routes, answering from `view`.
pub fn lookup_router(view: Arc<LookupView>) -> Router {
    Router::new()
        .route("/lookup/v1/status", get(status))
        .route("/lookup/v1/{map}/{key}", get(lookup))
        .with_state(view)
}

async fn status(State(view): State<Arc<LookupView>>) -> Json<Value> {
    Json(json!({ "ready": view.is_ready(), "accounts": view.account_count() }))
}

async fn lookup(
    State(view): State<Arc<LookupView>>,
    Path((map, key)): Path<(String, String)>,
) -> Response {
    let map: MapName = match map.parse() {
        Ok(map) => map,
        Err(unknown) => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({ "error": unknown.to_string() })),
            )
                .into_response();
        }
    };
    let found = |field: &str, value: Value| {
        let mut body = json!({ "map": map.as_str(), "key": key, "found": true });
        body[field] = value;
        (StatusCode::OK, Json(body)).into_response()
    };
    match view.lookup(map, &key, ReplyLimit::Unlimited) {
        Answer::Account(account) => found("account", json!(account)),
        Answer::Addresses(addresses) => found("addresses", json!(addresses)),
        Answer::NotFound => (
            StatusCode::NOT_FOUND,
            Json(json!({ "map": map.as_str(), "key": key, "found": false })),
        )
            .into_response(),
        Answer::NotReady => unavailable("the directory is still loading; try again shortly"),
        Answer::Changed => unavailable("the group changed while it was being expanded; try again"),
        Answer::TooLarge { members } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": format!("the group's {members} members could not be listed") })),
        )
            .into_response(),
    }
}

fn unavailable(reason: &str) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": reason })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
