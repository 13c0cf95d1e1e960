//! Sync runs: at most one running per account, then kept as history.

use std::collections::BTreeMap;
use std::time::Duration;

use roster_domain::run::{Run, RunStatus, Trigger};
use roster_domain::{AccountId, PlanId, RunId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{Conn, Constraint, DbError, sql};
use crate::rows::{now, stored_json, to_json};
use crate::{Store, StoreError};

/// A running run not updated for this long is taken to be abandoned by a process that stopped,
/// and no longer blocks a new run. A running sync calls [`Store::update_run`] more often.
pub const RUN_ABANDONED_AFTER: Duration = Duration::from_secs(15 * 60);

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
    heartbeat_at: OffsetDateTime,
    owner: Option<String>,
}

/// The process running a sync, as "host/pid/start time": enough to tell, on the same host,
/// that the process is gone (its pid no longer exists, or now belongs to a later process).
fn this_process() -> Option<String> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let pid = std::process::id();
    Some(format!(
        "{}/{pid}/{}",
        host.trim(),
        process_start_time(pid)?
    ))
}

/// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat).
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields resume after the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `owner` is known to be gone: it ran on this host and its process no longer exists.
/// A process on another host, or an unknown owner, is judged by the heartbeat alone.
fn owner_is_gone(owner: Option<&str>) -> bool {
    let (Some(owner), Some(me)) = (owner, this_process()) else {
        return false;
    };
    let mut parts = owner.rsplitn(3, '/');
    let (Some(started), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let my_host = me.rsplitn(3, '/').nth(2).unwrap_or_default();
    if host != my_host {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) => process_start_time(pid).map(|t| t.to_string()) != Some(started.to_owned()),
        Err(_) => false,
    }
}

fn trigger_name(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Preview => "preview",
        Trigger::Apply => "apply",
        Trigger::Automatic => "automatic",
    }
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Partial => "partial",
        RunStatus::Held => "held",
        RunStatus::Failed => "failed",
    }
}

/// Reads one of the enum names above back through the enum's serde names, which they equal.
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
    sql("SELECT id, heartbeat_at, owner FROM runs WHERE account_id = $1 AND status = 'running'")
        .bind(account_id.as_uuid())
        .fetch_optional(conn)
        .await
}

impl Store {
    /// Starts a run. Only one run per account runs at a time, across all processes; a second
    /// start gets [`StoreError::SyncAlreadyRunning`]. A running run whose process stopped — known
    /// to be gone from this host, or not updated for [`RUN_ABANDONED_AFTER`] — is marked failed
    /// and no longer blocks.
    pub async fn start_run(&self, new: NewRun) -> Result<Run, StoreError> {
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
        if let Some(current) = running(&mut tx.conn(), run.account_id).await? {
            let stale = now - current.heartbeat_at >= RUN_ABANDONED_AFTER;
            if !stale && !owner_is_gone(current.owner.as_deref()) {
                return Err(StoreError::SyncAlreadyRunning {
                    running: RunId::from_uuid(current.id),
                });
            }
            sql("UPDATE runs SET status = 'failed', finished_at = $2, \
                 error = 'abandoned: the process running this sync stopped before it finished' WHERE id = $1")
            .bind(current.id)
            .bind(now)
            .execute(&mut tx.conn())
            .await?;
        }
        let inserted = sql(
            "INSERT INTO runs (id, account_id, trigger_kind, actor, status, started_at, finished_at, heartbeat_at, \
             plan_id, counts, skipped, failures, graph_requests, error, owner) \
             VALUES ($1, $2, $3, $4, 'running', $5, NULL, $5, NULL, $6, 0, $7, 0, NULL, $8)",
        )
        .bind(run.id.as_uuid())
        .bind(run.account_id.as_uuid())
        .bind(trigger_name(run.trigger))
        .bind(run.actor.as_str())
        .bind(now)
        .bind(to_json(&run.counts))
        .bind(to_json(&run.failures))
        .bind(this_process())
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

    /// Saves a running run's progress, or its end when its status is no longer running (the
    /// finish time defaults to now). Finished runs are history and refuse further updates.
    pub async fn update_run(&self, run: &Run) -> Result<Run, StoreError> {
        let now = now();
        let finished_at = match run.status {
            RunStatus::Running => None,
            _ => Some(run.finished_at.unwrap_or(now)),
        };
        let mut tx = self.db.begin_write().await?;
        let updated = sql(
            "UPDATE runs SET status = $2, finished_at = $3, heartbeat_at = $4, plan_id = $5, counts = $6, \
             skipped = $7, failures = $8, graph_requests = $9, error = $10 WHERE id = $1 AND status = 'running'",
        )
        .bind(run.id.as_uuid())
        .bind(status_name(run.status))
        .bind(finished_at)
        .bind(now)
        .bind(run.plan_id.map(|p| p.as_uuid()))
        .bind(to_json(&run.counts))
        .bind(i64::try_from(run.skipped).unwrap_or(i64::MAX))
        .bind(to_json(&run.failures))
        .bind(i64::try_from(run.graph_requests).unwrap_or(i64::MAX))
        .bind(run.error.clone())
        .execute(&mut tx.conn())
        .await?;
        if updated == 0 {
            drop(tx);
            // Distinguish a finished run from a missing one.
            return Err(match self.run(run.id).await {
                Ok(_) => StoreError::RunFinished(run.id),
                Err(e) => e,
            });
        }
        tx.commit().await?;
        Ok(Run {
            finished_at,
            ..run.clone()
        })
    }

    pub async fn run(&self, run_id: RunId) -> Result<Run, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: RunRow = sql(
            "SELECT id, account_id, trigger_kind, actor, status, started_at, finished_at, plan_id, counts, \
             skipped, failures, graph_requests, error FROM runs WHERE id = $1",
        )
        .bind(run_id.as_uuid())
        .fetch_optional(&mut tx.conn())
        .await?
        .ok_or(StoreError::RunNotFound(run_id))?;
        row.into_run()
    }

    /// When the account's latest run of this trigger started, if it ever ran: the scheduler's
    /// baseline.
    pub async fn last_run_started(
        &self,
        account_id: AccountId,
        trigger: Trigger,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: Option<StartedRow> = sql(
            "SELECT started_at FROM runs WHERE account_id = $1 AND trigger_kind = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(account_id.as_uuid())
        .bind(trigger_name(trigger))
        .fetch_optional(&mut tx.conn())
        .await?;
        Ok(row.map(|r| r.started_at))
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
