//! Who may sign in and act: platform operators, an account's users, API tokens (product.md §8).

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AccountId, ApiTokenId, EmailAddress, OperatorId, Role, UserId};

/// A platform operator: creates accounts, sees all of them, sets custom cloud endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub id: OperatorId,
    pub email: EmailAddress,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Who a session or a token acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Operator(OperatorId),
    /// A user of an account who signed in: an organization admin or an end user (silent users
    /// never sign in).
    User {
        user_id: UserId,
        account_id: AccountId,
        role: Role,
    },
    /// An API token of an account; a read-only one may only read.
    Token {
        token_id: ApiTokenId,
        account_id: AccountId,
        read_only: bool,
    },
}

/// A signed-in console session. Its token is known only to the browser; the store keeps a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub principal: Principal,
    /// The synchronizer token every state-changing request of this session must carry.
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    /// The absolute expiry; the idle expiry is counted from `last_seen_at`.
    pub expires_at: OffsetDateTime,
}

/// An API token as listed: never its secret, which is shown once when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub account_id: AccountId,
    pub name: String,
    pub read_only: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Checks an API token's name: the admin's label for what the token is for.
pub fn parse_token_name(input: &str) -> Result<String, crate::ParseError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(crate::ParseError::new(
            "token name",
            input,
            "it is empty; name what the token is for, e.g. \"nightly export\"",
        ));
    }
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(crate::ParseError::new(
            "token name",
            input,
            "use at most 100 characters and no control characters",
        ));
    }
    Ok(name.to_owned())
}
