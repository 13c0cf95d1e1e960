//! `roster serve`: the REST API, the outbox sender with the configuration's mail settings, and
//! the scheduler unless `--no-scheduler`.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use roster_server::{AppState, Config};

use crate::cli::{GlobalArgs, ServeArgs};
use crate::commands::lookup::{self, Listeners};
use crate::context::Context;

/// How often the lookups beside the API look for changed accounts.
const LOOKUP_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

pub async fn run(global: GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let loaded = Config::load(args.config.as_deref(), std::env::vars())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let config = loaded.config;
    let global = GlobalArgs {
        database: global.database.or_else(|| config.database_url.clone()),
        data_dir: global.data_dir,
        run_lease_seconds: global.run_lease_seconds,
    };
    let ctx = Context::open(&global).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("cannot tell which address the server listens on")?;
    let lookups = Listeners {
        socketmap: args.lookup_socketmap,
        socketmap_unix: args.lookup_socketmap_unix,
        http: args.lookup_http,
        recipient_delimiter: args.recipient_delimiter,
        poll_interval: LOOKUP_POLL_INTERVAL,
    };
    let mut started_line = serde_json::Map::new();
    started_line.insert("url".into(), format!("http://{address}").into());
    let lookup_tasks = if lookups.is_empty() {
        None
    } else {
        let started = lookup::start(ctx.store.clone(), &lookups).await?;
        started_line.extend(started.announcement);
        Some(started.tasks)
    };
    let lookup_failed = Arc::new(AtomicBool::new(false));
    let shutdown = {
        let lookup_failed = lookup_failed.clone();
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                () = lookups_stopped(lookup_tasks) => lookup_failed.store(true, Ordering::Relaxed),
            }
        }
    };
    // Mail goes out beside the requests and syncs; several senders may share the outbox.
    let sender = crate::commands::notify::spawn_sender(&ctx, &config)?;
    let state = AppState::with_metrics(ctx.engine, config, roster_server::install_metrics());
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::Value::Object(started_line))
        .and_then(|()| stdout.flush())
        .context("cannot print the start-up line")?;
    drop(stdout);
    let served = roster_server::serve(listener, state, !args.no_scheduler, shutdown).await;
    lookups.remove_unix_socket();
    sender.stop().await;
    served.context("the server stopped with an error")?;
    if lookup_failed.load(Ordering::Relaxed) {
        bail!(
            "a lookup server stopped unexpectedly; the server was stopped with it (see the log above)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Returns when one of the lookup servers stops, which they do only when they fail; never
/// when there are none. Until then it holds them: dropping the set would stop them.
async fn lookups_stopped(tasks: Option<tokio::task::JoinSet<()>>) {
    let Some(mut tasks) = tasks else {
        return std::future::pending().await;
    };
    if let Some(Err(e)) = tasks.join_next().await {
        tracing::error!(error = %e, "a lookup server failed; stopping the server");
    } else {
        tracing::error!("a lookup server stopped unexpectedly; stopping the server");
    }
}

/// SIGTERM (from a service manager) or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stop the server with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
