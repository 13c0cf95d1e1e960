//! Sync history and one run: live progress while it runs (server-sent events read by
//! `console.js`; without JavaScript the page refreshes itself every 2 s), then its report per
//! category with each failure and its reason.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use roster_domain::plan::Category;
use roster_domain::run::{Run, RunStatus, Trigger};
use roster_domain::{AccountId, RunId, UserId, console_page};
use roster_store::{RunProgress, StoreError};

use super::layout::Layout;
use super::page::{PageError, PageResult, Path, render};
use super::session::AdminPage;
use crate::{AppState, events, exports};

/// Runs listed in the history.
const HISTORY: u32 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/runs", get(history))
        .route(console_page::RUN, get(show))
        .route("/accounts/{account}/runs/{run}/events", get(run_events))
        .route("/accounts/{account}/runs/{run}/report.csv", get(report))
}

fn run_id(text: &str) -> Result<RunId, PageError> {
    text.parse()
        .map_err(|_| PageError::not_found("There is no such run. Open one from Sync history."))
}

/// What started a run, in the guide's words.
fn trigger(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Preview => "Search Now",
        Trigger::Apply => "Sync Active Directory",
        Trigger::Automatic => "Automatic sync",
    }
}

fn status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "Running",
        RunStatus::Succeeded => "Succeeded",
        RunStatus::Partial => "Partly applied",
        RunStatus::Held => "Removals held",
        RunStatus::Failed => "Failed",
    }
}

/// A run as a row of the history or the head of its page.
struct RunLine {
    path: String,
    started_at: String,
    trigger: &'static str,
    actor: String,
    status: &'static str,
    running: bool,
    planned: usize,
    applied: usize,
    failures: usize,
    duration: String,
    /// A Search Now: it plans, and applies nothing.
    preview: bool,
}

/// How long a run took, as a person says it: "under a second", "3 s", "2 min 5 s".
fn duration(elapsed: time::Duration) -> String {
    let seconds = elapsed.whole_seconds().max(0);
    match (seconds / 60, seconds % 60) {
        (0, 0) => "under a second".to_owned(),
        (0, seconds) => format!("{seconds} s"),
        (minutes, 0) => format!("{minutes} min"),
        (minutes, seconds) => format!("{minutes} min {seconds} s"),
    }
}

/// Who started a run: a signed-in user by their address, anyone else as the run records them.
/// A user removed since keeps the recorded name.
async fn actor(state: &AppState, account_id: AccountId, recorded: &str) -> PageResult<String> {
    let Some(user_id) = (recorded.strip_prefix("user ")).and_then(|id| id.parse::<UserId>().ok())
    else {
        return Ok(recorded.to_owned());
    };
    match state.store().user(account_id, user_id).await {
        Ok(user) => Ok(user.primary_address.to_string()),
        Err(StoreError::UserNotFound(_)) => Ok(recorded.to_owned()),
        Err(e) => Err(e.into()),
    }
}

impl RunLine {
    async fn new(state: &AppState, page: &AdminPage, run: &Run) -> PageResult<Self> {
        let duration =
            (run.finished_at).map_or_else(String::new, |end| duration(end - run.started_at));
        Ok(Self {
            path: page.path(&format!("/runs/{}", run.id)),
            started_at: format!(
                "{} {:02}:{:02}:{:02} UTC",
                run.started_at.date(),
                run.started_at.hour(),
                run.started_at.minute(),
                run.started_at.second()
            ),
            trigger: trigger(run.trigger),
            actor: actor(state, page.account().id, &run.actor).await?,
            status: status(run.status),
            running: run.status == RunStatus::Running,
            planned: run.counts.values().map(|c| c.planned).sum(),
            applied: run.counts.values().map(|c| c.applied).sum(),
            failures: run.failures.len(),
            duration,
            preview: run.trigger == Trigger::Preview,
        })
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct HistoryPage {
    layout: Layout,
    runs: Vec<RunLine>,
}

/// `GET /accounts/{account}/runs`: the history, newest first.
async fn history(State(state): State<AppState>, page: AdminPage) -> PageResult {
    let runs = state.store().list_runs(page.account().id, HISTORY).await?;
    let mut lines = Vec::with_capacity(runs.len());
    for run in &runs {
        lines.push(RunLine::new(&state, &page, run).await?);
    }
    let view = HistoryPage {
        layout: page.layout(&state, "Sync history", "runs").await?,
        runs: lines,
    };
    render(&view)
}

/// Planned and applied changes of one category.
struct CountLine {
    category: &'static str,
    planned: usize,
    applied: usize,
}

impl CountLine {
    /// Planned changes this run did not apply: left unchecked, held, or failed.
    fn not_applied(&self) -> usize {
        self.planned.saturating_sub(self.applied)
    }
}

/// A change that did not apply, and why.
struct FailureLine {
    object: String,
    external_id: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    layout: Layout,
    run: RunLine,
    events: String,
    report_csv: String,
    progress: RunProgress,
    error: Option<String>,
    counts: Vec<CountLine>,
    failures: Vec<FailureLine>,
    /// A finished Search Now's plan, to review and apply.
    plan: Option<String>,
    skipped: usize,
    /// The plan's list of what it left out, and why.
    skipped_list: Option<String>,
}

/// `GET /accounts/{account}/runs/{run}`.
async fn show(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, run)): Path<(String, String)>,
) -> PageResult {
    let run_id = run_id(&run)?;
    let (run, progress) = state.store().account_run(page.account().id, run_id).await?;
    let line = RunLine::new(&state, &page, &run).await?;
    let title = format!("{} · {}", line.trigger, line.status);
    let plan = run
        .plan_id
        .filter(|_| run.trigger == Trigger::Preview && run.status != RunStatus::Running)
        .map(|plan| page.path(&format!("/plans/{plan}")));
    let view = RunPage {
        layout: page.layout(&state, &title, "runs").await?,
        events: format!("{}/events", line.path),
        report_csv: format!("{}/report.csv", line.path),
        run: line,
        progress,
        error: run.error.clone(),
        counts: Category::ALL
            .into_iter()
            .filter_map(|c| {
                let count = run.counts.get(&c)?;
                Some(CountLine {
                    category: c.title(),
                    planned: count.planned,
                    applied: count.applied,
                })
            })
            .collect(),
        failures: (run.failures.iter())
            .map(|f| FailureLine {
                object: f.object.clone(),
                external_id: (f.external_id.as_ref()).map_or_else(String::new, ToString::to_string),
                reason: f.reason.clone(),
            })
            .collect(),
        plan,
        skipped: run.skipped,
        skipped_list: (run.plan_id)
            .filter(|_| run.skipped > 0)
            .map(|plan| page.path(&format!("/plans/{plan}?category=skipped"))),
    };
    render(&view)
}

/// `GET …/runs/{run}/events`: the run's progress as server-sent events.
async fn run_events(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, run)): Path<(String, String)>,
) -> PageResult<Response> {
    let stream = events::run_events(state.store().clone(), page.account().id, run_id(&run)?);
    Ok(stream.await?.into_response())
}

/// `GET …/runs/{run}/report.csv`.
async fn report(
    State(state): State<AppState>,
    page: AdminPage,
    Path((_, run)): Path<(String, String)>,
) -> PageResult<Response> {
    Ok(exports::report(state.store(), page.account().id, run_id(&run)?).await?)
}
