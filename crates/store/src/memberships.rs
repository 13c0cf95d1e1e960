//! Who belongs where, for pages that show one part of an account: a page of its groups, the
//! groups a user is in, a group's nested groups, and a page of a group's members or of its whole
//! recipient list. Each read takes the account: another account's group is not found.

use roster_domain::{
    AccountId, EmailAddress, ExternalId, GroupId, GroupKind, Source, User, UserId,
};
use uuid::Uuid;

use crate::db::{Conn, Value, built_sql};
use crate::rows::stored;
use crate::views::{contains_pattern, users_with_ids};
use crate::{Store, StoreError};

/// A group as a listing shows it: its addresses and how many direct members it has, without
/// the member lists themselves (a large group has a hundred thousand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub id: GroupId,
    pub name: String,
    pub kind: GroupKind,
    pub source: Source,
    pub external_id: Option<ExternalId>,
    pub address: Option<EmailAddress>,
    pub aliases: Vec<EmailAddress>,
    pub member_users: u64,
    pub member_groups: u64,
}

/// Which groups a page shows, and after which one it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupQuery {
    /// The page starts after this group (the previous page's last), in order of name.
    pub after: Option<GroupId>,
    pub limit: u32,
    /// Part of the name or of an address, case-insensitive.
    pub search: Option<String>,
}

/// Whose members a page of a group's users lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The group's own member users.
    Direct,
    /// Every user mail to the group reaches: its members and, through nested groups at any
    /// depth, theirs; each once, a cycle of groups tolerated (product.md §2, as
    /// `roster_plan::Recipients` expands it).
    Recipients,
}

/// Which of a group's users a page shows, by primary address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberQuery {
    pub reach: Reach,
    /// The page starts after this primary address (the previous page's last).
    pub after: Option<EmailAddress>,
    pub limit: u32,
}

#[derive(sqlx::FromRow)]
struct GroupEntryRow {
    id: Uuid,
    name: String,
    kind: String,
    source: String,
    external_id: Option<String>,
    primary_address: Option<String>,
    /// Every address of the group, the primary among them, separated by spaces.
    addresses: Option<String>,
    member_users: i64,
    member_groups: i64,
}

impl GroupEntryRow {
    fn into_entry(self) -> Result<GroupEntry, StoreError> {
        let primary = self.primary_address.as_deref();
        let mut aliases = self
            .addresses
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|a| !a.is_empty() && Some(*a) != primary)
            .map(|a| stored::<EmailAddress>("group address", a))
            .collect::<Result<Vec<_>, _>>()?;
        aliases.sort_unstable();
        Ok(GroupEntry {
            id: GroupId::from_uuid(self.id),
            name: self.name,
            kind: stored("group kind", &self.kind)?,
            source: stored("group source", &self.source)?,
            external_id: self
                .external_id
                .as_deref()
                .map(|id| stored("external id", id))
                .transpose()?,
            address: primary.map(|a| stored("group address", a)).transpose()?,
            aliases,
            member_users: self.member_users.unsigned_abs(),
            member_groups: self.member_groups.unsigned_abs(),
        })
    }
}

/// Selects [`GroupEntryRow`]s from `groups g` where `condition` holds (the account is `$1`),
/// followed by `tail` (an order and a limit).
fn group_entries(condition: &str, tail: &str) -> String {
    format!(
        "SELECT g.id, g.name, g.kind, g.source, g.external_id, \
         (SELECT max(CASE WHEN a.is_primary THEN a.address END) FROM addresses a WHERE a.group_id = g.id) AS primary_address, \
         (SELECT string_agg(a.address, ' ') FROM addresses a WHERE a.group_id = g.id) AS addresses, \
         (SELECT COUNT(*) FROM group_user_members m WHERE m.group_id = g.id) AS member_users, \
         (SELECT COUNT(*) FROM group_group_members m WHERE m.group_id = g.id) AS member_groups \
         FROM groups g WHERE g.account_id = $1 AND {condition} {tail}"
    )
}

async fn fetch_entries(
    conn: &mut Conn<'_>,
    statement: String,
    params: Vec<Value>,
) -> Result<Vec<GroupEntry>, StoreError> {
    let rows: Vec<GroupEntryRow> = built_sql(statement, params).fetch_all(conn).await?;
    rows.into_iter().map(GroupEntryRow::into_entry).collect()
}

/// The groups `$2` reaches, itself included, if it is one of the account's (`$1`).
const REACHED_GROUPS: &str = "WITH RECURSIVE reached (group_id) AS (\
     SELECT id FROM groups WHERE id = $2 AND account_id = $1 \
     UNION SELECT m.member_group_id FROM group_group_members m JOIN reached r ON m.group_id = r.group_id)";

impl Store {
    /// A page of the account's groups, by name.
    pub async fn groups_page(
        &self,
        account_id: AccountId,
        query: &GroupQuery,
    ) -> Result<Vec<GroupEntry>, StoreError> {
        let mut condition = String::from("1 = 1");
        let mut params: Vec<Value> = vec![account_id.as_uuid().into()];
        if let Some(after) = query.after {
            params.push(after.as_uuid().into());
            condition.push_str(&format!(
                " AND (g.name, g.id) > (SELECT name, id FROM groups WHERE id = ${} AND account_id = $1)",
                params.len()
            ));
        }
        if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
            params.push(contains_pattern(search.trim()).into());
            let n = params.len();
            condition.push_str(&format!(
                " AND (lower(g.name) LIKE ${n} ESCAPE '\\' OR EXISTS (SELECT 1 FROM addresses a \
                 WHERE a.group_id = g.id AND a.address LIKE ${n} ESCAPE '\\'))"
            ));
        }
        params.push(i64::from(query.limit).into());
        let tail = format!("ORDER BY g.name, g.id LIMIT ${}", params.len());
        let mut tx = self.db.begin_read().await?;
        fetch_entries(&mut tx.conn(), group_entries(&condition, &tail), params).await
    }

    /// One of the account's groups; another account's group is not found.
    pub async fn group_entry(
        &self,
        account_id: AccountId,
        group_id: GroupId,
    ) -> Result<GroupEntry, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let params = vec![account_id.as_uuid().into(), group_id.as_uuid().into()];
        fetch_entries(&mut tx.conn(), group_entries("g.id = $2", ""), params)
            .await?
            .pop()
            .ok_or(StoreError::GroupNotFound(group_id))
    }

    /// The groups that have this user of the account as a direct member, by name.
    pub async fn groups_of_user(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Vec<GroupEntry>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let condition =
            "g.id IN (SELECT m.group_id FROM group_user_members m WHERE m.user_id = $2)";
        let params = vec![account_id.as_uuid().into(), user_id.as_uuid().into()];
        fetch_entries(
            &mut tx.conn(),
            group_entries(condition, "ORDER BY g.name, g.id"),
            params,
        )
        .await
    }

    /// The groups that are direct members of one of the account's groups, by name.
    pub async fn nested_groups(
        &self,
        account_id: AccountId,
        group_id: GroupId,
    ) -> Result<Vec<GroupEntry>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let condition =
            "g.id IN (SELECT m.member_group_id FROM group_group_members m WHERE m.group_id = $2)";
        let params = vec![account_id.as_uuid().into(), group_id.as_uuid().into()];
        fetch_entries(
            &mut tx.conn(),
            group_entries(condition, "ORDER BY g.name, g.id"),
            params,
        )
        .await
    }

    /// A page of one of the account's groups' users, by primary address: its members, or every
    /// recipient mail to it reaches. Another account's group has none.
    pub async fn group_users_page(
        &self,
        account_id: AccountId,
        group_id: GroupId,
        query: &MemberQuery,
    ) -> Result<Vec<User>, StoreError> {
        let mut params: Vec<Value> = vec![
            account_id.as_uuid().into(),
            group_id.as_uuid().into(),
            true.into(),
        ];
        let mut statement = match query.reach {
            Reach::Direct => String::from(
                "SELECT a.user_id AS id FROM addresses a WHERE a.account_id = $1 AND a.is_primary = $3 \
                 AND a.user_id IN (SELECT m.user_id FROM group_user_members m JOIN groups g ON g.id = m.group_id \
                 WHERE m.group_id = $2 AND g.account_id = $1)",
            ),
            Reach::Recipients => format!(
                "{REACHED_GROUPS} SELECT a.user_id AS id FROM addresses a WHERE a.account_id = $1 AND a.is_primary = $3 \
                 AND a.user_id IN (SELECT m.user_id FROM group_user_members m JOIN reached r ON r.group_id = m.group_id)"
            ),
        };
        if let Some(after) = &query.after {
            params.push(after.as_str().into());
            statement.push_str(&format!(" AND a.address > ${}", params.len()));
        }
        params.push(i64::from(query.limit).into());
        statement.push_str(&format!(" ORDER BY a.address LIMIT ${}", params.len()));
        let mut tx = self.db.begin_read().await?;
        users_with_ids(&mut tx.conn(), account_id, statement, params).await
    }

    /// How many users mail to one of the account's groups reaches (see [`Reach::Recipients`]).
    pub async fn recipient_count(
        &self,
        account_id: AccountId,
        group_id: GroupId,
    ) -> Result<u64, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Count {
            count: i64,
        }
        let statement = format!(
            "{REACHED_GROUPS} SELECT COUNT(DISTINCT m.user_id) AS count FROM group_user_members m \
             JOIN reached r ON r.group_id = m.group_id"
        );
        let params = vec![account_id.as_uuid().into(), group_id.as_uuid().into()];
        let mut tx = self.db.begin_read().await?;
        let count: Option<Count> = built_sql(statement, params)
            .fetch_optional(&mut tx.conn())
            .await?;
        Ok(count.map_or(0, |c| c.count.unsigned_abs()))
    }
}
