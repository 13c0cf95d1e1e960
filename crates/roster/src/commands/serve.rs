//! `roster serve`: the REST API, and the scheduler unless `--no-scheduler`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use roster_server::{AppState, Config};

use crate::cli::{GlobalArgs, ServeArgs};
use crate::context::Context;

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
    let state = AppState::with_metrics(ctx.engine, config, roster_server::install_metrics());
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{}",
        serde_json::json!({ "url": format!("http://{address}") })
    )
    .and_then(|()| stdout.flush())
    .context("cannot print the start-up line")?;
    drop(stdout);
    roster_server::serve(listener, state, !args.no_scheduler, shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (from a service manager) or Ctrl-C.
async fn shutdown_signal() {
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
