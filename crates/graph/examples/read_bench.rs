//! Times a full read of the benchmark's tenant (100,000 users, 10,000 groups, 1,000,000
//! memberships) against a simulator in a process of its own, so that serving Graph does not
//! count against the read.
//!
//! ```text
//! cargo run --release -p roster-graph --example read_bench [-- USERS GROUPS MEMBERSHIPS]
//! ```
//!
//! It prints the wall time, pages, Graph requests and objects read, and the reader's CPU time
//! and peak RSS. `READ_BENCH_REQUESTS_PER_SECOND` overrides the client's request budget.
//! `read_bench serve USERS GROUPS MEMBERSHIPS` is the simulator half: it prints the tenant's
//! credentials as one JSON line and serves until its standard input closes.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Instant;

use roster_domain::{Cloud, ConnectionSettings};
use roster_graph::{ClientOptions, DirectoryEvent, GraphClient, Priority, ReadStep};
use roster_sim::{SimConfig, Simulator, TenantCredentials};
use secrecy::SecretString;

type Failure = Box<dyn std::error::Error>;

#[derive(Clone, Copy)]
struct TenantSize {
    users: usize,
    groups: usize,
    memberships: usize,
}

impl TenantSize {
    fn from_args(args: &[String]) -> Result<Self, Failure> {
        let count =
            |index: usize, default: usize| args.get(index).map_or(Ok(default), |arg| arg.parse());
        Ok(Self {
            users: count(0, 100_000)?,
            groups: count(1, 10_000)?,
            memberships: count(2, 1_000_000)?,
        })
    }
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("serve") => runtime.block_on(serve(TenantSize::from_args(&args[1..])?)),
        _ => {
            let size = TenantSize::from_args(&args)?;
            let mut simulator = Command::new(std::env::current_exe()?)
                .arg("serve")
                .args([size.users, size.groups, size.memberships].map(|count| count.to_string()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let mut line = String::new();
            BufReader::new(
                simulator
                    .stdout
                    .take()
                    .ok_or("the simulator's output is not piped")?,
            )
            .read_line(&mut line)?;
            let tenant: TenantCredentials = serde_json::from_str(&line)?;
            let outcome = runtime.block_on(read(&tenant));
            // Closing its standard input tells the simulator to stop.
            drop(simulator.stdin.take());
            simulator.wait()?;
            outcome
        }
    }
}

async fn serve(size: TenantSize) -> Result<(), Failure> {
    let started = Instant::now();
    let config = SimConfig {
        users: size.users,
        groups: size.groups,
        memberships: Some(size.memberships),
        seed: 7,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await?;
    eprintln!(
        "simulator: tenant generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("{}", serde_json::to_string(sim.tenant())?);
    // Reading standard input blocks, so it waits on a thread of its own.
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
    Ok(())
}

async fn read(tenant: &TenantCredentials) -> Result<(), Failure> {
    let settings = ConnectionSettings::new(
        tenant.tenant.parse()?,
        tenant.client_id.parse()?,
        Cloud::custom(&tenant.login_url, &tenant.graph_url)?,
    );
    let mut options = ClientOptions::new(Priority::Low);
    // The simulator does not throttle, so this shows what the client's own budget costs.
    if let Ok(budget) = std::env::var("READ_BENCH_REQUESTS_PER_SECOND") {
        options.requests_per_second = budget.parse()?;
    }
    let client = GraphClient::new(
        &settings,
        SecretString::from(tenant.client_secret.as_str()),
        options,
    )?;
    let started = Instant::now();
    let (mut pages, mut users, mut groups, mut members) = (0_u64, 0_u64, 0_u64, 0_u64);
    let mut read = client.read_full();
    while let ReadStep::Page(events) = read.next().await? {
        pages += 1;
        for event in events {
            match event {
                DirectoryEvent::User(_) => users += 1,
                DirectoryEvent::Group(group) if group.members_added.is_empty() => groups += 1,
                DirectoryEvent::Group(group) => members += group.members_added.len() as u64,
                DirectoryEvent::UserRemoved(_) | DirectoryEvent::GroupRemoved(_) => {}
            }
        }
    }
    let stats = client.stats();
    println!(
        "full read: {:.2} s wall, {pages} pages, {} Graph requests ({} retries, {} throttled), {users} users, {groups} groups, \
         {members} memberships; reader CPU {:.2} s, peak RSS {} MB",
        started.elapsed().as_secs_f64(),
        stats.graph_requests,
        stats.retries,
        stats.throttled,
        cpu_seconds()?,
        peak_rss_kib()? / 1024
    );
    Ok(())
}

/// The process's user and system CPU time, from `/proc/self/stat` (in clock ticks of 1/100 s).
fn cpu_seconds() -> Result<f64, Failure> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .ok_or("no command name in /proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |index: usize| -> Result<f64, Failure> {
        Ok(fields
            .get(index)
            .ok_or("/proc/self/stat is short")?
            .parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// The process's peak resident set size, from `/proc/self/status`.
fn peak_rss_kib() -> Result<u64, Failure> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("VmHWM has no value")?
        .parse()?)
}
