//! The in-memory view: every account's recipients, indexed by address and domain, each account
//! replaced whole when its revision moves (by a copy with the changes applied, or read again).
//!
//! Readers load the current [`Directory`] from an [`ArcSwapOption`], without a lock and (in the
//! common case) without touching its reference count, and answer from it. A refresh builds an account's
//! new view off to the side and then swaps in a new `Directory` sharing every other account's
//! view: a reader sees an account entirely before or entirely after a change, never a mix, and
//! never waits for the database.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use roster_domain::{AccountId, DomainName, EmailAddress, GroupId, UserId};
use roster_store::{MailChanges, MailDirectory, MailGroup, MailUser, Revision};

use crate::maps::RecipientDelimiter;

/// Hash maps keyed by address: foldhash is several times faster than SipHash on short keys,
/// and the seed is drawn at start so that addresses a tenant chooses cannot be made to collide.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

fn new_map<K, V>(capacity: usize, seed: u64) -> Map<K, V> {
    Map::with_capacity_and_hasher(capacity, foldhash::fast::FixedState::with_seed(seed))
}

/// Who an address belongs to within one account: the slot of its user or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    User(u32),
    Group(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct UserEntry {
    pub(crate) primary: Box<str>,
    /// Kept to take them out of the address index when the user changes.
    aliases: Box<[Box<str>]>,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupEntry {
    /// The primary address; `None` for a group that is not mail-enabled.
    pub(crate) address: Option<Box<str>>,
    aliases: Box<[Box<str>]>,
    pub(crate) member_users: Box<[u32]>,
    pub(crate) member_groups: Box<[u32]>,
}

/// One account's recipients at one revision.
///
/// Users and groups sit in slots that keep their number for the view's life, so that a change
/// to one object touches only its own entries: a removed object leaves its slot empty, and a
/// view that has more empty slots than full ones is read again whole ([`AccountView::is_sparse`]).
#[derive(Debug, Clone)]
pub struct AccountView {
    pub(crate) account_id: AccountId,
    pub(crate) revision: Revision,
    pub(crate) domains: Box<[Box<str>]>,
    pub(crate) owners: Map<Box<str>, Owner>,
    pub(crate) users: Vec<Option<UserEntry>>,
    pub(crate) groups: Vec<Option<GroupEntry>>,
    user_slots: Map<UserId, u32>,
    group_slots: Map<GroupId, u32>,
}

fn boxed(addresses: &[EmailAddress]) -> Box<[Box<str>]> {
    addresses.iter().map(|a| Box::from(a.as_str())).collect()
}

fn domains(domains: &[DomainName]) -> Box<[Box<str>]> {
    domains.iter().map(|d| Box::from(d.as_str())).collect()
}

impl AccountView {
    /// Indexes an account's directory.
    pub fn build(directory: MailDirectory, seed: u64) -> Self {
        let addresses = directory
            .users
            .iter()
            .map(|u| 1 + u.aliases.len())
            .sum::<usize>()
            + directory
                .groups
                .iter()
                .map(|g| g.address.iter().count() + g.aliases.len())
                .sum::<usize>();
        let mut view = Self {
            account_id: directory.account_id,
            revision: directory.revision,
            domains: domains(&directory.domains),
            owners: new_map(addresses, seed),
            users: Vec::with_capacity(directory.users.len()),
            groups: Vec::with_capacity(directory.groups.len()),
            user_slots: new_map(directory.users.len(), seed),
            group_slots: new_map(directory.groups.len(), seed),
        };
        view.place(directory.users, directory.groups);
        view
    }

    /// This view with `changes` (read after this view's revision) applied: the changed objects'
    /// old addresses and members replaced by their new ones, the removed objects' slots emptied.
    pub fn patched(&self, changes: MailChanges) -> Self {
        let mut view = self.clone();
        view.revision = changes.revision;
        view.domains = domains(&changes.domains);
        for id in &changes.removed_users {
            if let Some(slot) = view.user_slots.remove(id) {
                view.clear_user(slot);
            }
        }
        for id in &changes.removed_groups {
            if let Some(slot) = view.group_slots.remove(id) {
                view.clear_group(slot);
            }
        }
        // Old addresses all go before any new one comes in: an address may move between two
        // changed objects.
        for user in &changes.users {
            if let Some(&slot) = view.user_slots.get(&user.id) {
                view.clear_user(slot);
            }
        }
        for group in &changes.groups {
            if let Some(&slot) = view.group_slots.get(&group.id) {
                view.clear_group(slot);
            }
        }
        view.place(changes.users, changes.groups);
        view
    }

    /// Empties a user's slot and takes its addresses out of the index.
    fn clear_user(&mut self, slot: u32) {
        if let Some(user) = self.users[slot as usize].take() {
            for address in std::iter::once(&user.primary).chain(&user.aliases) {
                self.owners.remove(address);
            }
        }
    }

    fn clear_group(&mut self, slot: u32) {
        if let Some(group) = self.groups[slot as usize].take() {
            for address in group.address.iter().chain(&group.aliases) {
                self.owners.remove(address);
            }
        }
    }

    /// Puts users and groups into their slots (a new object into a new slot) and indexes their
    /// addresses; a group's members are resolved once every object has its slot. Members the
    /// account does not hold (which only a damaged database could produce) are left out.
    fn place(&mut self, users: Vec<MailUser>, groups: Vec<MailGroup>) {
        for user in users {
            let slot = slot_for(&mut self.user_slots, &mut self.users, user.id);
            for address in std::iter::once(&user.primary_address).chain(&user.aliases) {
                self.owners
                    .insert(Box::from(address.as_str()), Owner::User(slot));
            }
            self.users[slot as usize] = Some(UserEntry {
                primary: Box::from(user.primary_address.as_str()),
                aliases: boxed(&user.aliases),
            });
        }
        let slots: Vec<u32> = groups
            .iter()
            .map(|group| slot_for(&mut self.group_slots, &mut self.groups, group.id))
            .collect();
        for (group, slot) in groups.into_iter().zip(slots) {
            for address in group.address.iter().chain(&group.aliases) {
                self.owners
                    .insert(Box::from(address.as_str()), Owner::Group(slot));
            }
            self.groups[slot as usize] = Some(GroupEntry {
                address: group.address.as_ref().map(|a| Box::from(a.as_str())),
                aliases: boxed(&group.aliases),
                member_users: group
                    .member_users
                    .iter()
                    .filter_map(|id| self.user_slots.get(id).copied())
                    .collect(),
                member_groups: group
                    .member_groups
                    .iter()
                    .filter_map(|id| self.group_slots.get(id).copied())
                    .collect(),
            });
        }
    }

    pub fn account_id(&self) -> AccountId {
        self.account_id
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Whether removals have left more empty slots than full ones: reading the account again
    /// whole then gives a smaller view.
    pub fn is_sparse(&self) -> bool {
        self.users.len() > 2 * self.user_slots.len()
            || self.groups.len() > 2 * self.group_slots.len()
    }

    /// The primary addresses of the group's transitive members: nested groups expanded, each
    /// group visited once (so cycles end), each address once, sorted.
    pub(crate) fn members(&self, group: u32) -> Vec<&str> {
        let mut seen_groups = vec![false; self.groups.len()];
        let mut seen_users = vec![0u64; self.users.len().div_ceil(64)];
        let mut pending = vec![group];
        seen_groups[group as usize] = true;
        let mut members = Vec::new();
        while let Some(g) = pending.pop() {
            let Some(entry) = &self.groups[g as usize] else {
                continue;
            };
            for &user in &entry.member_users {
                let (word, bit) = (user as usize / 64, 1u64 << (user % 64));
                if seen_users[word] & bit == 0 {
                    seen_users[word] |= bit;
                    if let Some(member) = &self.users[user as usize] {
                        members.push(&*member.primary);
                    }
                }
            }
            for &nested in &entry.member_groups {
                if !std::mem::replace(&mut seen_groups[nested as usize], true) {
                    pending.push(nested);
                }
            }
        }
        members.sort_unstable();
        members
    }
}

/// The slot of the object `id`, a new one at the end if it has none yet.
fn slot_for<Id: Eq + std::hash::Hash, T>(
    slots: &mut Map<Id, u32>,
    entries: &mut Vec<Option<T>>,
    id: Id,
) -> u32 {
    *slots.entry(id).or_insert_with(|| {
        entries.push(None);
        (entries.len() - 1) as u32
    })
}

/// Every account's view, and which account owns each domain.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    pub(crate) accounts: Map<AccountId, Arc<AccountView>>,
    pub(crate) by_domain: Map<Box<str>, Arc<AccountView>>,
}

impl Directory {
    fn new(accounts: impl IntoIterator<Item = Arc<AccountView>>, seed: u64) -> Self {
        let mut directory = Self {
            accounts: new_map(0, seed),
            by_domain: new_map(0, seed),
        };
        for account in accounts {
            directory.insert(account);
        }
        directory
    }

    fn insert(&mut self, account: Arc<AccountView>) {
        if let Some(old) = self.accounts.insert(account.account_id, account.clone()) {
            self.release_domains(&old);
        }
        for domain in &account.domains {
            self.by_domain.insert(domain.clone(), account.clone());
        }
    }

    fn remove(&mut self, account_id: AccountId) {
        if let Some(old) = self.accounts.remove(&account_id) {
            self.release_domains(&old);
        }
    }

    /// Takes an account's old domains out of the domain index, except those another account
    /// has taken over since: a domain moving between two accounts in one refresh stays with
    /// its new owner whichever of the two is put in first.
    fn release_domains(&mut self, old: &AccountView) {
        for domain in &old.domains {
            if self
                .by_domain
                .get(domain)
                .is_some_and(|owner| owner.account_id == old.account_id)
            {
                self.by_domain.remove(domain);
            }
        }
    }

    /// The account owning the address's domain (the text after its last `@`).
    pub(crate) fn account_for_address(&self, address: &str) -> Option<&AccountView> {
        let (_, domain) = address.rsplit_once('@')?;
        self.by_domain.get(domain).map(|a| &**a)
    }
}

/// The shared, swappable view. Before the first complete load it holds nothing, and lookups
/// answer that they cannot yet tell.
#[derive(Debug)]
pub struct LookupView {
    current: ArcSwapOption<Directory>,
    seed: u64,
    pub(crate) delimiter: RecipientDelimiter,
}

impl LookupView {
    /// An empty view whose address keys split extensions at `delimiter`.
    pub fn new(delimiter: RecipientDelimiter) -> Self {
        Self {
            current: ArcSwapOption::empty(),
            seed: rand::random(),
            delimiter,
        }
    }

    /// The seed the view's hash maps use; account views built for it must use the same.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current directory, held for as long as a refresh takes.
    pub(crate) fn directory(&self) -> Option<Arc<Directory>> {
        self.current.load_full()
    }

    /// The current directory, for the moment one lookup takes.
    pub(crate) fn current(&self) -> arc_swap::Guard<Option<Arc<Directory>>> {
        self.current.load()
    }

    /// Whether a first complete view exists.
    pub fn is_ready(&self) -> bool {
        self.directory().is_some()
    }

    /// How many accounts the view holds.
    pub fn account_count(&self) -> usize {
        self.directory().map_or(0, |d| d.accounts.len())
    }

    /// Every account's view as it stands.
    pub(crate) fn accounts(&self) -> Vec<Arc<AccountView>> {
        self.directory()
            .map(|d| d.accounts.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The revision each account is held at.
    pub fn revisions(&self) -> Vec<(AccountId, Revision)> {
        self.directory()
            .map(|d| {
                d.accounts
                    .values()
                    .map(|a| (a.account_id, a.revision))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replaces the whole view with these accounts.
    pub fn install(&self, accounts: Vec<AccountView>) {
        self.set(Directory::new(
            accounts.into_iter().map(Arc::new),
            self.seed,
        ));
    }

    /// Replaces these accounts' views (or adds them) and drops the accounts in `removed`. Does
    /// nothing before the first [`LookupView::install`]. The new directory is built outside the
    /// lock, from the current one: the view has one writer, its refresher.
    pub fn update(&self, changed: Vec<AccountView>, removed: &[AccountId]) {
        let Some(current) = self.directory() else {
            return;
        };
        let mut directory = (*current).clone();
        for account_id in removed {
            directory.remove(*account_id);
        }
        for account in changed {
            directory.insert(Arc::new(account));
        }
        self.set(directory);
    }

    fn set(&self, directory: Directory) {
        self.current.store(Some(Arc::new(directory)));
    }
}
