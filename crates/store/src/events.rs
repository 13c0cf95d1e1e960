//! Account events: the history a person should hear of, and the outbox that tells them.

use roster_domain::{AccountEvent, AccountEventKind, AccountId, RunId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::require_account;
use crate::db::{Constraint, DbError, sql};
use crate::outbox;
use crate::rows::{now, stored};
use crate::{Store, StoreError};

#[derive(sqlx::FromRow)]
struct EventRow {
    account_id: Uuid,
    kind: String,
    message: String,
    notify: Option<String>,
    run_id: Option<Uuid>,
    created_at: OffsetDateTime,
}

impl EventRow {
    fn into_event(self) -> Result<AccountEvent, StoreError> {
        Ok(AccountEvent {
            account_id: AccountId::from_uuid(self.account_id),
            kind: stored("account event kind", &self.kind)?,
            message: self.message,
            notify: self
                .notify
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(|a| stored("account event address", a))
                .collect::<Result<_, _>>()?,
            run_id: self.run_id.map(RunId::from_uuid),
            created_at: self.created_at,
        })
    }
}

impl Store {
    /// Records an event, addressed to its kind's audience as the account stands: the tech
    /// contact, or the admins when automatic sync was turned off for lack of one. Its notice is
    /// queued in the outbox to them in the same transaction (deduplicated, see `outbox.rs`).
    pub async fn record_event(
        &self,
        account_id: AccountId,
        kind: AccountEventKind,
        message: &str,
        run_id: Option<RunId>,
    ) -> Result<AccountEvent, StoreError> {
        let mut tx = self.db.begin_write().await?;
        require_account(&mut tx.conn(), account_id).await?;
        let notify = outbox::recipients(&mut tx.conn(), account_id, kind.audience())
            .await?
            .join(" ");
        let notify = (!notify.is_empty()).then_some(notify);
        let id = Uuid::now_v7();
        let created_at = now();
        sql("INSERT INTO account_events (id, account_id, kind, message, notify, run_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(id)
        .bind(account_id.as_uuid())
        .bind(kind.as_str())
        .bind(message)
        .bind(notify.clone())
        .bind(run_id.map(|r| r.as_uuid()))
        .bind(created_at)
        .execute(&mut tx.conn())
        .await
        .map_err(|e| match e {
            DbError::Violation(Constraint::ForeignKey) => StoreError::AccountNotFound(account_id.to_string()),
            e => e.into(),
        })?;
        let event = EventRow {
            account_id: account_id.as_uuid(),
            kind: kind.as_str().to_owned(),
            message: message.to_owned(),
            notify,
            run_id: run_id.map(|r| r.as_uuid()),
            created_at,
        }
        .into_event()?;
        outbox::queue_event_notice(&mut tx.conn(), &event, id).await?;
        tx.commit().await?;
        Ok(event)
    }

    /// The account's events, newest first, at most `limit`.
    pub async fn list_events(
        &self,
        account_id: AccountId,
        limit: u32,
    ) -> Result<Vec<AccountEvent>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<EventRow> = sql(
            "SELECT account_id, kind, message, notify, run_id, created_at FROM account_events \
             WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(account_id.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(&mut tx.conn())
        .await?;
        rows.into_iter().map(EventRow::into_event).collect()
    }
}
