//! `roster sim`: serve simulated tenants until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    /// Serve login and Graph over HTTPS (MSAL only accepts an https authority), with a
    /// certificate and key generated at start-up for localhost, 127.0.0.1 and ::1.
    #[arg(long)]
    pub tls: bool,
    /// With --tls, write the generated certificate (PEM) to this file before the start-up
    /// line is printed: the root a client of this simulator trusts.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub cert_out: Option<PathBuf>,
}

impl From<&SimArgs> for SimConfig {
    fn from(args: &SimArgs) -> Self {
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
            state_file: args.state.clone(),
            tls: args.tls,
        }
    }
}

/// Starts the simulator, prints one JSON line with its URLs and credentials once it listens,
/// and serves until interrupted (SIGINT or SIGTERM), then saves the state file if configured.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let sim = Simulator::start(SimConfig::from(&args)).await?;
    if let (Some(path), Some(pem)) = (&args.cert_out, sim.certificate_pem()) {
        write_certificate(path, pem)?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", sim.announcement())
        .and_then(|()| stdout.flush())
        .map_err(|e| SimError::Serve(format!("cannot print the start-up line: {e}")))?;
    drop(stdout);
    shutdown_signal().await;
    sim.shutdown().await
}

/// Writes through a temporary file, so that a reader never sees half a certificate.
fn write_certificate(path: &Path, pem: &str) -> Result<(), SimError> {
    let failed = |e: std::io::Error| {
        SimError::Serve(format!(
            "cannot write the certificate to {}: {e}",
            path.display()
        ))
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, pem)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(failed)
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
