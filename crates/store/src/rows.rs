//! Rows as the database returns them, and their conversion to domain types. Stored text goes
//! through the same parsers as any other input; a value that fails to parse is reported as a
//! corrupt row, never trusted.

use std::str::FromStr;

use roster_domain::{EmailAddress, ExternalId, Role, Source, User, UserId};
use uuid::Uuid;

use crate::StoreError;

/// Parses a stored text value, reporting failure as a corrupt row.
pub(crate) fn stored<T>(what: &'static str, text: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::Corrupt { what, reason: e.to_string() })
}

pub(crate) fn stored_json<T: serde::de::DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { what, reason: e.to_string() })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain types serialize to JSON")
}

/// A user row joined with one of its addresses; a user spans as many rows as it has addresses,
/// its primary first.
#[derive(sqlx::FromRow)]
pub(crate) struct UserAddressRow {
    pub(crate) id: Uuid,
    pub(crate) account_id: Uuid,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) role: String,
    pub(crate) digests: bool,
    pub(crate) source: String,
    pub(crate) external_id: Option<String>,
    pub(crate) version: i64,
    pub(crate) address: String,
    pub(crate) is_primary: bool,
}

/// Folds rows ordered by user id and then primary-first into users.
pub(crate) fn users_from_rows(rows: Vec<UserAddressRow>) -> Result<Vec<User>, StoreError> {
    let mut users: Vec<User> = Vec::new();
    for row in rows {
        let address: EmailAddress = stored("user address", &row.address)?;
        if let Some(user) = users.last_mut().filter(|u| u.id.as_uuid() == row.id) {
            user.aliases.push(address);
            continue;
        }
        if !row.is_primary {
            return Err(StoreError::Corrupt { what: "user", reason: format!("the user {} has no primary address", row.id) });
        }
        users.push(User {
            id: UserId::from_uuid(row.id),
            account_id: roster_domain::AccountId::from_uuid(row.account_id),
            primary_address: address,
            aliases: Vec::new(),
            first_name: row.first_name,
            last_name: row.last_name,
            display_name: row.display_name,
            role: stored::<Role>("user role", &row.role)?,
            digests: row.digests,
            source: stored::<Source>("user source", &row.source)?,
            external_id: row.external_id.as_deref().map(|id| stored::<ExternalId>("external id", id)).transpose()?,
            version: row.version,
        });
    }
    Ok(users)
}

/// The current time at the precision both backends store (microseconds), so that a value
/// written and read back compares equal to the one returned when it was written.
pub(crate) fn now() -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).expect("a truncated nanosecond is in range")
}
