//! `roster-bench`: how long a sync takes and how much memory it needs, against a simulated
//! tenant of 100,000 users, 10,000 groups and 1,000,000 memberships.
//!
//! The simulated tenant runs in its own process (`roster sim`), so that its CPU and memory are
//! not counted as Roster's. Each measured sync runs in a child process of this program (the
//! hidden `measure` command) through the same library calls the CLI makes
//! (`SyncEngine::run_automatic`), so that its peak resident memory is its own and not what an
//! earlier scenario left behind in the allocator. Each scenario prints one JSON line.

mod changes;
mod database;
mod lookup;
mod measure;
mod server;
mod sim;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use serde::Serialize;

use crate::database::FreshDatabase;
use crate::measure::Measurement;
use crate::sim::{Serving, SimProcess, TenantSize};

#[derive(Debug, Parser)]
#[command(
    name = "roster-bench",
    about = "Benchmarks of Roster's sync against a simulated tenant"
)]
enum Cli {
    /// Every scenario, on every store.
    All(Options),
    /// The first sync: refresh, plan and apply everything.
    Full(Options),
    /// The sync after the first, when nothing changed.
    Noop(Options),
    /// The sync after 1% of users and 1% of groups changed.
    Delta1(Options),
    /// The first sync with simulated latency on every Graph request.
    Latency(Options),
    /// Mail-flow lookups after a full sync: the view's build time and memory, socketmap
    /// lookups per second and latency at 1 and 16 connections, taking in a 1% change, and
    /// `postmap -q -` over a `hash:` table against Roster's socketmap (needs Postfix). Runs on
    /// the first of --stores.
    Lookup(Options),
    /// The REST API of an in-process `roster serve` on loopback after a full sync: p50/p99
    /// latency and requests per second of a users page, pages of a large plan's changes and a
    /// run's status, and the time from Search Now to its 202. Runs on each of --stores.
    Server(ServerOptions),
    /// Runs one sync and prints its measurement (used by the commands above; the tenant's
    /// credentials come on standard input).
    #[command(hide = true)]
    Measure(measure::MeasureArgs),
}

#[derive(Debug, Clone, clap::Args)]
struct Options {
    /// Shrinks (or grows) the tenant proportionally, e.g. 0.01 for a quick run.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Seed of the simulated tenant: the same seed gives the same tenant.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Stores to run on.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [StoreKind::Sqlite, StoreKind::Postgres])]
    stores: Vec<StoreKind>,
    /// A PostgreSQL server where the benchmark may create (and afterwards drop) a database per
    /// store it measures.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Latency added to every Graph request in the latency scenario, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Makes the simulated tenant apply Graph's resource-unit budget per app and tenant
    /// (8,000 units per 10 seconds for a tenant of more than 500 users), answering 429 with
    /// Retry-After past it, as Graph does. Off by default: the budget, not Roster, then sets
    /// how long a first sync reads.
    #[arg(long)]
    throttle: bool,
    /// Measures each scenario this many times and prints a line for each: to compare builds on
    /// a noisy machine, or to see the spread. A first sync starts from a fresh store each time,
    /// a delta sync from a copy of the same database against the same changed tenant.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// The `roster` binary that serves the simulated tenant. Default: next to this program
    /// (build both with `cargo build --release -p roster -p roster-bench`).
    #[arg(long, value_name = "PATH")]
    roster: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
struct ServerOptions {
    #[command(flatten)]
    options: Options,
    /// Changes in the plan whose pages are read, whatever the tenant's size.
    #[arg(long, default_value_t = 100_000)]
    plan_changes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Full,
    Noop,
    Delta1,
    Latency,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Noop => "noop",
            Self::Delta1 => "delta1",
            Self::Latency => "latency",
        }
    }
}

/// One scenario's result: the line the benchmark prints.
#[derive(Debug, Serialize)]
struct Report {
    scenario: &'static str,
    store: &'static str,
    users: usize,
    groups: usize,
    memberships: usize,
    graph_requests: u64,
    wall_s: f64,
    peak_rss_mb: f64,
    /// CPU time of the syncing process (see [`Measurement::cpu_s`]).
    cpu_s: f64,
    /// CPU time of the simulator meanwhile: on a machine with few cores, it competes with the
    /// sync for them.
    sim_cpu_s: f64,
    /// Changes the sync applied: shows that it did the work the scenario is about.
    changes_applied: usize,
    /// Time spent changing the tenant through the simulator before a delta sync; not part of
    /// `wall_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_changes_s: Option<f64>,
    /// Which of the `--repeat` measurements of the scenario this is, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<u32>,
}

impl Report {
    fn new(
        scenario: Scenario,
        store: StoreKind,
        size: TenantSize,
        (measured, sim_cpu): (Measurement, Duration),
    ) -> Self {
        Self {
            scenario: scenario.name(),
            store: store.name(),
            users: size.users,
            groups: size.groups,
            memberships: size.memberships,
            graph_requests: measured.graph_requests,
            wall_s: measured.wall_s,
            peak_rss_mb: measured.peak_rss_mb,
            cpu_s: measured.cpu_s,
            sim_cpu_s: measure::seconds(sim_cpu),
            changes_applied: measured.changes_applied,
            tenant_changes_s: None,
            run: None,
        }
    }

    /// Numbers the report as measurement `run` of `repeat`; a single measurement carries no
    /// number.
    fn numbered(self, run: u32, repeat: u32) -> Self {
        Self {
            run: (repeat > 1).then_some(run),
            ..self
        }
    }

    fn print(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(self)?);
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    // The measured sync runs in this program: its allocator is set up as `roster`'s is.
    roster_sync::use_one_allocator_arena();
    tokio::runtime::Runtime::new()?.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (scenarios, options) = match cli {
        Cli::All(options) => (
            vec![
                Scenario::Full,
                Scenario::Noop,
                Scenario::Delta1,
                Scenario::Latency,
            ],
            options,
        ),
        Cli::Full(options) => (vec![Scenario::Full], options),
        Cli::Noop(options) => (vec![Scenario::Noop], options),
        Cli::Delta1(options) => (vec![Scenario::Delta1], options),
        Cli::Latency(options) => (vec![Scenario::Latency], options),
        Cli::Measure(args) => return measure::run(args).await,
        Cli::Lookup(options) => return Bench::new(options)?.lookup().await,
        Cli::Server(server) => {
            return Bench::new(server.options)?
                .server(server.plan_changes)
                .await;
        }
    };
    let bench = Bench::new(options)?;
    if scenarios
        .iter()
        .any(|s| matches!(s, Scenario::Full | Scenario::Noop | Scenario::Delta1))
    {
        bench.sequence(&scenarios).await?;
    }
    if scenarios.contains(&Scenario::Latency) {
        bench.latency().await?;
    }
    Ok(())
}

struct Bench {
    options: Options,
    size: TenantSize,
    roster: PathBuf,
}

impl Bench {
    fn new(options: Options) -> anyhow::Result<Self> {
        anyhow::ensure!(options.scale > 0.0, "--scale must be positive");
        anyhow::ensure!(!options.stores.is_empty(), "give at least one store");
        let roster = match &options.roster {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("roster"),
        };
        anyhow::ensure!(
            roster.is_file(),
            "{} not found: build it with `cargo build --release -p roster -p roster-bench`, or pass --roster PATH",
            roster.display()
        );
        Ok(Self {
            size: TenantSize::scaled(options.scale),
            options,
            roster,
        })
    }

    fn serving(&self, latency_ms: u64) -> Serving {
        Serving {
            latency_ms,
            throttle: self.options.throttle,
        }
    }

    /// The first sync, the no-op sync and the 1% delta sync, one after the other on the same
    /// store per backend. Every store syncs the same tenant, which is changed once between the
    /// no-op and the delta scenarios. Noop and delta need the first sync done, so it always
    /// runs; it is printed (and repeated) only when asked for.
    async fn sequence(&self, scenarios: &[Scenario]) -> anyhow::Result<()> {
        let sim =
            SimProcess::start(&self.roster, self.size, self.options.seed, self.serving(0)).await?;
        let repeat = self.options.repeat;
        let full_runs = if scenarios.contains(&Scenario::Full) {
            repeat
        } else {
            1
        };
        let mut stores = Vec::new();
        for &kind in &self.options.stores {
            // Each first sync starts from a fresh store; the last one's store goes on to the
            // later scenarios.
            for run in 1..=full_runs {
                let database = FreshDatabase::create(kind, &self.options.postgres, &sim).await?;
                let measured = measure::spawn(&database, &sim).await?;
                if scenarios.contains(&Scenario::Full) {
                    Report::new(Scenario::Full, kind, self.size, measured)
                        .numbered(run, repeat)
                        .print()?;
                }
                if run == full_runs {
                    stores.push((kind, database));
                } else {
                    database.remove().await?;
                }
            }
        }
        if scenarios.contains(&Scenario::Noop) {
            // A sync that finds nothing changes nothing either: every run starts where the
            // first did.
            for (kind, database) in &stores {
                for run in 1..=repeat {
                    let measured = measure::spawn(database, &sim).await?;
                    Report::new(Scenario::Noop, *kind, self.size, measured)
                        .numbered(run, repeat)
                        .print()?;
                }
            }
        }
        if scenarios.contains(&Scenario::Delta1) {
            let (_, first) = &stores[0];
            let started = Instant::now();
            changes::change_one_percent(first, &sim, self.size)
                .await
                .context("changing the simulated tenant")?;
            let tenant_changes_s = Some(measure::seconds(started.elapsed()));
            for (kind, database) in &stores {
                // Every measurement starts from the database as the changes left it.
                let start = if repeat > 1 {
                    Some(database.duplicate().await?)
                } else {
                    None
                };
                for run in 1..=repeat {
                    let copy = match &start {
                        Some(start) if run > 1 => Some(start.duplicate().await?),
                        _ => None,
                    };
                    let measured = measure::spawn(copy.as_ref().unwrap_or(database), &sim).await?;
                    let report = Report::new(Scenario::Delta1, *kind, self.size, measured)
                        .numbered(run, repeat);
                    Report {
                        tenant_changes_s,
                        ..report
                    }
                    .print()?;
                    if let Some(copy) = copy {
                        copy.remove().await?;
                    }
                }
                if let Some(start) = start {
                    start.remove().await?;
                }
            }
        }
        for (_, database) in stores {
            database.remove().await?;
        }
        sim.stop().await
    }

    /// The first sync on a fresh store per backend, against a tenant that answers every Graph
    /// request after a delay.
    async fn latency(&self) -> anyhow::Result<()> {
        let sim = SimProcess::start(
            &self.roster,
            self.size,
            self.options.seed,
            self.serving(self.options.latency_ms),
        )
        .await?;
        let repeat = self.options.repeat;
        for &kind in &self.options.stores {
            for run in 1..=repeat {
                let database = FreshDatabase::create(kind, &self.options.postgres, &sim).await?;
                let measured = measure::spawn(&database, &sim).await?;
                Report::new(Scenario::Latency, kind, self.size, measured)
                    .numbered(run, repeat)
                    .print()?;
                database.remove().await?;
            }
        }
        sim.stop().await
    }
}
