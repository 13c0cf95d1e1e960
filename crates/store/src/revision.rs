//! The account's revision: a counter every write to what its plan is computed from bumps, in
//! the same transaction as the write (its users, groups and addresses, its domains and tech
//! contact, its exemptions, its connection's settings and its directory mirror).
//!
//! An apply that carried out a whole plan, with no other writer in between, records the revision
//! it left the account at. While the revision stays there the account is *in step* with its
//! mirror: planning again would propose nothing, so a sync whose delta round brought nothing
//! need not load and plan the whole tenant to find that out.
//!
//! The account's *mirror version* counts changes to its directory mirror's content alone: a
//! plan built at one stays current (applicable) only while the mirror is still at it, and the
//! revision, which every write to the account moves, would age a plan that nothing made wrong.

use std::fmt;

use roster_domain::{AccountId, PlanId};
use uuid::Uuid;

use crate::db::{Conn, DbError, sql};
use crate::{Store, StoreError};

/// One state of an account's contents, as the counter numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(i64);

impl Revision {
    pub(crate) fn from_i64(revision: i64) -> Self {
        Self(revision)
    }

    pub(crate) fn as_i64(self) -> i64 {
        self.0
    }

    /// The revision one write after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One state of an account's directory mirror: the counter moves only when the mirror's
/// content changes, never for a delta round that brought nothing new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MirrorVersion(i64);

impl MirrorVersion {
    pub(crate) fn as_i64(self) -> i64 {
        self.0
    }
}

impl fmt::Display for MirrorVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(sqlx::FromRow)]
struct MirrorVersionRow {
    mirror_version: i64,
}

/// Moves the account's mirror version on, inside the caller's transaction: call it whenever the
/// mirror's content changes. Plans built before are then no longer current.
pub(crate) async fn bump_mirror_version(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<(), DbError> {
    sql("UPDATE accounts SET mirror_version = mirror_version + 1 WHERE id = $1")
        .bind(account_id.as_uuid())
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    revision: i64,
}

#[derive(sqlx::FromRow)]
struct InStepRow {
    in_step_plan_id: Option<Uuid>,
}

/// Bumps the account's revision inside the caller's transaction and returns the new one. The
/// update also locks the account's row until the transaction ends, so two writers' revisions
/// never interleave.
///
/// It also stamps the mail-flow change feed (migration 0018): the users, groups and tombstones
/// that triggers marked pending since the last bump get the new revision, and tombstones older
/// than [`MAIL_REMOVALS_KEPT`] revisions are pruned.
pub(crate) async fn bump(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<Option<Revision>, DbError> {
    let row: Option<RevisionRow> =
        sql("UPDATE accounts SET revision = revision + 1 WHERE id = $1 RETURNING revision")
            .bind(account_id.as_uuid())
            .fetch_optional(&mut *conn)
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    for statement in [
        "UPDATE users SET mail_revision = $2 WHERE account_id = $1 AND mail_revision = $3",
        "UPDATE groups SET mail_revision = $2 WHERE account_id = $1 AND mail_revision = $3",
        "UPDATE mail_removals SET revision = $2 WHERE account_id = $1 AND revision = $3",
    ] {
        sql(statement)
            .bind(account_id.as_uuid())
            .bind(row.revision)
            .bind(MAIL_PENDING)
            .execute(&mut *conn)
            .await?;
    }
    let kept_from = row.revision - MAIL_REMOVALS_KEPT;
    let pruned = sql("DELETE FROM mail_removals WHERE account_id = $1 AND revision < $2")
        .bind(account_id.as_uuid())
        .bind(kept_from)
        .execute(&mut *conn)
        .await?;
    if pruned > 0 {
        sql("UPDATE accounts SET mail_removals_from = $2 WHERE id = $1")
            .bind(account_id.as_uuid())
            .bind(kept_from)
            .execute(conn)
            .await?;
    }
    Ok(Some(Revision(row.revision)))
}

/// The `mail_revision` of an object whose mail changed in a transaction that has not bumped the
/// revision since: above every revision, so that it counts as changed after any of them.
const MAIL_PENDING: i64 = i64::MAX;

/// How many revisions back the tombstones of removed users and groups reach. A lookup view
/// further behind than this reads its account whole: a view polls several times a second, so
/// only one that could not reach the database for a long while falls that far behind.
const MAIL_REMOVALS_KEPT: i64 = 10_000;

/// The account's revision, inside the caller's transaction.
pub(crate) async fn current(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<Option<Revision>, DbError> {
    let row: Option<RevisionRow> = sql("SELECT revision FROM accounts WHERE id = $1")
        .bind(account_id.as_uuid())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| Revision(r.revision)))
}

/// The plan that left the account in step with its mirror, if nothing has changed since, inside
/// the caller's transaction.
pub(crate) async fn in_step_plan(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<Option<PlanId>, DbError> {
    let row: Option<InStepRow> =
        sql("SELECT in_step_plan_id FROM accounts WHERE id = $1 AND in_step_revision = revision")
            .bind(account_id.as_uuid())
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|r| r.in_step_plan_id).map(PlanId::from_uuid))
}

impl Store {
    /// The account's current revision.
    pub async fn revision(&self, account_id: AccountId) -> Result<Revision, StoreError> {
        let mut tx = self.db.begin_read().await?;
        current(&mut tx.conn(), account_id)
            .await?
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_string()))
    }

    /// The account's current mirror version: read it before reading what a plan is built from.
    pub async fn mirror_version(&self, account_id: AccountId) -> Result<MirrorVersion, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: Option<MirrorVersionRow> =
            sql("SELECT mirror_version FROM accounts WHERE id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?;
        row.map(|r| MirrorVersion(r.mirror_version))
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_string()))
    }

    /// Records that `plan`, fully applied, left the account in step with its mirror at
    /// `revision`. Nothing is recorded, and `false` returned, if the account has moved on since.
    pub async fn record_in_step(
        &self,
        account_id: AccountId,
        revision: Revision,
        plan_id: PlanId,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let recorded = sql("UPDATE accounts SET in_step_revision = $2, in_step_plan_id = $3 WHERE id = $1 AND revision = $2")
            .bind(account_id.as_uuid())
            .bind(revision.0)
            .bind(plan_id.as_uuid())
            .execute(&mut tx.conn())
            .await?;
        tx.commit().await?;
        Ok(recorded == 1)
    }

    /// The plan that left the account in step with its mirror, if nothing has changed since.
    pub async fn in_step_plan(&self, account_id: AccountId) -> Result<Option<PlanId>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        Ok(in_step_plan(&mut tx.conn(), account_id).await?)
    }
}
