//! The plan of a Search Now (Import & Sync › Azure Active Directory, the guide's Manual Sync):
//! its categories with counts, a page of one category's changes with a checkbox each, what it
//! skipped, and Sync Active Directory.
//!
//! The checkboxes are recorded on the server as they change (`Store::record_selection`), so a
//! plan of 100,000 changes is paged and filtered without losing a choice, and select all means
//! the whole category. Without JavaScript each page is a form that posts its boxes, and every
//! control that leaves the page (a tab, the pager, Sync Active Directory) submits that form, so
//! what the admin sees checked is what is kept and applied; with htmx a box posts as soon as it
//! is toggled and the counts are swapped in.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use roster_domain::plan::{
    AttributeChange, AttributeValue, Category, Change, Selection, SelectionUpdate, SkipReason,
    Skipped,
};
use roster_domain::{AccountId, ChangeId, ExternalId, PlanId, Role};
use roster_store::{CategoryQuery, PlanSummary, StoreError};
use roster_sync::{ApplyRequest, Chosen};
use serde::Deserialize;

use super::layout::Layout;
use super::page::{Form, PageError, PageResult, Path, Query, is_htmx, render};
use super::session::AdminPage;
use super::users::role_label;
use crate::exports::{self, PlanFilter};
use crate::{AppState, tasks};

/// Changes shown per page of a category.
pub const PER_PAGE: u32 = 50;

/// The `category` of the plan's skipped objects, shown beside the change categories.
const SKIPPED: &str = "skipped";

/// The `id` of the form holding a page's boxes, which the page's other controls submit.
const CHOICES_FORM: &str = "plan-choices";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/plans/{plan}", get(show))
        .route("/accounts/{account}/plans/{plan}/selection", post(select))
        .route("/accounts/{account}/plans/{plan}/apply", post(apply))
        .route("/accounts/{account}/plans/{plan}/exemptions", post(exempt))
        .route("/accounts/{account}/plans/{plan}/plan.csv", get(download))
}

fn plan_id(text: &str) -> Result<PlanId, PageError> {
    text.parse().map_err(|_| {
        PageError::not_found("There is no such plan. Run Search Now to build a new one.")
    })
}

/// Where the page is: which category, which filter, which page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Position {
    pub category: Option<String>,
    pub q: Option<String>,
    pub page: Option<u64>,
}

impl Position {
    fn search(&self) -> Option<String> {
        self.q.clone().filter(|q| !q.trim().is_empty())
    }

    /// The page number, from 1.
    fn page(&self) -> u64 {
        self.page.unwrap_or(1).max(1)
    }

    /// The query string of this position with `page` instead of its own.
    fn query(&self, page: u64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(category) = &self.category {
            query.append_pair("category", category);
        }
        if let Some(q) = self.search() {
            query.append_pair("q", &q);
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            query
        } else {
            format!("?{query}")
        }
    }
}

/// A category as the plan page lists it.
struct CategoryTab {
    key: &'static str,
    title: &'static str,
    total: usize,
    checked: usize,
    /// The connection's *how to sync* switches leave this category out.
    not_applied: bool,
    current: bool,
}

/// One change on the page, with its box.
struct ChangeRow {
    id: String,
    summary: String,
    reason: String,
    attributes: Vec<AttributeLine>,
    checked: bool,
}

/// One attribute's before → after values, as text; an attribute that is new has no before.
struct AttributeLine {
    attribute: String,
    before: Option<String>,
    after: String,
}

impl AttributeLine {
    fn new(change: &AttributeChange) -> Self {
        let word = |value: &AttributeValue| match (change.attribute.as_str(), value) {
            ("role", AttributeValue::Text(text)) => text
                .parse::<Role>()
                .map_or_else(|_| text.clone(), |role| role_label(role).to_owned()),
            _ => value.to_string(),
        };
        Self {
            attribute: attribute_label(&change.attribute).to_owned(),
            before: has_value(&change.before).then(|| word(&change.before)),
            after: word(&change.after),
        }
    }
}

fn has_value(value: &AttributeValue) -> bool {
    match value {
        AttributeValue::None => false,
        AttributeValue::Text(_) => true,
        AttributeValue::List(items) => !items.is_empty(),
    }
}

/// A planned attribute in the console's words (the planner names them as the store does).
fn attribute_label(attribute: &str) -> &str {
    match attribute {
        "primary_address" => "Primary address",
        "aliases" => "Aliases",
        "first_name" => "First name",
        "last_name" => "Last name",
        "display_name" => "Display name",
        "role" => "Role",
        "name" => "Name",
        "kind" => "Kind",
        "address" => "Address",
        "members_added" => "Members joining",
        "members_removed" => "Members leaving",
        "source" => "Source",
        "user" => "User",
        "group" => "Group",
        other => other,
    }
}

impl ChangeRow {
    fn new(change: &Change, selection: &Selection) -> Self {
        Self {
            id: change.id.to_string(),
            summary: change.summary.clone(),
            reason: change.reason.clone(),
            attributes: change.attributes.iter().map(AttributeLine::new).collect(),
            checked: selection.is_checked(change),
        }
    }
}

/// A skipped object on the page, with its reason.
struct SkippedRow {
    external_id: String,
    summary: String,
    reason: String,
    action: SkippedAction,
}

/// What the admin can do about a skipped entry.
#[derive(PartialEq)]
enum SkippedAction {
    /// The object is left out: exempting it stops it being proposed at all.
    Exempt,
    /// It is exempt already.
    AlreadyExempt,
    /// Only an alias is dropped and the object itself syncs: there is nothing to exempt.
    SyncsWithoutAlias,
}

impl SkippedRow {
    fn new(skipped: &Skipped) -> Self {
        let action = if skipped.reason == SkipReason::Exempted {
            SkippedAction::AlreadyExempt
        } else if skipped.reason.leaves_the_object_out() {
            SkippedAction::Exempt
        } else {
            SkippedAction::SyncsWithoutAlias
        };
        Self {
            external_id: skipped.external_id.to_string(),
            summary: skipped.summary.clone(),
            reason: skipped.detail.clone(),
            action,
        }
    }
}

/// What the open tab lists.
enum Listing {
    Changes {
        category: Category,
        rows: Vec<ChangeRow>,
    },
    Skipped(Vec<SkippedRow>),
    Nothing,
}

/// The page's paging links.
struct Paging {
    page: u64,
    pages: u64,
    matching: u64,
    previous: Option<PageLink>,
    next: Option<PageLink>,
}

/// Another page of the listing: its number, and its query string for a plain link.
struct PageLink {
    number: u64,
    query: String,
}

impl Paging {
    fn new(position: &Position, matching: u64) -> Self {
        let pages = matching.div_ceil(u64::from(PER_PAGE)).max(1);
        let page = position.page().min(pages);
        Self {
            page,
            pages,
            matching,
            previous: (page > 1).then(|| PageLink::new(position, page - 1)),
            next: (page < pages).then(|| PageLink::new(position, page + 1)),
        }
    }

    fn offset(&self) -> u64 {
        (self.page - 1) * u64::from(PER_PAGE)
    }
}

impl PageLink {
    fn new(position: &Position, number: u64) -> Self {
        Self {
            number,
            query: position.query(number),
        }
    }
}

/// The plan's counts, which a toggled box changes: the fragment htmx swaps in.
#[derive(Template)]
#[template(path = "plan_counts.html")]
struct Counts {
    base: String,
    tabs: Vec<CategoryTab>,
    skipped: usize,
    skipped_open: bool,
    checked: usize,
    total: usize,
    /// The page shows boxes: the tabs save them before moving (`CHOICES_FORM`).
    choices: bool,
    /// Swapped out of band beside the category list.
    oob: bool,
}

#[derive(Template)]
#[template(path = "plan.html")]
struct PlanPage {
    layout: Layout,
    base: String,
    account_base: String,
    counts: Counts,
    created_at: String,
    run_path: String,
    /// Why the plan cannot be applied any more, when it cannot.
    not_current: Option<String>,
    search: String,
    listing: Listing,
    paging: Paging,
    /// Why removals need an explicit confirmation: they exceed the deletion limit.
    over_limit: Option<String>,
}

impl Counts {
    /// The form a control leaving the page submits: the page's boxes, when it shows any.
    fn choices_form(&self) -> Option<&'static str> {
        self.choices.then_some(CHOICES_FORM)
    }
}

/// Every category's tab, the open one marked.
fn tabs(
    summary: &PlanSummary,
    selection: &Selection,
    allowed: impl Fn(Category) -> bool,
    open: Option<Category>,
) -> Vec<CategoryTab> {
    Category::ALL
        .into_iter()
        .map(|category| {
            let total = summary.counts.get(&category).copied().unwrap_or_default();
            CategoryTab {
                key: category.as_str(),
                title: category.title(),
                total,
                checked: selection.checked_in(category, total),
                not_applied: !allowed(category),
                current: open == Some(category),
            }
        })
        .collect()
}

/// Why the plan can no longer be applied, in the admin's words; none while it can.
async fn not_current(
    state: &AppState,
    account_id: AccountId,
    plan_id: PlanId,
) -> PageResult<Option<String>> {
    match state.store().check_plan_current(account_id, plan_id).await {
        Ok(()) => Ok(None),
        Err(StoreError::PlanNotCurrent { why, .. }) => Ok(Some(format!(
            "This plan is no longer current: {why}. Run Search Now again to see what would change now."
        ))),
        Err(StoreError::PlanAlreadyApplied { applied_at, .. }) => Ok(Some(format!(
            "This plan was applied on {}. Run Search Now again to see what would change now.",
            applied_at.date()
        ))),
        Err(StoreError::PlanFromEarlierVersion { .. }) => Ok(Some(
            "This plan was built by an earlier version of Roster. Run Search Now again.".to_owned(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The counts of the plan as the selection stands.
async fn counts(
    state: &AppState,
    page: &AdminPage,
    plan_id: PlanId,
    summary: &PlanSummary,
    selection: &Selection,
    open: Option<Category>,
) -> PageResult<Counts> {
    let connection = state.store().connection(page.account().id).await?;
    let allowed = |category| {
        connection
            .as_ref()
            .is_none_or(|c| c.settings.actions.allows(category))
    };
    let tabs = tabs(summary, selection, allowed, open);
    Ok(Counts {
        base: page.path(&format!("/plans/{plan_id}")),
        checked: tabs.iter().map(|t| t.checked).sum(),
        total: tabs.iter().map(|t| t.total).sum(),
        skipped: summary.plan.skipped.len(),
        skipped_open: open.is_none(),
        tabs,
        choices: false,
        oob: false,
    })
}

/// `GET /accounts/{account}/plans/{plan}?category=&q=&page=`.
async fn show(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, plan)): Path<(String, String)>,
    Query(position): Query<Position>,
) -> PageResult {
    let plan_id = plan_id(&plan)?;
    let account_id = page.account().id;
    let summary = state.store().plan_summary(account_id, plan_id).await?;
    let selection = state.store().selection(account_id, plan_id).await?;
    // The open tab: the one asked for, else the first category with changes, else Skipped.
    let first_with_changes = Category::ALL
        .into_iter()
        .find(|c| summary.counts.get(c).is_some_and(|n| *n > 0));
    let open = match position.category.as_deref() {
        Some(SKIPPED) => None,
        Some(name) => Some(name.parse::<Category>().map_err(|_| {
            PageError::not_found(format!(
                "The plan has no category {name:?}. Choose one of the plan's tabs instead."
            ))
        })?),
        None => first_with_changes,
    };
    let position = Position {
        category: Some(open.map_or(SKIPPED, Category::as_str).to_owned()),
        ..position
    };
    let (listing, paging) = match open {
        Some(category) => {
            let query = |offset| CategoryQuery {
                category,
                search: position.search(),
                offset,
                limit: PER_PAGE,
            };
            let asked = Paging::new(&position, u64::MAX).offset();
            let store = state.store();
            let mut found = store
                .plan_category_page(account_id, plan_id, &query(asked))
                .await?;
            // A page past the end (the filter or the plan changed) shows the last one.
            let paging = Paging::new(&position, found.matching);
            if paging.offset() != asked {
                found = store
                    .plan_category_page(account_id, plan_id, &query(paging.offset()))
                    .await?;
            }
            let rows = (found.changes.iter())
                .map(|c| ChangeRow::new(c, &selection))
                .collect();
            (Listing::Changes { category, rows }, paging)
        }
        None if summary.plan.skipped.is_empty() => (Listing::Nothing, Paging::new(&position, 0)),
        None => {
            let search = position.search().map(|q| q.to_lowercase());
            let matching: Vec<&Skipped> = (summary.plan.skipped.iter())
                .filter(|s| {
                    search
                        .as_deref()
                        .is_none_or(|q| s.summary.to_lowercase().contains(q))
                })
                .collect();
            let paging = Paging::new(&position, matching.len() as u64);
            let rows = (matching.iter())
                .skip(usize::try_from(paging.offset()).unwrap_or(usize::MAX))
                .take(PER_PAGE as usize)
                .map(|s| SkippedRow::new(s))
                .collect();
            (Listing::Skipped(rows), paging)
        }
    };
    let deletion = summary.plan.deletion_check;
    let mut counts = counts(&state, &page, plan_id, &summary, &selection, open).await?;
    counts.choices = matches!(&listing, Listing::Changes { rows, .. } if !rows.is_empty());
    let view = PlanPage {
        layout: page
            .layout(&state, "Search Now: the plan", "import/azure")
            .await?,
        base: page.path(&format!("/plans/{plan_id}")),
        account_base: page.path(""),
        counts,
        created_at: summary.plan.created_at.date().to_string(),
        run_path: page.path(&format!("/runs/{}", summary.plan.run_id)),
        not_current: not_current(&state, account_id, plan_id).await?,
        search: position.search().unwrap_or_default(),
        listing,
        paging,
        over_limit: deletion.exceeded.then(|| {
            format!(
                "This plan removes {} users and {} groups, more than the deletion limit allows. \
                 Without your confirmation these removals are held and everything else is applied.",
                deletion.user_removals, deletion.group_removals
            )
        }),
    };
    render(&view)
}

/// A plan page's boxes, or a category's select all / none, as its form posts them.
#[derive(Debug, Deserialize)]
struct SelectionForm {
    /// Every change the page shows.
    #[serde(default)]
    shown: Vec<String>,
    /// The shown changes whose box is checked.
    #[serde(default)]
    checked: Vec<String>,
    /// Select all of this category.
    select_all: Option<String>,
    /// Select none of this category.
    select_none: Option<String>,
    /// Where the page was, to go back to.
    category: Option<String>,
    q: Option<String>,
    page: Option<u64>,
    /// A tab pressed on the page: go to this category once the boxes are saved.
    to_category: Option<String>,
    /// The pager pressed on the page: go to this page once the boxes are saved.
    to_page: Option<u64>,
}

fn change_id(text: &str) -> Result<ChangeId, PageError> {
    text.parse().map_err(|_| {
        PageError::bad_request(format!(
            "{text:?} is not a change of this plan. Reload the plan and choose again."
        ))
    })
}

fn category(text: &str) -> Result<Category, PageError> {
    text.parse()
        .map_err(|e: roster_domain::ParseError| PageError::bad_request(e.to_string()))
}

/// The boxes of one page: each shown change, checked or not.
fn page_boxes(shown: &[String], checked: &[String]) -> Result<Vec<(ChangeId, bool)>, PageError> {
    let checked = (checked.iter())
        .map(|id| change_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    shown
        .iter()
        .map(|id| change_id(id).map(|id| (id, checked.contains(&id))))
        .collect()
}

impl SelectionForm {
    fn update(&self) -> Result<SelectionUpdate, PageError> {
        let mut categories = Vec::new();
        if let Some(name) = &self.select_all {
            categories.push((category(name)?, true));
        }
        if let Some(name) = &self.select_none {
            categories.push((category(name)?, false));
        }
        Ok(SelectionUpdate {
            changes: page_boxes(&self.shown, &self.checked)?,
            categories,
        })
    }

    /// Where the browser goes next: the tab or page pressed, else back where it was.
    fn next_position(self) -> Position {
        match (self.to_category, self.to_page) {
            (Some(category), _) => Position {
                category: Some(category),
                ..Position::default()
            },
            (None, to_page) => Position {
                category: self.category,
                q: self.q,
                page: to_page.or(self.page),
            },
        }
    }
}

/// `POST …/plans/{plan}/selection`: records the boxes, then goes back to the page, or to the
/// tab or page pressed (or, for htmx, answers with the counts).
async fn select(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: AdminPage,
    Path((_, plan)): Path<(String, String)>,
    Form(form): Form<SelectionForm>,
) -> PageResult {
    let plan_id = plan_id(&plan)?;
    let account_id = page.account().id;
    state
        .store()
        .record_selection(account_id, plan_id, &form.update()?)
        .await?;
    if is_htmx(&headers) {
        let summary = state.store().plan_summary(account_id, plan_id).await?;
        let selection = state.store().selection(account_id, plan_id).await?;
        let open = form.category.as_deref().and_then(|c| c.parse().ok());
        let mut counts = counts(&state, &page, plan_id, &summary, &selection, open).await?;
        // htmx posts only the form of boxes, which is still on the page.
        counts.choices = true;
        counts.oob = true;
        return render(&counts);
    }
    let next = form.next_position();
    Ok(Redirect::to(&format!(
        "{}{}",
        page.path(&format!("/plans/{plan_id}")),
        next.query(next.page())
    ))
    .into_response())
}

/// Sync Active Directory, posted with the boxes of the page it was pressed on.
#[derive(Debug, Deserialize)]
struct ApplyForm {
    /// The page's changes and which of them are checked, saved before applying.
    #[serde(default)]
    shown: Vec<String>,
    #[serde(default)]
    checked: Vec<String>,
    /// The explicit confirmation that removals over the deletion limit are to be applied.
    confirm_removals: Option<String>,
}

/// `POST …/plans/{plan}/apply` (Sync Active Directory): saves the boxes of the page it was
/// pressed on, so an unchecked box counts even before it was saved, then applies the checked
/// changes and shows the run.
async fn apply(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, plan)): Path<(String, String)>,
    Form(form): Form<ApplyForm>,
) -> PageResult {
    let plan_id = plan_id(&plan)?;
    let boxes = page_boxes(&form.shown, &form.checked)?;
    if !boxes.is_empty() {
        let update = SelectionUpdate {
            changes: boxes,
            categories: Vec::new(),
        };
        (state.store())
            .record_selection(page.account().id, plan_id, &update)
            .await?;
    }
    let request = ApplyRequest {
        plan_id,
        chosen: Chosen::Recorded,
        confirm_removals: form.confirm_removals.is_some(),
    };
    let run_id = tasks::start_apply(&state, &page.scope, request).await?;
    Ok(Redirect::to(&page.path(&format!("/runs/{run_id}"))).into_response())
}

#[derive(Debug, Deserialize)]
struct ExemptForm {
    external_id: String,
}

/// `POST …/plans/{plan}/exemptions` (Exempt from sync, on a skipped object): no plan proposes
/// a change to it again.
async fn exempt(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, plan)): Path<(String, String)>,
    Form(form): Form<ExemptForm>,
) -> PageResult {
    let plan_id = plan_id(&plan)?;
    let external_id: ExternalId = form
        .external_id
        .parse()
        .map_err(|e: roster_domain::ParseError| PageError::bad_request(e.to_string()))?;
    match state
        .store()
        .add_exemption(page.account().id, external_id, &page.scope.caller.actor())
        .await
    {
        Ok(_) | Err(StoreError::AlreadyExempt(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to(&page.path(&format!("/plans/{plan_id}?category={SKIPPED}"))).into_response())
}

/// `GET …/plans/{plan}/plan.csv?category=&q=`: the plan's changes as CSV.
async fn download(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, plan)): Path<(String, String)>,
    Query(position): Query<Position>,
) -> PageResult<Response> {
    let filter = PlanFilter {
        category: position
            .category
            .as_deref()
            .filter(|c| *c != SKIPPED)
            .map(category)
            .transpose()?,
        search: position.search(),
    };
    let export = exports::plan(
        state.store().clone(),
        page.account().id,
        plan_id(&plan)?,
        filter,
    );
    Ok(export.await?)
}
