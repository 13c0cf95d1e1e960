//! The in-memory view: every account's recipients, indexed by address and domain, each account
//! replaced whole when its revision moves.
//!
//! Readers take the current [`Directory`] (an `Arc`) under a read lock held only long enough to
//! clone the pointer, and answer from it without further locking. A refresh builds an account's
//! new view off to the side and then swaps in a new `Directory` sharing every other account's
//! view: a reader sees an account entirely before or entirely after a change, never a mix, and
//! never waits for the database.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use roster_domain::AccountId;
use roster_store::{MailDirectory, Revision};

use crate::maps::RecipientDelimiter;

/// Hash maps keyed by address: foldhash is several times faster than SipHash on short keys,
/// and the seed is drawn at start so that addresses a tenant chooses cannot be made to collide.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

fn new_map<K, V>(capacity: usize, seed: u64) -> Map<K, V> {
    Map::with_capacity_and_hasher(capacity, foldhash::fast::FixedState::with_seed(seed))
}

/// Who an address belongs to within one account: an index into its users or groups.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owner {
    User(u32),
    Group(u32),
}

#[derive(Debug)]
pub(crate) struct GroupEntry {
    /// The primary address; `None` for a group that is not mail-enabled.
    pub(crate) address: Option<Box<str>>,
    pub(crate) member_users: Box<[u32]>,
    pub(crate) member_groups: Box<[u32]>,
}

/// One account's recipients at one revision.
#[derive(Debug)]
pub struct AccountView {
    pub(crate) account_id: AccountId,
    pub(crate) revision: Revision,
    pub(crate) domains: Box<[Box<str>]>,
    pub(crate) owners: Map<Box<str>, Owner>,
    /// Each user's primary address, by user index.
    pub(crate) primaries: Box<[Box<str>]>,
    pub(crate) groups: Box<[GroupEntry]>,
}

impl AccountView {
    /// Indexes an account's directory. Members the directory names but does not hold (which
    /// only a damaged database could produce) are left out.
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
        let mut owners = new_map(addresses, seed);
        let mut user_index = new_map(directory.users.len(), seed);
        let mut primaries = Vec::with_capacity(directory.users.len());
        for (i, user) in directory.users.iter().enumerate() {
            let i = i as u32;
            user_index.insert(user.id, i);
            primaries.push(Box::from(user.primary_address.as_str()));
            for address in std::iter::once(&user.primary_address).chain(&user.aliases) {
                owners.insert(Box::from(address.as_str()), Owner::User(i));
            }
        }
        let group_index: Map<_, u32> = {
            let mut index = new_map(directory.groups.len(), seed);
            for (i, group) in directory.groups.iter().enumerate() {
                index.insert(group.id, i as u32);
            }
            index
        };
        let groups = directory
            .groups
            .iter()
            .enumerate()
            .map(|(i, group)| {
                for address in group.address.iter().chain(&group.aliases) {
                    owners.insert(Box::from(address.as_str()), Owner::Group(i as u32));
                }
                GroupEntry {
                    address: group.address.as_ref().map(|a| Box::from(a.as_str())),
                    member_users: group
                        .member_users
                        .iter()
                        .filter_map(|id| user_index.get(id).copied())
                        .collect(),
                    member_groups: group
                        .member_groups
                        .iter()
                        .filter_map(|id| group_index.get(id).copied())
                        .collect(),
                }
            })
            .collect();
        Self {
            account_id: directory.account_id,
            revision: directory.revision,
            domains: directory
                .domains
                .iter()
                .map(|d| Box::from(d.as_str()))
                .collect(),
            owners,
            primaries: primaries.into_boxed_slice(),
            groups,
        }
    }

    pub fn account_id(&self) -> AccountId {
        self.account_id
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The primary addresses of the group's transitive members: nested groups expanded, each
    /// group visited once (so cycles end), each address once, sorted.
    pub(crate) fn members(&self, group: u32) -> Vec<&str> {
        let mut seen_groups = vec![false; self.groups.len()];
        let mut seen_users = vec![0u64; self.primaries.len().div_ceil(64)];
        let mut pending = vec![group];
        seen_groups[group as usize] = true;
        let mut members = Vec::new();
        while let Some(g) = pending.pop() {
            let entry = &self.groups[g as usize];
            for &user in &entry.member_users {
                let (word, bit) = (user as usize / 64, 1u64 << (user % 64));
                if seen_users[word] & bit == 0 {
                    seen_users[word] |= bit;
                    members.push(&*self.primaries[user as usize]);
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
            for domain in &old.domains {
                self.by_domain.remove(domain);
            }
        }
        for domain in &account.domains {
            self.by_domain.insert(domain.clone(), account.clone());
        }
    }

    fn remove(&mut self, account_id: AccountId) {
        if let Some(old) = self.accounts.remove(&account_id) {
            for domain in &old.domains {
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
    current: RwLock<Option<Arc<Directory>>>,
    seed: u64,
    pub(crate) delimiter: RecipientDelimiter,
}

impl LookupView {
    /// An empty view whose address keys split extensions at `delimiter`.
    pub fn new(delimiter: RecipientDelimiter) -> Self {
        Self {
            current: RwLock::new(None),
            seed: rand::random(),
            delimiter,
        }
    }

    /// The seed the view's hash maps use; account views built for it must use the same.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn directory(&self) -> Option<Arc<Directory>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a first complete view exists.
    pub fn is_ready(&self) -> bool {
        self.directory().is_some()
    }

    /// How many accounts the view holds.
    pub fn account_count(&self) -> usize {
        self.directory().map_or(0, |d| d.accounts.len())
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
        let directory = Some(Arc::new(directory));
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let previous = std::mem::replace(&mut *current, directory);
        drop(current);
        // Freeing a large account's old view takes a while: not while holding the lock.
        drop(previous);
    }
}
