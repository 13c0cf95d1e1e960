//! Access tokens by the client-credentials grant: fetched on demand, cached until shortly
//! before expiry, and fetched by one caller at a time while the others wait for its result.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use roster_domain::{ClientId, Cloud, TenantRef};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use time::Date;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::certificate::ClientCertificate;
use crate::error::GraphError;
use crate::parse::TokenFailure;

/// RFC 7523's client authentication by a JWT, as Entra expects it.
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An access token and what it grants.
pub(crate) struct AccessToken {
    pub(crate) secret: SecretString,
    refresh_at: Instant,
    /// The application permissions in the token's `roles` claim; `None` when the token is not
    /// a readable JWT.
    pub(crate) roles: Option<Vec<String>>,
    /// What the token was obtained with (the secret, or which certificate).
    pub(crate) obtained_with: String,
}

impl AccessToken {
    pub(crate) fn new(
        secret: SecretString,
        expires_in: Duration,
        fetched_at: Instant,
        obtained_with: String,
    ) -> Self {
        // A day bounds a hostile expiry; refresh five minutes early, or halfway through a
        // short-lived token.
        let expires_in = expires_in.min(Duration::from_secs(24 * 3600));
        let margin = Duration::from_secs(300).min(expires_in / 2);
        let roles = roles_claim(secret.expose_secret());
        Self {
            secret,
            refresh_at: fetched_at + (expires_in - margin),
            roles,
            obtained_with,
        }
    }
}

/// The `roles` claim of a JWT, read without checking the signature: it is only used to explain
/// a permission problem, never to grant anything.
fn roles_claim(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?)
            .ok()?;
    let claims = claims.as_object()?;
    Some(match claims.get("roles") {
        Some(Value::Array(roles)) => roles
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    })
}

/// The cache of one connection's token; the lock is held while fetching, so concurrent
/// requests wait for one fetch instead of each starting their own.
#[derive(Default)]
pub(crate) struct TokenCache {
    current: Mutex<Option<Arc<AccessToken>>>,
}

impl TokenCache {
    /// The cached token if it is still fresh, else the result of `fetch` (which only runs if
    /// it is needed).
    pub(crate) async fn get(
        &self,
        fetch: impl Future<Output = Result<AccessToken, GraphError>>,
    ) -> Result<Arc<AccessToken>, GraphError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current
            .as_ref()
            .filter(|token| Instant::now() < token.refresh_at)
        {
            return Ok(Arc::clone(token));
        }
        let token = Arc::new(fetch.await?);
        *current = Some(Arc::clone(&token));
        Ok(token)
    }

    /// Forgets `rejected` so that the next request fetches a new token; a token that another
    /// request has already replaced is left alone.
    pub(crate) async fn discard(&self, rejected: &Arc<AccessToken>) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|token| Arc::ptr_eq(token, rejected))
        {
            *current = None;
        }
    }
}

/// Which permissions reading the directory needs, and which of them `roles` lacks.
///
/// Directory.Read.All covers everything; otherwise users need User.Read.All (or a write
/// permission that includes it) and groups need Group.Read.All or GroupMember.Read.All.
pub(crate) fn missing_permissions(roles: &[String]) -> Vec<String> {
    let has = |names: &[&str]| {
        roles
            .iter()
            .any(|role| names.iter().any(|name| role.eq_ignore_ascii_case(name)))
    };
    if has(&["Directory.Read.All", "Directory.ReadWrite.All"]) {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if !has(&["User.Read.All", "User.ReadWrite.All"]) {
        missing.push("User.Read.All");
    }
    if !has(&[
        "Group.Read.All",
        "Group.ReadWrite.All",
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
    ]) {
        missing.push("Group.Read.All");
    }
    if missing.len() == 2 {
        // Neither half is there: name the one permission that covers both.
        return vec![crate::error::RECOMMENDED_PERMISSION.to_owned()];
    }
    missing.into_iter().map(str::to_owned).collect()
}

/// What a connection proves its identity with.
pub enum ClientCredential {
    /// The client secret's value.
    Secret(SecretString),
    /// Certificates uploaded to the app registration, in the order to try them (newest
    /// first): a newer one may not be uploaded yet while an older one still is.
    Certificates(Vec<ClientCertificate>),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(..)"),
            Self::Certificates(certificates) => {
                f.debug_tuple("Certificates").field(certificates).finish()
            }
        }
    }
}

/// Where and how a connection signs in.
pub(crate) struct Credentials {
    pub(crate) tenant: TenantRef,
    pub(crate) client_id: ClientId,
    pub(crate) credential: ClientCredential,
    pub(crate) cloud: Cloud,
    /// The key's expiry date the admin saved, named when Entra says the key expired.
    pub(crate) key_expires_on: Option<Date>,
}

impl Credentials {
    pub(crate) fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.cloud.login_url().as_str().trim_end_matches('/'),
            self.tenant
        )
    }

    /// The token request's form, proving identity with the secret, or with a fresh
    /// assertion signed by `certificate` (one of [`ClientCredential::Certificates`]).
    pub(crate) fn form(
        &self,
        certificate: Option<&ClientCertificate>,
    ) -> Result<Vec<(&'static str, String)>, GraphError> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.client_id.to_string()),
            (
                "scope",
                format!(
                    "{}/.default",
                    self.cloud.graph_url().as_str().trim_end_matches('/')
                ),
            ),
        ];
        match (&self.credential, certificate) {
            (_, Some(certificate)) => {
                form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()));
                form.push((
                    "client_assertion",
                    certificate.assertion(self.client_id, &self.token_url())?,
                ));
            }
            (ClientCredential::Secret(secret), None) => {
                form.push(("client_secret", secret.expose_secret().to_owned()));
            }
            (ClientCredential::Certificates(_), None) => {
                return Err(GraphError::NoValidCertificate { expired_on: None });
            }
        }
        Ok(form)
    }

    /// The certificates to try in turn, or one `None` for the secret.
    pub(crate) fn attempts(&self) -> Vec<Option<&ClientCertificate>> {
        match &self.credential {
            ClientCredential::Secret(_) => vec![None],
            ClientCredential::Certificates(certificates) => certificates.iter().map(Some).collect(),
        }
    }

    /// What a token was obtained with, in the admin's terms.
    pub(crate) fn describe(&self, certificate: Option<&ClientCertificate>) -> String {
        match certificate {
            None => "the client ID and secret were accepted".to_owned(),
            Some(certificate) => format!(
                "the client ID and certificate {} (valid until {}) were accepted",
                certificate.thumbprint(),
                certificate.not_after().date()
            ),
        }
    }

    /// The admin's terms for a refusal from the token endpoint.
    pub(crate) fn explain(&self, failure: TokenFailure) -> GraphError {
        let tenant = self.tenant.to_string();
        let cloud = self.cloud.name();
        match failure.code {
            Some(90002) => GraphError::TenantNotFound { tenant, cloud },
            Some(900023) => GraphError::TenantMalformed { tenant },
            Some(code @ (90038 | 900432 | 900382)) => GraphError::WrongCloud {
                tenant,
                cloud,
                code,
            },
            Some(7000215) => GraphError::InvalidSecret {
                client_id: self.client_id,
            },
            Some(7000222) => GraphError::SecretExpired {
                client_id: self.client_id,
                expires_on: self.key_expires_on,
            },
            Some(700027) => GraphError::CertificateNotUploaded {
                client_id: self.client_id,
                thumbprints: match &self.credential {
                    ClientCredential::Certificates(certificates) => certificates
                        .iter()
                        .map(|c| c.thumbprint().to_owned())
                        .collect(),
                    ClientCredential::Secret(_) => Vec::new(),
                },
            },
            Some(700024) => GraphError::AssertionOutsideValidity,
            Some(700021) => GraphError::AssertionClientMismatch {
                client_id: self.client_id,
            },
            Some(700023) => GraphError::AssertionAudienceMismatch {
                audience: self.token_url(),
            },
            Some(700016) => GraphError::ApplicationNotFound {
                client_id: self.client_id,
                tenant,
            },
            code => GraphError::SignInRefused {
                error: failure.error,
                code: code.unwrap_or_default(),
                description: failure.description,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.signature",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn roles_are_read_from_the_jwt_payload() {
        assert_eq!(
            roles_claim(&jwt(r#"{"roles":["Directory.Read.All"]}"#)),
            Some(vec!["Directory.Read.All".to_owned()])
        );
        assert_eq!(roles_claim(&jwt(r#"{"aud":"x"}"#)), Some(vec![]));
        assert_eq!(
            roles_claim("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik1uQ19WWmNBVGZNNXBP..."),
            None
        );
    }

    #[test]
    fn national_clouds_sign_in_at_their_own_login_host_for_their_own_graph() {
        let credentials = Credentials {
            tenant: "contoso.us".parse().unwrap(),
            client_id: "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".parse().unwrap(),
            credential: ClientCredential::Secret(SecretString::from("value")),
            cloud: Cloud::UsGovDod,
            key_expires_on: None,
        };
        assert_eq!(
            credentials.token_url(),
            "https://login.microsoftonline.us/contoso.us/oauth2/v2.0/token"
        );
        assert!(credentials.form(None).unwrap().contains(&(
            "scope",
            "https://dod-graph.microsoft.us/.default".to_owned()
        )));
        let china = Credentials {
            cloud: Cloud::China,
            ..credentials
        };
        assert_eq!(
            china.token_url(),
            "https://login.chinacloudapi.cn/contoso.us/oauth2/v2.0/token"
        );
        assert!(china.form(None).unwrap().contains(&(
            "scope",
            "https://microsoftgraph.chinacloudapi.cn/.default".to_owned()
        )));
    }

    #[test]
    fn directory_read_all_covers_everything_and_halves_are_named() {
        assert!(missing_permissions(&["Directory.Read.All".into()]).is_empty());
        assert!(
            missing_permissions(&["User.Read.All".into(), "GroupMember.Read.All".into()])
                .is_empty()
        );
        assert_eq!(
            missing_permissions(&["User.Read.All".into()]),
            ["Group.Read.All"]
        );
        assert_eq!(
            missing_permissions(&["Mail.Send".into()]),
            ["Directory.Read.All"]
        );
    }
}
