//! `GET /lookup/v1/{map}/{key}`: the lookup maps as JSON, from the same view as the socketmap.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use roster_domain::Role;
use roster_lookup::{LookupView, RecipientDelimiter, refresh};
use roster_server::lookup_router;
use roster_store::{MasterKey, NewAccount, NewUser, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn get(view: &Arc<LookupView>, path: &str) -> (StatusCode, Value) {
    let response = lookup_router(view.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

/// A view of the account `contoso` holding ann (alias ann.b) and bob.
async fn contoso() -> (Arc<LookupView>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("roster.db").display());
    let store = Store::connect(&url, MasterKey::generate()).await.unwrap();
    store.migrate().await.unwrap();
    let account = store
        .create_account(NewAccount {
            name: "contoso".into(),
            domains: vec!["contoso.com".parse().unwrap()],
            tech_contact: None,
        })
        .await
        .unwrap();
    for (primary, aliases) in [
        ("ann@contoso.com", vec!["ann.b@contoso.com"]),
        ("bob@contoso.com", vec![]),
    ] {
        let user = NewUser {
            primary_address: primary.parse().unwrap(),
            aliases: aliases.iter().map(|a| a.parse().unwrap()).collect(),
            first_name: None,
            last_name: None,
            display_name: None,
            role: Role::EndUser,
            digests: None,
        };
        store.add_user(account.id, user).await.unwrap();
    }
    let view = Arc::new(LookupView::new(RecipientDelimiter::default()));
    refresh::load_all(&store, &view).await.unwrap();
    (view, account.id.to_string(), dir)
}

#[tokio::test]
async fn each_map_answers_found_keys_with_200_and_the_account_or_the_addresses() {
    let (view, account, _dir) = contoso().await;
    assert_eq!(
        get(&view, "/lookup/v1/recipient/Ann.B@contoso.com").await,
        (
            StatusCode::OK,
            json!({"map": "recipient", "key": "Ann.B@contoso.com", "found": true, "account": account})
        )
    );
    assert_eq!(
        get(&view, "/lookup/v1/alias/ann.b@contoso.com").await.1["addresses"],
        json!(["ann@contoso.com"])
    );
    assert_eq!(
        get(&view, "/lookup/v1/expand/bob@contoso.com").await.1["addresses"],
        json!(["bob@contoso.com"])
    );
    assert_eq!(
        get(&view, "/lookup/v1/domain/contoso.com").await.1["account"],
        json!(account)
    );
    assert_eq!(
        get(&view, "/lookup/v1/status").await,
        (StatusCode::OK, json!({"ready": true, "accounts": 1}))
    );
}

#[tokio::test]
async fn a_key_not_in_the_map_is_a_404_saying_not_found_and_an_unknown_map_names_the_maps() {
    let (view, _, _dir) = contoso().await;
    assert_eq!(
        get(&view, "/lookup/v1/recipient/nobody@contoso.com").await,
        (
            StatusCode::NOT_FOUND,
            json!({"map": "recipient", "key": "nobody@contoso.com", "found": false})
        )
    );
    assert_eq!(
        get(&view, "/lookup/v1/alias/ann@contoso.com").await.0,
        StatusCode::NOT_FOUND,
        "a primary address has no alias"
    );
    let (status, body) = get(&view, "/lookup/v1/mailbox/ann@contoso.com").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("recipient, alias, expand and domain"),
        "{body}"
    );
}

#[tokio::test]
async fn before_the_first_view_is_loaded_lookups_are_503_with_retry_after() {
    let view = Arc::new(LookupView::new(RecipientDelimiter::default()));
    let response = lookup_router(view.clone())
        .oneshot(
            Request::get("/lookup/v1/recipient/ann@contoso.com")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        get(&view, "/lookup/v1/status").await.1,
        json!({"ready": false, "accounts": 0})
    );
}
