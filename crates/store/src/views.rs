//! Reads that serve one request: a page of users, a plan's summary and a page of its changes,
//! a run and its progress. Each takes the account, so an object of another account is not
//! found rather than shown; and each reads one page, whatever the account's size.

use std::collections::BTreeMap;

use roster_domain::plan::{Category, Change, Plan};
use roster_domain::run::Run;
use roster_domain::{AccountId, ChangeId, EmailAddress, PlanId, Role, RunId, Source, User};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{Conn, Value, built_sql, fetch_in, sql};
use crate::rows::{UserRow, user_rows};
use crate::{Store, StoreError};

/// Which users a page shows, and after or before which one it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// The page starts after this primary address (the previous page's last).
    pub after: Option<EmailAddress>,
    /// The page ends before this primary address (the next page's first): the `limit` users
    /// just before it, still by primary address, for paging backwards.
    pub before: Option<EmailAddress>,
    pub limit: u32,
    /// Part of an address (primary) or a name, case-insensitive.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub source: Option<Source>,
}

/// Which changes of a plan a page shows, and after which one it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeQuery {
    /// The page starts after this position in the plan (the previous page's cursor).
    pub after: Option<u64>,
    pub limit: u32,
    pub category: Option<Category>,
    /// Part of the change's summary, case-insensitive.
    pub search: Option<String>,
}

/// A page of a plan's changes; `last_position` is the cursor of the next page, when there may
/// be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    pub last_position: Option<u64>,
}

/// One page of one category of a plan, as the plan page shows it: numbered pages, so that a
/// category of 100,000 changes can be paged through and jumped into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryQuery {
    pub category: Category,
    /// Part of the change's summary, case-insensitive.
    pub search: Option<String>,
    /// How many matching changes come before the page.
    pub offset: u64,
    pub limit: u32,
}

/// A page of a category's changes, and how many changes of the category match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryPage {
    pub changes: Vec<Change>,
    pub matching: u64,
}

/// A plan without its changes, with how many it holds per category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    pub plan: Plan,
    pub applied_at: Option<OffsetDateTime>,
    pub counts: BTreeMap<Category, usize>,
}

/// What a running sync is doing, as last recorded (at most about once a second).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunProgress {
    /// "reading", "planning" or "applying"; none before the first record.
    pub phase: Option<String>,
    pub objects_read: u64,
    pub changes_total: u64,
    pub changes_applied: u64,
}

/// A `LIKE` pattern matching `text` anywhere, its wildcards escaped (with `\`).
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: Uuid,
}

#[derive(sqlx::FromRow)]
struct PositionedChange {
    position: i64,
    body: String,
}

#[derive(sqlx::FromRow)]
struct CategoryCountRow {
    category: String,
    count: i64,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    body: String,
    applied_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct ProgressRow {
    progress_phase: Option<String>,
    progress_objects_read: i64,
    progress_changes_total: i64,
    progress_changes_applied: i64,
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// The account's users whose ids `statement` selects (as `id`), by primary address.
pub(crate) async fn users_with_ids(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    statement: String,
    params: Vec<Value>,
) -> Result<Vec<User>, StoreError> {
    let ids: Vec<IdRow> = built_sql(statement, params).fetch_all(&mut *conn).await?;
    let keys: Vec<Value> = ids.iter().map(|row| row.id.into()).collect();
    let template = user_rows(
        "u.account_id = $1",
        "account_id = $1 AND user_id IN ({list})",
    );
    let rows: Vec<UserRow> =
        fetch_in(conn, &template, &[account_id.as_uuid().into()], keys).await?;
    let mut users = rows
        .into_iter()
        .map(UserRow::into_user)
        .collect::<Result<Vec<_>, _>>()?;
    users.sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
    Ok(users)
}

impl Store {
    /// A page of the account's users by primary address.
    pub async fn users_page(
        &self,
        account_id: AccountId,
        query: &UserQuery,
    ) -> Result<Vec<User>, StoreError> {
        let mut statement = String::from(
            "SELECT a.user_id AS id FROM addresses a JOIN users u ON u.id = a.user_id \
             WHERE a.account_id = $1 AND a.is_primary = $2 AND a.user_id IS NOT NULL",
        );
        let mut params: Vec<Value> = vec![account_id.as_uuid().into(), true.into()];
        let next = |params: &mut Vec<Value>, value: Value| {
            params.push(value);
            params.len()
        };
        if let Some(after) = &query.after {
            let n = next(&mut params, after.as_str().into());
            statement.push_str(&format!(" AND a.address > ${n}"));
        }
        if let Some(before) = &query.before {
            let n = next(&mut params, before.as_str().into());
            statement.push_str(&format!(" AND a.address < ${n}"));
        }
        if let Some(role) = query.role {
            let n = next(&mut params, role.as_str().into());
            statement.push_str(&format!(" AND u.role = ${n}"));
        }
        if let Some(source) = query.source {
            let n = next(&mut params, source.as_str().into());
            statement.push_str(&format!(" AND u.source = ${n}"));
        }
        if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
            let n = next(&mut params, contains_pattern(search.trim()).into());
            statement.push_str(&format!(
                " AND (a.address LIKE ${n} ESCAPE '\\' OR lower(coalesce(u.display_name, '')) LIKE ${n} ESCAPE '\\' \
                 OR lower(coalesce(u.first_name, '') || ' ' || coalesce(u.last_name, '')) LIKE ${n} ESCAPE '\\')"
            ));
        }
        // Paging backwards, the users nearest `before` are the last ones in address order: read
        // downwards so that the limit keeps them; `users_with_ids` puts them back in order.
        let order = if query.before.is_some() {
            "DESC"
        } else {
            "ASC"
        };
        let n = next(&mut params, i64::from(query.limit).into());
        statement.push_str(&format!(" ORDER BY a.address {order} LIMIT ${n}"));
        let mut tx = self.db.begin_read().await?;
        users_with_ids(&mut tx.conn(), account_id, statement, params).await
    }

    /// One of the account's plans without its changes, counted per category.
    pub async fn plan_summary(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
    ) -> Result<PlanSummary, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: PlanRow =
            sql("SELECT body, applied_at FROM plans WHERE id = $1 AND account_id = $2")
                .bind(plan_id.as_uuid())
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?
                .ok_or(StoreError::PlanNotFound(plan_id))?;
        let mut plan: Plan =
            serde_json::from_str(&row.body).map_err(|e| StoreError::PlanFromEarlierVersion {
                plan_id,
                reason: e.to_string(),
            })?;
        let rows: Vec<CategoryCountRow> = sql(
            "SELECT category, COUNT(*) AS count FROM plan_changes WHERE plan_id = $1 GROUP BY category",
        )
        .bind(plan_id.as_uuid())
        .fetch_all(&mut tx.conn())
        .await?;
        let mut counts: BTreeMap<Category, usize> = Category::ALL.iter().map(|&c| (c, 0)).collect();
        for row in rows {
            let category = Category::ALL
                .into_iter()
                .find(|c| c.as_str() == row.category)
                .ok_or_else(|| StoreError::PlanFromEarlierVersion {
                    plan_id,
                    reason: format!("a change has the unknown category {:?}", row.category),
                })?;
            *counts.entry(category).or_default() += usize::try_from(row.count).unwrap_or_default();
        }
        // Plans stored before `plan_changes` existed hold their changes in the plan row.
        for change in &plan.changes {
            *counts.entry(change.category).or_default() += 1;
        }
        plan.changes.clear();
        Ok(PlanSummary {
            plan,
            applied_at: row.applied_at,
            counts,
        })
    }

    /// A page of one of the account's plans' changes, in plan order.
    pub async fn plan_changes_page(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
        query: &ChangeQuery,
    ) -> Result<ChangePage, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let exists: Option<IdRow> = sql("SELECT id FROM plans WHERE id = $1 AND account_id = $2")
            .bind(plan_id.as_uuid())
            .bind(account_id.as_uuid())
            .fetch_optional(&mut tx.conn())
            .await?;
        if exists.is_none() {
            return Err(StoreError::PlanNotFound(plan_id));
        }
        // Keyset paging: each page starts at its cursor, by the primary key, or by
        // `plan_changes_by_category` within a category, and reads only until it is full.
        let mut statement = String::from(
            "SELECT position, body FROM plan_changes WHERE plan_id = $1 AND position > $2",
        );
        let after = query
            .after
            .map_or(-1, |p| i64::try_from(p).unwrap_or(i64::MAX));
        let mut params: Vec<Value> = vec![plan_id.as_uuid().into(), after.into()];
        if let Some(category) = query.category {
            params.push(category.as_str().into());
            statement.push_str(&format!(" AND category = ${}", params.len()));
        }
        if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
            params.push(contains_pattern(search.trim()).into());
            statement.push_str(&format!(
                " AND search_text LIKE ${} ESCAPE '\\'",
                params.len()
            ));
        }
        params.push(i64::from(query.limit).into());
        statement.push_str(&format!(" ORDER BY position LIMIT ${}", params.len()));
        let rows: Vec<PositionedChange> = built_sql(statement, params)
            .fetch_all(&mut tx.conn())
            .await?;
        let full = rows.len() == query.limit as usize;
        let last_position = rows.last().filter(|_| full).map(|r| count(r.position));
        let changes = rows
            .iter()
            .map(|row| {
                serde_json::from_str::<Change>(&row.body).map_err(|e| {
                    StoreError::PlanFromEarlierVersion {
                        plan_id,
                        reason: e.to_string(),
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ChangePage {
            changes,
            last_position,
        })
    }

    /// A numbered page of one category of one of the account's plans, in plan order.
    pub async fn plan_category_page(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
        query: &CategoryQuery,
    ) -> Result<CategoryPage, StoreError> {
        #[derive(sqlx::FromRow)]
        struct CountRow {
            count: i64,
        }
        let mut tx = self.db.begin_read().await?;
        let exists: Option<IdRow> = sql("SELECT id FROM plans WHERE id = $1 AND account_id = $2")
            .bind(plan_id.as_uuid())
            .bind(account_id.as_uuid())
            .fetch_optional(&mut tx.conn())
            .await?;
        if exists.is_none() {
            return Err(StoreError::PlanNotFound(plan_id));
        }
        let mut filter = String::from("plan_id = $1 AND category = $2");
        let mut params: Vec<Value> = vec![plan_id.as_uuid().into(), query.category.as_str().into()];
        if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
            params.push(contains_pattern(search.trim()).into());
            filter.push_str(&format!(
                " AND search_text LIKE ${} ESCAPE '\\'",
                params.len()
            ));
        }
        let counted: Option<CountRow> = built_sql(
            format!("SELECT COUNT(*) AS count FROM plan_changes WHERE {filter}"),
            params.clone(),
        )
        .fetch_optional(&mut tx.conn())
        .await?;
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let n = params.len();
        params.extend([i64::from(query.limit).into(), offset.into()]);
        let rows: Vec<PositionedChange> = built_sql(
            format!(
                "SELECT position, body FROM plan_changes WHERE {filter} ORDER BY position LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            params,
        )
        .fetch_all(&mut tx.conn())
        .await?;
        let changes = rows
            .iter()
            .map(|row| {
                serde_json::from_str::<Change>(&row.body).map_err(|e| {
                    StoreError::PlanFromEarlierVersion {
                        plan_id,
                        reason: e.to_string(),
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(CategoryPage {
            changes,
            matching: counted.map_or(0, |row| count(row.count)),
        })
    }

    /// One of the account's runs, with its last recorded progress.
    pub async fn account_run(
        &self,
        account_id: AccountId,
        run_id: RunId,
    ) -> Result<(Run, RunProgress), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let progress: ProgressRow = sql(
            "SELECT progress_phase, progress_objects_read, progress_changes_total, progress_changes_applied \
             FROM runs WHERE id = $1 AND account_id = $2",
        )
        .bind(run_id.as_uuid())
        .bind(account_id.as_uuid())
        .fetch_optional(&mut tx.conn())
        .await?
        .ok_or(StoreError::RunNotFound(run_id))?;
        drop(tx);
        let run = self.run(account_id, run_id).await?;
        Ok((
            run,
            RunProgress {
                phase: progress.progress_phase,
                objects_read: count(progress.progress_objects_read),
                changes_total: count(progress.progress_changes_total),
                changes_applied: count(progress.progress_changes_applied),
            },
        ))
    }

    /// Records a running sync's progress. A finished run keeps the last progress recorded.
    pub async fn record_run_progress(
        &self,
        run_id: RunId,
        progress: &RunProgress,
    ) -> Result<(), StoreError> {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut tx = self.db.begin_write().await?;
        sql("UPDATE runs SET progress_phase = $2, progress_objects_read = $3, progress_changes_total = $4, \
             progress_changes_applied = $5 WHERE id = $1 AND status = 'running'")
        .bind(run_id.as_uuid())
        .bind(progress.phase.clone())
        .bind(as_i64(progress.objects_read))
        .bind(as_i64(progress.changes_total))
        .bind(as_i64(progress.changes_applied))
        .execute(&mut tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The ids of every change of one of the account's plans, in plan order.
    pub async fn plan_change_ids(
        &self,
        account_id: AccountId,
        plan_id: PlanId,
    ) -> Result<Vec<ChangeId>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct ChangeIdRow {
            change_id: String,
        }
        let mut tx = self.db.begin_read().await?;
        let plan: PlanRow =
            sql("SELECT body, applied_at FROM plans WHERE id = $1 AND account_id = $2")
                .bind(plan_id.as_uuid())
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?
                .ok_or(StoreError::PlanNotFound(plan_id))?;
        let rows: Vec<ChangeIdRow> =
            sql("SELECT change_id FROM plan_changes WHERE plan_id = $1 ORDER BY position")
                .bind(plan_id.as_uuid())
                .fetch_all(&mut tx.conn())
                .await?;
        let corrupt = |reason: String| StoreError::PlanFromEarlierVersion { plan_id, reason };
        let mut ids = rows
            .iter()
            .map(|row| {
                row.change_id
                    .parse::<ChangeId>()
                    .map_err(|e| corrupt(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Plans stored before `plan_changes` existed hold their changes in the plan row.
        if ids.is_empty() {
            let plan: Plan =
                serde_json::from_str(&plan.body).map_err(|e| corrupt(e.to_string()))?;
            ids = plan.changes.iter().map(|c| c.id).collect();
        }
        Ok(ids)
    }

    /// Answers when the database does: the readiness check.
    pub async fn ping(&self) -> Result<(), StoreError> {
        #[derive(sqlx::FromRow)]
        struct One {
            one: i64,
        }
        let mut tx = self.db.begin_read().await?;
        let row: Option<One> = sql("SELECT CAST(1 AS BIGINT) AS one")
            .fetch_optional(&mut tx.conn())
            .await?;
        match row {
            Some(One { one: 1 }) => Ok(()),
            _ => Err(StoreError::Unavailable {
                reason: "the database answered SELECT 1 with something else".to_owned(),
            }),
        }
    }
}
