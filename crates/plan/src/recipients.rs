//! A group's full recipient list: its transitive expansion (product.md §2).

use std::collections::{BTreeSet, HashMap, HashSet};

use roster_domain::{Group, GroupId, UserId};

/// The account's groups, indexed for expanding a group into the users that mail to it reaches.
pub struct Recipients<'a> {
    groups: HashMap<GroupId, &'a Group>,
}

impl<'a> Recipients<'a> {
    pub fn new(groups: &'a [Group]) -> Self {
        Self {
            groups: groups.iter().map(|group| (group.id, group)).collect(),
        }
    }

    /// Every user that mail to `group` reaches: its member users and, through nested groups at
    /// any depth, theirs. Each group is expanded once, so a cycle of groups ends; a group the
    /// account does not hold reaches nobody.
    pub fn of(&self, group: GroupId) -> BTreeSet<UserId> {
        let mut expanded = HashSet::from([group]);
        let mut to_expand = vec![group];
        let mut users = BTreeSet::new();
        while let Some(id) = to_expand.pop() {
            let Some(group) = self.groups.get(&id) else {
                continue;
            };
            users.extend(group.member_users.iter().copied());
            to_expand.extend(
                group
                    .member_groups
                    .iter()
                    .copied()
                    .filter(|nested| expanded.insert(*nested)),
            );
        }
        users
    }
}
