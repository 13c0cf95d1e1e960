//! The directory connection and every setting of the guide's Step 2.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use url::Url;

use crate::plan::Category;
use crate::{AccountId, ClientId, NewUserRole, ParseError, TenantRef, serde_via_str};

/// Which Microsoft cloud the tenant lives in, or explicit endpoints (the simulator, a proxy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cloud {
    Global,
    UsGov,
    UsGovDod,
    China,
    Custom { login_url: Url, graph_url: Url },
}

impl Cloud {
    /// The login host the token request goes to, without a trailing slash.
    pub fn login_url(&self) -> Url {
        match self {
            Self::Global => fixed("https://login.microsoftonline.com"),
            Self::UsGov | Self::UsGovDod => fixed("https://login.microsoftonline.us"),
            Self::China => fixed("https://login.chinacloudapi.cn"),
            Self::Custom { login_url, .. } => login_url.clone(),
        }
    }

    /// The Graph host; the token's scope is `{graph}/.default`.
    pub fn graph_url(&self) -> Url {
        match self {
            Self::Global => fixed("https://graph.microsoft.com"),
            Self::UsGov => fixed("https://graph.microsoft.us"),
            Self::UsGovDod => fixed("https://dod-graph.microsoft.us"),
            Self::China => fixed("https://microsoftgraph.chinacloudapi.cn"),
            Self::Custom { graph_url, .. } => graph_url.clone(),
        }
    }

    /// A custom cloud from two URLs. Plain http is accepted only on loopback, so a client
    /// secret never crosses a network unencrypted.
    pub fn custom(login_url: &str, graph_url: &str) -> Result<Self, ParseError> {
        Ok(Self::Custom {
            login_url: parse_endpoint("login URL", login_url)?,
            graph_url: graph_root(graph_url, parse_endpoint("Graph URL", graph_url)?)?,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::UsGov => "usgov",
            Self::UsGovDod => "usgov-dod",
            Self::China => "china",
            Self::Custom { .. } => "custom",
        }
    }
}

fn fixed(url: &str) -> Url {
    Url::parse(url).expect("the national cloud URLs are valid")
}

fn parse_endpoint(what: &'static str, input: &str) -> Result<Url, ParseError> {
    let url = Url::parse(input.trim()).map_err(|e| {
        ParseError::new(
            what,
            input,
            format!("{e}; give an absolute URL such as https://login.example.com"),
        )
    })?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(ParseError::new(
                what,
                input,
                "plain http is allowed only on loopback; use https",
            ));
        }
        other => {
            return Err(ParseError::new(
                what,
                input,
                format!("the scheme {other:?} is not http or https"),
            ));
        }
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(ParseError::new(
            what,
            input,
            "give only scheme, host, port and path: no query, fragment or credentials",
        ));
    }
    // A trailing slash would double up when paths are appended.
    let mut url = url;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// The Graph URL without an API version: Roster appends `/v1.0` itself, and the token's scope
/// is the bare host. `…/v1.0`, as Microsoft's samples write it, is accepted and cut; another
/// version is refused, since Roster speaks v1.0 only.
fn graph_root(input: &str, mut url: Url) -> Result<Url, ParseError> {
    let path = url.path().to_owned();
    let (rest, last) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
    if last.eq_ignore_ascii_case("v1.0") {
        url.set_path(rest);
    } else if last.eq_ignore_ascii_case("beta")
        || (last.len() > 1
            && last.starts_with(['v', 'V'])
            && last[1..].chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        return Err(ParseError::new(
            "Graph URL",
            input,
            format!(
                "Roster uses Microsoft Graph v1.0, not {last}; give the Graph URL without a version, such as https://graph.microsoft.com"
            ),
        ));
    }
    Ok(url)
}

impl FromStr for Cloud {
    type Err = ParseError;

    /// Parses the named clouds; custom endpoints come from [`Cloud::custom`].
    fn from_str(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "global" | "public" => Ok(Self::Global),
            "usgov" | "us-gov" | "gcc-high" => Ok(Self::UsGov),
            "usgov-dod" | "us-gov-dod" | "dod" => Ok(Self::UsGovDod),
            "china" => Ok(Self::China),
            _ => Err(ParseError::new(
                "cloud",
                input,
                "expected global, usgov, usgov-dod or china (or custom --login-url and --graph-url)",
            )),
        }
    }
}

/// How often automatic sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Frequency {
    #[default]
    Never,
    Hours(u8),
}

impl Frequency {
    pub const ALLOWED_HOURS: [u8; 5] = [1, 3, 6, 12, 24];

    pub fn interval(self) -> Option<time::Duration> {
        match self {
            Self::Never => None,
            Self::Hours(h) => Some(time::Duration::hours(i64::from(h))),
        }
    }
}

impl Frequency {
    /// The latest scheduled slot at or before `now` for `account`, or `None` for never.
    ///
    /// Each account runs at its own offset within the interval, derived from its id, so that
    /// accounts with the same frequency do not all fire at once, and the schedule needs no
    /// stored state: a connection is due when its last automatic run started before this slot.
    pub fn latest_slot(self, account: AccountId, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let interval = self.interval()?.whole_seconds();
        let offset = i64::try_from(spread(account) % interval.unsigned_abs()).unwrap_or(0);
        let since_epoch = now.unix_timestamp() - offset;
        let slot = since_epoch - since_epoch.rem_euclid(interval) + offset;
        OffsetDateTime::from_unix_timestamp(slot).ok()
    }

    /// The first scheduled slot after `now` for `account`.
    pub fn next_slot(self, account: AccountId, now: OffsetDateTime) -> Option<OffsetDateTime> {
        Some(self.latest_slot(account, now)? + self.interval()?)
    }
}

/// A stable, well-mixed number from an account id (FNV-1a over its bytes): the account's place
/// in every interval.
fn spread(account: AccountId) -> u64 {
    account
        .as_uuid()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

impl FromStr for Frequency {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        let text = input.trim().to_ascii_lowercase();
        if text == "never" {
            return Ok(Self::Never);
        }
        let digits = text
            .strip_suffix("hours")
            .or_else(|| text.strip_suffix("hour"))
            .or_else(|| text.strip_suffix('h'))
            .unwrap_or(&text)
            .trim();
        match digits.parse::<u8>() {
            Ok(h) if Self::ALLOWED_HOURS.contains(&h) => Ok(Self::Hours(h)),
            _ => Err(ParseError::new(
                "sync frequency",
                input,
                "expected never, 1h, 3h, 6h, 12h or 24h",
            )),
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Never => f.write_str("never"),
            Self::Hours(h) => write!(f, "{h}h"),
        }
    }
}
serde_via_str!(
    Frequency,
    "How often automatic sync runs: never, or every so many hours, such as 24h."
);

/// What to sync (the guide's "What to Sync", plus Microsoft 365 groups, off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncScope {
    pub users: bool,
    pub distribution_groups: bool,
    /// Both security kinds: security and mail-enabled security.
    pub security_groups: bool,
    pub m365_groups: bool,
}

impl Default for SyncScope {
    fn default() -> Self {
        Self {
            users: true,
            distribution_groups: true,
            security_groups: true,
            m365_groups: false,
        }
    }
}

impl SyncScope {
    pub const NAMES: [&str; 4] = [
        "users",
        "distribution-groups",
        "security-groups",
        "m365-groups",
    ];

    pub fn names(&self) -> Vec<&'static str> {
        let on = [
            self.users,
            self.distribution_groups,
            self.security_groups,
            self.m365_groups,
        ];
        Self::NAMES
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

impl FromStr for SyncScope {
    type Err = ParseError;

    /// A comma-separated list of what to sync; an empty string selects nothing.
    fn from_str(input: &str) -> Result<Self, ParseError> {
        let mut scope = Self {
            users: false,
            distribution_groups: false,
            security_groups: false,
            m365_groups: false,
        };
        for item in input.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.to_ascii_lowercase().replace('_', "-").as_str() {
                "users" | "active-users" => scope.users = true,
                "distribution-groups" => scope.distribution_groups = true,
                "security-groups" => scope.security_groups = true,
                "m365-groups" | "microsoft-365-groups" => scope.m365_groups = true,
                _ => {
                    return Err(ParseError::new(
                        "what to sync",
                        item,
                        format!(
                            "expected a comma-separated list of {}",
                            Self::NAMES.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(scope)
    }
}

/// How to sync: which kinds of change sync may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncActions {
    pub add_users: bool,
    pub update_users: bool,
    pub remove_users: bool,
    pub add_groups: bool,
    pub update_groups: bool,
    pub remove_groups: bool,
}

impl Default for SyncActions {
    fn default() -> Self {
        Self {
            add_users: true,
            update_users: true,
            remove_users: true,
            add_groups: true,
            update_groups: true,
            remove_groups: true,
        }
    }
}

impl SyncActions {
    pub const NAMES: [&str; 6] = [
        "add-users",
        "update-users",
        "remove-users",
        "add-groups",
        "update-groups",
        "remove-groups",
    ];

    fn flags(&self) -> [bool; 6] {
        [
            self.add_users,
            self.update_users,
            self.remove_users,
            self.add_groups,
            self.update_groups,
            self.remove_groups,
        ]
    }

    /// Whether these switches let sync make changes of `category`.
    pub fn allows(&self, category: Category) -> bool {
        match category {
            Category::UsersToAdd => self.add_users,
            Category::UsersToUpdate => self.update_users,
            Category::UsersToRemove => self.remove_users,
            Category::GroupsToAdd => self.add_groups,
            Category::GroupsToUpdate => self.update_groups,
            Category::GroupsToRemove => self.remove_groups,
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .zip(self.flags())
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

impl FromStr for SyncActions {
    type Err = ParseError;

    /// A comma-separated list of allowed actions; an empty string allows none.
    fn from_str(input: &str) -> Result<Self, ParseError> {
        let mut actions = Self {
            add_users: false,
            update_users: false,
            remove_users: false,
            add_groups: false,
            update_groups: false,
            remove_groups: false,
        };
        for item in input.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let flag = match item.to_ascii_lowercase().replace('_', "-").as_str() {
                "add-users" => &mut actions.add_users,
                "update-users" => &mut actions.update_users,
                "remove-users" | "remove-deleted-users" => &mut actions.remove_users,
                "add-groups" => &mut actions.add_groups,
                "update-groups" => &mut actions.update_groups,
                "remove-groups" | "remove-deleted-groups" => &mut actions.remove_groups,
                _ => {
                    return Err(ParseError::new(
                        "how to sync",
                        item,
                        format!(
                            "expected a comma-separated list of {}",
                            Self::NAMES.join(", ")
                        ),
                    ));
                }
            };
            *flag = true;
        }
        Ok(actions)
    }
}

/// When a plan removes too much, automatic sync holds the removals (product.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletionLimit {
    /// Removals above this share of the account's synced users (or groups) are held.
    pub percent: u8,
    /// ... provided at least this many objects would be removed.
    pub min_objects: u32,
}

impl Default for DeletionLimit {
    fn default() -> Self {
        Self {
            percent: 10,
            min_objects: 10,
        }
    }
}

impl DeletionLimit {
    pub fn new(percent: u8, min_objects: u32) -> Result<Self, ParseError> {
        if !(1..=100).contains(&percent) {
            return Err(ParseError::new(
                "deletion limit percent",
                &percent.to_string(),
                "expected a whole number from 1 to 100",
            ));
        }
        Ok(Self {
            percent,
            min_objects,
        })
    }

    /// Whether removing `removals` of `synced` objects exceeds the limit.
    pub fn exceeded(&self, removals: usize, synced: usize) -> bool {
        let over_share = removals as u128 * 100 > synced as u128 * u128::from(self.percent);
        over_share && removals >= self.min_objects as usize
    }
}

/// Every setting of a directory connection; what every sync uses once saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionSettings {
    pub tenant: TenantRef,
    pub client_id: ClientId,
    pub cloud: Cloud,
    pub default_role: NewUserRole,
    pub scope: SyncScope,
    pub actions: SyncActions,
    pub frequency: Frequency,
    pub deletion_limit: DeletionLimit,
    /// Treat sign-in-blocked accounts that still have a mailbox as active (shared and room
    /// mailboxes are often blocked and still receive mail). Off by default.
    pub include_sign_in_blocked: bool,
    /// How Roster signs in: with the client secret (the key) or a certificate.
    #[serde(default)]
    pub credential: CredentialKind,
    /// The client secret's expiry date, as the Entra admin center showed it when the secret
    /// was created; optional, since Entra never tells an app when its secret expires.
    #[serde(default, with = "iso_date")]
    pub key_expires_on: Option<Date>,
}

impl ConnectionSettings {
    /// A connection to `tenant` through the app registration `client_id` in `cloud`, with every
    /// other setting at its default: end users, users and both kinds of distribution and
    /// security groups, every action, no automatic sync, the default deletion limit.
    pub fn new(tenant: TenantRef, client_id: ClientId, cloud: Cloud) -> Self {
        Self {
            tenant,
            client_id,
            cloud,
            default_role: NewUserRole::default(),
            scope: SyncScope::default(),
            actions: SyncActions::default(),
            frequency: Frequency::Never,
            deletion_limit: DeletionLimit::default(),
            include_sign_in_blocked: false,
            credential: CredentialKind::Secret,
            key_expires_on: None,
        }
    }
}

/// A date as `YYYY-MM-DD`, the form the Entra admin center and the CLI use.
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::format_description::BorrowedFormatItem;
    use time::macros::format_description;

    const FORMAT: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Date, crate::ParseError> {
        Date::parse(text.trim(), FORMAT).map_err(|e| {
            crate::ParseError::new("date", text, format!("{e}; write it as YYYY-MM-DD"))
        })
    }

    pub fn format(date: Date) -> String {
        date.format(FORMAT)
            .unwrap_or_else(|_| unreachable!("every date has a year, month and day"))
    }

    pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => s.serialize_some(&format(*date)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// What the token request proves the app's identity with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// The client secret's value (the guide's "key").
    #[default]
    Secret,
    /// A client assertion signed with the private key of a certificate Roster generated and
    /// the admin uploaded to the app registration.
    Certificate,
}

impl FromStr for CredentialKind {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "secret" | "key" | "client-secret" => Ok(Self::Secret),
            "certificate" | "cert" => Ok(Self::Certificate),
            _ => Err(ParseError::new(
                "credential",
                input,
                "expected secret (the client secret, or key) or certificate",
            )),
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Secret => "secret",
            Self::Certificate => "certificate",
        })
    }
}

/// The public half of a certificate Roster generated for a connection; its private key stays
/// sealed in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// The SHA-1 thumbprint in hex, as the Entra admin center lists it under Certificates.
    pub thumbprint: String,
    /// The base64url SHA-256 thumbprint, the `x5t#S256` of Roster's client assertions.
    pub sha256_thumbprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl CertificateInfo {
    /// Whether the certificate can sign in at `now`.
    pub fn valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now < self.not_after
    }

    /// Whether `thumbprint` names this certificate: its SHA-1 thumbprint in hex (any case), or
    /// its base64url SHA-256 thumbprint.
    pub fn is_named(&self, thumbprint: &str) -> bool {
        self.thumbprint.eq_ignore_ascii_case(thumbprint) || self.sha256_thumbprint == thumbprint
    }
}

/// A certificate that may not be removed: the connection signs in with it alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the certificate {thumbprint} is the only valid certificate this connection signs in with, so removing it \
     would stop every sync; switch the connection to its key first, or generate another certificate, upload \
     its .cer file to the app registration, and then remove this one"
)]
pub struct OnlySigningCertificate {
    pub thumbprint: String,
}

/// A certificate as uploaded to the app registration: what it is, and its DER encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicCertificate {
    pub info: CertificateInfo,
    pub der: Vec<u8>,
}

impl PublicCertificate {
    /// The PEM encoding (RFC 7468): base64 of the DER in lines of 64 characters.
    pub fn pem(&self) -> String {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        // Base64 is ASCII: every byte offset is a character boundary.
        for start in (0..encoded.len()).step_by(64) {
            pem.push_str(&encoded[start..encoded.len().min(start + 64)]);
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// A file name for the download: `roster-` and the thumbprint's first twelve digits.
    pub fn file_stem(&self) -> String {
        let short: String = self.info.thumbprint.chars().take(12).collect();
        format!("roster-{}", short.to_ascii_lowercase())
    }
}

/// An account's directory connection as stored. The client secret is held apart and never
/// leaves storage except to the Graph client; only when it was set is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryConnection {
    pub account_id: AccountId,
    pub settings: ConnectionSettings,
    #[serde(with = "time::serde::rfc3339")]
    pub secret_set_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The certificates generated for this connection, newest first.
    #[serde(default)]
    pub certificates: Vec<CertificateInfo>,
}

impl DirectoryConnection {
    /// The certificate a sign-in tries first at `now`: the newest one that is valid. The
    /// others that are still valid are tried after it (one may not be uploaded yet).
    pub fn signing_certificates(&self, now: OffsetDateTime) -> Vec<&CertificateInfo> {
        self.certificates
            .iter()
            .filter(|c| c.valid_at(now))
            .collect()
    }

    /// Whether the certificate `thumbprint` names may be removed at `now`: any may, except the
    /// only valid one of a connection that signs in with a certificate.
    pub fn check_certificate_removal(
        &self,
        thumbprint: &str,
        now: OffsetDateTime,
    ) -> Result<(), OnlySigningCertificate> {
        if self.settings.credential != CredentialKind::Certificate {
            return Ok(());
        }
        match self.signing_certificates(now)[..] {
            [only] if only.is_named(thumbprint) => Err(OnlySigningCertificate {
                thumbprint: only.thumbprint.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// The date the credential a connection signs in with stops working, if Roster knows it: the
/// key's expiry date from the settings for a secret, or for certificates the latest expiry of
/// those still valid at `now` (sign-in keeps working until the last of them expires), else
/// the latest expiry of any (all expired).
pub fn credential_expiry(connection: &DirectoryConnection, now: OffsetDateTime) -> Option<Date> {
    match connection.settings.credential {
        CredentialKind::Secret => connection.settings.key_expires_on,
        CredentialKind::Certificate => {
            let latest = |valid_only: bool| {
                connection
                    .certificates
                    .iter()
                    .filter(|c| !valid_only || c.valid_at(now))
                    .map(|c| c.not_after)
                    .max()
            };
            latest(true)
                .or_else(|| latest(false))
                .map(OffsetDateTime::date)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificates_pem_is_its_der_in_base64_lines_of_64() {
        use base64::Engine as _;
        let certificate = PublicCertificate {
            info: CertificateInfo {
                thumbprint: "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567".to_owned(),
                sha256_thumbprint: "x".to_owned(),
                not_before: OffsetDateTime::UNIX_EPOCH,
                not_after: OffsetDateTime::UNIX_EPOCH,
                created_at: OffsetDateTime::UNIX_EPOCH,
            },
            der: (0..=255).collect(),
        };
        let pem = certificate.pem();
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        let body = &lines[1..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body.concat())
            .unwrap();
        assert_eq!(decoded, certificate.der);
        assert_eq!(certificate.file_stem(), "roster-0a1b2c3d4e5f");
    }

    #[test]
    fn frequencies_are_the_guides_choices() {
        assert_eq!("never".parse::<Frequency>().unwrap(), Frequency::Never);
        assert_eq!("3h".parse::<Frequency>().unwrap(), Frequency::Hours(3));
        assert_eq!(
            "24 hours".parse::<Frequency>().unwrap(),
            Frequency::Hours(24)
        );
        let err = "2h".parse::<Frequency>().unwrap_err().to_string();
        assert!(err.contains("1h, 3h, 6h, 12h or 24h"), "{err}");
    }

    #[test]
    fn schedules_are_spread_across_accounts_and_stable() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let hourly = Frequency::Hours(1);
        let slots: std::collections::BTreeSet<_> = (0..50)
            .map(|_| {
                hourly
                    .latest_slot(AccountId::new(), now)
                    .unwrap()
                    .unix_timestamp()
                    % 3600
            })
            .collect();
        assert!(
            slots.len() > 40,
            "50 accounts should fire at many different minutes, got {}",
            slots.len()
        );
        let account = AccountId::new();
        let slot = hourly.latest_slot(account, now).unwrap();
        assert!(slot <= now && now - slot < time::Duration::hours(1));
        assert_eq!(
            hourly.latest_slot(account, slot),
            Some(slot),
            "a slot is its own latest slot"
        );
        assert_eq!(
            hourly.next_slot(account, now),
            Some(slot + time::Duration::hours(1))
        );
        assert_eq!(Frequency::Never.latest_slot(account, now), None);
    }

    #[test]
    fn custom_clouds_refuse_plain_http_off_loopback() {
        assert!(Cloud::custom("http://127.0.0.1:9000/", "http://localhost:9001").is_ok());
        assert!(Cloud::custom("http://login.example.com", "https://graph.example.com").is_err());
        let cloud =
            Cloud::custom("https://login.example.com/", "https://graph.example.com").unwrap();
        assert_eq!(cloud.login_url().as_str(), "https://login.example.com/");
    }

    #[test]
    fn a_graph_url_with_the_v1_version_is_cut_to_its_root_and_other_versions_are_refused() {
        let graph = |url: &str| {
            Cloud::custom("https://login.example.com", url).map(|cloud| cloud.graph_url())
        };
        for given in [
            "https://graph.microsoft.com/v1.0",
            "https://graph.microsoft.com/v1.0/",
            "https://graph.microsoft.com/V1.0",
            "https://graph.microsoft.com",
        ] {
            assert_eq!(
                graph(given).unwrap().as_str(),
                "https://graph.microsoft.com/",
                "{given}"
            );
        }
        assert_eq!(
            graph("https://proxy.example.com/graph/v1.0")
                .unwrap()
                .as_str(),
            "https://proxy.example.com/graph",
            "a path before the version stays"
        );
        for refused in [
            "https://graph.microsoft.com/beta",
            "https://graph.microsoft.com/v2.0",
        ] {
            let error = graph(refused).unwrap_err().to_string();
            assert!(
                error.contains("v1.0") && error.contains("without a version"),
                "{refused}: {error}"
            );
        }
        assert_eq!(
            Cloud::custom(
                "https://login.example.com/v1.0",
                "https://graph.example.com"
            )
            .unwrap()
            .login_url()
            .path(),
            "/v1.0",
            "only the Graph URL carries an API version"
        );
    }

    #[test]
    fn deletion_limit_needs_both_share_and_count() {
        let limit = DeletionLimit::default();
        assert!(!limit.exceeded(9, 20), "45% but fewer than 10 objects");
        assert!(!limit.exceeded(10, 100), "exactly 10% is not more than 10%");
        assert!(limit.exceeded(11, 100));
        assert!(DeletionLimit::new(0, 10).is_err());
    }

    #[test]
    fn the_only_certificate_a_connection_signs_in_with_cannot_be_removed() {
        let day = |d: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::days(d);
        let certificate = |name: &str, from: i64, to: i64| CertificateInfo {
            thumbprint: name.to_owned(),
            sha256_thumbprint: format!("{name}-sha256"),
            not_before: day(from),
            not_after: day(to),
            created_at: day(from),
        };
        let mut connection = DirectoryConnection {
            account_id: AccountId::new(),
            settings: ConnectionSettings::new(
                "contoso.com".parse().unwrap(),
                "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".parse().unwrap(),
                Cloud::Global,
            ),
            secret_set_at: day(0),
            updated_at: day(0),
            certificates: vec![certificate("AB12", 0, 365), certificate("OLD0", 0, 5)],
        };
        let now = day(10);
        assert_eq!(
            connection.check_certificate_removal("ab12", now),
            Ok(()),
            "signing in with the key, any certificate may go"
        );
        connection.settings.credential = CredentialKind::Certificate;
        for name in ["ab12", "AB12", "AB12-sha256"] {
            let refused = connection
                .check_certificate_removal(name, now)
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("switch the connection to its key first"),
                "{refused}"
            );
            assert!(
                refused.contains("generate another certificate"),
                "{refused}"
            );
        }
        assert_eq!(
            connection.check_certificate_removal("OLD0", now),
            Ok(()),
            "an expired certificate signs nothing"
        );
        connection
            .certificates
            .insert(0, certificate("NEW1", 9, 400));
        assert_eq!(
            connection.check_certificate_removal("AB12", now),
            Ok(()),
            "another valid certificate signs in instead"
        );
    }

    #[test]
    fn the_credential_expires_with_the_key_or_the_last_valid_certificate() {
        let day = |d: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::days(d);
        let certificate = |from: i64, to: i64| CertificateInfo {
            thumbprint: format!("{from}-{to}"),
            sha256_thumbprint: String::new(),
            not_before: day(from),
            not_after: day(to),
            created_at: day(from),
        };
        let mut settings = ConnectionSettings::new(
            "contoso.com".parse().unwrap(),
            "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".parse().unwrap(),
            Cloud::Global,
        );
        settings.key_expires_on = Some(day(400).date());
        let mut connection = DirectoryConnection {
            account_id: AccountId::new(),
            settings,
            secret_set_at: day(0),
            updated_at: day(0),
            certificates: vec![certificate(300, 700), certificate(0, 365)],
        };
        assert_eq!(
            credential_expiry(&connection, day(10)),
            Some(day(400).date())
        );
        connection.settings.credential = CredentialKind::Certificate;
        assert_eq!(
            credential_expiry(&connection, day(10)),
            Some(day(365).date()),
            "the newer certificate is not valid yet"
        );
        assert_eq!(
            credential_expiry(&connection, day(320)),
            Some(day(700).date())
        );
        assert_eq!(
            credential_expiry(&connection, day(800)),
            Some(day(700).date())
        );
        connection.certificates.clear();
        assert_eq!(credential_expiry(&connection, day(10)), None);
        assert_eq!(
            "cert".parse::<CredentialKind>().unwrap(),
            CredentialKind::Certificate
        );
        assert!("password".parse::<CredentialKind>().is_err());
        let json = serde_json::to_value(&connection.settings).unwrap();
        assert_eq!(json["key_expires_on"], "1971-02-05");
        assert!(iso_date::parse("2027-13-01").is_err());
    }

    #[test]
    fn settings_saved_before_certificates_read_as_secret_without_expiry() {
        let saved = r#"{"tenant":"contoso.com","client_id":"8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
            "cloud":{"kind":"global"},"default_role":"end_user","scope":{"users":true,
            "distribution_groups":true,"security_groups":true,"m365_groups":false},
            "actions":{"add_users":true,"update_users":true,"remove_users":true,"add_groups":true,
            "update_groups":true,"remove_groups":true},"frequency":"never",
            "deletion_limit":{"percent":10,"min_objects":10},"include_sign_in_blocked":false}"#;
        let settings: ConnectionSettings = serde_json::from_str(saved).unwrap();
        assert_eq!(settings.credential, CredentialKind::Secret);
        assert_eq!(settings.key_expires_on, None);
    }

    #[test]
    fn scope_and_actions_parse_comma_lists() {
        let scope: SyncScope = "users, m365-groups".parse().unwrap();
        assert!(scope.users && scope.m365_groups && !scope.security_groups);
        assert!("users,printers".parse::<SyncScope>().is_err());
        let actions: SyncActions = "add-users,update-users".parse().unwrap();
        assert_eq!(actions.names(), ["add-users", "update-users"]);
    }
}
