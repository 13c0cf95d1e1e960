//! The synced objects the account will hold once a plan's allowed changes are applied: what a
//! group's members can be. Memberships are the bulk of a large tenant (a million of them), so
//! each member is looked up once and compared as a number, not as text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;

use roster_domain::{DirectoryMember, ExternalId, MemberType};

/// The objects of one type (users or groups) the account will hold, numbered in directory-id
/// order, so that sorting the numbers sorts the ids.
///
/// Ids and names are copied here, one after another, rather than borrowed from records spread
/// over the heap: a million look-ups then stay within a few megabytes of memory, which is what
/// makes them fast.
pub(crate) struct Held<K> {
    ids: Vec<ExternalId>,
    labels: Vec<String>,
    by_external_id: HashMap<ExternalId, usize>,
    /// The number of each object the account holds today, by its id in the account.
    by_account_id: HashMap<K, usize>,
}

impl<K: Copy + Eq + Hash> Held<K> {
    /// `objects` maps each directory id to the object's id in the account, if it has one
    /// already, and to the name it will show.
    pub fn new(objects: HashMap<&ExternalId, (Option<K>, Cow<str>)>) -> Self {
        let mut objects: Vec<_> = objects.into_iter().collect();
        objects.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let ids: Vec<ExternalId> = objects.iter().map(|(id, _)| (*id).clone()).collect();
        let labels = objects
            .iter()
            .map(|(_, (_, label))| label.to_string())
            .collect();
        let by_external_id = ids.iter().cloned().zip(0..).collect();
        let by_account_id = objects
            .iter()
            .enumerate()
            .filter_map(|(n, (_, (account_id, _)))| Some(((*account_id)?, n)))
            .collect();
        Self {
            ids,
            labels,
            by_external_id,
            by_account_id,
        }
    }

    /// The numbers of a directory group's direct members of `kind` that will be held, sorted,
    /// without repeats.
    pub fn wanted(&self, members: &[DirectoryMember], kind: MemberType) -> Vec<usize> {
        let mut wanted: Vec<usize> = members
            .iter()
            .filter(|member| member.kind == kind)
            .filter_map(|member| self.by_external_id.get(&member.id).copied())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted
    }

    /// How a group's current members (by their ids in the account) differ from the wanted
    /// ones (by number).
    pub fn diff(&self, current: &[K], wanted: &[usize]) -> MemberDiff<K> {
        let mut held = Vec::with_capacity(current.len());
        let mut not_held = Vec::new();
        for id in current {
            match self.by_account_id.get(id) {
                Some(&number) => held.push(number),
                None => not_held.push(*id),
            }
        }
        held.sort_unstable();
        held.dedup();
        let missing_from = |list: &[usize], number: &&usize| list.binary_search(number).is_err();
        MemberDiff {
            joining: wanted
                .iter()
                .filter(|n| missing_from(&held, n))
                .copied()
                .collect(),
            leaving: held
                .iter()
                .filter(|n| missing_from(wanted, n))
                .copied()
                .collect(),
            leaving_not_held: not_held,
        }
    }

    pub fn external_ids(&self, numbers: &[usize]) -> Vec<ExternalId> {
        numbers.iter().map(|&n| self.ids[n].clone()).collect()
    }

    pub fn labels(&self, numbers: &[usize]) -> impl Iterator<Item = &str> {
        numbers.iter().map(|&n| self.labels[n].as_str())
    }
}

/// The members that join a group and those that leave it.
pub(crate) struct MemberDiff<K> {
    /// By number.
    pub joining: Vec<usize>,
    /// By number: members that stay synced objects but leave this group.
    pub leaving: Vec<usize>,
    /// By id in the account: members that will not be synced objects (manual objects, or ones
    /// this plan removes), which a synced group cannot keep.
    pub leaving_not_held: Vec<K>,
}

impl<K> MemberDiff<K> {
    pub fn is_empty(&self) -> bool {
        self.joining.is_empty() && self.leaving.is_empty() && self.leaving_not_held.is_empty()
    }
}
