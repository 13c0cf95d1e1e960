//! Users: manual users, organization-admin logins, and reading users back.

use std::fmt;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use roster_domain::{AccountId, EmailAddress, Role, Source, User, UserId};
use secrecy::{ExposeSecret, SecretString};

use crate::accounts::{Count, require_account};
use crate::addresses::{OwnedBy, claim_addresses, object_addresses};
use crate::db::{built_sql, sql};
use crate::revision;
use crate::rows::{UserRow, user_rows};
use crate::{Store, StoreError};

/// The shortest password an organization admin may have.
pub const MIN_PASSWORD_LEN: usize = 12;

/// A user added by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub primary_address: EmailAddress,
    pub aliases: Vec<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `None` takes the first and last names.
    pub display_name: Option<String>,
    pub role: Role,
    /// Quarantine digests; `None` takes the role's default.
    pub digests: Option<bool>,
}

/// What an admin may change of a user; `None` keeps the saved value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    /// Between end user and silent user only: admins are made with a password, never by an
    /// update.
    pub role: Option<Role>,
    pub digests: Option<bool>,
}

/// An organization admin who logs in to the console with a password.
pub struct NewAdmin {
    pub address: EmailAddress,
    pub display_name: Option<String>,
    pub password: SecretString,
}

impl fmt::Debug for NewAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAdmin")
            .field("address", &self.address)
            .field("display_name", &self.display_name)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Hashes with Argon2id's default parameters on a blocking thread: a hash takes tens of
/// milliseconds of CPU, which must not stall the async runtime.
pub(crate) async fn hash_password(password: SecretString) -> Result<String, StoreError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| StoreError::PasswordHashing {
                reason: e.to_string(),
            })
    })
    .await
    .map_err(|e| StoreError::PasswordHashing {
        reason: e.to_string(),
    })?
}

/// A hash of a password nobody knows: verifying an unknown login against it costs as much time as
/// verifying a real one, so response time does not reveal which addresses are admins.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"roster: no such login; this hash only spends time")
            .map(|hash| hash.to_string())
            .expect("hashing a constant password succeeds")
    })
}

pub(crate) async fn verify_password(
    password: SecretString,
    hash: Option<String>,
) -> Result<bool, StoreError> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        let matches = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), hash.as_str())
            .is_ok();
        known && matches
    })
    .await
    .map_err(|e| StoreError::PasswordHashing {
        reason: e.to_string(),
    })
}

impl Store {
    /// Adds a manual user. Its addresses must be free and in the account's domains.
    pub async fn add_user(&self, account_id: AccountId, new: NewUser) -> Result<User, StoreError> {
        self.insert_user(account_id, new, None).await
    }

    /// Creates an organization admin who can log in with `password`.
    pub async fn create_admin(
        &self,
        account_id: AccountId,
        admin: NewAdmin,
    ) -> Result<User, StoreError> {
        if admin.password.expose_secret().chars().count() < MIN_PASSWORD_LEN {
            return Err(StoreError::PasswordTooShort {
                min: MIN_PASSWORD_LEN,
            });
        }
        let hash = hash_password(admin.password).await?;
        let new = NewUser {
            primary_address: admin.address,
            aliases: Vec::new(),
            first_name: None,
            last_name: None,
            display_name: admin.display_name,
            role: Role::OrganizationAdmin,
            digests: None,
        };
        self.insert_user(account_id, new, Some(hash)).await
    }

    async fn insert_user(
        &self,
        account_id: AccountId,
        new: NewUser,
        password_hash: Option<String>,
    ) -> Result<User, StoreError> {
        let id = UserId::new();
        let digests = new.digests.unwrap_or(new.role.digests_by_default());
        let display_name = new.display_name.clone().or_else(|| {
            match (new.first_name.as_deref(), new.last_name.as_deref()) {
                (Some(first), Some(last)) => Some(format!("{first} {last}")),
                (Some(name), None) | (None, Some(name)) => Some(name.to_owned()),
                (None, None) => None,
            }
        });
        let addresses =
            object_addresses(OwnedBy::User(id), Some(&new.primary_address), &new.aliases);
        let mut tx = self.db.begin_write().await?;
        require_account(&mut tx.conn(), account_id).await?;
        sql("INSERT INTO users (id, account_id, first_name, last_name, display_name, role, digests, source, \
             external_id, password_hash, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, 1)")
        .bind(id.as_uuid())
        .bind(account_id.as_uuid())
        .bind(new.first_name.clone())
        .bind(new.last_name.clone())
        .bind(display_name.clone())
        .bind(new.role.as_str())
        .bind(digests)
        .bind(Source::Manual.as_str())
        .bind(password_hash)
        .execute(&mut tx.conn())
        .await?;
        claim_addresses(&mut tx.conn(), account_id, &addresses).await?;
        revision::bump(&mut tx.conn(), account_id).await?;
        tx.commit().await?;
        Ok(User {
            id,
            account_id,
            primary_address: new.primary_address,
            aliases: addresses.into_iter().skip(1).map(|a| a.address).collect(),
            first_name: new.first_name,
            last_name: new.last_name,
            display_name,
            role: new.role,
            digests,
            source: Source::Manual,
            external_id: None,
            version: 1,
        })
    }

    /// The account's users, by primary address.
    pub async fn list_users(&self, account_id: AccountId) -> Result<Vec<User>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let statement = user_rows("u.account_id = $1", "account_id = $1");
        let rows: Vec<UserRow> = built_sql(statement, vec![account_id.as_uuid().into()])
            .fetch_all(&mut tx.conn())
            .await?;
        // Users are read through their addresses: one without any would be missing unnoticed.
        let counted: Option<Count> =
            sql("SELECT COUNT(*) AS count FROM users WHERE account_id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?;
        let counted = counted.map_or(0, |c| c.count);
        if counted != rows.len() as i64 {
            let reason = format!(
                "{} of the account's users have no primary address",
                counted - rows.len() as i64
            );
            return Err(StoreError::Corrupt {
                what: "user",
                reason,
            });
        }
        let mut users = rows
            .into_iter()
            .map(UserRow::into_user)
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
        Ok(users)
    }

    /// One of the account's users; another account's user is not found.
    pub async fn user(&self, account_id: AccountId, user_id: UserId) -> Result<User, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let statement = user_rows(
            "u.id = $1 AND u.account_id = $2",
            "user_id = $1 AND account_id = $2",
        );
        let params = vec![user_id.as_uuid().into(), account_id.as_uuid().into()];
        let row: Option<UserRow> = built_sql(statement, params)
            .fetch_optional(&mut tx.conn())
            .await?;
        match row {
            Some(row) => row.into_user(),
            None => {
                let exists: Option<Count> =
                    sql("SELECT COUNT(*) AS count FROM users WHERE id = $1 AND account_id = $2")
                        .bind(user_id.as_uuid())
                        .bind(account_id.as_uuid())
                        .fetch_optional(&mut tx.conn())
                        .await?;
                match exists.filter(|c| c.count > 0) {
                    Some(_) => Err(StoreError::Corrupt {
                        what: "user",
                        reason: format!("the user {user_id} has no primary address"),
                    }),
                    None => Err(StoreError::UserNotFound(user_id)),
                }
            }
        }
    }

    /// Removes one of the account's users with its addresses and group memberships. The
    /// account's last organization admin stays: without one, nobody of the organization could
    /// manage the account.
    pub async fn remove_user(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let removed = sql(
            "DELETE FROM users WHERE id = $1 AND account_id = $2 AND (role <> $3 \
             OR (SELECT COUNT(*) FROM users WHERE account_id = $2 AND role = $3) > 1)",
        )
        .bind(user_id.as_uuid())
        .bind(account_id.as_uuid())
        .bind(Role::OrganizationAdmin.as_str())
        .execute(&mut tx.conn())
        .await?;
        if removed == 0 {
            let exists: Option<Count> =
                sql("SELECT COUNT(*) AS count FROM users WHERE id = $1 AND account_id = $2")
                    .bind(user_id.as_uuid())
                    .bind(account_id.as_uuid())
                    .fetch_optional(&mut tx.conn())
                    .await?;
            return Err(match exists {
                Some(Count { count: 1.. }) => StoreError::LastOrganizationAdmin(user_id),
                _ => StoreError::UserNotFound(user_id),
            });
        }
        revision::bump(&mut tx.conn(), account_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes one of the account's users. A role can move between end user and silent user
    /// only; a user turned silent is signed out (silent users never sign in).
    pub async fn update_user(
        &self,
        account_id: AccountId,
        user_id: UserId,
        update: UserUpdate,
    ) -> Result<User, StoreError> {
        let before = self.user(account_id, user_id).await?;
        if let Some(role) = update.role
            && role != before.role
            && (role == Role::OrganizationAdmin || before.role == Role::OrganizationAdmin)
        {
            return Err(StoreError::RoleNotChangeable {
                user_id,
                from: before.role,
                to: role,
            });
        }
        let role = update.role.unwrap_or(before.role);
        let first_name = update.first_name.unwrap_or(before.first_name);
        let last_name = update.last_name.unwrap_or(before.last_name);
        let display_name = update.display_name.unwrap_or(before.display_name);
        let digests = update.digests.unwrap_or(before.digests);
        let mut tx = self.db.begin_write().await?;
        let changed = sql(
            "UPDATE users SET first_name = $3, last_name = $4, display_name = $5, role = $6, digests = $7, \
             version = version + 1 WHERE id = $1 AND account_id = $2 AND version = $8",
        )
        .bind(user_id.as_uuid())
        .bind(account_id.as_uuid())
        .bind(first_name.clone())
        .bind(last_name.clone())
        .bind(display_name.clone())
        .bind(role.as_str())
        .bind(digests)
        .bind(before.version)
        .execute(&mut tx.conn())
        .await?;
        if changed == 0 {
            return Err(StoreError::ConcurrentUpdate(user_id));
        }
        if role == Role::SilentUser {
            sql("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id.as_uuid())
                .execute(&mut tx.conn())
                .await?;
        }
        revision::bump(&mut tx.conn(), account_id).await?;
        tx.commit().await?;
        Ok(User {
            first_name,
            last_name,
            display_name,
            role,
            digests,
            version: before.version + 1,
            ..before
        })
    }
}
