//! Starting a simulator, getting a token and reading Graph the way a client does.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use roster_sim::{ControlClient, RunningSim, SimConfig, Simulator, TenantCredentials};
use serde_json::Value;

pub struct Harness {
    pub sim: RunningSim,
    pub http: reqwest::Client,
    pub token: String,
}

/// One Graph response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn values(&self) -> &Vec<Value> {
        self.body["value"]
            .as_array()
            .expect("a collection has a value array")
    }

    pub fn next_link(&self) -> Option<&str> {
        self.body["@odata.nextLink"].as_str()
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

pub fn config(users: usize, groups: usize, seed: u64) -> SimConfig {
    SimConfig {
        users,
        groups,
        seed,
        ..SimConfig::default()
    }
}

impl Harness {
    pub async fn start(config: SimConfig) -> Self {
        let sim = Simulator::start(config)
            .await
            .expect("the simulator starts");
        let http = reqwest::Client::new();
        let mut harness = Self {
            sim,
            http,
            token: String::new(),
        };
        harness.token = harness.fresh_token().await;
        harness
    }

    /// A small tenant most tests share the shape of.
    pub async fn small() -> Self {
        Self::start(config(120, 12, 11)).await
    }

    pub fn tenant(&self) -> &TenantCredentials {
        self.sim.tenant()
    }

    pub fn control(&self) -> ControlClient {
        self.sim.control()
    }

    pub fn scope(&self) -> String {
        format!("{}/.default", self.tenant().graph_url)
    }

    /// POSTs a form to `{login}/{tenant}/oauth2/v2.0/token`.
    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> Reply {
        let url = format!("{}/{tenant}/oauth2/v2.0/token", self.tenant().login_url);
        let response = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .expect("the token endpoint answers");
        read(response).await
    }

    pub async fn fresh_token(&self) -> String {
        let tenant = self.tenant().clone();
        let scope = self.scope();
        let reply = self
            .token_request(
                &tenant.tenant,
                &[
                    ("client_id", &tenant.client_id),
                    ("client_secret", &tenant.client_secret),
                    ("scope", &scope),
                    ("grant_type", "client_credentials"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body["access_token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            format!("{}/v1.0{path_and_query}", self.tenant().graph_url)
        }
    }

    /// GET with this harness's token; `path_and_query` is relative to /v1.0 or a full URL.
    pub async fn get(&self, path_and_query: &str) -> Reply {
        self.get_with(path_and_query, &[]).await
    }

    pub async fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .http
            .get(self.url(path_and_query))
            .bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.expect("Graph answers")).await
    }

    /// Follows nextLinks from `first` until a page without one; returns every page.
    pub async fn pages(&self, first: &str, headers: &[(&str, &str)]) -> Vec<Reply> {
        let mut pages = vec![self.get_with(first, headers).await];
        while let Some(next) = pages.last().and_then(|p| p.next_link().map(str::to_owned)) {
            assert_eq!(pages.last().map(|p| p.status), Some(StatusCode::OK));
            pages.push(self.get_with(&next, headers).await);
            assert!(pages.len() < 10_000, "paging does not end");
        }
        pages
    }

    /// All objects of a listing, across its pages.
    pub async fn all(&self, first: &str) -> Vec<Value> {
        self.pages(first, &[])
            .await
            .iter()
            .flat_map(|p| p.values().clone())
            .collect()
    }

    pub async fn post_batch(&self, body: &Value) -> Reply {
        let response = self
            .http
            .post(self.url("/$batch"))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("Graph answers");
        read(response).await
    }
}

/// Sends a request and reads its JSON body, for the few calls made outside a [`Harness`].
pub trait JsonBody {
    async fn json_body(self) -> Value;
}

impl JsonBody for reqwest::RequestBuilder {
    async fn json_body(self) -> Value {
        self.send()
            .await
            .expect("an answer")
            .json()
            .await
            .expect("a JSON body")
    }
}

/// Gets an access token for `credentials` through `http` (which may trust the TLS certificate).
pub async fn token_for(http: &reqwest::Client, credentials: &TenantCredentials) -> String {
    let scope = format!("{}/.default", credentials.graph_url);
    let form = [
        ("client_id", credentials.client_id.as_str()),
        ("client_secret", &credentials.client_secret),
        ("scope", &scope),
        ("grant_type", "client_credentials"),
    ];
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        credentials.login_url, credentials.tenant
    );
    let body = http.post(url).form(&form).json_body().await;
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a whole body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        headers,
        body,
    }
}

/// The payload of a JWT, decoded.
pub fn jwt_payload(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

pub fn ids(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| v["id"].as_str().expect("an id").to_owned())
        .collect()
}
