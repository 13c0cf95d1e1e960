//! One measured sync, in a child process: the automatic run, timed, with the process's peak
//! resident memory.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use roster_domain::run::RunStatus;
use roster_domain::{Cloud, ConnectionSettings};
use roster_sim::TenantCredentials;
use roster_sync::{NoProgress, SyncEngine};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::database::{self, FreshDatabase};
use crate::sim::SimProcess;

#[derive(Debug, clap::Args)]
pub struct MeasureArgs {
    /// The store's URL; the database is migrated and holds the benchmark's account.
    #[arg(long)]
    database: String,
}

/// What the child process reports.
#[derive(Debug, Serialize, Deserialize)]
pub struct Measurement {
    /// Graph and token requests, as the run records them.
    pub graph_requests: u64,
    pub wall_s: f64,
    /// CPU time of the syncing process, all threads, user and system: well below `wall_s`
    /// means the sync mostly waited (for Graph, the simulator or the database server).
    pub cpu_s: f64,
    pub peak_rss_mb: f64,
    pub changes_applied: usize,
}

/// An environment variable naming a profiler to run each measured sync under.
const PROFILER_VARIABLE: &str = "ROSTER_BENCH_PROFILER";

/// Runs one sync of `database` against `sim` in a child process and returns its measurement,
/// with the simulator's CPU time meanwhile.
pub async fn spawn(
    database: &FreshDatabase,
    sim: &SimProcess,
) -> anyhow::Result<(Measurement, Duration)> {
    let sim_cpu_before = sim.cpu_time()?;
    let measurement = spawn_child(database, sim).await?;
    Ok((measurement, sim.cpu_time()? - sim_cpu_before))
}

async fn spawn_child(database: &FreshDatabase, sim: &SimProcess) -> anyhow::Result<Measurement> {
    let program = std::env::current_exe()?;
    let mut command = match std::env::var(PROFILER_VARIABLE) {
        // A profiler that runs a program given after its own arguments, e.g. `heaptrack -o
        // /tmp/sync`: only the measured sync is profiled, not the simulator or this program.
        Ok(profiler) if !profiler.trim().is_empty() => {
            let mut words = profiler.split_whitespace();
            let mut command = Command::new(words.next().unwrap_or_default());
            command.args(words).arg(program);
            command
        }
        _ => Command::new(program),
    };
    let mut child = command
        .args(["measure", "--database", &database.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the measuring process")?;
    // The credentials go through a pipe rather than the command line, which any local user
    // can read.
    let mut stdin = child
        .stdin
        .take()
        .context("the measuring process's standard input is not piped")?;
    stdin.write_all(sim.announcement.as_bytes()).await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        bail!("the measured sync failed ({})", output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    // A profiler may print after the measured sync: the measurement is its last JSON line.
    let measurement = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok());
    measurement.with_context(|| format!("unexpected measurement: {stdout}"))
}

/// The child's side: sets the connection up (not measured), then runs and measures the sync.
pub async fn run(args: MeasureArgs) -> anyhow::Result<()> {
    init_tracing();
    let mut announcement = String::new();
    tokio::io::stdin().read_to_string(&mut announcement).await?;
    let credentials: TenantCredentials = serde_json::from_str(announcement.trim())?;
    let store = database::open_store(&args.database).await?;
    let account_id = database::account_id(&store).await?;
    // This process's key is new, so the secret is sealed again under it; the tenant is the
    // same, so the mirror and its delta links are kept.
    store
        .set_connection(
            account_id,
            settings(&credentials)?,
            Some(SecretString::from(credentials.client_secret)),
        )
        .await?;
    let engine = SyncEngine::new(store);

    reset_peak_rss()?;
    let cpu_before = cpu_time("/proc/self/stat")?;
    let started = Instant::now();
    let outcome = engine
        .run_automatic(account_id, "bench", &NoProgress)
        .await?;
    let wall = started.elapsed();
    let cpu = cpu_time("/proc/self/stat")? - cpu_before;
    let peak_rss_mb = peak_rss_mb()?;

    let run = outcome.run;
    if run.status != RunStatus::Succeeded {
        let first_failures: Vec<_> = run
            .failures
            .iter()
            .take(5)
            .map(|f| format!("{}: {}", f.object, f.reason))
            .collect();
        bail!(
            "the sync ended {:?} ({:?}); first failures: {first_failures:?}",
            run.status,
            run.error
        );
    }
    let measurement = Measurement {
        graph_requests: run.graph_requests,
        wall_s: seconds(wall),
        cpu_s: seconds(cpu),
        peak_rss_mb,
        changes_applied: run.counts.values().map(|count| count.applied).sum(),
    };
    println!("{}", serde_json::to_string(&measurement)?);
    Ok(())
}

/// Logs to standard error as the CLI does, filtered by `RUST_LOG` (default: warnings), so
/// that e.g. `RUST_LOG=sqlx=debug` shows every statement the sync runs and how long it took.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The connection the benchmark's account syncs with: the defaults an admin starts from.
pub fn settings(tenant: &TenantCredentials) -> anyhow::Result<ConnectionSettings> {
    let cloud = Cloud::custom(&tenant.login_url, &tenant.graph_url)?;
    Ok(ConnectionSettings::new(
        tenant.tenant.parse()?,
        tenant.client_id.parse()?,
        cloud,
    ))
}

/// Seconds, to the millisecond.
pub fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The CPU time so far, user and system, of the process whose `/proc/<pid>/stat` is at `path`
/// (in clock ticks of 1/100 s, which Linux fixes for user space).
pub fn cpu_time(path: &str) -> anyhow::Result<Duration> {
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {path} (Linux only)"))?;
    // The command name, in parentheses, may hold spaces; the fields after it do not. utime
    // and stime are the 14th and 15th fields, the 12th and 13th after the name.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} has no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
    };
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        bail!("{path} has no utime and stime");
    };
    Ok(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SECOND,
    ))
}

/// Sets the process's peak resident set size (`VmHWM`) to its current size, so that the peak
/// read afterwards is the measured work's, not the set-up's.
fn reset_peak_rss() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("cannot reset the peak RSS (Linux only)")
}

/// The process's peak resident set size, in MiB, to a tenth.
fn peak_rss_mb() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status (Linux only)")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("/proc/self/status has no VmHWM line")?;
    Ok((kib / 1024.0 * 10.0).round() / 10.0)
}
