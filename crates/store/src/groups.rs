//! Reading groups back with their addresses and members.

use std::collections::HashMap;

use roster_domain::{
    AccountId, EmailAddress, ExternalId, Group, GroupId, GroupKind, Source, UserId,
};
use uuid::Uuid;

use crate::db::{Conn, Value, built_sql, fetch_in, sql};
use crate::rows::{hex_ids, stored};
use crate::{Store, StoreError};

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    name: String,
    kind: String,
    source: String,
    external_id: Option<String>,
    version: i64,
    /// The direct members, as [`MEMBER_COLUMNS`] selects them.
    member_users: Option<String>,
    member_groups: Option<String>,
}

/// The direct members of the group `g`, each kind aggregated into one column of ids as
/// [`hex_ids`] reads them. A large account has a million memberships, and reading a row per
/// membership would cost more than anything else in a load.
pub(crate) const MEMBER_COLUMNS: &str = "\
     (SELECT string_agg(hex(m.user_id), '') FROM group_user_members m WHERE m.group_id = g.id) AS member_users, \
     (SELECT string_agg(hex(m.member_group_id), '') FROM group_group_members m WHERE m.group_id = g.id) AS member_groups";

/// Whether a read of groups includes their members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Members {
    Read,
    /// The member lists come back empty: reading them is most of the cost of reading a group.
    LeftOut,
}

/// Selects [`GroupRow`]s from `groups g` where `condition` holds.
fn group_rows(condition: &str, members: Members) -> String {
    let members = match members {
        Members::Read => MEMBER_COLUMNS,
        Members::LeftOut => "NULL AS member_users, NULL AS member_groups",
    };
    format!(
        "SELECT g.id, g.name, g.kind, g.source, g.external_id, g.version, {members} FROM groups g WHERE {condition}"
    )
}

#[derive(sqlx::FromRow)]
struct GroupAddressRow {
    group_id: Uuid,
    address: String,
    is_primary: bool,
}

impl Store {
    /// The account's groups, by name, each with its addresses and direct members.
    pub async fn list_groups(&self, account_id: AccountId) -> Result<Vec<Group>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<GroupRow> = built_sql(
            group_rows("g.account_id = $1 ORDER BY g.name, g.id", Members::Read),
            vec![account_id.as_uuid().into()],
        )
        .fetch_all(&mut tx.conn())
        .await?;
        let addresses: Vec<GroupAddressRow> =
            sql("SELECT group_id, address, is_primary FROM addresses \
             WHERE account_id = $1 AND group_id IS NOT NULL ORDER BY is_primary DESC, address")
            .bind(account_id.as_uuid())
            .fetch_all(&mut tx.conn())
            .await?;
        assemble(account_id, rows, addresses)
    }

    /// The account's groups with these directory ids, by name, each with its addresses and
    /// direct members. Ids the account does not hold are left out.
    pub async fn groups_by_external_id(
        &self,
        account_id: AccountId,
        external_ids: &[ExternalId],
    ) -> Result<Vec<Group>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let wanted = external_ids
            .iter()
            .map(|id| Value::from(id.as_str()))
            .collect();
        read_groups_where(
            &mut tx.conn(),
            account_id,
            "g.account_id = $1 AND g.external_id IN ({list})",
            wanted,
            Members::Read,
        )
        .await
    }
}

/// The account's groups with these ids, by name, each with its addresses and, if asked for, its
/// direct members.
pub(crate) async fn read_groups(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    ids: Vec<Uuid>,
    members: Members,
) -> Result<Vec<Group>, StoreError> {
    let ids = ids.into_iter().map(Value::from).collect();
    read_groups_where(
        conn,
        account_id,
        "g.account_id = $1 AND g.id IN ({list})",
        ids,
        members,
    )
    .await
}

/// The account's groups that `condition` (on `groups g`, the account as `$1`, the keys as
/// `{list}`) selects, by name.
async fn read_groups_where(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    condition: &str,
    keys: Vec<Value>,
    members: Members,
) -> Result<Vec<Group>, StoreError> {
    let account = [Value::from(account_id.as_uuid())];
    let mut rows: Vec<GroupRow> =
        fetch_in(conn, &group_rows(condition, members), &account, keys).await?;
    rows.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    let ids = rows.iter().map(|row| Value::from(row.id)).collect();
    let mut addresses: Vec<GroupAddressRow> = fetch_in(
        conn,
        "SELECT group_id, address, is_primary FROM addresses WHERE group_id IN ({list})",
        &[],
        ids,
    )
    .await?;
    addresses.sort_by(|a, b| (!a.is_primary, &a.address).cmp(&(!b.is_primary, &b.address)));
    assemble(account_id, rows, addresses)
}

/// Groups from their rows, in the rows' order.
fn assemble(
    account_id: AccountId,
    rows: Vec<GroupRow>,
    addresses: Vec<GroupAddressRow>,
) -> Result<Vec<Group>, StoreError> {
    let mut groups = Vec::with_capacity(rows.len());
    let mut index = HashMap::with_capacity(rows.len());
    for row in rows {
        index.insert(row.id, groups.len());
        groups.push(Group {
            id: GroupId::from_uuid(row.id),
            account_id,
            name: row.name,
            kind: stored::<GroupKind>("group kind", &row.kind)?,
            address: None,
            aliases: Vec::new(),
            source: stored::<Source>("group source", &row.source)?,
            external_id: row
                .external_id
                .as_deref()
                .map(|id| stored::<ExternalId>("external id", id))
                .transpose()?,
            member_users: sorted_ids(&row.member_users, UserId::from_uuid)?,
            member_groups: sorted_ids(&row.member_groups, GroupId::from_uuid)?,
            version: row.version,
        });
    }
    let group_of = |id: Uuid| index.get(&id).copied();
    for row in addresses {
        let Some(i) = group_of(row.group_id) else {
            continue;
        };
        let address = stored::<EmailAddress>("group address", &row.address)?;
        if row.is_primary {
            groups[i].address = Some(address);
        } else {
            groups[i].aliases.push(address);
        }
    }
    Ok(groups)
}

/// A group's members from their aggregated column, in id order.
fn sorted_ids<Id: Ord>(
    hex: &Option<String>,
    id: impl Fn(Uuid) -> Id,
) -> Result<Vec<Id>, StoreError> {
    let mut ids: Vec<Id> = hex_ids("group member", hex.as_deref())?
        .into_iter()
        .map(id)
        .collect();
    ids.sort_unstable();
    Ok(ids)
}
