//! Who gets which address. An address routes to exactly one object (product.md §1), so before
//! any change is proposed the planner settles every address the directory claims against the
//! other directory objects, the account's manual objects and whatever the plan leaves in place.

use std::collections::hash_map::Entry;

use roster_domain::plan::{SkipReason, Skipped};
use roster_domain::{DirectoryGroup, DirectoryUser, EmailAddress, ExternalId, GroupKind};

use crate::account::{AccountIndex, Holder};
use crate::directory;
use crate::{HashMap, HashSet};

/// A directory object that the account should hold: active, in scope, not exempt, with its
/// addresses already limited to the account's domains and to addresses no other account owns.
#[derive(Debug)]
pub(crate) struct Candidate<'a> {
    pub object: DirectoryObject<'a>,
    pub aliases: Vec<EmailAddress>,
    /// The account's object this one becomes: the synced object with its directory id, or the
    /// manual object it is linked to.
    pub current: Option<Holder>,
    pub linked: bool,
    /// Left out over an address conflict; an object the account already holds stays as it is.
    pub skipped: bool,
}

/// The directory record behind a candidate, with its primary address: a user always has one, a
/// group may have none (security groups usually do not).
#[derive(Debug)]
pub(crate) enum DirectoryObject<'a> {
    User {
        user: &'a DirectoryUser,
        primary: EmailAddress,
    },
    Group {
        group: &'a DirectoryGroup,
        kind: GroupKind,
        address: Option<EmailAddress>,
    },
}

impl<'a> Candidate<'a> {
    /// A candidate that becomes `current`, the synced object with its directory id, if the
    /// account holds one.
    pub fn new(
        object: DirectoryObject<'a>,
        aliases: Vec<EmailAddress>,
        current: Option<Holder>,
    ) -> Self {
        Self {
            object,
            aliases,
            current,
            linked: false,
            skipped: false,
        }
    }

    pub fn external_id(&self) -> &ExternalId {
        match &self.object {
            DirectoryObject::User { user, .. } => &user.id,
            DirectoryObject::Group { group, .. } => &group.id,
        }
    }

    pub fn primary(&self) -> Option<&EmailAddress> {
        match &self.object {
            DirectoryObject::User { primary, .. } => Some(primary),
            DirectoryObject::Group { address, .. } => address.as_ref(),
        }
    }

    /// How the object is named in *Skipped*. It is worked out for the few candidates that are
    /// skipped, rather than kept for every one.
    pub fn label(&self) -> String {
        let (display_name, id) = match &self.object {
            DirectoryObject::User { user, .. } => (user.display_name.as_deref(), &user.id),
            DirectoryObject::Group { group, .. } => (group.display_name.as_deref(), &group.id),
        };
        directory::object_label(display_name, self.primary().map(EmailAddress::as_str), id)
    }

    fn addresses(&self) -> impl Iterator<Item = (&EmailAddress, bool)> {
        let primary = self.primary().into_iter().map(|address| (address, true));
        primary.chain(self.aliases.iter().map(|address| (address, false)))
    }

    fn can_become(&self, holder: Holder) -> bool {
        matches!(
            (&self.object, holder),
            (DirectoryObject::User { .. }, Holder::User(_))
                | (DirectoryObject::Group { .. }, Holder::Group(_))
        )
    }

    fn skip(&self, reason: SkipReason, detail: String) -> Skipped {
        Skipped {
            external_id: self.external_id().clone(),
            summary: self.label(),
            reason,
            detail,
        }
    }
}

/// Settles addresses that two or more directory objects claim (Exchange forbids this, but a
/// directory in mid-edit or with hand-made proxy addresses can show it). The rule keeps mail
/// flowing where it flows today: an address stays with the claimant that already holds it in
/// the account; otherwise the one claimant that has it as its primary gets it; otherwise nobody
/// does, since guessing could deliver one person's mail to another. A claimant that loses its
/// primary is skipped whole; one that loses an alias only loses the alias.
pub(crate) fn resolve_duplicates(
    candidates: &mut [Candidate],
    account: &AccountIndex,
    skipped: &mut Vec<Skipped>,
) {
    let mut first_claims: HashMap<&EmailAddress, (usize, bool)> = HashMap::default();
    let mut contested: HashMap<&EmailAddress, Vec<(usize, bool)>> = HashMap::default();
    for (index, candidate) in candidates.iter().enumerate() {
        for (address, is_primary) in candidate.addresses() {
            match first_claims.entry(address) {
                Entry::Vacant(entry) => {
                    entry.insert((index, is_primary));
                }
                Entry::Occupied(entry) => {
                    contested
                        .entry(address)
                        .or_insert_with(|| vec![*entry.get()])
                        .push((index, is_primary));
                }
            }
        }
    }
    let mut losses = Vec::new();
    for (address, claims) in &contested {
        let holds_now = |index: usize| {
            candidates[index]
                .current
                .is_some_and(|h| account.holder_of(address) == Some(h))
        };
        let mut primaries = claims.iter().filter(|(_, is_primary)| *is_primary);
        let only_primary = match (primaries.next(), primaries.next()) {
            (Some(&(index, _)), None) => Some(index),
            _ => None,
        };
        let keeper = claims
            .iter()
            .map(|&(index, _)| index)
            .find(|&index| holds_now(index))
            .or(only_primary);
        for &(index, is_primary) in claims.iter().filter(|(index, _)| Some(*index) != keeper) {
            let mut others: Vec<String> = claims
                .iter()
                .filter(|(other, _)| *other != index)
                .map(|(other, _)| candidates[*other].label())
                .collect();
            others.sort_unstable();
            others.dedup();
            let kept = match keeper {
                Some(keeper) => format!("it stays with {}", candidates[keeper].label()),
                None => "no object gets it until the directory is corrected".to_owned(),
            };
            let what = if is_primary {
                "primary address"
            } else {
                "alias"
            };
            let outcome = if is_primary {
                "the object is skipped"
            } else {
                "the alias is dropped"
            };
            let detail = format!(
                "{what} {address} is also claimed by {}; {kept}, and {outcome}",
                others.join(", ")
            );
            losses.push((index, (*address).clone(), is_primary, detail));
        }
    }
    for (index, address, is_primary, detail) in losses {
        let candidate = &mut candidates[index];
        if is_primary {
            candidate.skipped = true;
        } else {
            candidate.aliases.retain(|alias| *alias != address);
        }
        skipped.push(candidate.skip(SkipReason::DuplicateInTenant, detail));
    }
}

/// Links new directory objects to the manual objects of the account that hold their primary
/// address (as primary or as an alias), so that a user created by hand is taken over rather than
/// duplicated. A manual object is linked to at most one directory object: the one whose primary
/// is its primary, else the one with the lowest address.
pub(crate) fn link_manual_objects(candidates: &mut [Candidate], account: &AccountIndex) {
    let mut links: HashMap<Holder, usize> = HashMap::default();
    for (index, candidate) in candidates.iter().enumerate() {
        if candidate.skipped || candidate.current.is_some() {
            continue;
        }
        let Some(primary) = candidate.primary() else {
            continue;
        };
        let Some(holder) = account.holder_of(primary) else {
            continue;
        };
        if !account.is_manual(holder) || !candidate.can_become(holder) {
            continue;
        }
        let rank = |index: usize| {
            let primary = candidates[index].primary();
            (account.addresses(holder).next() != primary, primary)
        };
        links
            .entry(holder)
            .and_modify(|linked| {
                if rank(index) < rank(*linked) {
                    *linked = index;
                }
            })
            .or_insert(index);
    }
    for (holder, index) in links {
        candidates[index].current = Some(holder);
        candidates[index].linked = true;
    }
}

/// Settles directory claims against the account's objects that keep their addresses: manual
/// objects, and synced objects this plan does not change (`released` holds those it does change
/// or remove). A claimant whose primary is held is skipped and, if the account holds it, keeps
/// its current addresses, which may in turn block others; the settlement runs until nothing
/// moves. A claimant whose alias is held only loses the alias.
pub(crate) fn settle_with_account(
    candidates: &mut [Candidate],
    account: &AccountIndex,
    released: &mut HashSet<Holder>,
    skipped: &mut Vec<Skipped>,
) {
    // Which candidate claims each address. Only a skipped candidate that keeps its current
    // addresses needs it, which is rare, so the map is built when that first happens.
    let mut claimants: Option<HashMap<&EmailAddress, usize>> = None;
    let mut skipped_now = vec![false; candidates.len()];
    let mut lost_aliases: HashMap<(usize, &EmailAddress), Holder> = HashMap::default();
    let mut work: Vec<usize> = (0..candidates.len())
        .filter(|&i| !candidates[i].skipped)
        .collect();
    while let Some(index) = work.pop() {
        if skipped_now[index] {
            continue;
        }
        let candidate = &candidates[index];
        let blocker = |address: &EmailAddress| {
            account
                .holder_of(address)
                .filter(|h| Some(*h) != candidate.current && !released.contains(h))
        };
        if let Some((primary, holder)) =
            candidate.primary().and_then(|p| blocker(p).map(|h| (p, h)))
        {
            skipped_now[index] = true;
            let detail = format!(
                "primary address {primary} is held by {}",
                account.describe(holder)
            );
            skipped.push(candidate.skip(SkipReason::ConflictsWithExisting, detail));
            if let Some(kept) = candidate.current.filter(|kept| released.remove(kept)) {
                let claimants = claimants.get_or_insert_with(|| claimants_by_address(candidates));
                let now_blocked = account
                    .addresses(kept)
                    .filter_map(|address| claimants.get(address));
                work.extend(now_blocked.filter(|&&other| other != index));
            }
            continue;
        }
        for alias in &candidate.aliases {
            if let Some(holder) = blocker(alias) {
                lost_aliases.entry((index, alias)).or_insert(holder);
            }
        }
    }
    let lost_aliases: Vec<(usize, EmailAddress, Holder)> = lost_aliases
        .into_iter()
        .filter(|((index, _), _)| !skipped_now[*index])
        .map(|((index, alias), holder)| (index, alias.clone(), holder))
        .collect();
    for (index, alias, holder) in lost_aliases {
        let candidate = &mut candidates[index];
        candidate.aliases.retain(|kept| *kept != alias);
        let detail = format!(
            "alias {alias} is held by {} and is dropped",
            account.describe(holder)
        );
        skipped.push(candidate.skip(SkipReason::ConflictsWithExisting, detail));
    }
    for (candidate, skipped_now) in candidates.iter_mut().zip(skipped_now) {
        candidate.skipped |= skipped_now;
    }
}

/// The candidate that claims each address, among those not skipped: the last one, when several
/// do.
fn claimants_by_address<'c>(candidates: &'c [Candidate]) -> HashMap<&'c EmailAddress, usize> {
    let mut claimants = HashMap::default();
    for (index, candidate) in candidates.iter().enumerate().filter(|(_, c)| !c.skipped) {
        for (address, _) in candidate.addresses() {
            claimants.insert(address, index);
        }
    }
    claimants
}
