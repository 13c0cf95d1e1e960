//! What the admin checked on a plan before applying it ([`Selection`]), kept on the server:
//! a plan of 100,000 changes is read a page at a time, so a choice made on one page, or for a
//! whole category, must outlive that page (and a form posted without JavaScript).
//!
//! A category's select all / none is a row of `plan_category_choices`; a change's own box is a
//! row of `plan_change_choices`, which references the change, so a choice can only name a
//! change of its plan. Choosing for a category deletes the boxes recorded in it.

use std::collections::{BTreeMap, HashMap, HashSet};

use roster_domain::plan::{Category, ChangeChoice, Selection, SelectionUpdate};
use roster_domain::{AccountId, ChangeId, PlanId};
use time::OffsetDateTime;

use crate::db::{Conn, Value, fetch_in, insert_rows, sql};
use crate::{Store, StoreError};

#[derive(sqlx::FromRow)]
struct PlanStateRow {
    applied_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct CategoryChoiceRow {
    category: String,
    checked: bool,
}

#[derive(sqlx::FromRow)]
struct ChangeChoiceRow {
    change_id: String,
    category: Option<String>,
    checked: bool,
}

#[derive(sqlx::FromRow)]
struct KnownChangeRow {
    change_id: String,
}

fn category(plan_id: PlanId, name: Option<&str>) -> Result<Category, StoreError> {
    name.unwrap_or_default()
        .parse()
        .map_err(
            |e: roster_domain::ParseError| StoreError::PlanFromEarlierVersion {
                plan_id,
                reason: e.to_string(),
            },
        )
}

/// When the account's plan was applied, if it was; [`StoreError::PlanNotFound`] for a plan of
/// another account.
async fn applied_at(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    plan_id: PlanId,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let row: PlanStateRow = sql("SELECT applied_at FROM plans WHERE id = $1 AND account_id = $2")
        .bind(plan_id.as_uuid())
        .bind(account_id.as_uuid())
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::PlanNotFound(plan_id))?;
    Ok(row.applied_at)
}

impl Store {
    /// Records choices on one of the account's plans that is not applied yet: first each
    /// change's box (the last one given for a change wins), then each category's select all /
    /// none, which clears the boxes recorded in that category. A change the plan does not hold
    /// is refused with [`StoreError::ChangeNotFound`], and nothing is recorded.
    pub async fn record_selection(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
        update: &SelectionUpdate,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(applied_at) = applied_at(&mut tx.conn(), account_id, plan_id).await? {
            return Err(StoreError::PlanAlreadyApplied {
                plan_id,
                applied_at,
            });
        }
        let boxes: HashMap<ChangeId, bool> = update.changes.iter().copied().collect();
        let ids: Vec<Value> = boxes.keys().map(|id| id.to_string().into()).collect();
        let known: Vec<KnownChangeRow> = fetch_in(
            &mut tx.conn(),
            "SELECT change_id FROM plan_changes WHERE plan_id = $1 AND change_id IN ({list})",
            &[plan_id.as_uuid().into()],
            ids,
        )
        .await?;
        let known: HashSet<String> = known.into_iter().map(|row| row.change_id).collect();
        if let Some(unknown) = boxes.keys().find(|id| !known.contains(&id.to_string())) {
            return Err(StoreError::ChangeNotFound {
                plan_id,
                change_id: *unknown,
            });
        }
        let mut rows = Vec::with_capacity(boxes.len() * 3);
        for (id, checked) in &boxes {
            rows.extend([
                Value::from(plan_id.as_uuid()),
                Value::from(id.to_string()),
                Value::from(*checked),
            ]);
        }
        insert_rows(
            &mut tx.conn(),
            "plan_change_choices (plan_id, change_id, checked)",
            "ON CONFLICT (plan_id, change_id) DO UPDATE SET checked = excluded.checked",
            3,
            rows,
        )
        .await?;
        for (category, checked) in &update.categories {
            sql("INSERT INTO plan_category_choices (plan_id, category, checked) VALUES ($1, $2, $3) \
                 ON CONFLICT (plan_id, category) DO UPDATE SET checked = excluded.checked")
            .bind(plan_id.as_uuid())
            .bind(category.as_str())
            .bind(*checked)
            .execute(&mut tx.conn())
            .await?;
            sql(
                "DELETE FROM plan_change_choices WHERE plan_id = $1 AND change_id IN \
                 (SELECT change_id FROM plan_changes WHERE plan_id = $1 AND category = $2)",
            )
            .bind(plan_id.as_uuid())
            .bind(category.as_str())
            .execute(&mut tx.conn())
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The choices recorded on one of the account's plans (none: every change is checked).
    pub async fn selection(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
    ) -> Result<Selection, StoreError> {
        let mut tx = self.db.begin_read().await?;
        applied_at(&mut tx.conn(), account_id, plan_id).await?;
        let categories: Vec<CategoryChoiceRow> =
            sql("SELECT category, checked FROM plan_category_choices WHERE plan_id = $1")
                .bind(plan_id.as_uuid())
                .fetch_all(&mut tx.conn())
                .await?;
        let changes: Vec<ChangeChoiceRow> = sql(
            "SELECT c.change_id, p.category, c.checked FROM plan_change_choices c \
             JOIN plan_changes p ON p.plan_id = c.plan_id AND p.change_id = c.change_id \
             WHERE c.plan_id = $1",
        )
        .bind(plan_id.as_uuid())
        .fetch_all(&mut tx.conn())
        .await?;
        let categories = categories
            .into_iter()
            .map(|row| Ok((category(plan_id, Some(&row.category))?, row.checked)))
            .collect::<Result<BTreeMap<_, _>, StoreError>>()?;
        let changes = changes
            .into_iter()
            .map(|row| {
                let id = row.change_id.parse::<ChangeId>().map_err(|e| {
                    StoreError::PlanFromEarlierVersion {
                        plan_id,
                        reason: e.to_string(),
                    }
                })?;
                let choice = ChangeChoice {
                    category: category(plan_id, row.category.as_deref())?,
                    checked: row.checked,
                };
                Ok((id, choice))
            })
            .collect::<Result<HashMap<_, _>, StoreError>>()?;
        Ok(Selection {
            categories,
            changes,
        })
    }
}
