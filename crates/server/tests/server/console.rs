//! The console's frame: signing in and out through its forms, the CSRF guard on every form,
//! error pages in the product's words, and the headers that keep pages private.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::support::{As, Csrf, PASSWORD, Page, TestApp};

/// The sign-in form's double-submit token: the cookie `GET /login` sets and the form's field.
async fn sign_in_form(app: &TestApp) -> (String, String) {
    let page = app.page(&As::Nobody, "/login").await;
    assert_eq!(page.status, StatusCode::OK);
    let cookie = page
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the sign-in form sets its token cookie")
        .to_owned();
    let field = page
        .html
        .split("name=\"login_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in form carries its token")
        .to_owned();
    (cookie, field)
}

async fn post_sign_in(app: &TestApp, cookie: &str, fields: &[(&str, &str)]) -> Page {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    app.browse(
        Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn an_admin_signs_in_through_the_form_and_lands_on_the_azure_ad_settings() {
    let app = TestApp::start().await;
    let (cookie, token) = sign_in_form(&app).await;
    let page = post_sign_in(
        &app,
        &cookie,
        &[
            ("email", "admin@contoso.com"),
            ("password", PASSWORD),
            ("login_csrf", &token),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(
        page.location(),
        Some(format!("/accounts/{}/import/azure", app.account.id).as_str())
    );
    let cookies: Vec<_> = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("roster_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_the_address_but_not_the_password() {
    let app = TestApp::start().await;
    let (cookie, token) = sign_in_form(&app).await;
    let page = post_sign_in(
        &app,
        &cookie,
        &[
            ("email", "admin@contoso.com"),
            ("password", "not-the-password-xyzzy"),
            ("login_csrf", &token),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    page.assert_contains("The email address or the password is wrong.");
    page.assert_contains("value=\"admin@contoso.com\"");
    assert!(!page.html.contains("not-the-password-xyzzy"));
}

#[tokio::test]
async fn a_sign_in_posted_without_the_forms_token_is_refused() {
    let app = TestApp::start().await;
    let (cookie, _) = sign_in_form(&app).await;
    let page = post_sign_in(
        &app,
        &cookie,
        &[
            ("email", "admin@contoso.com"),
            ("password", PASSWORD),
            ("login_csrf", "forged"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("roster_session="))
    );
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in_and_back() {
    let app = TestApp::start().await;
    let path = format!("/accounts/{}?tab=2", app.account.id);
    let page = app.page(&As::Nobody, &path).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let location = page.location().unwrap();
    assert!(
        location.starts_with("/login?next=%2Faccounts%2F"),
        "{location}"
    );
}

#[tokio::test]
async fn an_ended_session_is_told_so_on_the_sign_in_page() {
    let app = TestApp::start().await;
    let stale = As::Session {
        cookie: "roster_session=no-such-session".to_owned(),
        csrf: String::new(),
    };
    let page = app.page(&stale, "/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let location = page.location().unwrap().to_owned();
    assert!(location.contains("expired=1"), "{location}");
    let page = app.page(&As::Nobody, &location).await;
    page.assert_contains("Your session has ended or expired. Sign in again to continue.");
}

#[tokio::test]
async fn signing_out_needs_the_csrf_token_and_ends_the_session() {
    let app = TestApp::start().await;
    let admin = app.callers.admin.clone();
    let refused = app.submit(&admin, "/logout", &[], Csrf::Missing).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.assert_contains("Reload the page and submit the form again.");
    assert_eq!(app.page(&admin, "/").await.status, StatusCode::SEE_OTHER);

    let page = app.submit(&admin, "/logout", &[], Csrf::Field).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/login?signed_out=1"));
    let after = app.page(&admin, "/").await;
    assert!(after.location().unwrap().contains("expired=1"));
}

#[tokio::test]
async fn a_form_sent_from_another_site_is_refused_even_with_the_token() {
    let app = TestApp::start().await;
    let As::Session { cookie, csrf } = app.callers.admin.clone() else {
        unreachable!()
    };
    let page = app
        .browse(
            Request::builder()
                .method(Method::POST)
                .uri("/logout")
                .header(header::COOKIE, cookie)
                .header(header::ORIGIN, "https://evil.example")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("csrf_token={csrf}")))
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    page.assert_contains("This form was sent from another site.");
}

#[tokio::test]
async fn unknown_pages_and_methods_answer_in_the_products_words() {
    let app = TestApp::start().await;
    let page = app.page(&As::Nobody, "/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    page.assert_contains("There is no such page.");
    let api = app
        .call(&As::Nobody, Method::GET, "/api/v1/no-such-route", None)
        .await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let wrong = app
        .submit(&As::Nobody, "/login?x", &[], Csrf::Missing)
        .await;
    assert_ne!(wrong.status, StatusCode::INTERNAL_SERVER_ERROR);
    let put = app
        .browse(
            Request::builder()
                .method(Method::PUT)
                .uri("/login")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    put.assert_contains("does not accept PUT");
}

#[tokio::test]
async fn pages_forbid_inline_scripts_framing_and_caching() {
    let app = TestApp::start().await;
    let page = app.page(&As::Nobody, "/login").await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(!page.html.contains("<script>") && !page.html.contains("style="));
    let htmx = app.page(&As::Nobody, "/static/htmx-2.0.8.min.js").await;
    assert_eq!(htmx.status, StatusCode::OK);
    assert!(
        htmx.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

#[tokio::test]
async fn an_end_user_is_refused_the_administration_pages_and_another_accounts_are_not_found() {
    let app = TestApp::start().await;
    let page = app
        .page(
            &app.callers.end_user,
            &format!("/accounts/{}", app.account.id),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    page.assert_contains("organization admins may open this page.");
    let admin = app
        .page(
            &app.callers.admin,
            &format!("/accounts/{}", app.account.name),
        )
        .await;
    assert_eq!(admin.status, StatusCode::SEE_OTHER);
    let other = app
        .page(&app.callers.admin, &format!("/accounts/{}", app.other.id))
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_htmx_request_after_the_session_ended_sends_the_whole_window_to_sign_in() {
    let app = TestApp::start().await;
    let users = format!("/accounts/{}/users?q=ada", app.account.id);
    let page = app
        .browse(
            Request::builder()
                .method(Method::POST)
                .uri(format!(
                    "/accounts/{}/users/some-user/digests",
                    app.account.id
                ))
                .header(header::COOKIE, "roster_session=no-such-session")
                .header("hx-request", "true")
                .header("hx-current-url", format!("http://127.0.0.1:8080{users}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("digests=on"))
                .unwrap(),
        )
        .await;
    // Not a redirect htmx would follow and swap into the row: the window goes to sign in, and
    // comes back to the page the admin was on.
    assert_eq!(page.location(), None);
    let target = page.headers["hx-redirect"].to_str().unwrap();
    let expected = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &users)
        .append_pair("expired", "1")
        .finish();
    assert_eq!(target, format!("/login?{expected}"));
    let sign_in = app.page(&As::Nobody, target).await;
    sign_in.assert_contains("Your session has ended or expired. Sign in again to continue.");
}

#[tokio::test]
async fn an_address_that_does_not_read_answers_a_page_in_the_products_words() {
    let app = TestApp::start().await;
    let page = app.page(&As::Nobody, "/static/%FF").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    page.assert_contains("it holds a %-escape that stands for no character");
    assert!(!page.html.contains("Invalid URL"), "{}", page.html);
}

#[tokio::test]
async fn the_apis_query_and_path_problems_name_the_field_in_problem_details() {
    let app = TestApp::start().await;
    let reply = app
        .call(
            &app.callers.token,
            Method::GET,
            &app.path("/users?limit=many"),
            None,
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(reply.field("errors")[0]["field"], "limit");
    assert_eq!(
        reply.field("errors")[0]["detail"],
        "must be a whole number, such as 2"
    );
    assert!(!reply.body.to_string().contains("Failed to deserialize"));

    let reply = app
        .call(
            &app.callers.token,
            Method::GET,
            &app.path("/users/%FF"),
            None,
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
}
