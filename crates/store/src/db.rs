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

use roster_domain::AccountId;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
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

/// Pages the write-ahead log grows to before SQLite copies it back into the database (default
/// 1,000). A large apply rewrites the same index pages over and over; at the default each copy
/// carried them again, and a full sync of 100,000 users spent a tenth of its database time in
/// checkpoints. 10,000 pages (40 MB at 4 KiB) copies them back about a tenth as often.
const SQLITE_WAL_AUTOCHECKPOINT: &str = "10000";

/// Where SQLite keeps its temporary files: the statement journal of each multi-row write among
/// them. Those spill to a file in `/var/tmp` past 64 KiB, and a full sync of 100,000 users wrote
/// 1.6 GB to such files (182 of them), a tenth of the database thread's time. In memory, a
/// statement's journal holds at most the pages that one statement changes, a few MB.
const SQLITE_TEMP_STORE: &str = "memory";

/// How many parameters one statement binds on SQLite when they are numbered. SQLite allows tens
/// of thousands, but numbered parameters cost more per parameter the more a statement has (it
/// looks each name up in a list): measured here, statements of about a hundred were fastest.
const SQLITE_NUMBERED_PARAMS_PER_STATEMENT: usize = 120;

/// Rows per multi-row insert on SQLite, whose anonymous `?` parameters bind in constant time:
/// beyond about a hundred rows the statement overhead no longer shows.
const SQLITE_ROWS_PER_INSERT: usize = 500;

/// SQLite's limit on the parameters of one statement.
const SQLITE_MAX_PARAMS: usize = 32_766;

/// Rows per insert on PostgreSQL, which binds each column as one array. Every statement costs a
/// round trip, and over TCP sqlx 0.9.0 adds a ~40 ms Nagle stall to many of them
/// (transact-rs/sqlx#4335), so statements are as large as memory comfortably allows: the
/// encoded arrays are one more copy of the rows.
const POSTGRES_ROWS_PER_INSERT: usize = 20_000;

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
            let options =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidDatabaseUrl {
                    reason: without_credentials(&e.to_string()),
                })?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Unavailable {
                    reason: without_credentials(&e.to_string()),
                })?;
            return Ok(Self::Postgres(pool));
        }
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url).map_err(|e| StoreError::InvalidDatabaseUrl {
                reason: e.to_string(),
            })?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .pragma("cache_size", SQLITE_CACHE_SIZE)
            .pragma("wal_autocheckpoint", SQLITE_WAL_AUTOCHECKPOINT)
            .pragma("temp_store", SQLITE_TEMP_STORE);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable {
                reason: e.to_string(),
            })?;
        Ok(Self::Sqlite(pool))
    }

    /// The PostgreSQL pool, for what only PostgreSQL offers (listening for notifications).
    pub(crate) fn postgres_pool(&self) -> Option<&PgPool> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(pool) => Some(pool),
        }
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
        outcome.map_err(|e| StoreError::Migration {
            reason: e.to_string(),
        })
    }

    /// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock at
    /// once: a deferred transaction that reads and then writes can fail with "database is
    /// locked" instead of waiting for the busy timeout.
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(
                pool.begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(DbError::from)?,
            ),
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
            sqlx::query(
                "ANALYZE users, groups, addresses, group_user_members, group_group_members",
            )
            .execute(pool)
            .await
            .map_err(DbError::from)?;
        }
        Ok(())
    }

    /// Frees the page cache of the pool's idle SQLite connections. Each connection keeps up to
    /// [`SQLITE_CACHE_SIZE`] of pages; a write as large as a full mirror fills its connection's
    /// cache, which then sits idle while the sync plans, at its peak memory. The next statements
    /// read their pages again, from the operating system's cache. PostgreSQL keeps its cache in
    /// the server: nothing to do.
    pub(crate) async fn release_idle_cache(&self) -> Result<(), StoreError> {
        let Self::Sqlite(pool) = self else {
            return Ok(());
        };
        let idle: Vec<_> = std::iter::from_fn(|| pool.try_acquire())
            .take(pool.num_idle())
            .collect();
        for mut connection in idle {
            sqlx::query("PRAGMA shrink_memory")
                .execute(&mut *connection)
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
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
                    .map_err(DbError::from)?,
            ),
        })
    }
}

/// A URL's credentials must never reach a log line; sqlx's messages can quote the URL.
fn without_credentials(message: &str) -> String {
    message
        .split_whitespace()
        .map(|word| match (word.find("://"), word.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}://…@{}", &word[..scheme_end], &word[at + 1..])
            }
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

/// Takes the account's run lock for the rest of the caller's write transaction: starting a run
/// and discarding the mirror a run writes exclude each other. SQLite's write transactions
/// already run one at a time; PostgreSQL takes a transaction-scoped advisory lock.
pub(crate) async fn lock_account_runs(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<(), DbError> {
    if let Conn::Postgres(_) = conn {
        sql("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(account_id.to_string())
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// A row type both backends can decode.
pub(crate) trait Row:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

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
    Statement {
        sql: Cow::Borrowed(text),
        params: Vec::new(),
    }
}

/// A statement whose text is assembled at run time. Only placeholders and fixed fragments may
/// go into it, never a value.
pub(crate) fn built_sql(text: String, params: Vec<Value>) -> Statement {
    Statement {
        sql: Cow::Owned(text),
        params,
    }
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

/// Binds each column of a multi-row statement as one PostgreSQL array.
macro_rules! with_columns {
    ($query:expr, $columns:expr) => {{
        let mut query = $query;
        for column in $columns {
            query = match column {
                Column::Uuids(v) => query.bind(v),
                Column::Texts(v) => query.bind(v),
                Column::Ints(v) => query.bind(v),
                Column::Bools(v) => query.bind(v),
                Column::Times(v) => query.bind(v),
                Column::Bytes(v) => query.bind(v),
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
            Conn::Sqlite(c) => with_params!(sqlx::query(sql), self.params)
                .execute(&mut **c)
                .await?
                .rows_affected(),
            Conn::Postgres(c) => with_params!(sqlx::query(sql), self.params)
                .execute(&mut **c)
                .await?
                .rows_affected(),
        })
    }

    pub(crate) async fn fetch_all<T: Row>(self, conn: &mut Conn<'_>) -> Result<Vec<T>, DbError> {
        let sql = AssertSqlSafe(self.sql);
        Ok(match conn {
            Conn::Sqlite(c) => {
                with_params!(sqlx::query_as::<_, T>(sql), self.params)
                    .fetch_all(&mut **c)
                    .await?
            }
            Conn::Postgres(c) => {
                with_params!(sqlx::query_as::<_, T>(sql), self.params)
                    .fetch_all(&mut **c)
                    .await?
            }
        })
    }

    pub(crate) async fn fetch_optional<T: Row>(
        self,
        conn: &mut Conn<'_>,
    ) -> Result<Option<T>, DbError> {
        let sql = AssertSqlSafe(self.sql);
        Ok(match conn {
            Conn::Sqlite(c) => {
                with_params!(sqlx::query_as::<_, T>(sql), self.params)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Conn::Postgres(c) => {
                with_params!(sqlx::query_as::<_, T>(sql), self.params)
                    .fetch_optional(&mut **c)
                    .await?
            }
        })
    }
}

/// `$first, $first+1, …` for `count` parameters, e.g. "$3, $4, $5".
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `INSERT INTO {head} … {tail}` for many rows of `width` values each, in as few
/// statements as is fast. Returns how many rows it wrote (an upsert's `tail` may leave some).
pub(crate) async fn insert_rows(
    conn: &mut Conn<'_>,
    head: &str,
    tail: &str,
    width: usize,
    values: Vec<Value>,
) -> Result<u64, DbError> {
    with_rows(conn, width, values, |rows| {
        format!("INSERT INTO {head} {rows} {tail}")
    })
    .await
}

/// Deletes the rows of `table` whose `columns` hold one of the tuples in `values` (`columns.len()`
/// values each), with a statement per chunk of tuples rather than one per tuple. Returns how
/// many rows it deleted.
pub(crate) async fn delete_rows(
    conn: &mut Conn<'_>,
    table: &str,
    columns: &[&str],
    values: Vec<Value>,
) -> Result<u64, DbError> {
    let names = columns.join(", ");
    with_rows(conn, columns.len(), values, |rows| {
        format!("DELETE FROM {table} WHERE ({names}) IN ({rows})")
    })
    .await
}

/// Updates rows of `table` from tuples of `columns` (`columns.len()` values each, in `values`),
/// named `v` in `set` (the assignments) and in `matching` (the condition pairing a tuple with its
/// row), with a statement per chunk of tuples rather than one per row. Returns how many rows
/// changed.
pub(crate) async fn update_rows(
    conn: &mut Conn<'_>,
    table: &str,
    columns: &[&str],
    set: &str,
    matching: &str,
    values: Vec<Value>,
) -> Result<u64, DbError> {
    let names = columns.join(", ");
    with_rows(conn, columns.len(), values, |rows| {
        format!("WITH v({names}) AS ({rows}) UPDATE {table} SET {set} FROM v WHERE {matching}")
    })
    .await
}

/// Runs the statements `statement` makes around a source of rows, for many rows of `width`
/// values each, in as few statements as is fast, and returns how many rows they changed. On
/// SQLite the source is a multi-row `VALUES` list, chunks of a fixed size so that every full
/// chunk reuses one prepared statement; on PostgreSQL each column is bound as one array and the
/// source is `SELECT * FROM UNNEST(…)` of those arrays.
async fn with_rows(
    conn: &mut Conn<'_>,
    width: usize,
    values: Vec<Value>,
    statement: impl Fn(&str) -> String,
) -> Result<u64, DbError> {
    debug_assert_eq!(values.len() % width, 0, "every row has `width` values");
    let mut values = values.into_iter();
    let mut changed = 0;
    match conn {
        Conn::Sqlite(_) => {
            let rows_per_chunk = SQLITE_ROWS_PER_INSERT.min(SQLITE_MAX_PARAMS / width);
            let row = format!("({})", vec!["?"; width].join(", "));
            loop {
                let chunk: Vec<Value> = values.by_ref().take(rows_per_chunk * width).collect();
                if chunk.is_empty() {
                    return Ok(changed);
                }
                let rows = vec![row.as_str(); chunk.len() / width].join(", ");
                changed += built_sql(statement(&format!("VALUES {rows}")), chunk)
                    .execute(conn)
                    .await?;
            }
        }
        Conn::Postgres(c) => loop {
            let chunk: Vec<Value> = values
                .by_ref()
                .take(POSTGRES_ROWS_PER_INSERT * width)
                .collect();
            if chunk.is_empty() {
                return Ok(changed);
            }
            let columns = Column::split(chunk, width);
            let arrays = columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!("${}::{}", i + 1, c.array_type()));
            let source = format!(
                "SELECT * FROM UNNEST({})",
                arrays.collect::<Vec<_>>().join(", ")
            );
            changed += with_columns!(sqlx::query(AssertSqlSafe(statement(&source))), columns)
                .execute(&mut **c)
                .await?
                .rows_affected();
        },
    }
}

/// Runs a statement of the form `… IN ({list}) …`, where `{list}` stands for `keys` and
/// follows the `fixed` leading parameters, and collects the rows. On SQLite the keys are bound
/// as numbered parameters, a chunk of them per statement; on PostgreSQL the statement runs once,
/// with `= ANY($n)` over an array of all the keys.
pub(crate) async fn fetch_in<T: Row>(
    conn: &mut Conn<'_>,
    template: &str,
    fixed: &[Value],
    keys: Vec<Value>,
) -> Result<Vec<T>, DbError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    match conn {
        Conn::Sqlite(_) => {
            let mut rows = Vec::new();
            for (statement, params) in sqlite_in_chunks(template, fixed, &keys) {
                rows.extend(built_sql(statement, params).fetch_all::<T>(conn).await?);
            }
            Ok(rows)
        }
        Conn::Postgres(c) => {
            let statement = postgres_any(template, fixed.len());
            let query = with_params!(
                sqlx::query_as::<_, T>(AssertSqlSafe(statement)),
                fixed.iter().cloned()
            );
            Ok(with_columns!(query, [Column::of(keys)])
                .fetch_all(&mut **c)
                .await?)
        }
    }
}

/// Like [`fetch_in`], for statements that change rows; returns how many changed.
pub(crate) async fn execute_in(
    conn: &mut Conn<'_>,
    template: &str,
    fixed: &[Value],
    keys: Vec<Value>,
) -> Result<u64, DbError> {
    if keys.is_empty() {
        return Ok(0);
    }
    match conn {
        Conn::Sqlite(_) => {
            let mut changed = 0;
            for (statement, params) in sqlite_in_chunks(template, fixed, &keys) {
                changed += built_sql(statement, params).execute(conn).await?;
            }
            Ok(changed)
        }
        Conn::Postgres(c) => {
            let statement = postgres_any(template, fixed.len());
            let query = with_params!(sqlx::query(AssertSqlSafe(statement)), fixed.iter().cloned());
            Ok(with_columns!(query, [Column::of(keys)])
                .execute(&mut **c)
                .await?
                .rows_affected())
        }
    }
}

/// The statements of an `IN ({list})` template on SQLite, each with its parameters.
fn sqlite_in_chunks<'a>(
    template: &'a str,
    fixed: &'a [Value],
    keys: &'a [Value],
) -> impl Iterator<Item = (String, Vec<Value>)> + 'a {
    keys.chunks(SQLITE_NUMBERED_PARAMS_PER_STATEMENT)
        .map(move |chunk| {
            let list = placeholders(fixed.len() + 1, chunk.len());
            (
                template.replace("{list}", &list),
                fixed.iter().chain(chunk).cloned().collect(),
            )
        })
}

/// An `IN ({list})` template with the list as one PostgreSQL array parameter after `fixed`.
fn postgres_any(template: &str, fixed: usize) -> String {
    debug_assert!(
        template.contains(" IN ({list})"),
        "the key list is written `IN ({{list}})`"
    );
    template.replace(" IN ({list})", &format!(" = ANY(${})", fixed + 1))
}

/// One column of many rows, bound on PostgreSQL as one array. Its type is that of the values,
/// whose typed nulls make it known even for a column of nulls.
enum Column {
    Uuids(Vec<Option<Uuid>>),
    Texts(Vec<Option<String>>),
    Ints(Vec<i64>),
    Bools(Vec<bool>),
    Times(Vec<Option<OffsetDateTime>>),
    Bytes(Vec<Vec<u8>>),
}

impl Column {
    /// The values of one column.
    fn of(values: Vec<Value>) -> Self {
        let mut values = values.into_iter().peekable();
        let mut column = values.peek().map_or(Self::Texts(Vec::new()), Self::like);
        for value in values {
            column.push(value);
        }
        column
    }

    /// Row-major `values`, `width` to a row, as columns.
    fn split(values: Vec<Value>, width: usize) -> Vec<Self> {
        let mut columns: Vec<Self> = values[..width].iter().map(Self::like).collect();
        for (index, value) in values.into_iter().enumerate() {
            columns[index % width].push(value);
        }
        columns
    }

    /// An empty column for values like `value`.
    fn like(value: &Value) -> Self {
        match value {
            Value::Uuid(_) | Value::NullUuid => Self::Uuids(Vec::new()),
            Value::Text(_) | Value::NullText => Self::Texts(Vec::new()),
            Value::Int(_) => Self::Ints(Vec::new()),
            Value::Bool(_) => Self::Bools(Vec::new()),
            Value::Time(_) | Value::NullTime => Self::Times(Vec::new()),
            Value::Bytes(_) => Self::Bytes(Vec::new()),
        }
    }

    /// Appends a value. A value of another type is a mistake in the statement's caller.
    fn push(&mut self, value: Value) {
        match (self, value) {
            (Self::Uuids(c), Value::Uuid(v)) => c.push(Some(v)),
            (Self::Uuids(c), Value::NullUuid) => c.push(None),
            (Self::Texts(c), Value::Text(v)) => c.push(Some(v)),
            (Self::Texts(c), Value::NullText) => c.push(None),
            (Self::Ints(c), Value::Int(v)) => c.push(v),
            (Self::Bools(c), Value::Bool(v)) => c.push(v),
            (Self::Times(c), Value::Time(v)) => c.push(Some(v)),
            (Self::Times(c), Value::NullTime) => c.push(None),
            (Self::Bytes(c), Value::Bytes(v)) => c.push(v),
            (column, _) => panic!(
                "a value of another type in a column of {}",
                column.array_type()
            ),
        }
    }

    fn array_type(&self) -> &'static str {
        match self {
            Self::Uuids(_) => "uuid[]",
            Self::Texts(_) => "text[]",
            Self::Ints(_) => "int8[]",
            Self::Bools(_) => "bool[]",
            Self::Times(_) => "timestamptz[]",
            Self::Bytes(_) => "bytea[]",
        }
    }
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
        let name = db
            .constraint()
            .map_or_else(|| db.message().to_owned(), str::to_owned);
        let constraint = [
            (
                Constraint::AccountName,
                ["accounts_name_unique", "accounts.name"],
            ),
            (Constraint::DomainOwner, ["domains_pkey", "domains.domain"]),
            (
                Constraint::AddressOwner,
                ["addresses_pkey", "addresses.address"],
            ),
            (
                Constraint::UserExternalId,
                [
                    "users_external_id_unique",
                    "users.account_id, users.external_id",
                ],
            ),
            (
                Constraint::GroupExternalId,
                [
                    "groups_external_id_unique",
                    "groups.account_id, groups.external_id",
                ],
            ),
            (
                Constraint::OneConnection,
                ["connections_pkey", "connections.account_id"],
            ),
            (
                Constraint::OneRunningSync,
                ["runs_one_running_per_account", "runs.account_id"],
            ),
            (
                Constraint::Exemption,
                [
                    "exemptions_pkey",
                    "exemptions.account_id, exemptions.external_id",
                ],
            ),
        ]
        .into_iter()
        .find(|(_, spellings)| {
            spellings
                .iter()
                .any(|s| name == *s || name.ends_with(&format!(": {s}")))
        })
        .map_or(Constraint::Other, |(c, _)| c);
        Self::Violation(constraint)
    }
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Violation(constraint) => StoreError::Integrity {
                rule: constraint.to_string(),
            },
            DbError::Other(e) => StoreError::Database {
                reason: without_credentials(&e.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_cut_out_of_messages() {
        let message = without_credentials(
            "cannot reach postgres://roster:hunter2@db.example.com:5432/roster now",
        );
        assert_eq!(
            message,
            "cannot reach postgres://…@db.example.com:5432/roster now"
        );
    }

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
