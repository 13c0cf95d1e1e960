//! What a read reports, one page at a time: patches and removals for the directory mirror.
//!
//! Delta responses distinguish an absent property (unchanged) from an explicit `null`
//! (cleared), so every field of a patch is a [`Patch`]. Applying the patches of a read, in
//! order, to the mirror's records yields the tenant's state; a full read applies them to an
//! empty mirror.

use std::collections::HashSet;

use roster_domain::{DirectoryGroup, DirectoryMember, DirectoryUser, ExternalId};
use serde::{Deserialize, Serialize};

/// One property of a patch: left as it was, cleared (`null`), or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Unchanged,
    Cleared,
    Set(T),
}

impl<T> Patch<T> {
    fn apply_to(self, slot: &mut Option<T>) {
        match self {
            Self::Unchanged => {}
            Self::Cleared => *slot = None,
            Self::Set(value) => *slot = Some(value),
        }
    }
}

impl<T> Patch<Vec<T>> {
    /// Collections are never null in Graph; a `null` is read as empty.
    fn apply_to_list(self, list: &mut Vec<T>) {
        match self {
            Self::Unchanged => {}
            Self::Cleared => list.clear(),
            Self::Set(values) => *list = values,
        }
    }
}

/// A user created or changed in the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPatch {
    pub id: ExternalId,
    pub user_principal_name: Patch<String>,
    pub mail: Patch<String>,
    pub proxy_addresses: Patch<Vec<String>>,
    pub account_enabled: Patch<bool>,
    pub user_type: Patch<String>,
    pub display_name: Patch<String>,
    pub given_name: Patch<String>,
    pub surname: Patch<String>,
}

impl UserPatch {
    /// The mirror record after this patch: `existing` updated, or a new record if the mirror
    /// did not hold this user yet.
    pub fn apply(self, existing: Option<DirectoryUser>) -> DirectoryUser {
        let mut user = existing.unwrap_or_else(|| DirectoryUser {
            id: self.id.clone(),
            user_principal_name: None,
            mail: None,
            proxy_addresses: Vec::new(),
            account_enabled: None,
            user_type: None,
            display_name: None,
            given_name: None,
            surname: None,
        });
        self.user_principal_name
            .apply_to(&mut user.user_principal_name);
        self.mail.apply_to(&mut user.mail);
        self.proxy_addresses
            .apply_to_list(&mut user.proxy_addresses);
        self.account_enabled.apply_to(&mut user.account_enabled);
        self.user_type.apply_to(&mut user.user_type);
        self.display_name.apply_to(&mut user.display_name);
        self.given_name.apply_to(&mut user.given_name);
        self.surname.apply_to(&mut user.surname);
        user
    }
}

/// A group created or changed in the tenant, with the direct members added and removed.
///
/// A large group's members arrive in several patches of the same group; applying them in
/// order accumulates the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPatch {
    pub id: ExternalId,
    pub display_name: Patch<String>,
    pub mail: Patch<String>,
    pub mail_enabled: Patch<bool>,
    pub security_enabled: Patch<bool>,
    pub group_types: Patch<Vec<String>>,
    pub proxy_addresses: Patch<Vec<String>>,
    pub members_added: Vec<DirectoryMember>,
    pub members_removed: Vec<DirectoryMember>,
}

impl GroupPatch {
    /// A patch that only adds members, as a page of a group's member list gives.
    pub fn members_only(id: ExternalId, members_added: Vec<DirectoryMember>) -> Self {
        Self {
            id,
            display_name: Patch::Unchanged,
            mail: Patch::Unchanged,
            mail_enabled: Patch::Unchanged,
            security_enabled: Patch::Unchanged,
            group_types: Patch::Unchanged,
            proxy_addresses: Patch::Unchanged,
            members_added,
            members_removed: Vec::new(),
        }
    }

    /// The mirror record after this patch: `existing` updated, or a new record if the mirror
    /// did not hold this group yet. Members are kept once each, in arrival order.
    pub fn apply(self, existing: Option<DirectoryGroup>) -> DirectoryGroup {
        let mut group = existing.unwrap_or_else(|| DirectoryGroup {
            id: self.id.clone(),
            display_name: None,
            mail: None,
            mail_enabled: None,
            security_enabled: None,
            group_types: Vec::new(),
            proxy_addresses: Vec::new(),
            members: Vec::new(),
        });
        self.display_name.apply_to(&mut group.display_name);
        self.mail.apply_to(&mut group.mail);
        self.mail_enabled.apply_to(&mut group.mail_enabled);
        self.security_enabled.apply_to(&mut group.security_enabled);
        self.group_types.apply_to_list(&mut group.group_types);
        self.proxy_addresses
            .apply_to_list(&mut group.proxy_addresses);
        // Sets keep this linear: a group of 100,000 members arrives in a hundred patches.
        if !self.members_removed.is_empty() {
            let removed: HashSet<&ExternalId> = self
                .members_removed
                .iter()
                .map(|member| &member.id)
                .collect();
            group.members.retain(|member| !removed.contains(&member.id));
        }
        let mut known: HashSet<ExternalId> = group
            .members
            .iter()
            .map(|member| member.id.clone())
            .collect();
        for member in self.members_added {
            if known.insert(member.id.clone()) {
                group.members.push(member);
            }
        }
        group
    }
}

/// Why an object left the tenant, as delta's `@removed` annotation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// Soft-deleted: restorable from deleted items for 30 days (`"changed"`).
    Changed,
    /// Permanently deleted (`"deleted"`), or gone when its members were fetched.
    Deleted,
    /// A reason Graph did not document, or none; still a removal.
    Unspecified,
}

impl RemovalReason {
    pub(crate) fn from_annotation(reason: Option<&str>) -> Self {
        match reason {
            Some("changed") => Self::Changed,
            Some("deleted") => Self::Deleted,
            _ => Self::Unspecified,
        }
    }
}

/// A user or group that left the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub id: ExternalId,
    pub reason: RemovalReason,
}

/// One change to the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryEvent {
    User(UserPatch),
    UserRemoved(Removal),
    Group(GroupPatch),
    GroupRemoved(Removal),
}
