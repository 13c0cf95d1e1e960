//! The reads behind mail-flow lookups: an account's recipients as one snapshot, what of them
//! changed since a revision (the change feed of migration 0018), and every account's revision,
//! which tells a lookup view which accounts to read again.

use roster_domain::{AccountId, DomainName, EmailAddress, GroupId, UserId};
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::db::{Conn, DbError, Value, built_sql, sql};
use crate::groups::MEMBER_COLUMNS;
use crate::revision::{self, Revision};
use crate::rows::{hex_ids, stored};
use crate::{Store, StoreError};

/// Everything mail flow asks about one account, read in one snapshot at `revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDirectory {
    pub account_id: AccountId,
    pub revision: Revision,
    pub domains: Vec<DomainName>,
    pub users: Vec<MailUser>,
    pub groups: Vec<MailGroup>,
}

/// A user as mail sees it: every user the store holds is an active recipient (the planner
/// removes users that are no longer active).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailUser {
    pub id: UserId,
    pub primary_address: EmailAddress,
    pub aliases: Vec<EmailAddress>,
}

/// A group as mail sees it: mail-enabled when it has an address; its direct members either way,
/// since a group without an address may still be nested in one with an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailGroup {
    pub id: GroupId,
    pub address: Option<EmailAddress>,
    pub aliases: Vec<EmailAddress>,
    pub member_users: Vec<UserId>,
    pub member_groups: Vec<GroupId>,
}

/// What of an account's recipients changed after one revision, read in one snapshot at
/// `revision`: the users and groups whose addresses or members changed, as they are now, and
/// those removed. An object may show as changed though it is not (its change was already in
/// the revision asked about): applying it again is harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailChanges {
    pub account_id: AccountId,
    pub revision: Revision,
    /// Every domain of the account (a short list, read whole each time).
    pub domains: Vec<DomainName>,
    pub users: Vec<MailUser>,
    pub groups: Vec<MailGroup>,
    pub removed_users: Vec<UserId>,
    pub removed_groups: Vec<GroupId>,
}

/// One object's addresses, aggregated into one row as [`ADDRESS_COLUMNS`] selects them: a large
/// account has hundreds of thousands of addresses, and a row per address costs more than
/// anything else in the read.
#[derive(sqlx::FromRow)]
struct UserAddressesRow {
    user_id: Uuid,
    primary_address: Option<String>,
    addresses: Option<String>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    primary_address: Option<String>,
    addresses: Option<String>,
    member_users: Option<String>,
    member_groups: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DomainRow {
    domain: String,
}

#[derive(sqlx::FromRow)]
struct AccountRevisionRow {
    id: Uuid,
    revision: i64,
}

#[derive(sqlx::FromRow)]
struct FeedRow {
    revision: i64,
    mail_removals_from: i64,
}

#[derive(sqlx::FromRow)]
struct RemovalRow {
    object_id: Uuid,
    kind: String,
}

/// Which of an account's objects a read takes: all of them, or those whose mail changed after
/// a revision (`mail_revision`, stamped by `revision::bump`; pending ones count as later).
#[derive(Debug, Clone, Copy)]
enum Objects {
    All,
    ChangedAfter(Revision),
}

impl Objects {
    /// The condition that keeps, of the objects whose ids are in `id`, those this selects
    /// among `table`'s (users or groups), with its parameters after the account's (`$1`).
    fn condition(self, id: &str, table: &str) -> String {
        match self {
            Self::All => String::new(),
            Self::ChangedAfter(_) => format!(
                " AND {id} IN (SELECT id FROM {table} WHERE account_id = $1 AND mail_revision > $2)"
            ),
        }
    }

    fn params(self, account_id: AccountId) -> Vec<Value> {
        let account = Value::from(account_id.as_uuid());
        match self {
            Self::All => vec![account],
            Self::ChangedAfter(revision) => vec![account, Value::from(revision.as_i64())],
        }
    }
}

/// The primary address and the space-separated addresses (no address contains a space) of the
/// objects `a` in the aggregate.
const ADDRESS_COLUMNS: &str = "max(CASE WHEN a.is_primary THEN a.address END) AS primary_address, \
     string_agg(a.address, ' ') AS addresses";

/// The addresses other than the primary, from an aggregated row.
fn aliases(
    what: &'static str,
    primary: Option<&str>,
    all: Option<&str>,
) -> Result<Vec<EmailAddress>, StoreError> {
    all.unwrap_or_default()
        .split(' ')
        .filter(|a| !a.is_empty() && Some(*a) != primary)
        .map(|a| stored::<EmailAddress>(what, a))
        .collect()
}

/// The account's domains, inside the caller's transaction.
async fn domains(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<Vec<DomainName>, StoreError> {
    let rows: Vec<DomainRow> = sql("SELECT domain FROM domains WHERE account_id = $1")
        .bind(account_id.as_uuid())
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|row| stored::<DomainName>("domain", &row.domain))
        .collect()
}

/// The account's users that `objects` selects, with their addresses, inside the caller's
/// transaction.
async fn users(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    objects: Objects,
) -> Result<Vec<MailUser>, StoreError> {
    let rows: Vec<UserAddressesRow> = built_sql(
        format!(
            "SELECT a.user_id, {ADDRESS_COLUMNS} FROM addresses a \
             WHERE a.account_id = $1 AND a.user_id IS NOT NULL{} GROUP BY a.user_id",
            objects.condition("a.user_id", "users")
        ),
        objects.params(account_id),
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let primary = row
                .primary_address
                .as_deref()
                .ok_or_else(|| StoreError::Corrupt {
                    what: "user",
                    reason: format!("the user {} has no primary address", row.user_id),
                })?;
            Ok(MailUser {
                id: UserId::from_uuid(row.user_id),
                primary_address: stored("user address", primary)?,
                aliases: aliases("user address", Some(primary), row.addresses.as_deref())?,
            })
        })
        .collect()
}

/// The account's groups that `objects` selects, with their addresses and direct members, inside
/// the caller's transaction.
async fn groups(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    objects: Objects,
) -> Result<Vec<MailGroup>, StoreError> {
    let rows: Vec<GroupRow> = built_sql(
        format!(
            "SELECT g.id, ga.primary_address, ga.addresses, {MEMBER_COLUMNS} FROM groups g \
             LEFT JOIN (SELECT a.group_id, {ADDRESS_COLUMNS} FROM addresses a \
             WHERE a.account_id = $1 AND a.group_id IS NOT NULL{} GROUP BY a.group_id) ga \
             ON ga.group_id = g.id WHERE g.account_id = $1{}",
            objects.condition("a.group_id", "groups"),
            objects.condition("g.id", "groups")
        ),
        objects.params(account_id),
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let primary = row.primary_address.as_deref();
            Ok(MailGroup {
                id: GroupId::from_uuid(row.id),
                address: primary
                    .map(|a| stored::<EmailAddress>("group address", a))
                    .transpose()?,
                aliases: aliases("group address", primary, row.addresses.as_deref())?,
                member_users: hex_ids("group member", row.member_users.as_deref())?
                    .into_iter()
                    .map(UserId::from_uuid)
                    .collect(),
                member_groups: hex_ids("group member", row.member_groups.as_deref())?
                    .into_iter()
                    .map(GroupId::from_uuid)
                    .collect(),
            })
        })
        .collect()
}

impl Store {
    /// The account's recipients, groups and domains, as one consistent snapshot together with
    /// the revision it shows.
    pub async fn mail_directory(&self, account_id: AccountId) -> Result<MailDirectory, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let revision = revision::current(&mut tx.conn(), account_id)
            .await?
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_string()))?;
        let domains = domains(&mut tx.conn(), account_id).await?;
        let users = users(&mut tx.conn(), account_id, Objects::All).await?;
        let groups = groups(&mut tx.conn(), account_id, Objects::All).await?;
        Ok(MailDirectory {
            account_id,
            revision,
            domains,
            users,
            groups,
        })
    }

    /// What of the account's recipients changed after `since`, as one consistent snapshot.
    /// `None` when the feed cannot tell: removals from that far back have been pruned, or
    /// `since` is ahead of the account (a database restored from an older copy); the caller
    /// then reads the whole [`Store::mail_directory`].
    pub async fn mail_changes(
        &self,
        account_id: AccountId,
        since: Revision,
    ) -> Result<Option<MailChanges>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let feed: FeedRow = sql("SELECT revision, mail_removals_from FROM accounts WHERE id = $1")
            .bind(account_id.as_uuid())
            .fetch_optional(&mut tx.conn())
            .await?
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_string()))?;
        if since.as_i64() < feed.mail_removals_from || since.as_i64() > feed.revision {
            return Ok(None);
        }
        let objects = Objects::ChangedAfter(since);
        let domains = domains(&mut tx.conn(), account_id).await?;
        let users = users(&mut tx.conn(), account_id, objects).await?;
        let groups = groups(&mut tx.conn(), account_id, objects).await?;
        let removals: Vec<RemovalRow> = sql(
            "SELECT object_id, kind FROM mail_removals WHERE account_id = $1 AND revision > $2",
        )
        .bind(account_id.as_uuid())
        .bind(since.as_i64())
        .fetch_all(&mut tx.conn())
        .await?;
        let mut changes = MailChanges {
            account_id,
            revision: Revision::from_i64(feed.revision),
            domains,
            users,
            groups,
            removed_users: Vec::new(),
            removed_groups: Vec::new(),
        };
        for removal in removals {
            match removal.kind.as_str() {
                "user" => changes
                    .removed_users
                    .push(UserId::from_uuid(removal.object_id)),
                "group" => changes
                    .removed_groups
                    .push(GroupId::from_uuid(removal.object_id)),
                other => {
                    return Err(StoreError::Corrupt {
                        what: "mail removal",
                        reason: format!("{other:?} is neither a user nor a group"),
                    });
                }
            }
        }
        Ok(Some(changes))
    }

    /// Every account with its current revision: one small row per account, so that a lookup
    /// view can poll it often and read again only the accounts whose revision moved. An account
    /// missing from the list has been deleted.
    pub async fn account_revisions(&self) -> Result<Vec<(AccountId, Revision)>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<AccountRevisionRow> = sql("SELECT id, revision FROM accounts")
            .fetch_all(&mut tx.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    AccountId::from_uuid(row.id),
                    Revision::from_i64(row.revision),
                )
            })
            .collect())
    }
}

/// The channel on which PostgreSQL announces that an account's revision moved (migration 0018).
const REVISION_CHANNEL: &str = "roster_revisions";

/// Announcements that accounts' revisions moved, each made as its transaction commits: for
/// waking a lookup view at once instead of at its next poll. Announcements made while the
/// listening connection is down are lost, so they speed the poll up and never replace it.
pub struct RevisionNotices(PgListener);

impl RevisionNotices {
    /// Waits for the next announcement and returns the account whose revision moved. A lost
    /// connection is opened again on the next call.
    pub async fn next(&mut self) -> Result<AccountId, StoreError> {
        let notice = self.0.recv().await.map_err(DbError::from)?;
        notice
            .payload()
            .parse::<Uuid>()
            .map(AccountId::from_uuid)
            .map_err(|e| StoreError::Corrupt {
                what: "revision announcement",
                reason: format!("{:?} is not an account id: {e}", notice.payload()),
            })
    }
}

impl std::fmt::Debug for RevisionNotices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevisionNotices")
    }
}

impl Store {
    /// Listens for announcements of moved revisions. `None` on SQLite, which makes none: there
    /// [`Store::account_revisions`] is polled alone.
    pub async fn revision_notices(&self) -> Result<Option<RevisionNotices>, StoreError> {
        let Some(pool) = self.db.postgres_pool() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool)
            .await
            .map_err(DbError::from)?;
        listener
            .listen(REVISION_CHANNEL)
            .await
            .map_err(DbError::from)?;
        Ok(Some(RevisionNotices(listener)))
    }
}
