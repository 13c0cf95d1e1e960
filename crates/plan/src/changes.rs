//! The parts of a change a person reads: attribute-level before → after values, and the change's
//! stable id.

use roster_domain::plan::{AttributeChange, AttributeValue, Category, GroupFields, UserFields};
use roster_domain::{ChangeId, EmailAddress, ExternalId, Group, GroupKind, PlanId, User};
use sha2::{Digest, Sha256};
use uuid::Builder;

/// The id of the change to `external_id` in `category` of plan `plan`: derived, not drawn, so
/// that the same input gives the same plan.
pub(crate) fn change_id(plan: PlanId, category: Category, external_id: &ExternalId) -> ChangeId {
    let digest = Sha256::new()
        .chain_update(plan.as_uuid().as_bytes())
        .chain_update(category.as_str())
        .chain_update([0])
        .chain_update(external_id.as_str())
        .finalize();
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest[..16]);
    ChangeId::from_uuid(Builder::from_custom_bytes(bytes).into_uuid())
}

/// Collects the attributes whose values differ.
#[derive(Default)]
pub(crate) struct AttributeDiff(Vec<AttributeChange>);

impl AttributeDiff {
    pub fn text(&mut self, attribute: &str, before: Option<&str>, after: Option<&str>) {
        if before != after {
            self.push(attribute, text_value(before), text_value(after));
        }
    }

    pub fn addresses(&mut self, attribute: &str, before: &[EmailAddress], after: &[EmailAddress]) {
        let mut before: Vec<&EmailAddress> = before.iter().collect();
        before.sort_unstable();
        if before.iter().copied().ne(after) {
            let names = |list: &[&EmailAddress]| list.iter().map(ToString::to_string).collect();
            let after: Vec<&EmailAddress> = after.iter().collect();
            self.push(
                attribute,
                AttributeValue::List(names(&before)),
                AttributeValue::List(names(&after)),
            );
        }
    }

    /// A group's membership change, as the members that join and those that leave.
    pub fn members(&mut self, joining: Vec<String>, leaving: Vec<String>) {
        if !joining.is_empty() {
            self.push(
                "members_added",
                AttributeValue::None,
                AttributeValue::List(joining),
            );
        }
        if !leaving.is_empty() {
            self.push(
                "members_removed",
                AttributeValue::List(leaving),
                AttributeValue::None,
            );
        }
    }

    pub fn push(&mut self, attribute: &str, before: AttributeValue, after: AttributeValue) {
        self.0.push(AttributeChange {
            attribute: attribute.to_owned(),
            before,
            after,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names of the changed attributes, for a change's reason.
    pub fn names(&self) -> Vec<&str> {
        self.0
            .iter()
            .map(|change| change.attribute.as_str())
            .collect()
    }

    pub fn into_changes(self) -> Vec<AttributeChange> {
        self.0
    }
}

fn text_value(value: Option<&str>) -> AttributeValue {
    value.map_or(AttributeValue::None, |text| {
        AttributeValue::Text(text.to_owned())
    })
}

/// The fields sync sets on a user, borrowed from the directory. Most users of a re-sync have not
/// changed, so they are compared before anything is copied into [`UserFields`].
pub(crate) struct WantedUser<'w> {
    pub primary_address: &'w EmailAddress,
    pub aliases: &'w [EmailAddress],
    pub first_name: Option<&'w str>,
    pub last_name: Option<&'w str>,
    pub display_name: Option<&'w str>,
}

impl WantedUser<'_> {
    pub fn to_fields(&self) -> UserFields {
        UserFields {
            primary_address: self.primary_address.clone(),
            aliases: self.aliases.to_vec(),
            first_name: self.first_name.map(str::to_owned),
            last_name: self.last_name.map(str::to_owned),
            display_name: self.display_name.map(str::to_owned),
        }
    }
}

/// The fields sync sets on a group, members aside, borrowed from the directory: see
/// [`WantedUser`].
pub(crate) struct WantedGroup<'w> {
    pub name: &'w str,
    pub kind: GroupKind,
    pub address: Option<&'w EmailAddress>,
    pub aliases: &'w [EmailAddress],
}

impl WantedGroup<'_> {
    pub fn to_fields(&self) -> GroupFields {
        GroupFields {
            name: self.name.to_owned(),
            kind: self.kind,
            address: self.address.cloned(),
            aliases: self.aliases.to_vec(),
        }
    }
}

/// What sync would change on `before` (nothing yet, for a new user) to make it `after`.
pub(crate) fn user_diff(before: Option<&User>, after: &WantedUser) -> AttributeDiff {
    let mut diff = AttributeDiff::default();
    let primary = before.map(|user| user.primary_address.as_str());
    diff.text(
        "primary_address",
        primary,
        Some(after.primary_address.as_str()),
    );
    diff.addresses(
        "aliases",
        before.map_or(&[], |user| &user.aliases),
        after.aliases,
    );
    diff.text(
        "first_name",
        before.and_then(|u| u.first_name.as_deref()),
        after.first_name,
    );
    diff.text(
        "last_name",
        before.and_then(|u| u.last_name.as_deref()),
        after.last_name,
    );
    diff.text(
        "display_name",
        before.and_then(|u| u.display_name.as_deref()),
        after.display_name,
    );
    diff
}

/// What sync would change on `before` to make it `after`, members aside (they are compared by
/// directory id, which the caller resolves).
pub(crate) fn group_diff(before: Option<&Group>, after: &WantedGroup) -> AttributeDiff {
    let mut diff = AttributeDiff::default();
    diff.text("name", before.map(|g| g.name.as_str()), Some(after.name));
    diff.text(
        "kind",
        before.map(|g| g.kind.as_str()),
        Some(after.kind.as_str()),
    );
    let before_address = before
        .and_then(|g| g.address.as_ref())
        .map(EmailAddress::as_str);
    diff.text(
        "address",
        before_address,
        after.address.map(EmailAddress::as_str),
    );
    diff.addresses(
        "aliases",
        before.map_or(&[], |group| &group.aliases),
        after.aliases,
    );
    diff
}
