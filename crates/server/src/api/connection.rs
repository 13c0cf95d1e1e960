//! The account's directory connection: read without its key, saved with every field checked,
//! tested step by step.

use axum::Json;
use axum::extract::State;
use roster_api::ConnectionView;
use roster_domain::{DirectoryConnection, Principal, SettingsChange};
use roster_sync::Checklist;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::Body;
use crate::auth::{Reader, Writer};
use crate::error::{ApiError, ApiResult};

/// `GET …/connection`: the settings; the key only as "set on <date>".
pub async fn show(
    State(state): State<AppState>,
    Reader(scope): Reader,
) -> ApiResult<Json<ConnectionView>> {
    let connection = state
        .store()
        .connection(scope.account.id)
        .await?
        .ok_or_else(|| ApiError::not_found("the account has no directory connection yet"))?;
    view(&state, &connection).await
}

/// The connection as the API shows it, with why automatic sync is off when the schedule
/// turned it off (saving settings that keep it off still answers why).
async fn view(
    state: &AppState,
    connection: &DirectoryConnection,
) -> ApiResult<Json<ConnectionView>> {
    let turned_off = state.engine().why_automatic_sync_is_off(connection).await?;
    Ok(Json(ConnectionView::new(connection, turned_off.as_ref())))
}

/// The settings form of the guide's Step 2. Fields left out keep their saved values.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// The client secret's value; write-only.
    pub key: Option<String>,
    pub cloud: Option<String>,
    /// Custom endpoints: platform operators only.
    pub login_url: Option<String>,
    pub graph_url: Option<String>,
    pub default_role: Option<String>,
    pub sync: Option<Vec<String>>,
    pub actions: Option<Vec<String>>,
    pub frequency: Option<String>,
    pub deletion_limit_percent: Option<u8>,
    pub deletion_limit_min: Option<u32>,
    pub include_sign_in_blocked: Option<bool>,
    /// `secret` or `certificate`.
    pub credential: Option<String>,
    /// The key's expiry date as the Entra admin center shows it, `YYYY-MM-DD`; `none` clears it.
    pub key_expires_on: Option<String>,
}

/// `PUT …/connection`: saves the settings (and the key, when given).
pub async fn save(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Body(body): Body<ConnectionBody>,
) -> ApiResult<Json<ConnectionView>> {
    let change = SettingsChange {
        tenant: body.tenant,
        client_id: body.client_id,
        cloud: body.cloud,
        login_url: body.login_url,
        graph_url: body.graph_url,
        default_role: body.default_role,
        sync: body.sync.map(|names| names.join(",")),
        actions: body.actions.map(|names| names.join(",")),
        frequency: body.frequency,
        deletion_limit_percent: body.deletion_limit_percent,
        deletion_limit_min: body.deletion_limit_min,
        include_sign_in_blocked: body.include_sign_in_blocked,
        credential: body.credential,
        key_expires_on: body.key_expires_on,
    };
    if change.sets_custom_endpoints() && !matches!(scope.caller.principal, Principal::Operator(_)) {
        return Err(ApiError::forbidden(
            "only platform operators may set custom login and Graph endpoints; choose a named cloud",
        ));
    }
    let key = body.key.map(SecretString::from);
    let connection = state
        .engine()
        .save_connection(scope.account.id, &change, key.as_ref())
        .await?;
    view(&state, &connection).await
}

/// `POST …/connection/test`: the checklist (token, permissions, domains).
pub async fn test(
    State(state): State<AppState>,
    Writer(scope): Writer,
) -> ApiResult<Json<Checklist>> {
    Ok(Json(state.engine().test_connection(&scope.account).await?))
}
