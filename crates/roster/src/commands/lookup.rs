//! `roster lookup serve`: the mail-flow lookups on their own, over socketmap (TCP and a Unix
//! socket) and HTTP JSON, from a view of the store kept current by polling, and on PostgreSQL
//! at once on each change's NOTIFY. Several may run against one PostgreSQL database.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use roster_lookup::{LookupView, RecipientDelimiter, Socketmap, SocketmapLimits};
use roster_store::Store;
use tokio::net::{TcpListener, UnixListener};

use crate::cli::{LookupCommand, LookupServeArgs};
use crate::context::Context;

pub async fn run(ctx: &Context, command: LookupCommand) -> anyhow::Result<ExitCode> {
    match command {
        LookupCommand::Serve(args) => serve(ctx, args).await,
    }
}

async fn serve(ctx: &Context, args: LookupServeArgs) -> anyhow::Result<ExitCode> {
    let listeners = Listeners {
        socketmap: args.socketmap,
        socketmap_unix: args.socketmap_unix,
        http: args.http,
        recipient_delimiter: args.recipient_delimiter,
        poll_interval: Duration::from_millis(args.poll_interval_ms),
    };
    if listeners.is_empty() {
        bail!("nothing to serve: give --socketmap ADDR, --socketmap-unix PATH or --http ADDR");
    }
    let mut started = start(ctx.store.clone(), &listeners).await?;
    println!("{}", serde_json::Value::Object(started.announcement));

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = started.tasks.join_next() => bail!("a lookup server stopped unexpectedly"),
    }
    listeners.remove_unix_socket();
    Ok(ExitCode::SUCCESS)
}

/// Where the lookups are served: by `roster lookup serve`, and beside the API by `roster serve`.
pub struct Listeners {
    pub socketmap: Option<SocketAddr>,
    pub socketmap_unix: Option<PathBuf>,
    pub http: Option<SocketAddr>,
    pub recipient_delimiter: String,
    pub poll_interval: Duration,
}

impl Listeners {
    pub fn is_empty(&self) -> bool {
        self.socketmap.is_none() && self.socketmap_unix.is_none() && self.http.is_none()
    }

    pub fn remove_unix_socket(&self) {
        if let Some(path) = &self.socketmap_unix {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The lookup servers running, and the addresses they bound (for the start-up line).
pub struct Started {
    pub announcement: serde_json::Map<String, serde_json::Value>,
    pub tasks: tokio::task::JoinSet<()>,
}

/// Binds every listener given, and starts them with the refresher that keeps their view current.
pub async fn start(store: Store, listeners: &Listeners) -> anyhow::Result<Started> {
    let view = Arc::new(LookupView::new(RecipientDelimiter::new(
        &listeners.recipient_delimiter,
    )));
    let socketmap = Socketmap {
        view: view.clone(),
        limits: SocketmapLimits::default(),
    };
    let mut announcement = serde_json::Map::new();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(address) = listeners.socketmap {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for socketmap on {address}"))?;
        let bound = listener.local_addr()?;
        announcement.insert("socketmap".into(), bound.to_string().into());
        tasks.spawn(socketmap.clone().serve_tcp(listener));
    }
    if let Some(path) = &listeners.socketmap_unix {
        let listener = bind_unix(path)?;
        announcement.insert("socketmap_unix".into(), path.display().to_string().into());
        tasks.spawn(socketmap.clone().serve_unix(listener));
    }
    if let Some(address) = listeners.http {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for HTTP on {address}"))?;
        let bound = listener.local_addr()?;
        announcement.insert("lookup_http".into(), format!("http://{bound}").into());
        let router = roster_server::lookup_router(view.clone());
        tasks.spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the lookup HTTP server stopped");
            }
        });
    }
    tasks.spawn(roster_lookup::refresh::keep_current(
        store,
        view,
        listeners.poll_interval,
    ));
    Ok(Started {
        announcement,
        tasks,
    })
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
