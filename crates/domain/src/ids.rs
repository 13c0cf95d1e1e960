//! Identifiers: Roster's own ids (UUID v7, time-ordered) and the directory's.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::{DomainName, ParseError, serde_via_str};

macro_rules! roster_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id; UUID v7 keeps ids in creation order, which keeps indexes compact.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(input: &str) -> Result<Self, ParseError> {
                Uuid::parse_str(input.trim())
                    .map(Self)
                    .map_err(|_| ParseError::new($what, input, "expected a UUID such as 0190a5b2-7c1e-7d3a-9f00-1234567890ab"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
        serde_via_str!($name, concat!("The ", $what, "."), "uuid");
    };
}

roster_id!(/// An account (one customer organisation).
    AccountId, "account id");
roster_id!(/// A user of an account.
    UserId, "user id");
roster_id!(/// A group of an account.
    GroupId, "group id");
roster_id!(/// A stored plan.
    PlanId, "plan id");
roster_id!(/// A sync run.
    RunId, "run id");
roster_id!(/// One change inside a plan.
    ChangeId, "change id");
roster_id!(/// A message in the outbox.
    MessageId, "message id");
roster_id!(/// A platform operator: the service's own staff, above every account.
    OperatorId, "operator id");
roster_id!(/// An API token of an account.
    ApiTokenId, "API token id");

/// The application (client) ID of an Entra app registration: a GUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId(Uuid);

impl ClientId {
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

fn parse_guid(what: &'static str, input: &str, hint: &str) -> Result<Uuid, ParseError> {
    let text = input.trim();
    // Only the hyphenated 36-character form is accepted: it is what the Azure portal shows.
    if text.len() != 36 {
        return Err(ParseError::new(
            what,
            input,
            format!(
                "expected a GUID of 36 characters such as 8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d; {hint}"
            ),
        ));
    }
    Uuid::parse_str(text).map_err(|_| {
        ParseError::new(
            what,
            input,
            format!("expected a GUID such as 8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d; {hint}"),
        )
    })
}

impl FromStr for ClientId {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        let id = parse_guid(
            "client ID",
            input,
            "copy the Application (client) ID from the app registration's Overview page in the Entra admin center",
        )?;
        if id.is_nil() {
            return Err(ParseError::new(
                "client ID",
                input,
                "the all-zero GUID is not an application ID",
            ));
        }
        Ok(Self(id))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}
serde_via_str!(
    ClientId,
    "The application (client) ID of the Entra app registration.",
    "uuid"
);

/// The tenant a connection reads: its GUID or one of its verified domains.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TenantRef {
    Id(Uuid),
    Domain(DomainName),
}

impl FromStr for TenantRef {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "tenant";
        let text = input.trim();
        if let Ok(id) = Uuid::parse_str(text) {
            if text.len() != 36 {
                return Err(ParseError::new(
                    WHAT,
                    input,
                    "write a tenant GUID in its hyphenated form of 36 characters",
                ));
            }
            if id.is_nil() {
                return Err(ParseError::new(
                    WHAT,
                    input,
                    "tenant identifiers may not be the all-zero GUID",
                ));
            }
            return Ok(Self::Id(id));
        }
        let lowered = text.to_ascii_lowercase();
        if matches!(lowered.as_str(), "common" | "organizations" | "consumers") {
            return Err(ParseError::new(
                WHAT,
                input,
                "client-credentials sync needs one specific tenant; give its GUID or a verified domain such as contoso.com",
            ));
        }
        text.parse::<DomainName>().map(Self::Domain).map_err(|e| {
            ParseError::new(
                WHAT,
                input,
                format!(
                    "expected the tenant GUID or a verified domain such as contoso.com ({})",
                    e.why
                ),
            )
        })
    }
}

impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.hyphenated().fmt(f),
            Self::Domain(d) => d.fmt(f),
        }
    }
}
serde_via_str!(
    TenantRef,
    "The Entra tenant: its ID, or a verified domain such as contoso.onmicrosoft.com."
);

/// The directory's id of an object (Entra's object id). Opaque: Microsoft's own samples carry
/// ids that are not valid GUIDs, so only emptiness, length and control characters are checked.
///
/// Compares, orders and hashes as its text. An id that fits, as an Entra object id (a GUID, 36
/// characters) does, is kept inline rather than in an allocation of its own: a large tenant's
/// sync holds millions of ids at once (every group's members, in the mirror and in the plan),
/// and inline they take half the memory.
#[derive(Clone)]
pub struct ExternalId(IdText);

/// The longest id kept inline: a GUID with two characters to spare, which makes an
/// [`ExternalId`] 40 bytes, no larger than a `String` with its allocation's bookkeeping.
const INLINE_ID: usize = 38;

#[derive(Clone)]
enum IdText {
    Inline { len: u8, bytes: [u8; INLINE_ID] },
    Heap(Box<str>),
}

impl ExternalId {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("an id's bytes are copied whole from a str")
    }

    /// The text's bytes, without checking again that they are UTF-8: comparing and hashing,
    /// which a large sync does millions of times, need nothing more.
    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            IdText::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IdText::Heap(text) => text.as_bytes(),
        }
    }
}

impl FromStr for ExternalId {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "directory object id";
        if input.is_empty() {
            return Err(ParseError::new(WHAT, input, "it is empty"));
        }
        if input.len() > 128 {
            return Err(ParseError::new(
                WHAT,
                input,
                "it is longer than 128 characters",
            ));
        }
        // Ids are nearly always ASCII, and parsed a million at a time when a large mirror loads:
        // their bytes are checked without decoding characters. (ASCII's white space that
        // `is_ascii_whitespace` leaves out, the vertical tab, is a control character.)
        let forbidden = if input.is_ascii() {
            input
                .bytes()
                .any(|b| b.is_ascii_control() || b.is_ascii_whitespace())
        } else {
            input.chars().any(|c| c.is_control() || c.is_whitespace())
        };
        if forbidden {
            return Err(ParseError::new(
                WHAT,
                input,
                "it contains white space or control characters",
            ));
        }
        let text = match u8::try_from(input.len()) {
            Ok(len) if input.len() <= INLINE_ID => {
                let mut bytes = [0; INLINE_ID];
                bytes[..input.len()].copy_from_slice(input.as_bytes());
                IdText::Inline { len, bytes }
            }
            _ => IdText::Heap(input.into()),
        };
        Ok(Self(text))
    }
}

impl PartialEq for ExternalId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ExternalId {}

impl PartialOrd for ExternalId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// UTF-8 orders as its bytes do, so this is the order of the texts.
impl Ord for ExternalId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for ExternalId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExternalId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
serde_via_str!(
    ExternalId,
    "The id of the object in the directory (Entra's object id)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_must_be_guids() {
        assert!(
            "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
                .parse::<ClientId>()
                .is_ok()
        );
        let err = "my-app".parse::<ClientId>().unwrap_err().to_string();
        assert!(
            err.contains("client ID") && err.contains("Application (client) ID"),
            "{err}"
        );
        assert!(
            "00000000-0000-0000-0000-000000000000"
                .parse::<ClientId>()
                .is_err()
        );
    }

    #[test]
    fn tenants_are_guids_or_domains() {
        assert_eq!(
            "Contoso.com".parse::<TenantRef>().unwrap(),
            TenantRef::Domain("contoso.com".parse().unwrap())
        );
        assert!(matches!(
            "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
                .parse::<TenantRef>()
                .unwrap(),
            TenantRef::Id(_)
        ));
        assert!("common".parse::<TenantRef>().is_err());
        assert!("not a tenant".parse::<TenantRef>().is_err());
    }

    #[test]
    fn external_ids_are_opaque_but_bounded() {
        assert!(
            "632f6bb2-ffff-4e0c-ffff-0027a8c6859"
                .parse::<ExternalId>()
                .is_ok()
        );
        assert!("x".repeat(128).parse::<ExternalId>().is_ok());
        assert!("x".repeat(129).parse::<ExternalId>().is_err());
        assert!("".parse::<ExternalId>().is_err());
        for refused in [
            "a b",
            "a\tb",
            "a\u{b}b",
            "a\u{7f}b",
            "a\u{a0}b",
            "a\u{2028}b",
            "é\u{85}",
        ] {
            assert!(refused.parse::<ExternalId>().is_err(), "{refused:?}");
        }
    }

    #[test]
    fn external_ids_keep_compare_and_order_as_their_text_at_every_length() {
        let texts: Vec<String> = (1..=127)
            .flat_map(|n| ["z".repeat(n), format!("{}é", "a".repeat(n - 1))])
            .collect();
        let mut ids: Vec<ExternalId> = texts.iter().map(|t| t.parse().unwrap()).collect();
        for (id, text) in ids.iter().zip(&texts) {
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), *text);
            assert_eq!(*id, text.parse::<ExternalId>().unwrap());
        }
        let mut sorted_texts = texts.clone();
        sorted_texts.sort();
        ids.sort();
        assert_eq!(
            ids.iter().map(ExternalId::as_str).collect::<Vec<_>>(),
            sorted_texts
        );
        let distinct: std::collections::HashSet<&ExternalId> = ids.iter().collect();
        assert_eq!(distinct.len(), texts.len());
    }
}
