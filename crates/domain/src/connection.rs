//! The directory connection and every setting of the guide's Step 2.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

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
            graph_url: parse_endpoint("Graph URL", graph_url)?,
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
serde_via_str!(Frequency);

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
    /// When the key (client secret or certificate) expires, as the app registration shows it:
    /// the tech contact is warned 30, 7 and 1 days before (product.md §12).
    #[serde(default, with = "crate::notice::iso_date::option")]
    pub key_expires_on: Option<time::Date>,
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
            key_expires_on: None,
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn deletion_limit_needs_both_share_and_count() {
        let limit = DeletionLimit::default();
        assert!(!limit.exceeded(9, 20), "45% but fewer than 10 objects");
        assert!(!limit.exceeded(10, 100), "exactly 10% is not more than 10%");
        assert!(limit.exceeded(11, 100));
        assert!(DeletionLimit::new(0, 10).is_err());
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
