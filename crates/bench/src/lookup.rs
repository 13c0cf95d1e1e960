//! The lookup scenario: after a full sync of the tenant, the lookup view's build time and
//! memory, socketmap lookups per second and latency at 1 and 16 connections, the time to take
//! in a 1% change, and Postfix's own `postmap -q -` over an equivalent `hash:` table next to
//! the same over Roster's socketmap.
//!
//! The load generator runs in this process, on the same two cores as the server: the numbers
//! are what one machine does with both, not what the server alone could.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use roster_lookup::refresh;
use roster_lookup::{AccountView, LookupView, RecipientDelimiter, Socketmap, SocketmapLimits};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::database::{self, FreshDatabase};
use crate::measure::{self, seconds};
use crate::sim::{SimProcess, TenantSize};
use crate::{Bench, StoreKind, changes};

const POSTMAP: &str = "/usr/sbin/postmap";

/// How long each load runs.
const LOAD_TIME: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize)]
struct LookupReport {
    scenario: &'static str,
    store: &'static str,
    users: usize,
    groups: usize,
    memberships: usize,
    addresses: usize,
    build_s: f64,
    view_rss_mb: f64,
    one_connection: Load,
    sixteen_connections: Load,
    /// The delta sync of 1% of users and groups, then one refresh of the view (reading only
    /// what changed and applying it to a copy of the account's view).
    change_sync_s: f64,
    change_refresh_s: f64,
    /// The same account after the change read whole and indexed anew: what a refresh cost
    /// before the change feed, and still costs when the feed cannot tell.
    change_read_whole_s: f64,
    postmap: PostmapComparison,
}

#[derive(Debug, Serialize)]
struct Load {
    connections: usize,
    lookups: usize,
    lookups_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

#[derive(Debug, Serialize)]
struct PostmapComparison {
    keys: usize,
    hash_build_s: f64,
    hash_lookups_per_s: f64,
    socketmap_lookups_per_s: f64,
    /// Roster's socketmap lookups per second through `postmap -q -` over `hash:`'s.
    socketmap_to_hash: f64,
}

fn resident_mb() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("/proc/self/status has no VmRSS line")?;
    Ok(kb / 1024.0)
}

impl Bench {
    pub async fn lookup(&self) -> anyhow::Result<()> {
        let kind = self.options.stores[0];
        let sim =
            SimProcess::start(&self.roster, self.size, self.options.seed, self.serving(0)).await?;
        let database = FreshDatabase::create(kind, &self.options.postgres, &sim).await?;
        measure::spawn(&database, &sim).await?;
        let report = measure_lookups(&database, &sim, kind, self.size).await;
        database.remove().await?;
        sim.stop().await?;
        println!("{}", serde_json::to_string(&report?)?);
        Ok(())
    }
}

async fn measure_lookups(
    database: &FreshDatabase,
    sim: &SimProcess,
    kind: StoreKind,
    size: TenantSize,
) -> anyhow::Result<LookupReport> {
    let store = database::open_store(&database.url).await?;
    let account_id = database::account_id(&store).await?;
    let directory = store.mail_directory(account_id).await?;
    let mut keys: Vec<String> = directory
        .users
        .iter()
        .flat_map(|u| std::iter::once(&u.primary_address).chain(&u.aliases))
        .chain(
            directory
                .groups
                .iter()
                .flat_map(|g| g.address.iter().chain(&g.aliases)),
        )
        .map(|a| a.to_string())
        .collect();
    // A fixed shuffle: lookups in storage order would walk memory in order.
    let n = keys.len();
    keys = (0..n).map(|i| keys[(i * 7919) % n].clone()).collect();
    drop(directory);

    let view = Arc::new(LookupView::new(RecipientDelimiter::default()));
    let before = resident_mb()?;
    let started = Instant::now();
    refresh::load_all(&store, &view).await?;
    let build_s = seconds(started.elapsed());
    let view_rss_mb = resident_mb()? - before;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(
        Socketmap {
            view: view.clone(),
            limits: SocketmapLimits::default(),
        }
        .serve_tcp(listener),
    );
    let keys = Arc::new(keys);
    let one_connection = load(address, keys.clone(), 1).await?;
    let sixteen_connections = load(address, keys.clone(), 16).await?;

    changes::change_one_percent(database, sim, size).await?;
    let started = Instant::now();
    measure::spawn(database, sim).await?;
    let change_sync_s = seconds(started.elapsed());
    let started = Instant::now();
    let refreshed = refresh::refresh(&store, &view).await?;
    let change_refresh_s = seconds(started.elapsed());
    anyhow::ensure!(
        refreshed.patched == 1,
        "the changed account was brought up to date from the change feed: {refreshed:?}"
    );
    let started = Instant::now();
    let directory = store.mail_directory(account_id).await?;
    let seed = view.seed();
    tokio::task::spawn_blocking(move || AccountView::build(directory, seed)).await?;
    let change_read_whole_s = seconds(started.elapsed());

    let postmap = compare_with_postmap(&keys, &account_id.to_string(), address).await?;
    server.abort();
    Ok(LookupReport {
        scenario: "lookup",
        store: kind.name(),
        users: size.users,
        groups: size.groups,
        memberships: size.memberships,
        addresses: keys.len(),
        build_s,
        view_rss_mb,
        one_connection,
        sixteen_connections,
        change_sync_s,
        change_refresh_s,
        change_read_whole_s,
        postmap,
    })
}

/// `connections` clients, each asking `recipient` for the keys in turn for [`LOAD_TIME`].
async fn load(
    address: std::net::SocketAddr,
    keys: Arc<Vec<String>>,
    connections: usize,
) -> anyhow::Result<Load> {
    let started = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            let keys = keys.clone();
            tokio::spawn(async move { client(address, &keys, c * keys.len() / 16).await })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let at = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies
            .get(at)
            .map_or(0.0, |d: &Duration| d.as_secs_f64() * 1e6)
    };
    Ok(Load {
        connections,
        lookups: latencies.len(),
        lookups_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
    })
}

async fn client(
    address: std::net::SocketAddr,
    keys: &[String],
    first: usize,
) -> anyhow::Result<Vec<Duration>> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut request = Vec::new();
    let mut reply = vec![0u8; 256];
    for key in keys.iter().cycle().skip(first) {
        if started.elapsed() >= LOAD_TIME {
            break;
        }
        request.clear();
        let payload = format!("recipient {key}");
        request.extend_from_slice(format!("{}:{payload},", payload.len()).as_bytes());
        let asked = Instant::now();
        write.write_all(&request).await?;
        // "39:OK <account id>," — the length, then as many bytes and the comma.
        let mut length = 0usize;
        loop {
            let byte = read.read_u8().await?;
            if byte == b':' {
                break;
            }
            length = length * 10 + usize::from(byte - b'0');
        }
        reply.resize(length + 1, 0);
        read.read_exact(&mut reply).await?;
        latencies.push(asked.elapsed());
        if !reply.starts_with(b"OK ") {
            bail!("{key} was not found: {}", String::from_utf8_lossy(&reply));
        }
    }
    Ok(latencies)
}

/// Times `postmap -q -` over the keys, from a `hash:` table of the same recipients (built from
/// what Roster holds) and from Roster's socketmap.
async fn compare_with_postmap(
    keys: &[String],
    account: &str,
    address: std::net::SocketAddr,
) -> anyhow::Result<PostmapComparison> {
    anyhow::ensure!(
        Path::new(POSTMAP).exists(),
        "{POSTMAP} is missing: apt-get install postfix"
    );
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("main.cf"), "compatibility_level = 3.6\n")?;
    let table = dir.path().join("recipients");
    let source: String = keys.iter().map(|k| format!("{k}\t{account}\n")).collect();
    std::fs::write(&table, source)?;
    let input = dir.path().join("keys");
    std::fs::write(&input, keys.join("\n") + "\n")?;

    let started = Instant::now();
    postmap(dir.path(), &[&format!("hash:{}", table.display())], None).await?;
    let hash_build_s = seconds(started.elapsed());
    let rate = |elapsed: Duration| keys.len() as f64 / elapsed.as_secs_f64();
    let hash = rate(
        postmap(
            dir.path(),
            &["-q", "-", &format!("hash:{}", table.display())],
            Some(&input),
        )
        .await?,
    );
    let socketmap = rate(
        postmap(
            dir.path(),
            &["-q", "-", &format!("socketmap:inet:{address}:recipient")],
            Some(&input),
        )
        .await?,
    );
    Ok(PostmapComparison {
        keys: keys.len(),
        hash_build_s,
        hash_lookups_per_s: hash,
        socketmap_lookups_per_s: socketmap,
        socketmap_to_hash: socketmap / hash,
    })
}

/// Runs `postmap -c CONFIG ARGS [<input]` and returns how long it took.
async fn postmap(config: &Path, args: &[&str], input: Option<&Path>) -> anyhow::Result<Duration> {
    let stdin = match input {
        Some(path) => Stdio::from(std::fs::File::open(path)?),
        None => Stdio::null(),
    };
    let started = Instant::now();
    let output = tokio::process::Command::new(POSTMAP)
        .arg("-c")
        .arg(config)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "postmap {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}
