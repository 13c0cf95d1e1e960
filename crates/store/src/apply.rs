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
//! Whatever changed in the account after planning wins, change by change: each batch reads, in
//! its own transaction, the account's exemptions, tech contact and connection settings and its
//! objects' source and role, and rejects a change they no longer allow with the reason. Every
//! write to those bumps the account's revision, so a batch that finds the revision moved by
//! another writer between its reads and its write gives up as a conflict.
//!
//! If the database still refuses a batch (another process wrote the same rows after they were
//! loaded), the batch is retried change by change, each in its own transaction, so that only the
//! conflicting change fails.

use std::collections::{BTreeSet, HashMap, HashSet};

use roster_domain::plan::{
    Category, ChangeAction, GroupFields, GroupMembers, MemberChanges, UserFields,
};
use roster_domain::{
    AccountId, ConnectionSettings, EmailAddress, ExternalId, GroupId, Role, Source, SyncActions,
    UserId,
};
use uuid::Uuid;

use crate::addresses::{
    AddressOwner, NewAddress, OwnedBy, account_domains, insert_addresses, object_addresses, owners,
};
use crate::db::{
    Conn, DbError, Tx, Value, built_sql, delete_rows, execute_in, fetch_in, insert_rows, sql,
    update_rows,
};
use crate::groups::MEMBER_COLUMNS;
use crate::revision::{self, Revision};
use crate::rows::{hex_ids, stored, stored_json};
use crate::{Backend, Store, StoreError};

/// How much one transaction takes: changes, and about how many group members, so that batches
/// of large groups stay small too. Large enough that statement overhead is amortised, small
/// enough that a batch holds its locks only briefly.
struct BatchSize {
    changes: usize,
    members: usize,
}

impl BatchSize {
    fn for_backend(backend: Backend) -> Self {
        match backend {
            // SQLite has one writer: a batch holds the whole database's write lock.
            Backend::Sqlite => Self {
                changes: 500,
                members: 50_000,
            },
            // Every statement is a round trip to the server (and, with sqlx 0.9.0 over TCP, often
            // a 40 ms delayed ACK), while a batch locks only its own rows: ten times larger
            // batches make a tenth of the round trips.
            Backend::Postgres => Self {
                changes: 5_000,
                members: 200_000,
            },
        }
    }
}
/// Rows written before the database's statistics are first refreshed; each refresh doubles it.
const ROWS_BEFORE_STATISTICS: usize = 2_000;

/// Why one change was not applied. The others still apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeFailure {
    /// The object moved on since the plan was built: its version differs, it is gone, or (for
    /// an add) the directory object is already present. Search Now again to re-plan.
    #[error("stale: {reason}; run Search Now again to see the current differences")]
    Stale { reason: String },

    #[error("the address {address} is already used by {owner}")]
    AddressTaken {
        address: EmailAddress,
        owner: AddressOwner,
    },

    #[error("the address {address} is not in any of the account's domains")]
    AddressOutsideDomains { address: EmailAddress },

    /// The object's directory object was exempted from sync after the plan was built.
    #[error(
        "exempted from sync after the plan was built: no change to it is applied; lift the exemption to sync it again"
    )]
    Exempted,

    /// The user became an organization admin after the plan was built.
    #[error("the user is now an organization admin, and sync never removes an organization admin")]
    OrganizationAdmin,

    /// The user became the account's tech contact after the plan was built.
    #[error("the user is now the account's tech contact, and sync never removes the tech contact")]
    TechContact,

    /// The object is a manual one now, which sync neither updates nor removes.
    #[error(
        "the {} is now a manual object, and sync changes only the users and groups it created or linked",
        noun(*.object)
    )]
    Manual { object: OwnedBy },

    /// The connection's *How to Sync* switch for the change's category was turned off after the
    /// plan was built.
    #[error(
        "How to Sync no longer allows changes in \"{}\": the setting changed after the plan was built; turn it on and run Search Now again to apply them",
        .category.title()
    )]
    NotAllowedBySettings { category: Category },
}

fn noun(object: OwnedBy) -> &'static str {
    match object {
        OwnedBy::User(_) => "user",
        OwnedBy::Group(_) => "group",
    }
}

fn stale(reason: impl Into<String>) -> ChangeFailure {
    ChangeFailure::Stale {
        reason: reason.into(),
    }
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

/// The two kinds of object a change can touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Group,
}

impl Kind {
    fn of(object: OwnedBy) -> Self {
        match object {
            OwnedBy::User(_) => Self::User,
            OwnedBy::Group(_) => Self::Group,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::User => "users",
            Self::Group => "groups",
        }
    }
}

/// Which object of the account holds each directory id, per kind.
#[derive(Default)]
struct DirectoryIds {
    users: HashMap<ExternalId, OwnedBy>,
    groups: HashMap<ExternalId, OwnedBy>,
}

/// A batch's changes to [`DirectoryIds`], merged once the batch commits. `None` marks removal.
#[derive(Default)]
struct DirectoryIdChanges {
    users: HashMap<ExternalId, Option<OwnedBy>>,
    groups: HashMap<ExternalId, Option<OwnedBy>>,
}

impl DirectoryIds {
    fn of(&self, kind: Kind) -> &HashMap<ExternalId, OwnedBy> {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }

    /// Every directory id of the account, or only those in `only` when given.
    async fn load(
        conn: &mut Conn<'_>,
        account_id: AccountId,
        only: Option<&DirectoryIdKeys>,
    ) -> Result<Self, StoreError> {
        #[derive(sqlx::FromRow)]
        struct IdRow {
            id: Uuid,
            external_id: String,
        }
        let mut ids = Self::default();
        for kind in [Kind::User, Kind::Group] {
            let table = kind.table();
            let account = Value::from(account_id.as_uuid());
            let rows: Vec<IdRow> = match only {
                Some(keys) => {
                    let template = format!(
                        "SELECT id, external_id FROM {table} WHERE account_id = $1 AND external_id IN ({{list}})"
                    );
                    let wanted = keys
                        .of(kind)
                        .iter()
                        .map(|id| Value::from(id.as_str()))
                        .collect();
                    fetch_in(conn, &template, &[account], wanted).await?
                }
                None => {
                    let statement = format!(
                        "SELECT id, external_id FROM {table} WHERE account_id = $1 AND external_id IS NOT NULL"
                    );
                    built_sql(statement, vec![account]).fetch_all(conn).await?
                }
            };
            let map = match kind {
                Kind::User => &mut ids.users,
                Kind::Group => &mut ids.groups,
            };
            for row in rows {
                let object = match kind {
                    Kind::User => OwnedBy::User(UserId::from_uuid(row.id)),
                    Kind::Group => OwnedBy::Group(GroupId::from_uuid(row.id)),
                };
                map.insert(stored("external id", &row.external_id)?, object);
            }
        }
        Ok(ids)
    }

    fn merge(&mut self, changes: &DirectoryIdChanges) {
        for (ids, changed) in [
            (&mut self.users, &changes.users),
            (&mut self.groups, &changes.groups),
        ] {
            for (external_id, object) in changed {
                match object {
                    Some(object) => ids.insert(external_id.clone(), *object),
                    None => ids.remove(external_id),
                };
            }
        }
    }
}

impl DirectoryIdChanges {
    fn of_mut(&mut self, kind: Kind) -> &mut HashMap<ExternalId, Option<OwnedBy>> {
        match kind {
            Kind::User => &mut self.users,
            Kind::Group => &mut self.groups,
        }
    }

    /// The batch's own answer for a directory id, if it changed it.
    fn get(&self, kind: Kind, external_id: &ExternalId) -> Option<Option<OwnedBy>> {
        match kind {
            Kind::User => self.users.get(external_id).copied(),
            Kind::Group => self.groups.get(external_id).copied(),
        }
    }
}

/// Directory ids a batch asks about, per kind.
#[derive(Default)]
struct DirectoryIdKeys {
    users: BTreeSet<ExternalId>,
    groups: BTreeSet<ExternalId>,
}

impl DirectoryIdKeys {
    fn of(&self, kind: Kind) -> &BTreeSet<ExternalId> {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }
}

/// An existing user or group as the batch sees it.
#[derive(Clone)]
struct Existing {
    version: i64,
    external_id: Option<ExternalId>,
    source: Source,
    /// A user's role; `None` for a group.
    role: Option<Role>,
    addresses: Vec<String>,
    primary: Option<String>,
}

/// What the account says, when a batch applies, about which changes sync may make: read in the
/// batch's transaction, so that whatever changed after planning wins.
struct Standing {
    exempt: HashSet<ExternalId>,
    tech_contact: Option<String>,
    /// The connection's *How to Sync* switches; an account without a connection has none.
    actions: Option<SyncActions>,
}

impl Standing {
    async fn load(conn: &mut Conn<'_>, account_id: AccountId) -> Result<Self, StoreError> {
        #[derive(sqlx::FromRow)]
        struct ExemptRow {
            external_id: String,
        }
        #[derive(sqlx::FromRow)]
        struct ContactRow {
            tech_contact_email: Option<String>,
        }
        #[derive(sqlx::FromRow)]
        struct SettingsRow {
            settings: String,
        }
        let exempt: Vec<ExemptRow> =
            sql("SELECT external_id FROM exemptions WHERE account_id = $1")
                .bind(account_id.as_uuid())
                .fetch_all(conn)
                .await?;
        let contact: Option<ContactRow> =
            sql("SELECT tech_contact_email FROM accounts WHERE id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(conn)
                .await?;
        let settings: Option<SettingsRow> =
            sql("SELECT settings FROM connections WHERE account_id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(conn)
                .await?;
        let actions = settings
            .map(|row| {
                stored_json::<ConnectionSettings>("connection settings", row.settings.as_bytes())
            })
            .transpose()?
            .map(|settings| settings.actions);
        Ok(Self {
            exempt: exempt
                .iter()
                .map(|row| stored("external id", &row.external_id))
                .collect::<Result<_, _>>()?,
            tech_contact: contact.and_then(|row| row.tech_contact_email),
            actions,
        })
    }
}

/// The final state a batch writes for one user or group.
struct ObjectWrite<F> {
    external_id: ExternalId,
    fields: F,
    version: i64,
}

/// What a batch writes of a group's members: all of them (a group added or linked), or the
/// members that join and leave (a group updated).
enum MemberWrite {
    Whole(GroupMembers),
    Changes(MemberChanges),
}

#[derive(Clone)]
struct AccountOwner {
    id: AccountId,
    name: String,
}

impl AccountOwner {
    fn of(&self, object: OwnedBy) -> AddressOwner {
        AddressOwner {
            account_id: self.id,
            account_name: self.name.clone(),
            object,
        }
    }
}

/// Everything one batch knows and decides, before it writes.
struct Batch<'a> {
    account: AccountOwner,
    standing: &'a Standing,
    domains: HashSet<String>,
    /// Addresses held by anyone, as the batch's accepted changes leave them.
    held: HashMap<String, AddressOwner>,
    existing: HashMap<OwnedBy, Existing>,
    /// The version of each existing object as loaded: writes require the row still to have it.
    loaded_versions: HashMap<OwnedBy, i64>,
    /// Which objects hold the directory ids the batch adds or links, and those of the members
    /// its group updates add.
    present: &'a DirectoryIds,
    /// Every directory id of the account, for resolving the members of groups added or linked;
    /// loaded only once a batch has some.
    members: Option<&'a DirectoryIds>,
    id_changes: DirectoryIdChanges,
    new_users: Vec<(UserId, ObjectWrite<UserFields>, Role)>,
    updated_users: HashMap<UserId, ObjectWrite<UserFields>>,
    new_groups: Vec<(GroupId, ObjectWrite<GroupFields>, MemberWrite)>,
    updated_groups: HashMap<GroupId, (ObjectWrite<GroupFields>, MemberWrite)>,
    removed: Vec<OwnedBy>,
    /// The updated objects whose addresses change: only theirs are rewritten. Most updates of
    /// a re-sync (a new name, members joining) leave them as they are.
    readdressed: HashSet<OwnedBy>,
}

fn user_addresses(owner: OwnedBy, fields: &UserFields) -> Vec<NewAddress> {
    object_addresses(owner, Some(&fields.primary_address), &fields.aliases)
}

fn group_addresses(owner: OwnedBy, fields: &GroupFields) -> Vec<NewAddress> {
    object_addresses(owner, fields.address.as_ref(), &fields.aliases)
}

impl Batch<'_> {
    /// Checks that `addresses` can belong to `owner`: each in the account's domains, and held
    /// by no one else.
    fn check_addresses(&self, owner: OwnedBy, addresses: &[NewAddress]) -> ChangeOutcome {
        for a in addresses {
            if !self.domains.contains(a.address.domain()) {
                return Err(ChangeFailure::AddressOutsideDomains {
                    address: a.address.clone(),
                });
            }
            if let Some(holder) = self
                .held
                .get(a.address.as_str())
                .filter(|h| h.object != owner)
            {
                return Err(ChangeFailure::AddressTaken {
                    address: a.address.clone(),
                    owner: holder.clone(),
                });
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
            self.held
                .insert(a.address.to_string(), self.account.of(owner));
        }
    }

    /// The object holding a directory id that the batch adds or links.
    fn holder(&self, kind: Kind, external_id: &ExternalId) -> Option<OwnedBy> {
        self.id_changes
            .get(kind, external_id)
            .unwrap_or_else(|| self.present.of(kind).get(external_id).copied())
    }

    /// The object a group member's directory id names, if Roster holds it.
    fn member(&self, kind: Kind, external_id: &ExternalId) -> Option<OwnedBy> {
        self.id_changes.get(kind, external_id).unwrap_or_else(|| {
            let known = self.members.unwrap_or(self.present);
            known.of(kind).get(external_id).copied()
        })
    }

    fn existing(&self, object: OwnedBy, expected_version: i64) -> Result<&Existing, ChangeFailure> {
        let existing = self
            .existing
            .get(&object)
            .ok_or_else(|| stale(format!("{object} no longer exists")))?;
        if existing.version != expected_version {
            return Err(stale(format!("{object} changed since the plan was built")));
        }
        Ok(existing)
    }

    /// Frees, before any change is checked, the addresses of the objects that the batch's
    /// updates and removals rewrite, except those of the changes in `keep`: changes can then
    /// trade addresses (two users swapping them, an alias moving to a user checked before the
    /// one giving it up), as the write, which deletes old addresses before inserting new ones,
    /// allows. Returns the changes whose addresses were freed; if one of them then fails, it
    /// keeps its addresses, and the batch is checked again with it in `keep`.
    fn release_ahead(&mut self, changes: &[ChangeAction], keep: &HashSet<usize>) -> Vec<usize> {
        let mut released = Vec::new();
        for (index, change) in changes
            .iter()
            .enumerate()
            .filter(|(index, _)| !keep.contains(index))
        {
            let Some((object, expected_version)) = target(change) else {
                continue;
            };
            // A change rejected anyway keeps its object's addresses where they are.
            if self.still_allowed(change).is_err() {
                continue;
            }
            let Ok(current) = self.existing(object, expected_version) else {
                continue;
            };
            for address in current.addresses.clone() {
                self.held.remove(&address);
            }
            released.push(index);
        }
        released
    }

    /// Rejects a change that what changed after planning no longer allows: its category's How
    /// to Sync switch turned off, its directory object exempted, its object now manual, or (for
    /// a user's removal) its user now an organization admin or the tech contact.
    fn still_allowed(&self, change: &ChangeAction) -> ChangeOutcome {
        let category = change.category();
        if (self.standing.actions).is_some_and(|actions| !actions.allows(category)) {
            return Err(ChangeFailure::NotAllowedBySettings { category });
        }
        let current =
            target(change).and_then(|(object, _)| Some((object, self.existing.get(&object)?)));
        let external_id = match change {
            ChangeAction::AddUser { external_id, .. }
            | ChangeAction::LinkUser { external_id, .. }
            | ChangeAction::AddGroup { external_id, .. }
            | ChangeAction::LinkGroup { external_id, .. } => Some(external_id),
            _ => current.and_then(|(_, existing)| existing.external_id.as_ref()),
        };
        if external_id.is_some_and(|id| self.standing.exempt.contains(id)) {
            return Err(ChangeFailure::Exempted);
        }
        // A change to an object that is gone fails below, as stale.
        let Some((object, existing)) = current else {
            return Ok(());
        };
        let links = matches!(
            change,
            ChangeAction::LinkUser { .. } | ChangeAction::LinkGroup { .. }
        );
        if !links && existing.source == Source::Manual {
            return Err(ChangeFailure::Manual { object });
        }
        if let ChangeAction::RemoveUser { .. } = change {
            if existing.role == Some(Role::OrganizationAdmin) {
                return Err(ChangeFailure::OrganizationAdmin);
            }
            if (self.standing.tech_contact.as_ref())
                .is_some_and(|contact| existing.addresses.contains(contact))
            {
                return Err(ChangeFailure::TechContact);
            }
        }
        Ok(())
    }

    fn check(&mut self, change: &ChangeAction) -> ChangeOutcome {
        self.still_allowed(change)?;
        match change {
            ChangeAction::AddUser {
                external_id,
                fields,
                role,
            } => {
                let id = UserId::new();
                self.add(
                    external_id,
                    OwnedBy::User(id),
                    &user_addresses(OwnedBy::User(id), fields),
                )?;
                let write = ObjectWrite {
                    external_id: external_id.clone(),
                    fields: fields.clone(),
                    version: 1,
                };
                self.new_users.push((id, write, (*role).into()));
            }
            ChangeAction::LinkUser {
                user_id,
                expected_version,
                external_id,
                fields,
            } => {
                self.update_user(*user_id, *expected_version, Some(external_id), fields)?;
            }
            ChangeAction::UpdateUser {
                user_id,
                expected_version,
                fields,
            } => {
                self.update_user(*user_id, *expected_version, None, fields)?;
            }
            ChangeAction::RemoveUser {
                user_id,
                expected_version,
            } => {
                self.remove(OwnedBy::User(*user_id), *expected_version)?;
                self.updated_users.remove(user_id);
            }
            ChangeAction::AddGroup {
                external_id,
                fields,
                members,
            } => {
                let id = GroupId::new();
                self.add(
                    external_id,
                    OwnedBy::Group(id),
                    &group_addresses(OwnedBy::Group(id), fields),
                )?;
                let write = ObjectWrite {
                    external_id: external_id.clone(),
                    fields: fields.clone(),
                    version: 1,
                };
                self.new_groups
                    .push((id, write, MemberWrite::Whole(members.clone())));
            }
            ChangeAction::LinkGroup {
                group_id,
                expected_version,
                external_id,
                fields,
                members,
            } => {
                let members = MemberWrite::Whole(members.clone());
                self.update_group(
                    *group_id,
                    *expected_version,
                    Some(external_id),
                    fields,
                    members,
                )?;
            }
            ChangeAction::UpdateGroup {
                group_id,
                expected_version,
                fields,
                members,
            } => {
                let members = MemberWrite::Changes(members.clone());
                self.update_group(*group_id, *expected_version, None, fields, members)?;
            }
            ChangeAction::RemoveGroup {
                group_id,
                expected_version,
            } => {
                self.remove(OwnedBy::Group(*group_id), *expected_version)?;
                self.updated_groups.remove(group_id);
            }
        }
        Ok(())
    }

    fn add(
        &mut self,
        external_id: &ExternalId,
        object: OwnedBy,
        addresses: &[NewAddress],
    ) -> ChangeOutcome {
        let kind = Kind::of(object);
        if let Some(holder) = self.holder(kind, external_id) {
            return Err(stale(format!(
                "the directory object {external_id} is already in the account as {holder}"
            )));
        }
        self.check_addresses(object, addresses)?;
        self.readdress(object, &[], addresses);
        self.id_changes
            .of_mut(kind)
            .insert(external_id.clone(), Some(object));
        Ok(())
    }

    /// Updates an existing object (linking it to `link_to` first, if given) and returns its
    /// directory id and new version.
    fn update(
        &mut self,
        object: OwnedBy,
        expected_version: i64,
        link_to: Option<&ExternalId>,
        addresses: &[NewAddress],
    ) -> Result<(ExternalId, i64), ChangeFailure> {
        let kind = Kind::of(object);
        let current = self.existing(object, expected_version)?;
        let external_id = match (link_to, &current.external_id) {
            (Some(wanted), Some(linked)) if wanted != linked => {
                return Err(stale(format!(
                    "{object} is already linked to the directory object {linked}"
                )));
            }
            (Some(wanted), _) => wanted.clone(),
            (None, Some(linked)) => linked.clone(),
            (None, None) => return Err(stale(format!("{object} is not linked to the directory"))),
        };
        if let Some(holder) = self
            .holder(kind, &external_id)
            .filter(|holder| *holder != object)
        {
            return Err(stale(format!(
                "the directory object {external_id} is already linked to {holder}"
            )));
        }
        self.check_addresses(object, addresses)?;
        let current = self.existing.get_mut(&object).expect("checked above");
        let primary = addresses
            .iter()
            .find(|a| a.is_primary)
            .map(|a| a.address.to_string());
        // An object's addresses have no repeats, so the same count and each one held means the same set.
        let same_addresses = current.primary == primary
            && current.addresses.len() == addresses.len()
            && addresses.iter().all(|a| {
                current
                    .addresses
                    .iter()
                    .any(|held| held == a.address.as_str())
            });
        if !same_addresses {
            self.readdressed.insert(object);
        }
        current.primary = primary;
        let old = std::mem::replace(
            &mut current.addresses,
            addresses.iter().map(|a| a.address.to_string()).collect(),
        );
        current.version += 1;
        current.external_id = Some(external_id.clone());
        current.source = Source::Directory;
        let version = current.version;
        self.readdress(object, &old, addresses);
        self.id_changes
            .of_mut(kind)
            .insert(external_id.clone(), Some(object));
        Ok((external_id, version))
    }

    fn update_user(
        &mut self,
        user_id: UserId,
        expected_version: i64,
        link_to: Option<&ExternalId>,
        fields: &UserFields,
    ) -> ChangeOutcome {
        let object = OwnedBy::User(user_id);
        let (external_id, version) = self.update(
            object,
            expected_version,
            link_to,
            &user_addresses(object, fields),
        )?;
        self.updated_users.insert(
            user_id,
            ObjectWrite {
                external_id,
                fields: fields.clone(),
                version,
            },
        );
        Ok(())
    }

    fn update_group(
        &mut self,
        group_id: GroupId,
        expected_version: i64,
        link_to: Option<&ExternalId>,
        fields: &GroupFields,
        members: MemberWrite,
    ) -> ChangeOutcome {
        let object = OwnedBy::Group(group_id);
        let (external_id, version) = self.update(
            object,
            expected_version,
            link_to,
            &group_addresses(object, fields),
        )?;
        self.updated_groups.insert(
            group_id,
            (
                ObjectWrite {
                    external_id,
                    fields: fields.clone(),
                    version,
                },
                members,
            ),
        );
        Ok(())
    }

    fn remove(&mut self, object: OwnedBy, expected_version: i64) -> ChangeOutcome {
        let current = self.existing(object, expected_version)?;
        let (old, external_id) = (current.addresses.clone(), current.external_id.clone());
        self.readdress(object, &old, &[]);
        self.existing.remove(&object);
        self.removed.push(object);
        if let Some(external_id) = external_id {
            self.id_changes
                .of_mut(Kind::of(object))
                .insert(external_id, None);
        }
        Ok(())
    }

    fn loaded_version(&self, object: OwnedBy) -> i64 {
        self.loaded_versions
            .get(&object)
            .copied()
            .expect("only loaded objects are updated or removed")
    }

    /// Writes every accepted change of the batch.
    async fn write(self, tx: &mut Tx) -> Result<DirectoryIdChanges, BatchError> {
        let mut conn = tx.conn();
        let conn = &mut conn;
        self.delete_rewritten_addresses(conn).await?;
        self.delete_removed(conn).await?;
        let mut addresses = self.write_users(conn).await?;
        addresses.extend(self.write_groups(conn).await?);
        // In the order of the table's key, for the same reason as memberships (see write_members).
        addresses.sort_unstable_by(|a, b| a.address.cmp(&b.address));
        insert_addresses(conn, self.account.id, &addresses).await?;

        self.write_members(conn).await?;
        Ok(self.id_changes)
    }

    /// Deletes the addresses of the updated objects whose addresses change; they are written
    /// again with the objects.
    async fn delete_rewritten_addresses(&self, conn: &mut Conn<'_>) -> Result<(), BatchError> {
        let account = self.account.id.as_uuid();
        let readdressed = |object: OwnedBy| self.readdressed.contains(&object);
        let readdressed_users = self
            .updated_users
            .keys()
            .filter(|id| readdressed(OwnedBy::User(**id)))
            .map(|id| Value::from(id.as_uuid()))
            .collect();
        execute_in(
            conn,
            "DELETE FROM addresses WHERE account_id = $1 AND user_id IN ({list})",
            &[account.into()],
            readdressed_users,
        )
        .await?;
        let readdressed_groups = self
            .updated_groups
            .keys()
            .filter(|id| readdressed(OwnedBy::Group(**id)))
            .map(|id| Value::from(id.as_uuid()))
            .collect();
        execute_in(
            conn,
            "DELETE FROM addresses WHERE account_id = $1 AND group_id IN ({list})",
            &[account.into()],
            readdressed_groups,
        )
        .await?;

        Ok(())
    }

    /// Deletes the removed users and groups, each at the version it was loaded at.
    async fn delete_removed(&self, conn: &mut Conn<'_>) -> Result<(), BatchError> {
        let (mut removed_users, mut removed_groups) = (Vec::new(), Vec::new());
        for object in &self.removed {
            let (rows, id) = match object {
                OwnedBy::User(id) => (&mut removed_users, id.as_uuid()),
                OwnedBy::Group(id) => (&mut removed_groups, id.as_uuid()),
            };
            rows.extend([Value::from(id), Value::from(self.loaded_version(*object))]);
        }
        let removed = delete_rows(conn, "users", &["id", "version"], removed_users).await?
            + delete_rows(conn, "groups", &["id", "version"], removed_groups).await?;
        if removed != self.removed.len() as u64 {
            return Err(BatchError::Conflict);
        }
        Ok(())
    }

    /// Inserts the new users and updates the changed ones; returns the addresses to insert.
    async fn write_users(&self, conn: &mut Conn<'_>) -> Result<Vec<NewAddress>, BatchError> {
        let account = self.account.id.as_uuid();
        let readdressed = |object: OwnedBy| self.readdressed.contains(&object);
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
            addresses.extend(object_addresses(
                OwnedBy::User(*id),
                Some(&f.primary_address),
                &f.aliases,
            ));
        }
        insert_rows(
            conn,
            "users (id, account_id, first_name, last_name, display_name, role, digests, source, external_id, version)",
            "",
            10,
            user_rows,
        )
        .await?;
        let mut user_rows = Vec::new();
        for (id, user) in &self.updated_users {
            let f = &user.fields;
            user_rows.extend([
                Value::from(id.as_uuid()),
                Value::from(f.first_name.clone()),
                Value::from(f.last_name.clone()),
                Value::from(f.display_name.clone()),
                Value::from(Source::Directory.as_str()),
                Value::from(user.external_id.as_str()),
                Value::from(user.version),
                Value::from(self.loaded_version(OwnedBy::User(*id))),
            ]);
            if readdressed(OwnedBy::User(*id)) {
                addresses.extend(object_addresses(
                    OwnedBy::User(*id),
                    Some(&f.primary_address),
                    &f.aliases,
                ));
            }
        }
        update_at_loaded_versions(
            conn,
            "users",
            &["id", "first_name", "last_name", "display_name", "source", "external_id", "version", "loaded_version"],
            "first_name = v.first_name, last_name = v.last_name, display_name = v.display_name, source = v.source, \
             external_id = v.external_id, version = v.version",
            user_rows,
            self.updated_users.len(),
        )
        .await?;

        Ok(addresses)
    }

    /// Inserts the new groups and updates the changed ones, members aside; returns the addresses
    /// to insert.
    async fn write_groups(&self, conn: &mut Conn<'_>) -> Result<Vec<NewAddress>, BatchError> {
        let account = self.account.id.as_uuid();
        let readdressed = |object: OwnedBy| self.readdressed.contains(&object);
        let mut addresses = Vec::new();
        let mut group_rows = Vec::new();
        for (id, group, _) in &self.new_groups {
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
            addresses.extend(object_addresses(
                OwnedBy::Group(*id),
                f.address.as_ref(),
                &f.aliases,
            ));
        }
        insert_rows(
            conn,
            "groups (id, account_id, name, kind, source, external_id, version)",
            "",
            7,
            group_rows,
        )
        .await?;
        let mut group_rows = Vec::new();
        for (id, (group, _)) in &self.updated_groups {
            let f = &group.fields;
            group_rows.extend([
                Value::from(id.as_uuid()),
                Value::from(f.name.clone()),
                Value::from(f.kind.as_str()),
                Value::from(Source::Directory.as_str()),
                Value::from(group.external_id.as_str()),
                Value::from(group.version),
                Value::from(self.loaded_version(OwnedBy::Group(*id))),
            ]);
            if readdressed(OwnedBy::Group(*id)) {
                addresses.extend(object_addresses(
                    OwnedBy::Group(*id),
                    f.address.as_ref(),
                    &f.aliases,
                ));
            }
        }
        update_at_loaded_versions(
            conn,
            "groups",
            &["id", "name", "kind", "source", "external_id", "version", "loaded_version"],
            "name = v.name, kind = v.kind, source = v.source, external_id = v.external_id, version = v.version",
            group_rows,
            self.updated_groups.len(),
        )
        .await?;
        Ok(addresses)
    }

    /// Writes the members of the groups the batch adds and changes. A linked group's members
    /// are written as the difference from the ones it held, so that a member that stays keeps
    /// its row; an updated group's come as a difference already.
    async fn write_members(&self, conn: &mut Conn<'_>) -> Result<(), BatchError> {
        let linked = (self.updated_groups.iter())
            .filter(|(_, (_, members))| matches!(members, MemberWrite::Whole(_)))
            .map(|(id, _)| Value::from(id.as_uuid()))
            .collect();
        let mut stored = StoredMembers::load(conn, linked).await?;
        let written = (self.new_groups.iter().map(|(id, _, members)| (id, members))).chain(
            self.updated_groups
                .iter()
                .map(|(id, (_, members))| (id, members)),
        );
        let mut user_members = Vec::new();
        let mut group_members = Vec::new();
        let mut users_leaving = Vec::new();
        let mut groups_leaving = Vec::new();
        for (id, members) in written {
            let (users_left, groups_left, users_joining, groups_joining): (
                Vec<UserId>,
                Vec<GroupId>,
                Vec<UserId>,
                Vec<GroupId>,
            ) = match members {
                MemberWrite::Whole(members) => {
                    let users = self.resolve(Kind::User, &members.users, user_id);
                    let groups = self.resolve(Kind::Group, &members.groups, group_id);
                    let stored_users = stored.users.remove(id).unwrap_or_default();
                    let stored_groups = stored.groups.remove(id).unwrap_or_default();
                    (
                        stored_users.difference(&users).copied().collect(),
                        stored_groups.difference(&groups).copied().collect(),
                        users.difference(&stored_users).copied().collect(),
                        groups.difference(&stored_groups).copied().collect(),
                    )
                }
                MemberWrite::Changes(changes) => (
                    changes.leaving_users.clone(),
                    changes.leaving_groups.clone(),
                    self.resolve(Kind::User, &changes.joining_users, user_id)
                        .into_iter()
                        .collect(),
                    self.resolve(Kind::Group, &changes.joining_groups, group_id)
                        .into_iter()
                        .collect(),
                ),
            };
            users_leaving.extend(
                users_left
                    .into_iter()
                    .map(|user| (user.as_uuid(), id.as_uuid())),
            );
            groups_leaving.extend(
                groups_left
                    .into_iter()
                    .map(|member| (member.as_uuid(), id.as_uuid())),
            );
            user_members.extend(
                users_joining
                    .into_iter()
                    .map(|user| (user.as_uuid(), id.as_uuid())),
            );
            group_members.extend(
                groups_joining
                    .into_iter()
                    .map(|member| (member.as_uuid(), id.as_uuid())),
            );
        }
        // Written in the order of the members: the index by member, which a million rows make
        // larger than the page cache, then takes them in one sweep instead of at random pages,
        // while rows of the batch's few groups go to the few pages where their keys end.
        user_members.sort_unstable();
        group_members.sort_unstable();
        let rows = |pairs: Vec<(Uuid, Uuid)>| {
            pairs
                .into_iter()
                .flat_map(|(member, group)| [Value::from(group), Value::from(member)])
                .collect()
        };
        // The leaving members of the whole batch go in one statement per few hundred: a 1% delta
        // of 100,000 users takes a member or two out of thousands of groups.
        delete_rows(
            conn,
            "group_user_members",
            &["group_id", "user_id"],
            rows(users_leaving),
        )
        .await?;
        delete_rows(
            conn,
            "group_group_members",
            &["group_id", "member_group_id"],
            rows(groups_leaving),
        )
        .await?;
        // A member that joins may have joined already, by another writer since the plan: it stays.
        let tail = "ON CONFLICT DO NOTHING";
        insert_rows(
            conn,
            "group_user_members (group_id, user_id)",
            tail,
            2,
            rows(user_members),
        )
        .await?;
        insert_rows(
            conn,
            "group_group_members (group_id, member_group_id)",
            tail,
            2,
            rows(group_members),
        )
        .await?;
        Ok(())
    }

    /// The objects of `kind` among `members` that Roster holds, by the id `id_of` takes from
    /// each; others (out of scope, skipped, not yet added) are left out.
    fn resolve<Id: Ord>(
        &self,
        kind: Kind,
        members: &[ExternalId],
        id_of: fn(OwnedBy) -> Option<Id>,
    ) -> BTreeSet<Id> {
        members
            .iter()
            .filter_map(|member| self.member(kind, member).and_then(id_of))
            .collect()
    }
}

/// Updates `count` rows of `table` from tuples of `columns` (see [`update_rows`]), each matched
/// by its id at the version it was loaded at (the tuple's `loaded_version`). A row another writer
/// changed meanwhile is not updated, the count falls short, and the batch is a conflict.
async fn update_at_loaded_versions(
    conn: &mut Conn<'_>,
    table: &str,
    columns: &[&str],
    set: &str,
    rows: Vec<Value>,
    count: usize,
) -> Result<(), BatchError> {
    let matching = format!("{table}.id = v.id AND {table}.version = v.loaded_version");
    if update_rows(conn, table, columns, set, &matching, rows).await? != count as u64 {
        return Err(BatchError::Conflict);
    }
    Ok(())
}

fn user_id(object: OwnedBy) -> Option<UserId> {
    match object {
        OwnedBy::User(id) => Some(id),
        OwnedBy::Group(_) => None,
    }
}

fn group_id(object: OwnedBy) -> Option<GroupId> {
    match object {
        OwnedBy::Group(id) => Some(id),
        OwnedBy::User(_) => None,
    }
}

/// The direct members the database holds for some groups.
#[derive(Default)]
struct StoredMembers {
    users: HashMap<GroupId, BTreeSet<UserId>>,
    groups: HashMap<GroupId, BTreeSet<GroupId>>,
}

impl StoredMembers {
    async fn load(conn: &mut Conn<'_>, groups: Vec<Value>) -> Result<Self, StoreError> {
        #[derive(sqlx::FromRow)]
        struct MembersRow {
            group_id: Uuid,
            member_users: Option<String>,
            member_groups: Option<String>,
        }
        let statement = format!(
            "SELECT g.id AS group_id, {MEMBER_COLUMNS} FROM groups g WHERE g.id IN ({{list}})"
        );
        let rows: Vec<MembersRow> = fetch_in(conn, &statement, &[], groups).await?;
        let mut stored = Self::default();
        for row in rows {
            let group = GroupId::from_uuid(row.group_id);
            let users = hex_ids("group member", row.member_users.as_deref())?;
            stored
                .users
                .insert(group, users.into_iter().map(UserId::from_uuid).collect());
            let groups = hex_ids("group member", row.member_groups.as_deref())?;
            stored
                .groups
                .insert(group, groups.into_iter().map(GroupId::from_uuid).collect());
        }
        Ok(stored)
    }
}

/// Loads the users or groups among `objects` that belong to the account, with their addresses.
async fn load_existing(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    kind: Kind,
    objects: Vec<Uuid>,
) -> Result<HashMap<OwnedBy, Existing>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct ObjectRow {
        id: Uuid,
        version: i64,
        external_id: Option<String>,
        source: String,
        role: Option<String>,
    }
    #[derive(sqlx::FromRow)]
    struct AddressRow {
        owner: Uuid,
        address: String,
        is_primary: bool,
    }
    let (table, owner_column, role) = match kind {
        Kind::User => ("users", "user_id", "role"),
        Kind::Group => ("groups", "group_id", "CAST(NULL AS TEXT) AS role"),
    };
    let object = |id: Uuid| match kind {
        Kind::User => OwnedBy::User(UserId::from_uuid(id)),
        Kind::Group => OwnedBy::Group(GroupId::from_uuid(id)),
    };
    let account = [Value::from(account_id.as_uuid())];
    let keys: Vec<Value> = objects.into_iter().map(Value::from).collect();
    let rows: Vec<ObjectRow> = fetch_in(
        conn,
        &format!("SELECT id, version, external_id, source, {role} FROM {table} WHERE account_id = $1 AND id IN ({{list}})"),
        &account,
        keys.clone(),
    )
    .await?;
    let addresses: Vec<AddressRow> = fetch_in(
        conn,
        &format!("SELECT {owner_column} AS owner, address, is_primary FROM addresses WHERE account_id = $1 AND {owner_column} IN ({{list}})"),
        &account,
        keys,
    )
    .await?;
    let mut existing = HashMap::with_capacity(rows.len());
    for row in rows {
        let external_id = row
            .external_id
            .as_deref()
            .map(|id| stored::<ExternalId>("external id", id))
            .transpose()?;
        existing.insert(
            object(row.id),
            Existing {
                version: row.version,
                external_id,
                source: stored("source", &row.source)?,
                role: (row.role.as_deref())
                    .map(|role| stored("user role", role))
                    .transpose()?,
                addresses: Vec::new(),
                primary: None,
            },
        );
    }
    for row in addresses {
        if let Some(current) = existing.get_mut(&object(row.owner)) {
            if row.is_primary {
                current.primary = Some(row.address.clone());
            }
            current.addresses.push(row.address);
        }
    }
    Ok(existing)
}

/// The existing object a change touches, with the version it expects; `None` for an add.
fn target(change: &ChangeAction) -> Option<(OwnedBy, i64)> {
    match change {
        ChangeAction::LinkUser {
            user_id,
            expected_version,
            ..
        }
        | ChangeAction::UpdateUser {
            user_id,
            expected_version,
            ..
        }
        | ChangeAction::RemoveUser {
            user_id,
            expected_version,
        } => Some((OwnedBy::User(*user_id), *expected_version)),
        ChangeAction::LinkGroup {
            group_id,
            expected_version,
            ..
        }
        | ChangeAction::UpdateGroup {
            group_id,
            expected_version,
            ..
        }
        | ChangeAction::RemoveGroup {
            group_id,
            expected_version,
        } => Some((OwnedBy::Group(*group_id), *expected_version)),
        ChangeAction::AddUser { .. } | ChangeAction::AddGroup { .. } => None,
    }
}

/// What a batch loads before it checks its changes: the objects it touches, the directory ids
/// it adds, links or makes members, and whether a group it adds or links has members.
struct BatchKeys {
    users: Vec<Uuid>,
    groups: Vec<Uuid>,
    directory_ids: DirectoryIdKeys,
    has_members: bool,
}

impl BatchKeys {
    fn of(changes: &[ChangeAction]) -> Self {
        let mut keys = Self {
            users: Vec::new(),
            groups: Vec::new(),
            directory_ids: DirectoryIdKeys::default(),
            has_members: false,
        };
        for change in changes {
            let directory_ids = &mut keys.directory_ids;
            match change {
                ChangeAction::AddUser { external_id, .. }
                | ChangeAction::LinkUser { external_id, .. } => {
                    directory_ids.users.insert(external_id.clone());
                }
                ChangeAction::AddGroup {
                    external_id,
                    members,
                    ..
                }
                | ChangeAction::LinkGroup {
                    external_id,
                    members,
                    ..
                } => {
                    directory_ids.groups.insert(external_id.clone());
                    keys.has_members |= !members.users.is_empty() || !members.groups.is_empty();
                }
                // Only the members that join need resolving: looked up with the batch's own ids.
                ChangeAction::UpdateGroup { members, .. } => {
                    directory_ids
                        .users
                        .extend(members.joining_users.iter().cloned());
                    directory_ids
                        .groups
                        .extend(members.joining_groups.iter().cloned());
                }
                ChangeAction::UpdateUser { .. }
                | ChangeAction::RemoveUser { .. }
                | ChangeAction::RemoveGroup { .. } => {}
            }
            match target(change) {
                Some((OwnedBy::User(id), _)) => keys.users.push(id.as_uuid()),
                Some((OwnedBy::Group(id), _)) => keys.groups.push(id.as_uuid()),
                None => {}
            }
        }
        keys
    }
}

/// Every address a change would give its object.
fn addresses_of(change: &ChangeAction) -> Vec<&EmailAddress> {
    match change {
        ChangeAction::AddUser { fields, .. }
        | ChangeAction::LinkUser { fields, .. }
        | ChangeAction::UpdateUser { fields, .. } => std::iter::once(&fields.primary_address)
            .chain(&fields.aliases)
            .collect(),
        ChangeAction::AddGroup { fields, .. }
        | ChangeAction::LinkGroup { fields, .. }
        | ChangeAction::UpdateGroup { fields, .. } => {
            fields.address.iter().chain(&fields.aliases).collect()
        }
        ChangeAction::RemoveUser { .. } | ChangeAction::RemoveGroup { .. } => Vec::new(),
    }
}

/// How much of a batch a change takes: one, plus the group members it writes.
fn weight(change: &ChangeAction) -> usize {
    match change {
        ChangeAction::AddGroup { members, .. } | ChangeAction::LinkGroup { members, .. } => {
            1 + members.users.len() + members.groups.len()
        }
        ChangeAction::UpdateGroup { members, .. } => 1 + members.count(),
        _ => 1,
    }
}

/// Splits changes into batches of at most `size.changes` changes and about `size.members`
/// members.
fn batches<'c>(changes: &'c [ChangeAction], size: &BatchSize) -> Vec<&'c [ChangeAction]> {
    let mut batches = Vec::new();
    let (mut start, mut members) = (0, 0);
    for (i, change) in changes.iter().enumerate() {
        let w = weight(change);
        if i > start && (i - start == size.changes || members + w > size.members) {
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

/// Applies one plan's changes to an account, call after call.
///
/// Between calls it keeps the account's directory ids (loading them takes seconds on a large
/// account) and follows the account's [`Revision`], so that the caller learns whether another
/// writer touched the account while the plan was applied.
pub struct Applier<'s> {
    store: &'s Store,
    account: AccountOwner,
    /// Loaded at the first batch with group members, then kept current batch by batch.
    members: Option<DirectoryIds>,
    /// The revision this applier's last write left, while no other writer came between.
    revision: Option<Revision>,
    /// Rows written so far, over every call, and the count at which statistics are next
    /// refreshed: the first refresh after [`ROWS_BEFORE_STATISTICS`], each later one after twice
    /// as many.
    written: usize,
    refresh_statistics_at: usize,
    /// The run whose batches these are, if any: each batch is fenced by it.
    run: Option<roster_domain::RunId>,
}

impl Store {
    /// An applier for the account whose plan was computed at revision `planned_at`; `None` for
    /// a plan computed at an unknown revision (stored before revisions were kept).
    pub async fn applier(
        &self,
        account_id: AccountId,
        planned_at: Option<Revision>,
    ) -> Result<Applier<'_>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Name {
            name: String,
        }
        let name: Option<Name> = {
            let mut tx = self.db.begin_read().await?;
            sql("SELECT name FROM accounts WHERE id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?
        };
        let name = name
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_string()))?
            .name;
        Ok(Applier {
            store: self,
            account: AccountOwner {
                id: account_id,
                name,
            },
            members: None,
            revision: planned_at,
            written: 0,
            refresh_statistics_at: ROWS_BEFORE_STATISTICS,
            run: None,
        })
    }

    /// Applies `changes` to the account with a new [`Applier`]; see [`Applier::apply`].
    pub async fn apply_changes(
        &self,
        account_id: AccountId,
        changes: &[ChangeAction],
    ) -> Result<Vec<ChangeOutcome>, StoreError> {
        let revision = self.revision(account_id).await?;
        self.applier(account_id, Some(revision))
            .await?
            .apply(changes)
            .await
    }
}

impl Applier<'_> {
    /// Fences every batch by the run `run`: a batch writes only while this store instance still
    /// owns the run, and otherwise fails as a whole with [`StoreError::RunTakenOver`].
    pub fn for_run(mut self, run: roster_domain::RunId) -> Self {
        self.run = Some(run);
        self
    }

    /// Applies `changes` to the account, each atomically, and reports each one's outcome in
    /// order. A change fails alone — stale, or for an address conflict — and the others apply.
    /// Adding or linking sets the object's source to directory and its external id; every write
    /// bumps the object's version. Group members are named by directory id and resolved to the
    /// account's users and groups when the change applies, including objects added earlier by
    /// this applier; members Roster does not hold are left out.
    pub async fn apply(
        &mut self,
        changes: &[ChangeAction],
    ) -> Result<Vec<ChangeOutcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(changes.len());
        let size = BatchSize::for_backend(self.store.db.backend());
        for batch in batches(changes, &size) {
            self.written += batch.iter().map(weight).sum::<usize>();
            if self.written >= self.refresh_statistics_at {
                self.store.db.refresh_statistics().await?;
                self.refresh_statistics_at *= 2;
            }
            match self.apply_batch(batch).await {
                Ok(results) => outcomes.extend(results),
                Err(BatchError::Store(e)) => return Err(e),
                Err(BatchError::Conflict) => {
                    for change in batch {
                        match self.apply_batch(std::slice::from_ref(change)).await {
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

    /// The revision the account is at after this applier's writes, if no other writer touched
    /// the account since the plan was computed.
    pub fn undisturbed_revision(&self) -> Option<Revision> {
        self.revision
    }

    /// Notes the revision a batch's write left. Another writer in between breaks the chain, and
    /// the kept directory ids may then be out of date: they are loaded again.
    fn follow(&mut self, written: Option<Revision>) {
        match (self.revision, written) {
            (Some(before), Some(after)) if after == before.next() => self.revision = Some(after),
            _ => {
                self.revision = None;
                self.members = None;
            }
        }
    }

    async fn apply_batch(
        &mut self,
        changes: &[ChangeAction],
    ) -> Result<Vec<ChangeOutcome>, BatchError> {
        let account = self.account.clone();
        let BatchKeys {
            users,
            groups,
            directory_ids,
            has_members,
        } = BatchKeys::of(changes);
        let mut tx = self.store.db.begin_write().await?;
        if let Some(run) = self.run {
            self.store.hold_run(&mut tx.conn(), run, account.id).await?;
        }
        let before = revision::current(&mut tx.conn(), account.id).await?;
        let standing = Standing::load(&mut tx.conn(), account.id).await?;
        if has_members && self.members.is_none() {
            self.members = Some(DirectoryIds::load(&mut tx.conn(), account.id, None).await?);
        }
        let present = DirectoryIds::load(&mut tx.conn(), account.id, Some(&directory_ids)).await?;
        let domains = account_domains(&mut tx.conn(), account.id).await?;
        let mut existing = load_existing(&mut tx.conn(), account.id, Kind::User, users).await?;
        existing.extend(load_existing(&mut tx.conn(), account.id, Kind::Group, groups).await?);
        let wanted: HashSet<&str> = changes
            .iter()
            .flat_map(addresses_of)
            .map(EmailAddress::as_str)
            .collect();
        let mut held = owners(&mut tx.conn(), wanted).await?;
        for (object, current) in &existing {
            for address in &current.addresses {
                held.insert(address.clone(), account.of(*object));
            }
        }
        let loaded_versions = existing
            .iter()
            .map(|(object, current)| (*object, current.version))
            .collect();
        // Checked again, keeping more addresses in place, until no change whose addresses were
        // freed ahead fails: at most once per such change, usually never.
        let mut keep = HashSet::new();
        let (batch, outcomes) = loop {
            let mut batch = Batch {
                account: account.clone(),
                standing: &standing,
                domains: domains.clone(),
                held: held.clone(),
                existing: existing.clone(),
                loaded_versions: HashMap::clone(&loaded_versions),
                present: &present,
                members: self.members.as_ref(),
                id_changes: DirectoryIdChanges::default(),
                new_users: Vec::new(),
                updated_users: HashMap::new(),
                new_groups: Vec::new(),
                updated_groups: HashMap::new(),
                removed: Vec::new(),
                readdressed: HashSet::new(),
            };
            let released = batch.release_ahead(changes, &keep);
            let outcomes: Vec<ChangeOutcome> =
                changes.iter().map(|change| batch.check(change)).collect();
            let failed: Vec<usize> = released
                .into_iter()
                .filter(|&index| outcomes[index].is_err())
                .collect();
            if failed.is_empty() {
                break (batch, outcomes);
            }
            keep.extend(failed);
        };
        let id_changes = batch.write(&mut tx).await?;
        let written = revision::bump(&mut tx.conn(), account.id).await?;
        // Another writer committed between the batch's reads and its write (on PostgreSQL, whose
        // reads see each statement's latest commits): what it read may no longer hold.
        if written != before.map(Revision::next) {
            return Err(BatchError::Conflict);
        }
        tx.commit().await?;
        if let Some(members) = &mut self.members {
            members.merge(&id_changes);
        }
        self.follow(written);
        Ok(outcomes)
    }
}
