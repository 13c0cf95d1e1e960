//! Users, invitations, groups and exemptions of an account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use roster_api::{GroupDetailView, GroupView, NestedGroupView, Page, UserView};
use roster_domain::{EmailAddress, ExternalId, GroupId, Principal, Role, Source, User, UserId};
use roster_store::{MemberQuery, NewUser, Reach, UserQuery, UserUpdate};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::{Body, Path, Query, page_limit};
use crate::auth::{self, Access, AccountScope, Reader, Writer};
use crate::error::{ApiError, ApiResult, FieldError};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Users per page, 1 to 500 (100 when left out).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`: the page starts after it.
    pub cursor: Option<String>,
    /// Part of a name or an address, case-insensitive.
    pub q: Option<String>,
    /// Only users of this role.
    #[param(value_type = Option<Role>)]
    pub role: Option<String>,
    /// Only users from this source.
    #[param(value_type = Option<Source>)]
    pub source: Option<String>,
}

/// `GET …/users?limit=&cursor=&q=&role=&source=`: a page of users by primary address.
pub async fn list(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Query(query): Query<UserListQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    let limit = page_limit(query.limit)?;
    let after = address_cursor(query.cursor.as_deref())?;
    let role = query
        .role
        .as_deref()
        .map(str::parse::<Role>)
        .transpose()
        .map_err(|e| ApiError::parse("role", &e))?;
    let source = query
        .source
        .as_deref()
        .map(str::parse::<Source>)
        .transpose()
        .map_err(|e| ApiError::parse("source", &e))?;
    let users = state
        .store()
        .users_page(
            scope.account.id,
            &UserQuery {
                after,
                limit,
                search: query.q,
                role,
                source,
                ..UserQuery::default()
            },
        )
        .await?;
    Ok(Json(users_page(&users, limit)))
}

/// A users page's `cursor`: the last address of the page before.
fn address_cursor(cursor: Option<&str>) -> ApiResult<Option<EmailAddress>> {
    cursor
        .map(str::parse::<EmailAddress>)
        .transpose()
        .map_err(|e| ApiError::parse("cursor", &e))
}

/// A page of users ordered by address, with the next page's cursor when this one is full.
fn users_page(users: &[User], limit: u32) -> Page<UserView> {
    let next_cursor = (users.len() == limit as usize)
        .then(|| users.last().map(|u| u.primary_address.to_string()))
        .flatten();
    Page {
        items: users.iter().map(UserView::from).collect(),
        next_cursor,
    }
}

fn user_id(text: &str) -> Result<UserId, ApiError> {
    // An id that does not parse names no user: the same answer as an unknown one.
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no user has the id {text:?}")))
}

/// `GET …/users/{user}`: admins see any user of the account, an end user only themself.
pub async fn show(
    State(state): State<AppState>,
    scope: AccountScope,
    Path((_, user)): Path<(String, String)>,
) -> ApiResult<Json<UserView>> {
    let user_id = user_id(&user)?;
    if matches!(scope.access, Access::EndUser(own) if own != user_id) {
        return Err(ApiError::not_found(format!("no user has the id {user_id}")));
    }
    let user = state.store().user(scope.account.id, user_id).await?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub primary_address: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    /// end_user (the default) or silent_user.
    pub role: Option<String>,
    pub digests: Option<bool>,
}

fn address(field: String, text: &str, errors: &mut Vec<FieldError>) -> Option<EmailAddress> {
    text.parse()
        .map_err(|e: roster_domain::ParseError| {
            errors.push(FieldError {
                field,
                detail: e.to_string(),
            });
        })
        .ok()
}

fn settable_role(text: &str, errors: &mut Vec<FieldError>) -> Option<Role> {
    match text.parse::<Role>() {
        Ok(Role::OrganizationAdmin) => {
            errors.push(FieldError {
                field: "role".to_owned(),
                detail: "organization admins sign in with a password and are created by an operator; choose end_user or silent_user".to_owned(),
            });
            None
        }
        Ok(role) => Some(role),
        Err(e) => {
            errors.push(FieldError {
                field: "role".to_owned(),
                detail: e.to_string(),
            });
            None
        }
    }
}

/// `POST …/users`: adds a manual user.
pub async fn create(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Body(body): Body<NewUserBody>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let mut errors = Vec::new();
    let primary = address(
        "primary_address".to_owned(),
        &body.primary_address,
        &mut errors,
    );
    let aliases: Vec<Option<EmailAddress>> = body
        .aliases
        .iter()
        .enumerate()
        .map(|(i, a)| address(format!("aliases[{i}]"), a, &mut errors))
        .collect();
    let role = match body.role.as_deref() {
        Some(text) => settable_role(text, &mut errors),
        None => Some(Role::EndUser),
    };
    let (Some(primary_address), Some(role), true) = (primary, role, errors.is_empty()) else {
        return Err(ApiError::invalid_fields(errors));
    };
    let user = state
        .store()
        .add_user(
            scope.account.id,
            NewUser {
                primary_address,
                aliases: aliases.into_iter().flatten().collect(),
                first_name: body.first_name,
                last_name: body.last_name,
                display_name: body.display_name,
                role,
                digests: body.digests,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// A field of a `PATCH` body: absent keeps the saved value, `null` clears it.
fn patch_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, deserialize_with = "patch_text")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch_text")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch_text")]
    pub display_name: Option<Option<String>>,
    pub role: Option<String>,
    pub digests: Option<bool>,
}

/// `PATCH …/users/{user}`: admins change names, role (end user ⇄ silent user) and digests; an
/// end user changes their own names and digests.
pub async fn update(
    State(state): State<AppState>,
    scope: AccountScope,
    Path((_, user)): Path<(String, String)>,
    Body(body): Body<UserPatch>,
) -> ApiResult<Json<UserView>> {
    let user_id = user_id(&user)?;
    match scope.access {
        Access::EndUser(own) if own != user_id => {
            return Err(ApiError::not_found(format!("no user has the id {user_id}")));
        }
        Access::EndUser(_) if body.role.is_some() => {
            return Err(ApiError::forbidden(
                "an end user cannot change their own role",
            ));
        }
        Access::Token { read_only: true } => return Err(auth::read_only_token()),
        _ => {}
    }
    let mut errors = Vec::new();
    let role = body
        .role
        .as_deref()
        .and_then(|text| settable_role(text, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let user = state
        .store()
        .update_user(
            scope.account.id,
            user_id,
            UserUpdate {
                first_name: body.first_name,
                last_name: body.last_name,
                display_name: body.display_name,
                role,
                digests: body.digests,
            },
        )
        .await?;
    Ok(Json(UserView::from(&user)))
}

/// `DELETE …/users/{user}`. Nobody removes their own login (another admin can, so that the
/// account is never left by accident mid-session); the store keeps the last organization admin.
pub async fn remove(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Path((_, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user_id = user_id(&user)?;
    if matches!(scope.caller.principal, Principal::User { user_id: own, .. } if own == user_id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Cannot remove yourself",
            "this is your own login; another organization admin of the account can remove it",
        ));
    }
    state.store().remove_user(scope.account.id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    /// The one-time link to send the user; it is shown only now.
    pub url: String,
    pub token: String,
    pub valid_days: i64,
}

/// The link an invited user follows to set a password: this deployment's own URL.
pub fn invitation_url(config: &crate::Config, token: &str) -> String {
    let mut url = config.public_url.clone();
    url.set_path("/invitations/accept");
    url.query_pairs_mut().clear().append_pair("token", token);
    url.to_string()
}

/// `POST …/users/{user}/invite`: a one-time link for an end user to set a password.
pub async fn invite(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Path((_, user)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    let user_id = user_id(&user)?;
    let token = state.store().invite_user(scope.account.id, user_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationView {
            url: invitation_url(state.config(), token.expose_secret()),
            token: token.expose_secret().to_owned(),
            valid_days: roster_store::INVITATION_VALID_FOR.whole_days(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    pub password: String,
}

/// `POST /api/v1/invitations/accept`: sets the invited user's password with the link's token.
pub async fn accept_invitation(
    State(state): State<AppState>,
    Body(body): Body<AcceptInvitation>,
) -> ApiResult<StatusCode> {
    state
        .store()
        .accept_invitation(&body.token, SecretString::from(body.password))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/groups`: the account's groups with their members.
pub async fn groups(
    State(state): State<AppState>,
    Reader(scope): Reader,
) -> ApiResult<Json<Vec<GroupView>>> {
    let groups = state.store().list_groups(scope.account.id).await?;
    Ok(Json(groups.iter().map(GroupView::from).collect()))
}

fn group_id(text: &str) -> Result<GroupId, ApiError> {
    // An id that does not parse names no group: the same answer as an unknown one.
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no group has the id {text:?}")))
}

/// `GET …/groups/{group}`: the group, its nested groups, and how many users are its members
/// and its recipients.
pub async fn group(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, group)): Path<(String, String)>,
) -> ApiResult<Json<GroupDetailView>> {
    let (account, group_id) = (scope.account.id, group_id(&group)?);
    let group = state.store().group_entry(account, group_id).await?;
    let nested = state.store().nested_groups(account, group_id).await?;
    let recipient_count = state.store().recipient_count(account, group_id).await?;
    Ok(Json(GroupDetailView {
        id: group.id,
        name: group.name,
        kind: group.kind,
        address: group.address,
        aliases: group.aliases,
        source: group.source,
        external_id: group.external_id,
        member_user_count: group.member_users,
        member_groups: nested
            .into_iter()
            .map(|g| NestedGroupView {
                id: g.id,
                name: g.name,
                address: g.address,
            })
            .collect(),
        recipient_count,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberListQuery {
    /// Users per page, 1 to 500 (100 when left out).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`: the page starts after it.
    pub cursor: Option<String>,
}

/// `GET …/groups/{group}/members?limit=&cursor=`: a page of the group's member users, by
/// primary address.
pub async fn group_members(
    state: State<AppState>,
    reader: Reader,
    path: Path<(String, String)>,
    query: Query<MemberListQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    group_users(state, reader, path, query, Reach::Direct).await
}

/// `GET …/groups/{group}/recipients?limit=&cursor=`: a page of every user mail to the group
/// reaches, through nested groups at any depth, by primary address.
pub async fn group_recipients(
    state: State<AppState>,
    reader: Reader,
    path: Path<(String, String)>,
    query: Query<MemberListQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    group_users(state, reader, path, query, Reach::Recipients).await
}

async fn group_users(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, group)): Path<(String, String)>,
    Query(query): Query<MemberListQuery>,
    reach: Reach,
) -> ApiResult<Json<Page<UserView>>> {
    let (account, group_id) = (scope.account.id, group_id(&group)?);
    let limit = page_limit(query.limit)?;
    let after = address_cursor(query.cursor.as_deref())?;
    // Another account's group has no members to list, but is also not found.
    state.store().group_entry(account, group_id).await?;
    let users = state
        .store()
        .group_users_page(
            account,
            group_id,
            &MemberQuery {
                reach,
                after,
                limit,
            },
        )
        .await?;
    Ok(Json(users_page(&users, limit)))
}

fn external_id(text: &str) -> Result<ExternalId, ApiError> {
    text.parse().map_err(|e| ApiError::parse("external_id", &e))
}

/// `PUT …/exemptions/{external_id}`: no plan proposes any change to this directory object.
pub async fn exempt(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Path((_, external)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let external = external_id(&external)?;
    match state
        .store()
        .add_exemption(scope.account.id, external, &scope.caller.actor())
        .await
    {
        Ok(_) | Err(roster_store::StoreError::AlreadyExempt(_)) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE …/exemptions/{external_id}`: lifts an exemption.
pub async fn unexempt(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Path((_, external)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let external = external_id(&external)?;
    if state
        .store()
        .remove_exemption(scope.account.id, &external)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "the directory object {external} is not exempt"
        )))
    }
}
