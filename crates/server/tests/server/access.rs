//! Signing in, sessions, CSRF, rate limits and API tokens (product.md §8).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use roster_domain::Role;
use roster_server::Config;
use roster_store::NewUser;
use serde_json::json;

use super::support::{As, PASSWORD, TestApp};

fn sign_in_body(email: &str, password: &str) -> Option<serde_json::Value> {
    Some(json!({"email": email, "password": password}))
}

#[tokio::test]
async fn a_session_cookie_is_http_only_same_site_lax_and_not_secure_over_http() {
    let app = TestApp::start().await;
    let reply = app
        .call(
            &As::Nobody,
            Method::POST,
            "/api/v1/session",
            sign_in_body("admin@contoso.com", PASSWORD),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("roster_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(reply.field("role"), "organization_admin");
}

#[tokio::test]
async fn an_https_deployment_marks_the_cookie_secure() {
    let config = Config {
        public_url: "https://roster.example.com/".parse().unwrap(),
        ..Config::default()
    };
    let app = TestApp::with_config(config).await;
    let reply = app
        .call(
            &As::Nobody,
            Method::POST,
            "/api/v1/session",
            sign_in_body("admin@contoso.com", PASSWORD),
        )
        .await;
    assert!(
        reply.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn wrong_passwords_unknown_addresses_and_silent_users_are_refused_alike() {
    let app = TestApp::start().await;
    app.store
        .add_user(
            app.account.id,
            NewUser {
                primary_address: "printer@contoso.com".parse().unwrap(),
                aliases: Vec::new(),
                first_name: None,
                last_name: None,
                display_name: None,
                role: Role::SilentUser,
                digests: None,
            },
        )
        .await
        .unwrap();
    let mut details = Vec::new();
    for (email, password) in [
        ("admin@contoso.com", "not the password at all"),
        ("nobody@contoso.com", PASSWORD),
        ("printer@contoso.com", PASSWORD),
    ] {
        let reply = app
            .call(
                &As::Nobody,
                Method::POST,
                "/api/v1/session",
                sign_in_body(email, password),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{email}: {}",
            reply.body
        );
        assert_eq!(
            reply.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(reply.headers.get(header::SET_COOKIE).is_none());
        details.push(reply.field("detail").clone());
    }
    assert!(details.windows(2).all(|w| w[0] == w[1]), "{details:?}");
}

#[tokio::test]
async fn a_cookie_request_that_changes_state_needs_the_csrf_token() {
    let app = TestApp::start().await;
    let As::Session { cookie, csrf } = &app.callers.admin else {
        unreachable!()
    };
    let request = |token: Option<&str>| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(app.path("/tokens"))
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request
            .body(Body::from(json!({"name": "ci"}).to_string()))
            .unwrap()
    };
    let missing = app.send(request(None)).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.body);
    let wrong = app.send(request(Some("not-the-token"))).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let right = app.send(request(Some(csrf))).await;
    assert_eq!(right.status, StatusCode::CREATED, "{}", right.body);
    // Reads need no token.
    let read = app
        .send(
            Request::builder()
                .uri(app.path("/tokens"))
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
}

#[tokio::test]
async fn signing_out_ends_the_session_at_once() {
    let app = TestApp::start().await;
    let session = app.sign_in("admin@contoso.com", PASSWORD).await;
    let me = app
        .call(&session, Method::GET, "/api/v1/session", None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    let out = app
        .call(&session, Method::DELETE, "/api/v1/session", None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = app
        .call(&session, Method::GET, "/api/v1/session", None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_ins_are_limited_per_address_and_per_client() {
    let config = Config {
        login_attempts_per_address_per_minute: 2,
        login_attempts_per_client_per_minute: 3,
        ..Config::default()
    };
    let app = TestApp::with_config(config).await;
    // The TestApp signed in three times from the same (unknown) client already: the client's
    // quota is spent, whichever address is tried next.
    let reply = app
        .call(
            &As::Nobody,
            Method::POST,
            "/api/v1/session",
            sign_in_body("someone@contoso.com", PASSWORD),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );

    let app = TestApp::with_config(Config {
        login_attempts_per_address_per_minute: 2,
        login_attempts_per_client_per_minute: 1000,
        ..Config::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let reply = app
            .call(
                &As::Nobody,
                Method::POST,
                "/api/v1/session",
                sign_in_body("admin@contoso.com", "a wrong password"),
            )
            .await;
        statuses.push(reply.status);
    }
    assert_eq!(
        statuses,
        [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]
    );
    // Even the right password waits out the limit.
    let right = app
        .call(
            &As::Nobody,
            Method::POST,
            "/api/v1/session",
            sign_in_body("admin@contoso.com", PASSWORD),
        )
        .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is not held up by it.
    let other = app
        .call(
            &As::Nobody,
            Method::POST,
            "/api/v1/session",
            sign_in_body("ops@roster.example", PASSWORD),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_token_is_shown_once_listed_without_its_secret_and_revoked_at_once() {
    let app = TestApp::start().await;
    let created = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path("/tokens"),
            Some(json!({"name": "export", "read_only": true})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.field("secret").as_str().unwrap().to_owned();
    assert!(secret.starts_with("roster_"));
    let token = As::Bearer(secret.clone());
    let used = app
        .call(&token, Method::GET, &app.path("/users"), None)
        .await;
    assert_eq!(used.status, StatusCode::OK);

    let listed = app
        .call(&app.callers.admin, Method::GET, &app.path("/tokens"), None)
        .await;
    assert!(
        !listed.body.to_string().contains(&secret),
        "the list never shows a secret"
    );
    let export = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "export")
        .unwrap();
    assert!(export["last_used_at"].is_string(), "{export}");
    assert_eq!(export["read_only"], true);

    let id = created.field("id").as_str().unwrap();
    let revoked = app
        .call(
            &app.callers.admin,
            Method::DELETE,
            &app.path(&format!("/tokens/{id}")),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    let after = app
        .call(&token, Method::GET, &app.path("/users"), None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_invitation_sets_a_password_once() {
    let app = TestApp::start().await;
    let path = app.path(&format!("/users/{}/invite", app.callers.end_user_id));
    let invited = app
        .call(&app.callers.admin, Method::POST, &path, None)
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert!(
        invited
            .field("url")
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:8080/invitations/accept?token=")
    );
    let token = invited.field("token").as_str().unwrap();
    let body = Some(json!({"token": token, "password": "a brand new password"}));
    let accepted = app
        .call(
            &As::Nobody,
            Method::POST,
            "/api/v1/invitations/accept",
            body.clone(),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::NO_CONTENT, "{}", accepted.body);
    let again = app
        .call(
            &As::Nobody,
            Method::POST,
            "/api/v1/invitations/accept",
            body,
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        again.body
    );
    app.sign_in("eve@contoso.com", "a brand new password").await;
}
