//! The client of one directory connection: how it is built, what it sends, and how each
//! request is budgeted, retried and counted.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::{Bytes, BytesMut};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use roster_domain::ConnectionSettings;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::certificate::ClientCertificate;
use crate::error::GraphError;
use crate::pace::Pace;
use crate::parse::{self, ErrorBody};
use crate::token::{AccessToken, ClientCredential, Credentials, TokenCache, missing_permissions};

/// The largest response body read. A page of 999 users, or a batch of twenty pages of 999
/// members, is a few megabytes; the bound keeps a hostile body from taking the process's memory.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How urgent the requests are, sent as `x-ms-throttle-priority`. Graph throttles Low
/// requests first when a tenant is near its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A person is waiting: a manual preview or a connection test.
    High,
    /// Nobody is waiting: a scheduled sync.
    Low,
}

impl Priority {
    fn header(self) -> &'static str {
        match self {
            Self::High => "High",
            Self::Low => "Low",
        }
    }
}

/// How hard to try before reporting a throttled, failing or unreachable Graph.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Time from the first attempt after which no retry starts.
    pub max_total: Duration,
    /// The first backoff delay when the server gives no `Retry-After`; it doubles, with jitter.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is waited only this long.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            max_total: Duration::from_secs(300),
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn backoff(&self) -> backon::ExponentialBackoff {
        ExponentialBuilder::new()
            .with_jitter()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .build()
    }
}

/// Everything about a client except where it connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub priority: Priority,
    /// The tenant's request budget; a `$batch` spends one per item, as Graph costs it.
    pub requests_per_second: NonZeroU32,
    /// Requests in flight at once.
    pub max_concurrent_requests: usize,
    /// `$batch` requests for group members in flight at once during a full read.
    pub member_batches_in_flight: usize,
    pub retry: RetryPolicy,
    pub request_timeout: Duration,
    /// The most pages one listing or delta round may take: a bound on a server that never
    /// stops sending nextLinks.
    pub max_pages_per_round: u32,
    /// PEM certificates trusted besides the system's roots: a TLS-inspecting proxy's CA, or
    /// the simulated tenant's loopback certificate. Empty for none.
    pub extra_root_certificates_pem: Vec<u8>,
}

impl ClientOptions {
    /// The defaults for a given priority.
    pub fn new(priority: Priority) -> Self {
        Self {
            priority,
            // Graph's documented ceiling for one application across all tenants; the tenant's
            // own, lower limits are met by honouring its Retry-After.
            requests_per_second: NonZeroU32::new(2000).expect("2000 is not zero"),
            max_concurrent_requests: 8,
            member_batches_in_flight: 6,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(100),
            max_pages_per_round: 100_000,
            extra_root_certificates_pem: Vec::new(),
        }
    }
}

/// What a client has sent so far; a run records these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestStats {
    /// HTTP requests to Graph, retries included; a `$batch` counts once.
    pub graph_requests: u64,
    pub token_requests: u64,
    /// Attempts that were repeats of a failed one.
    pub retries: u64,
    /// Responses that were 429, including throttled batch items.
    pub throttled: u64,
}

#[derive(Default)]
struct Counters {
    graph_requests: AtomicU64,
    token_requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

/// A Microsoft Graph client for one connection. Cloning is cheap and shares the token,
/// the budget and the counters.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    credentials: Credentials,
    /// `{graph}/v1.0`, which every path is relative to.
    api_root: Url,
    tokens: TokenCache,
    budget: DefaultDirectRateLimiter,
    pace: Pace,
    slots: Semaphore,
    options: ClientOptions,
    counters: Counters,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = &self.inner.credentials;
        f.debug_struct("GraphClient")
            .field("tenant", &credentials.tenant.to_string())
            .field("client_id", &credentials.client_id.to_string())
            .field("cloud", &credentials.cloud.name())
            .finish_non_exhaustive()
    }
}

/// A request to Graph.
#[derive(Clone, Copy)]
pub(crate) enum Call<'a> {
    Get(&'a Url),
    /// A `$batch` of `items` requests; the envelope's 424 is handed back, not raised.
    Batch {
        body: &'a [u8],
        items: u32,
    },
}

/// A successful (or, for a batch, a 424) response.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
    /// When the request went out: a throttled batch item tells the pace which pace it met.
    pub(crate) sent_at: Instant,
}

/// What one attempt came to.
enum Attempt<T> {
    Done(T),
    Fail(GraphError),
    /// Worth repeating after the server's delay, or a backoff delay if it gave none.
    Retry(Transient, Option<Duration>),
    /// The token was refused: repeat at once with a new one, but only once.
    Reauthenticate(Arc<AccessToken>, GraphError),
}

/// A failure that may clear by itself.
enum Transient {
    Throttled,
    ServerError(u16),
    Network { host: String, detail: String },
}

impl Transient {
    fn reason(&self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::ServerError(_) => "server_error",
            Self::Network { .. } => "network",
        }
    }

    fn into_error(self, path: &str, attempts: u32, waited: Duration) -> GraphError {
        match self {
            Self::Throttled => GraphError::Throttled {
                path: path.to_owned(),
                attempts,
                waited,
            },
            Self::ServerError(status) => GraphError::Unavailable {
                path: path.to_owned(),
                status,
                attempts,
            },
            Self::Network { host, detail } => GraphError::Network { host, detail },
        }
    }
}

impl GraphClient {
    /// A client for a saved connection; `secret` is the client secret's value.
    pub fn new(
        settings: &ConnectionSettings,
        secret: SecretString,
        options: ClientOptions,
    ) -> Result<Self, GraphError> {
        Self::with_credential(settings, ClientCredential::Secret(secret), options)
    }

    /// A client for a saved connection that signs in with `credential`: the secret, or
    /// client assertions signed by its certificates.
    pub fn with_credential(
        settings: &ConnectionSettings,
        credential: ClientCredential,
        options: ClientOptions,
    ) -> Result<Self, GraphError> {
        if matches!(&credential, ClientCredential::Certificates(c) if c.is_empty()) {
            return Err(GraphError::NoValidCertificate { expired_on: None });
        }
        let mut builder = reqwest::Client::builder()
            // A redirect would carry the bearer token to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(options.request_timeout);
        if !options.extra_root_certificates_pem.is_empty() {
            let roots = reqwest::Certificate::from_pem_bundle(&options.extra_root_certificates_pem)
                .map_err(|e| GraphError::ClientSetup {
                    detail: format!("the extra root certificates are not valid PEM: {e}"),
                })?;
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder.build().map_err(|e| GraphError::ClientSetup {
            detail: e.to_string(),
        })?;
        let graph = settings.cloud.graph_url();
        let api_root = Url::parse(&format!("{}/v1.0", graph.as_str().trim_end_matches('/')))
            .map_err(|e| GraphError::ClientSetup {
                detail: format!("the Graph URL {graph} cannot take a path: {e}"),
            })?;
        // Each batch item spends one cell, so the burst must hold a whole batch.
        let burst = options
            .requests_per_second
            .max(NonZeroU32::new(crate::read::BATCH_SIZE).expect("not zero"));
        let budget =
            RateLimiter::direct(Quota::per_second(options.requests_per_second).allow_burst(burst));
        let slots = Semaphore::new(options.max_concurrent_requests.max(1));
        let credentials = Credentials {
            tenant: settings.tenant.clone(),
            client_id: settings.client_id,
            credential,
            cloud: settings.cloud.clone(),
            key_expires_on: settings.key_expires_on,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                credentials,
                api_root,
                tokens: TokenCache::default(),
                budget,
                pace: Pace::new(options.requests_per_second.get()),
                slots,
                options,
                counters: Counters::default(),
            }),
        })
    }

    /// The requests made so far by this client and its clones.
    pub fn stats(&self) -> RequestStats {
        let counters = &self.inner.counters;
        RequestStats {
            graph_requests: counters.graph_requests.load(Ordering::Relaxed),
            token_requests: counters.token_requests.load(Ordering::Relaxed),
            retries: counters.retries.load(Ordering::Relaxed),
            throttled: counters.throttled.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// `{graph}/v1.0{path_and_query}`, for a path such as `/users?$top=999`.
    pub(crate) fn api_url(&self, path_and_query: &str) -> Url {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let mut url = self.inner.api_root.clone();
        url.set_path(&format!("{}{path}", self.inner.api_root.path()));
        url.set_query(query);
        url
    }

    /// `/v1.0`-relative form of an absolute Graph URL, as a `$batch` item needs it.
    pub(crate) fn relative(&self, url: &Url) -> Option<String> {
        let root = self.inner.api_root.as_str().trim_end_matches('/');
        url.as_str()
            .strip_prefix(root)
            .filter(|rest| rest.starts_with('/'))
            .map(str::to_owned)
    }

    /// A link from a response, accepted only if it points at the configured Graph host: the
    /// bearer token is never sent anywhere else.
    pub(crate) fn own_link(
        &self,
        link: &str,
        from: &str,
        location: &str,
    ) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|e| {
            GraphError::protocol(
                from,
                location,
                format!("the link is not an absolute URL ({e})"),
            )
        })?;
        let root = &self.inner.api_root;
        let same_origin = url.scheme() == root.scheme()
            && url.host_str().map(str::to_ascii_lowercase)
                == root.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == root.port_or_known_default();
        if !same_origin {
            return Err(GraphError::protocol(
                from,
                location,
                format!(
                    "the link points to {}, not to the Graph host {}; Roster sends its token only to the Graph host",
                    url.origin().ascii_serialization(),
                    root.origin().ascii_serialization()
                ),
            ));
        }
        Ok(url)
    }

    /// The current access token, fetched if there is none or it is about to expire.
    pub(crate) async fn token(&self) -> Result<Arc<AccessToken>, GraphError> {
        self.inner.tokens.get(self.fetch_token()).await
    }

    /// A token from the secret, or from the first certificate the app registration accepts:
    /// a certificate it does not hold (AADSTS700027) passes the turn to the next one.
    async fn fetch_token(&self) -> Result<AccessToken, GraphError> {
        let mut refused = None;
        for certificate in self.inner.credentials.attempts() {
            match self.fetch_token_with(certificate).await {
                Err(error @ GraphError::CertificateNotUploaded { .. }) => refused = Some(error),
                other => return other,
            }
        }
        Err(refused.unwrap_or(GraphError::NoValidCertificate { expired_on: None }))
    }

    async fn fetch_token_with(
        &self,
        certificate: Option<&ClientCertificate>,
    ) -> Result<AccessToken, GraphError> {
        let credentials = &self.inner.credentials;
        let url = credentials.token_url();
        let path = Url::parse(&url)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| url.clone());
        let (url, path) = (&url, &path);
        self.retrying("token", path, move || async move {
            self.inner
                .counters
                .token_requests
                .fetch_add(1, Ordering::Relaxed);
            // Each attempt signs a new assertion: a retried one would repeat its `jti`.
            let form = match credentials.form(certificate) {
                Ok(form) => form,
                Err(e) => return Attempt::Fail(e),
            };
            let sent = self.inner.http.post(url).form(&form).send().await;
            let fetched_at = Instant::now();
            let (status, retry_after, body) = match self.receive("token", sent, path).await {
                Ok(received) => received,
                Err(attempt) => return attempt,
            };
            match status {
                200 => match parse::token_response(&body) {
                    Ok(grant) => Attempt::Done(AccessToken::new(
                        grant.access_token,
                        grant.expires_in,
                        fetched_at,
                        credentials.describe(certificate),
                    )),
                    Err(e) => Attempt::Fail(GraphError::protocol(path, e.location, e.problem)),
                },
                429 => Attempt::Retry(Transient::Throttled, retry_after),
                500 | 502 | 503 | 504 => {
                    Attempt::Retry(Transient::ServerError(status), retry_after)
                }
                _ => match parse::token_error(&body) {
                    Some(failure) if failure.error == "temporarily_unavailable" => {
                        Attempt::Retry(Transient::ServerError(status), retry_after)
                    }
                    Some(failure) => Attempt::Fail(credentials.explain(failure)),
                    None => Attempt::Fail(GraphError::protocol(
                        path,
                        "the document root",
                        format!("HTTP {status} without an OAuth error body"),
                    )),
                },
            }
        })
        .await
    }

    /// Sends `call`, waiting out throttling and retrying transient failures.
    pub(crate) async fn send(
        &self,
        endpoint: &'static str,
        call: Call<'_>,
    ) -> Result<Reply, GraphError> {
        let (url, cost) = match call {
            Call::Get(url) => (url.clone(), 1),
            Call::Batch { items, .. } => (self.api_url("/$batch"), items.max(1)),
        };
        let path = url.path().to_owned();
        let (url, path) = (&url, &path);
        self.retrying(endpoint, path, move || async move {
            let token = match self.token().await {
                Ok(token) => token,
                Err(e) => return Attempt::Fail(e),
            };
            self.inner.pace.wait(cost).await;
            let cells = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
            // The burst holds a whole batch (see `new`), so this only waits, never refuses.
            let _ = self.inner.budget.until_n_ready(cells).await;
            let Ok(_slot) = self.inner.slots.acquire().await else {
                return Attempt::Fail(GraphError::ClientSetup {
                    detail: "the request limiter was closed".into(),
                });
            };
            let sent_at = Instant::now();
            let request = match call {
                Call::Get(_) => self.inner.http.get(url.as_str()),
                Call::Batch { body, .. } => self
                    .inner
                    .http
                    .post(url.as_str())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_vec()),
            };
            let request = request
                .bearer_auth(token.secret.expose_secret())
                .header(
                    "x-ms-throttle-priority",
                    self.inner.options.priority.header(),
                )
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            self.inner
                .counters
                .graph_requests
                .fetch_add(1, Ordering::Relaxed);
            let (status, retry_after, body) =
                match self.receive(endpoint, request.send().await, path).await {
                    Ok(received) => received,
                    Err(attempt) => return attempt,
                };
            if status == 424 && matches!(call, Call::Batch { .. }) {
                return Attempt::Done(Reply {
                    status,
                    body,
                    sent_at,
                });
            }
            let attempt = self.judge(status, retry_after, body, sent_at, path, token);
            if let Attempt::Retry(Transient::Throttled, retry_after) = &attempt {
                self.pause(sent_at, *retry_after);
            }
            attempt
        })
        .await
    }

    /// What a Graph status means for the request.
    fn judge(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        body: Bytes,
        sent_at: Instant,
        path: &str,
        token: Arc<AccessToken>,
    ) -> Attempt<Reply> {
        if (200..300).contains(&status) {
            return Attempt::Done(Reply {
                status,
                body,
                sent_at,
            });
        }
        if (300..400).contains(&status) {
            return Attempt::Fail(GraphError::protocol(
                path,
                "the Location header",
                format!(
                    "HTTP {status} redirect refused: Roster follows no redirects with its token"
                ),
            ));
        }
        let error = parse::error_body(&body).unwrap_or_default();
        match status {
            429 => return Attempt::Retry(Transient::Throttled, retry_after),
            500 | 502 | 503 | 504 => {
                return Attempt::Retry(Transient::ServerError(status), retry_after);
            }
            _ => {}
        }
        if is_expired_delta(status, &error.code) {
            return Attempt::Fail(GraphError::DeltaExpired {
                status,
                code: Some(error.code).filter(|c| !c.is_empty()),
            });
        }
        match (status, error.code.as_str()) {
            (401, "Authorization_IdentityNotFound") => {
                Attempt::Fail(GraphError::AdminConsentNotGranted)
            }
            (401, _) => Attempt::Reauthenticate(
                token,
                GraphError::TokenRejected {
                    path: path.to_owned(),
                },
            ),
            (403, _) => Attempt::Fail(denied(&token, path)),
            _ => Attempt::Fail(rejected(path, status, error)),
        }
    }

    /// Turns a sent request into its status, `Retry-After` and body, or an attempt outcome,
    /// counting the attempt by its status (or as a network error).
    async fn receive<T>(
        &self,
        endpoint: &'static str,
        sent: Result<reqwest::Response, reqwest::Error>,
        path: &str,
    ) -> Result<(u16, Option<Duration>, Bytes), Attempt<T>> {
        let counted = |status: String| {
            metrics::counter!("roster_graph_requests_total", "endpoint" => endpoint, "status" => status).increment(1)
        };
        let mut response = sent.map_err(|e| {
            counted("network_error".into());
            match certificate_problem(&e) {
                Some(refused) => Attempt::Fail(refused),
                None => Attempt::Retry(network(&e), None),
            }
        })?;
        let status = response.status().as_u16();
        counted(status.to_string());
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse::retry_after(value, SystemTime::now()));
        let mut body = BytesMut::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_BODY_BYTES => {
                    return Err(Attempt::Fail(GraphError::protocol(
                        path,
                        "the body",
                        format!(
                            "the response is larger than {} MiB",
                            MAX_BODY_BYTES / (1024 * 1024)
                        ),
                    )));
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return Err(Attempt::Retry(network(&e), None)),
            }
        }
        Ok((status, retry_after, body.freeze()))
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry policy is spent.
    async fn retrying<T, F: Future<Output = Attempt<T>>>(
        &self,
        endpoint: &'static str,
        path: &str,
        mut attempt: impl FnMut() -> F,
    ) -> Result<T, GraphError> {
        let policy = &self.inner.options.retry;
        let started = Instant::now();
        let mut backoff = policy.backoff();
        let mut attempts = 0;
        let mut reauthenticated = false;
        loop {
            attempts += 1;
            let (transient, server_delay) = match attempt().await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(error) => return Err(error),
                Attempt::Reauthenticate(token, error) => {
                    if reauthenticated {
                        return Err(error);
                    }
                    reauthenticated = true;
                    self.inner.tokens.discard(&token).await;
                    self.count_retry(endpoint, "token_refresh");
                    continue;
                }
                Attempt::Retry(transient, server_delay) => (transient, server_delay),
            };
            if matches!(transient, Transient::Throttled) {
                self.inner
                    .counters
                    .throttled
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!("roster_graph_throttled_total", "endpoint" => endpoint)
                    .increment(1);
            }
            // The server's own delay wins (capped); the backoff still counts the attempt.
            let backoff_delay = backoff.next();
            let delay = match (server_delay, backoff_delay) {
                (_, None) => None,
                (Some(server), Some(_)) => Some(server.min(policy.max_retry_after)),
                (None, Some(computed)) => Some(computed),
            };
            let Some(delay) = delay.filter(|delay| started.elapsed() + *delay <= policy.max_total)
            else {
                tracing::warn!(
                    endpoint,
                    path,
                    attempts,
                    reason = transient.reason(),
                    "giving up on a Graph request"
                );
                return Err(transient.into_error(path, attempts, started.elapsed()));
            };
            tracing::debug!(
                endpoint,
                path,
                attempts,
                reason = transient.reason(),
                ?delay,
                "retrying a Graph request"
            );
            self.count_retry(endpoint, transient.reason());
            tokio::time::sleep(delay).await;
        }
    }

    pub(crate) fn count_retry(&self, endpoint: &'static str, reason: &'static str) {
        self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("roster_graph_retries_total", "endpoint" => endpoint, "reason" => reason)
            .increment(1);
    }

    /// Counts a throttled `$batch` item, which the batch's own status does not show, and slows
    /// the client's pace for it.
    pub(crate) fn throttled_item(&self, sent_at: Instant, retry_after: Option<Duration>) {
        self.inner
            .counters
            .throttled
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("roster_graph_throttled_total", "endpoint" => "batch_item").increment(1);
        self.pause(sent_at, retry_after);
    }

    /// Pauses the whole client after a 429 to a request sent at `sent_at`: for the server's
    /// `Retry-After` (capped as a retry's is), or the first backoff delay if it gave none.
    fn pause(&self, sent_at: Instant, retry_after: Option<Duration>) {
        let policy = &self.inner.options.retry;
        self.inner.pace.throttled(
            sent_at,
            retry_after.map_or(policy.first_delay, |delay| {
                delay.min(policy.max_retry_after)
            }),
        );
    }
}

/// Whether a delta request failed because its token is no longer valid: HTTP 410, or a 4xx
/// naming the sync state (the docs and the service disagree on the casing).
fn is_expired_delta(status: u16, code: &str) -> bool {
    let code = code.to_ascii_lowercase();
    status == 410
        || ((400..500).contains(&status)
            && ["syncstatenotfound", "resyncrequired", "syncstateinvalid"]
                .iter()
                .any(|known| code.contains(known)))
}

/// A 403 in the admin's terms: which permission is missing, read from the token's roles.
pub(crate) fn denied(token: &AccessToken, path: &str) -> GraphError {
    match &token.roles {
        Some(roles) if roles.is_empty() => GraphError::AdminConsentNotGranted,
        Some(roles) => {
            let missing = missing_permissions(roles);
            if missing.is_empty() {
                GraphError::AccessDenied {
                    path: path.to_owned(),
                }
            } else {
                GraphError::MissingPermissions {
                    missing,
                    granted: roles.clone(),
                }
            }
        }
        None => GraphError::AccessDenied {
            path: path.to_owned(),
        },
    }
}

pub(crate) fn rejected(path: &str, status: u16, error: ErrorBody) -> GraphError {
    GraphError::Rejected {
        path: path.to_owned(),
        status,
        code: error.code,
        message: error.message,
        request_id: error.request_id,
    }
}

fn host_of(error: &reqwest::Error) -> String {
    error
        .url()
        .and_then(Url::host_str)
        .unwrap_or("the server")
        .to_owned()
}

/// The certificate the server presented, if that is why the request failed: unknown issuer,
/// expiry or a name mismatch do not clear by themselves, so they are not retried.
fn certificate_problem(error: &reqwest::Error) -> Option<GraphError> {
    use rustls::CertificateError as Problem;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(rustls::Error::InvalidCertificate(problem)) = tls_error(cause) {
            let named = match problem {
                Problem::UnknownIssuer => {
                    "it is not issued by an authority this server trusts (unknown issuer)"
                }
                Problem::Expired | Problem::ExpiredContext { .. } => "it has expired",
                Problem::NotValidYet | Problem::NotValidYetContext { .. } => "it is not valid yet",
                Problem::NotValidForName | Problem::NotValidForNameContext { .. } => {
                    "it is not valid for this host name (name mismatch)"
                }
                Problem::Revoked => "it has been revoked",
                Problem::BadSignature => "its signature does not verify",
                _ => "it did not pass verification",
            };
            return Some(GraphError::Certificate {
                host: host_of(error),
                problem: named,
                detail: problem.to_string(),
            });
        }
        source = cause.source();
    }
    None
}

/// The rustls error `cause` is or wraps. An `io::Error` stands in the chain with the Display of
/// the error it holds but, as `source`, that error's own source: the error itself is reached
/// only by unwrapping.
fn tls_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cause = cause;
    // A bound on the nesting, which no client library comes near.
    for _ in 0..8 {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cause = if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            io.get_ref()?
        } else {
            return None;
        };
    }
    None
}

fn network(error: &reqwest::Error) -> Transient {
    let host = host_of(error);
    // The chain's innermost cause says the most (refused, DNS, TLS); the URL is left out
    // because the host is named separately.
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    Transient::Network { host, detail }
}
