//! Banners: what every page of an account warns its admin about (product.md §6, §8, §12), as a
//! pure rule over facts the caller gathers.

use time::{Date, Duration, OffsetDateTime};

use crate::notice::{ExpiryWarning, days_until, expiry_warning_due};
use crate::plan::Category;
use crate::run::{Run, RunStatus, Trigger};
use crate::{Account, CredentialKind, DirectoryConnection, Frequency, RunId, credential_expiry};

/// One warning at the top of an account's pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Banner {
    /// The account has no tech contact. With automatic sync on, it reverts to never
    /// `reverts_on` (the grace period's end), since nobody would hear of a failing sync.
    NoTechContact {
        frequency: Frequency,
        reverts_on: Option<Date>,
    },
    /// The latest automatic run held removals over the deletion limit, and no sync since
    /// dealt with them.
    RemovalsHeld {
        run_id: RunId,
        users: usize,
        groups: usize,
    },
    /// The latest read of the directory failed; `message` is the error with its fix.
    ConnectionFailing { run_id: RunId, message: String },
    /// The key or certificate stops working on `expires_on`, `days_left` days from now
    /// (0 on the day itself).
    CredentialExpiring {
        credential: CredentialKind,
        expires_on: Date,
        days_left: i64,
    },
    /// The key or certificate stopped working after `expires_on`.
    CredentialExpired {
        credential: CredentialKind,
        expires_on: Date,
    },
}

/// What the banners are decided from.
pub struct BannerFacts<'a> {
    pub account: &'a Account,
    pub connection: Option<&'a DirectoryConnection>,
    /// Since when the account has had no tech contact, as the store recorded it.
    pub tech_contact_missing_since: Option<OffsetDateTime>,
    /// How long automatic sync keeps running without a tech contact.
    pub tech_contact_grace: Duration,
    /// The account's latest finished run of each trigger, abandoned runs left out.
    pub last_runs: &'a [Run],
}

/// The banners due at `now`, most urgent first.
pub fn banners(facts: &BannerFacts<'_>, now: OffsetDateTime) -> Vec<Banner> {
    let mut banners = Vec::new();
    let newest = |triggers: &[Trigger]| {
        facts
            .last_runs
            .iter()
            .filter(|run| run.status != RunStatus::Running && triggers.contains(&run.trigger))
            .max_by_key(|run| run.finished_at.unwrap_or(run.started_at))
    };
    // Reads of the directory: a failed apply is about its plan, not the connection.
    if let Some(run) = newest(&[Trigger::Preview, Trigger::Automatic])
        && run.status == RunStatus::Failed
    {
        banners.push(Banner::ConnectionFailing {
            run_id: run.id,
            message: run
                .error
                .clone()
                .unwrap_or_else(|| "the run failed without saying why".to_owned()),
        });
    }
    if let Some(connection) = facts.connection
        && let Some(expires_on) = credential_expiry(connection, now)
    {
        let credential = connection.settings.credential;
        match expiry_warning_due(expires_on, now) {
            Some(ExpiryWarning::Expired) => banners.push(Banner::CredentialExpired {
                credential,
                expires_on,
            }),
            Some(_) => banners.push(Banner::CredentialExpiring {
                credential,
                expires_on,
                days_left: days_until(expires_on, now),
            }),
            None => {}
        }
    }
    // An apply (confirmed or not) or a later automatic run supersedes a held run.
    if let Some(run) = newest(&[Trigger::Apply, Trigger::Automatic])
        && run.status == RunStatus::Held
    {
        let held = |category: Category| {
            run.counts
                .get(&category)
                .map_or(0, |count| count.planned.saturating_sub(count.applied))
        };
        banners.push(Banner::RemovalsHeld {
            run_id: run.id,
            users: held(Category::UsersToRemove),
            groups: held(Category::GroupsToRemove),
        });
    }
    if facts.account.tech_contact.is_none() {
        let frequency = facts
            .connection
            .map_or(Frequency::Never, |c| c.settings.frequency);
        let reverts_on = (frequency != Frequency::Never)
            .then_some(facts.tech_contact_missing_since)
            .flatten()
            .map(|since| (since + facts.tech_contact_grace).date());
        banners.push(Banner::NoTechContact {
            frequency,
            reverts_on,
        });
    }
    banners
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use time::macros::{date, datetime};

    use super::*;
    use crate::run::CategoryCount;
    use crate::{AccountId, CertificateInfo, Cloud, ConnectionSettings, TechContact};

    const NOW: OffsetDateTime = datetime!(2027-01-10 12:00 UTC);

    fn account(tech_contact: bool) -> Account {
        Account {
            id: AccountId::new(),
            name: "contoso".into(),
            domains: vec!["contoso.com".parse().unwrap()],
            tech_contact: tech_contact.then(|| TechContact {
                name: "Ada".into(),
                email: "ada@contoso.com".parse().unwrap(),
            }),
            created_at: NOW,
        }
    }

    fn connection(frequency: Frequency) -> DirectoryConnection {
        let mut settings = ConnectionSettings::new(
            "contoso.com".parse().unwrap(),
            "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".parse().unwrap(),
            Cloud::Global,
        );
        settings.frequency = frequency;
        DirectoryConnection {
            account_id: AccountId::new(),
            settings,
            secret_set_at: NOW,
            updated_at: NOW,
            certificates: Vec::new(),
        }
    }

    fn run(trigger: Trigger, status: RunStatus, finished_minutes_ago: i64) -> Run {
        let finished = NOW - Duration::minutes(finished_minutes_ago);
        Run {
            id: RunId::new(),
            account_id: AccountId::new(),
            trigger,
            actor: "scheduler".into(),
            started_at: finished - Duration::minutes(1),
            finished_at: Some(finished),
            status,
            plan_id: None,
            counts: BTreeMap::new(),
            skipped: 0,
            failures: Vec::new(),
            graph_requests: 0,
            error: (status == RunStatus::Failed).then(|| {
                "the client secret (key) was rejected (AADSTS7000215) — Paste the client secret's VALUE".into()
            }),
        }
    }

    fn decide(
        account: &Account,
        connection: Option<&DirectoryConnection>,
        last_runs: &[Run],
    ) -> Vec<Banner> {
        banners(
            &BannerFacts {
                account,
                connection,
                tech_contact_missing_since: Some(datetime!(2027-01-08 09:00 UTC)),
                tech_contact_grace: Duration::days(7),
                last_runs,
            },
            NOW,
        )
    }

    #[test]
    fn a_healthy_account_shows_none() {
        let connection = connection(Frequency::Hours(24));
        let runs = [run(Trigger::Automatic, RunStatus::Succeeded, 5)];
        assert_eq!(decide(&account(true), Some(&connection), &runs), []);
    }

    #[test]
    fn without_a_tech_contact_automatic_sync_reverts_to_never_at_the_grace_periods_end() {
        let hourly = connection(Frequency::Hours(1));
        assert_eq!(
            decide(&account(false), Some(&hourly), &[]),
            [Banner::NoTechContact {
                frequency: Frequency::Hours(1),
                reverts_on: Some(date!(2027 - 01 - 15)),
            }]
        );
        let never = connection(Frequency::Never);
        assert_eq!(
            decide(&account(false), Some(&never), &[]),
            [Banner::NoTechContact {
                frequency: Frequency::Never,
                reverts_on: None,
            }],
            "nothing reverts, but the admin still learns a tech contact is needed"
        );
    }

    #[test]
    fn the_latest_read_failing_shows_its_error_until_a_read_succeeds() {
        let connection = connection(Frequency::Hours(1));
        let failed = run(Trigger::Automatic, RunStatus::Failed, 10);
        let banners = decide(
            &account(true),
            Some(&connection),
            std::slice::from_ref(&failed),
        );
        assert!(matches!(
            &banners[..],
            [Banner::ConnectionFailing { run_id, message }]
                if *run_id == failed.id && message.contains("AADSTS7000215")
        ));
        let recovered = [failed, run(Trigger::Preview, RunStatus::Succeeded, 2)];
        assert_eq!(decide(&account(true), Some(&connection), &recovered), []);
        let apply_failed = [run(Trigger::Apply, RunStatus::Failed, 1)];
        assert_eq!(
            decide(&account(true), Some(&connection), &apply_failed),
            [],
            "a failed apply is about its plan, not the connection"
        );
    }

    #[test]
    fn held_removals_show_until_an_apply_or_a_later_automatic_run() {
        let connection = connection(Frequency::Hours(1));
        let mut held = run(Trigger::Automatic, RunStatus::Held, 30);
        held.counts.insert(
            Category::UsersToRemove,
            CategoryCount {
                planned: 14,
                applied: 0,
            },
        );
        held.counts.insert(
            Category::UsersToAdd,
            CategoryCount {
                planned: 3,
                applied: 3,
            },
        );
        let banners = decide(
            &account(true),
            Some(&connection),
            std::slice::from_ref(&held),
        );
        assert_eq!(
            banners,
            [Banner::RemovalsHeld {
                run_id: held.id,
                users: 14,
                groups: 0,
            }]
        );
        let with_preview = [held.clone(), run(Trigger::Preview, RunStatus::Succeeded, 5)];
        assert_eq!(
            decide(&account(true), Some(&connection), &with_preview).len(),
            1,
            "a Search Now alone applies nothing"
        );
        let reviewed = [held, run(Trigger::Apply, RunStatus::Succeeded, 5)];
        assert_eq!(decide(&account(true), Some(&connection), &reviewed), []);
    }

    #[test]
    fn the_key_warns_from_thirty_days_before_and_once_expired() {
        let mut connection = connection(Frequency::Hours(1));
        connection.settings.key_expires_on = Some(date!(2027 - 02 - 10));
        assert_eq!(
            decide(&account(true), Some(&connection), &[]),
            [],
            "31 days left"
        );
        connection.settings.key_expires_on = Some(date!(2027 - 02 - 09));
        assert_eq!(
            decide(&account(true), Some(&connection), &[]),
            [Banner::CredentialExpiring {
                credential: CredentialKind::Secret,
                expires_on: date!(2027 - 02 - 09),
                days_left: 30,
            }]
        );
        connection.settings.key_expires_on = Some(date!(2027 - 01 - 09));
        assert_eq!(
            decide(&account(true), Some(&connection), &[]),
            [Banner::CredentialExpired {
                credential: CredentialKind::Secret,
                expires_on: date!(2027 - 01 - 09),
            }]
        );
    }

    #[test]
    fn a_certificate_connection_warns_about_its_last_valid_certificate() {
        let mut connection = connection(Frequency::Hours(1));
        connection.settings.credential = CredentialKind::Certificate;
        connection.settings.key_expires_on = Some(date!(2027 - 01 - 11));
        connection.certificates.push(CertificateInfo {
            thumbprint: "AB".into(),
            sha256_thumbprint: "q80".into(),
            not_before: NOW - Duration::days(350),
            not_after: NOW + Duration::days(15),
            created_at: NOW - Duration::days(350),
        });
        assert_eq!(
            decide(&account(true), Some(&connection), &[]),
            [Banner::CredentialExpiring {
                credential: CredentialKind::Certificate,
                expires_on: date!(2027 - 01 - 25),
                days_left: 15,
            }],
            "the certificate's date counts, not the unused key's"
        );
    }
}
