//! Starting and stopping a simulator: configuration, tenant generation or loading, the three
//! listeners (login, Graph, control) and the handle tests hold.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::ControlClient;
use crate::generate::{self, TenantSize};
use crate::tenant::{Settings, Tenant, TenantState, lock};
use crate::tls::TlsListener;
use crate::token::SigningKey;

/// How to build and serve a simulated tenant (or several).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where the login endpoint listens. Graph and the control API listen on the same address,
    /// on the next two ports (or on ephemeral ports when this port is 0).
    pub listen: SocketAddr,
    pub users: usize,
    pub groups: usize,
    /// Total direct memberships; `None` gives about ten per group.
    pub memberships: Option<usize>,
    /// Same seed, same tenant.
    pub seed: u64,
    /// How many tenants to serve; tenant k has its own domains, application and content.
    pub tenants: usize,
    pub latency: Duration,
    pub fault_rate: f64,
    pub throttle: bool,
    pub delta_token_max_age: Duration,
    /// Load the tenants from this file if it exists; save them to it on shutdown and on request.
    pub state_file: Option<PathBuf>,
    /// Serve login and Graph over HTTPS with a certificate generated at start-up (MSAL insists
    /// on an https authority); the control API stays plain HTTP.
    pub tls: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            users: 500,
            groups: 40,
            memberships: None,
            seed: 7,
            tenants: 1,
            latency: Duration::ZERO,
            fault_rate: 0.0,
            throttle: false,
            delta_token_max_age: Duration::from_secs(7 * 24 * 3600),
            state_file: None,
            tls: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    #[error("cannot listen on {address}: {source}. Pick a free port or use port 0.")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read or write the state file {path}: {source}")]
    StateIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the state file {path} is not a saved simulator state ({source}); delete it to generate a fresh tenant"
    )]
    StateFormat {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("no state file was configured; start the simulator with --state FILE to save it")]
    NoStateFile,
    #[error("the simulator stopped unexpectedly: {0}")]
    Serve(String),
}

/// The base URLs of the three surfaces.
#[derive(Debug, Clone)]
pub struct Urls {
    pub login: String,
    pub graph: String,
    pub control: String,
}

impl Urls {
    /// `127.0.0.1:port` of the Graph URL, for the discovery document's `msgraph_host`.
    pub fn graph_host(&self) -> &str {
        self.graph
            .trim_start_matches("https://")
            .trim_start_matches("http://")
    }

    pub fn control_for(&self, tenant_id: &str) -> String {
        format!("{}/tenants/{tenant_id}", self.control)
    }
}

/// State shared by every request handler.
#[derive(Debug)]
pub struct Shared {
    pub tenants: Vec<Arc<Tenant>>,
    pub urls: Urls,
    pub key: SigningKey,
    pub seed: u64,
    pub state_file: Option<PathBuf>,
}

/// What `--state` writes.
#[derive(Serialize, Deserialize)]
struct SavedState {
    seed: u64,
    tenants: Vec<TenantState>,
}

impl Shared {
    pub fn tenant_by_id(&self, tenant_id: &str) -> Option<&Arc<Tenant>> {
        self.tenants
            .iter()
            .find(|t| t.tenant_id.eq_ignore_ascii_case(tenant_id))
    }

    /// Writes every tenant to the state file (through a temporary file, so a crash mid-write
    /// never leaves half a state).
    pub fn save_state(&self) -> Result<PathBuf, SimError> {
        let path = self.state_file.clone().ok_or(SimError::NoStateFile)?;
        let state = SavedState {
            seed: self.seed,
            tenants: self.tenants.iter().map(|t| t.to_state()).collect(),
        };
        let bytes = serde_json::to_vec(&state).map_err(|source| SimError::StateFormat {
            path: path.clone(),
            source,
        })?;
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|source| SimError::StateIo {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }
}

fn load_state(path: &Path) -> Result<Option<SavedState>, SimError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| SimError::StateFormat {
                    path: path.to_owned(),
                    source,
                })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SimError::StateIo {
            path: path.to_owned(),
            source,
        }),
    }
}

/// What a client needs to reach one simulated tenant: the JSON printed by `roster sim`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TenantCredentials {
    pub login_url: String,
    pub graph_url: String,
    pub control_url: String,
    /// The tenant's default verified domain (usable as the tenant in token requests).
    pub tenant: String,
    pub tenant_id: String,
    pub client_id: String,
    /// The secret at start-up; `ControlClient::rotate_secret` issues a new one.
    pub client_secret: String,
}

impl TenantCredentials {
    pub(crate) fn of(tenant: &Tenant, urls: &Urls) -> Self {
        let app = lock(&tenant.app);
        Self {
            login_url: urls.login.clone(),
            graph_url: urls.graph.clone(),
            control_url: urls.control_for(&tenant.tenant_id),
            tenant: tenant.default_domain().to_owned(),
            tenant_id: tenant.tenant_id.clone(),
            client_id: app.client_id.clone(),
            client_secret: app
                .secrets
                .last()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
        }
    }
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Generates (or loads) the tenants and starts serving them on loopback.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), roster_sim::SimError> {
    /// use roster_sim::{SimConfig, Simulator};
    /// let sim = Simulator::start(SimConfig { users: 50, groups: 5, ..SimConfig::default() }).await?;
    /// let tenant = sim.tenant();
    /// println!("token endpoint: {}/{}/oauth2/v2.0/token", tenant.login_url, tenant.tenant);
    /// sim.control().disable_user("some-user-id").await.ok();
    /// # Ok(()) }
    /// ```
    pub async fn start(config: SimConfig) -> Result<RunningSim, SimError> {
        if !(0.0..=1.0).contains(&config.fault_rate) {
            return Err(SimError::InvalidConfig(format!(
                "fault rate {} must be between 0 and 1",
                config.fault_rate
            )));
        }
        if config.tenants == 0 {
            return Err(SimError::InvalidConfig(
                "at least one tenant is needed".to_owned(),
            ));
        }
        let saved = match &config.state_file {
            Some(path) => load_state(path)?,
            None => None,
        };
        let (seed, states) = match saved {
            Some(saved) => (saved.seed, saved.tenants),
            None => {
                let generation = config.clone();
                let states = tokio::task::spawn_blocking(move || generate_tenants(&generation))
                    .await
                    .map_err(|e| SimError::Serve(e.to_string()))?;
                (config.seed, states)
            }
        };
        let tenants = states
            .into_iter()
            .enumerate()
            .map(|(index, state)| Arc::new(Tenant::new(index, seed, state)))
            .collect();

        let login = bind(config.listen).await?;
        let graph = bind(next_port(config.listen, 1)).await?;
        let control = bind(next_port(config.listen, 2)).await?;
        let scheme = if config.tls { "https" } else { "http" };
        let url = |listener: &TcpListener, scheme: &str| {
            listener
                .local_addr()
                .map(|address| format!("{scheme}://{address}"))
                .map_err(|source| SimError::Listen {
                    address: config.listen,
                    source,
                })
        };
        let urls = Urls {
            login: url(&login, scheme)?,
            graph: url(&graph, scheme)?,
            control: url(&control, "http")?,
        };
        let shared = Arc::new(Shared {
            tenants,
            urls,
            key: SigningKey::from_seed(seed),
            seed,
            state_file: config.state_file,
        });

        let (stop, stopped) = watch::channel(false);
        let login_router = crate::token::router(shared.clone());
        let graph_router = crate::graph::router(shared.clone());
        let mut tasks = Vec::with_capacity(3);
        let mut certificate_pem = None;
        if config.tls {
            let tls = crate::tls::generate().map_err(|e| {
                SimError::Serve(format!("cannot generate the loopback TLS certificate: {e}"))
            })?;
            let acceptor = tls.acceptor;
            certificate_pem = Some(tls.certificate_pem);
            tasks.push(spawn_server(
                TlsListener::new(login, acceptor.clone()),
                login_router,
                stopped.clone(),
            ));
            tasks.push(spawn_server(
                TlsListener::new(graph, acceptor),
                graph_router,
                stopped.clone(),
            ));
        } else {
            tasks.push(spawn_server(login, login_router, stopped.clone()));
            tasks.push(spawn_server(graph, graph_router, stopped.clone()));
        }
        tasks.push(spawn_server(
            control,
            crate::control::router(shared.clone()),
            stopped,
        ));
        let credentials = shared
            .tenants
            .iter()
            .map(|t| TenantCredentials::of(t, &shared.urls))
            .collect();
        Ok(RunningSim {
            shared,
            credentials,
            certificate_pem,
            stop,
            tasks,
        })
    }
}

/// Serves `router` on `listener` until `stopped` turns true.
fn spawn_server<L>(
    listener: L,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>>
where
    L: Listener<Addr = SocketAddr>,
{
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
    })
}

fn generate_tenants(config: &SimConfig) -> Vec<TenantState> {
    let size = TenantSize {
        users: config.users,
        groups: config.groups,
        memberships: config.memberships,
    };
    let settings = Settings {
        latency_ms: config.latency.as_millis() as u64,
        fault_rate: config.fault_rate,
        throttle: config.throttle,
        delta_token_max_age_secs: config.delta_token_max_age.as_secs(),
        ..Settings::default()
    };
    (0..config.tenants)
        .map(|index| {
            let mut state = generate::tenant(config.seed, index, size);
            state.settings = settings.clone();
            state
        })
        .collect()
}

async fn bind(address: SocketAddr) -> Result<TcpListener, SimError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| SimError::Listen { address, source })
}

/// With a fixed port P the surfaces use P, P+1 and P+2; with port 0 each gets its own.
fn next_port(requested: SocketAddr, offset: u16) -> SocketAddr {
    let mut address = requested;
    if requested.port() != 0 {
        address.set_port(requested.port().saturating_add(offset));
    }
    address
}

/// A running simulator. Dropping it stops the servers; [`RunningSim::shutdown`] also saves the
/// state file, if one was configured.
#[derive(Debug)]
pub struct RunningSim {
    shared: Arc<Shared>,
    credentials: Vec<TenantCredentials>,
    certificate_pem: Option<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl RunningSim {
    /// Tenant 0's URLs and credentials.
    pub fn tenant(&self) -> &TenantCredentials {
        &self.credentials[0]
    }

    /// Every tenant served, tenant 0 first.
    pub fn tenants(&self) -> &[TenantCredentials] {
        &self.credentials
    }

    pub fn login_url(&self) -> &str {
        &self.shared.urls.login
    }

    pub fn graph_url(&self) -> &str {
        &self.shared.urls.graph
    }

    /// With TLS, the certificate the login and Graph surfaces present (PEM), generated at
    /// start-up: the one root a client of this simulator needs to trust.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Tenant 0's control API base URL.
    pub fn control_url(&self) -> &str {
        &self.credentials[0].control_url
    }

    /// A control client for tenant 0.
    pub fn control(&self) -> ControlClient {
        ControlClient::new(self.control_url())
    }

    /// A control client for tenant `index`, if there is one.
    pub fn control_for(&self, index: usize) -> Option<ControlClient> {
        self.credentials
            .get(index)
            .map(|c| ControlClient::new(&c.control_url))
    }

    /// The line `roster sim` prints: tenant 0's fields, plus a `tenants` array when several
    /// tenants are served.
    pub fn announcement(&self) -> serde_json::Value {
        let mut line = serde_json::to_value(self.tenant()).unwrap_or_default();
        if self.credentials.len() > 1 {
            line["tenants"] = serde_json::to_value(&self.credentials).unwrap_or_default();
        }
        line
    }

    /// Saves every tenant to the configured state file.
    pub fn save_state(&self) -> Result<PathBuf, SimError> {
        self.shared.save_state()
    }

    /// Stops serving (letting requests in flight finish) and saves the state file if configured.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(SimError::Serve(error.to_string())),
                Err(error) => return Err(SimError::Serve(error.to_string())),
            }
        }
        if self.shared.state_file.is_some() {
            self.shared.save_state()?;
        }
        Ok(())
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
