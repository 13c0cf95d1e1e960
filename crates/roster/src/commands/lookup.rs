//! `roster lookup serve`: the mail-flow lookups on their own, over socketmap (TCP and a Unix
//! socket) and HTTP JSON, from a view of the store kept current by polling. Several may run
//! against one PostgreSQL database.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use roster_lookup::{LookupView, RecipientDelimiter, Socketmap, SocketmapLimits};
use tokio::net::{TcpListener, UnixListener};

use crate::cli::{LookupCommand, LookupServeArgs};
use crate::context::Context;

pub async fn run(ctx: &Context, command: LookupCommand) -> anyhow::Result<ExitCode> {
    match command {
        LookupCommand::Serve(args) => serve(ctx, args).await,
    }
}

async fn serve(ctx: &Context, args: LookupServeArgs) -> anyhow::Result<ExitCode> {
    if args.socketmap.is_none() && args.socketmap_unix.is_none() && args.http.is_none() {
        bail!("nothing to serve: give --socketmap ADDR, --socketmap-unix PATH or --http ADDR");
    }
    let view = Arc::new(LookupView::new(RecipientDelimiter::new(
        &args.recipient_delimiter,
    )));
    let socketmap = Socketmap {
        view: view.clone(),
        limits: SocketmapLimits::default(),
    };
    let mut announcement = serde_json::Map::new();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(address) = args.socketmap {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for socketmap on {address}"))?;
        let bound = listener.local_addr()?;
        announcement.insert("socketmap".into(), bound.to_string().into());
        tasks.spawn(socketmap.clone().serve_tcp(listener));
    }
    if let Some(path) = &args.socketmap_unix {
        let listener = bind_unix(path)?;
        announcement.insert("socketmap_unix".into(), path.display().to_string().into());
        tasks.spawn(socketmap.clone().serve_unix(listener));
    }
    if let Some(address) = args.http {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for HTTP on {address}"))?;
        let bound = listener.local_addr()?;
        announcement.insert("http".into(), format!("http://{bound}").into());
        let router = roster_server::lookup_router(view.clone());
        tasks.spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the lookup HTTP server stopped");
            }
        });
    }
    tasks.spawn(roster_lookup::refresh::keep_current(
        ctx.store.clone(),
        view,
        Duration::from_millis(args.poll_interval_ms),
    ));
    println!("{}", serde_json::Value::Object(announcement));

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = tasks.join_next() => bail!("a lookup server stopped unexpectedly"),
    }
    if let Some(path) = &args.socketmap_unix {
        let _ = std::fs::remove_file(path);
    }
    Ok(ExitCode::SUCCESS)
}

/// Binds the Unix socket, replacing a socket file left by an earlier run (never another kind
/// of file), readable and writable by its owner and group: Postfix's user must be in it.
fn bind_unix(path: &Path) -> anyhow::Result<UnixListener> {
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if !metadata.file_type().is_socket() {
            bail!(
                "{} exists and is not a socket; remove it or choose another --socketmap-unix path",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot replace the old socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("cannot listen for socketmap on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
    Ok(listener)
}
