//! An invited end user's way in: the link their admin hands them opens a form to set a
//! password, guarded against login CSRF as signing in is; then they sign in with it.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use roster_domain::Role;
use roster_store::NewUser;

use crate::support::{As, Csrf, Page, TestApp};

const NEW_PASSWORD: &str = "correct horse battery staple";

/// Adds an end user and invites them through the users page, as their admin does; the token of
/// the link the page shows.
async fn invited_user(app: &TestApp, address: &str) -> String {
    let user = app
        .store
        .add_user(
            app.account.id,
            NewUser {
                primary_address: address.parse().unwrap(),
                aliases: Vec::new(),
                first_name: None,
                last_name: None,
                display_name: None,
                role: Role::EndUser,
                digests: None,
            },
        )
        .await
        .unwrap();
    let invited = app
        .submit(
            &app.callers.admin,
            &format!("/accounts/{}/users/{}/invite", app.account.id, user.id),
            &[],
            Csrf::Field,
        )
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.html);
    invited
        .html
        .split("/invitations/accept?token=")
        .nth(1)
        .and_then(|rest| rest.split(['"', '<']).next())
        .expect("the users page shows the invitation link")
        .to_owned()
}

/// The form the link opens: its login-CSRF cookie and the form's copy of the token.
async fn open_link(app: &TestApp, token: &str) -> (String, String) {
    let page = app
        .page(&As::Nobody, &format!("/invitations/accept?token={token}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    page.assert_contains("<label for=\"password\">");
    page.assert_contains("<label for=\"repeat_password\">");
    page.assert_contains(&format!("name=\"token\" value=\"{token}\""));
    let cookie = page
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("the form sets its login-CSRF cookie");
    assert!(cookie.contains("Path=/invitations/accept") && cookie.contains("SameSite=Strict"));
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let field = page
        .html
        .split("name=\"login_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries its login-CSRF token")
        .to_owned();
    (cookie, field)
}

async fn set_password(app: &TestApp, cookie: Option<&str>, fields: &[(&str, &str)]) -> Page {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/invitations/accept")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    app.browse(request.body(Body::from(body)).unwrap()).await
}

async fn accept(app: &TestApp, token: &str, password: &str, repeated: &str) -> Page {
    let (cookie, login_csrf) = open_link(app, token).await;
    set_password(
        app,
        Some(&cookie),
        &[
            ("token", token),
            ("password", password),
            ("repeat_password", repeated),
            ("login_csrf", &login_csrf),
        ],
    )
    .await
}

#[tokio::test]
async fn an_invited_user_sets_a_password_from_the_link_and_signs_in_with_it() {
    let app = TestApp::start().await;
    let token = invited_user(&app, "sam@contoso.com").await;

    let set = accept(&app, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.html);
    let sign_in = app.page(&As::Nobody, set.location().unwrap()).await;
    sign_in.assert_contains("Your password is set. Sign in with it.");

    let sam = app.sign_in("sam@contoso.com", NEW_PASSWORD).await;
    let me = app.page(&sam, "/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.html);
    me.assert_contains("sam@contoso.com");
}

#[tokio::test]
async fn a_used_invitation_link_is_refused_and_says_to_ask_for_a_new_one() {
    let app = TestApp::start().await;
    let token = invited_user(&app, "sam@contoso.com").await;
    let first = accept(&app, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.html);

    let again = accept(
        &app,
        &token,
        "another long password",
        "another long password",
    )
    .await;
    assert_eq!(again.status, StatusCode::GONE);
    again.assert_contains("already used or expired");
    again.assert_contains("admin for a new invitation.");
    app.sign_in("sam@contoso.com", NEW_PASSWORD).await;
}

#[tokio::test]
async fn mismatched_or_short_passwords_show_the_form_again_without_echoing_them() {
    let app = TestApp::start().await;
    let token = invited_user(&app, "sam@contoso.com").await;

    let mismatched = accept(&app, &token, NEW_PASSWORD, "correct horse battery stapler").await;
    assert_eq!(mismatched.status, StatusCode::UNPROCESSABLE_ENTITY);
    mismatched.assert_contains("id=\"repeat_password-error\"");
    mismatched.assert_contains("The two passwords differ.");
    assert!(!mismatched.html.contains("battery"));

    let short = accept(&app, &token, "xyzzy-short", "xyzzy-short").await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    short.assert_contains("id=\"password-error\"");
    short.assert_contains("at least 12 characters");
    assert!(!short.html.contains("xyzzy"));

    let set = accept(&app, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        set.status,
        StatusCode::SEE_OTHER,
        "a refused form leaves the link usable: {}",
        set.html
    );
}

#[tokio::test]
async fn a_password_posted_without_the_login_csrf_cookie_is_refused() {
    let app = TestApp::start().await;
    let token = invited_user(&app, "sam@contoso.com").await;
    let (_, login_csrf) = open_link(&app, &token).await;

    let refused = set_password(
        &app,
        None,
        &[
            ("token", &token),
            ("password", NEW_PASSWORD),
            ("repeat_password", NEW_PASSWORD),
            ("login_csrf", &login_csrf),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.assert_contains("The form had expired.");

    let set = accept(&app, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        set.status,
        StatusCode::SEE_OTHER,
        "the refused form did not use the link up: {}",
        set.html
    );
}
