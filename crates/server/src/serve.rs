//! Serving the router on a listener until shutdown.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{AppState, router, scheduler};

/// Serves until `shutdown` completes, then stops accepting, lets running requests finish and
/// waits for the syncs the API started (at most the configured grace period each).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    with_scheduler: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let scheduler = with_scheduler.then(|| {
        tokio::spawn(scheduler::run(
            state.engine().clone(),
            state.config().clone(),
            stopped,
        ))
    });
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing requests");
            let _ = stop.send(true);
        })
        .await?;
    let grace = state.config().shutdown_grace();
    let left = state.runs().wait(grace).await;
    if left > 0 {
        tracing::warn!(
            left,
            "syncs still running at shutdown were stopped; another process takes them over"
        );
    }
    if let Some(scheduler) = scheduler {
        let _ = tokio::time::timeout(grace, scheduler).await;
    }
    Ok(())
}
