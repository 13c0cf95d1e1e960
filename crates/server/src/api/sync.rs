//! Search Now, Sync Active Directory and automatic runs (each answering `202` with the run's
//! id at once), runs and their progress, plans and their changes.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_api::{ChangeView, Page, PlanSummaryView, RunView};
use roster_domain::plan::Category;
use roster_domain::{ChangeId, PlanId, RunId};
use roster_store::{ChangeQuery, RunProgress};
use roster_sync::{ApplyRequest, Chosen, SyncError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{Body, OptionalBody, Path, Query, page_limit};
use crate::auth::{AccountScope, Reader, Writer};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::exports::{self, PlanFilter};
use crate::{AppState, events, tasks};

/// A run that was started: read its progress and outcome from `GET …/runs/{run_id}`.
#[derive(Serialize, ToSchema)]
pub struct Started {
    pub run_id: RunId,
}

/// A run with its last recorded progress.
#[derive(Serialize, ToSchema)]
pub struct RunWithProgress {
    #[serde(flatten)]
    pub run: RunView,
    pub progress: RunProgress,
}

/// Answers `202` with the id of a run that `started` recorded.
async fn accepted(
    started: impl Future<Output = Result<RunId, SyncError>>,
) -> ApiResult<(StatusCode, Json<Started>)> {
    let run_id = started.await?;
    Ok((StatusCode::ACCEPTED, Json(Started { run_id })))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// Read the whole directory instead of the changes since the last round (an empty body
    /// asks for the usual delta round).
    #[serde(default)]
    pub full: bool,
}

/// `POST …/sync/preview` (Search Now): refreshes the mirror and stores a plan; `202`.
pub async fn preview(
    State(state): State<AppState>,
    Writer(scope): Writer,
    OptionalBody(PreviewBody { full }): OptionalBody<PreviewBody>,
) -> ApiResult<(StatusCode, Json<Started>)> {
    accepted(tasks::start_preview(&state, &scope, full)).await
}

/// `POST …/sync/run`: the automatic path now (refresh, plan, apply what the settings allow).
pub async fn run_now(
    State(state): State<AppState>,
    Writer(scope): Writer,
) -> ApiResult<(StatusCode, Json<Started>)> {
    accepted(tasks::start_automatic(&state, &scope)).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    /// Changes left unchecked: not applied, and proposed again by the next plan. Without
    /// `skip` or `only`, the changes checked in the console are applied (every change, unless
    /// some were unchecked there).
    pub skip: Option<Vec<String>>,
    /// Only these changes are applied (instead of `skip`).
    pub only: Option<Vec<String>>,
    /// Apply removals over the deletion limit.
    #[serde(default)]
    pub confirm_removals: bool,
}

fn change_ids(field: &str, ids: &[String]) -> Result<HashSet<ChangeId>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut parsed = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        match id.parse::<ChangeId>() {
            Ok(id) => {
                parsed.insert(id);
            }
            Err(e) => errors.push(FieldError {
                field: format!("{field}[{i}]"),
                detail: e.to_string(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

fn plan_id(text: &str) -> Result<PlanId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no plan has the id {text:?}")))
}

/// `POST …/plans/{plan}/apply` (Sync Active Directory): applies the plan's checked changes
/// once; `202`.
pub async fn apply(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Path((_, plan)): Path<(String, String)>,
    Body(body): Body<ApplyBody>,
) -> ApiResult<(StatusCode, Json<Started>)> {
    let plan_id = plan_id(&plan)?;
    let chosen = match (&body.skip, &body.only) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "only",
                "give either skip (the changes to leave out) or only (the changes to apply), not both",
            ));
        }
        (Some(skip), None) => {
            Chosen::AllBut(change_ids("skip", skip).map_err(ApiError::invalid_fields)?)
        }
        (None, Some(only)) => {
            let only = change_ids("only", only).map_err(ApiError::invalid_fields)?;
            let all: HashSet<ChangeId> = state
                .store()
                .plan_change_ids(scope.account.id, plan_id)
                .await?
                .into_iter()
                .collect();
            let unknown: Vec<FieldError> = only
                .difference(&all)
                .map(|id| FieldError {
                    field: "only".to_owned(),
                    detail: format!("the plan has no change with the id {id}"),
                })
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::invalid_fields(unknown));
            }
            Chosen::AllBut(all.difference(&only).copied().collect())
        }
        (None, None) => Chosen::Recorded,
    };
    let request = ApplyRequest {
        plan_id,
        chosen,
        confirm_removals: body.confirm_removals,
    };
    accepted(tasks::start_apply(&state, &scope, request)).await
}

fn run_id(text: &str) -> Result<RunId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no run has the id {text:?}")))
}

/// `GET …/runs/{run}`: status, progress, the plan once planned, the report once finished;
/// with `Accept: text/csv`, the report as CSV.
pub async fn run(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, run)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let run_id = run_id(&run)?;
    if exports::wants_csv(&headers) {
        return Ok(exports::report(state.store(), scope.account.id, run_id).await?);
    }
    let (run, progress) = state.store().account_run(scope.account.id, run_id).await?;
    Ok(Json(RunWithProgress {
        run: RunView::from(&run),
        progress,
    })
    .into_response())
}

/// `GET …/runs/{run}/report.csv`: the run's report as CSV, for a link or a client that cannot
/// set `Accept`.
pub async fn report_csv(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, run)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(exports::report(state.store(), scope.account.id, run_id(&run)?).await?)
}

/// `GET …/runs/{run}/events`: the run's progress as server-sent events, then its final status.
pub async fn run_events(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, run)): Path<(String, String)>,
) -> ApiResult<Response> {
    let events = events::run_events(state.store().clone(), scope.account.id, run_id(&run)?).await?;
    Ok(events.into_response())
}

/// `GET …/runs`: the account's runs, newest first.
pub async fn runs(
    State(state): State<AppState>,
    Reader(scope): Reader,
) -> ApiResult<Json<Vec<RunView>>> {
    let runs = state.store().list_runs(scope.account.id, 100).await?;
    Ok(Json(runs.iter().map(RunView::from).collect()))
}

/// `GET …/plans/{plan}`: the summary, with counts per category.
pub async fn plan(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, plan)): Path<(String, String)>,
) -> ApiResult<Json<PlanSummaryView>> {
    let summary = state
        .store()
        .plan_summary(scope.account.id, plan_id(&plan)?)
        .await?;
    let counts: BTreeMap<&'static str, usize> = summary
        .counts
        .iter()
        .map(|(category, n)| (category.as_str(), *n))
        .collect();
    Ok(Json(PlanSummaryView::new(
        &summary.plan,
        summary.applied_at,
        counts,
    )))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeListQuery {
    /// Only changes of this category.
    #[param(value_type = Option<Category>)]
    pub category: Option<String>,
    /// Part of a change's summary or directory id, case-insensitive.
    pub q: Option<String>,
    /// Changes per page, 1 to 500 (100 when left out); not used by CSV.
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`: the page starts after it; not used by CSV.
    pub cursor: Option<String>,
}

fn category(text: &str) -> Result<Category, ApiError> {
    text.parse().map_err(|e| ApiError::parse("category", &e))
}

/// `GET …/plans/{plan}/changes?category=&q=&limit=&cursor=`: a page of the plan's changes;
/// with `Accept: text/csv`, every change the category and `q` select, as CSV.
pub async fn changes(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, plan)): Path<(String, String)>,
    Query(query): Query<ChangeListQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if exports::wants_csv(&headers) {
        return plan_csv(&state, &scope, &plan, query).await;
    }
    let limit = page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<u64>().map_err(|_| {
                ApiError::invalid_field("cursor", "give the next_cursor of the previous page")
            })
        })
        .transpose()?;
    let category = query.category.as_deref().map(category).transpose()?;
    let page = state
        .store()
        .plan_changes_page(
            scope.account.id,
            plan_id(&plan)?,
            &ChangeQuery {
                after,
                limit,
                category,
                search: query.q,
            },
        )
        .await?;
    Ok(Json(Page {
        items: page.changes.iter().map(ChangeView::from).collect(),
        next_cursor: page.last_position.map(|p| p.to_string()),
    })
    .into_response())
}

/// `GET …/plans/{plan}/changes.csv?category=&q=`: every change the category and `q` select, as
/// CSV, for a link or a client that cannot set `Accept`.
pub async fn changes_csv(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, plan)): Path<(String, String)>,
    Query(query): Query<ChangeListQuery>,
) -> ApiResult<Response> {
    plan_csv(&state, &scope, &plan, query).await
}

/// The plan's changes as CSV; `limit` and `cursor` do not apply (the file holds them all).
async fn plan_csv(
    state: &AppState,
    scope: &AccountScope,
    plan: &str,
    query: ChangeListQuery,
) -> ApiResult<Response> {
    let filter = PlanFilter {
        category: query.category.as_deref().map(category).transpose()?,
        search: query.q,
    };
    let export = exports::plan(
        state.store().clone(),
        scope.account.id,
        plan_id(plan)?,
        filter,
    );
    Ok(export.await?)
}
