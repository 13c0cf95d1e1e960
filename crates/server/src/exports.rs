//! CSV downloads of a plan and of a run's report, for the API and the console alike, rendered
//! by `roster_api::csv`. A plan is streamed a page of changes at a time, so exporting 100,000
//! changes holds one page in memory, not the plan.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use roster_api::csv;
use roster_domain::plan::Category;
use roster_domain::{AccountId, PlanId, RunId};
use roster_store::{ChangeQuery, Store, StoreError};

/// Changes read from the store per chunk of the download.
const CHANGES_PER_READ: u32 = 1_000;

/// Which of a plan's changes to export.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    pub category: Option<Category>,
    pub search: Option<String>,
}

fn download(body: Body, filename: &str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(csv::CONTENT_TYPE),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// Whether the request asks for CSV (`Accept: text/csv`) rather than JSON.
pub fn wants_csv(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim() == "text/csv")
        })
}

/// One of the account's plans as CSV: a line per change, with its box as the admin left it.
pub async fn plan(
    store: Store,
    account_id: AccountId,
    plan_id: PlanId,
    filter: PlanFilter,
) -> Result<Response, StoreError> {
    let selection = store.selection(account_id, plan_id).await?;
    // The first page is read before answering, so that a failure is the answer, not a cut file.
    let query = move |after| ChangeQuery {
        after,
        limit: CHANGES_PER_READ,
        category: filter.category,
        search: filter.search.clone(),
    };
    let first = store
        .plan_changes_page(account_id, plan_id, &query(None))
        .await?;
    let mut head = csv::plan_header();
    for change in &first.changes {
        head.push_str(&csv::change_line(change, selection.is_checked(change)));
    }
    let rest = futures_util::stream::unfold(first.last_position, move |after| {
        let (store, selection, query) = (store.clone(), selection.clone(), query(after));
        async move {
            query.after?;
            match store.plan_changes_page(account_id, plan_id, &query).await {
                Ok(page) => {
                    let text: String = (page.changes.iter())
                        .map(|c| csv::change_line(c, selection.is_checked(c)))
                        .collect();
                    Some((Ok(Bytes::from(text)), page.last_position))
                }
                Err(e) => {
                    tracing::warn!(plan = %plan_id, error = %e, "a plan's export stopped");
                    Some((Err(e), None))
                }
            }
        }
    });
    let chunks = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, StoreError>(Bytes::from(head)) }),
        rest,
    );
    Ok(download(
        Body::from_stream(chunks),
        &format!("plan-{plan_id}.csv"),
    ))
}

/// One of the account's runs' report as CSV.
pub async fn report(
    store: &Store,
    account_id: AccountId,
    run_id: RunId,
) -> Result<Response, StoreError> {
    let (run, _) = store.account_run(account_id, run_id).await?;
    Ok(download(
        Body::from(csv::run_report(&run)),
        &format!("run-{run_id}.csv"),
    ))
}
