//! The one table of addresses: who owns an address, and claiming addresses for an object.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use roster_domain::{AccountId, EmailAddress, GroupId, UserId};
use uuid::Uuid;

use crate::db::{Conn, Constraint, DbError, Value, fetch_in, insert_rows, sql};
use crate::{Store, StoreError};

/// The object an address routes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OwnedBy {
    User(UserId),
    Group(GroupId),
}

/// The owner of an address, as an error or a plan names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressOwner {
    pub account_id: AccountId,
    pub account_name: String,
    pub object: OwnedBy,
}

impl fmt::Display for OwnedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "the user {id}"),
            Self::Group(id) => write!(f, "the group {id}"),
        }
    }
}

impl fmt::Display for AddressOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of the account {:?}", self.object, self.account_name)
    }
}

#[derive(sqlx::FromRow)]
struct OwnerRow {
    address: String,
    account_id: Uuid,
    account_name: String,
    user_id: Option<Uuid>,
    group_id: Option<Uuid>,
}

impl OwnerRow {
    fn owner(self) -> (String, AddressOwner) {
        let object = match (self.user_id, self.group_id) {
            (Some(user), _) => OwnedBy::User(UserId::from_uuid(user)),
            (None, group) => OwnedBy::Group(GroupId::from_uuid(group.unwrap_or_default())),
        };
        let owner = AddressOwner {
            account_id: AccountId::from_uuid(self.account_id),
            account_name: self.account_name,
            object,
        };
        (self.address, owner)
    }
}

/// The current owners of those of `addresses` that are held, keyed by address text.
pub(crate) async fn owners<'a>(
    conn: &mut Conn<'_>,
    addresses: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, AddressOwner>, DbError> {
    let keys = addresses.into_iter().map(Value::from).collect();
    let rows: Vec<OwnerRow> = fetch_in(
        conn,
        "SELECT a.address, a.account_id, c.name AS account_name, a.user_id, a.group_id \
         FROM addresses a JOIN accounts c ON c.id = a.account_id WHERE a.address IN ({list})",
        &[],
        keys,
    )
    .await?;
    Ok(rows.into_iter().map(OwnerRow::owner).collect())
}

/// The account's domains, as text.
pub(crate) async fn account_domains(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<HashSet<String>, DbError> {
    #[derive(sqlx::FromRow)]
    struct DomainRow {
        domain: String,
    }
    let rows: Vec<DomainRow> = sql("SELECT domain FROM domains WHERE account_id = $1")
        .bind(account_id.as_uuid())
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.domain).collect())
}

/// One address to store.
#[derive(Debug, Clone)]
pub(crate) struct NewAddress {
    pub(crate) address: EmailAddress,
    pub(crate) owner: OwnedBy,
    pub(crate) is_primary: bool,
}

/// The addresses of an object: its primary (if any) first, then its aliases, without repeats.
pub(crate) fn object_addresses(
    owner: OwnedBy,
    primary: Option<&EmailAddress>,
    aliases: &[EmailAddress],
) -> Vec<NewAddress> {
    let mut seen = HashSet::new();
    let primary = primary.map(|a| (a, true));
    primary
        .into_iter()
        .chain(aliases.iter().map(|a| (a, false)))
        .filter(|(a, _)| seen.insert(a.as_str()))
        .map(|(a, is_primary)| NewAddress {
            address: a.clone(),
            owner,
            is_primary,
        })
        .collect()
}

/// Writes address rows, all of `account_id`, with multi-row inserts.
pub(crate) async fn insert_addresses(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    addresses: &[NewAddress],
) -> Result<(), DbError> {
    let mut values = Vec::with_capacity(addresses.len() * 6);
    for a in addresses {
        let (user, group) = match a.owner {
            OwnedBy::User(id) => (Some(id.as_uuid()), None),
            OwnedBy::Group(id) => (None, Some(id.as_uuid())),
        };
        values.extend([
            Value::from(a.address.as_str()),
            Value::from(account_id.as_uuid()),
            Value::from(a.address.domain()),
            Value::from(user),
            Value::from(group),
            Value::from(a.is_primary),
        ]);
    }
    insert_rows(
        conn,
        "addresses (address, account_id, domain, user_id, group_id, is_primary)",
        "",
        6,
        values,
    )
    .await?;
    Ok(())
}

/// Claims `addresses` for a new object of `account_id`: each must be in the account's domains
/// and held by no one. The first that is not is named in the error.
pub(crate) async fn claim_addresses(
    conn: &mut Conn<'_>,
    account_id: AccountId,
    addresses: &[NewAddress],
) -> Result<(), StoreError> {
    let domains = account_domains(conn, account_id).await?;
    if let Some(outside) = addresses
        .iter()
        .find(|a| !domains.contains(a.address.domain()))
    {
        return Err(StoreError::AddressOutsideDomains {
            address: outside.address.clone(),
        });
    }
    let mut held = owners(conn, addresses.iter().map(|a| a.address.as_str())).await?;
    if let Some(taken) = addresses
        .iter()
        .find(|a| held.contains_key(a.address.as_str()))
    {
        let owner = held.remove(taken.address.as_str()).expect("found above");
        return Err(StoreError::AddressTaken {
            address: taken.address.clone(),
            owner,
        });
    }
    insert_addresses(conn, account_id, addresses)
        .await
        .map_err(|e| address_violation(e, addresses))
}

/// Reached only when another process claims one of the addresses, or removes its domain,
/// between the check and the insert.
fn address_violation(error: DbError, addresses: &[NewAddress]) -> StoreError {
    match error {
        DbError::Violation(Constraint::AddressOwner | Constraint::ForeignKey) => {
            StoreError::ConcurrentClaim {
                addresses: addresses
                    .iter()
                    .map(|a| a.address.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        }
        error => error.into(),
    }
}

impl Store {
    /// Which of `addresses` are held by objects of accounts other than `account_id`, with the
    /// owning account's name: the planner's "owned by another account" skip.
    pub async fn addresses_owned_elsewhere(
        &self,
        account_id: AccountId,
        addresses: &[EmailAddress],
    ) -> Result<BTreeMap<EmailAddress, String>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct DomainRow {
            domain: String,
        }
        // An address lives in a domain of its owner's account and a domain has one owner (the
        // schema's keys), so only addresses in other accounts' domains can be held elsewhere.
        // Those domains are found first: a plan asks about the ~100,000s of addresses in its
        // own account's domains, which then need no lookup at all.
        let mut tx = self.db.begin_read().await?;
        let domains: BTreeSet<&str> = addresses.iter().map(EmailAddress::domain).collect();
        let foreign: Vec<DomainRow> = fetch_in(
            &mut tx.conn(),
            "SELECT domain FROM domains WHERE account_id <> $1 AND domain IN ({list})",
            &[Value::from(account_id.as_uuid())],
            domains.into_iter().map(Value::from).collect(),
        )
        .await?;
        let foreign: HashSet<String> = foreign.into_iter().map(|row| row.domain).collect();
        let in_foreign_domains = addresses
            .iter()
            .filter(|a| foreign.contains(a.domain()))
            .map(EmailAddress::as_str);
        let mut held = owners(&mut tx.conn(), in_foreign_domains).await?;
        Ok(addresses
            .iter()
            .filter_map(|a| {
                let owner = held.remove(a.as_str())?;
                (owner.account_id != account_id).then(|| (a.clone(), owner.account_name))
            })
            .collect())
    }
}
