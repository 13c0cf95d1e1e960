//! `roster sim`: serve simulated tenants until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::server::{SimConfig, SimError, Simulator};

/// Arguments of `roster sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address of the login endpoint; Graph and the control API use the next two ports (or
    /// ephemeral ports with port 0).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Users per tenant.
    #[arg(long, default_value_t = 500)]
    pub users: usize,
    /// Groups per tenant.
    #[arg(long, default_value_t = 40)]
    pub groups: usize,
    /// Direct memberships per tenant (default: ten per group).
    #[arg(long)]
    pub memberships: Option<usize>,
    /// Same seed, same tenant.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Number of tenants served, each with its own domains, application and content.
    #[arg(long, default_value_t = 1)]
    pub tenants: usize,
    /// Latency added to every Graph request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction of Graph requests answered with 429, 503 or a dropped connection.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Apply Graph's resource-unit budget per app and tenant.
    #[arg(long)]
    pub throttle: bool,
    /// Age after which delta tokens answer 410, in seconds.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    pub delta_token_max_age_secs: u64,
    /// Load the tenants from this file (if it exists) and save them to it on shutdown.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Serve login and Graph over HTTPS with the loopback certificate in crates/sim/tls
    /// (MSAL only accepts an https authority).
    #[arg(long)]
    pub tls: bool,
}

impl From<SimArgs> for SimConfig {
    fn from(args: SimArgs) -> Self {
        SimConfig {
            listen: args.listen,
            users: args.users,
            groups: args.groups,
            memberships: args.memberships,
            seed: args.seed,
            tenants: args.tenants,
            latency: Duration::from_millis(args.latency_ms),
            fault_rate: args.fault_rate,
            throttle: args.throttle,
            delta_token_max_age: Duration::from_secs(args.delta_token_max_age_secs),
            state_file: args.state,
            tls: args.tls,
        }
    }
}

/// Starts the simulator, prints one JSON line with its URLs and credentials once it listens,
/// and serves until interrupted (SIGINT or SIGTERM), then saves the state file if configured.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let sim = Simulator::start(args.into()).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", sim.announcement())
        .and_then(|()| stdout.flush())
        .map_err(|e| SimError::Serve(format!("cannot print the start-up line: {e}")))?;
    drop(stdout);
    shutdown_signal().await;
    sim.shutdown().await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
