//! An account's API tokens: created (shown once), listed, revoked.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use roster_api::{CreatedTokenView, TokenView};
use roster_domain::ApiTokenId;
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::{Body, Path};
use crate::auth::{Reader, Writer};
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    pub name: String,
    #[serde(default)]
    pub read_only: bool,
}

/// `GET …/tokens`: the account's tokens, never their secrets.
pub async fn list(
    State(state): State<AppState>,
    Reader(scope): Reader,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tokens = state.store().list_api_tokens(scope.account.id).await?;
    Ok(Json(tokens.iter().map(TokenView::from).collect()))
}

/// `POST …/tokens`: a new token; its secret is in this answer and nowhere else.
pub async fn create(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Body(body): Body<NewTokenBody>,
) -> ApiResult<(StatusCode, Json<CreatedTokenView>)> {
    let name = roster_domain::access::parse_token_name(&body.name)
        .map_err(|e| ApiError::parse("name", &e))?;
    let new = state
        .store()
        .create_api_token(scope.account.id, &name, body.read_only)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenView {
            token: TokenView::from(&new.token),
            secret: new.secret.expose_secret().to_owned(),
        }),
    ))
}

/// `DELETE …/tokens/{token}`: revokes a token; it stops working at once.
pub async fn revoke(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Path((_, token)): Path<(String, String)>,
) -> ApiResult<Json<TokenView>> {
    let token_id: ApiTokenId = token
        .parse()
        .map_err(|_| ApiError::not_found(format!("no API token has the id {token:?}")))?;
    let token = state
        .store()
        .revoke_api_token(scope.account.id, token_id)
        .await?;
    Ok(Json(TokenView::from(&token)))
}
