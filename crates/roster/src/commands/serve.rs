//! `roster serve`: the REST API, the outbox sender with the configuration's mail settings, and
//! the scheduler unless `--no-scheduler`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
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
    // The lookup servers run until the process ends; dropping the set would stop them.
    let _lookup_tasks = if lookups.is_empty() {
        None
    } else {
        let started = lookup::start(ctx.store.clone(), &lookups).await?;
        started_line.extend(started.announcement);
        Some(started.tasks)
    };
    // Mail goes out beside the requests and syncs; several senders may share the outbox.
    let sender = crate::commands::notify::spawn_sender(&ctx, &config)?;
    let state = AppState::with_metrics(ctx.engine, config, roster_server::install_metrics());
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::Value::Object(started_line))
        .and_then(|()| stdout.flush())
        .context("cannot print the start-up line")?;
    drop(stdout);
    let served = roster_server::serve(listener, state, !args.no_scheduler, shutdown_signal()).await;
    lookups.remove_unix_socket();
    sender.stop().await;
    served.context("the server stopped with an error")?;
    Ok(ExitCode::SUCCESS)
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
