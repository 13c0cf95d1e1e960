//! The outbox: the messages to mail about accounts, queued where they arise and drained by
//! senders (`roster-notify`), several of which may share one database.
//!
//! A notice about an account event is queued in the event's own transaction. Each row has a
//! unique deduplication key, so that one notice is queued once: an automatic run that keeps
//! failing is told on the first day of its streak and then once a day ("still failing"), not
//! once per run; an expiry warning once per warning and expiry date. Senders claim one due row at
//! a time, right before sending it, with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! SQLite's writers take turns) longer than a send may take, and record the outcome only while
//! they still hold it.

use std::collections::BTreeMap;
use std::time::Duration;

use roster_domain::notice::{self, Audience, ExpiryWarning, Notice};
use roster_domain::plan::Category;
use roster_domain::run::CategoryCount;
use roster_domain::{
    AccountEventKind, AccountId, ConnectionSettings, CredentialKind, EmailAddress, MessageId,
    credential_expiry,
};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::db::{Backend, Conn, sql};
use crate::rows::{now, stored, stored_json, to_json};
use crate::{Store, StoreError};

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting to be sent, or to be retried after a failure.
    Pending,
    Sent,
    /// Given up on: the mail server refused it for good, or retries ran out.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "pending" => Ok(Self::Pending),
            "sent" => Ok(Self::Sent),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::Corrupt {
                what: "outbox status",
                reason: format!("unknown status {other:?}"),
            }),
        }
    }
}

/// One message of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: MessageId,
    pub account_id: AccountId,
    pub notice: Notice,
    pub recipients: Vec<EmailAddress>,
    pub status: OutboxStatus,
    /// Sends tried so far, the one under way included.
    pub attempts: u32,
    /// When the next send may be tried (while pending).
    pub due_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
}

/// How a send that failed ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// Try again at this time.
    RetryAt(OffsetDateTime),
    /// Give up: the message is marked failed.
    GiveUp,
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: Uuid,
    account_id: Uuid,
    notice: String,
    recipients: String,
    status: String,
    attempts: i64,
    due_at: i64,
    last_error: Option<String>,
    created_at: OffsetDateTime,
    sent_at: Option<OffsetDateTime>,
}

impl OutboxRow {
    fn into_message(self) -> Result<OutboxMessage, StoreError> {
        Ok(OutboxMessage {
            id: MessageId::from_uuid(self.id),
            account_id: AccountId::from_uuid(self.account_id),
            notice: stored_json("outbox notice", self.notice.as_bytes())?,
            recipients: self
                .recipients
                .split(' ')
                .filter(|a| !a.is_empty())
                .map(|a| stored("outbox recipient", a))
                .collect::<Result<_, _>>()?,
            status: OutboxStatus::parse(&self.status)?,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            due_at: from_millis(self.due_at)?,
            last_error: self.last_error,
            created_at: self.created_at,
            sent_at: self.sent_at,
        })
    }
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|e| {
        StoreError::Corrupt {
            what: "outbox time",
            reason: e.to_string(),
        }
    })
}

fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

#[derive(sqlx::FromRow)]
struct AddressRow {
    address: String,
}

#[derive(sqlx::FromRow)]
struct StreakRow {
    id: Uuid,
    created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: Uuid,
}

#[derive(sqlx::FromRow)]
struct CountsRow {
    counts: String,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    settings: String,
}

/// The addresses a notice for `audience` goes to; empty when the account has nobody to tell.
pub(crate) async fn recipients(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    audience: Audience,
) -> Result<Vec<String>, StoreError> {
    let statement = match audience {
        Audience::TechContact => sql(
            "SELECT tech_contact_email AS address FROM accounts WHERE id = $1 AND tech_contact_email IS NOT NULL",
        ),
        Audience::Admins => sql(
            "SELECT a.address FROM users u CROSS JOIN addresses a WHERE a.user_id = u.id AND a.is_primary \
             AND u.account_id = $1 AND u.role = 'organization_admin' ORDER BY a.address",
        ),
    };
    let rows: Vec<AddressRow> = statement.bind(account_id.as_uuid()).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| r.address).collect())
}

/// Queues `notice` under `dedup_key`, due at `at`, unless a message with that key exists or
/// nobody is there to tell. Returns whether it queued one.
async fn queue(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    event_id: Option<Uuid>,
    dedup_key: &str,
    notice: &Notice,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let to = recipients(conn, account_id, notice.audience()).await?;
    if to.is_empty() {
        return Ok(false);
    }
    let queued = sql(
        "INSERT INTO outbox (id, account_id, event_id, dedup_key, notice, recipients, status, attempts, due_at, \
         lease_owner, lease_until, last_error, created_at, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, NULL, NULL, NULL, $8, NULL) \
         ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(MessageId::new().as_uuid())
    .bind(account_id.as_uuid())
    .bind(event_id)
    .bind(dedup_key)
    .bind(to_json(notice))
    .bind(to.join(" "))
    .bind(millis(at))
    .bind(now())
    .execute(conn)
    .await?;
    Ok(queued == 1)
}

/// The first event of `kind` in the account's current streak: since the latest automatic run
/// whose status ends such a streak. The event just recorded is part of it, so there is one.
async fn streak_start(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    kind: AccountEventKind,
) -> Result<StreakRow, StoreError> {
    // A failing streak ends with a run that applied its plan; a holding one with a run that
    // held nothing and failed nothing.
    let ended_by = match kind {
        AccountEventKind::AutomaticRunHeld => {
            "SELECT id FROM runs WHERE account_id = $1 AND trigger_kind = 'automatic' \
             AND status = 'succeeded' ORDER BY id DESC LIMIT 1"
        }
        _ => {
            "SELECT id FROM runs WHERE account_id = $1 AND trigger_kind = 'automatic' \
             AND status IN ('succeeded', 'held') ORDER BY id DESC LIMIT 1"
        }
    };
    let ended: Option<IdRow> = sql(ended_by)
        .bind(account_id.as_uuid())
        .fetch_optional(conn)
        .await?;
    // Run and event ids are both UUID v7: they order by time.
    let since = ended.map_or(Uuid::nil(), |r| r.id);
    sql(
        "SELECT id, created_at FROM account_events WHERE account_id = $1 AND kind = $2 AND id > $3 \
         ORDER BY id LIMIT 1",
    )
    .bind(account_id.as_uuid())
    .bind(kind.as_str())
    .bind(since)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| StoreError::Corrupt {
        what: "account event",
        reason: "the event just recorded is missing from its streak".to_owned(),
    })
}

/// The removals a held run left unapplied, by category: those planned and not applied whose
/// *how to sync* switch allows them.
async fn held_removals(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    run_id: Option<Uuid>,
) -> Result<BTreeMap<Category, usize>, StoreError> {
    let Some(run_id) = run_id else {
        return Ok(BTreeMap::new());
    };
    let counts: Option<CountsRow> = sql("SELECT counts FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(counts) = counts else {
        return Ok(BTreeMap::new());
    };
    let counts: BTreeMap<Category, CategoryCount> =
        stored_json("run counts", counts.counts.as_bytes())?;
    let settings: Option<SettingsRow> =
        sql("SELECT settings FROM connections WHERE account_id = $1")
            .bind(account_id.as_uuid())
            .fetch_optional(conn)
            .await?;
    let settings: Option<ConnectionSettings> = settings
        .map(|s| stored_json("connection settings", s.settings.as_bytes()))
        .transpose()?;
    let allowed = |category: Category| {
        settings.as_ref().is_none_or(|s| match category {
            Category::UsersToRemove => s.actions.remove_users,
            Category::GroupsToRemove => s.actions.remove_groups,
            _ => false,
        })
    };
    Ok(counts
        .into_iter()
        .filter(|(category, _)| category.is_removal() && allowed(*category))
        .map(|(category, count)| (category, count.planned.saturating_sub(count.applied)))
        .filter(|(_, held)| *held > 0)
        .collect())
}

/// Queues the notice of an event just recorded (inside its transaction).
pub(crate) async fn queue_event_notice(
    conn: &mut Conn<'_>,
    event: &roster_domain::AccountEvent,
    event_id: Uuid,
) -> Result<bool, StoreError> {
    let account_id = event.account_id;
    let at = event.created_at;
    let run_id = event.run_id;
    let (notice, dedup_key) = match event.kind {
        AccountEventKind::AutomaticSyncTurnedOff => (
            Notice::AutomaticSyncTurnedOff {
                message: event.message.clone(),
            },
            format!("{}:{event_id}", event.kind),
        ),
        kind @ (AccountEventKind::AutomaticRunFailed | AccountEventKind::AutomaticRunHeld) => {
            let streak = streak_start(conn, account_id, kind).await?;
            let day = notice::streak_day(streak.created_at, at);
            let since = (day > 0).then_some(streak.created_at);
            let notice = if kind == AccountEventKind::AutomaticRunHeld {
                Notice::AutomaticRunHeld {
                    run_id,
                    message: event.message.clone(),
                    held: held_removals(conn, account_id, run_id.map(|r| r.as_uuid())).await?,
                    held_since: since,
                }
            } else {
                Notice::AutomaticRunFailed {
                    run_id,
                    message: event.message.clone(),
                    failing_since: since,
                }
            };
            (notice, format!("{kind}:{account_id}:{}:{day}", streak.id))
        }
    };
    queue(conn, account_id, Some(event_id), &dedup_key, &notice, at).await
}

impl Store {
    /// When each connection's credential stops working (its key's expiry date, or its newest
    /// valid certificate's, `domain::credential_expiry`), for the expiry warnings: a
    /// deployment-wide read for the sender, never for a request. A connection whose settings
    /// cannot be read is left out here; the scheduler reports it as that account's failed run.
    pub async fn key_expiry_dates(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<(AccountId, CredentialKind, Date)>, StoreError> {
        Ok(self
            .each_connection()
            .await?
            .into_iter()
            .filter_map(|(account_id, connection)| {
                let connection = connection.ok()?;
                let expires_on = credential_expiry(&connection, now)?;
                Some((account_id, connection.settings.credential, expires_on))
            })
            .collect())
    }

    /// Queues the expiry warning for the account's `credential` expiring on `expires_on`, once
    /// per credential, warning and date. Returns whether it queued one (false: already queued,
    /// or no tech contact).
    pub async fn queue_key_expiry(
        &self,
        account_id: AccountId,
        credential: CredentialKind,
        expires_on: Date,
        warning: ExpiryWarning,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let notice = Notice::KeyExpiry {
            expires_on,
            warning,
            credential,
        };
        // A secret's key keeps the form it had before certificates, so that a warning already
        // queued is not queued again.
        let dedup_key = match credential {
            CredentialKind::Secret => {
                format!("key_expiry:{account_id}:{expires_on}:{}", warning.key())
            }
            CredentialKind::Certificate => format!(
                "certificate_expiry:{account_id}:{expires_on}:{}",
                warning.key()
            ),
        };
        let mut tx = self.db.begin_write().await?;
        let queued = queue(&mut tx.conn(), account_id, None, &dedup_key, &notice, at).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Claims the next message due at `at` for `owner` until `at + lease`: no other sender
    /// claims it meanwhile. The claim counts as an attempt. One message at a time, claimed
    /// right before it is sent: a sender never holds messages it is not sending yet, whose
    /// leases could run out while it is busy with another.
    pub async fn claim_outbox(
        &self,
        owner: &str,
        at: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<OutboxMessage>, StoreError> {
        let statement = match self.db.backend() {
            Backend::Sqlite => sql(
                "UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND due_at <= $3 \
                 AND (lease_until IS NULL OR lease_until <= $3) ORDER BY due_at, id LIMIT 1) \
                 RETURNING id, account_id, notice, recipients, status, attempts, due_at, last_error, created_at, sent_at",
            ),
            // A row another sender has locked is skipped rather than waited for. The row is
            // picked once, in a CTE of its own: as a subquery of the UPDATE the planner may run
            // it again per row.
            Backend::Postgres => sql(
                "WITH next AS MATERIALIZED (SELECT id FROM outbox WHERE status = 'pending' AND due_at <= $3 \
                 AND (lease_until IS NULL OR lease_until <= $3) ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = outbox.attempts + 1 \
                 FROM next WHERE outbox.id = next.id \
                 RETURNING outbox.id, account_id, notice, recipients, status, attempts, due_at, last_error, created_at, sent_at",
            ),
        };
        let now = millis(at);
        let mut tx = self.db.begin_write().await?;
        let row: Option<OutboxRow> = statement
            .bind(owner)
            .bind(now.saturating_add(lease_millis(lease)))
            .bind(now)
            .fetch_optional(&mut tx.conn())
            .await?;
        tx.commit().await?;
        row.map(OutboxRow::into_message).transpose()
    }

    /// Records that `owner` sent the message. Returns false when `owner` no longer held its
    /// lease (another sender took it over after the lease ran out).
    pub async fn outbox_sent(
        &self,
        id: MessageId,
        owner: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let updated = sql(
            "UPDATE outbox SET status = 'sent', sent_at = $3, lease_owner = NULL, lease_until = NULL, last_error = NULL \
             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
        )
        .bind(id.as_uuid())
        .bind(owner)
        .bind(at)
        .execute(&mut tx.conn())
        .await?;
        tx.commit().await?;
        Ok(updated == 1)
    }

    /// Records that `owner`'s send failed with `error`, to be retried or given up. Returns false
    /// when `owner` no longer held its lease.
    pub async fn outbox_failed(
        &self,
        id: MessageId,
        owner: &str,
        error: &str,
        then: SendFailure,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let statement = match then {
            SendFailure::RetryAt(at) => sql(
                "UPDATE outbox SET due_at = $3, last_error = $4, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
            )
            .bind(id.as_uuid())
            .bind(owner)
            .bind(millis(at)),
            SendFailure::GiveUp => sql(
                "UPDATE outbox SET status = 'failed', last_error = $3, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
            )
            .bind(id.as_uuid())
            .bind(owner),
        };
        let updated = statement.bind(error).execute(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(updated == 1)
    }

    /// The account's messages, newest first, at most `limit`: what was sent, what waits, what
    /// failed.
    pub async fn list_outbox(
        &self,
        account_id: AccountId,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<OutboxRow> = sql(
            "SELECT id, account_id, notice, recipients, status, attempts, due_at, last_error, created_at, sent_at \
             FROM outbox WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(account_id.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(&mut tx.conn())
        .await?;
        rows.into_iter().map(OutboxRow::into_message).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_times_keep_milliseconds() {
        let at = time::macros::datetime!(2026-12-01 20:40:00.123456 UTC);
        assert_eq!(
            from_millis(millis(at)).unwrap(),
            time::macros::datetime!(2026-12-01 20:40:00.123 UTC)
        );
    }
}
