//! When automatic sync runs (product.md §6): the schedule's decisions, as a pure function, and
//! the scheduler that acts on them.

use std::collections::HashMap;

use roster_domain::run::{RunStatus, Trigger};
use roster_domain::{
    Account, AccountEventKind, AccountId, ConnectionSettings, DirectoryConnection, Frequency, RunId,
};
use roster_store::{AccountRef, NewRun, StoreError};
use time::{Duration, OffsetDateTime};
use tokio::task::{AbortHandle, JoinSet};

use crate::{ApplyOutcome, NoProgress, SyncEngine, SyncError};

/// Who the scheduler is in run records.
const SCHEDULER: &str = "scheduler";

/// What the scheduler should do about one connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleDecision {
    /// Automatic sync is off (frequency never).
    Off,
    /// Nothing is due before `next`.
    Wait { next: OffsetDateTime },
    /// The slot that began at `slot` has passed since the last automatic run: run now.
    RunNow { slot: OffsetDateTime },
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
        ScheduleDecision::RunNow { slot }
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

/// What the scheduler did, over one or more looks at the schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    /// Automatic runs that finished (succeeded, partial or held).
    pub ran: Vec<AccountId>,
    /// Automatic runs that failed as a whole; each is recorded with its error.
    pub failed: Vec<AccountId>,
    /// Accounts whose automatic sync was turned off for want of a tech contact.
    pub turned_off: Vec<AccountId>,
    /// Runs whose owner's lease lapsed, marked abandoned so their accounts are due again.
    pub abandoned: Vec<RunId>,
}

/// A sync the scheduler started and has not yet seen end.
struct InFlight {
    run: RunId,
    task: AbortHandle,
}

/// Runs due automatic syncs side by side, up to the policy's concurrency, as their slots come:
/// each [`Scheduler::look`] claims what is due while there is room, and each finished sync makes
/// room, so no look waits for the slowest sync. Each account's failure is that account's failed
/// run; the scheduler goes on.
pub struct Scheduler {
    engine: SyncEngine,
    policy: SchedulePolicy,
    syncs: JoinSet<(AccountId, Result<ApplyOutcome, SyncError>)>,
    in_flight: HashMap<AccountId, InFlight>,
}

impl Scheduler {
    pub fn new(engine: SyncEngine, policy: SchedulePolicy) -> Self {
        Self {
            engine,
            policy,
            syncs: JoinSet::new(),
            in_flight: HashMap::new(),
        }
    }

    /// Syncs started and not yet finished.
    pub fn running(&self) -> usize {
        self.in_flight.len()
    }

    /// Looks at every connection once, as of `now`: marks runs whose lease lapsed as abandoned,
    /// turns off automatic sync where the tech contact has been missing too long, and starts the
    /// due syncs while there is room, claiming each one's slot so that no other worker runs it.
    /// Returns how many it started. An error here is the store's as a whole (the caller retries);
    /// one account's problem is logged or recorded as its failed run, and the look goes on.
    pub async fn look(
        &mut self,
        now: OffsetDateTime,
        report: &mut ScheduleReport,
    ) -> Result<usize, SyncError> {
        let store = self.engine.store().clone();
        report.abandoned.extend(store.abandon_lapsed_runs().await?);
        let mut started = 0;
        for (account_id, connection) in store.each_connection().await? {
            if self.in_flight.len() >= self.policy.concurrency.max(1) {
                break;
            }
            if self.in_flight.contains_key(&account_id) {
                continue;
            }
            let connection = match connection {
                Ok(connection) => connection,
                Err(error) => {
                    self.record_unreadable(account_id, &error, report).await;
                    continue;
                }
            };
            match self.consider(connection, now, report).await {
                Ok(true) => started += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%account_id, %error, "could not look at the account's schedule")
                }
            }
        }
        Ok(started)
    }

    /// Decides for one account and acts; `true` when a sync started.
    async fn consider(
        &mut self,
        connection: DirectoryConnection,
        now: OffsetDateTime,
        report: &mut ScheduleReport,
    ) -> Result<bool, SyncError> {
        let store = self.engine.store();
        let account = store
            .account(&AccountRef::Id(connection.account_id))
            .await?;
        let last = store
            .last_run_started(account.id, Trigger::Automatic)
            .await?;
        let missing_since = store.tech_contact_missing_since(account.id).await?;
        let decision = decide(
            &account,
            &connection,
            last,
            missing_since,
            self.policy.tech_contact_grace,
            now,
        );
        match decision {
            ScheduleDecision::Off | ScheduleDecision::Wait { .. } => Ok(false),
            ScheduleDecision::TurnOff => {
                self.engine
                    .turn_off(
                        account.id,
                        connection.settings,
                        self.policy.tech_contact_grace,
                    )
                    .await?;
                report.turned_off.push(account.id);
                Ok(false)
            }
            ScheduleDecision::RunNow { slot } => {
                let run = match self
                    .engine
                    .start_scheduled(account.id, SCHEDULER, slot)
                    .await
                {
                    Ok(run) => run,
                    // Another worker has the slot, or a sync of the account is running.
                    Err(SyncError::Store(
                        StoreError::SlotAlreadyClaimed { .. }
                        | StoreError::SyncAlreadyRunning { .. },
                    )) => return Ok(false),
                    Err(error) => return Err(error),
                };
                let engine = self.engine.clone();
                let run_id = run.id;
                let task = self.syncs.spawn(async move {
                    let account_id = run.account_id;
                    (account_id, engine.automatic(run, &NoProgress).await)
                });
                self.in_flight
                    .insert(account.id, InFlight { run: run_id, task });
                Ok(true)
            }
        }
    }

    /// A connection whose stored settings cannot be read cannot be scheduled: that is recorded
    /// as the account's failed automatic run, once for as long as the same error lasts.
    async fn record_unreadable(
        &self,
        account_id: AccountId,
        error: &StoreError,
        report: &mut ScheduleReport,
    ) {
        let message = format!(
            "the connection settings could not be read, so automatic sync cannot run: {error}; save the connection settings again"
        );
        let store = self.engine.store();
        let recorded = async {
            let latest = store.list_runs(account_id, 1).await?;
            if latest
                .first()
                .is_some_and(|run| run.error.as_deref() == Some(message.as_str()))
            {
                return Ok(false);
            }
            let mut run = store
                .start_run(NewRun {
                    account_id,
                    trigger: Trigger::Automatic,
                    actor: SCHEDULER.to_owned(),
                })
                .await?;
            run.status = RunStatus::Failed;
            run.error = Some(message.clone());
            store.update_run(&run).await?;
            Ok::<_, StoreError>(true)
        }
        .await;
        match recorded {
            Ok(true) => {
                tracing::warn!(%account_id, %error, "unreadable connection settings recorded as a failed run");
                report.failed.push(account_id);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%account_id, %error, record_error = %e, "unreadable connection settings")
            }
        }
    }

    /// Waits for the next started sync to end and records it in `report`; `false` when none
    /// is running.
    pub async fn next_finished(&mut self, report: &mut ScheduleReport) -> bool {
        let Some(joined) = self.syncs.join_next().await else {
            return false;
        };
        let (account_id, outcome) = match joined {
            Ok(done) => done,
            // A task that panicked leaves its run to lapse and be taken over.
            Err(error) => {
                tracing::error!(%error, "an automatic sync task stopped");
                let id = error.id();
                self.in_flight.retain(|_, sync| sync.task.id() != id);
                return true;
            }
        };
        self.in_flight.remove(&account_id);
        match outcome {
            Ok(outcome) => {
                tracing::info!(%account_id, run = %outcome.run.id, status = ?outcome.run.status, "automatic sync finished");
                report.ran.push(account_id);
            }
            Err(error) => {
                tracing::warn!(%account_id, %error, "automatic sync failed");
                report.failed.push(account_id);
            }
        }
        true
    }

    /// How a process stops: lets the running syncs finish within `grace`, recording them in
    /// `report`, then hands back those still running (see [`Scheduler::release`]).
    pub async fn stop(&mut self, grace: std::time::Duration, report: &mut ScheduleReport) {
        let finished =
            tokio::time::timeout(grace, async { while self.next_finished(report).await {} }).await;
        if finished.is_err() {
            tracing::warn!(
                running = self.running(),
                "the grace period ended; handing the running syncs back"
            );
            self.release().await;
        }
    }

    /// Stops the running syncs and hands their runs back, so that the next worker pass runs
    /// those accounts again at once.
    pub async fn release(&mut self) {
        self.syncs.abort_all();
        while self.syncs.join_next().await.is_some() {}
        for (account_id, sync) in self.in_flight.drain() {
            match self.engine.store().release_run(sync.run).await {
                Ok(()) => tracing::info!(%account_id, run = %sync.run, "handed the run back"),
                Err(error) => {
                    tracing::warn!(%account_id, run = %sync.run, %error, "could not hand the run back; its lease will lapse")
                }
            }
        }
    }
}

impl SyncEngine {
    /// Runs every sync due as of `now` to its end, `concurrency` at a time, looking at the
    /// schedule again whenever one ends, until nothing more is due: one pass of a worker.
    pub async fn run_due(
        &self,
        now: OffsetDateTime,
        policy: SchedulePolicy,
    ) -> Result<ScheduleReport, SyncError> {
        let mut scheduler = Scheduler::new(self.clone(), policy);
        let mut report = ScheduleReport::default();
        loop {
            scheduler.look(now, &mut report).await?;
            if !scheduler.next_finished(&mut report).await {
                return Ok(report);
            }
        }
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
            ScheduleDecision::RunNow {
                slot: Frequency::Hours(1).latest_slot(account.id, now()).unwrap()
            }
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
            ScheduleDecision::RunNow {
                slot: Frequency::Hours(24).latest_slot(account.id, now()).unwrap()
            }
        );
    }
}
