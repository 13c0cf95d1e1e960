//! A crash mid-apply (product.md §4): a `roster sync apply` process killed at random points
//! leaves no half-applied change, and the next run converges to what an uninterrupted apply
//! gives.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use sqlx::Connection;

use crate::support::{ACCOUNT, Roster, Sim};

const TRIALS: usize = 20;

/// Rows that no whole change leaves behind, by what they would mean.
const TORN: [(&str, &str); 4] = [
    (
        "users without a primary address",
        "SELECT COUNT(*) FROM users u WHERE NOT EXISTS \
         (SELECT 1 FROM addresses a WHERE a.user_id = u.id AND a.is_primary = 1)",
    ),
    (
        "addresses of no user or group",
        "SELECT COUNT(*) FROM addresses a WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.user_id) \
         AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = a.group_id)",
    ),
    (
        "memberships of missing users",
        "SELECT COUNT(*) FROM group_user_members m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id) \
         OR NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = m.group_id)",
    ),
    (
        "memberships of missing groups",
        "SELECT COUNT(*) FROM group_group_members m \
         WHERE NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = m.member_group_id) \
         OR NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = m.group_id)",
    ),
];

/// Counts the torn rows of each kind in a deployment's database, read behind the store's back.
fn torn_rows(roster: &Roster) -> Vec<(&'static str, i64)> {
    let url = format!(
        "sqlite:{}?mode=ro",
        roster.data_dir().join("roster.db").display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("the database opens");
        let mut found = Vec::new();
        for (what, query) in TORN {
            let count: i64 = sqlx::query_scalar(query)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            found.push((what, count));
        }
        found
    })
}

/// A small xorshift generator: the kill points differ from run to run, and a failure names the
/// seed that reproduces them.
struct KillPoints(u64);

impl KillPoints {
    fn seeded() -> Self {
        let seed = std::env::var("ROSTER_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos() as u64
                    | 1
            });
        Self(seed)
    }

    /// A delay between a quarter of `longest` and `longest` (a process killed sooner has not
    /// begun to apply).
    fn next(&mut self, longest: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        longest.mul_f64(0.25 + 0.75 * (self.0 % 10_000) as f64 / 10_000.0)
    }
}

#[test]
fn an_apply_killed_at_random_points_leaves_a_consistent_store_and_the_next_run_converges() {
    let sim = Sim::start(3_000, 40, 3);
    let planned = Roster::connected_to(&sim);
    let plan = planned.json(&["sync", "preview", ACCOUNT]);
    let apply = [
        "sync",
        "apply",
        ACCOUNT,
        "--plan",
        plan["plan_id"].as_str().unwrap(),
    ];

    let uninterrupted = planned.copy();
    let started = Instant::now();
    uninterrupted.ok(&apply);
    let apply_time = started.elapsed();
    let expected = uninterrupted.holdings();
    assert!(
        expected.users.len() > 2_000,
        "the tenant is big enough to kill apply mid-way: {}",
        expected.users.len()
    );

    let mut kill_points = KillPoints::seeded();
    let seed = kill_points.0;
    let mut killed_mid_apply = 0;
    for trial in 0..TRIALS {
        let roster = planned.copy();
        let delay = kill_points.next(apply_time);
        // A short lease, so that the next run need not wait a minute to take the killed one over.
        let mut process = roster
            .command(&[&["--run-lease-seconds", "1"], &apply[..]].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The delay is the point of the test: where the process dies.
        std::thread::sleep(delay);
        process.kill().unwrap();
        process.wait().unwrap();
        let context = format!(
            "trial {trial} killed after {delay:?} of {apply_time:?} (ROSTER_CRASH_SEED={seed})"
        );

        assert!(
            torn_rows(&roster).iter().all(|(_, count)| *count == 0),
            "{context}: {:?}",
            torn_rows(&roster)
        );
        let interrupted = roster.holdings();
        let context = format!(
            "{context}, holding {} users and {} groups",
            interrupted.users.len(),
            interrupted.groups.len()
        );
        if (1..expected.users.len()).contains(&interrupted.users.len()) {
            killed_mid_apply += 1;
        }
        let mut addresses = interrupted.addresses();
        let held = addresses.len();
        addresses.sort_unstable();
        addresses.dedup();
        assert_eq!(addresses.len(), held, "{context}: an address is held twice");
        assert!(
            interrupted.users.iter().all(|u| expected.users.contains(u)),
            "{context}: a user is half-applied"
        );
        assert!(
            interrupted
                .groups
                .iter()
                .all(|g| expected.groups.contains(g)),
            "{context}: a group is half-applied"
        );

        std::thread::sleep(Duration::from_millis(1_200));
        roster.ok(&["sync", "run", ACCOUNT]);

        assert_eq!(
            roster.holdings(),
            expected,
            "{context}: the next run converges"
        );
    }
    assert!(
        killed_mid_apply > 0,
        "no kill fell between the first and the last batch (ROSTER_CRASH_SEED={seed})"
    );
}

#[test]
fn a_run_left_running_by_a_killed_process_is_taken_over_once_its_lease_runs_out() {
    let sim = Sim::start(3_000, 40, 3);
    let roster = Roster::connected_to(&sim);
    let mut preview = roster
        .command(&["--run-lease-seconds", "3", "sync", "preview", ACCOUNT])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = loop {
        let history = roster.json(&["sync", "history", ACCOUNT]);
        if let Some(run) = history
            .as_array()
            .unwrap()
            .first()
            .filter(|run| run["status"] == "running")
        {
            break run.clone();
        }
        assert!(
            preview.try_wait().unwrap().is_none(),
            "the preview is still reading when it is killed"
        );
    };
    preview.kill().unwrap();
    preview.wait().unwrap();
    let blocked = roster.fails(&["sync", "run", ACCOUNT]);
    assert!(
        blocked.contains("already running"),
        "the run is not taken over while its lease lasts: {blocked}"
    );
    std::thread::sleep(std::time::Duration::from_millis(3_500));

    roster.ok(&["sync", "run", ACCOUNT]);

    let history = roster.json(&["sync", "history", ACCOUNT]);
    let abandoned = history
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["id"] == running["id"])
        .unwrap();
    assert_eq!(abandoned["status"], "failed");
    assert!(
        abandoned["error"].as_str().unwrap().contains("abandoned"),
        "{abandoned:#}"
    );
}
