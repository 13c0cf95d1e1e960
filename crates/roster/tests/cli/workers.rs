//! Several `roster` processes on one database (product.md §5, §6, §9): each schedule slot runs
//! once across workers, a killed worker's runs are run again by the next pass, and a process
//! that looks foreign (another PID namespace) is judged by its lease, never by its pid.
//!
//! On PostgreSQL when `ROSTER_TEST_POSTGRES_URL` is set (a fresh database, dropped afterwards),
//! on a shared SQLite file otherwise.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{Connection, Executor};
use time::OffsetDateTime;

use crate::support::{Roster, Sim};

/// 32 bytes, base64: the master key every process of the deployment shares.
const MASTER_KEY: &str = "S2V5IGZvciB0aGUgd29ya2VyIHRlc3RzLCBub3QgcmU=";
/// Long enough to outlive on purpose, short enough for a test.
const LEASE_SECONDS: &str = "2";

/// One deployment whose processes share a database: PostgreSQL or a SQLite file.
struct Shared {
    roster: Roster,
    url: String,
    postgres: Option<(String, String)>,
}

impl Shared {
    fn new() -> Self {
        let roster = Roster::new();
        let Ok(server) = std::env::var("ROSTER_TEST_POSTGRES_URL") else {
            let url = format!("sqlite:{}", roster.data_dir().join("roster.db").display());
            return Self {
                roster,
                url,
                postgres: None,
            };
        };
        let name = format!("roster_w_{}", uuid::Uuid::new_v4().simple());
        block_on(async {
            let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
        });
        let (host, _) = server
            .rsplit_once('/')
            .expect("ROSTER_TEST_POSTGRES_URL names a database");
        Self {
            roster,
            url: format!("{host}/{name}"),
            postgres: Some((server, name)),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.roster.command(&["--database", &self.url]);
        command
            .env("ROSTER_MASTER_KEY", MASTER_KEY)
            .env("ROSTER_RUN_LEASE_SECONDS", LEASE_SECONDS)
            .args(args);
        command
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "`roster {}` succeeds:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Accounts `a0`… each owning a domain of its own and connected to `sim` every 24 hours.
    fn connected_accounts(&self, sim: &Sim, count: usize) -> Vec<String> {
        let secret = self.roster.write_file("secret.txt", sim.secret());
        let names: Vec<String> = (0..count).map(|i| format!("a{i}")).collect();
        for name in &names {
            let domain = format!("{name}.example");
            self.ok(&[
                "account",
                "create",
                "--name",
                name,
                "--domain",
                &domain,
                "--tech-contact-name",
                "Tech",
                "--tech-contact-email",
                &format!("it@{domain}"),
            ]);
            self.ok(&[
                "connection",
                "set",
                name,
                "--tenant",
                sim.field("tenant"),
                "--client-id",
                sim.field("client_id"),
                "--client-secret-file",
                secret.to_str().unwrap(),
                "--login-url",
                sim.field("login_url"),
                "--graph-url",
                sim.field("graph_url"),
                "--frequency",
                "24h",
            ]);
        }
        names
    }

    /// Makes every connection look saved two days ago, so that a slot has passed since: all
    /// accounts are due at once.
    fn saved_two_days_ago(&self) {
        let then = OffsetDateTime::now_utc() - time::Duration::days(2);
        block_on(async {
            let statement = "UPDATE connections SET updated_at = $1";
            if self.postgres.is_some() {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query(statement)
                    .bind(then)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            } else {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query(statement)
                    .bind(then)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        });
    }

    /// The account's runs, newest first.
    fn runs(&self, account: &str) -> Vec<Value> {
        let history = self.ok(&["sync", "history", account, "--json"]);
        serde_json::from_str::<Value>(&history)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(server).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        }
    }
}

fn block_on<T>(work: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

fn finished(mut child: Child) -> std::process::Output {
    child.stdin.take();
    child.wait_with_output().unwrap()
}

#[test]
fn three_workers_and_one_killed_mid_pass_sync_every_due_account_exactly_once() {
    const ACCOUNTS: usize = 12;
    // Each sync takes a while, so that the killed worker is surely mid-pass.
    let sim = Sim::start_with(40, 4, 11, &["--latency-ms", "500"]);
    let shared = Shared::new();
    let accounts = shared.connected_accounts(&sim, ACCOUNTS);
    shared.saved_two_days_ago();

    let pass = ["worker", "--once", "--concurrency", "2"];
    let mut workers: Vec<Child> = (0..3).map(|_| shared.spawn(&pass)).collect();
    let killed = workers.remove(0);
    let started = Instant::now();
    // Killed once some syncs are surely under way.
    std::thread::sleep(Duration::from_millis(1_500));
    let mut killed = killed;
    killed.kill().unwrap();
    killed.wait().unwrap();
    for worker in workers {
        let output = finished(worker);
        assert!(
            output.status.success(),
            "a worker finishes its pass:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let first_pass = started.elapsed();

    // The killed worker's runs lapse; the next pass marks them abandoned and runs those accounts.
    std::thread::sleep(Duration::from_secs(3));
    let next = shared.ok(&pass);
    assert!(next.contains("marked"), "{next}");

    let mut abandoned = 0;
    for account in &accounts {
        let runs = shared.runs(account);
        let automatic: Vec<&Value> = runs
            .iter()
            .filter(|run| run["trigger"] == "automatic")
            .collect();
        let succeeded = automatic
            .iter()
            .filter(|run| run["status"] == "succeeded")
            .count();
        assert_eq!(succeeded, 1, "{account} was synced exactly once: {runs:#?}");
        assert!(
            runs.iter().all(|run| run["status"] != "running"),
            "nothing is left running: {runs:#?}"
        );
        for run in automatic.iter().filter(|run| run["status"] != "succeeded") {
            let error = run["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("abandoned"),
                "the only other runs are the killed worker's: {run:#}"
            );
            abandoned += 1;
        }
    }
    assert!(
        abandoned > 0,
        "the killed worker was mid-pass (first pass took {first_pass:?})"
    );
}

#[test]
fn a_process_in_another_pid_namespace_is_not_taken_for_dead_and_exactly_one_run_writes() {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|status| status.success()) {
        println!(
            "SKIPPED: `unshare --pid --fork --mount-proc` is not available here (needs util-linux and the right to make a PID namespace)"
        );
        return;
    }
    let sim = Sim::start_with(200, 10, 12, &["--latency-ms", "200"]);
    let shared = Shared::new();
    let accounts = shared.connected_accounts(&sim, 1);
    let account = accounts[0].as_str();

    // A sync whose process is pid 1 of a PID namespace (and /proc) of its own: seen from this
    // host, pid 1 is another process that started at another time, so by its pid it looks gone.
    let roster = env!("CARGO_BIN_EXE_roster");
    let inner = shared.command(&["sync", "run", account]);
    let mut foreign = Command::new("unshare");
    foreign
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(roster)
        .args(inner.get_args())
        .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("ROSTER_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let foreign = foreign.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shared
        .runs(account)
        .first()
        .is_some_and(|run| run["status"] == "running")
    {
        assert!(Instant::now() < deadline, "the foreign sync started");
        std::thread::sleep(Duration::from_millis(20));
    }

    let second = shared.command(&["sync", "run", account]).output().unwrap();
    let output = finished(foreign);
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success() && said.contains("already running"),
        "the live foreign run is not taken over: {said}"
    );
    assert!(
        output.status.success(),
        "the foreign sync finishes and writes:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runs = shared.runs(account);
    let statuses: Vec<&str> = runs
        .iter()
        .map(|run| run["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded"], "exactly one run: {runs:#?}");
}

#[test]
fn a_worker_stopped_by_sigterm_hands_its_syncs_back_and_the_next_pass_runs_them_at_once() {
    let sim = Sim::start_with(40, 4, 13, &["--latency-ms", "500"]);
    let shared = Shared::new();
    let accounts = shared.connected_accounts(&sim, 2);
    shared.saved_two_days_ago();
    // A lease far longer than the test: the next pass runs the accounts because they were handed
    // back, not because their leases ran out.
    let long_lease = |args: &[&str]| {
        let mut command = shared.command(args);
        command.env("ROSTER_RUN_LEASE_SECONDS", "600");
        command
    };
    let worker = long_lease(&["worker", "--concurrency", "2", "--grace-seconds", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !accounts.iter().all(|account| {
        shared
            .runs(account)
            .first()
            .is_some_and(|run| run["status"] == "running")
    }) {
        assert!(Instant::now() < deadline, "both syncs started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let terminated = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let output = finished(worker);
    assert!(
        output.status.success(),
        "the worker stops cleanly on SIGTERM:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let next = long_lease(&["worker", "--once"]).output().unwrap();
    assert!(next.status.success());
    for account in &accounts {
        let runs = shared.runs(account);
        let statuses: Vec<(&str, &str)> = runs
            .iter()
            .map(|run| {
                (
                    run["status"].as_str().unwrap(),
                    run["error"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert!(
            matches!(&statuses[..], [("succeeded", _), ("failed", handed_back)] if handed_back.contains("handed back")),
            "{account}: handed back, then run again by the next pass: {statuses:?}"
        );
    }
}

#[test]
fn roster_serve_stopped_by_sigterm_hands_its_syncs_back_and_the_next_pass_runs_them_at_once() {
    let sim = Sim::start_with(40, 4, 13, &["--latency-ms", "500"]);
    let shared = Shared::new();
    let mut accounts = shared.connected_accounts(&sim, 3);
    shared.saved_two_days_ago();
    // The scheduler inside `roster serve` syncs the first two; the third is only ever synced
    // through the API (Search Now), so the scheduler never starts it.
    let searched = accounts.pop().unwrap();
    shared.ok(&["connection", "set", &searched, "--frequency", "never"]);
    let created = shared.ok(&["token", "create", &searched, "--name", "script", "--json"]);
    let token = serde_json::from_str::<Value>(&created).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let long_lease = |args: &[&str]| {
        let mut command = shared.command(args);
        command
            .env("ROSTER_RUN_LEASE_SECONDS", "600")
            .env("ROSTER_SHUTDOWN_GRACE_SECONDS", "0")
            .env("ROSTER_SCHEDULER_CONCURRENCY", "2");
        command
    };
    let mut serve = long_lease(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = serde_json::from_str::<Value>(&line).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = block_on(
        reqwest::Client::new()
            .post(format!("{url}/api/v1/accounts/{searched}/sync/preview"))
            .bearer_auth(&token)
            .send(),
    )
    .unwrap();
    assert_eq!(preview.status(), 202, "Search Now started through the API");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !accounts.iter().chain([&searched]).all(|account| {
        shared
            .runs(account)
            .first()
            .is_some_and(|run| run["status"] == "running")
    }) {
        assert!(Instant::now() < deadline, "all three syncs started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let terminated = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let output = finished(serve);
    assert!(
        output.status.success(),
        "the server stops cleanly on SIGTERM:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let handed_back = |run: &Value| {
        run["status"] == "failed" && run["error"].as_str().unwrap().contains("handed back")
    };
    let search = shared.runs(&searched);
    assert!(
        search.len() == 1 && handed_back(&search[0]),
        "the Search Now still running is handed back: {search:#?}"
    );

    let next = long_lease(&["worker", "--once"]).output().unwrap();
    assert!(next.status.success());
    for account in &accounts {
        let runs = shared.runs(account);
        assert!(
            runs.len() == 2 && runs[0]["status"] == "succeeded" && handed_back(&runs[1]),
            "{account}: handed back, then run again by the next pass: {runs:#?}"
        );
    }
}
