//! Administration › User Management › Users: the account's users (search, filter by role and
//! source, paging), each user's page, the digests switch, "Exempt from sync", role changes,
//! invitations and adding a manual user.

use std::collections::BTreeSet;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use roster_domain::{EmailAddress, ExternalId, Role, Source, User, UserId};
use roster_store::{GroupEntry, NewUser, StoreError, UserQuery, UserUpdate};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::fields::FieldErrors;
use super::layout::Layout;
use super::page::{Form, PageError, PageResult, Path, Query, is_htmx, render};
use super::session::AdminPage;
use crate::AppState;
use crate::api::users::invitation_url;

/// Users per page.
const PAGE: u32 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/users", get(list).post(add))
        .route("/accounts/{account}/users/{user}", get(show))
        .route("/accounts/{account}/users/{user}/digests", post(digests))
        .route("/accounts/{account}/users/{user}/role", post(role))
        .route("/accounts/{account}/users/{user}/invite", post(invite))
        .route(
            "/accounts/{account}/users/{user}/exemption",
            post(exemption),
        )
}

/// A role as the guide names it.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::OrganizationAdmin => "Organization Admin",
        Role::EndUser => "End User",
        Role::SilentUser => "Silent User",
    }
}

pub fn source_label(source: Source) -> &'static str {
    match source {
        Source::Directory => "Synced",
        Source::Manual => "Manual",
    }
}

/// One user as a row of the list shows it.
pub struct UserRow {
    pub path: String,
    pub primary_address: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub role: &'static str,
    pub source: &'static str,
    pub digests: bool,
    /// Whether sync leaves the user alone; none for a manual user, which sync never touches.
    pub exempt: Option<bool>,
}

impl UserRow {
    fn of(user: &User, path: String, exempt: &BTreeSet<ExternalId>) -> Self {
        Self {
            path,
            primary_address: user.primary_address.to_string(),
            name: user.display_name.clone().unwrap_or_default(),
            aliases: user.aliases.iter().map(ToString::to_string).collect(),
            role: role_label(user.role),
            source: source_label(user.source),
            digests: user.digests,
            exempt: user.external_id.as_ref().map(|id| exempt.contains(id)),
        }
    }
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    before: String,
    /// A confirmation to show: the user just added.
    added: Option<String>,
}

/// Where a page of users is, by the primary address of a user next to it.
enum Cursor {
    /// Right after this user: the page that "Next page" leads to.
    After(EmailAddress),
    /// Right before this user: the page that "Previous page" leads to.
    Before(EmailAddress),
}

/// The filter as the page's form and links carry it.
struct Filter {
    q: String,
    role: Option<Role>,
    source: Option<Source>,
    /// None for the first page.
    cursor: Option<Cursor>,
}

impl Filter {
    fn parse(query: &ListQuery) -> PageResult<Self> {
        fn chosen(text: &str) -> Option<&str> {
            Some(text.trim()).filter(|t| !t.is_empty())
        }
        let bad = |what: &str| {
            PageError::bad_request(format!(
                "The {what} in the page's address is not one Roster knows. Choose it from the list instead."
            ))
        };
        let address = |text: &str| text.parse::<EmailAddress>().map_err(|_| bad("page"));
        let cursor = match (chosen(&query.after), chosen(&query.before)) {
            (None, None) => None,
            (Some(after), None) => Some(Cursor::After(address(after)?)),
            (None, Some(before)) => Some(Cursor::Before(address(before)?)),
            (Some(_), Some(_)) => return Err(bad("page")),
        };
        Ok(Self {
            q: query.q.trim().to_owned(),
            role: chosen(&query.role)
                .map(str::parse::<Role>)
                .transpose()
                .map_err(|_| bad("role"))?,
            source: chosen(&query.source)
                .map(str::parse::<Source>)
                .transpose()
                .map_err(|_| bad("source"))?,
            cursor,
        })
    }

    /// The query string of this filter, at `cursor`.
    fn query_string(&self, cursor: Option<&Cursor>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if let Some(role) = self.role {
            query.append_pair("role", role.as_str());
        }
        if let Some(source) = self.source {
            query.append_pair("source", source.as_str());
        }
        if let Some(cursor) = cursor {
            let (name, address) = match cursor {
                Cursor::After(address) => ("after", address),
                Cursor::Before(address) => ("before", address),
            };
            query.append_pair(name, address.as_str());
        }
        query.finish()
    }
}

/// The "Add a manual user" form as it was sent, to show it again with its errors.
#[derive(Deserialize, Default)]
struct NewUserForm {
    #[serde(default)]
    primary_address: String,
    #[serde(default)]
    aliases: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    role: String,
}

#[derive(Template)]
#[template(path = "users.html", blocks = ["user_list"])]
struct UsersPage {
    layout: Layout,
    base: String,
    q: String,
    role: &'static str,
    source: &'static str,
    rows: Vec<UserRow>,
    /// The path and query of this very page, for the forms that come back to it.
    return_to: String,
    first_page: Option<String>,
    previous_page: Option<String>,
    next_page: Option<String>,
    new_user: NewUserForm,
    errors: FieldErrors,
}

async fn exempt_of(
    state: &AppState,
    page: &AdminPage,
    users: &[User],
) -> PageResult<BTreeSet<ExternalId>> {
    let ids: Vec<ExternalId> = users.iter().filter_map(|u| u.external_id.clone()).collect();
    Ok(state.store().exempt_among(page.account().id, &ids).await?)
}

async fn users_page(
    state: &AppState,
    page: &AdminPage,
    query: &ListQuery,
    new_user: NewUserForm,
    errors: FieldErrors,
) -> PageResult<UsersPage> {
    let filter = Filter::parse(query)?;
    let (after, before) = match &filter.cursor {
        None => (None, None),
        Some(Cursor::After(address)) => (Some(address.clone()), None),
        Some(Cursor::Before(address)) => (None, Some(address.clone())),
    };
    // Paging backwards, one user more than a page tells whether an earlier page remains, so
    // that the first page is never offered as having a previous one.
    let limit = if before.is_some() { PAGE + 1 } else { PAGE };
    let mut users = state
        .store()
        .users_page(
            page.account().id,
            &UserQuery {
                after,
                before,
                limit,
                search: Some(filter.q.clone()).filter(|q| !q.is_empty()),
                role: filter.role,
                source: filter.source,
            },
        )
        .await?;
    let earlier_users = match filter.cursor {
        None => false,
        Some(Cursor::After(_)) => !users.is_empty(),
        Some(Cursor::Before(_)) => users.len() > PAGE as usize,
    };
    if users.len() > PAGE as usize {
        // The extra user read backwards is the last of the page before, not one of this page.
        users.remove(0);
    }
    // A page read backwards ends where a later one begins.
    let later_users =
        matches!(filter.cursor, Some(Cursor::Before(_))) || users.len() == PAGE as usize;
    let exempt = exempt_of(state, page, &users).await?;
    let base = page.path("/users");
    let page_at = |cursor: Cursor| format!("{base}?{}", filter.query_string(Some(&cursor)));
    let previous_page = earlier_users
        .then(|| users.first())
        .flatten()
        .map(|first| page_at(Cursor::Before(first.primary_address.clone())));
    let next_page = later_users
        .then(|| users.last())
        .flatten()
        .map(|last| page_at(Cursor::After(last.primary_address.clone())));
    let this_query = filter.query_string(filter.cursor.as_ref());
    let first_page = filter
        .cursor
        .is_some()
        .then(|| format!("{base}?{}", filter.query_string(None)));
    let notice = query
        .added
        .as_ref()
        .map(|address| format!("The user {address} has been added."));
    Ok(UsersPage {
        layout: page
            .layout(state, "Users", "users")
            .await?
            .with_notice(notice),
        rows: users
            .iter()
            .map(|u| UserRow::of(u, page.path(&format!("/users/{}", u.id)), &exempt))
            .collect(),
        return_to: format!("{base}?{this_query}"),
        q: filter.q,
        role: filter.role.map_or("", Role::as_str),
        source: filter.source.map_or("", Source::as_str),
        first_page,
        previous_page,
        next_page,
        base,
        new_user,
        errors,
    })
}

/// `GET …/users`: the page, or for htmx (the search form) only the list.
async fn list(
    State(state): State<AppState>,
    page: AdminPage,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let users = users_page(
        &state,
        &page,
        &query,
        NewUserForm::default(),
        FieldErrors::default(),
    )
    .await?;
    if is_htmx(&headers) {
        render(&users.as_user_list())
    } else {
        render(&users)
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|line| !line.is_empty())
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `POST …/users`: adds a manual user; a refused one is shown again with its errors.
async fn add(
    State(state): State<AppState>,
    page: AdminPage,
    Form(form): Form<NewUserForm>,
) -> PageResult {
    let mut errors = FieldErrors::default();
    let primary = errors.parsed(
        "primary_address",
        form.primary_address.trim().parse::<EmailAddress>(),
    );
    let aliases: Vec<EmailAddress> = lines(&form.aliases)
        .filter_map(|alias| errors.parsed("aliases", alias.parse()))
        .collect();
    let role = match form.role.as_str() {
        "silent_user" => Some(Role::SilentUser),
        "end_user" | "" => Some(Role::EndUser),
        _ => {
            errors.add("role", "Choose End User or Silent User.");
            None
        }
    };
    if let (Some(primary_address), Some(role), true) = (primary, role, errors.is_empty()) {
        let added = state
            .store()
            .add_user(
                page.account().id,
                NewUser {
                    primary_address: primary_address.clone(),
                    aliases,
                    first_name: optional(&form.first_name),
                    last_name: optional(&form.last_name),
                    display_name: None,
                    role,
                    digests: None,
                },
            )
            .await;
        match added {
            Ok(user) => {
                return Ok(Redirect::to(&format!(
                    "{}?added={}",
                    page.path("/users"),
                    url::form_urlencoded::byte_serialize(user.primary_address.as_str().as_bytes())
                        .collect::<String>()
                ))
                .into_response());
            }
            Err(error) => address_problem(&mut errors, &primary_address, error)?,
        }
    }
    let users = users_page(&state, &page, &ListQuery::default(), form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&users)?).into_response())
}

/// Puts an address the store refused next to its field; any other failure is the page's.
fn address_problem(
    errors: &mut FieldErrors,
    primary: &EmailAddress,
    error: StoreError,
) -> PageResult<()> {
    let field = |address: &EmailAddress| {
        if address == primary {
            "primary_address"
        } else {
            "aliases"
        }
    };
    match &error {
        StoreError::AddressTaken { address, .. }
        | StoreError::AddressOutsideDomains { address } => {
            errors.add(field(address), sentence_of(&error));
            Ok(())
        }
        _ => Err(error.into()),
    }
}

/// A store error's message as a sentence.
fn sentence_of(error: &StoreError) -> String {
    let text = error.to_string();
    let mut sentence = text.trim_end_matches('.').to_owned();
    if let Some(first) = sentence.get(..1) {
        sentence.replace_range(..1, &first.to_uppercase());
    }
    sentence.push('.');
    sentence
}

fn user_id(text: &str) -> PageResult<UserId> {
    text.parse()
        .map_err(|_| PageError::not_found("This account has no such user."))
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    base: String,
    user: UserRow,
    first_name: String,
    last_name: String,
    role: Role,
    external_id: Option<String>,
    groups: Vec<GroupLink>,
    return_to: String,
    /// The one-time invitation link, on the answer to "Invite" only.
    invitation: Option<Invitation>,
}

pub struct GroupLink {
    pub path: String,
    pub name: String,
    pub address: Option<String>,
}

impl GroupLink {
    pub fn of(page: &AdminPage, group: &GroupEntry) -> Self {
        Self {
            path: page.path(&format!("/groups/{}", group.id)),
            name: group.name.clone(),
            address: group.address.as_ref().map(ToString::to_string),
        }
    }
}

pub struct Invitation {
    pub url: String,
    pub valid_days: i64,
}

#[derive(Deserialize, Default)]
struct UserQueryString {
    /// What the last form on this page did, to confirm it.
    done: Option<String>,
}

async fn user_page(
    state: &AppState,
    page: &AdminPage,
    user_id: UserId,
    notice: Option<String>,
    invitation: Option<Invitation>,
) -> PageResult<UserPage> {
    let user = state.store().user(page.account().id, user_id).await?;
    let groups = state
        .store()
        .groups_of_user(page.account().id, user_id)
        .await?;
    let exempt = exempt_of(state, page, std::slice::from_ref(&user)).await?;
    let path = page.path(&format!("/users/{}", user.id));
    let title = user
        .display_name
        .clone()
        .unwrap_or_else(|| user.primary_address.to_string());
    Ok(UserPage {
        layout: page
            .layout(state, &title, "users")
            .await?
            .with_notice(notice),
        base: page.path(""),
        return_to: path.clone(),
        user: UserRow::of(&user, path, &exempt),
        first_name: user.first_name.clone().unwrap_or_default(),
        last_name: user.last_name.clone().unwrap_or_default(),
        role: user.role,
        external_id: user.external_id.as_ref().map(ToString::to_string),
        groups: groups.iter().map(|g| GroupLink::of(page, g)).collect(),
        invitation,
    })
}

/// `GET …/users/{user}`.
async fn show(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, user)): Path<(String, String)>,
    Query(query): Query<UserQueryString>,
) -> PageResult {
    let notice = match query.done.as_deref() {
        Some("role") => Some("The role has been changed.".to_owned()),
        Some("digests") => Some("The digests setting has been saved.".to_owned()),
        Some("exempt") => Some("Sync now leaves this user alone.".to_owned()),
        Some("unexempt") => Some("Sync manages this user again.".to_owned()),
        _ => None,
    };
    render(&user_page(&state, &page, user_id(&user)?, notice, None).await?)
}

/// Where a form goes back to: a users page of this account, never anywhere else.
fn back_to(page: &AdminPage, return_to: &str, done: &str) -> String {
    let base = page.path("/users");
    let safe = return_to == base
        || return_to.starts_with(&format!("{base}?"))
        || return_to.starts_with(&format!("{base}/"));
    match (safe, return_to.contains('?')) {
        (false, _) => base,
        (true, true) => return_to.to_owned(),
        (true, false) => format!("{return_to}?done={done}"),
    }
}

/// The digests switch's value: "on" or "off".
pub fn digests_switch(value: &str) -> PageResult<bool> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(PageError::bad_request(
            "Choose whether digests are on or off.",
        )),
    }
}

#[derive(Deserialize)]
struct DigestsForm {
    digests: String,
    #[serde(default)]
    return_to: String,
}

#[derive(Template)]
#[template(path = "user_row.html")]
struct UserRowFragment {
    row: UserRow,
    csrf_token: String,
    return_to: String,
}

/// `POST …/users/{user}/digests`: switches quarantine digests on or off. Without JavaScript
/// the browser goes back to the page it came from; htmx swaps in the row.
async fn digests(
    State(state): State<AppState>,
    page: AdminPage,
    headers: HeaderMap,
    Path((_, user)): Path<(String, String)>,
    Form(form): Form<DigestsForm>,
) -> PageResult {
    let user_id = user_id(&user)?;
    let on = digests_switch(&form.digests)?;
    let user = state
        .store()
        .update_user(
            page.account().id,
            user_id,
            UserUpdate {
                digests: Some(on),
                ..UserUpdate::default()
            },
        )
        .await?;
    if is_htmx(&headers) {
        let exempt = exempt_of(&state, &page, std::slice::from_ref(&user)).await?;
        let path = page.path(&format!("/users/{}", user.id));
        return render(&UserRowFragment {
            row: UserRow::of(&user, path, &exempt),
            csrf_token: page.csrf_token.clone(),
            return_to: form.return_to,
        });
    }
    Ok(Redirect::to(&back_to(&page, &form.return_to, "digests")).into_response())
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
}

/// `POST …/users/{user}/role`: End User ⇄ Silent User.
async fn role(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, user)): Path<(String, String)>,
    Form(form): Form<RoleForm>,
) -> PageResult {
    let user_id = user_id(&user)?;
    let role = match form.role.as_str() {
        "end_user" => Role::EndUser,
        "silent_user" => Role::SilentUser,
        _ => return Err(PageError::bad_request("Choose End User or Silent User.")),
    };
    state
        .store()
        .update_user(
            page.account().id,
            user_id,
            UserUpdate {
                role: Some(role),
                ..UserUpdate::default()
            },
        )
        .await?;
    Ok(Redirect::to(&page.path(&format!("/users/{user_id}?done=role"))).into_response())
}

/// `POST …/users/{user}/invite`: a one-time link for the user to set a password, shown on
/// this answer only (never in an address the browser keeps).
async fn invite(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, user)): Path<(String, String)>,
) -> PageResult {
    let user_id = user_id(&user)?;
    let token = state
        .store()
        .invite_user(page.account().id, user_id)
        .await?;
    let invitation = Invitation {
        url: invitation_url(state.config(), token.expose_secret()),
        valid_days: roster_store::INVITATION_VALID_FOR.whole_days(),
    };
    let notice = Some("The invitation link has been created.".to_owned());
    render(&user_page(&state, &page, user_id, notice, Some(invitation)).await?)
}

#[derive(Deserialize)]
struct ExemptionForm {
    /// "exempt" or "lift".
    action: String,
    #[serde(default)]
    return_to: String,
}

/// `POST …/users/{user}/exemption`: "Exempt from sync", or lifts the exemption.
async fn exemption(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, user)): Path<(String, String)>,
    Form(form): Form<ExemptionForm>,
) -> PageResult {
    let user = state
        .store()
        .user(page.account().id, user_id(&user)?)
        .await?;
    let Some(external_id) = user.external_id else {
        return Err(PageError::bad_request(
            "This user was added by hand: sync never changes it, so there is nothing to exempt.",
        ));
    };
    let account = page.account().id;
    let done = match form.action.as_str() {
        "exempt" => {
            match state
                .store()
                .add_exemption(account, external_id, &page.scope.caller.actor())
                .await
            {
                Ok(_) | Err(StoreError::AlreadyExempt(_)) => "exempt",
                Err(e) => return Err(e.into()),
            }
        }
        "lift" => {
            state
                .store()
                .remove_exemption(account, &external_id)
                .await?;
            "unexempt"
        }
        _ => {
            return Err(PageError::bad_request(
                "Choose to exempt the user or to lift the exemption.",
            ));
        }
    };
    Ok(Redirect::to(&back_to(&page, &form.return_to, done)).into_response())
}
