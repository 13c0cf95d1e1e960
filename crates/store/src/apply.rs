//! Applying a plan's changes to an account.
//!
//! Changes are applied in batches. For each batch, one write transaction loads the rows the
//! batch touches (versions, addresses, the account's domains), checks every change in order
//! against that state in memory — rejecting stale changes and address conflicts one by one,
//! while later changes see the effects of earlier accepted ones — and then writes all accepted
//! changes with a few multi-row statements before committing. A crash before the commit loses
//! the whole batch, never part of a change; running again converges, because re-applied adds
//! and updates are recognised as stale.
//!
//! If the database still refuses a batch (another process wrote the same rows after they were
//! loaded), the batch is retried change by change, each in its own transaction, so that only the
//! conflicting change fails.

use std::collections::{BTreeSet, HashMap, HashSet};

use roster_domain::plan::{ChangeAction, GroupFields, UserFields};
use roster_domain::{AccountId, EmailAddress, ExternalId, GroupId, NewUserRole, Role, Source, UserId};
use uuid::Uuid;

use crate::accounts::require_account;
use crate::addresses::{AddressOwner, NewAddress, OwnedBy, account_domains, insert_addresses, object_addresses, owners};
use crate::db::{Conn, DbError, Tx, Value, execute_in, fetch_in, insert_rows, sql};
use crate::rows::stored;
use crate::{Store, StoreError};

/// Changes per transaction: large enough that statement overhead is amortised, small enough
/// that a batch holds the write lock only briefly.
const BATCH_CHANGES: usize = 500;
/// Group members per transaction, so that batches of large groups stay small too.
const BATCH_MEMBERS: usize = 50_000;

/// Why one change was not applied. The others still apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeFailure {
    /// The object moved on since the plan was built: its version differs, it is gone, or (for
    /// an add) the directory object is already present. Search Now again to re-plan.
    #[error("stale: {reason}; run Search Now again to see the current differences")]
    Stale { reason: String },

    #[error("the address {address} is already used by {owner}")]
    AddressTaken { address: EmailAddress, owner: AddressOwner },

    #[error("the address {address} is not in any of the account's domains")]
    AddressOutsideDomains { address: EmailAddress },
}

fn stale(reason: impl Into<String>) -> ChangeFailure {
    ChangeFailure::Stale { reason: reason.into() }
}

/// The result of one change, in the order the changes were given.
pub type ChangeOutcome = Result<(), ChangeFailure>;

/// Why a batch was not written.
enum BatchError {
    /// Another process changed the same rows since they were loaded.
    Conflict,
    Store(StoreError),
}

impl From<DbError> for BatchError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Violation(_) => Self::Conflict,
            other => Self::Store(other.into()),
        }
    }
}

impl From<StoreError> for BatchError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Directory ids of the account's users and groups, for resolving group members. Loaded once
/// per apply and kept current as batches commit.
#[derive(Default)]
struct DirectoryIds {
    users: HashMap<ExternalId, UserId>,
    groups: HashMap<ExternalId, GroupId>,
}

/// A batch's changes to [`DirectoryIds`], merged once the batch commits. `None` marks removal.
#[derive(Default)]
struct DirectoryIdChanges {
    users: HashMap<ExternalId, Option<UserId>>,
    groups: HashMap<ExternalId, Option<GroupId>>,
}

impl DirectoryIds {
    async fn load(conn: &mut Conn<'_>, account_id: AccountId) -> Result<Self, StoreError> {
        #[derive(sqlx::FromRow)]
        struct IdRow {
            id: Uuid,
            external_id: String,
        }
        let users: Vec<IdRow> =
            sql("SELECT id, external_id FROM users WHERE account_id = $1 AND external_id IS NOT NULL")
                .bind(account_id.as_uuid())
                .fetch_all(conn)
                .await?;
        let groups: Vec<IdRow> =
            sql("SELECT id, external_id FROM groups WHERE account_id = $1 AND external_id IS NOT NULL")
                .bind(account_id.as_uuid())
                .fetch_all(conn)
                .await?;
        let mut ids = Self::default();
        for row in users {
            ids.users.insert(stored("external id", &row.external_id)?, UserId::from_uuid(row.id));
        }
        for row in groups {
            ids.groups.insert(stored("external id", &row.external_id)?, GroupId::from_uuid(row.id));
        }
        Ok(ids)
    }

    fn user(&self, changes: &DirectoryIdChanges, id: &ExternalId) -> Option<UserId> {
        changes.users.get(id).copied().unwrap_or_else(|| self.users.get(id).copied())
    }

    fn group(&self, changes: &DirectoryIdChanges, id: &ExternalId) -> Option<GroupId> {
        changes.groups.get(id).copied().unwrap_or_else(|| self.groups.get(id).copied())
    }

    fn merge(&mut self, changes: DirectoryIdChanges) {
        for (external_id, user) in changes.users {
            match user {
                Some(id) => self.users.insert(external_id, id),
                None => self.users.remove(&external_id),
            };
        }
        for (external_id, group) in changes.groups {
            match group {
                Some(id) => self.groups.insert(external_id, id),
                None => self.groups.remove(&external_id),
            };
        }
    }
}

/// An existing user or group as the batch sees it.
struct Existing {
    version: i64,
    external_id: Option<ExternalId>,
    addresses: Vec<String>,
}

/// The final state a batch writes for one user.
struct UserWrite {
    external_id: ExternalId,
    fields: UserFields,
    version: i64,
}

/// The final state a batch writes for one group.
struct GroupWrite {
    external_id: ExternalId,
    fields: GroupFields,
    version: i64,
}

/// Everything one batch knows and decides, before it writes.
struct Batch<'a> {
    account: AccountOwner,
    domains: HashSet<String>,
    /// Addresses held by anyone, as the batch's accepted changes leave them.
    held: HashMap<String, AddressOwner>,
    users: HashMap<UserId, Existing>,
    groups: HashMap<GroupId, Existing>,
    ids: &'a DirectoryIds,
    id_changes: DirectoryIdChanges,
    new_users: Vec<(UserId, UserWrite, Role)>,
    updated_users: HashMap<UserId, UserWrite>,
    removed_users: Vec<(UserId, i64)>,
    new_groups: Vec<(GroupId, GroupWrite)>,
    updated_groups: HashMap<GroupId, GroupWrite>,
    removed_groups: Vec<(GroupId, i64)>,
}

#[derive(Clone)]
struct AccountOwner {
    id: AccountId,
    name: String,
}

impl AccountOwner {
    fn of(&self, object: OwnedBy) -> AddressOwner {
        AddressOwner { account_id: self.id, account_name: self.name.clone(), object }
    }
}

impl Batch<'_> {
    /// Checks that `addresses` can belong to `owner`: each in the account's domains, and held
    /// by no one else.
    fn check_addresses(&self, owner: OwnedBy, addresses: &[NewAddress]) -> ChangeOutcome {
        for a in addresses {
            if !self.domains.contains(a.address.domain()) {
                return Err(ChangeFailure::AddressOutsideDomains { address: a.address.clone() });
            }
            if let Some(holder) = self.held.get(a.address.as_str()).filter(|h| h.object != owner) {
                return Err(ChangeFailure::AddressTaken { address: a.address.clone(), owner: holder.clone() });
            }
        }
        Ok(())
    }

    /// Moves `owner`'s addresses from `old` to `new` in the batch's view.
    fn readdress(&mut self, owner: OwnedBy, old: &[String], new: &[NewAddress]) {
        for address in old {
            self.held.remove(address);
        }
        for a in new {
            self.held.insert(a.address.to_string(), self.account.of(owner));
        }
    }

    fn existing_user(&self, user_id: UserId, expected_version: i64) -> Result<&Existing, ChangeFailure> {
        let user = self.users.get(&user_id).ok_or_else(|| stale(format!("the user {user_id} no longer exists")))?;
        if user.version != expected_version {
            return Err(stale(format!("the user {user_id} changed since the plan was built")));
        }
        Ok(user)
    }

    fn existing_group(&self, group_id: GroupId, expected_version: i64) -> Result<&Existing, ChangeFailure> {
        let group = self.groups.get(&group_id).ok_or_else(|| stale(format!("the group {group_id} no longer exists")))?;
        if group.version != expected_version {
            return Err(stale(format!("the group {group_id} changed since the plan was built")));
        }
        Ok(group)
    }

    fn check(&mut self, change: &ChangeAction) -> ChangeOutcome {
        match change {
            ChangeAction::AddUser { external_id, fields, role } => self.add_user(external_id, fields, *role),
            ChangeAction::LinkUser { user_id, expected_version, external_id, fields } => {
                self.update_user(*user_id, *expected_version, Some(external_id), fields)
            }
            ChangeAction::UpdateUser { user_id, expected_version, fields } => {
                self.update_user(*user_id, *expected_version, None, fields)
            }
            ChangeAction::RemoveUser { user_id, expected_version } => {
                let user = self.existing_user(*user_id, *expected_version)?;
                let (old, external_id) = (user.addresses.clone(), user.external_id.clone());
                self.readdress(OwnedBy::User(*user_id), &old, &[]);
                self.users.remove(user_id);
                self.updated_users.remove(user_id);
                self.removed_users.push((*user_id, *expected_version));
                if let Some(external_id) = external_id {
                    self.id_changes.users.insert(external_id, None);
                }
                Ok(())
            }
            ChangeAction::AddGroup { external_id, fields } => self.add_group(external_id, fields),
            ChangeAction::LinkGroup { group_id, expected_version, external_id, fields } => {
                self.update_group(*group_id, *expected_version, Some(external_id), fields)
            }
            ChangeAction::UpdateGroup { group_id, expected_version, fields } => {
                self.update_group(*group_id, *expected_version, None, fields)
            }
            ChangeAction::RemoveGroup { group_id, expected_version } => {
                let group = self.existing_group(*group_id, *expected_version)?;
                let (old, external_id) = (group.addresses.clone(), group.external_id.clone());
                self.readdress(OwnedBy::Group(*group_id), &old, &[]);
                self.groups.remove(group_id);
                self.updated_groups.remove(group_id);
                self.removed_groups.push((*group_id, *expected_version));
                if let Some(external_id) = external_id {
                    self.id_changes.groups.insert(external_id, None);
                }
                Ok(())
            }
        }
    }

    fn add_user(&mut self, external_id: &ExternalId, fields: &UserFields, role: NewUserRole) -> ChangeOutcome {
        if self.ids.user(&self.id_changes, external_id).is_some() {
            return Err(stale(format!("the directory user {external_id} is already in the account")));
        }
        let id = UserId::new();
        let owner = OwnedBy::User(id);
        let addresses = object_addresses(owner, Some(&fields.primary_address), &fields.aliases);
        self.check_addresses(owner, &addresses)?;
        self.readdress(owner, &[], &addresses);
        self.id_changes.users.insert(external_id.clone(), Some(id));
        let write = UserWrite { external_id: external_id.clone(), fields: fields.clone(), version: 1 };
        self.new_users.push((id, write, role.into()));
        Ok(())
    }

    fn update_user(
        &mut self,
        user_id: UserId,
        expected_version: i64,
        link_to: Option<&ExternalId>,
        fields: &UserFields,
    ) -> ChangeOutcome {
        let user = self.existing_user(user_id, expected_version)?;
        let external_id = match (link_to, &user.external_id) {
            (Some(wanted), Some(current)) if wanted != current => {
                return Err(stale(format!("the user {user_id} is already linked to the directory object {current}")));
            }
            (Some(wanted), _) => {
                if self.ids.user(&self.id_changes, wanted).is_some_and(|holder| holder != user_id) {
                    return Err(stale(format!("the directory user {wanted} is already linked to another user")));
                }
                wanted.clone()
            }
            (None, Some(current)) => current.clone(),
            (None, None) => return Err(stale(format!("the user {user_id} is not linked to the directory"))),
        };
        let owner = OwnedBy::User(user_id);
        let addresses = object_addresses(owner, Some(&fields.primary_address), &fields.aliases);
        self.check_addresses(owner, &addresses)?;
        let old = std::mem::replace(
            &mut self.users.get_mut(&user_id).expect("checked above").addresses,
            addresses.iter().map(|a| a.address.to_string()).collect(),
        );
        self.readdress(owner, &old, &addresses);
        let user = self.users.get_mut(&user_id).expect("checked above");
        user.version += 1;
        user.external_id = Some(external_id.clone());
        self.id_changes.users.insert(external_id.clone(), Some(user_id));
        let write = UserWrite { external_id, fields: fields.clone(), version: user.version };
        self.updated_users.insert(user_id, write);
        Ok(())
    }

    fn add_group(&mut self, external_id: &ExternalId, fields: &GroupFields) -> ChangeOutcome {
        if self.ids.group(&self.id_changes, external_id).is_some() {
            return Err(stale(format!("the directory group {external_id} is already in the account")));
        }
        let id = GroupId::new();
        let owner = OwnedBy::Group(id);
        let addresses = object_addresses(owner, fields.address.as_ref(), &fields.aliases);
        self.check_addresses(owner, &addresses)?;
        self.readdress(owner, &[], &addresses);
        self.id_changes.groups.insert(external_id.clone(), Some(id));
        self.new_groups.push((id, GroupWrite { external_id: external_id.clone(), fields: fields.clone(), version: 1 }));
        Ok(())
    }

    fn update_group(
        &mut self,
        group_id: GroupId,
        expected_version: i64,
        link_to: Option<&ExternalId>,
        fields: &GroupFields,
    ) -> ChangeOutcome {
        let group = self.existing_group(group_id, expected_version)?;
        let external_id = match (link_to, &group.external_id) {
            (Some(wanted), Some(current)) if wanted != current => {
                return Err(stale(format!("the group {group_id} is already linked to the directory object {current}")));
            }
            (Some(wanted), _) => {
                if self.ids.group(&self.id_changes, wanted).is_some_and(|holder| holder != group_id) {
                    return Err(stale(format!("the directory group {wanted} is already linked to another group")));
                }
                wanted.clone()
            }
            (None, Some(current)) => current.clone(),
            (None, None) => return Err(stale(format!("the group {group_id} is not linked to the directory"))),
        };
        let owner = OwnedBy::Group(group_id);
        let addresses = object_addresses(owner, fields.address.as_ref(), &fields.aliases);
        self.check_addresses(owner, &addresses)?;
        let old = std::mem::replace(
            &mut self.groups.get_mut(&group_id).expect("checked above").addresses,
            addresses.iter().map(|a| a.address.to_string()).collect(),
        );
        self.readdress(owner, &old, &addresses);
        let group = self.groups.get_mut(&group_id).expect("checked above");
        group.version += 1;
        group.external_id = Some(external_id.clone());
        self.id_changes.groups.insert(external_id.clone(), Some(group_id));
        self.updated_groups.insert(group_id, GroupWrite { external_id, fields: fields.clone(), version: group.version });
        Ok(())
    }

    /// Writes every accepted change of the batch.
    async fn write(self, tx: &mut Tx) -> Result<DirectoryIdChanges, BatchError> {
        let account = self.account.id.as_uuid();
        let mut conn = tx.conn();
        let conn = &mut conn;

        let readdressed_users = self.updated_users.keys().map(|id| Value::from(id.as_uuid())).collect();
        execute_in(conn, "DELETE FROM addresses WHERE account_id = $1 AND user_id IN ({list})", &[account.into()], readdressed_users)
            .await?;
        let readdressed_groups = self.updated_groups.keys().map(|id| Value::from(id.as_uuid())).collect();
        execute_in(conn, "DELETE FROM addresses WHERE account_id = $1 AND group_id IN ({list})", &[account.into()], readdressed_groups)
            .await?;

        for (statement, removed) in [
            ("DELETE FROM users WHERE id = $1 AND version = $2", self.removed_users.iter().map(|(id, v)| (id.as_uuid(), *v)).collect::<Vec<_>>()),
            ("DELETE FROM groups WHERE id = $1 AND version = $2", self.removed_groups.iter().map(|(id, v)| (id.as_uuid(), *v)).collect()),
        ] {
            for (id, version) in removed {
                if sql(statement).bind(id).bind(version).execute(conn).await? != 1 {
                    return Err(BatchError::Conflict);
                }
            }
        }

        let mut addresses = Vec::new();
        let mut user_rows = Vec::new();
        for (id, user, role) in &self.new_users {
            let f = &user.fields;
            user_rows.extend([
                Value::from(id.as_uuid()),
                Value::from(account),
                Value::from(f.first_name.clone()),
                Value::from(f.last_name.clone()),
                Value::from(f.display_name.clone()),
                Value::from(role.as_str()),
                Value::from(role.digests_by_default()),
                Value::from(Source::Directory.as_str()),
                Value::from(user.external_id.as_str()),
                Value::from(user.version),
            ]);
            addresses.extend(object_addresses(OwnedBy::User(*id), Some(&f.primary_address), &f.aliases));
        }
        insert_rows(
            conn,
            "users (id, account_id, first_name, last_name, display_name, role, digests, source, external_id, version)",
            "",
            10,
            user_rows,
        )
        .await?;
        for (id, user) in &self.updated_users {
            let f = &user.fields;
            let updated = sql(
                "UPDATE users SET first_name = $2, last_name = $3, display_name = $4, source = $5, external_id = $6, \
                 version = $7 WHERE id = $1 AND version = $8",
            )
            .bind(id.as_uuid())
            .bind(f.first_name.clone())
            .bind(f.last_name.clone())
            .bind(f.display_name.clone())
            .bind(Source::Directory.as_str())
            .bind(user.external_id.as_str())
            .bind(user.version)
            .bind(user.version - 1)
            .execute(conn)
            .await?;
            if updated != 1 {
                return Err(BatchError::Conflict);
            }
            addresses.extend(object_addresses(OwnedBy::User(*id), Some(&f.primary_address), &f.aliases));
        }

        let mut group_rows = Vec::new();
        for (id, group) in &self.new_groups {
            let f = &group.fields;
            group_rows.extend([
                Value::from(id.as_uuid()),
                Value::from(account),
                Value::from(f.name.clone()),
                Value::from(f.kind.as_str()),
                Value::from(Source::Directory.as_str()),
                Value::from(group.external_id.as_str()),
                Value::from(group.version),
            ]);
            addresses.extend(object_addresses(OwnedBy::Group(*id), f.address.as_ref(), &f.aliases));
        }
        insert_rows(conn, "groups (id, account_id, name, kind, source, external_id, version)", "", 7, group_rows).await?;
        for (id, group) in &self.updated_groups {
            let f = &group.fields;
            let updated = sql(
                "UPDATE groups SET name = $2, kind = $3, source = $4, external_id = $5, version = $6 \
                 WHERE id = $1 AND version = $7",
            )
            .bind(id.as_uuid())
            .bind(f.name.clone())
            .bind(f.kind.as_str())
            .bind(Source::Directory.as_str())
            .bind(group.external_id.as_str())
            .bind(group.version)
            .bind(group.version - 1)
            .execute(conn)
            .await?;
            if updated != 1 {
                return Err(BatchError::Conflict);
            }
            addresses.extend(object_addresses(OwnedBy::Group(*id), f.address.as_ref(), &f.aliases));
        }
        insert_addresses(conn, self.account.id, &addresses).await?;

        let remembered = self.updated_groups.keys().map(|id| Value::from(id.as_uuid())).collect::<Vec<_>>();
        execute_in(conn, "DELETE FROM group_user_members WHERE group_id IN ({list})", &[], remembered.clone()).await?;
        execute_in(conn, "DELETE FROM group_group_members WHERE group_id IN ({list})", &[], remembered).await?;
        let mut user_members = Vec::new();
        let mut group_members = Vec::new();
        let written = self.new_groups.iter().map(|(id, g)| (id, g)).chain(self.updated_groups.iter());
        for (id, group) in written {
            // Members Roster does not hold (out of scope, skipped, not yet added) are left out.
            let users: BTreeSet<UserId> =
                group.fields.member_users.iter().filter_map(|m| self.ids.user(&self.id_changes, m)).collect();
            let groups: BTreeSet<GroupId> =
                group.fields.member_groups.iter().filter_map(|m| self.ids.group(&self.id_changes, m)).collect();
            for user in users {
                user_members.extend([Value::from(id.as_uuid()), Value::from(user.as_uuid())]);
            }
            for member in groups {
                group_members.extend([Value::from(id.as_uuid()), Value::from(member.as_uuid())]);
            }
        }
        insert_rows(conn, "group_user_members (group_id, user_id)", "", 2, user_members).await?;
        insert_rows(conn, "group_group_members (group_id, member_group_id)", "", 2, group_members).await?;
        Ok(self.id_changes)
    }
}

/// Loads the rows of the users or groups `ids` that belong to the account.
async fn load_existing(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    table: &str,
    owner_column: &str,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Existing>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct ObjectRow {
        id: Uuid,
        version: i64,
        external_id: Option<String>,
    }
    #[derive(sqlx::FromRow)]
    struct AddressRow {
        owner: Uuid,
        address: String,
    }
    let account = [Value::from(account_id.as_uuid())];
    let keys: Vec<Value> = ids.into_iter().map(Value::from).collect();
    let rows: Vec<ObjectRow> = fetch_in(
        conn,
        &format!("SELECT id, version, external_id FROM {table} WHERE account_id = $1 AND id IN ({{list}})"),
        &account,
        keys.clone(),
    )
    .await?;
    let addresses: Vec<AddressRow> = fetch_in(
        conn,
        &format!("SELECT {owner_column} AS owner, address FROM addresses WHERE account_id = $1 AND {owner_column} IN ({{list}})"),
        &account,
        keys,
    )
    .await?;
    let mut existing = HashMap::with_capacity(rows.len());
    for row in rows {
        let external_id = row.external_id.as_deref().map(|id| stored::<ExternalId>("external id", id)).transpose()?;
        existing.insert(row.id, Existing { version: row.version, external_id, addresses: Vec::new() });
    }
    for row in addresses {
        if let Some(object) = existing.get_mut(&row.owner) {
            object.addresses.push(row.address);
        }
    }
    Ok(existing)
}

/// Every address a change would give its object.
fn addresses_of(change: &ChangeAction) -> Vec<&EmailAddress> {
    match change {
        ChangeAction::AddUser { fields, .. }
        | ChangeAction::LinkUser { fields, .. }
        | ChangeAction::UpdateUser { fields, .. } => {
            std::iter::once(&fields.primary_address).chain(&fields.aliases).collect()
        }
        ChangeAction::AddGroup { fields, .. }
        | ChangeAction::LinkGroup { fields, .. }
        | ChangeAction::UpdateGroup { fields, .. } => fields.address.iter().chain(&fields.aliases).collect(),
        ChangeAction::RemoveUser { .. } | ChangeAction::RemoveGroup { .. } => Vec::new(),
    }
}

/// How much of a batch a change takes: one, plus its group members.
fn weight(change: &ChangeAction) -> usize {
    match change {
        ChangeAction::AddGroup { fields, .. }
        | ChangeAction::LinkGroup { fields, .. }
        | ChangeAction::UpdateGroup { fields, .. } => 1 + fields.member_users.len() + fields.member_groups.len(),
        _ => 1,
    }
}

/// Splits changes into batches of at most [`BATCH_CHANGES`] changes and about
/// [`BATCH_MEMBERS`] members.
fn batches(changes: &[ChangeAction]) -> Vec<&[ChangeAction]> {
    let mut batches = Vec::new();
    let (mut start, mut members) = (0, 0);
    for (i, change) in changes.iter().enumerate() {
        let w = weight(change);
        if i > start && (i - start == BATCH_CHANGES || members + w > BATCH_MEMBERS) {
            batches.push(&changes[start..i]);
            (start, members) = (i, 0);
        }
        members += w;
    }
    if start < changes.len() {
        batches.push(&changes[start..]);
    }
    batches
}

impl Store {
    /// Applies `changes` to the account, each atomically, and reports each one's outcome in
    /// order. A change fails alone — stale, or for an address conflict — and the others apply.
    /// Adding or linking sets the object's source to directory and its external id; every write
    /// bumps the object's version. Group members are named by directory id and resolved to the
    /// account's users and groups when the change applies, including objects added earlier in
    /// the same call; members Roster does not hold are left out.
    pub async fn apply_changes(&self, account_id: AccountId, changes: &[ChangeAction]) -> Result<Vec<ChangeOutcome>, StoreError> {
        let (account, mut ids) = {
            let mut tx = self.db.begin_read().await?;
            require_account(&mut tx.conn(), account_id).await?;
            #[derive(sqlx::FromRow)]
            struct Name {
                name: String,
            }
            let name: Option<Name> =
                sql("SELECT name FROM accounts WHERE id = $1").bind(account_id.as_uuid()).fetch_optional(&mut tx.conn()).await?;
            let name = name.map(|n| n.name).unwrap_or_default();
            (AccountOwner { id: account_id, name }, DirectoryIds::load(&mut tx.conn(), account_id).await?)
        };
        let mut outcomes = Vec::with_capacity(changes.len());
        for batch in batches(changes) {
            match self.apply_batch(&account, batch, &mut ids).await {
                Ok(results) => outcomes.extend(results),
                Err(BatchError::Store(e)) => return Err(e),
                Err(BatchError::Conflict) => {
                    for change in batch {
                        match self.apply_batch(&account, std::slice::from_ref(change), &mut ids).await {
                            Ok(results) => outcomes.extend(results),
                            Err(BatchError::Conflict) => outcomes.push(Err(stale(
                                "another process changed the same objects or addresses at the same moment",
                            ))),
                            Err(BatchError::Store(e)) => return Err(e),
                        }
                    }
                }
            }
        }
        Ok(outcomes)
    }

    async fn apply_batch(
        &self,
        account: &AccountOwner,
        changes: &[ChangeAction],
        ids: &mut DirectoryIds,
    ) -> Result<Vec<ChangeOutcome>, BatchError> {
        let mut user_ids = Vec::new();
        let mut group_ids = Vec::new();
        for change in changes {
            match change {
                ChangeAction::LinkUser { user_id, .. }
                | ChangeAction::UpdateUser { user_id, .. }
                | ChangeAction::RemoveUser { user_id, .. } => user_ids.push(user_id.as_uuid()),
                ChangeAction::LinkGroup { group_id, .. }
                | ChangeAction::UpdateGroup { group_id, .. }
                | ChangeAction::RemoveGroup { group_id, .. } => group_ids.push(group_id.as_uuid()),
                ChangeAction::AddUser { .. } | ChangeAction::AddGroup { .. } => {}
            }
        }
        let mut tx = self.db.begin_write().await?;
        let domains = account_domains(&mut tx.conn(), account.id).await?;
        let users = load_existing(&mut tx.conn(), account.id, "users", "user_id", user_ids).await?;
        let groups = load_existing(&mut tx.conn(), account.id, "groups", "group_id", group_ids).await?;
        let wanted: HashSet<&str> = changes.iter().flat_map(addresses_of).map(EmailAddress::as_str).collect();
        let mut held = owners(&mut tx.conn(), wanted).await?;
        for (id, user) in &users {
            for address in &user.addresses {
                held.insert(address.clone(), account.of(OwnedBy::User(UserId::from_uuid(*id))));
            }
        }
        for (id, group) in &groups {
            for address in &group.addresses {
                held.insert(address.clone(), account.of(OwnedBy::Group(GroupId::from_uuid(*id))));
            }
        }
        let mut batch = Batch {
            account: account.clone(),
            domains,
            held,
            users: users.into_iter().map(|(id, u)| (UserId::from_uuid(id), u)).collect(),
            groups: groups.into_iter().map(|(id, g)| (GroupId::from_uuid(id), g)).collect(),
            ids: &*ids,
            id_changes: DirectoryIdChanges::default(),
            new_users: Vec::new(),
            updated_users: HashMap::new(),
            removed_users: Vec::new(),
            new_groups: Vec::new(),
            updated_groups: HashMap::new(),
            removed_groups: Vec::new(),
        };
        let outcomes: Vec<ChangeOutcome> = changes.iter().map(|change| batch.check(change)).collect();
        let id_changes = batch.write(&mut tx).await?;
        tx.commit().await?;
        ids.merge(id_changes);
        Ok(outcomes)
    }
}
