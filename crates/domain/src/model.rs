//! Accounts and what they contain: users and groups.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, DomainName, EmailAddress, ExternalId, GroupId, ParseError, UserId};

/// One customer organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    /// Unique across the deployment; accepted wherever an account id is.
    pub name: String,
    pub domains: Vec<DomainName>,
    pub tech_contact: Option<TechContact>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Account {
    /// Whether `address` is in one of the account's domains.
    pub fn owns_address(&self, address: &EmailAddress) -> bool {
        self.domains.iter().any(|d| address.is_in(d))
    }
}

/// Checks an account name: the operator's handle for an account on the command line.
pub fn parse_account_name(input: &str) -> Result<String, ParseError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(ParseError::new("account name", input, "it is empty"));
    }
    if name.chars().count() > 100 {
        return Err(ParseError::new(
            "account name",
            input,
            "it is longer than 100 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ParseError::new(
            "account name",
            input,
            "it contains control characters",
        ));
    }
    if uuid::Uuid::parse_str(name).is_ok() {
        return Err(ParseError::new(
            "account name",
            input,
            "a name may not look like an id (a UUID)",
        ));
    }
    Ok(name.to_owned())
}

/// The person told when automatic sync fails or is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TechContact {
    pub name: String,
    pub email: EmailAddress,
}

impl TechContact {
    /// Checks a tech contact as entered: a person's name and an address to reach them at.
    pub fn parse(name: &str, email: &str) -> Result<Self, ParseError> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(ParseError::new(
                "tech contact name",
                name,
                "it is empty; give the person's name",
            ));
        }
        if trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control) {
            return Err(ParseError::new(
                "tech contact name",
                name,
                "use at most 200 characters and no control characters",
            ));
        }
        Ok(Self {
            name: trimmed.to_owned(),
            email: email.parse()?,
        })
    }
}

/// What a user may do. Sync never creates or demotes an organization admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    OrganizationAdmin,
    EndUser,
    SilentUser,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganizationAdmin => "organization_admin",
            Self::EndUser => "end_user",
            Self::SilentUser => "silent_user",
        }
    }

    /// Whether users of this role get quarantine digests unless told otherwise.
    pub fn digests_by_default(self) -> bool {
        !matches!(self, Self::SilentUser)
    }
}

impl FromStr for Role {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "organization_admin" | "org_admin" | "admin" => Ok(Self::OrganizationAdmin),
            "end_user" => Ok(Self::EndUser),
            "silent_user" => Ok(Self::SilentUser),
            _ => Err(ParseError::new(
                "role",
                input,
                "expected end-user, silent-user or organization-admin",
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role sync gives to the users it adds: never an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NewUserRole {
    #[default]
    EndUser,
    SilentUser,
}

impl From<NewUserRole> for Role {
    fn from(role: NewUserRole) -> Self {
        match role {
            NewUserRole::EndUser => Role::EndUser,
            NewUserRole::SilentUser => Role::SilentUser,
        }
    }
}

impl FromStr for NewUserRole {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        match input.parse::<Role>() {
            Ok(Role::EndUser) => Ok(Self::EndUser),
            Ok(Role::SilentUser) => Ok(Self::SilentUser),
            _ => Err(ParseError::new(
                "default new-user role",
                input,
                "expected end-user or silent-user (sync never creates organization admins)",
            )),
        }
    }
}

impl fmt::Display for NewUserRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Role::from(*self).fmt(f)
    }
}

/// Where an object came from: created by hand, or created or linked by directory sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Manual,
    Directory,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Directory => "directory",
        }
    }
}

impl FromStr for Source {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        match input {
            "manual" => Ok(Self::Manual),
            "directory" => Ok(Self::Directory),
            _ => Err(ParseError::new(
                "source",
                input,
                "expected manual or directory",
            )),
        }
    }
}

/// A user of an account. `external_id` is set for users sync created or linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub primary_address: EmailAddress,
    pub aliases: Vec<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
    pub digests: bool,
    pub source: Source,
    pub external_id: Option<ExternalId>,
    /// Bumped on every write; apply uses it to detect a change made stale since planning.
    pub version: i64,
}

/// The kinds of group the directory has (product.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    Distribution,
    MailEnabledSecurity,
    Security,
    Microsoft365,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Distribution => "distribution",
            Self::MailEnabledSecurity => "mail_enabled_security",
            Self::Security => "security",
            Self::Microsoft365 => "microsoft_365",
        }
    }
}

impl FromStr for GroupKind {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "distribution" => Ok(Self::Distribution),
            "mail_enabled_security" => Ok(Self::MailEnabledSecurity),
            "security" => Ok(Self::Security),
            "microsoft_365" | "m365" => Ok(Self::Microsoft365),
            _ => Err(ParseError::new(
                "group kind",
                input,
                "expected distribution, mail-enabled-security, security or microsoft-365",
            )),
        }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group of an account. Members are users and nested groups of the same account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub account_id: AccountId,
    pub name: String,
    pub kind: GroupKind,
    pub address: Option<EmailAddress>,
    pub aliases: Vec<EmailAddress>,
    pub source: Source,
    pub external_id: Option<ExternalId>,
    pub member_users: Vec<UserId>,
    pub member_groups: Vec<GroupId>,
    /// Bumped on every write; apply uses it to detect a change made stale since planning.
    pub version: i64,
}

/// A user sync manages, as the member lists of groups name it: its directory id, its id in the
/// account and its primary address. Planning part of an account names the synced users outside
/// that part this way, rather than loading them whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedUser {
    pub external_id: ExternalId,
    pub id: UserId,
    pub primary_address: EmailAddress,
}

/// A group sync manages, as the member lists of groups name it (see [`SyncedUser`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedGroup {
    pub external_id: ExternalId,
    pub id: GroupId,
    pub name: String,
    pub address: Option<EmailAddress>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_in_cli_and_json_spellings() {
        assert_eq!("end-user".parse::<Role>().unwrap(), Role::EndUser);
        assert_eq!("silent_user".parse::<Role>().unwrap(), Role::SilentUser);
        assert_eq!(
            "organization-admin".parse::<Role>().unwrap(),
            Role::OrganizationAdmin
        );
        assert!("root".parse::<Role>().is_err());
        assert!("organization-admin".parse::<NewUserRole>().is_err());
    }
}

/// "Exempt from sync" on one directory object: no plan proposes any change to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exemption {
    pub account_id: AccountId,
    pub external_id: ExternalId,
    /// Who exempted it: an admin's address or "cli".
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
