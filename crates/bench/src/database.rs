//! A fresh store per scenario: a SQLite file in a temporary directory, or a PostgreSQL
//! database created for the run and dropped after it.

use anyhow::Context as _;
use roster_domain::{AccountId, DomainName, TechContact};
use roster_store::{AccountRef, MasterKey, NewAccount, Store};
use sqlx::{Connection as _, PgConnection, SqliteConnection};
use tempfile::TempDir;

use crate::StoreKind;
use crate::sim::SimProcess;

/// The account every benchmark syncs.
pub const ACCOUNT: &str = "bench";

pub struct FreshDatabase {
    pub url: String,
    lifetime: Lifetime,
}

/// What removing the database takes.
enum Lifetime {
    /// The directory holding the SQLite file (and its WAL), deleted on drop.
    Sqlite(TempDir),
    /// The server's maintenance database and the name of the database created in it.
    Postgres { admin_url: String, name: String },
}

/// A store on the database at `url`. The key is new each time: a process that needs the
/// stored client secret sets it again under its own key.
pub async fn open_store(url: &str) -> anyhow::Result<Store> {
    Ok(Store::connect(url, MasterKey::generate()).await?)
}

/// The benchmark's account in `store`.
pub async fn account_id(store: &Store) -> anyhow::Result<AccountId> {
    Ok(store
        .account(&AccountRef::Name(ACCOUNT.to_owned()))
        .await?
        .id)
}

impl FreshDatabase {
    /// Creates an empty database, migrates it and adds the account, whose domains are the
    /// tenant's verified domains.
    pub async fn create(
        kind: StoreKind,
        postgres_admin_url: &str,
        sim: &SimProcess,
    ) -> anyhow::Result<Self> {
        let database = match kind {
            StoreKind::Sqlite => {
                let dir = tempfile::Builder::new().prefix("roster-bench-").tempdir()?;
                let url = format!("sqlite:{}", dir.path().join("roster.db").display());
                Self {
                    url,
                    lifetime: Lifetime::Sqlite(dir),
                }
            }
            StoreKind::Postgres => {
                let name = format!("roster_bench_{}", uuid::Uuid::now_v7().simple());
                let mut admin = PgConnection::connect(postgres_admin_url)
                    .await
                    .with_context(|| {
                        format!("cannot reach PostgreSQL at {postgres_admin_url} (see --postgres)")
                    })?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await?;
                let mut url = url::Url::parse(postgres_admin_url)?;
                url.set_path(&name);
                Self {
                    url: url.into(),
                    lifetime: Lifetime::Postgres {
                        admin_url: postgres_admin_url.to_owned(),
                        name,
                    },
                }
            }
        };
        let store = open_store(&database.url).await?;
        store.migrate().await?;
        let summary = sim.control().summary().await?;
        let domains = summary
            .verified_domains
            .iter()
            .map(|d| d.parse())
            .collect::<Result<Vec<DomainName>, _>>()?;
        let tech_contact = TechContact {
            name: "Bench Admin".to_owned(),
            email: format!("it@{}", summary.default_domain).parse()?,
        };
        store
            .create_account(NewAccount {
                name: ACCOUNT.to_owned(),
                domains,
                tech_contact: Some(tech_contact),
            })
            .await?;
        Ok(database)
    }

    /// A new database holding what this one holds now, for measuring a sync again from the same
    /// start. Nothing may be connected to this database meanwhile: a PostgreSQL template must be
    /// idle.
    pub async fn duplicate(&self) -> anyhow::Result<Self> {
        match &self.lifetime {
            Lifetime::Sqlite(_) => {
                let dir = tempfile::Builder::new().prefix("roster-bench-").tempdir()?;
                let path = dir.path().join("roster.db");
                let url = format!("sqlite:{}", path.display());
                // VACUUM INTO writes a consistent copy whatever the write-ahead log still holds.
                let mut source = SqliteConnection::connect(&self.url).await?;
                sqlx::query("VACUUM INTO $1")
                    .bind(path.display().to_string())
                    .execute(&mut source)
                    .await?;
                source.close().await?;
                Ok(Self {
                    url,
                    lifetime: Lifetime::Sqlite(dir),
                })
            }
            Lifetime::Postgres { admin_url, name } => {
                let copy = format!("roster_bench_{}", uuid::Uuid::now_v7().simple());
                let mut admin = PgConnection::connect(admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {copy} TEMPLATE {name}"
                )))
                .execute(&mut admin)
                .await?;
                let mut url = url::Url::parse(admin_url)?;
                url.set_path(&copy);
                Ok(Self {
                    url: url.into(),
                    lifetime: Lifetime::Postgres {
                        admin_url: admin_url.clone(),
                        name: copy,
                    },
                })
            }
        }
    }

    /// Deletes the database.
    pub async fn remove(self) -> anyhow::Result<()> {
        match self.lifetime {
            Lifetime::Sqlite(dir) => dir.close()?,
            Lifetime::Postgres { admin_url, name } => {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
            }
        }
        Ok(())
    }
}
