//! Notices: the mail a person is sent about an account, and the pure rules of when one is due
//! (product.md §6 and §12). Composing the message and sending it are elsewhere (`roster-notify`);
//! the store keeps each notice in its outbox until it is sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::plan::Category;
use crate::{CredentialKind, RunId};

/// What one message tells. Stored as JSON in the outbox, so it holds the facts as they were when
/// the notice was queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// An automatic run failed, as a whole or for some changes.
    AutomaticRunFailed {
        run_id: Option<RunId>,
        /// What went wrong and the fix, in the admin's terms (the account event's message).
        message: String,
        /// Set on the daily reminder: since when automatic runs have kept failing.
        #[serde(default, with = "time::serde::rfc3339::option")]
        failing_since: Option<OffsetDateTime>,
    },
    /// An automatic run held removals over the deletion limit.
    AutomaticRunHeld {
        run_id: Option<RunId>,
        message: String,
        /// The removals held, by category (users, groups).
        held: BTreeMap<Category, usize>,
        /// Set on the daily reminder: since when automatic runs have kept holding removals.
        #[serde(default, with = "time::serde::rfc3339::option")]
        held_since: Option<OffsetDateTime>,
    },
    /// Automatic sync was set to never for lack of a tech contact.
    AutomaticSyncTurnedOff { message: String },
    /// The connection's key (client secret or certificate) expires soon, or has expired.
    KeyExpiry {
        #[serde(with = "iso_date")]
        expires_on: Date,
        warning: ExpiryWarning,
        /// What expires, which decides how it is replaced. Messages queued before this was
        /// recorded were about client secrets.
        #[serde(default)]
        credential: CredentialKind,
    },
}

// A day as `2027-01-31` in JSON (time's own serde form is a tuple of year and ordinal day).
time::serde::format_description!(pub iso_date, Date, "[year]-[month]-[day]");

/// Who a notice goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    TechContact,
    /// The account's organization admins: the notice is about the tech contact being missing.
    Admins,
}

impl Notice {
    pub fn audience(&self) -> Audience {
        match self {
            Self::AutomaticSyncTurnedOff { .. } => Audience::Admins,
            _ => Audience::TechContact,
        }
    }

    /// The run the notice is about, if any.
    pub fn run_id(&self) -> Option<RunId> {
        match self {
            Self::AutomaticRunFailed { run_id, .. } | Self::AutomaticRunHeld { run_id, .. } => {
                *run_id
            }
            _ => None,
        }
    }

    /// A short name of what the notice tells, for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AutomaticRunFailed {
                failing_since: None,
                ..
            } => "automatic run failed",
            Self::AutomaticRunFailed { .. } => "automatic runs still failing",
            Self::AutomaticRunHeld {
                held_since: None, ..
            } => "automatic run held",
            Self::AutomaticRunHeld { .. } => "automatic runs still held",
            Self::AutomaticSyncTurnedOff { .. } => "automatic sync turned off",
            Self::KeyExpiry { warning, .. } => warning.as_str(),
        }
    }
}

/// The warnings about a key's expiry, each sent once per expiry date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryWarning {
    /// 30 days or fewer are left (and more than 7).
    In30Days,
    /// 7 days or fewer are left (and more than 1).
    In7Days,
    /// The key expires tomorrow or today.
    In1Day,
    /// The expiry date has passed.
    Expired,
}

impl ExpiryWarning {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In30Days => "key expires within 30 days",
            Self::In7Days => "key expires within 7 days",
            Self::In1Day => "key expires within a day",
            Self::Expired => "key expired",
        }
    }

    /// A stable name for deduplication keys.
    pub fn key(self) -> &'static str {
        match self {
            Self::In30Days => "30d",
            Self::In7Days => "7d",
            Self::In1Day => "1d",
            Self::Expired => "expired",
        }
    }
}

/// The expiry warning due at `at` for a key that expires on `expires_on` (a day, as the Entra
/// admin center shows it, taken in UTC): the most urgent threshold reached, so that a sender that
/// was down through the 30-day mark sends the 7-day warning rather than a late 30-day one.
/// `None` while more than 30 days are left.
pub fn expiry_warning_due(expires_on: Date, at: OffsetDateTime) -> Option<ExpiryWarning> {
    let today = at.to_offset(time::UtcOffset::UTC).date();
    let days_left = (expires_on - today).whole_days();
    match days_left {
        ..0 => Some(ExpiryWarning::Expired),
        0..=1 => Some(ExpiryWarning::In1Day),
        2..=7 => Some(ExpiryWarning::In7Days),
        8..=30 => Some(ExpiryWarning::In30Days),
        _ => None,
    }
}

/// Days from `today` until `expires_on`; negative once it has passed.
pub fn days_until(expires_on: Date, at: OffsetDateTime) -> i64 {
    (expires_on - at.to_offset(time::UtcOffset::UTC).date()).whole_days()
}

/// Which day of a streak `at` falls on: 0 within the first 24 hours after `started_at`, then 1,
/// 2 … A run that keeps failing is mailed on day 0 and then once for each later day it still
/// fails (a "still failing" reminder), not once per run.
pub fn streak_day(started_at: OffsetDateTime, at: OffsetDateTime) -> i64 {
    (at - started_at).whole_days().max(0)
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn expiry_warnings_start_thirty_days_before() {
        let expires = date!(2027 - 01 - 31);
        let cases = [
            (datetime!(2026-12-31 23:59 UTC), None, "31 days left"),
            (
                datetime!(2027-01-01 00:00 UTC),
                Some(ExpiryWarning::In30Days),
                "30 days left",
            ),
            (
                datetime!(2027-01-23 12:00 UTC),
                Some(ExpiryWarning::In30Days),
                "8 days left",
            ),
            (
                datetime!(2027-01-24 00:00 UTC),
                Some(ExpiryWarning::In7Days),
                "7 days left",
            ),
            (
                datetime!(2027-01-30 00:00 UTC),
                Some(ExpiryWarning::In1Day),
                "1 day left",
            ),
            (
                datetime!(2027-01-31 23:00 UTC),
                Some(ExpiryWarning::In1Day),
                "the day itself: the key may still work",
            ),
            (
                datetime!(2027-02-01 00:00 UTC),
                Some(ExpiryWarning::Expired),
                "the day after",
            ),
        ];
        for (at, due, why) in cases {
            assert_eq!(expiry_warning_due(expires, at), due, "{why}");
        }
    }

    #[test]
    fn expiry_days_are_counted_in_utc() {
        let expires = date!(2027 - 01 - 31);
        // 19:30 on the 23rd in New York is already the 24th in UTC: 7 days left.
        let evening = datetime!(2027-01-23 19:30 -5);
        assert_eq!(days_until(expires, evening), 7);
        assert_eq!(
            expiry_warning_due(expires, evening),
            Some(ExpiryWarning::In7Days)
        );
    }

    #[test]
    fn a_streak_counts_whole_days_from_its_start() {
        let start = datetime!(2026-12-01 10:00 UTC);
        assert_eq!(streak_day(start, start), 0);
        assert_eq!(streak_day(start, datetime!(2026-12-02 09:59 UTC)), 0);
        assert_eq!(streak_day(start, datetime!(2026-12-02 10:00 UTC)), 1);
        assert_eq!(streak_day(start, datetime!(2026-12-05 11:00 UTC)), 4);
        assert_eq!(
            streak_day(start, datetime!(2026-12-01 09:00 UTC)),
            0,
            "a clock step backwards stays on the first day"
        );
    }

    #[test]
    fn notices_round_trip_through_json() {
        let notices = [
            Notice::AutomaticRunFailed {
                run_id: Some(RunId::new()),
                message: "the tenant was not found".into(),
                failing_since: Some(datetime!(2026-12-01 10:00 UTC)),
            },
            Notice::AutomaticRunHeld {
                run_id: None,
                message: "12 removals held".into(),
                held: BTreeMap::from([(Category::UsersToRemove, 12)]),
                held_since: None,
            },
            Notice::AutomaticSyncTurnedOff {
                message: "no tech contact".into(),
            },
            Notice::KeyExpiry {
                expires_on: date!(2027 - 01 - 31),
                warning: ExpiryWarning::In7Days,
                credential: CredentialKind::Certificate,
            },
        ];
        for notice in notices {
            let json = serde_json::to_string(&notice).unwrap();
            assert_eq!(serde_json::from_str::<Notice>(&json).unwrap(), notice);
        }
    }

    #[test]
    fn an_expiry_warning_queued_before_credentials_were_recorded_is_about_a_secret() {
        let queued = r#"{"kind":"key_expiry","expires_on":"2027-01-31","warning":"in7_days"}"#;
        assert_eq!(
            serde_json::from_str::<Notice>(queued).unwrap(),
            Notice::KeyExpiry {
                expires_on: date!(2027 - 01 - 31),
                warning: ExpiryWarning::In7Days,
                credential: CredentialKind::Secret,
            }
        );
    }
}
