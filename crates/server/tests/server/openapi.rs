//! The OpenAPI document: every route of the router in it, and its text reviewed as a snapshot.

use axum::http::{Method, StatusCode};
use roster_server::routes;

use super::support::{As, TestApp};

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_route() {
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
    insta::assert_json_snapshot!("openapi", document);
}
