//! The lookup scenario: after a full sync of the tenant, the lookup view's build time and
//! memory; socketmap lookups per second and latency at 1 and 16 connections for hits, and at
//! 16 for misses and group expansions; how long a 1% change applied by a sync takes to show in
//! socketmap answers; and Postfix's own `postmap -q -` over an equivalent `hash:` table next to
//! the same over Roster's socketmap.
//!
//! The load generator runs in this process, on the same two cores as the server: the numbers
//! are what one machine does with both, not what the server alone could.
//!
//! Every figure measured is printed, also when a later step fails (the failure is reported in
//! its place, and the command then fails).

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use roster_domain::{AccountId, UserId};
use roster_lookup::refresh;
use roster_lookup::{AccountView, LookupView, RecipientDelimiter, Socketmap, SocketmapLimits};
use roster_store::{MailDirectory, Revision, Store};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use crate::database::{self, FreshDatabase};
use crate::measure::{self, seconds};
use crate::sim::{SimProcess, TenantSize};
use crate::{Bench, StoreKind, changes};

const POSTMAP: &str = "/usr/sbin/postmap";

/// How long each load runs.
const LOAD_TIME: Duration = Duration::from_secs(5);

/// How often the change's progress is looked at, in the database and in socketmap answers:
/// the visibility figures are exact to about this much.
const PROBE_INTERVAL: Duration = Duration::from_millis(2);

#[derive(Debug, Serialize)]
struct LookupReport {
    scenario: &'static str,
    store: &'static str,
    users: usize,
    groups: usize,
    memberships: usize,
    addresses: usize,
    build_s: f64,
    memory: Step<ViewMemory>,
    loads: Vec<Step<Load>>,
    change: Step<ChangeVisibility>,
    postmap: Step<PostmapComparison>,
}

/// A measured figure, or why it could not be measured.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Step<T> {
    Measured(T),
    Failed { error: String },
}

impl<T> From<anyhow::Result<T>> for Step<T> {
    fn from(result: anyhow::Result<T>) -> Self {
        match result {
            Ok(measured) => Self::Measured(measured),
            Err(e) => Self::Failed {
                error: format!("{e:#}"),
            },
        }
    }
}

impl<T> Step<T> {
    fn failed(&self) -> Option<&str> {
        match self {
            Self::Measured(_) => None,
            Self::Failed { error } => Some(error),
        }
    }
}

/// The view's memory, two ways. The heap figure is what the view holds: glibc's count of bytes
/// allocated and not freed (`mallinfo2`'s `uordblks` + `hblkhd`, every arena, mmapped blocks
/// included) after the load less before it; the account read during the load is freed by
/// then. The resident figure is what the process grew by, with freed memory given back to
/// the system (`malloc_trim`) before each reading, so that neither memory freed before the
/// load (and reused by the view) nor the read account's freed memory skews it.
#[derive(Debug, Serialize)]
struct ViewMemory {
    heap_mb: f64,
    rss_mb: f64,
}

#[derive(Debug, Serialize)]
struct Load {
    /// `hits` (recipient, found), `misses` (recipient, an unknown address in the account's
    /// domains) or `groups` (alias, a group's address: its members, expanded).
    asking: &'static str,
    connections: usize,
    lookups: usize,
    lookups_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

/// A 1% change of the tenant, applied by a delta sync (in a child process, as `roster worker`
/// would) while the view is kept current as `roster serve` keeps it (polling on SQLite,
/// NOTIFY and polling on PostgreSQL).
#[derive(Debug, Serialize)]
struct ChangeVisibility {
    sync_s: f64,
    /// Removed users (disabled or deleted in the tenant) whose address is asked over socketmap
    /// until it is `NOTFOUND`.
    probed: usize,
    /// From the commit of the transaction that removed a user to the first socketmap answer
    /// `NOTFOUND` for its address: over the probed users.
    visible_after_commit_p50_s: f64,
    visible_after_commit_max_s: f64,
    /// The same account read whole and indexed anew: what taking in a change costs when the
    /// change feed cannot tell.
    read_whole_s: f64,
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
        let report = report?;
        println!("{}", serde_json::to_string(&report)?);
        let failures: Vec<&str> = std::iter::once(report.memory.failed())
            .chain(report.loads.iter().map(Step::failed))
            .chain([report.change.failed(), report.postmap.failed()])
            .flatten()
            .collect();
        if !failures.is_empty() {
            bail!(
                "some lookup figures could not be measured: {}",
                failures.join("; ")
            );
        }
        Ok(())
    }
}

/// The keys the loads ask, in a fixed shuffle (lookups in storage order would walk memory in
/// order).
struct Keys {
    recipients: Vec<String>,
    unknown: Vec<String>,
    groups: Vec<String>,
}

fn shuffled(mut keys: Vec<String>) -> Vec<String> {
    let n = keys.len();
    (0..n)
        .map(|i| std::mem::take(&mut keys[(i * 7919) % n]))
        .collect()
}

impl Keys {
    fn of(directory: &MailDirectory) -> Self {
        let users = directory
            .users
            .iter()
            .flat_map(|u| std::iter::once(&u.primary_address).chain(&u.aliases));
        let groups: Vec<String> = directory
            .groups
            .iter()
            .flat_map(|g| g.address.iter().chain(&g.aliases))
            .map(ToString::to_string)
            .collect();
        let recipients = users.map(ToString::to_string).chain(groups.clone());
        let unknown = directory
            .users
            .iter()
            .map(|u| format!("nobody.{}", u.primary_address))
            .collect();
        Self {
            recipients: shuffled(recipients.collect()),
            unknown: shuffled(unknown),
            groups: shuffled(groups),
        }
    }
}

/// glibc's bytes allocated and not freed, and the process's resident set after giving freed
/// memory back, in MB.
#[cfg_attr(
    all(target_os = "linux", target_env = "gnu"),
    expect(
        unsafe_code,
        reason = "glibc's mallinfo2 and malloc_trim have no safe wrappers"
    )
)]
fn memory_in_use() -> anyhow::Result<(f64, f64)> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: both only read or release the allocator's own state, under its own locks.
    let heap = unsafe {
        libc::malloc_trim(0);
        let info = libc::mallinfo2();
        (info.uordblks + info.hblkhd) as f64 / (1024.0 * 1024.0)
    };
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let heap = f64::NAN;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("/proc/self/status has no VmRSS line")?;
    Ok((heap, kb / 1024.0))
}

async fn measure_lookups(
    database: &FreshDatabase,
    sim: &SimProcess,
    kind: StoreKind,
    size: TenantSize,
) -> anyhow::Result<LookupReport> {
    let store = database::open_store(&database.url).await?;
    let account_id = database::account_id(&store).await?;
    let keys = Keys::of(&store.mail_directory(account_id).await?);

    let view = Arc::new(LookupView::new(RecipientDelimiter::default()));
    let before = memory_in_use();
    let started = Instant::now();
    refresh::load_all(&store, &view).await?;
    let build_s = seconds(started.elapsed());
    let memory = before
        .and_then(|before| Ok((before, memory_in_use()?)))
        .map(|((heap, rss), (heap_after, rss_after))| ViewMemory {
            heap_mb: heap_after - heap,
            rss_mb: rss_after - rss,
        });

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(
        Socketmap {
            view: view.clone(),
            limits: SocketmapLimits::default(),
        }
        .serve_tcp(listener),
    );
    let requests = |map: &str, keys: &[String]| -> Arc<Vec<Vec<u8>>> {
        Arc::new(keys.iter().map(|k| request(map, k)).collect())
    };
    let hits = requests("recipient", &keys.recipients);
    let mut loads = Vec::new();
    for (asking, requests, expected, connections) in [
        ("hits", hits.clone(), &b"OK "[..], 1),
        ("hits", hits, b"OK ", 16),
        (
            "misses",
            requests("recipient", &keys.unknown),
            b"NOTFOUND ",
            16,
        ),
        ("groups", requests("alias", &keys.groups), b"OK ", 16),
    ] {
        loads.push(
            load(address, asking, requests, expected, connections)
                .await
                .into(),
        );
    }

    let change = measure_change(database, sim, size, &store, &view, address, account_id)
        .await
        .into();
    let postmap = compare_with_postmap(&keys.recipients, &account_id.to_string(), address)
        .await
        .into();
    server.abort();
    Ok(LookupReport {
        scenario: "lookup",
        store: kind.name(),
        users: size.users,
        groups: size.groups,
        memberships: size.memberships,
        addresses: keys.recipients.len(),
        build_s,
        memory: memory.into(),
        loads,
        change,
        postmap,
    })
}

/// A socketmap request, framed.
fn request(map: &str, key: &str) -> Vec<u8> {
    let payload = format!("{map} {key}");
    format!("{}:{payload},", payload.len()).into_bytes()
}

/// `connections` clients, each sending the requests in turn for [`LOAD_TIME`] and expecting
/// every reply to start with `expected`.
async fn load(
    address: std::net::SocketAddr,
    asking: &'static str,
    requests: Arc<Vec<Vec<u8>>>,
    expected: &'static [u8],
    connections: usize,
) -> anyhow::Result<Load> {
    let started = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            let requests = requests.clone();
            let first = c * requests.len() / connections;
            tokio::spawn(async move { client(address, &requests, first, expected).await })
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
        asking,
        connections,
        lookups: latencies.len(),
        lookups_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
    })
}

async fn connect(
    address: std::net::SocketAddr,
) -> anyhow::Result<(BufReader<OwnedReadHalf>, OwnedWriteHalf)> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    Ok((BufReader::new(read), write))
}

/// Reads one netstring reply into `reply`.
async fn read_reply(
    read: &mut BufReader<OwnedReadHalf>,
    reply: &mut Vec<u8>,
) -> anyhow::Result<()> {
    let mut length = 0usize;
    loop {
        let byte = read.read_u8().await?;
        if byte == b':' {
            break;
        }
        anyhow::ensure!(byte.is_ascii_digit(), "the reply is not a netstring");
        length = length * 10 + usize::from(byte - b'0');
    }
    reply.resize(length + 1, 0);
    read.read_exact(reply).await?;
    reply.pop();
    Ok(())
}

async fn client(
    address: std::net::SocketAddr,
    requests: &[Vec<u8>],
    first: usize,
    expected: &[u8],
) -> anyhow::Result<Vec<Duration>> {
    let (mut read, mut write) = connect(address).await?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut reply = Vec::new();
    for request in requests.iter().cycle().skip(first) {
        if started.elapsed() >= LOAD_TIME {
            break;
        }
        let asked = Instant::now();
        write.write_all(request).await?;
        read_reply(&mut read, &mut reply).await?;
        latencies.push(asked.elapsed());
        if !reply.starts_with(expected) {
            bail!(
                "{} was answered {}",
                String::from_utf8_lossy(request),
                String::from_utf8_lossy(&reply)
            );
        }
    }
    Ok(latencies)
}

/// Changes 1% of the tenant, and syncs it while the view is kept current and the removed
/// users' addresses are asked until each is `NOTFOUND`. Each address's removal is dated by the
/// first revision seen in the database (looked at every [`PROBE_INTERVAL`]) at which the change
/// feed counts the user as removed.
async fn measure_change(
    database: &FreshDatabase,
    sim: &SimProcess,
    size: TenantSize,
    store: &Store,
    view: &Arc<LookupView>,
    address: std::net::SocketAddr,
    account_id: AccountId,
) -> anyhow::Result<ChangeVisibility> {
    let before = store.mail_directory(account_id).await?;
    let revision_before = before.revision;
    let leaving: HashSet<UserId> = changes::change_one_percent(database, sim, size)
        .await?
        .into_iter()
        .collect();
    let keeping = tokio::spawn(refresh::keep_current(
        store.clone(),
        view.clone(),
        refresh::DEFAULT_POLL_INTERVAL,
    ));
    let (done, finished) = tokio::sync::watch::channel(false);
    let revisions = tokio::spawn(watch_revisions(store.clone(), account_id, finished.clone()));
    let probe = tokio::spawn(probe_until_gone(
        address,
        before
            .users
            .iter()
            .filter(|u| leaving.contains(&u.id))
            .map(|u| (u.id, u.primary_address.to_string()))
            .collect(),
        finished,
    ));
    let started = Instant::now();
    let synced = measure::spawn(database, sim).await;
    let sync_s = seconds(started.elapsed());
    // The last commit may just have happened: give the view a moment (well over the aim) to
    // show it before the probe stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = done.send(true);
    let gone = probe.await??;
    let timeline = revisions.await?;
    keeping.abort();
    synced?;

    let changes = store
        .mail_changes(account_id, revision_before)
        .await?
        .context("the change feed cannot tell what the sync changed")?;
    let removed: HashSet<UserId> = changes.removed_users.iter().copied().collect();
    let mut committed_at: Vec<(UserId, Instant)> = Vec::new();
    // Walks the revisions seen: a user removed after the one before and not after this one was
    // removed by a commit made by the time this one was seen.
    let mut still_there = removed.clone();
    for (revision, seen) in &timeline {
        let after = store
            .mail_changes(account_id, *revision)
            .await?
            .map(|c| c.removed_users.into_iter().collect::<HashSet<_>>())
            .unwrap_or_default();
        still_there.retain(|user| {
            let committed = !after.contains(user);
            if committed {
                committed_at.push((*user, *seen));
            }
            !committed
        });
    }
    let mut delays: Vec<Duration> = Vec::new();
    for (user, committed) in &committed_at {
        let visible = gone
            .iter()
            .find(|(id, _)| id == user)
            .map(|(_, at)| *at)
            .with_context(|| {
                format!("the removed user {user} was still answered OK after the sync")
            })?;
        delays.push(visible.saturating_duration_since(*committed));
    }
    anyhow::ensure!(
        !delays.is_empty(),
        "the change removed no user whose removal could be dated ({} removed)",
        removed.len()
    );
    delays.sort_unstable();

    let started = Instant::now();
    let directory = store.mail_directory(account_id).await?;
    let seed = view.seed();
    tokio::task::spawn_blocking(move || AccountView::build(directory, seed)).await?;
    let read_whole_s = seconds(started.elapsed());
    Ok(ChangeVisibility {
        sync_s,
        probed: delays.len(),
        visible_after_commit_p50_s: seconds(delays[delays.len() / 2]),
        visible_after_commit_max_s: seconds(delays[delays.len() - 1]),
        read_whole_s,
    })
}

/// Each revision the account reaches, with when it was first seen, until `finished`.
async fn watch_revisions(
    store: Store,
    account_id: AccountId,
    finished: tokio::sync::watch::Receiver<bool>,
) -> Vec<(Revision, Instant)> {
    let mut timeline: Vec<(Revision, Instant)> = Vec::new();
    while !*finished.borrow() {
        if let Ok(revisions) = store.account_revisions().await
            && let Some((_, revision)) = revisions.iter().find(|(id, _)| *id == account_id)
            && timeline.last().is_none_or(|(last, _)| last != revision)
        {
            timeline.push((*revision, Instant::now()));
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
    timeline
}

/// Asks `recipient` for every address, all at once in each round (pipelined), until
/// `finished`; returns the users whose address became `NOTFOUND`, with when.
async fn probe_until_gone(
    address: std::net::SocketAddr,
    mut users: Vec<(UserId, String)>,
    finished: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<(UserId, Instant)>> {
    let (mut read, mut write) = connect(address).await?;
    let mut gone = Vec::new();
    let mut reply = Vec::new();
    // Reads the replies while the requests go out, so that neither side's buffer fills.
    while !*finished.borrow() {
        let requests: Vec<u8> = users
            .iter()
            .flat_map(|(_, key)| request("recipient", key))
            .collect();
        let mut answers = Vec::with_capacity(users.len());
        let (written, ()) = tokio::join!(write.write_all(&requests), async {
            for _ in 0..users.len() {
                if read_reply(&mut read, &mut reply).await.is_err() {
                    return;
                }
                answers.push((reply.starts_with(b"NOTFOUND"), Instant::now()));
            }
        });
        written?;
        anyhow::ensure!(
            answers.len() == users.len(),
            "the probe's connection was closed"
        );
        let mut answers = answers.into_iter();
        users.retain(|(id, _)| match answers.next() {
            Some((true, at)) => {
                gone.push((*id, at));
                false
            }
            _ => true,
        });
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
    Ok(gone)
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
