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

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::maps::{Answer, MapName, ReplyLimit};
use crate::netstring;
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
    ///
    /// The requests received are answered from the bytes in hand, every complete one of them
    /// before the replies go out together: a client that sends several at once (pipelining)
    /// gets them in one write. Nothing is allocated per request, and a request that arrives
    /// and is answered at once sets no timer; the idle timer is set once and moved on only
    /// when it fires early.
    pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S) {
        let limits = &self.limits;
        let mut input: Vec<u8> = Vec::with_capacity(READ_SIZE);
        let mut output: Vec<u8> = Vec::with_capacity(READ_SIZE);
        let mut payload: Vec<u8> = Vec::new();
        let mut last_input = Instant::now();
        // Set when the input holds the beginning of a request: it must be complete by then.
        let mut request_deadline: Option<Instant> = None;
        let idle = tokio::time::sleep_until(last_input + limits.idle_timeout);
        tokio::pin!(idle);
        loop {
            let mut used = 0;
            let mut refused = None;
            while used < input.len() {
                match netstring::parse(&input[used..], limits.max_request) {
                    Ok(Some((request, length))) => {
                        self.answer_into(request, &mut payload);
                        netstring::encode(&payload, &mut output);
                        used += length;
                        if output.len() >= FLUSH_SIZE
                            && !write_within(&mut stream, &mut output, limits.request_timeout).await
                        {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        refused = Some(e);
                        break;
                    }
                }
            }
            input.drain(..used);
            if let Some(e) = refused {
                return self.refuse(stream, output, &e).await;
            }
            if !write_within(&mut stream, &mut output, limits.request_timeout).await {
                return;
            }
            if input.is_empty() {
                request_deadline = None;
            } else {
                request_deadline.get_or_insert_with(|| Instant::now() + limits.request_timeout);
            }
            input.reserve(READ_SIZE);
            let read = match request_deadline {
                // A request begun and not finished: rare, so a timer of its own is no cost.
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline, stream.read_buf(&mut input)).await {
                        Ok(read) => read,
                        Err(_) => return,
                    }
                }
                None => loop {
                    tokio::select! {
                        biased;
                        read = stream.read_buf(&mut input) => break read,
                        () = &mut idle => {
                            let until = last_input + limits.idle_timeout;
                            if Instant::now() >= until {
                                return;
                            }
                            idle.as_mut().reset(until);
                        }
                    }
                },
            };
            match read {
                Ok(0) if input.is_empty() => return,
                Ok(0) => return self.refuse(stream, output, &netstring::CLOSED_INSIDE).await,
                Ok(_) => last_input = Instant::now(),
                Err(_) => return,
            }
        }
    }

    /// Answers `PERM` with why the input is not a request, after the replies before it, and
    /// closes the connection: its framing can no longer be trusted.
    async fn refuse<S: AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        mut output: Vec<u8>,
        why: &netstring::ParseError,
    ) {
        netstring::encode(format!("PERM {why}").as_bytes(), &mut output);
        if write_within(&mut stream, &mut output, self.limits.request_timeout).await {
            let _ = stream.shutdown().await;
        }
    }

    /// The reply to one request, without its netstring framing.
    pub fn answer(&self, request: &[u8]) -> String {
        let mut reply = Vec::new();
        self.answer_into(request, &mut reply);
        String::from_utf8_lossy(&reply).into_owned()
    }

    /// Puts the reply to one request, without its netstring framing, in `reply`.
    fn answer_into(&self, request: &[u8], reply: &mut Vec<u8>) {
        reply.clear();
        // Writing to a Vec cannot fail.
        let _ = self.write_answer(request, reply);
    }

    fn write_answer(&self, request: &[u8], reply: &mut Vec<u8>) -> std::io::Result<()> {
        let Ok(request) = std::str::from_utf8(request) else {
            return write!(reply, "PERM the request is not UTF-8");
        };
        let Some((name, key)) = request.split_once(' ') else {
            return write!(reply, "PERM expected a map name, a space and a key");
        };
        let map: MapName = match name.parse() {
            Ok(map) => map,
            Err(unknown) => return write!(reply, "PERM {unknown}"),
        };
        let limit = ReplyLimit::Characters(MAX_REPLY - "OK ".len());
        match self.view.lookup(map, key, limit) {
            Answer::Account(account) => write!(reply, "OK {account}"),
            Answer::Addresses(addresses) => {
                reply.extend_from_slice(b"OK ");
                for (i, address) in addresses.iter().enumerate() {
                    if i > 0 {
                        reply.push(b',');
                    }
                    reply.extend_from_slice(address.as_bytes());
                }
                Ok(())
            }
            Answer::NotFound => write!(reply, "NOTFOUND "),
            Answer::NotReady => write!(reply, "TEMP the directory is still loading"),
            Answer::Changed => write!(
                reply,
                "TEMP the group changed while it was being expanded; try again"
            ),
            Answer::TooLarge { members } => write!(
                reply,
                "PERM the group has {members} members, more than socketmap replies can carry"
            ),
        }
    }
}

/// How much is read at a time; a request from Postfix is well under this.
const READ_SIZE: usize = 4096;

/// Replies to requests sent together go out together, up to this much at a time.
const FLUSH_SIZE: usize = 64 * 1024;

/// Writes out `output` and empties it; `false` when the connection is to be dropped. A client
/// that takes its replies leaves room for them in the socket's buffer, so the write is done at
/// once and no timer is set; one that stops reading them is as gone as one that stops writing,
/// and is given `timeout` to take them.
async fn write_within<S: AsyncWrite + Unpin>(
    stream: &mut S,
    output: &mut Vec<u8>,
    timeout: Duration,
) -> bool {
    let mut written = 0;
    let at_once = std::future::poll_fn(|cx| {
        while written < output.len() {
            match Pin::new(&mut *stream).poll_write(cx, &output[written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(_)) => return Poll::Ready(Err(())),
                Poll::Pending => return Poll::Ready(Ok(false)),
            }
        }
        Poll::Ready(Ok(true))
    })
    .await;
    let done = match at_once {
        Ok(true) => true,
        Ok(false) => matches!(
            tokio::time::timeout(timeout, stream.write_all(&output[written..])).await,
            Ok(Ok(()))
        ),
        Err(()) => false,
    };
    output.clear();
    done
}

/// Accepting fails when the process is out of file descriptors, among other things: wait a
/// moment instead of spinning, and keep serving the connections already open.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accepting a socketmap connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
