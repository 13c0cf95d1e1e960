//! Administration › User Management › Groups: the account's groups, and each group's members
//! and its expanded recipient list (nested groups followed to the end).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use roster_domain::{EmailAddress, GroupId, GroupKind, User};
use roster_store::{GroupEntry, GroupQuery, MemberQuery, Reach};
use serde::Deserialize;

use super::layout::Layout;
use super::page::{PageError, PageResult, Path, Query, render};
use super::session::AdminPage;
use super::users::{GroupLink, role_label, source_label};
use crate::AppState;

/// Groups, and a group's members, per page.
const PAGE: u32 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/groups", get(list))
        .route("/accounts/{account}/groups/{group}", get(show))
}

fn kind_label(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::Distribution => "Distribution group",
        GroupKind::MailEnabledSecurity => "Mail-enabled security group",
        GroupKind::Security => "Security group",
        GroupKind::Microsoft365 => "Microsoft 365 group",
    }
}

struct GroupRow {
    link: GroupLink,
    kind: &'static str,
    source: &'static str,
    members: u64,
    nested: u64,
}

impl GroupRow {
    fn of(page: &AdminPage, group: &GroupEntry) -> Self {
        Self {
            link: GroupLink::of(page, group),
            kind: kind_label(group.kind),
            source: source_label(group.source),
            members: group.member_users,
            nested: group.member_groups,
        }
    }
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    layout: Layout,
    base: String,
    q: String,
    rows: Vec<GroupRow>,
    first_page: Option<String>,
    next_page: Option<String>,
}

fn group_id(text: &str) -> PageResult<GroupId> {
    text.parse()
        .map_err(|_| PageError::not_found("This account has no such group."))
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, value)| !value.is_empty()))
        .finish();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// `GET …/groups?q=&after=`: a page of groups by name.
async fn list(
    State(state): State<AppState>,
    page: AdminPage,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let after = query.after.as_deref().map(group_id).transpose()?;
    let q = query.q.trim().to_owned();
    let groups = state
        .store()
        .groups_page(
            page.account().id,
            &GroupQuery {
                after,
                limit: PAGE,
                search: Some(q.clone()).filter(|q| !q.is_empty()),
            },
        )
        .await?;
    let base = page.path("/groups");
    let next_page = (groups.len() == PAGE as usize)
        .then(|| groups.last())
        .flatten()
        .map(|last| with_query(&base, &[("q", &q), ("after", &last.id.to_string())]));
    let first_page = after.map(|_| with_query(&base, &[("q", &q)]));
    render(&GroupsPage {
        layout: page.layout(&state, "Groups", "groups").await?,
        rows: groups.iter().map(|g| GroupRow::of(&page, g)).collect(),
        base,
        q,
        first_page,
        next_page,
    })
}

struct MemberRow {
    path: String,
    primary_address: String,
    name: String,
    role: &'static str,
}

impl MemberRow {
    fn of(page: &AdminPage, user: &User) -> Self {
        Self {
            path: page.path(&format!("/users/{}", user.id)),
            primary_address: user.primary_address.to_string(),
            name: user.display_name.clone().unwrap_or_default(),
            role: role_label(user.role),
        }
    }
}

/// One of the group page's two lists of users, with its own paging.
struct MemberList {
    rows: Vec<MemberRow>,
    next_page: Option<String>,
}

#[derive(Deserialize, Default)]
struct GroupPageQuery {
    members_after: Option<String>,
    recipients_after: Option<String>,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    layout: Layout,
    base: String,
    group: GroupRow,
    address: Option<String>,
    aliases: Vec<String>,
    nested: Vec<GroupLink>,
    members: MemberList,
    recipients: MemberList,
    recipient_count: u64,
}

fn after_address(text: Option<&str>) -> PageResult<Option<EmailAddress>> {
    text.filter(|t| !t.is_empty())
        .map(str::parse)
        .transpose()
        .map_err(|_| {
            PageError::bad_request(
                "The page's address names no user. Follow a link from the console instead.",
            )
        })
}

/// `GET …/groups/{group}`: the group, its direct members and every recipient mail to it
/// reaches, each list paged by primary address.
async fn show(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, group)): Path<(String, String)>,
    Query(query): Query<GroupPageQuery>,
) -> PageResult {
    let account = page.account().id;
    let group_id = group_id(&group)?;
    let group = state.store().group_entry(account, group_id).await?;
    let nested = state.store().nested_groups(account, group_id).await?;
    let members_after = after_address(query.members_after.as_deref())?;
    let recipients_after = after_address(query.recipients_after.as_deref())?;
    let path = page.path(&format!("/groups/{group_id}"));
    let mut lists = Vec::new();
    for (reach, after, key, other) in [
        (
            Reach::Direct,
            &members_after,
            "members_after",
            ("recipients_after", &recipients_after),
        ),
        (
            Reach::Recipients,
            &recipients_after,
            "recipients_after",
            ("members_after", &members_after),
        ),
    ] {
        let users = state
            .store()
            .group_users_page(
                account,
                group_id,
                &MemberQuery {
                    reach,
                    after: after.clone(),
                    limit: PAGE,
                },
            )
            .await?;
        let kept = other.1.as_ref().map_or("", EmailAddress::as_str);
        let next_page = (users.len() == PAGE as usize)
            .then(|| users.last())
            .flatten()
            .map(|last| {
                with_query(
                    &path,
                    &[(other.0, kept), (key, last.primary_address.as_str())],
                )
            });
        lists.push(MemberList {
            rows: users.iter().map(|u| MemberRow::of(&page, u)).collect(),
            next_page,
        });
    }
    let recipients = lists.pop().expect("two lists");
    let members = lists.pop().expect("two lists");
    let recipient_count = state.store().recipient_count(account, group_id).await?;
    render(&GroupPage {
        layout: page.layout(&state, &group.name, "groups").await?,
        base: page.path(""),
        address: group.address.as_ref().map(ToString::to_string),
        aliases: group.aliases.iter().map(ToString::to_string).collect(),
        nested: nested.iter().map(|g| GroupLink::of(&page, g)).collect(),
        group: GroupRow::of(&page, &group),
        members,
        recipients,
        recipient_count,
    })
}
