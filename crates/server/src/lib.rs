//! `roster serve`: the HTTP edge of Roster. It owns HTTP — routing, sign-in, sessions and
//! cookies, CSRF, API tokens, problem details, health and metrics — and nothing else: every
//! request becomes a call into the store or the sync engine, which hold the SQL and the rules.
//!
//! [`router`] builds the whole application from an [`AppState`]; the binary only binds it to a
//! listener ([`serve`]), and tests call it in-process.

pub mod api;
pub mod auth;
pub mod config;
pub mod console;
pub mod error;
mod events;
mod exports;
mod health;
mod input;
mod lookup;
pub mod openapi;
pub mod routes;
pub mod scheduler;
mod serve;
pub mod tasks;

use std::sync::Arc;

use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusHandle};
use roster_store::Store;
use roster_sync::SyncEngine;
use tokio::sync::watch;

pub use config::Config;
pub use lookup::lookup_router;
pub use serve::serve;

/// What every request handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: SyncEngine,
    config: Config,
    limits: auth::LoginLimits,
    runs: tasks::RunPool,
    metrics: Option<PrometheusHandle>,
    /// Turns true once when the server begins to shut down.
    shutdown: watch::Sender<bool>,
}

impl AppState {
    pub fn new(engine: SyncEngine, config: Config) -> Self {
        Self::build(engine, config, None)
    }

    /// Serves `/metrics` from this Prometheus recorder (see [`install_metrics`]).
    pub fn with_metrics(engine: SyncEngine, config: Config, metrics: PrometheusHandle) -> Self {
        Self::build(engine, config, Some(metrics))
    }

    fn build(engine: SyncEngine, config: Config, metrics: Option<PrometheusHandle>) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits: auth::LoginLimits::new(&config),
                runs: tasks::RunPool::default(),
                engine,
                config,
                metrics,
                shutdown: watch::Sender::new(false),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        self.inner.engine.store()
    }

    pub fn engine(&self) -> &SyncEngine {
        &self.inner.engine
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn runs(&self) -> &tasks::RunPool {
        &self.inner.runs
    }

    /// Tells everything that waits on [`AppState::shutting_down`] that the server is stopping.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Completes once the server begins to shut down (at once if it already has).
    pub fn shutting_down(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopping = self.inner.shutdown.subscribe();
        async move {
            // The sender lives as long as the state that this receiver came from.
            let _ = stopping.wait_for(|stopping| *stopping).await;
        }
    }

    pub(crate) fn limits(&self) -> &auth::LoginLimits {
        &self.inner.limits
    }

    pub(crate) fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }
}

/// The whole application: health, metrics, sign-in, the console and the REST API.
pub fn router(state: AppState) -> Router {
    routes::build(state)
}

/// Bucket bounds (seconds) of the histograms: requests take milliseconds, syncs minutes.
const REQUEST_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
const RUN_SECONDS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Installs the process-wide Prometheus recorder the first time, and returns its handle every
/// time: the `metrics::counter!` calls across Roster record into it.
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("roster_http_request_seconds".to_owned()),
                    REQUEST_SECONDS,
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("roster_run_duration_seconds".to_owned()),
                        RUN_SECONDS,
                    )
                })
                .expect("the bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder installed first (a test's) keeps recording; this handle then
            // renders an empty page rather than failing the server.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
