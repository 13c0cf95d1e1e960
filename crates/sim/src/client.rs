//! A typed client for the control API, for tests, the demo and benchmarks in other crates.
//!
//! ```no_run
//! # async fn example(sim: &roster_sim::RunningSim) -> Result<(), roster_sim::ControlError> {
//! use serde_json::json;
//! let control = sim.control();
//! let ada = control.create_user(json!({"displayName": "Ada Lovelace", "mailNickname": "ada"})).await?;
//! control.set_proxy_addresses(&ada.id, &["SMTP:ada@contoso.com", "smtp:countess@contoso.com"]).await?;
//! control.disable_user(&ada.id).await?;
//! let counts = control.request_counts().await?;
//! assert_eq!(counts.get("GET /v1.0/users/delta"), 0);
//! # Ok(()) }
//! ```

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use crate::control::{
    AppRegistration, CertificateUpload, IssuedSecret, MembershipChange, ObjectView, RequestCounts,
    SettingsPatch, TenantSummary, UploadedThumbprint,
};
use crate::tenant::Settings;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach the simulator's control API at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the control API refused {method} {url} ({status}): {message}")]
    Refused {
        method: Method,
        url: String,
        status: StatusCode,
        message: String,
    },
    #[error("the control API answered {url} with unexpected JSON: {source}")]
    UnexpectedBody {
        url: String,
        source: serde_json::Error,
    },
}

/// The control API of one simulated tenant.
#[derive(Debug, Clone)]
pub struct ControlClient {
    base: String,
    http: reqwest::Client,
}

#[derive(Clone, Copy)]
enum Collection {
    Users,
    Groups,
}

impl Collection {
    fn path(self) -> &'static str {
        match self {
            Collection::Users => "users",
            Collection::Groups => "groups",
        }
    }
}

impl ControlClient {
    /// `control_url` is a tenant's control base URL, as printed by `roster sim`.
    pub fn new(control_url: impl Into<String>) -> Self {
        Self {
            base: control_url.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ControlError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |source| ControlError::Unreachable {
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Json>(&bytes)
                .ok()
                .and_then(|body| body["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ControlError::Refused {
                method,
                url,
                status,
                message,
            });
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|source| ControlError::UnexpectedBody { url, source })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ControlError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ControlError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Domains, application, counts of live users and groups, length of the change log.
    pub async fn summary(&self) -> Result<TenantSummary, ControlError> {
        self.get("").await
    }

    async fn create(
        &self,
        collection: Collection,
        properties: Json,
    ) -> Result<ObjectView, ControlError> {
        self.post(&format!("/{}", collection.path()), &properties)
            .await
    }

    async fn object(&self, collection: Collection, id: &str) -> Result<ObjectView, ControlError> {
        self.get(&format!("/{}/{id}", collection.path())).await
    }

    async fn update(
        &self,
        collection: Collection,
        id: &str,
        properties: Json,
    ) -> Result<ObjectView, ControlError> {
        self.call(
            Method::PATCH,
            &format!("/{}/{id}", collection.path()),
            Some(&properties),
        )
        .await
    }

    async fn action(
        &self,
        collection: Collection,
        id: &str,
        action: &str,
    ) -> Result<ObjectView, ControlError> {
        self.post(&format!("/{}/{id}/{action}", collection.path()), &json!({}))
            .await
    }

    /// Creates a user from Graph-named properties. Missing ones get defaults: an enabled member,
    /// `userPrincipalName` from `mailNickname` or `displayName` in the default domain, `mail` equal
    /// to it (unless `"mail": null`), and `proxyAddresses` `["SMTP:<mail>"]`. An `id` may be given.
    pub async fn create_user(&self, properties: Json) -> Result<ObjectView, ControlError> {
        self.create(Collection::Users, properties).await
    }

    pub async fn user(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.object(Collection::Users, id).await
    }

    /// Sets any Graph properties (`null` clears one). Only properties that really change are
    /// recorded for delta.
    pub async fn update_user(
        &self,
        id: &str,
        properties: Json,
    ) -> Result<ObjectView, ControlError> {
        self.update(Collection::Users, id, properties).await
    }

    pub async fn rename_user(
        &self,
        id: &str,
        display_name: &str,
    ) -> Result<ObjectView, ControlError> {
        self.update_user(id, json!({"displayName": display_name}))
            .await
    }

    pub async fn set_proxy_addresses(
        &self,
        id: &str,
        proxy_addresses: &[&str],
    ) -> Result<ObjectView, ControlError> {
        self.update_user(id, json!({"proxyAddresses": proxy_addresses}))
            .await
    }

    /// Blocks sign-in (`accountEnabled: false`).
    pub async fn disable_user(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.action(Collection::Users, id, "disable").await
    }

    pub async fn enable_user(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.action(Collection::Users, id, "enable").await
    }

    /// Moves the user to the recycle bin (delta: `@removed` reason `changed`).
    pub async fn soft_delete_user(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.action(Collection::Users, id, "soft-delete").await
    }

    pub async fn restore_user(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.action(Collection::Users, id, "restore").await
    }

    /// Deletes the user for good (delta: `@removed` reason `deleted`, and it leaves its groups).
    pub async fn hard_delete_user(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.action(Collection::Users, id, "hard-delete").await
    }

    /// Creates a group from Graph-named properties plus an optional `members` array of ids.
    /// Without `mailEnabled`/`securityEnabled`/`groupTypes` it is a distribution list.
    pub async fn create_group(&self, properties: Json) -> Result<ObjectView, ControlError> {
        self.create(Collection::Groups, properties).await
    }

    pub async fn group(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.object(Collection::Groups, id).await
    }

    pub async fn update_group(
        &self,
        id: &str,
        properties: Json,
    ) -> Result<ObjectView, ControlError> {
        self.update(Collection::Groups, id, properties).await
    }

    /// Microsoft 365 groups go to the recycle bin (`@removed` `changed`); security and
    /// distribution groups are deleted for good (`deleted`), as in Entra ID.
    pub async fn soft_delete_group(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.action(Collection::Groups, id, "soft-delete").await
    }

    pub async fn restore_group(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.action(Collection::Groups, id, "restore").await
    }

    pub async fn hard_delete_group(&self, id: &str) -> Result<ObjectView, ControlError> {
        self.action(Collection::Groups, id, "hard-delete").await
    }

    /// Adds and removes direct members (users, groups, contacts or devices, by id).
    pub async fn change_members(
        &self,
        group_id: &str,
        change: &MembershipChange,
    ) -> Result<ObjectView, ControlError> {
        self.post(&format!("/groups/{group_id}/members"), change)
            .await
    }

    pub async fn add_members(
        &self,
        group_id: &str,
        member_ids: &[&str],
    ) -> Result<ObjectView, ControlError> {
        let add = member_ids.iter().map(|id| (*id).to_owned()).collect();
        self.change_members(
            group_id,
            &MembershipChange {
                add,
                remove: Vec::new(),
            },
        )
        .await
    }

    pub async fn remove_members(
        &self,
        group_id: &str,
        member_ids: &[&str],
    ) -> Result<ObjectView, ControlError> {
        let remove = member_ids.iter().map(|id| (*id).to_owned()).collect();
        self.change_members(
            group_id,
            &MembershipChange {
                add: Vec::new(),
                remove,
            },
        )
        .await
    }

    /// Makes `GET /groups/{id}/members` answer 404 `Request_ResourceNotFound`, as Graph briefly
    /// does while it replicates a group: the next `times` requests (`Some(0)` lifts it), or
    /// every request until lifted (`None`). Batch items count as requests.
    pub async fn members_not_found(
        &self,
        group_id: &str,
        times: Option<u32>,
    ) -> Result<(), ControlError> {
        self.post(
            &format!("/groups/{group_id}/members-not-found"),
            &json!({ "times": times }),
        )
        .await
    }

    /// The app registration: client id, consented roles, and each secret's ID and expiry.
    pub async fn app(&self) -> Result<AppRegistration, ControlError> {
        self.get("/app").await
    }

    /// Replaces the client secret; the old value then fails with AADSTS7000215.
    pub async fn rotate_secret(&self) -> Result<IssuedSecret, ControlError> {
        self.post("/app/secret/rotate", &json!({})).await
    }

    /// Expires the current secret; token requests then fail with AADSTS7000222.
    pub async fn expire_secret(&self) -> Result<(), ControlError> {
        self.post("/app/secret/expire", &json!({})).await
    }

    /// Uploads a certificate (PEM) to the app registration; returns its SHA-1 thumbprint.
    pub async fn upload_certificate(&self, pem: &str) -> Result<String, ControlError> {
        let uploaded: UploadedThumbprint = self
            .post(
                "/app/certificates",
                &CertificateUpload {
                    pem: pem.to_owned(),
                },
            )
            .await?;
        Ok(uploaded.thumbprint)
    }

    /// Removes a certificate by SHA-1 thumbprint; its assertions then fail with AADSTS700027.
    pub async fn remove_certificate(&self, thumbprint: &str) -> Result<(), ControlError> {
        self.call::<Json>(
            Method::DELETE,
            &format!("/app/certificates/{thumbprint}"),
            None::<&()>,
        )
        .await
        .map(drop)
    }

    /// Sets the consented application permissions (the `roles` of tokens issued from now on).
    pub async fn set_roles(&self, roles: &[&str]) -> Result<(), ControlError> {
        self.call::<Json>(Method::PUT, "/app/roles", Some(&json!({"roles": roles})))
            .await
            .map(drop)
    }

    pub async fn grant_role(&self, role: &str) -> Result<(), ControlError> {
        self.post::<Json>(&format!("/app/roles/{role}"), &json!({}))
            .await
            .map(drop)
    }

    pub async fn revoke_role(&self, role: &str) -> Result<(), ControlError> {
        self.call::<Json>(Method::DELETE, &format!("/app/roles/{role}"), None::<&()>)
            .await
            .map(drop)
    }

    pub async fn settings(&self) -> Result<Settings, ControlError> {
        self.get("/settings").await
    }

    pub async fn update_settings(&self, patch: &SettingsPatch) -> Result<Settings, ControlError> {
        self.call(Method::PATCH, "/settings", Some(patch)).await
    }

    /// Latency added to every Graph request.
    pub async fn set_latency(&self, latency: Duration) -> Result<Settings, ControlError> {
        self.update_settings(&SettingsPatch {
            latency_ms: Some(latency.as_millis() as u64),
            ..Default::default()
        })
        .await
    }

    /// Fraction of Graph requests answered with 429, 503 or a dropped connection.
    pub async fn set_fault_rate(&self, fault_rate: f64) -> Result<Settings, ControlError> {
        self.update_settings(&SettingsPatch {
            fault_rate: Some(fault_rate),
            ..Default::default()
        })
        .await
    }

    /// Applies (or lifts) the resource-unit budget per app and tenant.
    pub async fn set_throttle(&self, throttle: bool) -> Result<Settings, ControlError> {
        self.update_settings(&SettingsPatch {
            throttle: Some(throttle),
            ..Default::default()
        })
        .await
    }

    /// Delta tokens older than this answer 410 from now on.
    pub async fn set_delta_token_max_age(
        &self,
        max_age: Duration,
    ) -> Result<Settings, ControlError> {
        self.update_settings(&SettingsPatch {
            delta_token_max_age_secs: Some(max_age.as_secs()),
            ..Default::default()
        })
        .await
    }

    /// Lifetime of access tokens issued from now on (0 issues tokens that are already expired).
    pub async fn set_access_token_lifetime(
        &self,
        lifetime: Duration,
    ) -> Result<Settings, ControlError> {
        self.update_settings(&SettingsPatch {
            access_token_lifetime_secs: Some(lifetime.as_secs()),
            ..Default::default()
        })
        .await
    }

    /// Every delta and skip token issued so far answers 410 from now on.
    pub async fn expire_delta_tokens(&self) -> Result<(), ControlError> {
        self.post("/delta-tokens/expire", &json!({})).await
    }

    pub async fn request_counts(&self) -> Result<RequestCounts, ControlError> {
        self.get("/requests").await
    }

    pub async fn reset_request_counts(&self) -> Result<(), ControlError> {
        self.call(Method::DELETE, "/requests", None::<&()>).await
    }

    /// Saves every tenant to the `--state` file.
    pub async fn save_state(&self) -> Result<(), ControlError> {
        self.post::<Json>("/state/save", &json!({})).await.map(drop)
    }
}
