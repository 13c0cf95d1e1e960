//! A local stand-in for the login and Graph hosts (wiremock on 127.0.0.1), and helpers to
//! read through the client into a mirror.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use roster_domain::{Cloud, ConnectionSettings, DirectoryGroup, DirectoryUser, ExternalId};
use roster_graph::{
    ClientOptions, DeltaLinks, DirectoryEvent, DirectoryRead, GraphClient, GraphError, Priority,
    ReadStep, RetryPolicy,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

pub const TENANT: &str = "contoso.com";
pub const CLIENT_ID: &str = "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
/// A secret that must never appear in any message, log or Debug output.
pub const SECRET: &str = "Zq8~secret.VALUE.never-shown";

/// A JWT whose payload carries `roles` (or no roles claim at all).
pub fn jwt(roles: Option<&[&str]>) -> String {
    let claims = match roles {
        Some(roles) => json!({ "aud": "https://graph.microsoft.com", "roles": roles }),
        None => json!({ "aud": "https://graph.microsoft.com" }),
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The access token the test tenant hands out.
pub fn granted_token() -> String {
    jwt(Some(&["Directory.Read.All"]))
}

pub fn token_body(access_token: &str) -> Value {
    json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access_token })
}

/// Fast retries, so that tests of waiting do not wait long.
pub fn options() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts: 5,
            max_total: Duration::from_secs(20),
            first_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(2),
        },
        ..ClientOptions::new(Priority::Low)
    }
}

pub struct Tenant {
    pub server: MockServer,
}

impl Tenant {
    /// A tenant whose token endpoint grants Directory.Read.All.
    pub async fn start() -> Self {
        let tenant = Self::without_token().await;
        tenant
            .token_response(ResponseTemplate::new(200).set_body_json(token_body(&granted_token())))
            .await;
        tenant
    }

    /// A tenant with nothing mounted yet.
    pub async fn without_token() -> Self {
        Self {
            server: MockServer::start().await,
        }
    }

    pub async fn token_response(&self, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    pub fn settings(&self) -> ConnectionSettings {
        connection_settings(TENANT, CLIENT_ID, &self.server.uri(), &self.server.uri())
    }

    pub fn client(&self) -> GraphClient {
        self.client_with(options())
    }

    pub fn client_with(&self, options: ClientOptions) -> GraphClient {
        GraphClient::new(&self.settings(), SecretString::from(SECRET), options)
            .expect("the client builds")
    }

    /// The absolute URL of a Graph v1.0 path, as a nextLink or deltaLink names it.
    pub fn link(&self, path_and_query: &str) -> String {
        format!("{}/v1.0{path_and_query}", self.server.uri())
    }

    /// Serves `body` for GET `path` (under /v1.0) with the given query parameters.
    pub async fn get(&self, graph_path: &str, query: &[(&str, &str)], response: ResponseTemplate) {
        let mut mock: MockBuilder =
            Mock::given(method("GET")).and(path(format!("/v1.0{graph_path}")));
        for (key, value) in query {
            mock = mock.and(query_param(*key, *value));
        }
        mock.respond_with(response).mount(&self.server).await;
    }

    /// Links for a delta round served by [`Tenant::get`] under `/users/delta` and `/groups/delta`.
    pub fn delta_links(&self, users_token: &str, groups_token: &str) -> DeltaLinks {
        DeltaLinks {
            users: self
                .link(&format!("/users/delta?$deltatoken={users_token}"))
                .parse()
                .expect("a URL"),
            groups: self
                .link(&format!("/groups/delta?$deltatoken={groups_token}"))
                .parse()
                .expect("a URL"),
        }
    }

    /// A tenant with no users and one group, `g1`, whose members the caller serves.
    pub async fn with_one_group() -> Self {
        let tenant = Self::start().await;
        tenant.latest_links().await;
        tenant.get("/users", &[], ok(json!({"value": []}))).await;
        tenant
            .get("/groups", &[], ok(json!({"value": [{"id": "g1"}]})))
            .await;
        tenant
    }

    /// Answers the first `http_method` request to `graph_path` with `response`; later ones go
    /// to the mocks mounted otherwise.
    pub async fn once(&self, http_method: &str, graph_path: &str, response: ResponseTemplate) {
        Mock::given(method(http_method))
            .and(path(format!("/v1.0{graph_path}")))
            .respond_with(response)
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Delta rounds for users and groups that end at once, with new links.
    pub async fn quiet_delta_rounds(&self) {
        self.quiet_delta_round("users").await;
        self.quiet_delta_round("groups").await;
    }

    /// A delta round for `kind` (users or groups) that ends at once, with a new link.
    pub async fn quiet_delta_round(&self, kind: &str) {
        let body = json!({ "value": [], "@odata.deltaLink": self.link(&format!("/{kind}/delta?$deltatoken={kind}-next")) });
        self.get(&format!("/{kind}/delta"), &[], ok(body)).await;
    }

    /// Mounts empty delta rounds answering `$deltatoken=latest` for users and groups.
    pub async fn latest_links(&self) {
        for kind in ["users", "groups"] {
            let body = json!({ "@odata.deltaLink": self.link(&format!("/{kind}/delta?$deltatoken={kind}-latest")), "value": [] });
            self.get(
                &format!("/{kind}/delta"),
                &[("$deltatoken", "latest")],
                ok(body),
            )
            .await;
        }
    }
}

/// Saved connection settings for a tenant served on loopback.
pub fn connection_settings(
    tenant: &str,
    client_id: &str,
    login_url: &str,
    graph_url: &str,
) -> ConnectionSettings {
    ConnectionSettings {
        tenant: tenant.parse().expect("a valid tenant"),
        client_id: client_id.parse().expect("a valid client id"),
        cloud: Cloud::custom(login_url, graph_url).expect("loopback URLs"),
        default_role: Default::default(),
        scope: Default::default(),
        actions: Default::default(),
        frequency: Default::default(),
        deletion_limit: Default::default(),
        include_sign_in_blocked: false,
        key_expires_on: None,
    }
}

pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A verbatim sample of Microsoft's documentation (testdata/graph-samples).
pub fn sample(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/graph-samples");
    std::fs::read_to_string(format!("{dir}/{name}.json"))
        .unwrap_or_else(|e| panic!("sample {name}: {e}"))
}

/// Every event of a read, and the links it finished with.
pub async fn read_all(
    mut read: DirectoryRead,
) -> Result<(Vec<DirectoryEvent>, DeltaLinks), GraphError> {
    let mut events = Vec::new();
    loop {
        match read.next().await? {
            ReadStep::Page(page) => events.extend(page),
            ReadStep::Finished(links) => return Ok((events, links)),
        }
    }
}

/// The mirror a sequence of events builds.
#[derive(Debug, Default)]
pub struct Mirror {
    pub users: BTreeMap<ExternalId, DirectoryUser>,
    pub groups: BTreeMap<ExternalId, DirectoryGroup>,
}

impl Mirror {
    pub fn apply(&mut self, events: impl IntoIterator<Item = DirectoryEvent>) {
        for event in events {
            match event {
                DirectoryEvent::User(patch) => {
                    let id = patch.id.clone();
                    let user = patch.apply(self.users.remove(&id));
                    self.users.insert(id, user);
                }
                DirectoryEvent::UserRemoved(removal) => {
                    self.users.remove(&removal.id);
                }
                DirectoryEvent::Group(patch) => {
                    let id = patch.id.clone();
                    let group = patch.apply(self.groups.remove(&id));
                    self.groups.insert(id, group);
                }
                DirectoryEvent::GroupRemoved(removal) => {
                    self.groups.remove(&removal.id);
                }
            }
        }
    }
}

pub fn id(text: &str) -> ExternalId {
    text.parse().expect("a valid id")
}

/// Asserts that neither the secret nor the token leaks into an error's text or Debug.
pub fn assert_no_secret(error: &GraphError) {
    let shown = format!("{error} {error:?} {}", error.fix());
    assert!(!shown.contains(SECRET), "the secret leaked: {shown}");
    assert!(
        !shown.contains(&granted_token()),
        "the token leaked: {shown}"
    );
}

/// A `$batch` endpoint answering each item from a table of relative URLs; an item whose URL
/// is listed in `throttle_once` is answered 429 the first time it is asked for.
pub struct BatchGraph {
    pub pages: BTreeMap<String, (u16, Value)>,
    pub throttle_once: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl BatchGraph {
    pub fn new(pages: impl IntoIterator<Item = (String, (u16, Value))>) -> Self {
        Self {
            pages: pages.into_iter().collect(),
            throttle_once: Default::default(),
        }
    }

    pub fn throttling_once(self, urls: &[&str]) -> Self {
        *self.throttle_once.lock().unwrap() = urls.iter().map(|url| url.to_string()).collect();
        self
    }

    pub async fn mount(self, tenant: &Tenant) {
        Mock::given(method("POST"))
            .and(path("/v1.0/$batch"))
            .respond_with(self)
            .mount(&tenant.server)
            .await;
    }
}

impl wiremock::Respond for BatchGraph {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON batch");
        let requests = body["requests"].as_array().expect("a requests array");
        assert!(
            requests.len() <= 20,
            "Graph allows at most 20 requests per batch"
        );
        let responses: Vec<Value> = requests
            .iter()
            .map(|item| {
                let url = item["url"].as_str().expect("a relative url");
                assert!(url.starts_with('/'), "batch URLs are relative: {url}");
                if self.throttle_once.lock().unwrap().remove(url) {
                    let throttled: Value = serde_json::from_str(&sample("error-429-throttled")).unwrap();
                    return json!({"id": item["id"], "status": 429, "headers": {"Retry-After": "0.05"}, "body": throttled});
                }
                let (status, body) = self.pages.get(url).cloned().unwrap_or((
                    404,
                    json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource does not exist."}}),
                ));
                json!({"id": item["id"], "status": status, "headers": {"Content-Type": "application/json"}, "body": body})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
    }
}

/// The relative URL of the first page of a group's members, as the client asks for it.
pub fn members_url(group: &str) -> String {
    format!("/groups/{group}/members?$select=id&$top=999")
}
