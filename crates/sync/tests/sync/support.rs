//! `TestApp`: a store on SQLite in a temporary directory, a simulated tenant on 127.0.0.1 and an
//! account connected to it, plus the plan-reading helpers the scenarios assert with.

use std::time::Duration;

use roster_domain::plan::{AttributeValue, Change, Plan};
use roster_domain::{
    Account, Cloud, ConnectionSettings, ExternalId, Frequency, Group, TechContact, User, UserId,
};
use roster_graph::{ClientOptions, Priority, RetryPolicy};
use roster_sim::{ControlClient, RunningSim, SimConfig, Simulator, TenantCredentials};
use roster_store::{MasterKey, Mirror, NewAccount, Store};
use roster_sync::{
    ApplyOutcome, ApplyRequest, Chosen, NoProgress, PreviewOutcome, SyncEngine, SyncError,
};
use secrecy::SecretString;
use serde_json::{Value as Json, json};
use sqlx::Connection;
use tempfile::TempDir;

pub const ACTOR: &str = "admin@contoso.com";

/// Graph options for tests: a failing Graph is reported after one quick retry, not minutes.
fn quick_retries(priority: Priority) -> ClientOptions {
    let mut options = ClientOptions::new(priority);
    options.retry = RetryPolicy {
        max_attempts: 2,
        max_total: Duration::from_secs(2),
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_millis(50),
    };
    options.request_timeout = Duration::from_secs(10);
    options
}

/// The directory objects every scenario starts from (the simulated tenant is otherwise empty):
///
/// - Ada Lovelace `ada@contoso.com`, alias `countess@contoso.com`
/// - Grace Hopper `grace@contoso.com`
/// - Alan Turing `alan@contoso-europe.com`
/// - Engineering, a distribution group `engineering@contoso.com`: Ada and Grace
/// - Staff, a security group without an address: Alan and the Engineering group
pub struct Directory {
    pub ada: String,
    pub grace: String,
    pub alan: String,
    pub engineering: String,
    pub staff: String,
}

pub struct TestApp {
    pub engine: SyncEngine,
    pub store: Store,
    pub control: ControlClient,
    pub account: Account,
    pub directory: Directory,
    /// The SQLite database, for reaching behind the store where a test must fake time.
    pub database_url: String,
    /// The simulated tenant's credentials, as the connection holds them.
    pub tenant: TenantCredentials,
    _sim: RunningSim,
    _data: TempDir,
}

impl TestApp {
    /// The small directory, connected and not yet synced.
    pub async fn unsynced() -> Self {
        Self::start(SimConfig {
            users: 0,
            groups: 0,
            seed: 5,
            ..SimConfig::default()
        })
        .await
    }

    /// The small directory, connected and synced once (every change of the first plan applied).
    pub async fn synced() -> Self {
        let app = Self::unsynced().await;
        let outcome = app.sync().await;
        assert!(
            outcome.run.failures.is_empty(),
            "the first sync applies cleanly: {:?}",
            outcome.run.failures
        );
        app
    }

    /// A simulated tenant as configured, plus the small directory.
    pub async fn start(config: SimConfig) -> Self {
        let sim = Simulator::start(config)
            .await
            .expect("the simulated tenant starts");
        let control = sim.control();
        let data = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite:{}", data.path().join("roster.db").display());
        let store = Store::connect(&url, MasterKey::generate())
            .await
            .expect("the store opens");
        store.migrate().await.expect("the schema migrates");
        let tenant = sim.tenant().clone();
        let account = store
            .create_account(NewAccount {
                name: "contoso".to_owned(),
                domains: vec![
                    "contoso.com".parse().unwrap(),
                    "contoso-europe.com".parse().unwrap(),
                ],
                tech_contact: Some(TechContact {
                    name: "Tech Contact".to_owned(),
                    email: "it@contoso.com".parse().unwrap(),
                }),
            })
            .await
            .expect("the account is created");
        let settings = ConnectionSettings {
            frequency: Frequency::Hours(24),
            ..ConnectionSettings::new(
                tenant.tenant.parse().unwrap(),
                tenant.client_id.parse().unwrap(),
                Cloud::custom(&tenant.login_url, &tenant.graph_url).unwrap(),
            )
        };
        store
            .set_connection(
                account.id,
                settings,
                Some(SecretString::from(tenant.client_secret.clone())),
            )
            .await
            .expect("the connection is saved");
        let directory = Directory::create(&control).await;
        let engine = SyncEngine::new(store.clone()).with_graph_options(quick_retries);
        Self {
            engine,
            store,
            control,
            account,
            directory,
            database_url: url,
            tenant,
            _sim: sim,
            _data: data,
        }
    }

    /// Changes the saved connection settings.
    pub async fn change_settings(&self, change: impl FnOnce(&mut ConnectionSettings)) {
        let mut settings = self
            .store
            .connection(self.account.id)
            .await
            .unwrap()
            .expect("a connection")
            .settings;
        change(&mut settings);
        self.store
            .set_connection(self.account.id, settings, None)
            .await
            .expect("the settings are saved");
    }

    /// Search Now, which must succeed.
    pub async fn try_preview(&self) -> Result<PreviewOutcome, SyncError> {
        self.engine
            .preview(self.account.id, false, ACTOR, &NoProgress)
            .await
    }

    pub async fn preview(&self) -> Plan {
        self.try_preview().await.expect("Search Now succeeds").plan
    }

    pub async fn try_apply(
        &self,
        plan: &Plan,
        skip: &[&Change],
        confirm_removals: bool,
    ) -> Result<ApplyOutcome, SyncError> {
        let request = ApplyRequest {
            plan_id: plan.id,
            chosen: Chosen::AllBut(skip.iter().map(|c| c.id).collect()),
            confirm_removals,
        };
        self.engine
            .apply(self.account.id, &request, ACTOR, &NoProgress)
            .await
    }

    /// Sync Active Directory with every change checked.
    pub async fn apply(&self, plan: &Plan) -> ApplyOutcome {
        self.try_apply(plan, &[], false)
            .await
            .expect("applying succeeds")
    }

    /// Search Now, then apply everything it proposes.
    pub async fn sync(&self) -> ApplyOutcome {
        let plan = self.preview().await;
        self.apply(&plan).await
    }

    pub async fn run_automatic(&self) -> ApplyOutcome {
        self.engine
            .run_automatic(self.account.id, "scheduler", &NoProgress)
            .await
            .expect("the automatic run succeeds")
    }

    pub async fn users(&self) -> Vec<User> {
        self.store.list_users(self.account.id).await.unwrap()
    }

    pub async fn groups(&self) -> Vec<Group> {
        self.store.list_groups(self.account.id).await.unwrap()
    }

    pub async fn mirror(&self) -> Mirror {
        self.store.load_mirror(self.account.id).await.unwrap()
    }

    /// The account's user synced from directory object `external_id`.
    pub async fn user(&self, external_id: &str) -> Option<User> {
        self.users().await.into_iter().find(|u| {
            u.external_id
                .as_ref()
                .is_some_and(|id| id.as_str() == external_id)
        })
    }

    pub async fn group(&self, external_id: &str) -> Option<Group> {
        self.groups().await.into_iter().find(|g| {
            g.external_id
                .as_ref()
                .is_some_and(|id| id.as_str() == external_id)
        })
    }

    /// Creates a directory user and returns its id.
    pub async fn create_user(&self, properties: Json) -> String {
        self.control
            .create_user(properties)
            .await
            .expect("the simulator creates the user")
            .id
    }

    /// Makes the saved delta links look `age` old, as if the account had not synced since.
    pub async fn age_delta_links(&self, age: time::Duration) {
        let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
            .await
            .unwrap();
        let saved_at = time::OffsetDateTime::now_utc() - age;
        let aged = sqlx::query("UPDATE delta_links SET users_saved_at = $1, groups_saved_at = $1 WHERE account_id = $2")
            .bind(saved_at)
            .bind(self.account.id.as_uuid())
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(aged.rows_affected(), 1, "the account has delta links");
    }

    /// The newest run's status, plan, start and last heartbeat, as stored (the heartbeat is not
    /// part of the store's API).
    pub async fn latest_run_liveness(
        &self,
    ) -> (
        String,
        Option<uuid::Uuid>,
        time::OffsetDateTime,
        time::OffsetDateTime,
    ) {
        let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
            .await
            .unwrap();
        sqlx::query_as("SELECT status, plan_id, started_at, heartbeat_at FROM runs WHERE account_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(self.account.id.as_uuid())
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    /// Runs `statement` on the database behind the store's back, binding `value` and then
    /// `user`'s id: for changes no store call makes yet (promoting a synced user, say).
    pub async fn change_user_row(&self, statement: &'static str, value: &str, user: UserId) {
        let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
            .await
            .unwrap();
        let changed = sqlx::query(statement)
            .bind(value)
            .bind(user.as_uuid())
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(changed.rows_affected(), 1, "the user's row is changed");
    }

    /// Exempts a directory object from sync.
    pub async fn exempt(&self, external_id: &str) {
        let id: ExternalId = external_id.parse().unwrap();
        self.store
            .add_exemption(self.account.id, id, ACTOR)
            .await
            .expect("the object is exempted");
    }
}

impl Directory {
    async fn create(control: &ControlClient) -> Self {
        let user = |properties: Json| async move {
            control.create_user(properties).await.expect("a user").id
        };
        let ada = user(json!({
            "displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace", "mailNickname": "ada",
            "proxyAddresses": ["SMTP:ada@contoso.com", "smtp:countess@contoso.com"],
        }))
        .await;
        let grace = user(json!({"displayName": "Grace Hopper", "givenName": "Grace", "surname": "Hopper", "mailNickname": "grace"})).await;
        let alan = user(json!({
            "displayName": "Alan Turing", "givenName": "Alan", "surname": "Turing",
            "userPrincipalName": "alan@contoso-europe.com",
        }))
        .await;
        let group = |properties: Json| async move {
            control.create_group(properties).await.expect("a group").id
        };
        let engineering = group(json!({"displayName": "Engineering", "mailNickname": "engineering", "members": [ada, grace]})).await;
        let staff = group(json!({
            "displayName": "Staff", "mailNickname": "staff", "mailEnabled": false, "securityEnabled": true,
            "members": [alan, engineering],
        }))
        .await;
        Self {
            ada,
            grace,
            alan,
            engineering,
            staff,
        }
    }
}

/// A plan as lines a person can check, one per change in plan order:
/// `users_to_update <external id>: <reason> [<attribute>: <before> → <after>; …]`.
pub fn described(plan: &Plan) -> Vec<String> {
    plan.changes.iter().map(describe).collect()
}

pub fn describe(change: &Change) -> String {
    let attributes: Vec<String> = change
        .attributes
        .iter()
        .map(|a| {
            format!(
                "{}: {} → {}",
                a.attribute,
                value(&a.before),
                value(&a.after)
            )
        })
        .collect();
    format!(
        "{} {}: {} [{}]",
        change.category.as_str(),
        change.external_id,
        change.reason,
        attributes.join("; ")
    )
}

fn value(value: &AttributeValue) -> String {
    match value {
        AttributeValue::None => "—".to_owned(),
        AttributeValue::Text(text) => text.clone(),
        AttributeValue::List(items) => format!("[{}]", items.join(", ")),
    }
}

/// The *Skipped* entries of a plan, as `<external id> <reason code>: <detail>`.
pub fn skipped(plan: &Plan) -> Vec<String> {
    plan.skipped
        .iter()
        .map(|s| {
            format!(
                "{} {}: {}",
                s.external_id,
                serde_json::to_value(s.reason).unwrap().as_str().unwrap(),
                s.detail
            )
        })
        .collect()
}

/// The change to `external_id` in the plan.
pub fn change_to<'p>(plan: &'p Plan, external_id: &str) -> &'p Change {
    plan.changes
        .iter()
        .find(|c| c.external_id.as_str() == external_id)
        .unwrap_or_else(|| {
            panic!(
                "the plan has a change to {external_id}: {:#?}",
                described(plan)
            )
        })
}
