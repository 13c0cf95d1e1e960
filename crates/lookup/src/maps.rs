//! The maps mail flow asks, and how a key is matched: the same answers over socketmap and HTTP.
//!
//! # Keys
//!
//! Keys are folded to lowercase (stored addresses are lowercase). Postfix sends a socketmap
//! only the whole address, address extension included: a socketmap is a "pattern" table to
//! Postfix (socketmap_table(5): it generates no partial keys such as `user@domain` without its
//! extension, or `@domain`). A `hash:` table with the same contents would match
//! `user+tag@domain` through its second key, `user@domain`. So that the maps answer as such a
//! table would, an address map tries the whole key first and then the key without its
//! extension, split at the first of the [`RecipientDelimiter`]'s characters, as Postfix's own
//! `recipient_delimiter` splits it (never at the first character of the local part, and never
//! `owner-…` or `…-request` when `-` is a delimiter). The `@domain` catch-all key is never
//! answered: Roster has no catch-all recipients.
//!
//! # Large groups
//!
//! A socketmap reply holds at most 100,000 characters. A group whose expansion is longer is
//! answered with *part addresses*, `roster-part-N-rREVISION.LOCAL@DOMAIN`, one per slice of the
//! expansion that fits a reply: Postfix expands virtual aliases recursively, asks for each part
//! and gets that slice. A part names the account revision its slicing was made at; asked at
//! another revision, it is answered [`Answer::Changed`] (socketmap `TEMP`), so a message is
//! deferred and expanded afresh rather than delivered to a mix of two memberships.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use roster_domain::AccountId;

use crate::view::{AccountView, LookupView, Owner};

/// The lookup tables, by their socketmap names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapName {
    /// Is this address a recipient (an active user's primary or alias, or a mail-enabled
    /// group's address)? → the owning account.
    Recipient,
    /// Where does this address go, if not to itself? A user's alias → the user's primary
    /// address; a group's address → its transitive members' primary addresses. A primary
    /// address is not found, so Postfix keeps it (`virtual_alias_maps`).
    Alias,
    /// Who receives mail sent to this address? As `alias`, and a user's primary address → the
    /// address itself.
    Expand,
    /// Which account owns this domain? → the account (`relay_domains`).
    Domain,
}

impl MapName {
    pub const ALL: [MapName; 4] = [Self::Recipient, Self::Alias, Self::Expand, Self::Domain];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recipient => "recipient",
            Self::Alias => "alias",
            Self::Expand => "expand",
            Self::Domain => "domain",
        }
    }
}

impl fmt::Display for MapName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A map name that is none of [`MapName::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMap(pub String);

impl fmt::Display for UnknownMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "there is no map named {:?}; the maps are recipient, alias, expand and domain",
            self.0
        )
    }
}

impl std::error::Error for UnknownMap {}

impl FromStr for MapName {
    type Err = UnknownMap;

    fn from_str(name: &str) -> Result<Self, UnknownMap> {
        Self::ALL
            .into_iter()
            .find(|map| map.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownMap(name.to_owned()))
    }
}

/// The characters that separate an address's local part from its extension, as Postfix's
/// `recipient_delimiter` (empty: extensions are not recognised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientDelimiter(String);

impl RecipientDelimiter {
    pub fn new(characters: &str) -> Self {
        Self(characters.to_owned())
    }

    /// `local+extension@domain` → (`local@domain`, `+extension`).
    fn split<'k>(&self, address: &'k str) -> Option<(String, &'k str)> {
        let (local, domain) = address.rsplit_once('@')?;
        if self.0.contains('-') && (local.starts_with("owner-") || local.ends_with("-request")) {
            return None;
        }
        let at = local.find(|c| self.0.contains(c))?;
        if at == 0 {
            return None;
        }
        Some((format!("{}@{domain}", &local[..at]), &local[at..]))
    }
}

impl Default for RecipientDelimiter {
    /// `+`, as Debian's and most deployments' `main.cf` set it.
    fn default() -> Self {
        Self::new("+")
    }
}

/// How long an answer's list of addresses may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyLimit {
    /// The whole list, however long (HTTP).
    Unlimited,
    /// At most this many characters of comma-separated addresses; longer group expansions are
    /// answered with part addresses (socketmap).
    Characters(usize),
}

/// What a map says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `recipient`, `domain`: found, in this account.
    Account(AccountId),
    /// `alias`, `expand`: the addresses mail goes to.
    Addresses(Vec<String>),
    NotFound,
    /// No complete view has been loaded yet: the answer is unknown (socketmap `TEMP`).
    NotReady,
    /// A part address of a group expansion sliced at another revision (socketmap `TEMP`).
    Changed,
    /// A group expansion whose part addresses alone exceed the reply limit (socketmap `PERM`).
    TooLarge {
        members: usize,
    },
}

const PART_PREFIX: &str = "roster-part-";

/// A part address: `roster-part-N-rREVISION.LOCAL@DOMAIN` → (N, REVISION, `LOCAL@DOMAIN`).
fn parse_part(key: &str) -> Option<(usize, &str, String)> {
    let rest = key.strip_prefix(PART_PREFIX)?;
    let (number, rest) = rest.split_once("-r")?;
    let (revision, group) = rest.split_once('.')?;
    let group = group.contains('@').then(|| group.to_owned())?;
    let digits = !revision.is_empty() && revision.bytes().all(|b| b.is_ascii_digit());
    Some((number.parse().ok()?, digits.then_some(revision)?, group))
}

fn part_address(number: usize, account: &AccountView, group_address: &str) -> String {
    format!(
        "{PART_PREFIX}{number}-r{}.{group_address}",
        account.revision
    )
}

/// Slices sorted addresses into runs whose comma-joined text fits `limit` characters.
fn slices<'a>(addresses: &[&'a str], limit: usize) -> Vec<Vec<&'a str>> {
    let mut slices: Vec<Vec<&str>> = Vec::new();
    let mut length = 0;
    for &address in addresses {
        let added = address.len() + usize::from(length > 0);
        match slices.last_mut() {
            Some(slice) if length + added <= limit => {
                slice.push(address);
                length += added;
            }
            _ => {
                slices.push(vec![address]);
                length = address.len();
            }
        }
    }
    slices
}

fn joined_len(addresses: &[impl AsRef<str>]) -> usize {
    addresses.iter().map(|a| a.as_ref().len()).sum::<usize>() + addresses.len().saturating_sub(1)
}

impl LookupView {
    /// Answers `key` from `map`, from the current view.
    pub fn lookup(&self, map: MapName, key: &str, limit: ReplyLimit) -> Answer {
        let delimiter = &self.delimiter;
        let current = self.current();
        let Some(directory) = current.as_deref() else {
            return Answer::NotReady;
        };
        let key = folded(key.trim());
        if map == MapName::Domain {
            let domain = key.strip_suffix('.').unwrap_or(&key);
            return match directory.by_domain.get(domain) {
                Some(account) => Answer::Account(account.account_id),
                None => Answer::NotFound,
            };
        }
        let Some(account) = directory.account_for_address(&key) else {
            return Answer::NotFound;
        };
        if matches!(map, MapName::Alias | MapName::Expand)
            && let Some((number, revision, group)) = parse_part(&key)
            && !account.owners.contains_key(&*key)
        {
            return part(account, number, revision, &group, limit);
        }
        let bare;
        let (owner, matched, extension) = match account.owners.get(&*key) {
            Some(owner) => (*owner, &*key, ""),
            None => match delimiter.split(&key) {
                Some((without, extension)) => {
                    bare = without;
                    match account.owners.get(bare.as_str()) {
                        Some(owner) => (*owner, bare.as_str(), extension),
                        None => return Answer::NotFound,
                    }
                }
                None => return Answer::NotFound,
            },
        };
        match (map, owner) {
            (MapName::Recipient, _) => Answer::Account(account.account_id),
            (_, Owner::User(user)) => {
                let Some(user) = &account.users[user as usize] else {
                    return Answer::NotFound;
                };
                let primary = &*user.primary;
                if matched == primary && map == MapName::Alias {
                    return Answer::NotFound;
                }
                Answer::Addresses(vec![with_extension(primary, extension)])
            }
            (_, Owner::Group(group)) => expansion(account, group, limit),
        }
    }
}

/// The key in lowercase; copied only when it is not already (Postfix folds the keys it sends
/// to a socketmap, so it rarely is).
fn folded(key: &str) -> Cow<'_, str> {
    if key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(key.to_lowercase())
    }
}

/// `local@domain` with `extension` put back after the local part, as Postfix copies an
/// unmatched extension into a virtual alias's result (`propagate_unmatched_extensions`).
fn with_extension(address: &str, extension: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) if !extension.is_empty() => format!("{local}{extension}@{domain}"),
        _ => address.to_owned(),
    }
}

fn expansion(account: &AccountView, group: u32, limit: ReplyLimit) -> Answer {
    let members = account.members(group);
    // An empty answer would rewrite the group to no recipient at all and lose its mail; not
    // found, Postfix keeps the group's own address and passes it on as any other recipient.
    if members.is_empty() {
        return Answer::NotFound;
    }
    let whole = || Answer::Addresses(members.iter().map(|m| (*m).to_owned()).collect());
    let ReplyLimit::Characters(limit) = limit else {
        return whole();
    };
    if joined_len(&members) <= limit {
        return whole();
    }
    let Some(address) = account.groups[group as usize]
        .as_ref()
        .and_then(|g| g.address.as_deref())
    else {
        return Answer::TooLarge {
            members: members.len(),
        };
    };
    let parts: Vec<String> = (1..=slices(&members, limit).len())
        .map(|n| part_address(n, account, address))
        .collect();
    if joined_len(&parts) > limit {
        return Answer::TooLarge {
            members: members.len(),
        };
    }
    Answer::Addresses(parts)
}

fn part(
    account: &AccountView,
    number: usize,
    revision: &str,
    group_address: &str,
    limit: ReplyLimit,
) -> Answer {
    if account.revision.to_string() != revision {
        return Answer::Changed;
    }
    let Some(Owner::Group(group)) = account.owners.get(group_address).copied() else {
        return Answer::NotFound;
    };
    let ReplyLimit::Characters(limit) = limit else {
        return expansion(account, group, limit);
    };
    let members = account.members(group);
    match slices(&members, limit).get(number.wrapping_sub(1)) {
        Some(slice) => Answer::Addresses(slice.iter().map(|m| (*m).to_owned()).collect()),
        None => Answer::NotFound,
    }
}
