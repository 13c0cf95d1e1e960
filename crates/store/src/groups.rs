//! Reading groups back with their addresses and members.

use std::collections::HashMap;

use roster_domain::{AccountId, EmailAddress, ExternalId, Group, GroupId, GroupKind, Source, UserId};
use uuid::Uuid;

use crate::db::{Value, built_sql, fetch_in, sql};
use crate::rows::stored;
use crate::{Store, StoreError};

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    name: String,
    kind: String,
    source: String,
    external_id: Option<String>,
    version: i64,
}

#[derive(sqlx::FromRow)]
struct GroupAddressRow {
    group_id: Uuid,
    address: String,
    is_primary: bool,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    group_id: Uuid,
    member_id: Uuid,
}

impl Store {
    /// The account's groups, by name, each with its addresses and direct members.
    pub async fn list_groups(&self, account_id: AccountId) -> Result<Vec<Group>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let account = Value::from(account_id.as_uuid());
        let rows: Vec<GroupRow> = sql(
            "SELECT id, name, kind, source, external_id, version FROM groups WHERE account_id = $1 ORDER BY name, id",
        )
        .bind(account_id.as_uuid())
        .fetch_all(&mut tx.conn())
        .await?;
        let addresses: Vec<GroupAddressRow> = sql(
            "SELECT group_id, address, is_primary FROM addresses \
             WHERE account_id = $1 AND group_id IS NOT NULL ORDER BY is_primary DESC, address",
        )
        .bind(account_id.as_uuid())
        .fetch_all(&mut tx.conn())
        .await?;
        let in_account = |statement: &str| built_sql(format!("{statement} WHERE g.account_id = $1"), vec![account.clone()]);
        let user_members = in_account(USER_MEMBERS).fetch_all(&mut tx.conn()).await?;
        let group_members = in_account(GROUP_MEMBERS).fetch_all(&mut tx.conn()).await?;
        assemble(account_id, rows, addresses, user_members, group_members)
    }

    /// The account's groups with these directory ids, by name, each with its addresses and
    /// direct members. Ids the account does not hold are left out.
    pub async fn groups_by_external_id(&self, account_id: AccountId, external_ids: &[ExternalId]) -> Result<Vec<Group>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let account = [Value::from(account_id.as_uuid())];
        let wanted = external_ids.iter().map(|id| Value::from(id.as_str())).collect();
        let mut rows: Vec<GroupRow> = fetch_in(
            &mut tx.conn(),
            "SELECT id, name, kind, source, external_id, version FROM groups WHERE account_id = $1 AND external_id IN ({list})",
            &account,
            wanted,
        )
        .await?;
        rows.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        let ids = || rows.iter().map(|row| Value::from(row.id)).collect::<Vec<_>>();
        let mut addresses: Vec<GroupAddressRow> =
            fetch_in(&mut tx.conn(), "SELECT group_id, address, is_primary FROM addresses WHERE group_id IN ({list})", &[], ids()).await?;
        addresses.sort_by(|a, b| (!a.is_primary, &a.address).cmp(&(!b.is_primary, &b.address)));
        let of_these = |statement: &str| format!("{statement} WHERE m.group_id IN ({{list}})");
        let user_members = fetch_in(&mut tx.conn(), &of_these(USER_MEMBERS), &[], ids()).await?;
        let group_members = fetch_in(&mut tx.conn(), &of_these(GROUP_MEMBERS), &[], ids()).await?;
        assemble(account_id, rows, addresses, user_members, group_members)
    }
}

/// A group's user members and its group members, each row naming the group and the member.
const USER_MEMBERS: &str = "SELECT m.group_id, m.user_id AS member_id FROM group_user_members m JOIN groups g ON g.id = m.group_id";
const GROUP_MEMBERS: &str =
    "SELECT m.group_id, m.member_group_id AS member_id FROM group_group_members m JOIN groups g ON g.id = m.group_id";

/// Groups from their rows, in the rows' order.
fn assemble(
    account_id: AccountId,
    rows: Vec<GroupRow>,
    addresses: Vec<GroupAddressRow>,
    user_members: Vec<MemberRow>,
    group_members: Vec<MemberRow>,
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
            external_id: row.external_id.as_deref().map(|id| stored::<ExternalId>("external id", id)).transpose()?,
            member_users: Vec::new(),
            member_groups: Vec::new(),
            version: row.version,
        });
    }
    let group_of = |id: Uuid| index.get(&id).copied();
    for row in addresses {
        let Some(i) = group_of(row.group_id) else { continue };
        let address = stored::<EmailAddress>("group address", &row.address)?;
        if row.is_primary {
            groups[i].address = Some(address);
        } else {
            groups[i].aliases.push(address);
        }
    }
    for row in user_members {
        if let Some(i) = group_of(row.group_id) {
            groups[i].member_users.push(UserId::from_uuid(row.member_id));
        }
    }
    for row in group_members {
        if let Some(i) = group_of(row.group_id) {
            groups[i].member_groups.push(GroupId::from_uuid(row.member_id));
        }
    }
    for group in &mut groups {
        group.member_users.sort();
        group.member_groups.sort();
    }
    Ok(groups)
}
