//! The reads behind mail-flow lookups: an account's recipients as one snapshot, and every
//! account's revision, which tells a lookup view which accounts to read again.

use roster_domain::{AccountId, DomainName, EmailAddress, GroupId, UserId};
use uuid::Uuid;

use crate::db::{Value, built_sql, sql};
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

impl Store {
    /// The account's recipients, groups and domains, as one consistent snapshot together with
    /// the revision it shows.
    pub async fn mail_directory(&self, account_id: AccountId) -> Result<MailDirectory, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let revision = revision::current(&mut tx.conn(), account_id)
            .await?
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_string()))?;
        let domains: Vec<DomainRow> = sql("SELECT domain FROM domains WHERE account_id = $1")
            .bind(account_id.as_uuid())
            .fetch_all(&mut tx.conn())
            .await?;
        let account = || vec![Value::from(account_id.as_uuid())];
        let user_rows: Vec<UserAddressesRow> = built_sql(
            format!(
                "SELECT a.user_id, {ADDRESS_COLUMNS} FROM addresses a \
                 WHERE a.account_id = $1 AND a.user_id IS NOT NULL GROUP BY a.user_id"
            ),
            account(),
        )
        .fetch_all(&mut tx.conn())
        .await?;
        let group_rows: Vec<GroupRow> = built_sql(
            format!(
                "SELECT g.id, ga.primary_address, ga.addresses, {MEMBER_COLUMNS} FROM groups g \
                 LEFT JOIN (SELECT a.group_id, {ADDRESS_COLUMNS} FROM addresses a \
                 WHERE a.account_id = $1 AND a.group_id IS NOT NULL GROUP BY a.group_id) ga \
                 ON ga.group_id = g.id WHERE g.account_id = $1"
            ),
            account(),
        )
        .fetch_all(&mut tx.conn())
        .await?;
        drop(tx);

        let domains = domains
            .into_iter()
            .map(|row| stored::<DomainName>("domain", &row.domain))
            .collect::<Result<_, _>>()?;
        let users = user_rows
            .into_iter()
            .map(|row| {
                let primary =
                    row.primary_address
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
            .collect::<Result<_, StoreError>>()?;
        let groups = group_rows
            .into_iter()
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
            .collect::<Result<_, StoreError>>()?;
        Ok(MailDirectory {
            account_id,
            revision,
            domains,
            users,
            groups,
        })
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
