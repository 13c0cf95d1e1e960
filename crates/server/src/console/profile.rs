//! Administration › Account Management › Profile (the tech contact) and Domains.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use roster_domain::{DomainName, TechContact, console_page};
use serde::Deserialize;
use time::OffsetDateTime;

use super::fields::{FieldErrors, sentence};
use super::layout::Layout;
use super::page::{Form, PageError, PageResult, Query, render};
use super::session::AdminPage;
use crate::AppState;
use crate::auth::Access;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(console_page::PROFILE, get(profile).post(save_contact))
        .route("/accounts/{account}/profile/clear", post(clear_contact))
        .route("/accounts/{account}/domains", get(domains).post(add_domain))
        .route("/accounts/{account}/domains/remove", post(remove_domain))
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

#[derive(Deserialize, Default)]
struct ContactForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    base: String,
    has_contact: bool,
    form: ContactForm,
    errors: FieldErrors,
    /// Since when the account has had no tech contact.
    missing_since: Option<String>,
    grace_days: u32,
}

fn day(at: OffsetDateTime) -> String {
    at.date().to_string()
}

async fn profile_page(
    state: &AppState,
    page: &AdminPage,
    form: Option<ContactForm>,
    errors: FieldErrors,
    notice: Option<String>,
) -> PageResult<ProfilePage> {
    let account = page.account();
    let missing_since = state
        .store()
        .tech_contact_missing_since(account.id)
        .await?
        .map(day);
    let saved = ContactForm {
        name: account
            .tech_contact
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        email: account
            .tech_contact
            .as_ref()
            .map(|c| c.email.to_string())
            .unwrap_or_default(),
    };
    Ok(ProfilePage {
        layout: page
            .layout(state, "Profile", "profile")
            .await?
            .with_notice(notice),
        base: page.path(""),
        has_contact: account.tech_contact.is_some(),
        form: form.unwrap_or(saved),
        errors,
        missing_since,
        grace_days: state.config().tech_contact_grace_days,
    })
}

/// `GET …/profile`.
async fn profile(
    State(state): State<AppState>,
    page: AdminPage,
    Query(query): Query<Done>,
) -> PageResult {
    let notice = match query.done.as_deref() {
        Some("saved") => Some("The tech contact has been saved.".to_owned()),
        Some("cleared") => Some("The tech contact has been cleared.".to_owned()),
        _ => None,
    };
    render(&profile_page(&state, &page, None, FieldErrors::default(), notice).await?)
}

/// `POST …/profile`: sets the tech contact; a refused one is shown again with its errors.
async fn save_contact(
    State(state): State<AppState>,
    page: AdminPage,
    Form(form): Form<ContactForm>,
) -> PageResult {
    match TechContact::parse(&form.name, &form.email) {
        Ok(contact) => {
            state
                .store()
                .set_tech_contact(page.account().id, Some(contact))
                .await?;
            Ok(Redirect::to(&page.path("/profile?done=saved")).into_response())
        }
        Err(error) => {
            let mut errors = FieldErrors::default();
            let field = if error.what == "tech contact name" {
                "name"
            } else {
                "email"
            };
            errors.add(field, sentence(&error));
            let page = profile_page(&state, &page, Some(form), errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

/// `POST …/profile/clear`: the account goes without a tech contact.
async fn clear_contact(State(state): State<AppState>, page: AdminPage) -> PageResult {
    state
        .store()
        .set_tech_contact(page.account().id, None)
        .await?;
    Ok(Redirect::to(&page.path("/profile?done=cleared")).into_response())
}

#[derive(Template)]
#[template(path = "domains.html")]
struct DomainsPage {
    layout: Layout,
    base: String,
    domains: Vec<String>,
    /// Operators add and remove domains; an account's admins read them.
    operator: bool,
    domain: String,
    errors: FieldErrors,
}

async fn domains_page(
    state: &AppState,
    page: &AdminPage,
    domain: String,
    errors: FieldErrors,
    notice: Option<String>,
) -> PageResult<DomainsPage> {
    let account = state
        .store()
        .account(&roster_store::AccountRef::Id(page.account().id))
        .await?;
    Ok(DomainsPage {
        layout: page
            .layout(state, "Domains", "domains")
            .await?
            .with_notice(notice),
        base: page.path(""),
        domains: account.domains.iter().map(ToString::to_string).collect(),
        operator: page.scope.access == Access::Operator,
        domain,
        errors,
    })
}

/// `GET …/domains`.
async fn domains(
    State(state): State<AppState>,
    page: AdminPage,
    Query(query): Query<Done>,
) -> PageResult {
    let notice = match query.done.as_deref() {
        Some("added") => Some("The domain has been added.".to_owned()),
        Some("removed") => Some("The domain has been removed.".to_owned()),
        _ => None,
    };
    render(&domains_page(&state, &page, String::new(), FieldErrors::default(), notice).await?)
}

fn operators_only(page: &AdminPage) -> PageResult<()> {
    if page.scope.access == Access::Operator {
        Ok(())
    } else {
        Err(PageError::forbidden(
            "Only the service's operators add or remove an account's domains. Ask your provider's support to change them.",
        ))
    }
}

#[derive(Deserialize)]
struct DomainForm {
    #[serde(default)]
    domain: String,
}

/// `POST …/domains` (operators): adds a domain; a refused one is shown again with its error.
async fn add_domain(
    State(state): State<AppState>,
    page: AdminPage,
    Form(form): Form<DomainForm>,
) -> PageResult {
    operators_only(&page)?;
    let mut errors = FieldErrors::default();
    if let Some(domain) = errors.parsed("domain", form.domain.trim().parse::<DomainName>()) {
        match state.store().add_domain(page.account().id, domain).await {
            Ok(()) => return Ok(Redirect::to(&page.path("/domains?done=added")).into_response()),
            Err(error) if error.kind() == roster_domain::ErrorKind::Conflict => {
                errors.add("domain", format!("{error}."));
            }
            Err(error) => return Err(error.into()),
        }
    }
    let page = domains_page(&state, &page, form.domain, errors, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

/// `POST …/domains/remove` (operators): removes a domain no address uses.
async fn remove_domain(
    State(state): State<AppState>,
    page: AdminPage,
    Form(form): Form<DomainForm>,
) -> PageResult {
    operators_only(&page)?;
    let domain: DomainName = form
        .domain
        .parse()
        .map_err(|e| PageError::bad_request(sentence(&e)))?;
    state
        .store()
        .remove_domain(page.account().id, &domain)
        .await?;
    Ok(Redirect::to(&page.path("/domains?done=removed")).into_response())
}
