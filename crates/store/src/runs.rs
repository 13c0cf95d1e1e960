//! Sync runs: at most one running per account, then kept as history.

use std::collections::BTreeMap;
use std::time::Duration;

use roster_domain::run::{Run, RunStatus, Trigger};
use roster_domain::{AccountId, PlanId, RunId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{Conn, Constraint, DbError, lock_account_runs, sql};
use crate::rows::{now, stored_json, to_json};
use crate::{Store, StoreError};

/// How long a run's lease lasts after each renewal, unless the store was given another
/// ([`Store::with_run_lease`]). A running sync renews it well within that; a run whose lease
/// expired is taken to be abandoned by a process that stopped, and is taken over.
pub const RUN_LEASE: Duration = Duration::from_secs(60);

const ABANDONED: &str =
    "abandoned: the process running this sync stopped renewing its lease before the sync finished";
const HANDED_BACK: &str = "handed back: the worker running this sync was stopped before the sync finished; the next worker pass runs it again";

/// What starting a run takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub account_id: AccountId,
    pub trigger: Trigger,
    /// An admin's address, "cli" or "scheduler".
    pub actor: String,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: Uuid,
    account_id: Uuid,
    trigger_kind: String,
    actor: String,
    status: String,
    started_at: OffsetDateTime,
    finished_at: Option<OffsetDateTime>,
    plan_id: Option<Uuid>,
    counts: String,
    skipped: i64,
    failures: String,
    graph_requests: i64,
    error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct StartedRow {
    started_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct RunningRow {
    id: Uuid,
}

#[derive(sqlx::FromRow)]
struct LapsedRow {
    id: Uuid,
    account_id: Uuid,
    trigger_kind: String,
}

#[derive(sqlx::FromRow)]
struct OwnerRow {
    status: String,
    owner: Option<String>,
    abandoned: bool,
}

/// Milliseconds since the Unix epoch: how leases are stored, so both backends compare numbers.
fn unix_ms(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Marks the running runs whose lease expired before `now` as abandoned — of one account, or
/// of all — and withdraws the slot claim of each abandoned automatic run, so that its account
/// is due again at once. Each mark re-checks the lease, so a run renewed meanwhile is kept.
async fn abandon_lapsed(
    conn: &mut Conn<'_>,
    account_id: Option<AccountId>,
    now: OffsetDateTime,
) -> Result<Vec<RunId>, DbError> {
    let lapsed: Vec<LapsedRow> = match account_id {
        Some(account_id) => sql(
            "SELECT id, account_id, trigger_kind FROM runs \
             WHERE account_id = $1 AND status = 'running' AND COALESCE(lease_expires_ms, 0) < $2",
        )
        .bind(account_id.as_uuid())
        .bind(unix_ms(now)),
        None => sql(
            "SELECT id, account_id, trigger_kind FROM runs WHERE status = 'running' AND COALESCE(lease_expires_ms, 0) < $1",
        )
        .bind(unix_ms(now)),
    }
    .fetch_all(&mut *conn)
    .await?;
    let mut abandoned = Vec::new();
    for run in lapsed {
        let marked = sql(
            "UPDATE runs SET status = 'failed', finished_at = $2, abandoned = $3, error = $4 \
             WHERE id = $1 AND status = 'running' AND COALESCE(lease_expires_ms, 0) < $5",
        )
        .bind(run.id)
        .bind(now)
        .bind(true)
        .bind(ABANDONED)
        .bind(unix_ms(now))
        .execute(&mut *conn)
        .await?;
        if marked == 1 {
            if run.trigger_kind == Trigger::Automatic.as_str() {
                withdraw_slot_claim(conn, run.account_id).await?;
            }
            abandoned.push(RunId::from_uuid(run.id));
        }
    }
    Ok(abandoned)
}

async fn withdraw_slot_claim(conn: &mut Conn<'_>, account_id: Uuid) -> Result<(), DbError> {
    sql("UPDATE connections SET claimed_slot = NULL WHERE account_id = $1")
        .bind(account_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Reads a name `Trigger::as_str` or `RunStatus::as_str` wrote back through the enum's serde
/// names, which equal them.
fn from_name<T: serde::de::DeserializeOwned>(
    what: &'static str,
    name: &str,
) -> Result<T, StoreError> {
    stored_json(what, format!("\"{name}\"").as_bytes())
}

impl RunRow {
    fn into_run(self) -> Result<Run, StoreError> {
        Ok(Run {
            id: RunId::from_uuid(self.id),
            account_id: AccountId::from_uuid(self.account_id),
            trigger: from_name("run trigger", &self.trigger_kind)?,
            actor: self.actor,
            started_at: self.started_at,
            finished_at: self.finished_at,
            status: from_name("run status", &self.status)?,
            plan_id: self.plan_id.map(PlanId::from_uuid),
            counts: stored_json("run counts", self.counts.as_bytes())?,
            skipped: usize::try_from(self.skipped).unwrap_or_default(),
            failures: stored_json("run failures", self.failures.as_bytes())?,
            graph_requests: u64::try_from(self.graph_requests).unwrap_or_default(),
            error: self.error,
        })
    }
}

async fn running(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<Option<RunningRow>, DbError> {
    sql("SELECT id FROM runs WHERE account_id = $1 AND status = 'running'")
        .bind(account_id.as_uuid())
        .fetch_optional(conn)
        .await
}

/// Refuses to go on while the account has a running run, after taking over one whose lease
/// expired. The caller's transaction holds the account's run lock.
pub(crate) async fn require_no_running_run(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    abandon_lapsed(&mut *conn, Some(account_id), now).await?;
    match running(conn, account_id).await? {
        Some(current) => Err(StoreError::SyncAlreadyRunning {
            running: RunId::from_uuid(current.id),
        }),
        None => Ok(()),
    }
}

impl Store {
    /// Starts a run owned by this store instance. Only one run per account runs at a time,
    /// across all processes; a second start gets [`StoreError::SyncAlreadyRunning`]. A running
    /// run whose lease expired is marked abandoned and no longer blocks.
    pub async fn start_run(&self, new: NewRun) -> Result<Run, StoreError> {
        self.start(new, None).await
    }

    /// Starts the automatic run of the schedule slot that began at `slot`, claiming the slot in
    /// the same transaction: each slot is claimed once across all workers, and a later claim
    /// gets [`StoreError::SlotAlreadyClaimed`]. An abandoned automatic run withdraws its claim.
    pub async fn start_scheduled_run(
        &self,
        account_id: AccountId,
        actor: &str,
        slot: OffsetDateTime,
    ) -> Result<Run, StoreError> {
        let new = NewRun {
            account_id,
            trigger: Trigger::Automatic,
            actor: actor.to_owned(),
        };
        self.start(new, Some(slot)).await
    }

    async fn start(&self, new: NewRun, slot: Option<OffsetDateTime>) -> Result<Run, StoreError> {
        let now = now();
        let run = Run {
            id: RunId::new(),
            account_id: new.account_id,
            trigger: new.trigger,
            actor: new.actor,
            started_at: now,
            finished_at: None,
            status: RunStatus::Running,
            plan_id: None,
            counts: BTreeMap::new(),
            skipped: 0,
            failures: Vec::new(),
            graph_requests: 0,
            error: None,
        };
        let mut tx = self.db.begin_write().await?;
        lock_account_runs(&mut tx.conn(), run.account_id).await?;
        require_no_running_run(&mut tx.conn(), run.account_id, now).await?;
        if let Some(slot) = slot {
            let claimed = sql("UPDATE connections SET claimed_slot = $2 \
                 WHERE account_id = $1 AND (claimed_slot IS NULL OR claimed_slot < $2)")
            .bind(run.account_id.as_uuid())
            .bind(slot.unix_timestamp())
            .execute(&mut tx.conn())
            .await?;
            if claimed == 0 {
                return Err(StoreError::SlotAlreadyClaimed { slot });
            }
        }
        let inserted = sql(
            "INSERT INTO runs (id, account_id, trigger_kind, actor, status, started_at, finished_at, heartbeat_at, \
             plan_id, counts, skipped, failures, graph_requests, error, owner, lease_expires_ms) \
             VALUES ($1, $2, $3, $4, 'running', $5, NULL, $5, NULL, $6, 0, $7, 0, NULL, $8, $9)",
        )
        .bind(run.id.as_uuid())
        .bind(run.account_id.as_uuid())
        .bind(run.trigger.as_str())
        .bind(run.actor.as_str())
        .bind(now)
        .bind(to_json(&run.counts))
        .bind(to_json(&run.failures))
        .bind(&*self.instance)
        .bind(self.lease_from(now))
        .execute(&mut tx.conn())
        .await;
        match inserted {
            Ok(_) => {}
            Err(DbError::Violation(Constraint::OneRunningSync)) => {
                drop(tx);
                // Another process started a run between the check and the insert.
                let mut tx = self.db.begin_read().await?;
                let current = running(&mut tx.conn(), run.account_id).await?;
                return Err(StoreError::SyncAlreadyRunning {
                    running: current.map_or(run.id, |c| RunId::from_uuid(c.id)),
                });
            }
            Err(DbError::Violation(Constraint::ForeignKey)) => {
                return Err(StoreError::AccountNotFound(run.account_id.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(run)
    }

    fn lease_from(&self, now: OffsetDateTime) -> i64 {
        let lease = i64::try_from(self.run_lease.as_millis()).unwrap_or(i64::MAX);
        unix_ms(now).saturating_add(lease)
    }

    /// The fence, inside the caller's write transaction: renews the run's lease if the run is
    /// still running, of `account_id`, and owned by this instance, and refuses otherwise
    /// ([`StoreError::RunTakenOver`] when another process took it over or it was handed back).
    /// The renewal locks the run's row, so a takeover waits for the caller's commit and then
    /// finds the lease renewed.
    pub(crate) async fn hold_run(
        &self,
        conn: &mut Conn<'_>,
        run_id: RunId,
        account_id: AccountId,
    ) -> Result<(), StoreError> {
        let now = now();
        let held = sql("UPDATE runs SET heartbeat_at = $4, lease_expires_ms = $5 \
             WHERE id = $1 AND account_id = $2 AND owner = $3 AND status = 'running'")
        .bind(run_id.as_uuid())
        .bind(account_id.as_uuid())
        .bind(&*self.instance)
        .bind(now)
        .bind(self.lease_from(now))
        .execute(&mut *conn)
        .await?;
        if held == 1 {
            return Ok(());
        }
        Err(self.why_not_held(conn, run_id).await?)
    }

    async fn why_not_held(
        &self,
        conn: &mut Conn<'_>,
        run_id: RunId,
    ) -> Result<StoreError, DbError> {
        let row: Option<OwnerRow> = sql("SELECT status, owner, abandoned FROM runs WHERE id = $1")
            .bind(run_id.as_uuid())
            .fetch_optional(conn)
            .await?;
        Ok(match row {
            None => StoreError::RunNotFound(run_id),
            Some(row)
                if row.owner.as_deref() == Some(&*self.instance)
                    && row.status != "running"
                    && !row.abandoned =>
            {
                StoreError::RunFinished(run_id)
            }
            Some(_) => StoreError::RunTakenOver(run_id),
        })
    }

    /// Renews the lease of a run this instance owns: the heartbeat of a running sync. A run that
    /// was taken over or has finished is refused, and its sync should stop.
    pub async fn renew_run_lease(
        &self,
        run_id: RunId,
        account_id: AccountId,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        self.hold_run(&mut tx.conn(), run_id, account_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Saves a running run's progress, or its end when its status is no longer running (the
    /// finish time defaults to now), renewing its lease. Finished runs are history and refuse
    /// further updates; a run this instance no longer owns gets [`StoreError::RunTakenOver`].
    pub async fn update_run(&self, run: &Run) -> Result<Run, StoreError> {
        let now = now();
        let finished_at = match run.status {
            RunStatus::Running => None,
            _ => Some(run.finished_at.unwrap_or(now)),
        };
        let mut tx = self.db.begin_write().await?;
        let updated = sql(
            "UPDATE runs SET status = $2, finished_at = $3, heartbeat_at = $4, plan_id = $5, counts = $6, \
             skipped = $7, failures = $8, graph_requests = $9, error = $10, lease_expires_ms = $12 \
             WHERE id = $1 AND status = 'running' AND owner = $11",
        )
        .bind(run.id.as_uuid())
        .bind(run.status.as_str())
        .bind(finished_at)
        .bind(now)
        .bind(run.plan_id.map(|p| p.as_uuid()))
        .bind(to_json(&run.counts))
        .bind(i64::try_from(run.skipped).unwrap_or(i64::MAX))
        .bind(to_json(&run.failures))
        .bind(i64::try_from(run.graph_requests).unwrap_or(i64::MAX))
        .bind(run.error.clone())
        .bind(&*self.instance)
        .bind(self.lease_from(now))
        .execute(&mut tx.conn())
        .await?;
        if updated == 0 {
            return Err(self.why_not_held(&mut tx.conn(), run.id).await?);
        }
        tx.commit().await?;
        Ok(Run {
            finished_at,
            ..run.clone()
        })
    }

    /// Hands back a run this instance owns and will not finish (its worker is stopping): it is
    /// recorded as abandoned, and an automatic run's slot claim is withdrawn, so that the next
    /// worker pass runs the account again at once.
    pub async fn release_run(&self, run_id: RunId) -> Result<(), StoreError> {
        let now = now();
        let mut tx = self.db.begin_write().await?;
        let released: Option<LapsedRow> = sql(
            "UPDATE runs SET status = 'failed', finished_at = $3, abandoned = $4, error = $5 \
             WHERE id = $1 AND owner = $2 AND status = 'running' RETURNING id, account_id, trigger_kind",
        )
        .bind(run_id.as_uuid())
        .bind(&*self.instance)
        .bind(now)
        .bind(true)
        .bind(HANDED_BACK)
        .fetch_optional(&mut tx.conn())
        .await?;
        let Some(released) = released else {
            return Err(self.why_not_held(&mut tx.conn(), run_id).await?);
        };
        if released.trigger_kind == Trigger::Automatic.as_str() {
            withdraw_slot_claim(&mut tx.conn(), released.account_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks every running run whose lease expired as abandoned (failed, and not counted as its
    /// slot's run), for any account: each worker pass does this first, so that a dead worker's
    /// runs neither show as running nor keep their accounts waiting. Returns the runs marked.
    pub async fn abandon_lapsed_runs(&self) -> Result<Vec<RunId>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let abandoned = abandon_lapsed(&mut tx.conn(), None, now()).await?;
        tx.commit().await?;
        Ok(abandoned)
    }

    /// One of the account's runs; another account's run is not found.
    pub async fn run(&self, account_id: AccountId, run_id: RunId) -> Result<Run, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: RunRow = sql(
            "SELECT id, account_id, trigger_kind, actor, status, started_at, finished_at, plan_id, counts, \
             skipped, failures, graph_requests, error FROM runs WHERE id = $1 AND account_id = $2",
        )
        .bind(run_id.as_uuid())
        .bind(account_id.as_uuid())
        .fetch_optional(&mut tx.conn())
        .await?
        .ok_or(StoreError::RunNotFound(run_id))?;
        row.into_run()
    }

    /// When the account's latest run of this trigger started, if it ever ran, leaving out runs
    /// abandoned by their process: the scheduler's baseline.
    pub async fn last_run_started(
        &self,
        account_id: AccountId,
        trigger: Trigger,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: Option<StartedRow> = sql(
            "SELECT started_at FROM runs WHERE account_id = $1 AND trigger_kind = $2 AND abandoned = $3 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(account_id.as_uuid())
        .bind(trigger.as_str())
        .bind(false)
        .fetch_optional(&mut tx.conn())
        .await?;
        Ok(row.map(|r| r.started_at))
    }

    /// The account's latest finished run of each trigger, leaving out runs abandoned by their
    /// process: what the console's banners are decided from.
    pub async fn last_finished_runs(&self, account_id: AccountId) -> Result<Vec<Run>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let mut runs = Vec::new();
        for trigger in [Trigger::Preview, Trigger::Apply, Trigger::Automatic] {
            let row: Option<RunRow> = sql(
                "SELECT id, account_id, trigger_kind, actor, status, started_at, finished_at, plan_id, counts, \
                 skipped, failures, graph_requests, error FROM runs WHERE account_id = $1 AND trigger_kind = $2 \
                 AND status <> 'running' AND abandoned = $3 ORDER BY id DESC LIMIT 1",
            )
            .bind(account_id.as_uuid())
            .bind(trigger.as_str())
            .bind(false)
            .fetch_optional(&mut tx.conn())
            .await?;
            if let Some(row) = row {
                runs.push(row.into_run()?);
            }
        }
        Ok(runs)
    }

    /// The account's runs, newest first, at most `limit`.
    pub async fn list_runs(
        &self,
        account_id: AccountId,
        limit: u32,
    ) -> Result<Vec<Run>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<RunRow> = sql(
            "SELECT id, account_id, trigger_kind, actor, status, started_at, finished_at, plan_id, counts, \
             skipped, failures, graph_requests, error FROM runs WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(account_id.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(&mut tx.conn())
        .await?;
        rows.into_iter().map(RunRow::into_run).collect()
    }
}
