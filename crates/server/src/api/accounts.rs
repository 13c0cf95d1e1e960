//! Accounts, their domains, tech contact and events.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use roster_api::AccountView;
use roster_domain::{AccountEvent, DomainName, TechContact};
use roster_store::{AccountRef, NewAccount};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::{Body, Path};
use crate::auth::{OperatorCaller, Reader, Writer};
use crate::error::{ApiError, ApiResult, FieldError};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TechContactBody {
    pub name: String,
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    pub name: String,
    pub domains: Vec<String>,
    pub tech_contact: Option<TechContactBody>,
}

fn parse_tech_contact(field: &str, body: &TechContactBody) -> Result<TechContact, FieldError> {
    TechContact::parse(&body.name, &body.email).map_err(|e| FieldError {
        field: field.to_owned(),
        detail: e.to_string(),
    })
}

/// `GET /api/v1/accounts` (operators): every account.
pub async fn list(
    State(state): State<AppState>,
    _: OperatorCaller,
) -> ApiResult<Json<Vec<AccountView>>> {
    let accounts = state.store().list_accounts().await?;
    Ok(Json(accounts.iter().map(AccountView::from).collect()))
}

/// `POST /api/v1/accounts` (operators): creates an account with its domains.
pub async fn create(
    State(state): State<AppState>,
    _: OperatorCaller,
    Body(body): Body<NewAccountBody>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    let mut errors = Vec::new();
    let mut domains = Vec::new();
    for (i, domain) in body.domains.iter().enumerate() {
        match domain.parse::<DomainName>() {
            Ok(domain) => domains.push(domain),
            Err(e) => errors.push(FieldError {
                field: format!("domains[{i}]"),
                detail: e.to_string(),
            }),
        }
    }
    let tech_contact = match &body.tech_contact {
        Some(contact) => match parse_tech_contact("tech_contact", contact) {
            Ok(contact) => Some(contact),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => None,
    };
    if let Err(e) = roster_domain::model::parse_account_name(&body.name) {
        errors.push(FieldError {
            field: "name".to_owned(),
            detail: e.to_string(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let account = state
        .store()
        .create_account(NewAccount {
            name: body.name,
            domains,
            tech_contact,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

/// `GET /api/v1/accounts/{account}`.
pub async fn show(Reader(scope): Reader) -> Json<AccountView> {
    Json(AccountView::from(&scope.account))
}

/// `PUT /api/v1/accounts/{account}/tech-contact`: sets the tech contact.
pub async fn set_tech_contact(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Body(body): Body<TechContactBody>,
) -> ApiResult<Json<AccountView>> {
    let contact =
        parse_tech_contact("tech_contact", &body).map_err(|e| ApiError::invalid_fields(vec![e]))?;
    state
        .store()
        .set_tech_contact(scope.account.id, Some(contact))
        .await?;
    let account = state
        .store()
        .account(&AccountRef::Id(scope.account.id))
        .await?;
    Ok(Json(AccountView::from(&account)))
}

/// `DELETE /api/v1/accounts/{account}/tech-contact`: clears it (automatic sync then falls back
/// to never after the grace period).
pub async fn clear_tech_contact(
    State(state): State<AppState>,
    Writer(scope): Writer,
) -> ApiResult<StatusCode> {
    state
        .store()
        .set_tech_contact(scope.account.id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainBody {
    pub domain: String,
}

/// `POST /api/v1/accounts/{account}/domains` (operators): adds a domain.
pub async fn add_domain(
    State(state): State<AppState>,
    Reader(scope): Reader,
    _: OperatorCaller,
    Body(body): Body<DomainBody>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    let domain: DomainName = body
        .domain
        .parse()
        .map_err(|e| ApiError::parse("domain", &e))?;
    state.store().add_domain(scope.account.id, domain).await?;
    let account = state
        .store()
        .account(&AccountRef::Id(scope.account.id))
        .await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

/// `DELETE /api/v1/accounts/{account}/domains/{domain}` (operators): removes a domain no
/// address uses.
pub async fn remove_domain(
    State(state): State<AppState>,
    Reader(scope): Reader,
    _: OperatorCaller,
    Path((_, domain)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let domain: DomainName = domain.parse().map_err(|e| ApiError::parse("domain", &e))?;
    state
        .store()
        .remove_domain(scope.account.id, &domain)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/accounts/{account}/events`: what the tech contact is told, newest first.
pub async fn events(
    State(state): State<AppState>,
    Reader(scope): Reader,
) -> ApiResult<Json<Vec<AccountEvent>>> {
    Ok(Json(
        state.store().list_events(scope.account.id, 100).await?,
    ))
}
