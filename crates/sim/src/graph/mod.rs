//! Microsoft Graph v1.0, as far as a directory sync uses it.
//!
//! Every request, whether it arrived over HTTP or as an item of a `$batch`, goes through
//! [`serve`]: route, authenticate, count, add latency, inject faults, charge the throttling
//! budget, check permissions, then answer. That is what makes batch items behave like requests.

mod batch;
mod collections;
mod delta;
pub mod error;
pub mod query;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock;
use crate::model::ObjectKind;
use crate::server::Shared;
use crate::tenant::{BudgetVerdict, Tenant};
use crate::token::{AccessClaims, TokenRejection};
use error::GraphError;
use query::QueryOptions;

/// The content type Graph answers JSON with.
const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Largest request body accepted (a `$batch` of 20 requests is far smaller).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A Graph request, from HTTP or from a batch item.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A Graph response before it becomes HTTP (or a batch item).
#[derive(Debug)]
pub struct GraphReply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Simulate a connection that breaks mid-response.
    pub drop_connection: bool,
}

impl GraphReply {
    pub fn json(body: Vec<u8>) -> Self {
        Self {
            status: StatusCode::OK,
            headers: vec![
                ("Content-Type".to_owned(), ODATA_JSON.to_owned()),
                ("OData-Version".to_owned(), "4.0".to_owned()),
                ("Cache-Control".to_owned(), "no-cache".to_owned()),
            ],
            body,
            drop_connection: false,
        }
    }

    fn dropped() -> Self {
        Self {
            status: StatusCode::OK,
            headers: Vec::new(),
            body: Vec::new(),
            drop_connection: true,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl IntoResponse for GraphReply {
    fn into_response(self) -> Response {
        let body = if self.drop_connection {
            // Headers go out, then the body fails: the client sees the connection break.
            let failure = std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulated dropped connection",
            );
            Body::from_stream(futures_util::stream::once(async move {
                Err::<Bytes, _>(failure)
            }))
        } else {
            Body::from(self.body)
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::try_from(name),
                axum::http::HeaderValue::try_from(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(entry).with_state(shared)
}

async fn entry(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return GraphError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request_BadRequest",
                "The request body is too large.",
            )
            .into_reply("", "")
            .into_response();
        }
    };
    let request = GraphRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
    };
    serve(&shared, &request, Nesting::TopLevel)
        .await
        .into_response()
}

/// Whether a request came over HTTP or inside a batch (latency is per HTTP request, and a
/// batch item cannot drop a connection or hold another batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    TopLevel,
    BatchItem,
}

pub async fn serve(shared: &Shared, request: &GraphRequest, nesting: Nesting) -> GraphReply {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = header(&request.headers, "client-request-id")
        .unwrap_or(&request_id)
        .to_owned();
    let mut extra_headers = Vec::new();
    let mut reply = match process(shared, request, nesting, &mut extra_headers).await {
        Ok(reply) => reply,
        Err(error) => error.into_reply(&request_id, &client_request_id),
    };
    reply.headers.extend(extra_headers);
    reply.headers.push(("request-id".to_owned(), request_id));
    reply
        .headers
        .push(("client-request-id".to_owned(), client_request_id));
    reply
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The endpoints served.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    List(ObjectKind),
    Count(ObjectKind),
    Delta(ObjectKind),
    One(ObjectKind, String),
    Members(String),
    TransitiveMembers(String),
    Domains,
    Domain(String),
    Batch,
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_delta_segment(segment: &str) -> bool {
    matches!(
        segment,
        "delta" | "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()"
    )
}

impl Route {
    fn parse(method: &Method, path: &str) -> Result<Self, GraphError> {
        let rest = path.strip_prefix("/v1.0").ok_or_else(|| {
            let version = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default();
            GraphError::bad_request_code(
                "BadRequest",
                format!("Invalid version: {version}. This simulated tenant serves v1.0."),
            )
        })?;
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let collection = match segments.first() {
            Some(&"users") => Some(ObjectKind::User),
            Some(&"groups") => Some(ObjectKind::Group),
            _ => None,
        };
        let route = match (collection, segments.as_slice()) {
            (_, ["$batch"]) => Route::Batch,
            (_, ["domains"]) => Route::Domains,
            (_, ["domains", name]) => Route::Domain((*name).to_owned()),
            (_, ["groups", id, "members"]) => Route::Members((*id).to_owned()),
            (_, ["groups", id, "transitiveMembers"]) => Route::TransitiveMembers((*id).to_owned()),
            (Some(kind), [_]) => Route::List(kind),
            (Some(kind), [_, "$count"]) => Route::Count(kind),
            (Some(kind), [_, segment]) if is_delta_segment(segment) => Route::Delta(kind),
            (Some(kind), [_, id]) => Route::One(kind, (*id).to_owned()),
            (_, []) => return Err(GraphError::unknown_segment("v1.0")),
            (_, other) => {
                return Err(GraphError::unknown_segment(
                    other.last().copied().unwrap_or_default(),
                ));
            }
        };
        let allowed = if route == Route::Batch {
            Method::POST
        } else {
            Method::GET
        };
        if *method != allowed {
            return Err(GraphError::method_not_allowed());
        }
        Ok(route)
    }

    /// The key under which the control API counts requests.
    fn label(&self) -> &'static str {
        match self {
            Route::List(ObjectKind::User) => "GET /v1.0/users",
            Route::List(_) => "GET /v1.0/groups",
            Route::Count(ObjectKind::User) => "GET /v1.0/users/$count",
            Route::Count(_) => "GET /v1.0/groups/$count",
            Route::Delta(ObjectKind::User) => "GET /v1.0/users/delta",
            Route::Delta(_) => "GET /v1.0/groups/delta",
            Route::One(ObjectKind::User, _) => "GET /v1.0/users/{id}",
            Route::One(_, _) => "GET /v1.0/groups/{id}",
            Route::Members(_) => "GET /v1.0/groups/{id}/members",
            Route::TransitiveMembers(_) => "GET /v1.0/groups/{id}/transitiveMembers",
            Route::Domains => "GET /v1.0/domains",
            Route::Domain(_) => "GET /v1.0/domains/{id}",
            Route::Batch => "POST /v1.0/$batch",
        }
    }

    /// Resource units (graph-protocol.md §5): base cost, `$select` −1, `$top` < 20 −1, at least 1.
    fn cost(&self, options: &QueryOptions) -> f64 {
        let base: i32 = match self {
            Route::List(ObjectKind::User)
            | Route::Delta(ObjectKind::User)
            | Route::Count(ObjectKind::User) => 2,
            Route::Members(_) => 3,
            Route::TransitiveMembers(_) => 5,
            _ => 1,
        };
        let select = if options.select.is_some() { 1 } else { 0 };
        let small_top = match options.top.as_deref().map(str::parse::<i64>) {
            Some(Ok(top)) if top < 20 => 1,
            _ => 0,
        };
        f64::from((base - select - small_top).max(1))
    }

    /// Application permissions that each grant access (any one suffices).
    fn accepted_roles(&self) -> &'static [&'static str] {
        const USERS: &[&str] = &[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ];
        const GROUPS: &[&str] = &[
            "Group.Read.All",
            "Group.ReadWrite.All",
            "GroupMember.Read.All",
            "GroupMember.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ];
        const DOMAINS: &[&str] = &[
            "Domain.Read.All",
            "Domain.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ];
        match self {
            Route::List(ObjectKind::User)
            | Route::Count(ObjectKind::User)
            | Route::Delta(ObjectKind::User)
            | Route::One(ObjectKind::User, _) => USERS,
            Route::Domains | Route::Domain(_) => DOMAINS,
            Route::Batch => &[],
            _ => GROUPS,
        }
    }
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<AccessClaims, GraphError> {
    let token = header(headers, "authorization")
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let result = match token {
        Some(token) => shared
            .key
            .verify(token, &shared.urls.graph, clock::now_unix()),
        None => Err(TokenRejection::Missing),
    };
    result.map_err(|rejection| {
        GraphError::unauthenticated(match rejection {
            TokenRejection::Missing => "Access token is empty.",
            TokenRejection::Malformed => "CompactToken parsing failed with error code: 80049217",
            TokenRejection::BadSignature => "Access token validation failure.",
            TokenRejection::Expired => "Access token has expired or is not yet valid.",
            TokenRejection::WrongAudience => "Access token validation failure. Invalid audience.",
        })
    })
}

enum Fault {
    Throttle(Duration),
    Unavailable,
    DropConnection,
}

/// Draws the next fault decision from the tenant's seeded generator.
fn draw_fault(tenant: &Tenant, rate: f64) -> Option<Fault> {
    if rate <= 0.0 {
        return None;
    }
    let mut rng = tenant.fault_rng();
    if rng.random::<f64>() >= rate {
        return None;
    }
    Some(match rng.random_range(0..3) {
        0 => Fault::Throttle(Duration::from_millis(rng.random_range(10..100) * 10)),
        1 => Fault::Unavailable,
        _ => Fault::DropConnection,
    })
}

/// One request being answered: what handlers need to know.
pub struct Call<'a> {
    pub shared: &'a Shared,
    pub tenant: &'a Tenant,
    pub request: &'a GraphRequest,
    pub options: QueryOptions,
}

impl Call<'_> {
    /// `{graph}/v1.0/$metadata#{fragment}`
    pub fn context(&self, fragment: &str) -> String {
        format!("{}/v1.0/$metadata#{fragment}", self.shared.urls.graph)
    }

    /// The Graph URL of this request's path with the original query options, except
    /// `$skiptoken`, which is replaced.
    pub fn next_link(&self, skiptoken: &str) -> String {
        let mut query: Vec<String> = self
            .options
            .pairs
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("$skiptoken"))
            .map(|(name, value)| {
                format!("{}={}", encode_query_part(name), encode_query_part(value))
            })
            .collect();
        query.push(format!("$skiptoken={skiptoken}"));
        format!(
            "{}{}?{}",
            self.shared.urls.graph,
            self.request.path,
            query.join("&")
        )
    }
}

/// Percent-encodes a query name or value, keeping the characters OData URLs show literally.
pub fn encode_query_part(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for byte in part.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b','
            | b'('
            | b')'
            | b'\''
            | b':'
            | b'/'
            | b'@'
            | b'=' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Encodes a paging or delta position as an opaque token.
pub fn encode_token<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

pub fn decode_token<T: DeserializeOwned>(token: &str) -> Option<T> {
    URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

async fn process(
    shared: &Shared,
    request: &GraphRequest,
    nesting: Nesting,
    extra_headers: &mut Vec<(String, String)>,
) -> Result<GraphReply, GraphError> {
    let route = Route::parse(&request.method, &request.path)?;
    if route == Route::Batch && nesting == Nesting::BatchItem {
        return Err(GraphError::bad_request_code(
            "BadRequest",
            "A batch request cannot contain another batch.",
        ));
    }
    let claims = authenticate(shared, &request.headers)?;
    let tenant = shared
        .tenants
        .iter()
        .find(|t| t.tenant_id == claims.tid)
        .ok_or_else(|| GraphError::unauthenticated("Access token validation failure."))?;
    tenant.count_request(route.label());
    let settings = tenant.settings();
    if nesting == Nesting::TopLevel && settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    if route != Route::Batch {
        match draw_fault(tenant, settings.fault_rate) {
            Some(Fault::Throttle(retry_after)) => {
                return Err(GraphError::throttled(retry_after, 2));
            }
            Some(Fault::Unavailable) => return Err(GraphError::unavailable()),
            Some(Fault::DropConnection) if nesting == Nesting::TopLevel => {
                return Ok(GraphReply::dropped());
            }
            Some(Fault::DropConnection) => return Err(GraphError::unavailable()),
            None => {}
        }
    }
    let eventual = header(&request.headers, "consistencylevel")
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let options = QueryOptions::parse(&request.query, eventual)?;
    if route != Route::Batch {
        let cost = route.cost(&options);
        extra_headers.push(("x-ms-resource-unit".to_owned(), cost.to_string()));
        if settings.throttle {
            match tenant.charge(cost) {
                BudgetVerdict::Allowed { used_fraction } if used_fraction > 0.8 => {
                    extra_headers.push((
                        "x-ms-throttle-limit-percentage".to_owned(),
                        format!("{used_fraction:.1}"),
                    ));
                }
                BudgetVerdict::Allowed { .. } => {}
                BudgetVerdict::Throttled { retry_after } => {
                    let app_id = &claims.appid;
                    return Err(GraphError::throttled(retry_after, 3)
                        .with_header(
                            "x-ms-throttle-scope",
                            format!("Tenant_Application/ReadWrite/{app_id}/{}", tenant.tenant_id),
                        )
                        .with_header("x-ms-throttle-information", "ResourceUnitLimitExceeded"));
                }
            }
        }
    }
    let accepted = route.accepted_roles();
    if !accepted.is_empty()
        && !claims
            .roles
            .iter()
            .any(|role| accepted.contains(&role.as_str()))
    {
        return Err(GraphError::forbidden());
    }
    let call = Call {
        shared,
        tenant,
        request,
        options,
    };
    match route {
        Route::List(kind) => collections::list(&call, kind),
        Route::Count(kind) => collections::count(&call, kind),
        Route::One(kind, key) => collections::one(&call, kind, &key),
        Route::Members(id) if tenant.take_members_not_found(&id) => Err(GraphError::not_found(&id)),
        Route::Members(id) => collections::members(&call, &id, false),
        Route::TransitiveMembers(id) => collections::members(&call, &id, true),
        Route::Domains => collections::domains(&call, None),
        Route::Domain(name) => collections::domains(&call, Some(&name)),
        Route::Delta(kind) => delta::delta(&call, kind),
        Route::Batch => batch::batch(&call).await,
    }
}
