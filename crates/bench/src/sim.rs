//! The simulated tenant, served by `roster sim` in a process of its own.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use roster_sim::{ControlClient, TenantCredentials};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The tenant of the benchmark at scale 1.
const USERS: f64 = 100_000.0;
const GROUPS: f64 = 10_000.0;
const MEMBERSHIPS: f64 = 1_000_000.0;

/// How many objects the simulated tenant holds.
#[derive(Debug, Clone, Copy)]
pub struct TenantSize {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
}

impl TenantSize {
    /// The benchmark's tenant, every count multiplied by `scale` (at least one of each).
    pub fn scaled(scale: f64) -> Self {
        let count = |full: f64| ((full * scale).round() as usize).max(1);
        Self {
            users: count(USERS),
            groups: count(GROUPS),
            memberships: count(MEMBERSHIPS),
        }
    }
}

/// How the simulated tenant answers.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    /// Added to every Graph request.
    pub latency_ms: u64,
    /// Whether Graph's resource-unit budget per app and tenant applies.
    pub throttle: bool,
}

/// A running `roster sim`. It is killed when dropped, so a failing benchmark leaves none behind.
pub struct SimProcess {
    child: Child,
    /// The line `roster sim` printed, handed on verbatim to each measured sync.
    pub announcement: String,
    pub credentials: TenantCredentials,
}

impl SimProcess {
    /// Starts `roster sim` on ephemeral loopback ports and waits for its start-up line.
    pub async fn start(
        roster: &Path,
        size: TenantSize,
        seed: u64,
        serving: Serving,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let Serving {
            latency_ms,
            throttle,
        } = serving;
        let mut command = Command::new(roster);
        command
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(["--users", &size.users.to_string()])
            .args(["--groups", &size.groups.to_string()])
            .args(["--memberships", &size.memberships.to_string()])
            .args(["--seed", &seed.to_string()])
            .args(["--latency-ms", &latency_ms.to_string()]);
        if throttle {
            command.arg("--throttle");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} sim", roster.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("the simulator's standard output is not piped")?;
        let Some(announcement) = BufReader::new(stdout).lines().next_line().await? else {
            bail!(
                "the simulator exited before printing its URLs ({})",
                child.wait().await?
            );
        };
        let credentials: TenantCredentials = serde_json::from_str(&announcement)
            .with_context(|| format!("unexpected start-up line: {announcement}"))?;
        eprintln!(
            "simulated tenant: {} users, {} groups, {} memberships, {latency_ms} ms latency{}; generated in {:.1} s",
            size.users,
            size.groups,
            size.memberships,
            if throttle {
                ", Graph's resource-unit budget"
            } else {
                ""
            },
            started.elapsed().as_secs_f64()
        );
        Ok(Self {
            child,
            announcement,
            credentials,
        })
    }

    /// The simulator's CPU time so far: how much of the machine serving Graph took.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let pid = self.child.id().context("the simulator has exited")?;
        crate::measure::cpu_time(&format!("/proc/{pid}/stat"))
    }

    pub fn control(&self) -> ControlClient {
        ControlClient::new(&self.credentials.control_url)
    }

    /// Stops the simulator and waits for it to exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("cannot stop the simulator")
    }
}
