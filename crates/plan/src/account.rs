//! The account's current users and groups, indexed for the planner's look-ups.

use roster_domain::{EmailAddress, ExternalId, Group, GroupId, Source, User, UserId};

use crate::HashMap;

/// One of the account's current objects, by its position in the planner's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Holder {
    User(usize),
    Group(usize),
}

pub(crate) struct AccountIndex<'a> {
    pub users: &'a [User],
    pub groups: &'a [Group],
    /// Users and groups that sync created or linked, by their directory id.
    pub synced_users: HashMap<&'a ExternalId, usize>,
    pub synced_groups: HashMap<&'a ExternalId, usize>,
    /// Which object every address of the account routes to.
    holders: HashMap<&'a EmailAddress, Holder>,
    users_by_id: HashMap<UserId, usize>,
    groups_by_id: HashMap<GroupId, usize>,
}

impl<'a> AccountIndex<'a> {
    pub fn new(users: &'a [User], groups: &'a [Group]) -> Self {
        let synced_users = users
            .iter()
            .enumerate()
            .filter_map(|(i, u)| synced_id(u.source, u.external_id.as_ref()).map(|id| (id, i)))
            .collect();
        let synced_groups = groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| synced_id(g.source, g.external_id.as_ref()).map(|id| (id, i)))
            .collect();
        let mut index = Self {
            users,
            groups,
            synced_users,
            synced_groups,
            holders: HashMap::default(),
            users_by_id: users.iter().enumerate().map(|(i, u)| (u.id, i)).collect(),
            groups_by_id: groups.iter().enumerate().map(|(i, g)| (g.id, i)).collect(),
        };
        let holders: HashMap<_, _> = (0..users.len())
            .map(Holder::User)
            .chain((0..groups.len()).map(Holder::Group))
            .flat_map(|holder| {
                index
                    .addresses(holder)
                    .map(move |address| (address, holder))
            })
            .collect();
        index.holders = holders;
        index
    }

    /// The object an address routes to today, if any.
    pub fn holder_of(&self, address: &EmailAddress) -> Option<Holder> {
        self.holders.get(address).copied()
    }

    /// Every address routing to `holder`: a user's primary and aliases, a group's address and
    /// aliases.
    pub fn addresses(&self, holder: Holder) -> impl Iterator<Item = &'a EmailAddress> + use<'a> {
        let (first, rest) = match holder {
            Holder::User(i) => (Some(&self.users[i].primary_address), &self.users[i].aliases),
            Holder::Group(i) => (self.groups[i].address.as_ref(), &self.groups[i].aliases),
        };
        first.into_iter().chain(rest)
    }

    pub fn is_manual(&self, holder: Holder) -> bool {
        let source = match holder {
            Holder::User(i) => self.users[i].source,
            Holder::Group(i) => self.groups[i].source,
        };
        source == Source::Manual
    }

    /// How a person would name the object: "the manual user jane@contoso.com".
    pub fn describe(&self, holder: Holder) -> String {
        let source = if self.is_manual(holder) {
            "manual"
        } else {
            "synced"
        };
        match holder {
            Holder::User(i) => format!("the {source} user {}", self.users[i].primary_address),
            Holder::Group(_) => format!("the {source} group {}", self.label(holder)),
        }
    }

    /// The object's name: a user's primary address, a group's name and address.
    pub fn label(&self, holder: Holder) -> String {
        match holder {
            Holder::User(i) => self.users[i].primary_address.to_string(),
            Holder::Group(i) => group_label(&self.groups[i].name, self.groups[i].address.as_ref()),
        }
    }

    pub fn user(&self, holder: Holder) -> Option<&'a User> {
        match holder {
            Holder::User(i) => Some(&self.users[i]),
            Holder::Group(_) => None,
        }
    }

    pub fn group(&self, holder: Holder) -> Option<&'a Group> {
        match holder {
            Holder::Group(i) => Some(&self.groups[i]),
            Holder::User(_) => None,
        }
    }

    pub fn user_by_id(&self, id: UserId) -> Option<&'a User> {
        self.users_by_id.get(&id).map(|&i| &self.users[i])
    }

    pub fn group_by_id(&self, id: GroupId) -> Option<&'a Group> {
        self.groups_by_id.get(&id).map(|&i| &self.groups[i])
    }
}

/// A group's name, with its address when it has one: "Sales (sales@contoso.com)".
pub(crate) fn group_label(name: &str, address: Option<&EmailAddress>) -> String {
    match address {
        Some(address) => format!("{name} ({address})"),
        None => name.to_owned(),
    }
}

/// The directory id of an object sync manages. A directory-sourced object without an id cannot
/// be matched to the directory, so sync leaves it alone like a manual one.
fn synced_id(source: Source, external_id: Option<&ExternalId>) -> Option<&ExternalId> {
    external_id.filter(|_| source == Source::Directory)
}
