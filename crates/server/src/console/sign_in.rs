//! Signing in and out, and `/`, which sends each caller to their home.
//!
//! The sign-in form is guarded against login CSRF (a site signing the browser in to the
//! attacker's account) by [`login_csrf`]'s double-submit token.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use roster_domain::{EmailAddress, Principal, Role};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::layout::Layout;
use super::login_csrf;
use super::page::{Form, PageResult, Query, render};
use super::session::{AdminPage, Viewer};
use crate::AppState;
use crate::auth::{self, ClientIp};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/accounts/{account}", get(account_home))
        .route("/login", get(form).post(submit))
        .route("/logout", post(sign_out))
}

/// `GET /`: the caller's home.
async fn home(viewer: Viewer) -> Redirect {
    Redirect::to(&home_of(viewer.caller.principal))
}

/// `GET /accounts/{account}`: an account's first page is the guide's, Azure Active Directory.
async fn account_home(page: AdminPage) -> Redirect {
    Redirect::to(&page.path("/import/azure"))
}

fn home_of(principal: Principal) -> String {
    match principal {
        Principal::Operator(_) => "/accounts".to_owned(),
        Principal::User {
            account_id,
            role: Role::OrganizationAdmin,
            ..
        } => format!("/accounts/{account_id}/import/azure"),
        Principal::User { .. } | Principal::Token { .. } => "/me".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    layout: Layout,
    next: String,
    email: String,
    login_csrf: String,
    /// Why the form is shown again.
    problem: Option<String>,
}

#[derive(Deserialize, Default)]
struct SignInQuery {
    next: Option<String>,
    expired: Option<String>,
    signed_out: Option<String>,
    password_set: Option<String>,
}

/// Only a path on this site: `next` must not send the browser elsewhere after signing in.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The page, with a fresh double-submit token in the form and the cookie.
fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    next: String,
    email: String,
    problem: Option<String>,
    notice: Option<String>,
) -> PageResult {
    let (login_csrf, cookie) = login_csrf::issue(state, "/login");
    let page = SignInPage {
        layout: Layout::bare("Sign in").with_notice(notice),
        next,
        email,
        login_csrf,
        problem,
    };
    let mut response = (status, render(&page)?).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `GET /login`.
async fn form(State(state): State<AppState>, Query(query): Query<SignInQuery>) -> PageResult {
    let notice = if query.expired.is_some() {
        Some("Your session has ended or expired. Sign in again to continue.".to_owned())
    } else if query.signed_out.is_some() {
        Some("You have signed out.".to_owned())
    } else if query.password_set.is_some() {
        Some("Your password is set. Sign in with it.".to_owned())
    } else {
        None
    };
    sign_in_page(
        &state,
        StatusCode::OK,
        local_path(query.next.as_deref()),
        String::new(),
        None,
        notice,
    )
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    login_csrf: String,
}

/// `POST /login`.
async fn submit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> PageResult {
    let next = local_path(form.next.as_deref());
    let again = |status, problem: &str| {
        sign_in_page(
            &state,
            status,
            next.clone(),
            form.email.clone(),
            Some(problem.to_owned()),
            None,
        )
    };
    if !login_csrf::matches(&headers, &form.login_csrf) {
        return again(
            StatusCode::FORBIDDEN,
            "The sign-in form had expired. It has been renewed: sign in again.",
        );
    }
    let address: EmailAddress = match form.email.trim().parse() {
        Ok(address) => address,
        Err(error) => {
            return again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The email address is not valid: {error}."),
            );
        }
    };
    if !state.limits().allow(&address, client) {
        metrics::counter!("roster_login_failures_total", "reason" => "rate_limited").increment(1);
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts for this address or from this computer. Wait a minute and try again.",
        );
    }
    let password = SecretString::from(form.password);
    let Some(principal) = state
        .store()
        .verify_password_login(&address, password)
        .await?
    else {
        metrics::counter!("roster_login_failures_total", "reason" => "wrong_credentials")
            .increment(1);
        return again(
            StatusCode::UNAUTHORIZED,
            "The email address or the password is wrong.",
        );
    };
    let lifetime = state.config().session_lifetime();
    let new = state.store().create_session(principal, lifetime).await?;
    let target = if next == "/" {
        home_of(principal)
    } else {
        next
    };
    let mut response = Redirect::to(&target).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        auth::cookie(
            &state,
            new.token.expose_secret(),
            lifetime.absolute.whole_seconds(),
        ),
    );
    headers.append(header::SET_COOKIE, login_csrf::clear(&state, "/login"));
    Ok(response)
}

/// `POST /logout`: ends the session at once.
async fn sign_out(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    state.store().end_session(viewer.session_token()).await?;
    let mut response = Redirect::to("/login?signed_out=1").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::cookie(&state, "", 0));
    Ok(response)
}
