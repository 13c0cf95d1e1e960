//! Roster's domain model, as types that can only hold valid values.
//!
//! Every value that crosses a boundary (a form, an API call, a CLI flag, a Graph response) is
//! parsed into one of these types once, at the edge; code inside trusts them. This crate does no
//! I/O and depends on no I/O crate.

pub mod access;
pub mod address;
pub mod banner;
pub mod connection;
pub mod console_page;
pub mod directory;
pub mod event;
pub mod ids;
pub mod model;
pub mod notice;
pub mod plan;
pub mod run;
pub mod settings_change;

pub use access::{ApiToken, Operator, Principal, Session};
pub use address::{DomainName, EmailAddress};
pub use banner::{Banner, BannerFacts, banners};
pub use connection::{
    CertificateInfo, Cloud, ConnectionSettings, CredentialKind, DeletionLimit, DirectoryConnection,
    Frequency, OnlySigningCertificate, PublicCertificate, SyncActions, SyncScope,
    credential_expiry,
};
pub use directory::{DirectoryGroup, DirectoryMember, DirectoryUser, MemberType};
pub use event::{AccountEvent, AccountEventKind};
pub use ids::{
    AccountId, ApiTokenId, ChangeId, ClientId, ExternalId, GroupId, MessageId, OperatorId, PlanId,
    RunId, TenantRef, UserId,
};
pub use model::{
    Account, Exemption, Group, GroupKind, NewUserRole, Role, Source, SyncedGroup, SyncedUser,
    TechContact, User,
};
pub use notice::{Audience, ExpiryWarning, Notice};
pub use settings_change::{CheckedSave, FieldProblem, SettingsChange};

/// What kind of failure an error is, so that a shell answering in another vocabulary (an HTTP
/// status, an exit code) can tell them apart without matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named object does not exist (or is not the caller's to see).
    NotFound,
    /// The request is well-formed but clashes with what is stored or running now.
    Conflict,
    /// The input itself is wrong; sending it again unchanged fails again.
    Invalid,
    /// A service Roster depends on (the database) cannot be reached; retry later.
    Unavailable,
    /// Microsoft Entra ID or Graph refused or failed the request.
    Upstream,
    /// Roster itself failed: a bug or a stored row it cannot read.
    Internal,
}

/// Why a piece of input was rejected. The message names the value and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {why}")]
pub struct ParseError {
    /// What was being parsed, in the user's terms ("email address", "client ID" …).
    pub what: &'static str,
    /// The rejected input, truncated so a hostile value cannot flood a log line.
    pub value: String,
    /// Why it was rejected and what a valid value looks like.
    pub why: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, value: &str, why: impl Into<String>) -> Self {
        const SHOWN: usize = 80;
        let value = if value.chars().count() > SHOWN {
            let cut: String = value.chars().take(SHOWN).collect();
            format!("{cut}…")
        } else {
            value.to_owned()
        };
        Self {
            what,
            value,
            why: why.into(),
        }
    }
}

/// Implements `Serialize` and `Deserialize` through `Display` and `FromStr`, so that JSON and
/// the database go through the same parser as every other input; with the `openapi` feature,
/// also its OpenAPI schema: a string, described for the API's readers, in the format given (`"uuid"`).
macro_rules! serde_via_str {
    ($t:ident, $description:expr $(, $format:literal)?) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str($crate::ParseStr(std::marker::PhantomData))
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let format: Option<utoipa::openapi::SchemaFormat> = None
                    $(.or(Some(utoipa::openapi::SchemaFormat::Custom($format.to_owned()))))?;
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(format)
                    .description(Some($description))
                    .into()
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $t {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($t))
            }
        }
    };
}
pub(crate) use serde_via_str;

/// Parses a string value as it lies in the input, without copying it into a `String` first
/// (serde's `Cow<str>` always does): a directory mirror holds a million ids.
pub(crate) struct ParseStr<T>(pub(crate) std::marker::PhantomData<T>);

impl<T> serde::de::Visitor<'_> for ParseStr<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}
