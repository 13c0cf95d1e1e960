//! `TestApp`: the router over a store on SQLite in a temporary directory, with a simulated
//! tenant on 127.0.0.1 connected to the account `contoso`, a second account `fabrikam`, and a
//! caller of every kind.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use roster_domain::plan::{ChangeAction, GroupFields, GroupMembers, UserFields};
use roster_domain::{
    Account, Cloud, ConnectionSettings, GroupKind, NewUserRole, Role, TechContact, UserId,
};
use roster_graph::{ClientOptions, Priority, RetryPolicy};
use roster_server::{AppState, Config, router};
use roster_sim::{ControlClient, RunningSim, SimConfig, Simulator, TenantCredentials};
use roster_store::{MasterKey, NewAccount, NewAdmin, NewOperator, NewUser, Store};
use roster_sync::SyncEngine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value as Json, json};
use tempfile::TempDir;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery staple";

/// How a request proves who it is.
#[derive(Debug, Clone)]
pub enum As {
    Nobody,
    Session { cookie: String, csrf: String },
    Bearer(String),
}

/// Every kind of caller of §8, for the account `contoso` unless named otherwise.
pub struct Callers {
    pub operator: As,
    pub admin: As,
    pub end_user: As,
    pub end_user_id: UserId,
    pub token: As,
    pub read_only_token: As,
    /// An admin token of the other account, `fabrikam`.
    pub other_token: As,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Json,
}

impl Reply {
    /// The body's field, panicking with the whole reply when it is absent.
    pub fn field(&self, name: &str) -> &Json {
        self.body
            .get(name)
            .unwrap_or_else(|| panic!("no {name:?} in {} {}", self.status, self.body))
    }
}

pub struct TestApp {
    pub router: Router,
    /// The state the router serves, to begin a shutdown as `roster serve` does.
    pub state: AppState,
    pub store: Store,
    pub control: ControlClient,
    pub account: Account,
    pub other: Account,
    pub callers: Callers,
    /// The simulated tenant's credentials, as an admin would paste them.
    pub tenant: TenantCredentials,
    _sim: RunningSim,
    _data: TempDir,
}

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

async fn account(store: &Store, name: &str, domain: &str) -> Account {
    store
        .create_account(NewAccount {
            name: name.to_owned(),
            domains: vec![domain.parse().unwrap()],
            tech_contact: Some(TechContact {
                name: "Tech Contact".to_owned(),
                email: format!("it@{domain}").parse().unwrap(),
            }),
        })
        .await
        .expect("the account is created")
}

impl TestApp {
    pub async fn start() -> Self {
        Self::with_config(Config::default()).await
    }

    pub async fn with_config(config: Config) -> Self {
        let sim = Simulator::start(SimConfig {
            users: 0,
            groups: 0,
            seed: 5,
            ..SimConfig::default()
        })
        .await
        .expect("the simulated tenant starts");
        let control = sim.control();
        let data = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite:{}", data.path().join("roster.db").display());
        let store = Store::connect(&url, MasterKey::generate())
            .await
            .expect("the store opens");
        store.migrate().await.expect("the schema migrates");
        let contoso = account(&store, "contoso", "contoso.com").await;
        let fabrikam = account(&store, "fabrikam", "fabrikam.com").await;
        let tenant = sim.tenant().clone();
        // An operator set the simulated tenant's endpoints; the admin enters the rest (the
        // guide's test does so through the API again).
        let settings = ConnectionSettings::new(
            tenant.tenant.parse().unwrap(),
            tenant.client_id.parse().unwrap(),
            Cloud::custom(&tenant.login_url, &tenant.graph_url).unwrap(),
        );
        store
            .set_connection(
                contoso.id,
                settings,
                Some(SecretString::from(tenant.client_secret.clone())),
            )
            .await
            .expect("the connection is saved");
        for properties in [
            json!({"displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace", "mailNickname": "ada",
                   "proxyAddresses": ["SMTP:ada@contoso.com"]}),
            json!({"displayName": "Grace Hopper", "givenName": "Grace", "surname": "Hopper", "mailNickname": "grace"}),
            json!({"displayName": "Alan Turing", "givenName": "Alan", "surname": "Turing", "mailNickname": "alan"}),
        ] {
            control
                .create_user(properties)
                .await
                .expect("a directory user");
        }
        let engine = SyncEngine::new(store.clone()).with_graph_options(quick_retries);
        let state = AppState::with_metrics(engine, config, roster_server::install_metrics());
        let router = router(state.clone());
        let mut app = Self {
            router,
            state,
            store: store.clone(),
            control,
            account: contoso.clone(),
            other: fabrikam.clone(),
            callers: Callers {
                operator: As::Nobody,
                admin: As::Nobody,
                end_user: As::Nobody,
                end_user_id: UserId::new(),
                token: As::Nobody,
                read_only_token: As::Nobody,
                other_token: As::Nobody,
            },
            tenant,
            _sim: sim,
            _data: data,
        };
        app.callers = app.make_callers().await;
        app
    }

    async fn make_callers(&self) -> Callers {
        let store = &self.store;
        store
            .create_operator(NewOperator {
                email: "ops@roster.example".parse().unwrap(),
                password: SecretString::from(PASSWORD),
            })
            .await
            .unwrap();
        store
            .create_admin(
                self.account.id,
                NewAdmin {
                    address: "admin@contoso.com".parse().unwrap(),
                    display_name: None,
                    password: SecretString::from(PASSWORD),
                },
            )
            .await
            .unwrap();
        let end_user = store
            .add_user(
                self.account.id,
                NewUser {
                    primary_address: "eve@contoso.com".parse().unwrap(),
                    aliases: Vec::new(),
                    first_name: Some("Eve".to_owned()),
                    last_name: None,
                    display_name: Some("Eve".to_owned()),
                    role: Role::EndUser,
                    digests: None,
                },
            )
            .await
            .unwrap();
        let invitation = store
            .invite_user(self.account.id, end_user.id)
            .await
            .unwrap();
        store
            .accept_invitation(invitation.expose_secret(), SecretString::from(PASSWORD))
            .await
            .unwrap();
        let token = |account: &Account, read_only: bool| {
            let store = store.clone();
            let account = account.id;
            async move {
                let new = store
                    .create_api_token(account, "tests", read_only)
                    .await
                    .unwrap();
                As::Bearer(new.secret.expose_secret().to_owned())
            }
        };
        Callers {
            operator: self.sign_in("ops@roster.example", PASSWORD).await,
            admin: self.sign_in("admin@contoso.com", PASSWORD).await,
            end_user: self.sign_in("eve@contoso.com", PASSWORD).await,
            end_user_id: end_user.id,
            token: token(&self.account, false).await,
            read_only_token: token(&self.account, true).await,
            other_token: token(&self.other, false).await,
        }
    }

    /// Signs in through the API; panics unless it succeeds.
    pub async fn sign_in(&self, email: &str, password: &str) -> As {
        let reply = self
            .call(
                &As::Nobody,
                Method::POST,
                "/api/v1/session",
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let cookie = reply
            .headers
            .get(header::SET_COOKIE)
            .expect("a session cookie")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        As::Session {
            cookie,
            csrf: reply.field("csrf_token").as_str().unwrap().to_owned(),
        }
    }

    /// One request through the router, as `caller`. Sessions send their CSRF token.
    pub async fn call(&self, caller: &As, method: Method, path: &str, body: Option<Json>) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        match caller {
            As::Nobody => {}
            As::Session { cookie, csrf } => {
                request = request
                    .header(header::COOKIE, cookie)
                    .header("x-csrf-token", csrf);
            }
            As::Bearer(token) => {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.send(request).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A path under the account `contoso`.
    pub fn path(&self, tail: &str) -> String {
        format!("/api/v1/accounts/{}{tail}", self.account.name)
    }

    /// Waits for a run started through the API to finish, and returns it.
    pub async fn finished_run(&self, caller: &As, run_id: &str) -> Reply {
        for _ in 0..400 {
            let reply = self
                .call(
                    caller,
                    Method::GET,
                    &self.path(&format!("/runs/{run_id}")),
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            if reply.field("status") != "running" {
                return reply;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the run {run_id} did not finish in 20 s");
    }
}

/// A console page as a browser receives it.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    /// Where a redirect sends the browser.
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
    }

    /// Panics, showing the page, unless it contains `text`.
    pub fn assert_contains(&self, text: &str) {
        assert!(
            self.html.contains(text),
            "the page ({}) does not contain {text:?}:\n{}",
            self.status,
            self.html
        );
    }
}

/// Whether a console form carries its session's CSRF token, as the console's own forms do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csrf {
    Field,
    Missing,
}

impl TestApp {
    /// A console page as `caller` sees it.
    pub async fn page(&self, caller: &As, path: &str) -> Page {
        let mut request = Request::builder().method(Method::GET).uri(path);
        if let As::Session { cookie, .. } = caller {
            request = request.header(header::COOKIE, cookie);
        }
        self.browse(request.body(Body::empty()).unwrap()).await
    }

    /// Submits a console form as a browser without JavaScript does: urlencoded, the CSRF token
    /// (when `csrf` says so) in the `csrf_token` field, no `X-CSRF-Token` header.
    pub async fn submit(
        &self,
        caller: &As,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Csrf,
    ) -> Page {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let As::Session {
            cookie,
            csrf: token,
        } = caller
        {
            request = request.header(header::COOKIE, cookie);
            if csrf == Csrf::Field {
                form.append_pair("csrf_token", token);
            }
        }
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        self.browse(request.body(Body::from(form.finish())).unwrap())
            .await
    }

    pub async fn browse(&self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Page {
            status,
            headers,
            html: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

/// A directory user of the account `contoso`, as a sync adds it.
pub fn directory_user(id: &str, primary: &str) -> ChangeAction {
    ChangeAction::AddUser {
        external_id: id.parse().unwrap(),
        fields: UserFields {
            primary_address: primary.parse().unwrap(),
            aliases: Vec::new(),
            first_name: None,
            last_name: None,
            display_name: None,
        },
        role: NewUserRole::EndUser,
    }
}

/// A distribution group of `contoso` with its direct members, as a sync adds it.
pub fn directory_group(id: &str, name: &str, users: &[&str], groups: &[&str]) -> ChangeAction {
    ChangeAction::AddGroup {
        external_id: id.parse().unwrap(),
        fields: GroupFields {
            name: name.to_owned(),
            kind: GroupKind::Distribution,
            address: Some(
                format!("{}@contoso.com", name.to_lowercase())
                    .parse()
                    .unwrap(),
            ),
            aliases: Vec::new(),
        },
        members: GroupMembers {
            users: users.iter().map(|u| u.parse().unwrap()).collect(),
            groups: groups.iter().map(|g| g.parse().unwrap()).collect(),
        },
    }
}
