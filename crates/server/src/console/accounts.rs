//! `/accounts`: the operator's list of every account, with a link into each, and the form that
//! creates an account with its domains.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use roster_domain::model::parse_account_name;
use roster_domain::{DomainName, ErrorKind, TechContact};
use roster_store::{NewAccount, StoreError};
use serde::Deserialize;

use super::fields::{FieldErrors, sentence};
use super::layout::Layout;
use super::page::{Form, PageError, PageResult, render};
use super::session::Viewer;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/accounts", get(list).post(create))
}

struct AccountRow {
    path: String,
    name: String,
    domains: String,
    tech_contact: Option<String>,
}

#[derive(Deserialize, Default)]
struct AccountForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_email: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    layout: Layout,
    accounts: Vec<AccountRow>,
    form: AccountForm,
    errors: FieldErrors,
}

/// Only operators see the list; to anyone else it does not exist.
fn operator_only(viewer: &Viewer) -> PageResult<()> {
    if viewer.is_operator() {
        Ok(())
    } else {
        Err(PageError::not_found("There is no such page."))
    }
}

async fn accounts_page(
    state: &AppState,
    viewer: &Viewer,
    form: AccountForm,
    errors: FieldErrors,
) -> PageResult<AccountsPage> {
    let accounts = state.store().list_accounts().await?;
    Ok(AccountsPage {
        layout: viewer.layout(state, "Accounts", "accounts").await,
        accounts: accounts
            .iter()
            .map(|account| AccountRow {
                path: format!("/accounts/{}", account.id),
                name: account.name.clone(),
                domains: account
                    .domains
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                tech_contact: account
                    .tech_contact
                    .as_ref()
                    .map(|c| format!("{} <{}>", c.name, c.email)),
            })
            .collect(),
        form,
        errors,
    })
}

/// `GET /accounts` (operators).
async fn list(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    operator_only(&viewer)?;
    render(
        &accounts_page(
            &state,
            &viewer,
            AccountForm::default(),
            FieldErrors::default(),
        )
        .await?,
    )
}

/// `POST /accounts` (operators): creates an account; then its profile opens.
async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<AccountForm>,
) -> PageResult {
    operator_only(&viewer)?;
    let mut errors = FieldErrors::default();
    let name = errors.parsed("name", parse_account_name(&form.name));
    let domains: Vec<DomainName> = form
        .domains
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .filter_map(|d| errors.parsed("domains", d.parse()))
        .collect();
    if domains.is_empty() && errors.of("domains").is_none() {
        errors.add(
            "domains",
            "Give at least one domain the account owns, e.g. contoso.com.",
        );
    }
    let contact = match (form.contact_name.trim(), form.contact_email.trim()) {
        ("", "") => None,
        (name, email) => match TechContact::parse(name, email) {
            Ok(contact) => Some(contact),
            Err(error) => {
                let field = if error.what == "tech contact name" {
                    "contact_name"
                } else {
                    "contact_email"
                };
                errors.add(field, sentence(&error));
                None
            }
        },
    };
    if let (Some(name), true) = (name, errors.is_empty()) {
        let created = state
            .store()
            .create_account(NewAccount {
                name,
                domains,
                tech_contact: contact,
            })
            .await;
        match created {
            Ok(account) => {
                return Ok(
                    Redirect::to(&format!("/accounts/{}/profile", account.id)).into_response()
                );
            }
            Err(error @ StoreError::AccountNameTaken(_)) => errors.add("name", format!("{error}.")),
            Err(error) if error.kind() == ErrorKind::Conflict => {
                errors.add("domains", format!("{error}."));
            }
            Err(error) => return Err(error.into()),
        }
    }
    let page = accounts_page(&state, &viewer, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}
