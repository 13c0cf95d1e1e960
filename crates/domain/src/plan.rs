//! Plans: what Search Now found, as a list of changes with before → after values and reasons.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    AccountId, EmailAddress, ExternalId, GroupId, GroupKind, NewUserRole, ParseError, PlanId,
    RunId, UserId, ids::ChangeId,
};

/// The categories a plan is shown in (product.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    UsersToAdd,
    UsersToUpdate,
    UsersToRemove,
    GroupsToAdd,
    GroupsToUpdate,
    GroupsToRemove,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Self::UsersToAdd,
        Self::UsersToUpdate,
        Self::UsersToRemove,
        Self::GroupsToAdd,
        Self::GroupsToUpdate,
        Self::GroupsToRemove,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersToAdd => "users_to_add",
            Self::UsersToUpdate => "users_to_update",
            Self::UsersToRemove => "users_to_remove",
            Self::GroupsToAdd => "groups_to_add",
            Self::GroupsToUpdate => "groups_to_update",
            Self::GroupsToRemove => "groups_to_remove",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::UsersToAdd => "Users to add",
            Self::UsersToUpdate => "Users to update",
            Self::UsersToRemove => "Users to remove",
            Self::GroupsToAdd => "Groups to add",
            Self::GroupsToUpdate => "Groups to update",
            Self::GroupsToRemove => "Groups to remove",
        }
    }

    pub fn is_removal(self) -> bool {
        matches!(self, Self::UsersToRemove | Self::GroupsToRemove)
    }
}

impl std::str::FromStr for Category {
    type Err = ParseError;

    /// A category by its name ([`Category::as_str`]).
    fn from_str(text: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
                ParseError::new(
                    "plan category",
                    text,
                    format!("expected one of {}", names.join(", ")),
                )
            })
    }
}

/// A value shown on either side of an attribute change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum AttributeValue {
    None,
    Text(String),
    List(Vec<String>),
}

impl std::fmt::Display for AttributeValue {
    /// As a person reads it: "(none)", the text, or the list's items separated by commas.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("(none)"),
            Self::Text(text) => f.write_str(text),
            Self::List(items) if items.is_empty() => f.write_str("(none)"),
            Self::List(items) => f.write_str(&items.join(", ")),
        }
    }
}

/// One attribute's before → after values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeChange {
    pub attribute: String,
    pub before: AttributeValue,
    pub after: AttributeValue,
}

/// The user a directory object should become: every field sync owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFields {
    pub primary_address: EmailAddress,
    pub aliases: Vec<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
}

/// The group a directory object should become, members aside: every other field sync owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFields {
    pub name: String,
    pub kind: GroupKind,
    pub address: Option<EmailAddress>,
    pub aliases: Vec<EmailAddress>,
}

/// A group's whole membership, as a group that sync adds or links gets it. Members are named
/// by their directory ids, since a member may be added by the same plan; apply resolves them to
/// Roster's objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMembers {
    pub users: Vec<ExternalId>,
    pub groups: Vec<ExternalId>,
}

/// How a synced group's membership changes: only the members that join and those that leave,
/// so that a group of thousands that gains one member carries that one member through the plan
/// and the apply. Joining members are named by directory id (the same plan may add them);
/// leaving ones by their ids in the account, which they have already.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChanges {
    pub joining_users: Vec<ExternalId>,
    pub joining_groups: Vec<ExternalId>,
    pub leaving_users: Vec<UserId>,
    pub leaving_groups: Vec<GroupId>,
}

impl MemberChanges {
    /// How many members join or leave.
    pub fn count(&self) -> usize {
        self.joining_users.len()
            + self.joining_groups.len()
            + self.leaving_users.len()
            + self.leaving_groups.len()
    }
}

/// What applying a change does. Every variant that touches an existing object carries the
/// object's version at planning time: apply rejects the change as stale if it moved on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ChangeAction {
    AddUser {
        external_id: ExternalId,
        fields: UserFields,
        role: NewUserRole,
    },
    /// Link a manual user whose address matches to its directory object, then update it.
    LinkUser {
        user_id: UserId,
        expected_version: i64,
        external_id: ExternalId,
        fields: UserFields,
    },
    UpdateUser {
        user_id: UserId,
        expected_version: i64,
        fields: UserFields,
    },
    RemoveUser {
        user_id: UserId,
        expected_version: i64,
    },
    AddGroup {
        external_id: ExternalId,
        fields: GroupFields,
        members: GroupMembers,
    },
    /// Link a manual group whose address matches to its directory object, then update it: its
    /// members become the directory group's.
    LinkGroup {
        group_id: GroupId,
        expected_version: i64,
        external_id: ExternalId,
        fields: GroupFields,
        members: GroupMembers,
    },
    UpdateGroup {
        group_id: GroupId,
        expected_version: i64,
        fields: GroupFields,
        members: MemberChanges,
    },
    RemoveGroup {
        group_id: GroupId,
        expected_version: i64,
    },
}

impl ChangeAction {
    /// The category a change of this kind is shown in: linking an existing object updates it.
    pub fn category(&self) -> Category {
        match self {
            Self::AddUser { .. } => Category::UsersToAdd,
            Self::LinkUser { .. } | Self::UpdateUser { .. } => Category::UsersToUpdate,
            Self::RemoveUser { .. } => Category::UsersToRemove,
            Self::AddGroup { .. } => Category::GroupsToAdd,
            Self::LinkGroup { .. } | Self::UpdateGroup { .. } => Category::GroupsToUpdate,
            Self::RemoveGroup { .. } => Category::GroupsToRemove,
        }
    }
}

/// One proposed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub id: ChangeId,
    pub category: Category,
    pub external_id: ExternalId,
    /// One line for a person: "Add jane@contoso.com (Jane Doe)".
    pub summary: String,
    /// Why: "new in the directory", "deleted in the directory", "primary address changed" …
    pub reason: String,
    pub attributes: Vec<AttributeChange>,
    pub action: ChangeAction,
    /// False when the connection's *how to sync* switches do not allow this category:
    /// shown as "not applied by your settings".
    pub allowed_by_settings: bool,
}

/// Why a directory object, or part of one, is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The object's primary address is in none of the account's domains.
    OutOfDomain,
    /// An alias is outside the account's domains and was dropped; the object itself syncs.
    AliasOutOfDomain,
    /// An address already belongs to another account.
    OwnedByAnotherAccount,
    /// Two directory objects claim the same address.
    DuplicateInTenant,
    /// An address is held by an object of this account that sync does not manage.
    ConflictsWithExisting,
    /// The object is exempt from sync.
    Exempted,
    /// The directory gave an address that is not a valid email address.
    InvalidAddress,
    /// The group's kind is none Roster knows (neither mail- nor security-enabled).
    UnknownGroupKind,
    /// The object would be removed, but it is an organization admin or the tech contact, whom
    /// sync never removes; it is kept as it is.
    ProtectedFromRemoval,
}

impl SkipReason {
    /// Whether the whole object is left out, rather than one of its addresses: only then is
    /// exempting it from sync a choice the admin may want.
    pub fn leaves_the_object_out(self) -> bool {
        !matches!(self, Self::AliasOutOfDomain)
    }

    /// Whether the entry settles an address that two objects of the account's own directory and
    /// account claim: such an entry depends on the other claimant too.
    pub fn settles_an_address(self) -> bool {
        matches!(self, Self::DuplicateInTenant | Self::ConflictsWithExisting)
    }
}

/// An informational entry: an object (or an address of one) the plan leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub external_id: ExternalId,
    pub summary: String,
    pub reason: SkipReason,
    /// The specifics: which address, which other account's object, …
    pub detail: String,
}

/// Directory users the account will not hold, once the plan's allowed changes are applied,
/// because they are not active: those it does not import and those the plan removes for it.
/// They are counted rather than listed, so that *Skipped* is not drowned in guests and disabled
/// accounts; and counted the same before and after the plan is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InactiveCounts {
    pub guests: usize,
    pub sign_in_blocked: usize,
    pub without_mailbox: usize,
}

/// The deletion limit's verdict on a plan (product.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletionCheck {
    pub user_removals: usize,
    pub synced_users: usize,
    pub group_removals: usize,
    pub synced_groups: usize,
    /// True when the removals exceed the limit: automatic sync holds them all.
    pub exceeded: bool,
}

/// A stored plan: applied at most once, wholly or in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: PlanId,
    pub account_id: AccountId,
    pub run_id: RunId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub changes: Vec<Change>,
    pub skipped: Vec<Skipped>,
    pub deletion_check: DeletionCheck,
    /// Plans stored before this count existed read as zero.
    #[serde(default)]
    pub inactive_not_imported: InactiveCounts,
}

impl Plan {
    pub fn in_category(&self, category: Category) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.category == category)
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// What the admin checked on a plan before Sync Active Directory applies it (product.md §4).
/// Every change is checked unless unchecked: a category's select all / none sets the whole
/// category, and a change's own box, recorded after, wins over its category's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Categories chosen whole: all checked (true) or none (false).
    pub categories: BTreeMap<Category, bool>,
    /// Changes whose own box was recorded since their category's last choice.
    pub changes: HashMap<ChangeId, ChangeChoice>,
}

/// One change's recorded box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeChoice {
    pub category: Category,
    pub checked: bool,
}

impl Selection {
    /// Whether the whole category was last chosen checked: true unless select none.
    pub fn category_checked(&self, category: Category) -> bool {
        self.categories.get(&category).copied().unwrap_or(true)
    }

    pub fn is_checked(&self, change: &Change) -> bool {
        self.is_checked_id(change.id, change.category)
    }

    /// Whether the change `id` of `category` is checked.
    pub fn is_checked_id(&self, id: ChangeId, category: Category) -> bool {
        self.changes
            .get(&id)
            .map_or_else(|| self.category_checked(category), |choice| choice.checked)
    }

    /// How many of the `total` changes of `category` are checked.
    pub fn checked_in(&self, category: Category, total: usize) -> usize {
        let recorded = |checked: bool| {
            self.changes
                .values()
                .filter(|c| c.category == category && c.checked == checked)
                .count()
        };
        if self.category_checked(category) {
            total.saturating_sub(recorded(false))
        } else {
            recorded(true).min(total)
        }
    }
}

/// Choices to record on a plan: first each change's box, then each category's select all /
/// none, which replaces the boxes recorded in that category (so that select all, pressed on a
/// page whose boxes are sent along, means the whole category).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectionUpdate {
    pub changes: Vec<(ChangeId, bool)>,
    pub categories: Vec<(Category, bool)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(category: Category, checked: bool) -> ChangeChoice {
        ChangeChoice { category, checked }
    }

    #[test]
    fn every_change_is_checked_until_unchecked() {
        let selection = Selection::default();
        assert!(selection.is_checked_id(ChangeId::new(), Category::UsersToAdd));
        assert_eq!(selection.checked_in(Category::GroupsToRemove, 7), 7);
    }

    #[test]
    fn a_changes_own_box_wins_over_its_categorys_choice() {
        let (kept, dropped, other) = (ChangeId::new(), ChangeId::new(), ChangeId::new());
        let selection = Selection {
            categories: BTreeMap::from([(Category::UsersToAdd, false)]),
            changes: HashMap::from([
                (kept, choice(Category::UsersToAdd, true)),
                (dropped, choice(Category::UsersToRemove, false)),
            ]),
        };
        assert!(selection.is_checked_id(kept, Category::UsersToAdd));
        assert!(!selection.is_checked_id(other, Category::UsersToAdd));
        assert!(!selection.is_checked_id(dropped, Category::UsersToRemove));
        assert_eq!(selection.checked_in(Category::UsersToAdd, 10), 1);
        assert_eq!(selection.checked_in(Category::UsersToRemove, 10), 9);
    }
}
