//! Reading the part of an account that a delta round reaches: the objects with given directory
//! ids or addresses, the groups holding given members, and the names of synced members. A sync
//! that plans only that part reads these instead of the whole account.

use std::collections::BTreeSet;

use roster_domain::{
    AccountId, EmailAddress, ExternalId, Group, GroupId, SyncedGroup, SyncedUser, User, UserId,
};
use uuid::Uuid;

use crate::addresses::OwnedBy;
use crate::db::{Conn, DbError, Value, fetch_in, sql};
use crate::groups::{Members, read_groups};
use crate::rows::{UserRow, stored, user_rows};
use crate::{Store, StoreError};

/// Which objects of an account to read: those with these directory ids, and those holding these
/// addresses, manual or synced.
#[derive(Debug, Clone, Default)]
pub struct ObjectKeys<'k> {
    pub user_external_ids: &'k [ExternalId],
    pub group_external_ids: &'k [ExternalId],
    pub addresses: &'k [EmailAddress],
}

/// Which synced members to name: users and groups by directory id or by id in the account.
#[derive(Debug, Clone, Default)]
pub struct MemberKeys<'k> {
    pub user_external_ids: &'k [ExternalId],
    pub user_ids: &'k [UserId],
    pub group_external_ids: &'k [ExternalId],
    pub group_ids: &'k [GroupId],
}

/// A group's membership of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Membership {
    pub group: GroupId,
    pub member: OwnedBy,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: Uuid,
}

#[derive(sqlx::FromRow)]
struct HolderRow {
    user_id: Option<Uuid>,
    group_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    group_id: Uuid,
    member_id: Uuid,
    /// The group's: only synced groups have one.
    external_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SyncedUserRow {
    external_id: Option<String>,
    id: Uuid,
    address: String,
}

#[derive(sqlx::FromRow)]
struct SyncedGroupRow {
    external_id: Option<String>,
    id: Uuid,
    name: String,
    address: Option<String>,
}

/// Text keys for an `IN ({list})`.
fn texts<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
    keys.into_iter().map(Value::from).collect()
}

fn uuids(keys: impl IntoIterator<Item = Uuid>) -> Vec<Value> {
    keys.into_iter().map(Value::from).collect()
}

async fn ids_where(
    conn: &mut Conn<'_>,
    template: &str,
    account_id: AccountId,
    keys: Vec<Value>,
) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<IdRow> =
        fetch_in(conn, template, &[Value::from(account_id.as_uuid())], keys).await?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

impl Store {
    /// The account's users and groups that `keys` names, whole: with their addresses and direct
    /// members. Users come by primary address, groups by name, each once.
    pub async fn objects(
        &self,
        account_id: AccountId,
        keys: &ObjectKeys<'_>,
    ) -> Result<(Vec<User>, Vec<Group>), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let conn = &mut tx.conn();
        let account = [Value::from(account_id.as_uuid())];
        let mut user_ids: BTreeSet<Uuid> = BTreeSet::new();
        let mut group_ids: BTreeSet<Uuid> = BTreeSet::new();
        let by_external_id = texts(keys.user_external_ids.iter().map(ExternalId::as_str));
        user_ids.extend(
            ids_where(
                conn,
                "SELECT id FROM users WHERE account_id = $1 AND external_id IN ({list})",
                account_id,
                by_external_id,
            )
            .await?,
        );
        let by_external_id = texts(keys.group_external_ids.iter().map(ExternalId::as_str));
        group_ids.extend(
            ids_where(
                conn,
                "SELECT id FROM groups WHERE account_id = $1 AND external_id IN ({list})",
                account_id,
                by_external_id,
            )
            .await?,
        );
        let holders: Vec<HolderRow> = fetch_in(
            conn,
            "SELECT user_id, group_id FROM addresses WHERE account_id = $1 AND address IN ({list})",
            &account,
            texts(keys.addresses.iter().map(EmailAddress::as_str)),
        )
        .await?;
        for holder in holders {
            user_ids.extend(holder.user_id);
            group_ids.extend(holder.group_id);
        }
        let statement = user_rows("TRUE", "user_id IN ({list})");
        let rows: Vec<UserRow> =
            fetch_in(conn, &statement, &[], uuids(user_ids.iter().copied())).await?;
        if rows.len() != user_ids.len() {
            let reason = format!(
                "{} of the users read have no primary address",
                user_ids.len() - rows.len()
            );
            return Err(StoreError::Corrupt {
                what: "user",
                reason,
            });
        }
        let mut users = rows
            .into_iter()
            .map(UserRow::into_user)
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
        let groups = read_groups(
            conn,
            account_id,
            group_ids.into_iter().collect(),
            Members::Read,
        )
        .await?;
        Ok((users, groups))
    }

    /// The account's groups with these ids or directory ids, by name, with their addresses but
    /// without their members: the member lists come back empty, for the caller to fill with
    /// what it needs.
    pub async fn groups_without_members(
        &self,
        account_id: AccountId,
        ids: &[GroupId],
        external_ids: &[ExternalId],
    ) -> Result<Vec<Group>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let conn = &mut tx.conn();
        let mut wanted: BTreeSet<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
        let by_external_id = texts(external_ids.iter().map(ExternalId::as_str));
        wanted.extend(
            ids_where(
                conn,
                "SELECT id FROM groups WHERE account_id = $1 AND external_id IN ({list})",
                account_id,
                by_external_id,
            )
            .await?,
        );
        read_groups(
            conn,
            account_id,
            wanted.into_iter().collect(),
            Members::LeftOut,
        )
        .await
    }

    /// The synced groups holding any of these users or groups as a direct member, with the
    /// membership of each.
    pub async fn synced_groups_holding(
        &self,
        account_id: AccountId,
        users: &[UserId],
        groups: &[GroupId],
    ) -> Result<Vec<Membership>, StoreError> {
        // The joins start from the member index (`CROSS JOIN` keeps that order on SQLite), and
        // whether a group is synced is checked here: as a condition, it led SQLite to scan
        // every group of the account instead.
        const HOLDING_USERS: &str = "SELECT m.group_id, m.user_id AS member_id, g.external_id FROM group_user_members m \
                                     CROSS JOIN groups g WHERE g.id = m.group_id AND g.account_id = $1 AND m.user_id IN ({list})";
        const HOLDING_GROUPS: &str = "SELECT m.group_id, m.member_group_id AS member_id, g.external_id FROM group_group_members m \
                                      CROSS JOIN groups g WHERE g.id = m.group_id AND g.account_id = $1 AND m.member_group_id IN ({list})";
        let mut tx = self.db.begin_read().await?;
        let conn = &mut tx.conn();
        let account = [Value::from(account_id.as_uuid())];
        let holding_users: Vec<MembershipRow> = fetch_in(
            conn,
            HOLDING_USERS,
            &account,
            uuids(users.iter().map(|id| id.as_uuid())),
        )
        .await?;
        let holding_groups: Vec<MembershipRow> = fetch_in(
            conn,
            HOLDING_GROUPS,
            &account,
            uuids(groups.iter().map(|id| id.as_uuid())),
        )
        .await?;
        let membership = |member: fn(Uuid) -> OwnedBy| {
            move |row: MembershipRow| {
                row.external_id.is_some().then(|| Membership {
                    group: GroupId::from_uuid(row.group_id),
                    member: member(row.member_id),
                })
            }
        };
        let mut memberships: Vec<Membership> = (holding_users
            .into_iter()
            .filter_map(membership(|id| OwnedBy::User(UserId::from_uuid(id)))))
        .chain(
            holding_groups
                .into_iter()
                .filter_map(membership(|id| OwnedBy::Group(GroupId::from_uuid(id)))),
        )
        .collect();
        memberships.sort_unstable();
        Ok(memberships)
    }

    /// Every synced user of the account, named as group members name them.
    pub async fn synced_users(&self, account_id: AccountId) -> Result<Vec<SyncedUser>, StoreError> {
        // The users come aggregated into one column: on SQLite a row costs far more than the
        // index look-ups behind it. Directory ids, ids in hexadecimal and addresses hold no
        // spaces. SQLite reads the addresses in the order of their user index and looks each
        // user up (`CROSS JOIN` keeps that order): for 82,000 users, 0.3 s of SQL, against 0.7 s
        // from the users' side and over 3 s for looking up 77,000 of them by id.
        const USERS: &str = "SELECT string_agg(u.external_id || ' ' || hex(u.id) || ' ' || a.address, ' ') AS users \
             FROM addresses a CROSS JOIN users u \
             WHERE a.account_id = $1 AND a.user_id IS NOT NULL AND a.is_primary = TRUE \
             AND u.id = a.user_id AND u.external_id IS NOT NULL";
        #[derive(sqlx::FromRow)]
        struct UsersRow {
            users: Option<String>,
        }
        let mut tx = self.db.begin_read().await?;
        let row: Option<UsersRow> = sql(USERS)
            .bind(account_id.as_uuid())
            .fetch_optional(&mut tx.conn())
            .await?;
        drop(tx);
        let corrupt = |reason: String| StoreError::Corrupt {
            what: "synced user",
            reason,
        };
        let listed = row.and_then(|row| row.users).unwrap_or_default();
        let mut words = listed.split_ascii_whitespace();
        let mut users = Vec::new();
        while let Some(external_id) = words.next() {
            let (Some(id), Some(address)) = (words.next(), words.next()) else {
                return Err(corrupt(format!(
                    "the list of synced users ends early, at {external_id:?}"
                )));
            };
            let id = Uuid::try_parse(id).map_err(|e| corrupt(e.to_string()))?;
            users.push(SyncedUser {
                external_id: stored("external id", external_id)?,
                id: UserId::from_uuid(id),
                primary_address: stored("user address", address)?,
            });
        }
        Ok(users)
    }

    /// The synced users and groups that `keys` names, as group members name them, each once.
    pub async fn synced_members(
        &self,
        account_id: AccountId,
        keys: &MemberKeys<'_>,
    ) -> Result<(Vec<SyncedUser>, Vec<SyncedGroup>), StoreError> {
        // Whether an object is synced is checked here: as a condition, it led SQLite to scan the
        // account's objects by directory id instead of looking up the keys.
        const USERS: &str = "SELECT u.external_id, u.id, a.address FROM users u CROSS JOIN addresses a \
                             WHERE a.user_id = u.id AND a.is_primary = TRUE AND u.account_id = $1 AND ";
        const GROUPS: &str = "SELECT g.external_id, g.id, g.name, a.address FROM groups g \
                              LEFT JOIN addresses a ON a.group_id = g.id AND a.is_primary = TRUE WHERE g.account_id = $1 AND ";
        let mut tx = self.db.begin_read().await?;
        let conn = &mut tx.conn();
        let account = [Value::from(account_id.as_uuid())];
        let external = |ids: &[ExternalId]| texts(ids.iter().map(ExternalId::as_str));
        let user_ids = uuids(keys.user_ids.iter().map(|id| id.as_uuid()));
        let group_ids = uuids(keys.group_ids.iter().map(|id| id.as_uuid()));
        let mut user_rows: Vec<SyncedUserRow> = fetch_in(
            conn,
            &format!("{USERS}u.external_id IN ({{list}})"),
            &account,
            external(keys.user_external_ids),
        )
        .await?;
        user_rows.extend(
            fetch_in::<SyncedUserRow>(
                conn,
                &format!("{USERS}u.id IN ({{list}})"),
                &account,
                user_ids,
            )
            .await?,
        );
        let mut group_rows: Vec<SyncedGroupRow> = fetch_in(
            conn,
            &format!("{GROUPS}g.external_id IN ({{list}})"),
            &account,
            external(keys.group_external_ids),
        )
        .await?;
        group_rows.extend(
            fetch_in::<SyncedGroupRow>(
                conn,
                &format!("{GROUPS}g.id IN ({{list}})"),
                &account,
                group_ids,
            )
            .await?,
        );
        user_rows.sort_unstable_by_key(|row| row.id);
        user_rows.dedup_by_key(|row| row.id);
        group_rows.sort_unstable_by_key(|row| row.id);
        group_rows.dedup_by_key(|row| row.id);
        let users = user_rows
            .into_iter()
            .filter_map(|mut row| Some((row.external_id.take()?, row)))
            .map(|(external_id, row)| {
                Ok(SyncedUser {
                    external_id: stored("external id", &external_id)?,
                    id: UserId::from_uuid(row.id),
                    primary_address: stored("user address", &row.address)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let groups = group_rows
            .into_iter()
            .filter_map(|mut row| Some((row.external_id.take()?, row)))
            .map(|(external_id, row)| {
                Ok(SyncedGroup {
                    external_id: stored("external id", &external_id)?,
                    id: GroupId::from_uuid(row.id),
                    name: row.name,
                    address: row
                        .address
                        .as_deref()
                        .map(|address| stored("group address", address))
                        .transpose()?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((users, groups))
    }
}
