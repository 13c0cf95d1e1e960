//! `/invitations/accept`: the page an invited end user opens from the link their admin sent,
//! to set a password (with the API's store call and rule) before signing in.
//!
//! Nobody is signed in here, so the form is guarded against login CSRF as signing in is.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use roster_store::StoreError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::layout::Layout;
use super::login_csrf;
use super::page::{Form, PageError, PageResult, Query, render};
use crate::AppState;

const PATH: &str = "/invitations/accept";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(form).post(accept))
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    layout: Layout,
    token: String,
    login_csrf: String,
    /// Why the form is shown again, and beside which field.
    problem: Option<Problem>,
}

struct Problem {
    field: &'static str,
    text: String,
}

fn invitation_page(
    state: &AppState,
    status: StatusCode,
    token: String,
    problem: Option<Problem>,
) -> PageResult {
    let (login_csrf, cookie) = login_csrf::issue(state, PATH);
    let page = InvitationPage {
        layout: Layout::bare("Set your password"),
        token,
        login_csrf,
        problem,
    };
    let mut response = (status, render(&page)?).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

fn invalid_link() -> PageError {
    PageError::new(
        StatusCode::GONE,
        "Invitation link not valid",
        "This invitation link is unknown, already used or expired. Ask your account's admin \
         for a new invitation.",
    )
}

#[derive(Deserialize)]
struct InvitationQuery {
    #[serde(default)]
    token: String,
}

/// `GET /invitations/accept?token=…`.
async fn form(State(state): State<AppState>, Query(query): Query<InvitationQuery>) -> PageResult {
    if query.token.is_empty() {
        return Err(invalid_link());
    }
    invitation_page(&state, StatusCode::OK, query.token, None)
}

#[derive(Deserialize)]
struct AcceptForm {
    #[serde(default)]
    token: String,
    password: String,
    repeat_password: String,
    #[serde(default)]
    login_csrf: String,
}

/// `POST /invitations/accept`: sets the password, then sends the user to sign in with it.
async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> PageResult {
    let again = |status, field, text: String| {
        invitation_page(
            &state,
            status,
            form.token.clone(),
            Some(Problem { field, text }),
        )
    };
    if !login_csrf::matches(&headers, &form.login_csrf) {
        return again(
            StatusCode::FORBIDDEN,
            "password",
            "The form had expired. It has been renewed: enter your new password again.".to_owned(),
        );
    }
    let password = SecretString::from(form.password);
    if password.expose_secret() != form.repeat_password {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "repeat_password",
            "The two passwords differ. Type the same new password in both fields.".to_owned(),
        );
    }
    match state.store().accept_invitation(&form.token, password).await {
        Ok(_) => {}
        Err(StoreError::InvitationInvalid) => return Err(invalid_link()),
        Err(error @ StoreError::PasswordTooShort { .. }) => {
            return again(
                StatusCode::UNPROCESSABLE_ENTITY,
                "password",
                format!("{}.", capitalized(&error.to_string())),
            );
        }
        Err(error) => return Err(error.into()),
    }
    let mut response = Redirect::to("/login?password_set=1").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, login_csrf::clear(&state, PATH));
    Ok(response)
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
