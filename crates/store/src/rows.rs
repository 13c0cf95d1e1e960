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
    text.parse().map_err(|e: T::Err| StoreError::Corrupt {
        what,
        reason: e.to_string(),
    })
}

pub(crate) fn stored_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what,
        reason: e.to_string(),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain types serialize to JSON")
}

/// The columns of a user with its addresses, as [`user_rows`] selects them.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
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
    pub(crate) primary_address: Option<String>,
    /// All the user's addresses, the primary among them, in no order, separated by spaces
    /// (which no address contains).
    pub(crate) addresses: Option<String>,
    /// How many of them are marked primary: exactly one in a sound row.
    pub(crate) primaries: Option<i64>,
}

/// A statement selecting [`UserRow`]s: the users `u` that `users` (a condition on `u`) names,
/// whose addresses are among those that `addresses` (a condition on the addresses table) names.
///
/// Each user's addresses come aggregated into one column rather than one row per address: on a
/// large account, reading rows costs more than anything else in a load, and joined rows would
/// repeat every user column once per address. The users are found through their aggregated
/// addresses, since every user has a primary one: SQLite then looks each user up by its key,
/// where joining the aggregate to the users made it build an index of the aggregate first
/// (for 82,000 users, 0.3 s against 0.86 s of SQL). The aggregate is unordered; sorting a few
/// aliases per user is left to [`UserRow::into_user`]. A user without addresses, which only a
/// damaged database holds, has no row: callers count the users to notice one.
pub(crate) fn user_rows(users: &str, addresses: &str) -> String {
    format!(
        "SELECT u.id, u.account_id, u.first_name, u.last_name, u.display_name, u.role, u.digests, u.source, \
         u.external_id, u.version, a.primary_address, a.addresses, a.primaries FROM \
         (SELECT user_id, max(CASE WHEN is_primary THEN address END) AS primary_address, \
         string_agg(address, ' ') AS addresses, count(*) FILTER (WHERE is_primary) AS primaries \
         FROM addresses WHERE user_id IS NOT NULL AND {addresses} GROUP BY user_id) a \
         CROSS JOIN users u WHERE u.id = a.user_id AND {users}"
    )
}

impl UserRow {
    pub(crate) fn into_user(self) -> Result<User, StoreError> {
        let (Some(1), Some(primary)) = (self.primaries, self.primary_address.as_deref()) else {
            return Err(StoreError::Corrupt {
                what: "user",
                reason: format!("the user {} has no single primary address", self.id),
            });
        };
        let addresses = self.addresses.as_deref().unwrap_or_default().split(' ');
        let mut aliases = addresses
            .filter(|a| *a != primary)
            .map(|a| stored::<EmailAddress>("user address", a))
            .collect::<Result<Vec<_>, _>>()?;
        aliases.sort_unstable();
        Ok(User {
            id: UserId::from_uuid(self.id),
            account_id: roster_domain::AccountId::from_uuid(self.account_id),
            primary_address: stored::<EmailAddress>("user address", primary)?,
            aliases,
            first_name: self.first_name,
            last_name: self.last_name,
            display_name: self.display_name,
            role: stored::<Role>("user role", &self.role)?,
            digests: self.digests,
            source: stored::<Source>("user source", &self.source)?,
            external_id: self
                .external_id
                .as_deref()
                .map(|id| stored::<ExternalId>("external id", id))
                .transpose()?,
            version: self.version,
        })
    }
}

/// Decodes a list of ids aggregated as `string_agg(hex(id), '')`: 32 hexadecimal digits each,
/// nothing between them. `NULL` (no rows to aggregate) is the empty list.
pub(crate) fn hex_ids(what: &'static str, hex: Option<&str>) -> Result<Vec<Uuid>, StoreError> {
    let hex = hex.unwrap_or_default().as_bytes();
    if !hex.len().is_multiple_of(32) {
        return Err(StoreError::Corrupt {
            what,
            reason: format!(
                "an id list of {} digits is not a whole number of ids",
                hex.len()
            ),
        });
    }
    hex.chunks_exact(32)
        .map(|id| {
            Uuid::try_parse_ascii(id).map_err(|e| StoreError::Corrupt {
                what,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The current time at the precision both backends store (microseconds), so that a value
/// written and read back compares equal to the one returned when it was written.
pub(crate) fn now() -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .expect("a truncated nanosecond is in range")
}
