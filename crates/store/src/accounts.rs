//! Accounts, their domains and their tech contact.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use roster_domain::model::parse_account_name;
use roster_domain::{Account, AccountId, DomainName, EmailAddress, ParseError, TechContact};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{Conn, Constraint, DbError, Tx, sql};
use crate::revision;
use crate::rows::{now, stored};
use crate::{Store, StoreError};

/// An account named on a command line or in a URL: a UUID is an id, anything else a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountRef {
    Id(AccountId),
    Name(String),
}

impl FromStr for AccountRef {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        match input.trim().parse::<AccountId>() {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => parse_account_name(input).map(Self::Name),
        }
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Name(name) => f.write_str(name),
        }
    }
}

impl From<AccountId> for AccountRef {
    fn from(id: AccountId) -> Self {
        Self::Id(id)
    }
}

/// What creating an account takes. The name is checked by [`parse_account_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub name: String,
    pub domains: Vec<DomainName>,
    pub tech_contact: Option<TechContact>,
}

#[derive(sqlx::FromRow)]
struct MissingSinceRow {
    tech_contact_missing_since: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    name: String,
    tech_contact_name: Option<String>,
    tech_contact_email: Option<String>,
    created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct DomainRow {
    domain: String,
    account_id: Uuid,
}

#[derive(sqlx::FromRow)]
pub(crate) struct Count {
    pub(crate) count: i64,
}

impl AccountRow {
    fn into_account(self, domains: &[DomainRow]) -> Result<Account, StoreError> {
        let tech_contact = match (self.tech_contact_name, self.tech_contact_email) {
            (Some(name), Some(email)) => Some(TechContact {
                name,
                email: stored::<EmailAddress>("tech contact", &email)?,
            }),
            _ => None,
        };
        let domains = domains
            .iter()
            .filter(|d| d.account_id == self.id)
            .map(|d| stored::<DomainName>("domain", &d.domain))
            .collect::<Result<_, _>>()?;
        Ok(Account {
            id: AccountId::from_uuid(self.id),
            name: self.name,
            domains,
            tech_contact,
            created_at: self.created_at,
        })
    }
}

/// The name of the account that owns `domain`, if any.
async fn domain_owner(conn: &mut Conn<'_>, domain: &DomainName) -> Result<Option<String>, DbError> {
    #[derive(sqlx::FromRow)]
    struct Owner {
        name: String,
    }
    let owner: Option<Owner> = sql(
        "SELECT a.name FROM domains d JOIN accounts a ON a.id = d.account_id WHERE d.domain = $1",
    )
    .bind(domain.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(owner.map(|o| o.name))
}

/// Adds `domain` to the account, or names the account that already owns it.
async fn insert_domain(
    tx: &mut Tx,
    account_id: AccountId,
    domain: &DomainName,
) -> Result<(), StoreError> {
    if let Some(owner) = domain_owner(&mut tx.conn(), domain).await? {
        return Err(StoreError::DomainTaken {
            domain: domain.clone(),
            owner,
        });
    }
    sql("INSERT INTO domains (domain, account_id) VALUES ($1, $2)")
        .bind(domain.as_str())
        .bind(account_id.as_uuid())
        .execute(&mut tx.conn())
        .await
        .map_err(|e| match e {
            DbError::Violation(Constraint::DomainOwner) => StoreError::DomainTaken {
                domain: domain.clone(),
                owner: "another account".to_owned(),
            },
            e => e.into(),
        })?;
    Ok(())
}

/// Fails with [`StoreError::AccountNotFound`] unless the account exists.
pub(crate) async fn require_account(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<(), StoreError> {
    let found: Option<Count> = sql("SELECT COUNT(*) AS count FROM accounts WHERE id = $1")
        .bind(account_id.as_uuid())
        .fetch_optional(conn)
        .await?;
    match found {
        Some(Count { count: 1.. }) => Ok(()),
        _ => Err(StoreError::AccountNotFound(account_id.to_string())),
    }
}

impl Store {
    /// Creates an account with at least one domain. Names and domains are unique across the
    /// deployment.
    pub async fn create_account(&self, new: NewAccount) -> Result<Account, StoreError> {
        let name = parse_account_name(&new.name)?;
        let domains: BTreeSet<DomainName> = new.domains.into_iter().collect();
        if domains.is_empty() {
            return Err(StoreError::AccountNeedsDomain);
        }
        let id = AccountId::new();
        let created_at = now();
        let mut tx = self.db.begin_write().await?;
        let taken: Option<Count> = sql("SELECT COUNT(*) AS count FROM accounts WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&mut tx.conn())
            .await?;
        if taken.is_some_and(|t| t.count > 0) {
            return Err(StoreError::AccountNameTaken(name));
        }
        sql("INSERT INTO accounts (id, name, tech_contact_name, tech_contact_email, created_at, tech_contact_missing_since) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id.as_uuid())
            .bind(name.as_str())
            .bind(new.tech_contact.as_ref().map(|c| c.name.clone()))
            .bind(new.tech_contact.as_ref().map(|c| c.email.to_string()))
            .bind(created_at)
            .bind(new.tech_contact.is_none().then_some(created_at))
            .execute(&mut tx.conn())
            .await
            .map_err(|e| match e {
                DbError::Violation(Constraint::AccountName) => StoreError::AccountNameTaken(name.clone()),
                e => e.into(),
            })?;
        for domain in &domains {
            insert_domain(&mut tx, id, domain).await?;
        }
        tx.commit().await?;
        Ok(Account {
            id,
            name,
            domains: domains.into_iter().collect(),
            tech_contact: new.tech_contact,
            created_at,
        })
    }

    /// Every account, by name.
    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let accounts: Vec<AccountRow> = sql("SELECT id, name, tech_contact_name, tech_contact_email, created_at FROM accounts ORDER BY name").fetch_all(&mut tx.conn()).await?;
        let domains: Vec<DomainRow> = sql("SELECT domain, account_id FROM domains ORDER BY domain")
            .fetch_all(&mut tx.conn())
            .await?;
        accounts
            .into_iter()
            .map(|a| a.into_account(&domains))
            .collect()
    }

    /// The account with this id or name.
    pub async fn account(&self, account: &AccountRef) -> Result<Account, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: Option<AccountRow> = match account {
            AccountRef::Id(id) => sql("SELECT id, name, tech_contact_name, tech_contact_email, created_at FROM accounts WHERE id = $1").bind(id.as_uuid()),
            AccountRef::Name(name) => sql("SELECT id, name, tech_contact_name, tech_contact_email, created_at FROM accounts WHERE name = $1").bind(name.as_str()),
        }
        .fetch_optional(&mut tx.conn())
        .await?;
        let row = row.ok_or_else(|| StoreError::AccountNotFound(account.to_string()))?;
        let domains: Vec<DomainRow> =
            sql("SELECT domain, account_id FROM domains WHERE account_id = $1 ORDER BY domain")
                .bind(row.id)
                .fetch_all(&mut tx.conn())
                .await?;
        row.into_account(&domains)
    }

    /// Sets the tech contact, or clears it with `None`. Clearing starts the time the account is
    /// without one (kept if it already was); setting ends it.
    pub async fn set_tech_contact(
        &self,
        account_id: AccountId,
        contact: Option<TechContact>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let statement = match &contact {
            Some(contact) => sql("UPDATE accounts SET tech_contact_name = $2, tech_contact_email = $3, \
                                  tech_contact_missing_since = NULL WHERE id = $1")
                .bind(account_id.as_uuid())
                .bind(contact.name.clone())
                .bind(contact.email.to_string()),
            None => sql("UPDATE accounts SET tech_contact_name = NULL, tech_contact_email = NULL, \
                         tech_contact_missing_since = COALESCE(tech_contact_missing_since, $2) WHERE id = $1")
                .bind(account_id.as_uuid())
                .bind(now()),
        };
        let changed = statement.execute(&mut tx.conn()).await?;
        if changed == 0 {
            return Err(StoreError::AccountNotFound(account_id.to_string()));
        }
        // Sync never removes the tech contact, so who it is shapes the plan.
        revision::bump(&mut tx.conn(), account_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Since when the account has been without a tech contact; `None` while it has one.
    pub async fn tech_contact_missing_since(
        &self,
        account_id: AccountId,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: Option<MissingSinceRow> =
            sql("SELECT tech_contact_missing_since FROM accounts WHERE id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?;
        row.map(|r| r.tech_contact_missing_since)
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_string()))
    }

    /// Adds a domain; a domain another account owns is refused with that account's name.
    pub async fn add_domain(
        &self,
        account_id: AccountId,
        domain: DomainName,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        require_account(&mut tx.conn(), account_id).await?;
        insert_domain(&mut tx, account_id, &domain).await?;
        revision::bump(&mut tx.conn(), account_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a domain no address uses; the account's last domain stays.
    pub async fn remove_domain(
        &self,
        account_id: AccountId,
        domain: &DomainName,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let domains: Vec<DomainRow> =
            sql("SELECT domain, account_id FROM domains WHERE account_id = $1")
                .bind(account_id.as_uuid())
                .fetch_all(&mut tx.conn())
                .await?;
        if !domains.iter().any(|d| d.domain == domain.as_str()) {
            return Err(StoreError::DomainNotFound(domain.clone()));
        }
        if domains.len() == 1 {
            return Err(StoreError::LastDomain(domain.clone()));
        }
        let in_use: Count =
            sql("SELECT COUNT(*) AS count FROM addresses WHERE domain = $1 AND account_id = $2")
                .bind(domain.as_str())
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?
                .unwrap_or(Count { count: 0 });
        if in_use.count > 0 {
            return Err(StoreError::DomainInUse {
                domain: domain.clone(),
                addresses: in_use.count.unsigned_abs(),
            });
        }
        sql("DELETE FROM domains WHERE domain = $1 AND account_id = $2")
            .bind(domain.as_str())
            .bind(account_id.as_uuid())
            .execute(&mut tx.conn())
            .await
            .map_err(|e| match e {
                DbError::Violation(Constraint::ForeignKey) => StoreError::DomainInUse {
                    domain: domain.clone(),
                    addresses: 1,
                },
                e => e.into(),
            })?;
        revision::bump(&mut tx.conn(), account_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many synced users and groups the account holds.
    pub async fn synced_counts(&self, account_id: AccountId) -> Result<(usize, usize), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let mut counts = [0; 2];
        for (count, statement) in counts.iter_mut().zip([
            "SELECT COUNT(*) AS count FROM users WHERE account_id = $1 AND external_id IS NOT NULL",
            "SELECT COUNT(*) AS count FROM groups WHERE account_id = $1 AND external_id IS NOT NULL",
        ]) {
            let row: Option<Count> = sql(statement).bind(account_id.as_uuid()).fetch_optional(&mut tx.conn()).await?;
            *count = row.map_or(0, |r| usize::try_from(r.count).unwrap_or(0));
        }
        Ok((counts[0], counts[1]))
    }
}
