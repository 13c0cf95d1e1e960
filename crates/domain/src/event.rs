//! Account events: what happened to an account that a person should hear of.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, Audience, EmailAddress, ParseError, RunId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccountEventKind {
    /// An automatic run failed as a whole.
    AutomaticRunFailed,
    /// An automatic run held removals over the deletion limit.
    AutomaticRunHeld,
    /// Automatic sync was set to never, e.g. after the grace period without a tech contact.
    AutomaticSyncTurnedOff,
}

impl AccountEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AutomaticRunFailed => "automatic_run_failed",
            Self::AutomaticRunHeld => "automatic_run_held",
            Self::AutomaticSyncTurnedOff => "automatic_sync_turned_off",
        }
    }

    /// Who is told of such an event: the tech contact, except that automatic sync turned off
    /// for lack of one goes to the account's admins.
    pub fn audience(self) -> Audience {
        match self {
            Self::AutomaticSyncTurnedOff => Audience::Admins,
            Self::AutomaticRunFailed | Self::AutomaticRunHeld => Audience::TechContact,
        }
    }
}

impl FromStr for AccountEventKind {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        match input {
            "automatic_run_failed" => Ok(Self::AutomaticRunFailed),
            "automatic_run_held" => Ok(Self::AutomaticRunHeld),
            "automatic_sync_turned_off" => Ok(Self::AutomaticSyncTurnedOff),
            _ => Err(ParseError::new(
                "account event kind",
                input,
                "expected automatic_run_failed, automatic_run_held or automatic_sync_turned_off",
            )),
        }
    }
}

impl fmt::Display for AccountEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded event. `notify` is who is told, as the account stood when it was recorded:
/// the event kind's audience (the tech contact, or the admins); empty when there was nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountEvent {
    pub account_id: AccountId,
    pub kind: AccountEventKind,
    /// What happened and what to do, in the admin's terms.
    pub message: String,
    pub notify: Vec<EmailAddress>,
    pub run_id: Option<RunId>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}
