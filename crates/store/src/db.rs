//! The two backends behind one small surface: connecting, transactions, binding parameters,
//! decoding rows and recognising constraint violations.
//!
//! Everything above this module writes its SQL once, in the dialect both databases accept
//! (`$1` placeholders, `ON CONFLICT`, `RETURNING`), binds parameters as [`Value`]s and decodes
//! rows into structs deriving `FromRow`, which sqlx implements for both backends' rows. What
//! differs between SQLite and PostgreSQL lives here and in the two migration directories.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, FromRow, PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// SQLite's page cache per connection, in KiB when negative. The default (2 MiB) is far smaller
/// than the indexes of a large account, and bulk writes then spend their time re-reading pages.
const SQLITE_CACHE_SIZE: &str = "-65536";

/// How many parameters one statement binds on PostgreSQL, and on SQLite when they are numbered.
/// Both databases allow tens of thousands, but numbered parameters cost more per parameter the
/// more a statement has (SQLite looks each name up in a list; PostgreSQL plans a large statement
/// slowly): measured here, statements of about a hundred parameters were fastest.
const NUMBERED_PARAMS_PER_STATEMENT: usize = 120;

/// Rows per multi-row insert on SQLite, whose anonymous `?` parameters bind in constant time:
/// beyond about a hundred rows the statement overhead no longer shows.
const SQLITE_ROWS_PER_INSERT: usize = 500;

/// SQLite's limit on the parameters of one statement.
const SQLITE_MAX_PARAMS: usize = 32_766;

/// Which database a [`Store`](crate::Store) runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to one of the two backends.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// Opens a pool for `url`: `postgres://` or `postgresql://` selects PostgreSQL; `sqlite:` or a
    /// plain path selects SQLite, creating the file when it is absent.
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidDatabaseUrl {
                reason: without_credentials(&e.to_string()),
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Unavailable { reason: without_credentials(&e.to_string()) })?;
            return Ok(Self::Postgres(pool));
        }
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::InvalidDatabaseUrl { reason: e.to_string() })?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .pragma("cache_size", SQLITE_CACHE_SIZE);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable { reason: e.to_string() })?;
        Ok(Self::Sqlite(pool))
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let outcome = match self {
            Self::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        };
        outcome.map_err(|e| StoreError::Migration { reason: e.to_string() })
    }

    /// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock at
    /// once: a deferred transaction that reads and then writes can fail with "database is
    /// locked" instead of waiting for the busy timeout.
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.map_err(DbError::from)?),
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await.map_err(DbError::from)?),
        })
    }

    /// Refreshes PostgreSQL's statistics of the tables that hold an account's users and groups.
    /// Tables that grew from nearly empty within one bulk write still have the plans made when
    /// they were small, foreign-key checks included, and those scan whole tables: each write then
    /// costs more than the last. New statistics replace those plans. SQLite plans each statement
    /// afresh and needs nothing.
    pub(crate) async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if let Self::Postgres(pool) = self {
            sqlx::query("ANALYZE users, groups, addresses, group_user_members, group_group_members")
                .execute(pool)
                .await
                .map_err(DbError::from)?;
        }
        Ok(())
    }

    /// A read-only transaction that sees one snapshot across all its statements.
    pub(crate) async fn begin_read(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin().await.map_err(DbError::from)?),
            Self::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(DbError::from)?,
            ),
        })
    }
}

/// A URL's credentials must never reach a log line; sqlx's messages can quote the URL.
fn without_credentials(message: &str) -> String {
    message
        .split_whitespace()
        .map(|word| match (word.find("://"), word.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => format!("{}://…@{}", &word[..scheme_end], &word[at + 1..]),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An open transaction on either backend. Dropping it without [`Tx::commit`] rolls it back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Sqlite(tx) => Conn::Sqlite(tx),
            Self::Postgres(tx) => Conn::Postgres(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), DbError> {
        match self {
            Self::Sqlite(tx) => tx.commit().await?,
            Self::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// A borrowed connection (usually inside a [`Tx`]) that statements run on.
pub(crate) enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// A row type both backends can decode.
pub(crate) trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// A parameter value of a type both backends encode.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Uuid(Uuid),
    Text(String),
    Int(i64),
    Bool(bool),
    Time(OffsetDateTime),
    Bytes(Vec<u8>),
    NullText,
    NullUuid,
    NullTime,
}

macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Self::$variant(v)
            }
        }
    )*};
}
value_from!(Uuid => Uuid, String => Text, i64 => Int, bool => Bool, OffsetDateTime => Time, Vec<u8> => Bytes);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Self::NullText, Self::Text)
    }
}

impl From<Option<Uuid>> for Value {
    fn from(v: Option<Uuid>) -> Self {
        v.map_or(Self::NullUuid, Self::Uuid)
    }
}

impl From<Option<OffsetDateTime>> for Value {
    fn from(v: Option<OffsetDateTime>) -> Self {
        v.map_or(Self::NullTime, Self::Time)
    }
}

/// One statement with its parameters, runnable on either backend.
pub(crate) struct Statement {
    sql: Cow<'static, str>,
    params: Vec<Value>,
}

/// A statement whose text is fixed at compile time.
pub(crate) fn sql(text: &'static str) -> Statement {
    Statement { sql: Cow::Borrowed(text), params: Vec::new() }
}

/// A statement whose text is assembled at run time. Only placeholders and fixed fragments may
/// go into it, never a value.
pub(crate) fn built_sql(text: String, params: Vec<Value>) -> Statement {
    Statement { sql: Cow::Owned(text), params }
}

macro_rules! with_params {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for value in $params {
            query = match value {
                Value::Uuid(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::Int(v) => query.bind(v),
                Value::Bool(v) => query.bind(v),
                Value::Time(v) => query.bind(v),
                Value::Bytes(v) => query.bind(v),
                Value::NullText => query.bind(None::<String>),
                Value::NullUuid => query.bind(None::<Uuid>),
                Value::NullTime => query.bind(None::<OffsetDateTime>),
            };
        }
        query
    }};
}

impl Statement {
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Runs the statement and returns how many rows it changed.
    pub(crate) async fn execute(self, conn: &mut Conn<'_>) -> Result<u64, DbError> {
        let sql = AssertSqlSafe(self.sql);
        Ok(match conn {
            Conn::Sqlite(c) => with_params!(sqlx::query(sql), self.params).execute(&mut **c).await?.rows_affected(),
            Conn::Postgres(c) => with_params!(sqlx::query(sql), self.params).execute(&mut **c).await?.rows_affected(),
        })
    }

    pub(crate) async fn fetch_all<T: Row>(self, conn: &mut Conn<'_>) -> Result<Vec<T>, DbError> {
        let sql = AssertSqlSafe(self.sql);
        Ok(match conn {
            Conn::Sqlite(c) => with_params!(sqlx::query_as::<_, T>(sql), self.params).fetch_all(&mut **c).await?,
            Conn::Postgres(c) => with_params!(sqlx::query_as::<_, T>(sql), self.params).fetch_all(&mut **c).await?,
        })
    }

    pub(crate) async fn fetch_optional<T: Row>(self, conn: &mut Conn<'_>) -> Result<Option<T>, DbError> {
        let sql = AssertSqlSafe(self.sql);
        Ok(match conn {
            Conn::Sqlite(c) => with_params!(sqlx::query_as::<_, T>(sql), self.params).fetch_optional(&mut **c).await?,
            Conn::Postgres(c) => {
                with_params!(sqlx::query_as::<_, T>(sql), self.params).fetch_optional(&mut **c).await?
            }
        })
    }
}

/// `$first, $first+1, …` for `count` parameters, e.g. "$3, $4, $5".
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Runs `INSERT INTO {head} VALUES (…), (…) {tail}` for many rows of `width` values each, in as
/// few statements as is fast. Chunks have a fixed size so that every full chunk reuses one
/// prepared statement.
pub(crate) async fn insert_rows(
    conn: &mut Conn<'_>,
    head: &str,
    tail: &str,
    width: usize,
    values: Vec<Value>,
) -> Result<(), DbError> {
    debug_assert_eq!(values.len() % width, 0, "every row has `width` values");
    let sqlite = matches!(conn, Conn::Sqlite(_));
    let rows_per_chunk = if sqlite {
        SQLITE_ROWS_PER_INSERT.min(SQLITE_MAX_PARAMS / width)
    } else {
        (NUMBERED_PARAMS_PER_STATEMENT / width).max(1)
    };
    let mut values = values.into_iter();
    loop {
        let chunk: Vec<Value> = values.by_ref().take(rows_per_chunk * width).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        let anonymous_row = format!("({})", vec!["?"; width].join(", "));
        let rows = (0..chunk.len() / width)
            .map(|row| if sqlite { anonymous_row.clone() } else { format!("({})", placeholders(row * width + 1, width)) })
            .collect::<Vec<_>>()
            .join(", ");
        built_sql(format!("INSERT INTO {head} VALUES {rows} {tail}"), chunk).execute(conn).await?;
    }
}

/// Runs a statement of the form `… IN ({list}) …` once per chunk of `keys`, where `{list}` is
/// replaced by placeholders following the `fixed` leading parameters, and collects the rows.
pub(crate) async fn fetch_in<T: Row>(
    conn: &mut Conn<'_>,
    template: &str,
    fixed: &[Value],
    keys: Vec<Value>,
) -> Result<Vec<T>, DbError> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(NUMBERED_PARAMS_PER_STATEMENT) {
        let list = placeholders(fixed.len() + 1, chunk.len());
        let params = fixed.iter().cloned().chain(chunk.iter().cloned()).collect();
        rows.extend(built_sql(template.replace("{list}", &list), params).fetch_all::<T>(conn).await?);
    }
    Ok(rows)
}

/// Like [`fetch_in`], for statements that change rows; returns how many changed.
pub(crate) async fn execute_in(
    conn: &mut Conn<'_>,
    template: &str,
    fixed: &[Value],
    keys: Vec<Value>,
) -> Result<u64, DbError> {
    let mut changed = 0;
    for chunk in keys.chunks(NUMBERED_PARAMS_PER_STATEMENT) {
        let list = placeholders(fixed.len() + 1, chunk.len());
        let params = fixed.iter().cloned().chain(chunk.iter().cloned()).collect();
        changed += built_sql(template.replace("{list}", &list), params).execute(conn).await?;
    }
    Ok(changed)
}

/// A constraint of the schema, recognised from either backend's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Constraint {
    AccountName,
    DomainOwner,
    AddressOwner,
    UserExternalId,
    GroupExternalId,
    OneConnection,
    OneRunningSync,
    Exemption,
    /// A foreign key; SQLite does not say which one.
    ForeignKey,
    /// A check or any constraint not listed above.
    Other,
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AccountName => "an account name is unique",
            Self::DomainOwner => "a domain belongs to one account",
            Self::AddressOwner => "an address belongs to one user or group",
            Self::UserExternalId => "a directory user is linked to one user of the account",
            Self::GroupExternalId => "a directory group is linked to one group of the account",
            Self::OneConnection => "an account has one directory connection",
            Self::OneRunningSync => "one sync of an account runs at a time",
            Self::Exemption => "a directory object is exempted once",
            Self::ForeignKey => "every reference names an existing row of the same account",
            Self::Other => "the schema's checks on values",
        })
    }
}

/// A database failure: either a violated constraint, which callers turn into a typed error
/// naming the object, or anything else.
#[derive(Debug)]
pub(crate) enum DbError {
    Violation(Constraint),
    Other(sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        let Some(db) = error.as_database_error() else {
            return Self::Other(error);
        };
        let kind = db.kind();
        if matches!(kind, sqlx::error::ErrorKind::Other) {
            return Self::Other(error);
        }
        if matches!(kind, sqlx::error::ErrorKind::ForeignKeyViolation) {
            return Self::Violation(Constraint::ForeignKey);
        }
        // PostgreSQL names the constraint; SQLite names the columns ("UNIQUE constraint failed:
        // addresses.address"). Both spellings are listed so each maps to one constraint.
        let name = db.constraint().map_or_else(|| db.message().to_owned(), str::to_owned);
        let constraint = [
            (Constraint::AccountName, ["accounts_name_unique", "accounts.name"]),
            (Constraint::DomainOwner, ["domains_pkey", "domains.domain"]),
            (Constraint::AddressOwner, ["addresses_pkey", "addresses.address"]),
            (Constraint::UserExternalId, ["users_external_id_unique", "users.account_id, users.external_id"]),
            (Constraint::GroupExternalId, ["groups_external_id_unique", "groups.account_id, groups.external_id"]),
            (Constraint::OneConnection, ["connections_pkey", "connections.account_id"]),
            (Constraint::OneRunningSync, ["runs_one_running_per_account", "runs.account_id"]),
            (Constraint::Exemption, ["exemptions_pkey", "exemptions.account_id, exemptions.external_id"]),
        ]
        .into_iter()
        .find(|(_, spellings)| spellings.iter().any(|s| name == *s || name.ends_with(&format!(": {s}"))))
        .map_or(Constraint::Other, |(c, _)| c);
        Self::Violation(constraint)
    }
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Violation(constraint) => StoreError::Integrity { rule: constraint.to_string() },
            DbError::Other(e) => StoreError::Database { reason: without_credentials(&e.to_string()) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_cut_out_of_messages() {
        let message = without_credentials("cannot reach postgres://roster:hunter2@db.example.com:5432/roster now");
        assert_eq!(message, "cannot reach postgres://…@db.example.com:5432/roster now");
    }

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
