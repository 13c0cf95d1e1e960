//! Stored plans, applied at most once.
//!
//! A plan is a row of `plans` (the plan without its changes, and when it was applied) and a row
//! of `plan_changes` per change, its id and category beside it as columns. A first sync of a large tenant plans hundreds of thousands of
//! changes: written as one value, the plan would be copied whole by the driver and the database
//! while stored, and rewritten whole when marked applied.
//!
//! A plan can be applied only while it is *current*: the account's newest plan, built at the
//! mirror version the account is still at (product.md §4). Both are checked in the transaction
//! that marks it applied, so that a plan left open while a newer Search Now or scheduled sync
//! ran, or while the directory changed, is refused whole before anything is written.

use roster_domain::plan::{Change, Plan};
use roster_domain::{AccountId, PlanId};
use time::OffsetDateTime;

use crate::db::{Conn, Constraint, DbError, Value, insert_rows, sql};
use crate::revision::{MirrorVersion, Revision};
use crate::rows::{now, to_json};
use crate::{Store, StoreError};

/// Changes serialized and written at a time, so that memory holds a few thousand changes' JSON
/// (a few megabytes), not the whole plan's. On PostgreSQL each write is one statement, and each
/// statement can wait ~40 ms over TCP (see `db.rs`): 500 at a time, the 110,000 changes of a
/// large first sync took 220 statements.
const CHANGES_PER_WRITE: usize = 5_000;

/// Why a plan is no longer current, and so cannot be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCurrent {
    /// The account has a newer plan.
    Replaced,
    /// The directory mirror changed since the plan was built.
    DirectoryChanged,
}

impl std::fmt::Display for NotCurrent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Replaced => "a newer Search Now or scheduled sync replaced this plan",
            Self::DirectoryChanged => "the directory changed since this plan was built",
        })
    }
}

/// A plan as stored, with when it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    pub plan: Plan,
    /// The account's revision when the plan was computed.
    pub planned_at: Option<Revision>,
    pub applied_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    body: String,
    planned_at_revision: Option<i64>,
    applied_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    body: String,
}

/// The plan as `plans.body` holds it: everything but its changes.
fn without_changes(plan: &Plan) -> Plan {
    Plan {
        id: plan.id,
        account_id: plan.account_id,
        run_id: plan.run_id,
        created_at: plan.created_at,
        changes: Vec::new(),
        skipped: plan.skipped.clone(),
        deletion_check: plan.deletion_check,
        inactive_not_imported: plan.inactive_not_imported,
    }
}

impl Store {
    /// Stores a plan computed when the account was at revision `planned_at` and its mirror at
    /// `mirror` (read before the mirror itself), as the account's newest plan.
    pub async fn save_plan(
        &self,
        plan: &Plan,
        planned_at: Revision,
        mirror: MirrorVersion,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        sql(
            "INSERT INTO plans (id, account_id, body, created_at, applied_at, planned_at_revision, mirror_version) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6)",
        )
        .bind(plan.id.as_uuid())
        .bind(plan.account_id.as_uuid())
        .bind(to_json(&without_changes(plan)))
        .bind(plan.created_at)
        .bind(planned_at.as_i64())
        .bind(mirror.as_i64())
        .execute(&mut tx.conn())
        .await
        .map_err(|e| match e {
            DbError::Violation(Constraint::ForeignKey) => {
                StoreError::AccountNotFound(plan.account_id.to_string())
            }
            e => e.into(),
        })?;
        for (chunk, changes) in plan.changes.chunks(CHANGES_PER_WRITE).enumerate() {
            let mut rows = Vec::with_capacity(changes.len() * 6);
            for (offset, change) in changes.iter().enumerate() {
                let position =
                    i64::try_from(chunk * CHANGES_PER_WRITE + offset).unwrap_or(i64::MAX);
                rows.extend([
                    Value::from(plan.id.as_uuid()),
                    Value::from(position),
                    Value::from(to_json(change)),
                    Value::from(change.id.to_string()),
                    Value::from(change.category.as_str()),
                    Value::from(change.summary.to_lowercase()),
                ]);
            }
            insert_rows(
                &mut tx.conn(),
                "plan_changes (plan_id, position, body, change_id, category, search_text)",
                "",
                6,
                rows,
            )
            .await?;
        }
        sql("UPDATE accounts SET newest_plan_id = $2 WHERE id = $1")
            .bind(plan.account_id.as_uuid())
            .bind(plan.id.as_uuid())
            .execute(&mut tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One of the account's plans with its changes; another account's plan is not found.
    pub async fn plan(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
    ) -> Result<StoredPlan, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let mut stored = load_without_changes(&mut tx.conn(), account_id, plan_id).await?;
        let changes: Vec<ChangeRow> =
            sql("SELECT body FROM plan_changes WHERE plan_id = $1 ORDER BY position")
                .bind(plan_id.as_uuid())
                .fetch_all(&mut tx.conn())
                .await?;
        // Plans stored before `plan_changes` existed hold their changes in the plan row.
        if !changes.is_empty() {
            let read = |row: &ChangeRow| {
                serde_json::from_str::<Change>(&row.body).map_err(|e| {
                    StoreError::PlanFromEarlierVersion {
                        plan_id,
                        reason: e.to_string(),
                    }
                })
            };
            stored.plan.changes = changes.iter().map(read).collect::<Result<_, _>>()?;
        }
        Ok(stored)
    }

    /// The plan without its changes: what it skipped and counted. Cheap whatever the plan's size.
    pub async fn plan_without_changes(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
    ) -> Result<Plan, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let mut stored = load_without_changes(&mut tx.conn(), account_id, plan_id).await?;
        stored.plan.changes.clear();
        Ok(stored.plan)
    }

    /// Marks the plan applied, once, if it is current: of two processes applying the same plan,
    /// exactly one succeeds and the other gets [`StoreError::PlanAlreadyApplied`]; a plan that
    /// is not current gets [`StoreError::PlanNotCurrent`]. Call it before applying.
    pub async fn mark_plan_applied(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
    ) -> Result<OffsetDateTime, StoreError> {
        let now = now();
        let mut tx = self.db.begin_write().await?;
        let marked = sql(
            "UPDATE plans SET applied_at = $2 WHERE id = $1 AND account_id = $3 AND applied_at IS NULL AND EXISTS \
             (SELECT 1 FROM accounts a WHERE a.id = plans.account_id AND a.newest_plan_id = plans.id \
              AND a.mirror_version = plans.mirror_version)",
        )
        .bind(plan_id.as_uuid())
        .bind(now)
        .bind(account_id.as_uuid())
        .execute(&mut tx.conn())
        .await?;
        if marked == 1 {
            tx.commit().await?;
            return Ok(now);
        }
        let refusal = why_not_current(&mut tx.conn(), account_id, plan_id).await?;
        Err(refusal.unwrap_or_else(|| StoreError::Integrity {
            rule: "a plan is applied once, and only while it is current".to_owned(),
        }))
    }

    /// Whether the plan may be applied now: `Ok` while it is not applied, is the account's
    /// newest plan and its mirror has not changed since; otherwise the refusal applying it
    /// would meet. For answering at once: [`Store::mark_plan_applied`] checks again, atomically.
    pub async fn check_plan_current(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_read().await?;
        match why_not_current(&mut tx.conn(), account_id, plan_id).await? {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }
}

/// Why the account's plan cannot be applied now, or `None` when it can.
async fn why_not_current(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    plan_id: PlanId,
) -> Result<Option<StoreError>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct CurrencyRow {
        applied_at: Option<OffsetDateTime>,
        mirror_version: Option<i64>,
        newest_plan_id: Option<uuid::Uuid>,
        account_mirror_version: Option<i64>,
    }
    let row: CurrencyRow = sql("SELECT p.applied_at, p.mirror_version, a.newest_plan_id, \
         a.mirror_version AS account_mirror_version FROM plans p \
         JOIN accounts a ON a.id = p.account_id WHERE p.id = $1 AND p.account_id = $2")
    .bind(plan_id.as_uuid())
    .bind(account_id.as_uuid())
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::PlanNotFound(plan_id))?;
    let newest = row.newest_plan_id == Some(plan_id.as_uuid());
    Ok(match row {
        CurrencyRow {
            applied_at: Some(applied_at),
            ..
        } => Some(StoreError::PlanAlreadyApplied {
            plan_id,
            applied_at,
        }),
        CurrencyRow {
            mirror_version: None,
            ..
        } => Some(StoreError::PlanFromEarlierVersion {
            plan_id,
            reason: "it does not record which state of the directory it was built from".to_owned(),
        }),
        _ if !newest => Some(StoreError::PlanNotCurrent {
            plan_id,
            why: NotCurrent::Replaced,
        }),
        CurrencyRow {
            mirror_version,
            account_mirror_version,
            ..
        } if mirror_version != account_mirror_version => Some(StoreError::PlanNotCurrent {
            plan_id,
            why: NotCurrent::DirectoryChanged,
        }),
        _ => None,
    })
}

/// The plan's row, if it is the account's: the plan without the changes kept in
/// `plan_changes`.
async fn load_without_changes(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    plan_id: PlanId,
) -> Result<StoredPlan, StoreError> {
    let row: PlanRow = sql(
        "SELECT body, planned_at_revision, applied_at FROM plans WHERE id = $1 AND account_id = $2",
    )
    .bind(plan_id.as_uuid())
    .bind(account_id.as_uuid())
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::PlanNotFound(plan_id))?;
    let plan = serde_json::from_str(&row.body).map_err(|e| StoreError::PlanFromEarlierVersion {
        plan_id,
        reason: e.to_string(),
    })?;
    Ok(StoredPlan {
        plan,
        planned_at: row.planned_at_revision.map(Revision::from_i64),
        applied_at: row.applied_at,
    })
}
