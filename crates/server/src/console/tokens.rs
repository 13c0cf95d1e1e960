//! API tokens: create one (its secret shown on the answer to the form, and never again), list
//! them, revoke one.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use roster_domain::ApiTokenId;
use roster_domain::access::{ApiToken, parse_token_name};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::fields::FieldErrors;
use super::layout::Layout;
use super::page::{Form, PageError, PageResult, Path, Query, render};
use super::session::AdminPage;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/tokens", get(list).post(create))
        .route("/accounts/{account}/tokens/{token}/revoke", post(revoke))
}

struct TokenRow {
    id: String,
    name: String,
    read_only: bool,
    created: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

impl TokenRow {
    fn of(token: &ApiToken) -> Self {
        let minute = |at: time::OffsetDateTime| {
            format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
        };
        Self {
            id: token.id.to_string(),
            name: token.name.clone(),
            read_only: token.read_only,
            created: minute(token.created_at),
            last_used: token.last_used_at.map(minute),
            revoked: token.revoked_at.map(minute),
        }
    }
}

/// A token just created, with its secret: on this one answer only.
struct CreatedToken {
    name: String,
    secret: String,
}

#[derive(Deserialize, Default)]
struct TokenForm {
    #[serde(default)]
    name: String,
    /// A checkbox: present when checked.
    read_only: Option<String>,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    base: String,
    tokens: Vec<TokenRow>,
    created: Option<CreatedToken>,
    name: String,
    read_only: bool,
    errors: FieldErrors,
}

async fn tokens_page(
    state: &AppState,
    page: &AdminPage,
    created: Option<CreatedToken>,
    form: TokenForm,
    errors: FieldErrors,
    notice: Option<String>,
) -> PageResult<TokensPage> {
    let tokens = state.store().list_api_tokens(page.account().id).await?;
    Ok(TokensPage {
        layout: page
            .layout(state, "API tokens", "tokens")
            .await?
            .with_notice(notice),
        base: page.path(""),
        tokens: tokens.iter().map(TokenRow::of).collect(),
        created,
        name: form.name,
        read_only: form.read_only.is_some(),
        errors,
    })
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

/// `GET …/tokens`.
async fn list(
    State(state): State<AppState>,
    page: AdminPage,
    Query(query): Query<Done>,
) -> PageResult {
    let notice = (query.done.as_deref() == Some("revoked"))
        .then(|| "The token has been revoked: it stops working at once.".to_owned());
    let tokens = tokens_page(
        &state,
        &page,
        None,
        TokenForm::default(),
        FieldErrors::default(),
        notice,
    )
    .await?;
    render(&tokens)
}

/// `POST …/tokens`: creates a token and shows its secret on this answer, which no address
/// names, so that reloading or going back never shows it again.
async fn create(
    State(state): State<AppState>,
    page: AdminPage,
    Form(form): Form<TokenForm>,
) -> PageResult {
    let mut errors = FieldErrors::default();
    let Some(name) = errors.parsed("name", parse_token_name(&form.name)) else {
        let tokens = tokens_page(&state, &page, None, form, errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&tokens)?).into_response());
    };
    let new = state
        .store()
        .create_api_token(page.account().id, &name, form.read_only.is_some())
        .await?;
    let created = CreatedToken {
        name: new.token.name.clone(),
        secret: new.secret.expose_secret().to_owned(),
    };
    let notice = Some(format!("The token {:?} has been created.", new.token.name));
    let tokens = tokens_page(
        &state,
        &page,
        Some(created),
        TokenForm::default(),
        FieldErrors::default(),
        notice,
    )
    .await?;
    Ok((StatusCode::CREATED, render(&tokens)?).into_response())
}

/// `POST …/tokens/{token}/revoke`.
async fn revoke(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, token)): Path<(String, String)>,
) -> PageResult {
    let token_id: ApiTokenId = token
        .parse()
        .map_err(|_| PageError::not_found("This account has no such API token."))?;
    state
        .store()
        .revoke_api_token(page.account().id, token_id)
        .await?;
    Ok(Redirect::to(&page.path("/tokens?done=revoked")).into_response())
}
