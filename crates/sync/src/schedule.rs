//! When automatic sync runs (product.md §6): the schedule's decisions, as a pure function, and
//! the scheduler that acts on them.

use std::sync::Arc;

use roster_domain::run::Trigger;
use roster_domain::{
    Account, AccountEventKind, AccountId, ConnectionSettings, DirectoryConnection, Frequency,
};
use roster_store::{AccountRef, StoreError};
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::{NoProgress, SyncEngine, SyncError};

/// Who the scheduler is in run records.
const SCHEDULER: &str = "scheduler";

/// What the scheduler should do about one connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleDecision {
    /// Automatic sync is off (frequency never).
    Off,
    /// Nothing is due before `next`.
    Wait { next: OffsetDateTime },
    /// A slot has passed since the last automatic run: run now.
    RunNow,
    /// The account has had no tech contact for longer than the grace period: set the
    /// frequency to never and record why, since nobody would hear of a failing sync.
    TurnOff,
}

/// Decides for one connection. `last_automatic_run` is when the last automatic run started;
/// `tech_contact_missing_since` is when the account was first seen without a tech contact
/// (`None` when it has one).
///
/// A slot counts only if it came after both the last automatic run and the last time the
/// settings were saved: saving settings never triggers an immediate unreviewed sync, in line
/// with the guide's advice to save, then review with Search Now.
pub fn decide(
    account: &Account,
    connection: &DirectoryConnection,
    last_automatic_run: Option<OffsetDateTime>,
    tech_contact_missing_since: Option<OffsetDateTime>,
    grace: Duration,
    now: OffsetDateTime,
) -> ScheduleDecision {
    let frequency: Frequency = connection.settings.frequency;
    let Some(slot) = frequency.latest_slot(account.id, now) else {
        return ScheduleDecision::Off;
    };
    if account.tech_contact.is_none()
        && tech_contact_missing_since.is_some_and(|since| now - since > grace)
    {
        return ScheduleDecision::TurnOff;
    }
    let baseline =
        last_automatic_run.map_or(connection.updated_at, |run| run.max(connection.updated_at));
    if slot > baseline {
        ScheduleDecision::RunNow
    } else {
        let next = frequency.next_slot(account.id, now).unwrap_or(slot);
        ScheduleDecision::Wait { next }
    }
}

/// How the scheduler behaves.
#[derive(Debug, Clone, Copy)]
pub struct SchedulePolicy {
    /// How long an account may go without a tech contact before its automatic sync is turned
    /// off (product.md §6; 7 days by default).
    pub tech_contact_grace: Duration,
    /// Accounts synced at the same time.
    pub concurrency: usize,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        Self {
            tech_contact_grace: Duration::days(7),
            concurrency: 4,
        }
    }
}

/// What one look at the schedule did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    /// Automatic runs that finished (succeeded, partial or held).
    pub ran: Vec<AccountId>,
    /// Automatic runs that failed as a whole; each is recorded with its error.
    pub failed: Vec<AccountId>,
    /// Accounts whose automatic sync was turned off for want of a tech contact.
    pub turned_off: Vec<AccountId>,
}

impl SyncEngine {
    /// Looks at every connection once, as of `now`, and syncs the due ones, `concurrency` at a
    /// time. One account's failure never stops the others; an account another worker is
    /// already syncing is left to it.
    pub async fn run_due(
        &self,
        now: OffsetDateTime,
        policy: SchedulePolicy,
    ) -> Result<ScheduleReport, SyncError> {
        let store = self.store();
        let mut report = ScheduleReport::default();
        let slots = Arc::new(Semaphore::new(policy.concurrency.max(1)));
        let mut syncs = JoinSet::new();
        for connection in store.list_connections().await? {
            let account = store
                .account(&AccountRef::Id(connection.account_id))
                .await?;
            let last = store
                .last_run_started(account.id, Trigger::Automatic)
                .await?;
            let missing_since = store.tech_contact_missing_since(account.id).await?;
            match decide(
                &account,
                &connection,
                last,
                missing_since,
                policy.tech_contact_grace,
                now,
            ) {
                ScheduleDecision::Off | ScheduleDecision::Wait { .. } => {}
                ScheduleDecision::TurnOff => {
                    self.turn_off(account.id, connection.settings, policy.tech_contact_grace)
                        .await?;
                    report.turned_off.push(account.id);
                }
                ScheduleDecision::RunNow => {
                    let engine = self.clone();
                    // The semaphore is never closed, so acquiring fails only if the runtime is going away.
                    let slot = Arc::clone(&slots)
                        .acquire_owned()
                        .await
                        .map_err(|_| SyncError::SchedulerStopped)?;
                    syncs.spawn(async move {
                        let outcome = engine
                            .run_automatic(account.id, SCHEDULER, &NoProgress)
                            .await;
                        drop(slot);
                        (account.id, outcome)
                    });
                }
            }
        }
        while let Some(joined) = syncs.join_next().await {
            let (account_id, outcome) = match joined {
                Ok(done) => done,
                // A sync task that panicked or was cancelled leaves its run to be taken over.
                Err(error) => {
                    tracing::error!(%error, "an automatic sync task stopped");
                    continue;
                }
            };
            match outcome {
                Ok(outcome) => {
                    tracing::info!(%account_id, run = %outcome.run.id, status = ?outcome.run.status, "automatic sync finished");
                    report.ran.push(account_id);
                }
                Err(SyncError::Store(StoreError::SyncAlreadyRunning { .. })) => {}
                Err(error) => {
                    tracing::warn!(%account_id, %error, "automatic sync failed");
                    report.failed.push(account_id);
                }
            }
        }
        Ok(report)
    }

    /// Sets the frequency to never and records why, for the console, the history and the
    /// tech contact (none, here: the event says who would have been told).
    async fn turn_off(
        &self,
        account_id: AccountId,
        mut settings: ConnectionSettings,
        grace: Duration,
    ) -> Result<(), SyncError> {
        settings.frequency = Frequency::Never;
        self.store()
            .set_connection(account_id, settings, None)
            .await?;
        let message = format!(
            "Automatic sync was set to never: the account has had no tech contact for more than {} days, so nobody \
             would hear of a failing or held sync. Set a tech contact, then choose a frequency again.",
            grace.whole_days()
        );
        self.store()
            .record_event(
                account_id,
                AccountEventKind::AutomaticSyncTurnedOff,
                &message,
                None,
            )
            .await?;
        tracing::warn!(%account_id, "automatic sync turned off: no tech contact");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use roster_domain::{AccountId, ClientId, Cloud, ConnectionSettings, TechContact, TenantRef};

    use super::*;

    const HOUR: Duration = Duration::hours(1);

    fn account(tech_contact: bool) -> Account {
        Account {
            id: AccountId::new(),
            name: "contoso".to_owned(),
            domains: vec!["contoso.com".parse().unwrap()],
            tech_contact: tech_contact.then(|| TechContact {
                name: "Ada".to_owned(),
                email: "ada@contoso.com".parse().unwrap(),
            }),
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn connection(
        account: &Account,
        frequency: Frequency,
        saved: OffsetDateTime,
    ) -> DirectoryConnection {
        DirectoryConnection {
            account_id: account.id,
            settings: ConnectionSettings {
                frequency,
                ..ConnectionSettings::new(
                    "contoso.com".parse::<TenantRef>().unwrap(),
                    "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
                        .parse::<ClientId>()
                        .unwrap(),
                    Cloud::Global,
                )
            },
            secret_set_at: saved,
            updated_at: saved,
            certificates: Vec::new(),
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_connection_set_to_never_is_never_scheduled() {
        let account = account(true);
        let connection = connection(&account, Frequency::Never, now() - Duration::days(30));
        assert_eq!(
            decide(&account, &connection, None, None, Duration::days(7), now()),
            ScheduleDecision::Off
        );
    }

    #[test]
    fn saving_the_settings_waits_for_the_next_slot_instead_of_syncing_at_once() {
        let account = account(true);
        let connection = connection(&account, Frequency::Hours(1), now());
        let decision = decide(&account, &connection, None, None, Duration::days(7), now());
        let ScheduleDecision::Wait { next } = decision else {
            panic!("expected to wait, got {decision:?}")
        };
        assert!(next > now() && next - now() <= HOUR);
    }

    #[test]
    fn a_slot_passed_since_the_last_automatic_run_is_due() {
        let account = account(true);
        let connection = connection(&account, Frequency::Hours(1), now() - Duration::days(1));
        let last_run = now() - Duration::hours(2);
        assert_eq!(
            decide(
                &account,
                &connection,
                Some(last_run),
                None,
                Duration::days(7),
                now()
            ),
            ScheduleDecision::RunNow
        );
    }

    #[test]
    fn a_run_in_the_current_slot_is_not_repeated() {
        let account = account(true);
        let connection = connection(&account, Frequency::Hours(3), now() - Duration::days(1));
        let slot = Frequency::Hours(3).latest_slot(account.id, now()).unwrap();
        let decision = decide(
            &account,
            &connection,
            Some(slot + Duration::seconds(5)),
            None,
            Duration::days(7),
            now(),
        );
        assert!(
            matches!(decision, ScheduleDecision::Wait { .. }),
            "{decision:?}"
        );
    }

    #[test]
    fn without_a_tech_contact_past_the_grace_period_automatic_sync_is_turned_off() {
        let account = account(false);
        let connection = connection(&account, Frequency::Hours(24), now() - Duration::days(30));
        let missing_since = Some(now() - Duration::days(8));
        assert_eq!(
            decide(
                &account,
                &connection,
                None,
                missing_since,
                Duration::days(7),
                now()
            ),
            ScheduleDecision::TurnOff
        );
        let within_grace = Some(now() - Duration::days(6));
        assert_eq!(
            decide(
                &account,
                &connection,
                None,
                within_grace,
                Duration::days(7),
                now()
            ),
            ScheduleDecision::RunNow
        );
    }
}
