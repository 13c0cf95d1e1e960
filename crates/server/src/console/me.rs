//! `/me`: a signed-in user's own profile and digests switch — all an end user sees.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use roster_store::UserUpdate;
use serde::Deserialize;

use super::layout::Layout;
use super::page::{Form, PageResult, Query, render};
use super::session::MemberPage;
use super::users::{digests_switch, role_label};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(show))
        .route("/me/digests", post(digests))
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    layout: Layout,
    primary_address: String,
    aliases: Vec<String>,
    name: String,
    role: &'static str,
    digests: bool,
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

/// `GET /me`.
async fn show(
    State(state): State<AppState>,
    page: MemberPage,
    Query(query): Query<Done>,
) -> PageResult {
    let user = state.store().user(page.account_id, page.user_id).await?;
    let notice = (query.done.as_deref() == Some("digests"))
        .then(|| "Your digests setting has been saved.".to_owned());
    render(&MePage {
        layout: page
            .layout(&state, "My profile", "me")
            .await?
            .with_notice(notice),
        primary_address: user.primary_address.to_string(),
        aliases: user.aliases.iter().map(ToString::to_string).collect(),
        name: user.display_name.clone().unwrap_or_default(),
        role: role_label(user.role),
        digests: user.digests,
    })
}

#[derive(Deserialize)]
struct DigestsForm {
    digests: String,
}

/// `POST /me/digests`: the user's own quarantine digests, on or off.
async fn digests(
    State(state): State<AppState>,
    page: MemberPage,
    Form(form): Form<DigestsForm>,
) -> PageResult {
    let on = digests_switch(&form.digests)?;
    state
        .store()
        .update_user(
            page.account_id,
            page.user_id,
            UserUpdate {
                digests: Some(on),
                ..UserUpdate::default()
            },
        )
        .await?;
    Ok(Redirect::to("/me?done=digests").into_response())
}
