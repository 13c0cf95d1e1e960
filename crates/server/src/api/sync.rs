//! Search Now, Sync Active Directory and automatic runs (each answering `202` with the run's
//! id at once), runs and their progress, plans and their changes.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_api::{ChangeView, Page, PlanSummaryView, RunView};
use roster_domain::plan::Category;
use roster_domain::{AccountId, ChangeId, PlanId, RunId};
use roster_store::{ChangeQuery, RunProgress};
use roster_sync::{ApplyRequest, Progress, SyncEngine, SyncError};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::{Body, OptionalBody, Query, page_limit};
use crate::auth::{AccountScope, Reader, Writer};
use crate::error::{ApiError, ApiResult, FieldError};

/// A run that was started: read its progress and outcome from `GET …/runs/{run_id}`.
#[derive(Serialize)]
pub struct Started {
    pub run_id: RunId,
}

/// A run with its last recorded progress.
#[derive(Serialize)]
pub struct RunWithProgress {
    #[serde(flatten)]
    pub run: RunView,
    pub progress: RunProgress,
}

/// Starts `work` on the server's pool for the scope's account, as its caller, and answers with
/// the run's id once the run is recorded. The console starts its runs here too.
pub(crate) async fn start<W, F>(
    state: &AppState,
    scope: &AccountScope,
    work: W,
) -> Result<RunId, SyncError>
where
    W: FnOnce(SyncEngine, AccountId, String, Arc<dyn Progress>) -> F,
    F: Future<Output = Result<(), SyncError>> + Send + 'static,
{
    let engine = state.engine().clone();
    let account_id = scope.account.id;
    let actor = scope.caller.actor();
    state
        .runs()
        .start(state.store().clone(), move |progress| {
            work(engine, account_id, actor, progress)
        })
        .await
}

/// `202` with the run's id.
fn accepted(run_id: RunId) -> (StatusCode, Json<Started>) {
    (StatusCode::ACCEPTED, Json(Started { run_id }))
}

/// Starts Search Now for the scope's account: a delta round, or a whole read when `full`.
pub(crate) async fn start_preview(
    state: &AppState,
    scope: &AccountScope,
    full: bool,
) -> Result<RunId, SyncError> {
    start(
        state,
        scope,
        move |engine, account_id, actor, progress| async move {
            engine
                .preview(account_id, full, &actor, &*progress)
                .await
                .map(drop)
        },
    )
    .await
}

#[derive(Deserialize, Default)]
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
    Ok(accepted(start_preview(&state, &scope, full).await?))
}

/// `POST …/sync/run`: the automatic path now (refresh, plan, apply what the settings allow).
pub async fn run_now(
    State(state): State<AppState>,
    Writer(scope): Writer,
) -> ApiResult<(StatusCode, Json<Started>)> {
    let run_id = start(
        &state,
        &scope,
        |engine, account_id, actor, progress| async move {
            engine
                .run_automatic(account_id, &actor, &*progress)
                .await
                .map(drop)
        },
    )
    .await?;
    Ok(accepted(run_id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    /// Changes left unchecked: not applied, and proposed again by the next plan.
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
    let skip = match (&body.skip, &body.only) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "only",
                "give either skip (the changes to leave out) or only (the changes to apply), not both",
            ));
        }
        (Some(skip), None) => change_ids("skip", skip).map_err(ApiError::invalid_fields)?,
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
            all.difference(&only).copied().collect()
        }
        (None, None) => HashSet::new(),
    };
    let request = ApplyRequest {
        plan_id,
        skip,
        confirm_removals: body.confirm_removals,
    };
    let run_id = start(
        &state,
        &scope,
        move |engine, account_id, actor, progress| async move {
            engine
                .apply(account_id, &request, &actor, &*progress)
                .await
                .map(drop)
        },
    )
    .await?;
    Ok(accepted(run_id))
}

fn run_id(text: &str) -> Result<RunId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no run has the id {text:?}")))
}

/// `GET …/runs/{run}`: status, progress, the plan once planned, the report once finished.
pub async fn run(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, run)): Path<(String, String)>,
) -> ApiResult<Json<RunWithProgress>> {
    let (run, progress) = state
        .store()
        .account_run(scope.account.id, run_id(&run)?)
        .await?;
    Ok(Json(RunWithProgress {
        run: RunView::from(&run),
        progress,
    }))
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

#[derive(Deserialize)]
pub struct ChangeListQuery {
    pub category: Option<String>,
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn category(text: &str) -> Result<Category, ApiError> {
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            ApiError::invalid_field("category", format!("expected one of {}", names.join(", ")))
        })
}

/// `GET …/plans/{plan}/changes?category=&q=&limit=&cursor=`: a page of the plan's changes.
pub async fn changes(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, plan)): Path<(String, String)>,
    Query(query): Query<ChangeListQuery>,
) -> ApiResult<Json<Page<ChangeView>>> {
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
    }))
}
