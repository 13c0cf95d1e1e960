//! A store on a temporary SQLite file holding one account, and a socketmap client.

use std::sync::Arc;

use roster_domain::plan::{ChangeAction, GroupFields, GroupMembers, UserFields};
use roster_domain::{Account, GroupKind, NewUserRole};
use roster_lookup::{Answer, LookupView, RecipientDelimiter, refresh};
use roster_store::{MasterKey, NewAccount, Store};
use sqlx::{Connection, Executor};
use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub struct Fixture {
    pub store: Store,
    pub account: Account,
    pub view: Arc<LookupView>,
    url: String,
    _dir: TempDir,
    /// The server's URL and the database made for this fixture, on PostgreSQL.
    postgres: Option<(String, String)>,
}

impl Fixture {
    /// The account `contoso` (contoso.com, contoso.org) holding what `changes` add, on a SQLite
    /// file, and a view loaded from it.
    pub async fn new(changes: &[ChangeAction]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("roster.db").display());
        Self::on(url, dir, None, changes).await
    }

    /// The same on a database of its own on the PostgreSQL server `ROSTER_TEST_POSTGRES_URL`
    /// names, when it is set; drop it with [`Fixture::drop_database`].
    pub async fn on_postgres(changes: &[ChangeAction]) -> Option<Self> {
        let server = std::env::var("ROSTER_TEST_POSTGRES_URL").ok()?;
        let name = format!("roster_l_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let (host, _) = server
            .rsplit_once('/')
            .expect("ROSTER_TEST_POSTGRES_URL names a database");
        let url = format!("{host}/{name}");
        let dir = tempfile::tempdir().unwrap();
        Some(Self::on(url, dir, Some((server, name)), changes).await)
    }

    async fn on(
        url: String,
        dir: TempDir,
        postgres: Option<(String, String)>,
        changes: &[ChangeAction],
    ) -> Self {
        let store = Store::connect(&url, MasterKey::generate()).await.unwrap();
        store.migrate().await.unwrap();
        let account = store
            .create_account(NewAccount {
                name: "contoso".into(),
                domains: vec![
                    "contoso.com".parse().unwrap(),
                    "contoso.org".parse().unwrap(),
                ],
                tech_contact: None,
            })
            .await
            .unwrap();
        let outcomes = store.apply_changes(account.id, changes).await.unwrap();
        assert_eq!(outcomes.len(), changes.len());
        let view = Arc::new(LookupView::new(RecipientDelimiter::default()));
        refresh::load_all(&store, &view).await.unwrap();
        Self {
            store,
            account,
            view,
            url,
            _dir: dir,
            postgres,
        }
    }

    /// The database's URL, for reaching it behind the store's back.
    pub fn store_url(&self) -> String {
        self.url.clone()
    }

    /// Drops the PostgreSQL database this fixture made.
    pub async fn drop_database(self) {
        let Some((server, name)) = self.postgres else {
            return;
        };
        // WITH (FORCE) closes the store's connections, the view's listener among them.
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {name} WITH (FORCE)"
            )))
            .await
            .unwrap();
    }
}

/// The answer naming these addresses.
pub fn addresses(list: &[&str]) -> Answer {
    Answer::Addresses(list.iter().map(|a| (*a).to_owned()).collect())
}

pub fn user(id: &str, primary: &str, aliases: &[&str]) -> ChangeAction {
    ChangeAction::AddUser {
        external_id: id.parse().unwrap(),
        fields: UserFields {
            primary_address: primary.parse().unwrap(),
            aliases: aliases.iter().map(|a| a.parse().unwrap()).collect(),
            first_name: None,
            last_name: None,
            display_name: None,
        },
        role: NewUserRole::EndUser,
    }
}

pub fn group(
    id: &str,
    address: Option<&str>,
    aliases: &[&str],
    users: &[&str],
    groups: &[&str],
) -> ChangeAction {
    ChangeAction::AddGroup {
        external_id: id.parse().unwrap(),
        fields: GroupFields {
            name: format!("Group {id}"),
            kind: GroupKind::Distribution,
            address: address.map(|a| a.parse().unwrap()),
            aliases: aliases.iter().map(|a| a.parse().unwrap()).collect(),
        },
        members: GroupMembers {
            users: users.iter().map(|u| u.parse().unwrap()).collect(),
            groups: groups.iter().map(|g| g.parse().unwrap()).collect(),
        },
    }
}

/// Sends one socketmap request and reads its netstring reply.
pub async fn ask<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, request: &str) -> String {
    let framed = format!("{}:{request},", request.len());
    stream.write_all(framed.as_bytes()).await.unwrap();
    read_reply(stream).await.expect("a reply")
}

/// Reads one netstring reply; `None` when the server closed the connection instead.
pub async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut length = Vec::new();
    loop {
        let mut byte = [0u8];
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        if byte[0] == b':' {
            break;
        }
        length.push(byte[0]);
    }
    let length: usize = String::from_utf8(length).ok()?.parse().ok()?;
    let mut payload = vec![0; length + 1];
    stream.read_exact(&mut payload).await.ok()?;
    assert_eq!(payload.pop(), Some(b','), "a netstring ends with a comma");
    Some(String::from_utf8(payload).unwrap())
}
