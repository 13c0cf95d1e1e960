//! The control API: JSON over HTTP for changing the simulated tenant from tests, the demo and
//! benchmarks. Every directory mutation is written to the change log that delta rounds replay.
//! The routes are documented in the crate's README.md.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::assertion::UploadedCertificate;
use crate::clock;
use crate::generate;
use crate::model::{
    Directory, DirectoryObject, GROUP_SCHEMA, Lifecycle, ObjectKind, ObjectRef, USER_SCHEMA, Value,
    ValueType,
};
use crate::server::{Shared, TenantCredentials};
use crate::tenant::{Settings, Tenant, lock};

/// A directory object as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectView {
    pub id: String,
    pub kind: ObjectKind,
    pub state: Lifecycle,
    /// Every property, by its Graph name.
    pub properties: Map<String, Json>,
    /// Direct member ids (groups only), including soft-deleted members.
    #[serde(default)]
    pub members: Vec<String>,
}

impl ObjectView {
    /// A property's value (`Null` when absent).
    pub fn property(&self, name: &str) -> &Json {
        self.properties.get(name).unwrap_or(&Json::Null)
    }
}

/// An overview of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSummary {
    pub tenant_id: String,
    pub default_domain: String,
    pub verified_domains: Vec<String>,
    pub unverified_domains: Vec<String>,
    pub client_id: String,
    pub roles: Vec<String>,
    /// Live users and groups.
    pub users: usize,
    pub groups: usize,
    /// Length of the change log.
    pub changes: usize,
}

/// Graph requests received, per endpoint (`"GET /v1.0/users"` …) and in total.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    pub total: u64,
    pub by_endpoint: BTreeMap<String, u64>,
}

impl RequestCounts {
    pub fn get(&self, endpoint: &str) -> u64 {
        self.by_endpoint.get(endpoint).copied().unwrap_or(0)
    }
}

/// The tenant's app registration as the control API shows it (secret values are not shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRegistration {
    pub client_id: String,
    pub display_name: String,
    /// Consented application permissions.
    pub roles: Vec<String>,
    pub secrets: Vec<SecretInfo>,
    /// Uploaded certificates, by SHA-1 thumbprint (hex).
    #[serde(default)]
    pub certificates: Vec<String>,
}

/// A certificate to upload to the app registration, as PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateUpload {
    pub pem: String,
}

/// An uploaded certificate's SHA-1 thumbprint (hex), as the admin center lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedThumbprint {
    pub thumbprint: String,
}

/// A client secret's ID (what admins often paste by mistake) and expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretInfo {
    pub secret_id: String,
    pub expires_at: String,
}

/// A newly issued client secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedSecret {
    pub client_secret: String,
    pub secret_id: String,
}

/// A partial update of the tenant's runtime settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_token_max_age_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime_secs: Option<u64>,
}

/// Members to add to and remove from a group, by object id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RolesBody {
    roles: Vec<String>,
}

/// A control API failure: `{"error":{"code","message"}}`.
#[derive(Debug)]
pub struct ControlFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ControlFailure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "badRequest", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "notFound", message)
    }

    fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
}

impl IntoResponse for ControlFailure {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

type Reply = Result<Response, ControlFailure>;

fn ok(value: impl Serialize) -> Reply {
    Ok(axum::Json(value).into_response())
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ControlFailure::bad_request(format!("the request body is not the expected JSON: {e}"))
    })
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/tenants", get(list_tenants))
        .route("/tenants/{tenant}", get(summary))
        .route("/tenants/{tenant}/app", get(app))
        .route("/tenants/{tenant}/app/secret/rotate", post(rotate_secret))
        .route("/tenants/{tenant}/app/secret/expire", post(expire_secret))
        .route("/tenants/{tenant}/app/roles", axum::routing::put(set_roles))
        .route(
            "/tenants/{tenant}/app/certificates",
            post(upload_certificate),
        )
        .route(
            "/tenants/{tenant}/app/certificates/{thumbprint}",
            axum::routing::delete(remove_certificate),
        )
        .route(
            "/tenants/{tenant}/app/roles/{role}",
            post(grant_role).delete(revoke_role),
        )
        .route(
            "/tenants/{tenant}/settings",
            get(settings).patch(update_settings),
        )
        .route(
            "/tenants/{tenant}/delta-tokens/expire",
            post(expire_delta_tokens),
        )
        .route(
            "/tenants/{tenant}/requests",
            get(request_counts).delete(reset_request_counts),
        )
        .route("/tenants/{tenant}/state/save", post(save_state))
        .route("/tenants/{tenant}/{collection}", post(create))
        .route(
            "/tenants/{tenant}/{collection}/{id}",
            get(read).patch(update).delete(soft_delete),
        )
        .route("/tenants/{tenant}/{collection}/{id}/{action}", post(act))
        .with_state(shared)
}

fn tenant<'a>(shared: &'a Shared, tenant_id: &str) -> Result<&'a Arc<Tenant>, ControlFailure> {
    shared.tenant_by_id(tenant_id).ok_or_else(|| {
        ControlFailure::not_found(format!(
            "no tenant '{tenant_id}' is served here; GET /tenants lists them"
        ))
    })
}

fn collection_kind(collection: &str) -> Result<ObjectKind, ControlFailure> {
    match collection {
        "users" => Ok(ObjectKind::User),
        "groups" => Ok(ObjectKind::Group),
        other => Err(ControlFailure::not_found(format!(
            "unknown collection '{other}'; use users or groups"
        ))),
    }
}

fn view(directory: &Directory, at: ObjectRef) -> ObjectView {
    let object = directory.get(at);
    let schema = at.kind.schema();
    let properties = schema
        .properties
        .iter()
        .zip(&object.values)
        .map(|(definition, value)| (definition.name.to_owned(), to_json(value)))
        .collect();
    let members = object
        .members
        .iter()
        .map(|m| directory.get(*m).id.clone())
        .collect();
    ObjectView {
        id: object.id.clone(),
        kind: at.kind,
        state: object.lifecycle,
        properties,
        members,
    }
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Text(s) => Json::String(s.clone()),
        Value::TextList(items) => Json::Array(items.iter().cloned().map(Json::String).collect()),
    }
}

/// Converts a JSON property value to the property's type.
fn from_json(kind: ObjectKind, name: &str, json: &Json) -> Result<(usize, Value), ControlFailure> {
    let schema = kind.schema();
    let position = schema.position(name).ok_or_else(|| {
        let known: Vec<&str> = schema.properties.iter().map(|p| p.name).collect();
        ControlFailure::bad_request(format!(
            "'{name}' is not a property of {}; known properties: {}",
            schema.kind_name,
            known.join(", ")
        ))
    })?;
    let value = match (schema.properties[position].value_type, json) {
        (ValueType::Text, Json::String(s)) => Value::Text(s.clone()),
        (ValueType::Bool, Json::Bool(b)) => Value::Bool(*b),
        (ValueType::Text | ValueType::Bool, Json::Null) => Value::Null,
        (ValueType::TextList, Json::Array(items)) => Value::TextList(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ControlFailure::bad_request(format!("'{name}' must be an array of strings"))
                })?,
        ),
        (value_type, _) => {
            return Err(ControlFailure::bad_request(format!(
                "'{name}' must be {}",
                match value_type {
                    ValueType::Text => "a string or null",
                    ValueType::Bool => "true, false or null",
                    ValueType::TextList =>
                        "an array of strings (collections are never null; use [])",
                }
            )));
        }
    };
    Ok((position, value))
}

fn properties(
    kind: ObjectKind,
    body: &Map<String, Json>,
    skip: &[&str],
) -> Result<Vec<(usize, Value)>, ControlFailure> {
    body.iter()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .map(|(name, json)| from_json(kind, name, json))
        .collect()
}

fn find(directory: &Directory, kind: ObjectKind, id: &str) -> Result<ObjectRef, ControlFailure> {
    directory
        .find(id)
        .filter(|at| at.kind == kind && directory.get(*at).lifecycle != Lifecycle::Purged)
        .ok_or_else(|| {
            ControlFailure::not_found(format!(
                "no {} with id '{id}' (permanently deleted objects are gone)",
                kind.entity_set()
            ))
        })
}

fn find_live(
    directory: &Directory,
    kind: ObjectKind,
    id: &str,
) -> Result<ObjectRef, ControlFailure> {
    let at = find(directory, kind, id)?;
    if directory.get(at).is_live() {
        Ok(at)
    } else {
        Err(ControlFailure::conflict(format!(
            "'{id}' is soft-deleted; restore it before changing it"
        )))
    }
}

async fn list_tenants(State(shared): State<Arc<Shared>>) -> Reply {
    ok(shared
        .tenants
        .iter()
        .map(|t| TenantCredentials::of(t, &shared.urls))
        .collect::<Vec<_>>())
}

async fn summary(State(shared): State<Arc<Shared>>, Path(tenant_id): Path<String>) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let directory = tenant.read();
    let app = lock(&tenant.app);
    let domains = |verified: bool| {
        tenant
            .domains
            .iter()
            .filter(|d| d.is_verified == verified)
            .map(|d| d.name.clone())
            .collect()
    };
    ok(TenantSummary {
        tenant_id: tenant.tenant_id.clone(),
        default_domain: tenant.default_domain().to_owned(),
        verified_domains: domains(true),
        unverified_domains: domains(false),
        client_id: app.client_id.clone(),
        roles: app.roles.iter().cloned().collect(),
        users: directory.live_count(ObjectKind::User),
        groups: directory.live_count(ObjectKind::Group),
        changes: directory.changes.len(),
    })
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, collection)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let kind = collection_kind(&collection)?;
    let body: Map<String, Json> = parse_body(&body)?;
    let id = match body.get("id") {
        Some(Json::String(id)) => id.clone(),
        Some(_) => return Err(ControlFailure::bad_request("'id' must be a string")),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let member_ids: Vec<String> = match body.get("members") {
        None => Vec::new(),
        Some(members) if kind == ObjectKind::Group => serde_json::from_value(members.clone())
            .map_err(|_| ControlFailure::bad_request("'members' must be an array of object ids"))?,
        Some(_) => return Err(ControlFailure::bad_request("only groups have members")),
    };
    let explicit = properties(kind, &body, &["id", "members"])?;
    let mut directory = tenant.write();
    if directory.find(&id).is_some() {
        return Err(ControlFailure::conflict(format!(
            "an object with id '{id}' already exists"
        )));
    }
    let members = member_ids
        .iter()
        .map(|m| find_live_member(&directory, m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut object = DirectoryObject::new(kind, id);
    let defaults = match kind {
        ObjectKind::User => user_defaults(&body, tenant.default_domain()),
        _ => group_defaults(&body, tenant.default_domain()),
    };
    for (position, value) in defaults.into_iter().chain(explicit) {
        object.values[position] = value;
    }
    if kind == ObjectKind::User {
        let upn = object.values[USER_SCHEMA.required("userPrincipalName")]
            .as_text()
            .unwrap_or_default()
            .to_owned();
        // A permanently deleted user's name is free again, as in Entra ID; a soft-deleted one's
        // is not, since it can still be restored.
        if directory
            .find_user(&upn)
            .is_some_and(|at| directory.get(at).lifecycle != Lifecycle::Purged)
        {
            return Err(ControlFailure::conflict(format!(
                "the userPrincipalName '{upn}' is already taken"
            )));
        }
    }
    let at = directory.create(kind, object);
    for member in members {
        directory.add_member(at, member);
    }
    Ok((StatusCode::CREATED, axum::Json(view(&directory, at))).into_response())
}

fn find_live_member(directory: &Directory, id: &str) -> Result<ObjectRef, ControlFailure> {
    directory
        .find(id)
        .filter(|at| directory.get(*at).lifecycle != Lifecycle::Purged)
        .ok_or_else(|| {
            ControlFailure::not_found(format!("no user, group, contact or device with id '{id}'"))
        })
}

fn text_of<'a>(body: &'a Map<String, Json>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Json::as_str)
}

fn local_part(body: &Map<String, Json>, fallback: &str) -> String {
    text_of(body, "mailNickname")
        .or_else(|| text_of(body, "displayName"))
        .map(|name| {
            name.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|local| !local.is_empty())
        .unwrap_or_else(|| fallback.to_owned())
}

/// Defaults for a new user: an enabled member whose mailbox is its userPrincipalName.
fn user_defaults(body: &Map<String, Json>, domain: &str) -> Vec<(usize, Value)> {
    let position = |name| USER_SCHEMA.required(name);
    let upn = text_of(body, "userPrincipalName")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}@{domain}", local_part(body, "user")));
    let nickname = upn.split('@').next().unwrap_or_default().to_owned();
    let mail = match body.get("mail") {
        Some(Json::String(mail)) => Some(mail.clone()),
        Some(_) => None,
        None => Some(upn.clone()),
    };
    let proxies = mail.iter().map(|m| format!("SMTP:{m}")).collect();
    vec![
        (position("displayName"), Value::text(nickname.clone())),
        (position("userPrincipalName"), Value::text(upn)),
        (position("mailNickname"), Value::text(nickname)),
        (position("accountEnabled"), Value::Bool(true)),
        (position("userType"), Value::text("Member")),
        (position("mail"), mail.map_or(Value::Null, Value::Text)),
        (position("proxyAddresses"), Value::TextList(proxies)),
        (
            position("createdDateTime"),
            Value::Text(clock::iso_z(clock::now_unix())),
        ),
    ]
}

/// Defaults for a new group: a distribution list (mail-enabled, not security-enabled) unless
/// the body says otherwise; mail-enabled groups get an address in the default domain.
fn group_defaults(body: &Map<String, Json>, domain: &str) -> Vec<(usize, Value)> {
    let position = |name| GROUP_SCHEMA.required(name);
    let nickname = local_part(body, "group");
    let mail_enabled = body
        .get("mailEnabled")
        .and_then(Json::as_bool)
        .unwrap_or(true);
    let now = Value::Text(clock::iso_z(clock::now_unix()));
    let mut defaults = vec![
        (position("displayName"), Value::text(nickname.clone())),
        (position("mailNickname"), Value::text(nickname.clone())),
        (position("mailEnabled"), Value::Bool(mail_enabled)),
        (position("securityEnabled"), Value::Bool(false)),
        (position("createdDateTime"), now.clone()),
        (position("renewedDateTime"), now),
    ];
    if mail_enabled {
        let mail = format!("{nickname}@{domain}");
        defaults.push((
            position("proxyAddresses"),
            Value::TextList(vec![format!("SMTP:{mail}")]),
        ));
        defaults.push((position("mail"), Value::Text(mail)));
    }
    defaults
}

async fn read(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, collection, id)): Path<(String, String, String)>,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let kind = collection_kind(&collection)?;
    let directory = tenant.read();
    let at = find(&directory, kind, &id)?;
    ok(view(&directory, at))
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, collection, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let kind = collection_kind(&collection)?;
    let body: Map<String, Json> = parse_body(&body)?;
    if body.contains_key("id") {
        return Err(ControlFailure::bad_request("'id' cannot be changed"));
    }
    let values = properties(kind, &body, &[])?;
    let mut directory = tenant.write();
    let at = find_live(&directory, kind, &id)?;
    directory.update(at, values);
    ok(view(&directory, at))
}

async fn soft_delete(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, collection, id)): Path<(String, String, String)>,
) -> Reply {
    change_lifecycle(&shared, &tenant_id, &collection, &id, "soft-delete")
}

/// `POST …/{collection}/{id}/{action}`: disable, enable, soft-delete, restore, hard-delete, members.
async fn act(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, collection, id, action)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Reply {
    match action.as_str() {
        "disable" | "enable" => {
            let tenant = tenant(&shared, &tenant_id)?;
            let kind = collection_kind(&collection)?;
            if kind != ObjectKind::User {
                return Err(ControlFailure::bad_request(
                    "only users can be disabled or enabled",
                ));
            }
            let mut directory = tenant.write();
            let at = find_live(&directory, kind, &id)?;
            directory.update(
                at,
                vec![(
                    USER_SCHEMA.required("accountEnabled"),
                    Value::Bool(action == "enable"),
                )],
            );
            ok(view(&directory, at))
        }
        "members" => change_members(&shared, &tenant_id, &collection, &id, &body),
        "members-not-found" => members_not_found(&shared, &tenant_id, &collection, &id, &body),
        _ => change_lifecycle(&shared, &tenant_id, &collection, &id, &action),
    }
}

fn change_lifecycle(
    shared: &Shared,
    tenant_id: &str,
    collection: &str,
    id: &str,
    action: &str,
) -> Reply {
    let tenant = tenant(shared, tenant_id)?;
    let kind = collection_kind(collection)?;
    let mut directory = tenant.write();
    let at = find(&directory, kind, id)?;
    let lifecycle = directory.get(at).lifecycle;
    match action {
        "soft-delete" if lifecycle == Lifecycle::Live => {
            // Only users and Microsoft 365 groups go to the recycle bin; deleting a security or
            // distribution group is permanent in Entra ID.
            let unified = GROUP_SCHEMA.required("groupTypes");
            let restorable = kind == ObjectKind::User
                || matches!(&directory.get(at).values[unified], Value::TextList(t) if t.iter().any(|t| t.eq_ignore_ascii_case("Unified")));
            if restorable {
                directory.set_lifecycle(at, Lifecycle::SoftDeleted);
            } else {
                directory.purge(at);
            }
        }
        "soft-delete" => {
            return Err(ControlFailure::conflict(format!(
                "'{id}' is already soft-deleted"
            )));
        }
        "restore" if lifecycle == Lifecycle::SoftDeleted => {
            directory.set_lifecycle(at, Lifecycle::Live)
        }
        "restore" => {
            return Err(ControlFailure::conflict(format!(
                "'{id}' is not soft-deleted"
            )));
        }
        "hard-delete" => directory.purge(at),
        other => {
            return Err(ControlFailure::not_found(format!(
                "unknown action '{other}'; use disable, enable, soft-delete, restore, hard-delete or members"
            )));
        }
    }
    ok(view(&directory, at))
}

fn groups_only(collection: &str) -> Result<(), ControlFailure> {
    if collection_kind(collection)? != ObjectKind::Group {
        return Err(ControlFailure::bad_request("only groups have members"));
    }
    Ok(())
}

fn change_members(
    shared: &Shared,
    tenant_id: &str,
    collection: &str,
    id: &str,
    body: &[u8],
) -> Reply {
    let tenant = tenant(shared, tenant_id)?;
    groups_only(collection)?;
    let change: MembershipChange = parse_body(body)?;
    let mut directory = tenant.write();
    let group = find_live(&directory, ObjectKind::Group, id)?;
    let resolve = |ids: &[String]| {
        ids.iter()
            .map(|m| find_live_member(&directory, m))
            .collect::<Result<Vec<_>, _>>()
    };
    let (added, removed) = (resolve(&change.add)?, resolve(&change.remove)?);
    if added.contains(&group) {
        return Err(ControlFailure::bad_request(
            "a group cannot be a member of itself",
        ));
    }
    for member in added {
        directory.add_member(group, member);
    }
    for member in removed {
        directory.remove_member(group, member);
    }
    ok(view(&directory, group))
}

/// How often a group's member list is to answer 404: `times` requests, or all when absent.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MembersNotFound {
    #[serde(default)]
    times: Option<u32>,
}

fn members_not_found(
    shared: &Shared,
    tenant_id: &str,
    collection: &str,
    id: &str,
    body: &[u8],
) -> Reply {
    let tenant = tenant(shared, tenant_id)?;
    groups_only(collection)?;
    let fault: MembersNotFound = if body.is_empty() {
        MembersNotFound::default()
    } else {
        parse_body(body)?
    };
    find_live(&tenant.read(), ObjectKind::Group, id)?;
    tenant.set_members_not_found(id, fault.times);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn app(State(shared): State<Arc<Shared>>, Path(tenant_id): Path<String>) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let app = lock(&tenant.app);
    ok(AppRegistration {
        client_id: app.client_id.clone(),
        display_name: app.display_name.clone(),
        roles: app.roles.iter().cloned().collect(),
        secrets: app
            .secrets
            .iter()
            .map(|s| SecretInfo {
                secret_id: s.key_id.clone(),
                expires_at: clock::iso_z(s.expires_at_unix),
            })
            .collect(),
        certificates: app
            .certificates
            .iter()
            .map(|c| c.thumbprint.clone())
            .collect(),
    })
}

/// Uploads a certificate (Certificates & secrets › Certificates › Upload certificate); its
/// private key's assertions are accepted from now on. Uploading it twice changes nothing.
async fn upload_certificate(
    State(shared): State<Arc<Shared>>,
    Path(tenant_id): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let body: CertificateUpload = parse_body(&body)?;
    let certificate = UploadedCertificate::from_pem(&body.pem).map_err(|why| {
        ControlFailure::bad_request(format!("the certificate is not usable: {why}"))
    })?;
    let thumbprint = certificate.thumbprint.clone();
    let mut app = lock(&tenant.app);
    if !app.certificates.iter().any(|c| c.thumbprint == thumbprint) {
        app.certificates.push(certificate);
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(UploadedThumbprint { thumbprint }),
    )
        .into_response())
}

/// Removes a certificate by its SHA-1 thumbprint; its assertions fail with AADSTS700027.
async fn remove_certificate(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, thumbprint)): Path<(String, String)>,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let mut app = lock(&tenant.app);
    let before = app.certificates.len();
    app.certificates
        .retain(|c| !c.thumbprint.eq_ignore_ascii_case(&thumbprint));
    if app.certificates.len() == before {
        return Err(ControlFailure::not_found(format!(
            "the app has no certificate with the thumbprint {thumbprint}"
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Replaces the secret with a new one; the old value stops working (AADSTS7000215).
async fn rotate_secret(State(shared): State<Arc<Shared>>, Path(tenant_id): Path<String>) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let secret = generate::new_secret(&mut rand::rng(), clock::now_unix());
    let issued = IssuedSecret {
        client_secret: secret.value.clone(),
        secret_id: secret.key_id.clone(),
    };
    lock(&tenant.app).secrets = vec![secret];
    ok(issued)
}

/// Makes every current secret expired (AADSTS7000222 from now on).
async fn expire_secret(State(shared): State<Arc<Shared>>, Path(tenant_id): Path<String>) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let now = clock::now_unix();
    for secret in &mut lock(&tenant.app).secrets {
        secret.expires_at_unix = secret.expires_at_unix.min(now - 1);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn roles_reply(tenant: &Tenant) -> Reply {
    ok(json!({"roles": lock(&tenant.app).roles}))
}

async fn set_roles(
    State(shared): State<Arc<Shared>>,
    Path(tenant_id): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let body: RolesBody = parse_body(&body)?;
    lock(&tenant.app).roles = body.roles.into_iter().collect();
    roles_reply(tenant)
}

async fn grant_role(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, role)): Path<(String, String)>,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    lock(&tenant.app).roles.insert(role);
    roles_reply(tenant)
}

async fn revoke_role(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, role)): Path<(String, String)>,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    lock(&tenant.app).roles.remove(&role);
    roles_reply(tenant)
}

async fn settings(State(shared): State<Arc<Shared>>, Path(tenant_id): Path<String>) -> Reply {
    ok(tenant(&shared, &tenant_id)?.settings())
}

async fn update_settings(
    State(shared): State<Arc<Shared>>,
    Path(tenant_id): Path<String>,
    body: Bytes,
) -> Reply {
    let tenant = tenant(&shared, &tenant_id)?;
    let patch: SettingsPatch = parse_body(&body)?;
    if let Some(rate) = patch.fault_rate
        && !(0.0..=1.0).contains(&rate)
    {
        return Err(ControlFailure::bad_request(format!(
            "faultRate {rate} must be between 0 and 1"
        )));
    }
    let mut settings = lock(&tenant.settings);
    let Settings {
        latency_ms,
        fault_rate,
        throttle,
        delta_token_max_age_secs,
        access_token_lifetime_secs,
    } = &mut *settings;
    patch.latency_ms.inspect(|v| *latency_ms = *v);
    patch.fault_rate.inspect(|v| *fault_rate = *v);
    patch.throttle.inspect(|v| *throttle = *v);
    patch
        .delta_token_max_age_secs
        .inspect(|v| *delta_token_max_age_secs = *v);
    patch
        .access_token_lifetime_secs
        .inspect(|v| *access_token_lifetime_secs = *v);
    ok(settings.clone())
}

async fn expire_delta_tokens(
    State(shared): State<Arc<Shared>>,
    Path(tenant_id): Path<String>,
) -> Reply {
    tenant(&shared, &tenant_id)?.expire_delta_tokens();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn request_counts(State(shared): State<Arc<Shared>>, Path(tenant_id): Path<String>) -> Reply {
    let by_endpoint = tenant(&shared, &tenant_id)?.request_counts();
    ok(RequestCounts {
        total: by_endpoint.values().sum(),
        by_endpoint,
    })
}

async fn reset_request_counts(
    State(shared): State<Arc<Shared>>,
    Path(tenant_id): Path<String>,
) -> Reply {
    tenant(&shared, &tenant_id)?.reset_request_counts();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn save_state(State(shared): State<Arc<Shared>>, Path(tenant_id): Path<String>) -> Reply {
    tenant(&shared, &tenant_id)?;
    let state = Arc::clone(&shared);
    let saved = tokio::task::spawn_blocking(move || state.save_state())
        .await
        .map_err(|e| {
            ControlFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
    match saved {
        Ok(path) => ok(json!({"savedTo": path})),
        Err(crate::server::SimError::NoStateFile) => Err(ControlFailure::conflict(
            "no state file was configured; start the simulator with --state FILE",
        )),
        Err(error) => Err(ControlFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "saveFailed",
            error.to_string(),
        )),
    }
}
