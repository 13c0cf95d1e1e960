//! Runs a test body once per backend, each time on a database of its own.

use std::future::Future;

use roster_domain::plan::{ChangeAction, GroupFields, GroupMembers, UserFields};
use roster_domain::run::{RunStatus, Trigger};
use roster_domain::{
    Account, AccountId, DomainName, EmailAddress, ExternalId, GroupKind, RunId, UserId,
};
use roster_store::{Backend, MasterKey, NewAccount, NewRun, Store};
use sqlx::{Connection, Executor};
use time::OffsetDateTime;
use uuid::Uuid;

/// One backend's database for one test: the store, and raw access for proving that the
/// schema itself refuses what the store's checks would.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub key: MasterKey,
}

/// A value for [`TestDb::raw`].
pub enum Raw {
    Uuid(Uuid),
    Text(&'static str),
    Bool(bool),
    Int(i64),
    Bytes(Vec<u8>),
    Time(OffsetDateTime),
}

macro_rules! bind_all {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                Raw::Uuid(v) => query.bind(v),
                Raw::Text(v) => query.bind(v),
                Raw::Bool(v) => query.bind(v),
                Raw::Int(v) => query.bind(v),
                Raw::Bytes(v) => query.bind(v),
                Raw::Time(v) => query.bind(v),
            };
        }
        query
    }};
}

impl TestDb {
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Runs one statement behind the store's back and returns the database's verdict.
    pub async fn raw(&self, statement: &'static str, values: Vec<Raw>) -> Result<u64, String> {
        match self.backend() {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .map_err(|e| e.to_string())?;
                conn.execute("PRAGMA foreign_keys = ON")
                    .await
                    .map_err(|e| e.to_string())?;
                let done = bind_all!(sqlx::query(statement), values)
                    .execute(&mut conn)
                    .await;
                done.map(|r| r.rows_affected()).map_err(|e| e.to_string())
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .map_err(|e| e.to_string())?;
                let done = bind_all!(sqlx::query(statement), values)
                    .execute(&mut conn)
                    .await;
                done.map(|r| r.rows_affected()).map_err(|e| e.to_string())
            }
        }
    }

    /// Stores `address` (in `domain`) as an alias of `user` of `account`, behind the store's back.
    pub async fn raw_alias(
        &self,
        address: &'static str,
        account: AccountId,
        domain: &'static str,
        user: UserId,
    ) -> Result<u64, String> {
        self.raw(
            "INSERT INTO addresses (address, account_id, domain, user_id, group_id, is_primary) VALUES ($1, $2, $3, $4, NULL, $5)",
            vec![Raw::Text(address), Raw::Uuid(account.as_uuid()), Raw::Text(domain), Raw::Uuid(user.as_uuid()), Raw::Bool(false)],
        )
        .await
    }

    /// Another store on the same database, holding `key`.
    pub async fn reopen_with(&self, key: MasterKey) -> Store {
        Store::connect(&self.url, key)
            .await
            .expect("the database reopens")
    }

    /// The run a test's mirror writes belong to: the account's running run, else a new one.
    pub async fn mirror_run(&self, account: AccountId) -> RunId {
        let latest = self.store.list_runs(account, 1).await.unwrap();
        match latest.first() {
            Some(run) if run.status == RunStatus::Running => run.id,
            _ => {
                let new = NewRun {
                    account_id: account,
                    trigger: Trigger::Preview,
                    actor: "test".to_owned(),
                };
                self.store.start_run(new).await.expect("a run starts").id
            }
        }
    }

    /// An account named `name` owning `domains`.
    pub async fn account(&self, name: &str, domains: &[&str]) -> Account {
        self.store
            .create_account(NewAccount {
                name: name.to_owned(),
                domains: domains.iter().map(|d| d.parse().unwrap()).collect(),
                tech_contact: None,
            })
            .await
            .expect("the account is created")
    }
}

pub fn address(text: &str) -> EmailAddress {
    text.parse().unwrap()
}

pub fn domain(text: &str) -> DomainName {
    text.parse().unwrap()
}

pub fn external(text: &str) -> ExternalId {
    text.parse().unwrap()
}

pub fn user_fields(primary: &str, aliases: &[&str]) -> UserFields {
    UserFields {
        primary_address: address(primary),
        aliases: aliases.iter().map(|a| address(a)).collect(),
        first_name: Some("Given".to_owned()),
        last_name: Some("Family".to_owned()),
        display_name: Some(format!("Display {primary}")),
    }
}

pub fn group_fields(name: &str, address_text: Option<&str>) -> GroupFields {
    GroupFields {
        name: name.to_owned(),
        kind: GroupKind::Distribution,
        address: address_text.map(address),
        aliases: Vec::new(),
    }
}

/// The change adding directory group `id`, its members named by directory id.
pub fn add_group(
    id: &str,
    name: &str,
    address_text: Option<&str>,
    users: &[&str],
    groups: &[&str],
) -> ChangeAction {
    let members = GroupMembers {
        users: users.iter().map(|u| external(u)).collect(),
        groups: groups.iter().map(|g| external(g)).collect(),
    };
    ChangeAction::AddGroup {
        external_id: external(id),
        fields: group_fields(name, address_text),
        members,
    }
}

async fn sqlite_db() -> (TestDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite:{}", dir.path().join("roster.db").display());
    let key = MasterKey::generate();
    let store = Store::connect(&url, key.clone())
        .await
        .expect("SQLite opens");
    store.migrate().await.expect("SQLite migrates");
    (TestDb { store, url, key }, dir)
}

/// The server URL with its database replaced by `database`.
fn with_database(server: &str, database: &str) -> String {
    let mut url = url::Url::parse(server).expect("ROSTER_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// Runs `test` on SQLite and, when `ROSTER_TEST_POSTGRES_URL` is set, on PostgreSQL.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (db, _dir) = sqlite_db().await;
    test(db).await;

    let Ok(server) = std::env::var("ROSTER_TEST_POSTGRES_URL") else {
        return;
    };
    let name = format!("roster_t_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .expect("the PostgreSQL server is reachable");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("a test database is created");
    let url = with_database(&server, &name);
    let key = MasterKey::generate();
    let store = Store::connect(&url, key.clone())
        .await
        .expect("PostgreSQL opens");
    store.migrate().await.expect("PostgreSQL migrates");
    // The body runs as its own task so that the database is dropped even when it panics.
    let outcome = tokio::spawn(test(TestDb {
        store: store.clone(),
        url,
        key,
    }))
    .await;
    drop(store);
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .await
        .expect("the test database is dropped");
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// Declares a contract test that runs on every backend.
macro_rules! contract_test {
    ($(#[$meta:meta])* $name:ident, |$db:ident| $body:block) => {
        $(#[$meta])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::contract::harness::on_each_backend(|$db: $crate::contract::harness::TestDb| async move $body).await;
        }
    };
}
pub(crate) use contract_test;

/// Asserts that the database itself refused a raw write for breaking a constraint.
pub fn assert_refused(outcome: Result<u64, String>, what: &str) {
    match outcome {
        Err(message) => assert!(
            message.contains("constraint"),
            "{what}: refused for another reason: {message}"
        ),
        Ok(_) => panic!("{what}"),
    }
}
