//! The OpenAPI document: every route of the router in it, and its text reviewed as a snapshot.

use axum::http::{Method, StatusCode};
use roster_server::routes;
use serde_json::Value as Json;

use super::support::{As, TestApp};

#[tokio::test]
async fn the_document_is_openapi_3_1_lists_every_route_and_defines_every_schema_it_uses() {
    let app = TestApp::start().await;
    let reply = app
        .call(&As::Nobody, Method::GET, "/api/openapi.json", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let document = reply.body;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{document}"
    );
    for route in routes::list() {
        let method = route.method.as_str().to_lowercase();
        assert!(
            document["paths"][route.path][&method].is_object(),
            "{} {} is not in the document",
            route.method,
            route.path
        );
    }
    let mut refs = Vec::new();
    references(&document, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{reference} points outside the schemas"));
        assert!(
            document["components"]["schemas"][name].is_object(),
            "{reference} is used but not among the components"
        );
    }
    insta::assert_json_snapshot!("openapi", document);
}

/// Every `$ref` in `value`.
fn references(value: &Json, found: &mut Vec<String>) {
    match value {
        Json::Object(fields) => {
            for (key, value) in fields {
                match (key.as_str(), value) {
                    ("$ref", Json::String(target)) => found.push(target.clone()),
                    _ => references(value, found),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}
