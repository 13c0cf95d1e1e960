//! Every way a Graph read can fail, in terms an administrator can act on.
//!
//! Each variant's message says what is wrong; [`GraphError::fix`] says what the administrator
//! should do about it. Neither ever contains the client secret or an access token.

use std::time::Duration;

use roster_domain::ClientId;
use roster_domain::connection::iso_date;
use time::Date;

/// The permission that covers everything Roster reads, recommended in every permission fix.
pub const RECOMMENDED_PERMISSION: &str = "Directory.Read.All";

const GRANT_CONSENT: &str = "In the Entra admin center open App registrations › your app › API permissions, \
add Microsoft Graph › Application permissions › Directory.Read.All (Application), \
then click \"Grant admin consent\"";

/// A setting of Roster's connection that a fix asks the admin to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixSetting {
    /// The key (the client secret's value) and its expiry date.
    Key,
    /// The Microsoft cloud the tenant lives in.
    Cloud,
    /// A certificate to generate and upload (or the key to sign in with again).
    Certificate,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("the tenant {tenant} was not found in the {cloud} cloud (AADSTS90002)")]
    TenantNotFound { tenant: String, cloud: &'static str },

    #[error("the tenant {tenant:?} is neither a tenant GUID nor a domain name (AADSTS900023)")]
    TenantMalformed { tenant: String },

    #[error(
        "the tenant {tenant} belongs to a different Microsoft cloud than {cloud} (AADSTS{code})"
    )]
    WrongCloud {
        tenant: String,
        cloud: &'static str,
        code: u32,
    },

    #[error("the client secret (key) for application {client_id} was rejected (AADSTS7000215)")]
    InvalidSecret { client_id: ClientId },

    #[error("the client secret (key) for application {client_id} has expired (AADSTS7000222){}",
        expires_on.map(|d| format!("; Roster was told it expires on {}", iso_date::format(d))).unwrap_or_default())]
    SecretExpired {
        client_id: ClientId,
        /// The expiry date saved in the connection settings, if the admin gave it.
        expires_on: Option<Date>,
    },

    #[error(
        "the app registration {client_id} does not hold Roster's certificate {} (AADSTS700027: the client assertion's signature is not valid for any certificate uploaded to the app)",
        thumbprints.join(" or ")
    )]
    CertificateNotUploaded {
        client_id: ClientId,
        /// The SHA-1 thumbprints of the certificates Roster tried, newest first.
        thumbprints: Vec<String>,
    },

    #[error(
        "Microsoft refused Roster's client assertion as outside its valid time range (AADSTS700024)"
    )]
    AssertionOutsideValidity,

    #[error(
        "Microsoft refused Roster's client assertion because its issuer and subject do not match the client ID {client_id} (AADSTS700021)"
    )]
    AssertionClientMismatch { client_id: ClientId },

    #[error(
        "Microsoft refused Roster's client assertion because its audience {audience} is not the tenant's token endpoint (AADSTS700023)"
    )]
    AssertionAudienceMismatch { audience: String },

    #[error("the connection signs in with a certificate but has no valid certificate{}",
        expired_on.map(|d| format!(": the last one expired on {}", iso_date::format(d))).unwrap_or_else(|| ": none was generated".into()))]
    NoValidCertificate { expired_on: Option<Date> },

    #[error("the certificate {thumbprint} cannot sign: {why}")]
    CertificateUnusable { thumbprint: String, why: String },

    #[error("the application {client_id} was not found in the tenant {tenant} (AADSTS700016)")]
    ApplicationNotFound { client_id: ClientId, tenant: String },

    #[error("sign-in was refused ({error}, AADSTS{code}): {description}")]
    SignInRefused {
        error: String,
        code: u32,
        description: String,
    },

    #[error(
        "admin consent has not been granted: the application's token carries no application permissions"
    )]
    AdminConsentNotGranted,

    #[error("the application is missing the Microsoft Graph permission {}", missing.join(" and "))]
    MissingPermissions {
        missing: Vec<String>,
        granted: Vec<String>,
    },

    #[error(
        "Microsoft Graph refused to read {path}: insufficient privileges (Authorization_RequestDenied)"
    )]
    AccessDenied { path: String },

    #[error(
        "Microsoft Graph rejected the access token for {path} even after a fresh one was fetched"
    )]
    TokenRejected { path: String },

    #[error("Microsoft Graph kept throttling {path}: {attempts} attempts over {}s", waited.as_secs())]
    Throttled {
        path: String,
        attempts: u32,
        waited: Duration,
    },

    #[error(
        "Microsoft Graph is unavailable: {path} answered HTTP {status} on each of {attempts} attempts"
    )]
    Unavailable {
        path: String,
        status: u16,
        attempts: u32,
    },

    #[error("could not reach {host}: {detail}")]
    Network { host: String, detail: String },

    #[error("the TLS certificate of {host} was refused: {problem} ({detail})")]
    Certificate {
        host: String,
        problem: &'static str,
        detail: String,
    },

    #[error(
        "Microsoft Graph answered 404 Not Found for the members of group {group} ({path}) on each of {attempts} attempts, although the same read listed the group; the read was stopped and nothing was removed"
    )]
    GroupMembersNotFound {
        group: String,
        path: String,
        attempts: u32,
    },

    #[error(
        "Microsoft Graph sent a response Roster cannot use, from {path} at {location}: {problem}"
    )]
    Protocol {
        path: String,
        location: String,
        problem: String,
    },

    #[error("the saved delta link has expired (HTTP {status}{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    DeltaExpired { status: u16, code: Option<String> },

    #[error("Microsoft Graph refused {path} with HTTP {status} {code}: {message}")]
    Rejected {
        path: String,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },

    #[error("the HTTP client could not be set up: {detail}")]
    ClientSetup { detail: String },
}

impl GraphError {
    /// What the administrator should do, in one or two sentences.
    pub fn fix(&self) -> String {
        match self {
            Self::TenantNotFound { .. } => "Check the primary domain: give the tenant's GUID (Entra admin center › Overview › \
                Tenant ID) or one of its verified domains, and check that the cloud setting matches the tenant's cloud."
                .into(),
            Self::TenantMalformed { .. } => {
                "Enter the tenant as its GUID (Entra admin center › Overview › Tenant ID) or as a verified domain such as contoso.com.".into()
            }
            Self::WrongCloud { .. } => "Change the Microsoft cloud setting to the tenant's cloud (US government tenants use \
                US Government (GCC High) or US Government DoD, 21Vianet tenants use China (21Vianet))."
                .into(),
            Self::InvalidSecret { .. } => "Paste the client secret's VALUE, not its Secret ID: in App registrations › your app › \
                Certificates & secrets the value is shown only once, right after the secret is created, so create a new \
                secret if you no longer have it."
                .into(),
            Self::SecretExpired { .. } => "Create a new client secret in App registrations › your app › Certificates & secrets, \
                and paste its value as the Key with its new expiry date as Key expires on, or sign in with a certificate \
                instead: generate one in Roster and upload it to the app registration."
                .into(),
            Self::CertificateNotUploaded { thumbprints, .. } => format!(
                "Upload the certificate file Roster wrote (the .cer) in the Entra admin center under App registrations › \
                 your app › Certificates & secrets › Certificates › Upload certificate, then test again; the thumbprint \
                 listed there must read {}. A certificate removed from the app registration must be uploaded again or \
                 replaced with a new one.",
                thumbprints.first().map_or("the one Roster lists for the connection's certificate", String::as_str)
            ),
            Self::AssertionOutsideValidity => "Check this server's clock: it must be within a few minutes of the real time \
                (enable NTP time synchronisation), then test again."
                .into(),
            Self::AssertionClientMismatch { .. } => "Check the client ID setting against App registrations › your app › \
                Overview › Application (client) ID; if it matches, report this to Roster support."
                .into(),
            Self::AssertionAudienceMismatch { .. } => "Check the cloud and tenant settings: the assertion is addressed to the \
                token endpoint Roster signs in at, and a proxy or custom login URL that changes that path makes Microsoft refuse it."
                .into(),
            Self::NoValidCertificate { .. } => "Generate a new certificate in Roster and upload it under App registrations › \
                your app › Certificates & secrets › Certificates, or switch the connection back to signing in with its \
                key (client secret)."
                .into(),
            Self::CertificateUnusable { .. } => "Generate a new certificate in Roster, upload it to the app registration, and \
                remove this one from Roster."
                .into(),
            Self::ApplicationNotFound { .. } => "Check the client ID (App registrations › your app › Overview › Application \
                (client) ID) and that the app is registered in, or consented to by, this tenant."
                .into(),
            Self::SignInRefused { code, .. } => {
                format!("Look up AADSTS{code} at https://login.microsoftonline.com/error?code={code} and correct the app registration.")
            }
            Self::AdminConsentNotGranted => format!("{GRANT_CONSENT}."),
            Self::MissingPermissions { missing, .. } => {
                format!("{GRANT_CONSENT} (it covers {}).", missing.join(", "))
            }
            Self::AccessDenied { .. } => format!(
                "{GRANT_CONSENT}. Consent granted in the last few minutes can take a while to apply; wait and test again. \
                 Groups with hidden membership also need Member.Read.Hidden."
            ),
            Self::TokenRejected { .. } => "Check that the cloud setting matches the tenant: tokens from one Microsoft cloud \
                are not accepted by another."
                .into(),
            Self::Throttled { .. } => "Nothing to change: Microsoft Graph is limiting requests for this tenant. The next \
                sync will resume; if it persists, move the schedule to a quieter hour."
                .into(),
            Self::Unavailable { .. } => "Nothing to change: try again later, and check the Microsoft 365 service health page.".into(),
            Self::Network { .. } => "Check this server's DNS, proxy and firewall: it must reach the login and Graph hosts over HTTPS.".into(),
            Self::Certificate { .. } => "A certificate problem does not clear by itself, so Roster did not retry. Check the login and \
                Graph URLs (a name mismatch means they name another host) and this server's clock (for an expired or \
                not-yet-valid certificate). If a TLS-inspecting proxy stands between this server and Microsoft, trust \
                its CA certificate (ROSTER_GRAPH_CA_FILE); trust nothing else that way."
                .into(),
            Self::GroupMembersNotFound { .. } => "Nothing to change if the group was just created or deleted: Microsoft Graph \
                can take a few minutes to replicate it, and the next sync reads the directory again. If it repeats, check \
                the group in the Entra admin center."
                .into(),
            Self::Protocol { .. } => "Try again; if it repeats, report it to Roster support with this message.".into(),
            Self::DeltaExpired { .. } => "Nothing to do: Roster reads the whole directory again on the next sync.".into(),
            Self::Rejected { request_id, .. } => match request_id {
                Some(id) => format!("Report this to Roster support with the Graph request-id {id}."),
                None => "Report this to Roster support with this message.".into(),
            },
            Self::ClientSetup { .. } => "Check this server's TLS configuration and restart Roster.".into(),
        }
    }

    /// The Roster setting [`Self::fix`] asks the admin to change, when it asks for one: the fix
    /// names it in the product's words, and a surface may point at its own control for it (the
    /// CLI its flag or command).
    pub fn fix_setting(&self) -> Option<FixSetting> {
        match self {
            Self::InvalidSecret { .. } | Self::SecretExpired { .. } => Some(FixSetting::Key),
            Self::WrongCloud { .. } | Self::TokenRejected { .. } => Some(FixSetting::Cloud),
            Self::CertificateNotUploaded { .. }
            | Self::NoValidCertificate { .. }
            | Self::CertificateUnusable { .. } => Some(FixSetting::Certificate),
            _ => None,
        }
    }

    /// Whether the saved delta links are no longer usable and a full read is needed.
    pub fn needs_full_read(&self) -> bool {
        matches!(self, Self::DeltaExpired { .. })
    }

    pub(crate) fn protocol(
        path: &str,
        location: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self::Protocol {
            path: path.to_owned(),
            location: location.into(),
            problem: problem.into(),
        }
    }
}
