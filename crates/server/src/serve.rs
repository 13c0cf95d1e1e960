//! Serving the router on a listener until shutdown.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::{AppState, router, scheduler};

/// Serves until `shutdown` completes, then stops as `roster worker` does: no new connections
/// and no new scheduled syncs; running requests finish (event streams end at once); running
/// syncs may finish within the configured grace period, and those still running after it are
/// handed back so that another process runs those accounts at once.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    with_scheduler: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let scheduler = with_scheduler.then(|| {
        tokio::spawn(scheduler::run(
            state.engine().clone(),
            state.config().clone(),
            state.shutting_down(),
        ))
    });
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let stopping = state.clone();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing requests");
            stopping.begin_shutdown();
        })
        .await;
    // Also when serving failed: the scheduler and the syncs stop the same way.
    state.begin_shutdown();
    let handed_back = state
        .runs()
        .stop(state.store(), state.config().shutdown_grace())
        .await;
    if handed_back > 0 {
        tracing::warn!(
            handed_back,
            "syncs started through the API outlasted the grace period and were handed back"
        );
    }
    if let Some(scheduler) = scheduler
        && let Err(e) = scheduler.await
    {
        tracing::error!(error = %e, "the scheduler stopped abnormally");
    }
    served
}
