//! The Entra ID side: the v2.0 token endpoint (client credentials), the OpenID discovery document
//! MSAL fetches, and the JWT access tokens Graph later checks.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::assertion::{self, Expected, JWT_BEARER};
use crate::clock;
use crate::server::Shared;
use crate::tenant::{Application, Tenant, lock};

/// The HS256 key the simulator signs access tokens with (derived from the seed, so two
/// simulators with one seed accept each other's signatures and differ only in audience).
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    pub fn from_seed(seed: u64) -> Self {
        use sha2::Digest;
        Self(Sha256::digest(format!("roster-sim signing key {seed}")).into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        let header = json!({"typ": "JWT", "alg": "HS256", "kid": "roster-sim"});
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Checks a bearer token the way Graph does: shape, signature, lifetime, then audience.
    pub fn verify(
        &self,
        token: &str,
        audience: &str,
        now: i64,
    ) -> Result<AccessClaims, TokenRejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Malformed);
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenRejection::Malformed)?;
        let claims: AccessClaims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenRejection::Malformed)?;
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenRejection::BadSignature)?;
        if now < claims.nbf || now >= claims.exp {
            return Err(TokenRejection::Expired);
        }
        if claims.aud != audience {
            return Err(TokenRejection::WrongAudience);
        }
        Ok(claims)
    }
}

/// Why Graph refused a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Missing,
    Malformed,
    BadSignature,
    Expired,
    WrongAudience,
}

/// The claims of an app-only access token, named as Entra names them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub app_displayname: String,
    pub appid: String,
    pub appidacr: String,
    pub idtyp: String,
    pub oid: String,
    /// Absent when no application permission has been consented (Entra still issues the token).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: String,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/common/discovery/instance", get(instance_discovery))
        .with_state(shared)
}

/// A token endpoint error, in Entra's body shape.
#[derive(Debug)]
struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
}

impl AadError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    fn into_response(self, correlation_id: String) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let timestamp = clock::token_error_timestamp();
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store, no-cache")],
            axum::Json(body),
        )
            .into_response()
    }
}

fn correlation_id(headers: &HeaderMap) -> String {
    headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Is `name` shaped like a tenant: a GUID or a DNS name? (AADSTS900023 otherwise.)
fn is_tenant_shaped(name: &str) -> bool {
    if uuid::Uuid::parse_str(name).is_ok() {
        return true;
    }
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `/common`, `/organizations` and `/consumers` (canonical spelling): authorities that stand for
/// many tenants. They have discovery documents, but client credentials cannot use them.
fn multi_tenant_alias(name: &str) -> Option<&'static str> {
    ["common", "organizations", "consumers"]
        .into_iter()
        .find(|alias| alias.eq_ignore_ascii_case(name))
}

/// Resolves the `{tenant}` path segment, with Entra's errors for the ways it can be wrong.
fn resolve_tenant<'a>(shared: &'a Shared, name: &str) -> Result<&'a Arc<Tenant>, AadError> {
    if multi_tenant_alias(name).is_some() {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9001023,
            "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
        ));
    }
    if uuid::Uuid::parse_str(name).is_ok_and(|id| id.is_nil()) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            format!(
                "Requested tenant identifier '{name}' is not valid. Tenant identifiers may not be an empty GUID."
            ),
        ));
    }
    if !is_tenant_shaped(name) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900023,
            format!(
                "Specified tenant identifier '{name}' is neither a valid DNS name, nor a valid external domain."
            ),
        ));
    }
    shared.tenants.iter().find(|t| t.answers_to(name)).ok_or_else(|| {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            format!(
                "Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    })
}

/// The client credentials of a request: from the form, or from HTTP Basic (RFC 6749 §2.3.1,
/// where both halves are form-urlencoded before base64).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant_name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let correlation = correlation_id(&headers);
    match issue_token(&shared, &tenant_name, &headers, &body) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store, no-cache")],
            axum::Json(body),
        )
            .into_response(),
        Err(error) => error.into_response(correlation),
    }
}

fn issue_token(
    shared: &Shared,
    tenant_name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, AadError> {
    let tenant = resolve_tenant(shared, tenant_name)?;
    tenant.count_request("POST /oauth2/v2.0/token");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let basic = basic_credentials(headers);

    let grant_type =
        field("grant_type").ok_or_else(|| AadError::missing_parameter("grant_type"))?;
    if grant_type != "client_credentials" {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!(
                "The app requested an unsupported grant type '{grant_type}'. This simulated tenant supports client_credentials only."
            ),
        ));
    }
    let client_id = field("client_id")
        .map(str::to_owned)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| AadError::missing_parameter("client_id"))?;
    let app = lock(&tenant.app).clone();
    if !app.client_id.eq_ignore_ascii_case(&client_id) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    let scope = field("scope").ok_or_else(|| AadError::missing_parameter("scope"))?;
    let expected_scope = format!("{}/.default", shared.urls.graph);
    // Graph is the same resource whichever host serves it, so its well-known identifiers (the
    // ones Microsoft's SDKs default to) name this simulator's Graph too.
    let graph_scopes = [
        expected_scope.as_str(),
        "https://graph.microsoft.com/.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ];
    let requested: Vec<&str> = scope.split_whitespace().collect();
    if !matches!(requested.as_slice(), [one] if graph_scopes.iter().any(|s| s.eq_ignore_ascii_case(one)))
    {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. Client credentials need exactly '{expected_scope}'."
            ),
        ));
    }
    let now = clock::now_unix();
    if let Some(assertion_type) = field("client_assertion_type") {
        let assertion = field("client_assertion")
            .ok_or_else(|| AadError::missing_parameter("client_assertion"))?;
        check_assertion(shared, tenant, &app, assertion_type, assertion)?;
    } else {
        check_secret(&app, field("client_secret"), basic, now)?;
    }
    let lifetime = tenant.settings().access_token_lifetime_secs as i64;
    let claims = AccessClaims {
        aud: shared.urls.graph.clone(),
        iss: format!("{}/{}/v2.0", shared.urls.login, tenant.tenant_id),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        app_displayname: app.display_name.clone(),
        appid: app.client_id.clone(),
        appidacr: "1".to_owned(),
        idtyp: "app".to_owned(),
        oid: app.service_principal_id.clone(),
        roles: app.roles.iter().cloned().collect(),
        sub: app.service_principal_id.clone(),
        tid: tenant.tenant_id.clone(),
        uti: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        ver: "1.0".to_owned(),
    };
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": shared.key.sign(&claims),
    }))
}

/// The client secret from the form or HTTP Basic must be one of the app's, and not expired.
fn check_secret(
    app: &Application,
    form_secret: Option<&str>,
    basic: Option<(String, String)>,
    now: i64,
) -> Result<(), AadError> {
    let secret = form_secret.map(str::to_owned).or_else(|| basic.map(|(_, secret)| secret)).ok_or_else(|| {
        AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    let matching = app.secrets.iter().find(|s| s.value == secret).ok_or_else(|| {
        AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
        )
    })?;
    if matching.expires_at_unix <= now {
        return Err(AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                app.client_id
            ),
        ));
    }
    Ok(())
}

/// A client assertion must be of the JWT bearer type and pass Entra's checks
/// (see `assertion.rs`).
fn check_assertion(
    shared: &Shared,
    tenant: &Tenant,
    app: &Application,
    assertion_type: &str,
    assertion: &str,
) -> Result<(), AadError> {
    if assertion_type != JWT_BEARER {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            format!(
                "JWT token is invalid or malformed: the client_assertion_type '{assertion_type}' is not supported; use '{JWT_BEARER}'."
            ),
        ));
    }
    let login = shared.urls.login.trim_end_matches('/');
    let is_token_endpoint = |audience: &str| {
        let Some(rest) = audience.trim_end_matches('/').strip_prefix(login) else {
            return false;
        };
        let mut segments = rest.trim_start_matches('/').splitn(2, '/');
        let (Some(realm), Some(path)) = (segments.next(), segments.next()) else {
            return false;
        };
        tenant.answers_to(realm) && (path == "oauth2/v2.0/token" || path == "oauth2/token")
    };
    let expected = Expected {
        client_id: &app.client_id,
        is_token_endpoint: &is_token_endpoint,
        certificates: &app.certificates,
    };
    assertion::verify(assertion, &expected, &mut lock(&tenant.seen_assertions)).map_err(|refusal| {
        let (code, error, message) = refusal.describe(&app.client_id);
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        AadError::new(status, error, code, message)
    })
}

async fn openid_configuration(
    State(shared): State<Arc<Shared>>,
    Path(tenant_name): Path<String>,
    headers: HeaderMap,
) -> Response {
    // As at Entra, a multi-tenant alias has a document whose endpoints keep the alias and whose
    // issuer is the template `{tenantid}`; MSAL reads it before any token request, so a client
    // configured with `/common` learns of AADSTS9001023 from the token endpoint, not here.
    let (id, issuer_tenant, region) = match multi_tenant_alias(&tenant_name) {
        Some(alias) => (alias.to_owned(), "{tenantid}".to_owned(), Value::Null),
        None => match resolve_tenant(&shared, &tenant_name) {
            Ok(tenant) => {
                tenant.count_request("GET /v2.0/.well-known/openid-configuration");
                let id = tenant.tenant_id.clone();
                (id.clone(), id, json!("NA"))
            }
            Err(error) => return error.into_response(correlation_id(&headers)),
        },
    };
    let login = &shared.urls.login;
    axum::Json(json!({
        "token_endpoint": format!("{login}/{id}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{login}/{id}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{login}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{}/oidc/userinfo", shared.urls.graph),
        "authorization_endpoint": format!("{login}/{id}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{login}/{id}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{login}/{id}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{login}/{id}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": shared.urls.graph_host(),
        "rbac_url": "https://pas.windows.net",
    }))
    .into_response()
}

/// The signing keys document. Tokens here are HS256 with a private key, so no public key is
/// published; clients of an app-only flow never validate access tokens themselves.
async fn keys() -> Response {
    axum::Json(json!({"keys": []})).into_response()
}

#[derive(Deserialize)]
struct InstanceDiscoveryQuery {
    authorization_endpoint: Option<String>,
}

/// MSAL's instance discovery: is the authority in `authorization_endpoint` one this login host
/// serves, and where is its tenant's OpenID configuration?
///
/// As at Entra, the tenant is the first path segment and only the host is compared: MSAL
/// Python sends the authority's host without its port (`https://127.0.0.1/{tenant}/oauth2/…`),
/// and a host that is not this one is AADSTS50049 `invalid_instance`.
async fn instance_discovery(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<InstanceDiscoveryQuery>,
) -> Response {
    let login = &shared.urls.login;
    let login_host = url::Url::parse(login)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned));
    let tenant = match query.authorization_endpoint.as_deref() {
        None => "common".to_owned(),
        Some(endpoint) => match url::Url::parse(endpoint) {
            Ok(endpoint)
                if endpoint.host_str().is_some()
                    && endpoint.host_str() == login_host.as_deref() =>
            {
                endpoint
                    .path_segments()
                    .and_then(|mut segments| segments.next())
                    .filter(|segment| !segment.is_empty())
                    .unwrap_or("common")
                    .to_owned()
            }
            _ => {
                return AadError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_instance",
                    50049,
                    "Unknown or invalid instance.",
                )
                .into_response(correlation_id(&headers));
            }
        },
    };
    let host = login
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    axum::Json(json!({
        "tenant_discovery_endpoint": format!("{login}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }))
    .into_response()
}
