//! Postfix's socketmap protocol (socketmap_table(5)) on TCP and Unix sockets: each request one
//! netstring `NAME <space> KEY`, each reply one netstring `OK <space> DATA`, `NOTFOUND <space>`,
//! `TEMP <space> REASON` or `PERM <space> REASON`, of at most 100,000 characters. A connection
//! carries any number of requests, one after another.
//!
//! What a misbehaving client gets: a request that is not a netstring, or longer than
//! [`SocketmapLimits::max_request`], is answered `PERM` with the reason and the connection
//! closed (its framing can no longer be trusted); a well-framed request that is not
//! `NAME KEY`, or names no map, is answered `PERM` and the connection stays open. A connection
//! idle longer than [`SocketmapLimits::idle_timeout`], or that takes longer than
//! [`SocketmapLimits::request_timeout`] to send one request or to take its reply, is closed.
//! Beyond
//! [`SocketmapLimits::max_connections`] open connections, new ones are closed at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;

use crate::maps::{Answer, MapName, ReplyLimit};
use crate::netstring::{self, ReadError};
use crate::view::LookupView;

/// The longest reply data Postfix's socketmap client accepts, in characters, without the
/// netstring's framing (socketmap_table(5)).
pub const MAX_REPLY: usize = 100_000;

/// How much a connection may ask of the server.
#[derive(Debug, Clone)]
pub struct SocketmapLimits {
    /// The longest request accepted, in bytes. Postfix sends a map name and one address.
    pub max_request: usize,
    /// How long a connection may wait between requests. Postfix's client closes an idle
    /// connection after 10 s (`socketmap_max_idle`), so a longer wait means it is gone.
    pub idle_timeout: Duration,
    /// How long one request may take to arrive once it has begun, and its reply to be taken.
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for SocketmapLimits {
    fn default() -> Self {
        Self {
            max_request: 4096,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

/// What the socketmap server answers from.
#[derive(Debug, Clone)]
pub struct Socketmap {
    pub view: Arc<LookupView>,
    pub limits: SocketmapLimits,
}

impl Socketmap {
    /// Serves connections accepted on `listener` until the task is dropped.
    pub async fn serve_tcp(self, listener: TcpListener) {
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let server = Arc::new(self);
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    // Replies are written whole; Nagle's delay would hold each one back.
                    let _ = stream.set_nodelay(true);
                    server.clone().spawn_connection(stream, &permits);
                }
                Err(e) => accept_failed(e).await,
            }
        }
    }

    /// Serves connections accepted on a Unix socket until the task is dropped.
    pub async fn serve_unix(self, listener: UnixListener) {
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let server = Arc::new(self);
        loop {
            match listener.accept().await {
                Ok((stream, _)) => server.clone().spawn_connection(stream, &permits),
                Err(e) => accept_failed(e).await,
            }
        }
    }

    fn spawn_connection<S>(self: Arc<Self>, stream: S, permits: &Arc<Semaphore>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(
                max = self.limits.max_connections,
                "socketmap connection refused: too many open connections"
            );
            return;
        };
        tokio::spawn(async move {
            self.serve_connection(stream).await;
            drop(permit);
        });
    }

    /// Answers requests on one connection until the client closes it or misbehaves.
    pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) {
        let (read, mut write) = tokio::io::split(stream);
        let mut reader = BufReader::new(read);
        let mut reply = Vec::new();
        loop {
            match tokio::time::timeout(
                self.limits.idle_timeout,
                netstring::wait_for_input(&mut reader),
            )
            .await
            {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) | Ok(Err(_)) | Err(_) => return,
            }
            let request = tokio::time::timeout(
                self.limits.request_timeout,
                netstring::read(&mut reader, self.limits.max_request),
            )
            .await;
            reply.clear();
            let keep_open = match request {
                Err(_) => return,
                Ok(Ok(request)) => {
                    netstring::encode(self.answer(&request).as_bytes(), &mut reply);
                    true
                }
                Ok(Err(ReadError::Closed | ReadError::Io(_))) => return,
                Ok(Err(e)) => {
                    netstring::encode(format!("PERM {e}").as_bytes(), &mut reply);
                    false
                }
            };
            // A client that stops reading its replies is as gone as one that stops writing.
            let written =
                tokio::time::timeout(self.limits.request_timeout, write.write_all(&reply)).await;
            if !matches!(written, Ok(Ok(()))) || !keep_open {
                let _ = write.shutdown().await;
                return;
            }
        }
    }

    /// The reply to one request, without its netstring framing.
    pub fn answer(&self, request: &[u8]) -> String {
        let Ok(request) = std::str::from_utf8(request) else {
            return "PERM the request is not UTF-8".to_owned();
        };
        let Some((name, key)) = request.split_once(' ') else {
            return "PERM expected a map name, a space and a key".to_owned();
        };
        let map: MapName = match name.parse() {
            Ok(map) => map,
            Err(unknown) => return format!("PERM {unknown}"),
        };
        let limit = ReplyLimit::Characters(MAX_REPLY - "OK ".len());
        match self.view.lookup(map, key, limit) {
            Answer::Account(account) => format!("OK {account}"),
            Answer::Addresses(addresses) => format!("OK {}", addresses.join(",")),
            Answer::NotFound => "NOTFOUND ".to_owned(),
            Answer::NotReady => "TEMP the directory is still loading".to_owned(),
            Answer::Changed => {
                "TEMP the group changed while it was being expanded; try again".to_owned()
            }
            Answer::TooLarge { members } => format!(
                "PERM the group has {members} members, more than socketmap replies can carry"
            ),
        }
    }
}

/// Accepting fails when the process is out of file descriptors, among other things: wait a
/// moment instead of spinning, and keep serving the connections already open.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accepting a socketmap connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
