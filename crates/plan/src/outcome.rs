//! The synced objects the account will hold once a plan's allowed changes are applied: what a
//! group's members can be. Memberships are the bulk of a large tenant (a million of them), so
//! each member is looked up once and compared as a number, not as text.

use std::borrow::Cow;
use std::hash::Hash;

use roster_domain::{DirectoryMember, ExternalId, MemberType};

use crate::HashMap;

/// One object the account will hold: its directory id, its id in the account if it has one
/// already, and the name it will show.
pub(crate) struct HeldObject<'o, K> {
    pub external_id: &'o ExternalId,
    pub account_id: Option<K>,
    pub label: Cow<'o, str>,
}

/// The objects of one type (users or groups) the account will hold, numbered in directory-id
/// order, so that sorting the numbers sorts the ids.
///
/// The look-up by directory id holds its own copies of the ids, one after another, rather than
/// references to records spread over the heap: a million look-ups then stay within a few
/// megabytes of memory, which is what makes them fast. The names are borrowed.
pub(crate) struct Held<'o, K> {
    labels: Vec<Cow<'o, str>>,
    by_external_id: HashMap<ExternalId, usize>,
    /// The number of each object the account holds today, by its id in the account.
    by_account_id: HashMap<K, usize>,
}

impl<'o, K: Copy + Eq + Hash> Held<'o, K> {
    /// Of several objects with the same directory id, the last one listed is held, as when the
    /// objects are inserted one by one into a map.
    pub fn new(mut objects: Vec<HeldObject<'o, K>>) -> Self {
        // Reversed, a stable sort puts the last listed first among equal ids, and `dedup_by`
        // keeps the first.
        objects.reverse();
        objects.sort_by(|a, b| a.external_id.cmp(b.external_id));
        objects.dedup_by(|later, kept| later.external_id == kept.external_id);
        let by_external_id = (objects.iter())
            .enumerate()
            .map(|(n, object)| (object.external_id.clone(), n))
            .collect();
        let by_account_id = (objects.iter())
            .enumerate()
            .filter_map(|(n, object)| Some((object.account_id?, n)))
            .collect();
        let labels = objects.into_iter().map(|object| object.label).collect();
        Self {
            labels,
            by_external_id,
            by_account_id,
        }
    }

    /// A directory group's direct members of `kind` that will be held.
    pub fn wanted<'m>(&self, members: &'m [DirectoryMember], kind: MemberType) -> Wanted<'m> {
        let mut wanted: Vec<(usize, &ExternalId)> = members
            .iter()
            .filter(|member| member.kind == kind)
            .filter_map(|member| Some((*self.by_external_id.get(&member.id)?, &member.id)))
            .collect();
        wanted.sort_unstable_by_key(|&(number, _)| number);
        wanted.dedup_by_key(|&mut (number, _)| number);
        let (numbers, ids) = wanted.into_iter().unzip();
        Wanted { numbers, ids }
    }

    /// How a group's current members (by their ids in the account) differ from the wanted
    /// ones.
    pub fn diff<'m>(&self, current: &[K], wanted: &Wanted<'m>) -> MemberDiff<'m, K> {
        let mut held = Vec::with_capacity(current.len());
        let mut not_held = Vec::new();
        for &id in current {
            match self.by_account_id.get(&id) {
                Some(&number) => held.push((number, id)),
                None => not_held.push(id),
            }
        }
        held.sort_unstable_by_key(|&(number, _)| number);
        held.dedup_by_key(|&mut (number, _)| number);
        let is_held = |number: &usize| held.binary_search_by_key(number, |&(n, _)| n).is_ok();
        let is_wanted = |number: &usize| wanted.numbers.binary_search(number).is_ok();
        MemberDiff {
            joining: (wanted.numbers.iter().zip(&wanted.ids))
                .filter(|(number, _)| !is_held(number))
                .map(|(&number, &id)| (number, id))
                .collect(),
            leaving: held
                .iter()
                .filter(|(number, _)| !is_wanted(number))
                .copied()
                .collect(),
            leaving_not_held: not_held,
        }
    }

    pub fn labels(&self, numbers: &[usize]) -> impl Iterator<Item = &str> {
        numbers.iter().map(|&n| self.labels[n].as_ref())
    }
}

/// A group's wanted members of one type: their numbers, sorted, without repeats, and their
/// directory ids in the same order. The ids are the group's own: copied into the plan from its
/// member list, which lies close together in memory, rather than from objects spread over the
/// heap.
pub(crate) struct Wanted<'m> {
    pub numbers: Vec<usize>,
    pub ids: Vec<&'m ExternalId>,
}

impl Wanted<'_> {
    pub fn external_ids(&self) -> Vec<ExternalId> {
        self.ids.iter().map(|&id| id.clone()).collect()
    }
}

/// The members that join a group and those that leave it.
pub(crate) struct MemberDiff<'m, K> {
    /// By number, with their directory ids.
    pub joining: Vec<(usize, &'m ExternalId)>,
    /// By number, with their ids in the account: members that stay synced objects but leave
    /// this group.
    pub leaving: Vec<(usize, K)>,
    /// By id in the account: members that will not be synced objects (manual objects, or ones
    /// this plan removes), which a synced group cannot keep.
    pub leaving_not_held: Vec<K>,
}

impl<K: Copy> MemberDiff<'_, K> {
    pub fn is_empty(&self) -> bool {
        self.joining.is_empty() && self.leaving.is_empty() && self.leaving_not_held.is_empty()
    }

    pub fn joining_numbers(&self) -> Vec<usize> {
        self.joining.iter().map(|&(number, _)| number).collect()
    }

    pub fn leaving_numbers(&self) -> Vec<usize> {
        self.leaving.iter().map(|&(number, _)| number).collect()
    }

    pub fn joining_ids(&self) -> Vec<ExternalId> {
        self.joining.iter().map(|&(_, id)| id.clone()).collect()
    }

    /// Every leaving member by its id in the account, held or not.
    pub fn leaving_ids(&self) -> Vec<K> {
        let held = self.leaving.iter().map(|&(_, id)| id);
        held.chain(self.leaving_not_held.iter().copied()).collect()
    }
}
