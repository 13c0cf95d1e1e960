//! Exemptions: directory objects no plan may change.

use std::collections::BTreeSet;

use roster_domain::{AccountId, Exemption, ExternalId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::require_account;
use crate::db::{Constraint, DbError, Value, fetch_in, sql};
use crate::revision;
use crate::rows::{now, stored};
use crate::{Store, StoreError};

#[derive(sqlx::FromRow)]
struct ExemptionRow {
    account_id: Uuid,
    external_id: String,
    actor: String,
    created_at: OffsetDateTime,
}

impl Store {
    /// Exempts a directory object from sync.
    pub async fn add_exemption(
        &self,
        account_id: AccountId,
        external_id: ExternalId,
        actor: &str,
    ) -> Result<Exemption, StoreError> {
        let created_at = now();
        let mut tx = self.db.begin_write().await?;
        require_account(&mut tx.conn(), account_id).await?;
        sql("INSERT INTO exemptions (account_id, external_id, actor, created_at) VALUES ($1, $2, $3, $4)")
            .bind(account_id.as_uuid())
            .bind(external_id.as_str())
            .bind(actor)
            .bind(created_at)
            .execute(&mut tx.conn())
            .await
            .map_err(|e| match e {
                DbError::Violation(Constraint::Exemption) => StoreError::AlreadyExempt(external_id.clone()),
                e => e.into(),
            })?;
        revision::bump(&mut tx.conn(), account_id).await?;
        tx.commit().await?;
        Ok(Exemption {
            account_id,
            external_id,
            actor: actor.to_owned(),
            created_at,
        })
    }

    /// Lifts an exemption; returns whether there was one.
    pub async fn remove_exemption(
        &self,
        account_id: AccountId,
        external_id: &ExternalId,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let removed = sql("DELETE FROM exemptions WHERE account_id = $1 AND external_id = $2")
            .bind(account_id.as_uuid())
            .bind(external_id.as_str())
            .execute(&mut tx.conn())
            .await?;
        if removed > 0 {
            revision::bump(&mut tx.conn(), account_id).await?;
        }
        tx.commit().await?;
        Ok(removed > 0)
    }

    /// The account's exemptions, by directory id.
    pub async fn list_exemptions(
        &self,
        account_id: AccountId,
    ) -> Result<Vec<Exemption>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<ExemptionRow> = sql(
            "SELECT account_id, external_id, actor, created_at FROM exemptions WHERE account_id = $1 ORDER BY external_id",
        )
        .bind(account_id.as_uuid())
        .fetch_all(&mut tx.conn())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Exemption {
                    account_id: AccountId::from_uuid(r.account_id),
                    external_id: stored("external id", &r.external_id)?,
                    actor: r.actor,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    /// Which of these directory objects the account exempts from sync.
    pub async fn exempt_among(
        &self,
        account_id: AccountId,
        external_ids: &[ExternalId],
    ) -> Result<BTreeSet<ExternalId>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Exempt {
            external_id: String,
        }
        let mut tx = self.db.begin_read().await?;
        let keys = external_ids
            .iter()
            .map(|id| Value::from(id.as_str()))
            .collect();
        let rows: Vec<Exempt> = fetch_in(
            &mut tx.conn(),
            "SELECT external_id FROM exemptions WHERE account_id = $1 AND external_id IN ({list})",
            &[account_id.as_uuid().into()],
            keys,
        )
        .await?;
        rows.iter()
            .map(|row| stored("external id", &row.external_id))
            .collect()
    }
}
