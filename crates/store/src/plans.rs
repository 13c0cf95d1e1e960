//! Stored plans, applied at most once.

use roster_domain::PlanId;
use roster_domain::plan::Plan;
use time::OffsetDateTime;

use crate::db::{Constraint, DbError, sql};
use crate::rows::{now, stored_json, to_json};
use crate::{Store, StoreError};

/// A plan as stored, with when it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    pub plan: Plan,
    pub applied_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    body: String,
    applied_at: Option<OffsetDateTime>,
}

impl Store {
    /// Stores a plan built by Search Now.
    pub async fn save_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        let body = to_json(plan);
        let mut tx = self.db.begin_write().await?;
        sql("INSERT INTO plans (id, account_id, body, created_at, applied_at) VALUES ($1, $2, $3, $4, NULL)")
            .bind(plan.id.as_uuid())
            .bind(plan.account_id.as_uuid())
            .bind(body)
            .bind(plan.created_at)
            .execute(&mut tx.conn())
            .await
            .map_err(|e| match e {
                DbError::Violation(Constraint::ForeignKey) => StoreError::AccountNotFound(plan.account_id.to_string()),
                e => e.into(),
            })?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn plan(&self, plan_id: PlanId) -> Result<StoredPlan, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: PlanRow = sql("SELECT body, applied_at FROM plans WHERE id = $1")
            .bind(plan_id.as_uuid())
            .fetch_optional(&mut tx.conn())
            .await?
            .ok_or(StoreError::PlanNotFound(plan_id))?;
        Ok(StoredPlan { plan: stored_json("plan", row.body.as_bytes())?, applied_at: row.applied_at })
    }

    /// Marks the plan applied, once: of two processes applying the same plan, exactly one
    /// succeeds and the other gets [`StoreError::PlanAlreadyApplied`]. Call it before applying.
    pub async fn mark_plan_applied(&self, plan_id: PlanId) -> Result<OffsetDateTime, StoreError> {
        let now = now();
        let mut tx = self.db.begin_write().await?;
        let marked = sql("UPDATE plans SET applied_at = $2 WHERE id = $1 AND applied_at IS NULL")
            .bind(plan_id.as_uuid())
            .bind(now)
            .execute(&mut tx.conn())
            .await?;
        if marked == 1 {
            tx.commit().await?;
            return Ok(now);
        }
        let row: PlanRow = sql("SELECT body, applied_at FROM plans WHERE id = $1")
            .bind(plan_id.as_uuid())
            .fetch_optional(&mut tx.conn())
            .await?
            .ok_or(StoreError::PlanNotFound(plan_id))?;
        let applied_at = row.applied_at.unwrap_or(now);
        Err(StoreError::PlanAlreadyApplied { plan_id, applied_at })
    }
}
