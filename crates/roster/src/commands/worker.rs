//! `roster worker`: automatic syncs on their schedule. Several workers may share one database:
//! the store lets one run per account start at a time, so a due account is synced by whichever
//! worker gets there first, and a dead worker's run is taken over (product.md §9).

use std::process::ExitCode;
use std::sync::Arc;

use roster_domain::run::Trigger;
use roster_domain::{AccountEventKind, AccountId, Frequency};
use roster_store::{AccountRef, StoreError};
use roster_sync::{NoProgress, ScheduleDecision, SyncError, decide};
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::WorkerArgs;
use crate::context::Context;

const ACTOR: &str = "scheduler";

/// What one look at the schedule did.
#[derive(Debug, Default)]
struct Tick {
    ran: usize,
    failed: usize,
    turned_off: usize,
}

pub async fn run(ctx: &Context, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let grace = Duration::days(i64::from(args.tech_contact_grace_days));
    let slots = Arc::new(Semaphore::new(usize::from(args.concurrency)));
    loop {
        let tick = tick(ctx, grace, &slots).await?;
        tracing::info!(ran = tick.ran, failed = tick.failed, turned_off = tick.turned_off, "looked at the schedule");
        if args.once {
            println!(
                "Ran {} automatic sync(s), {} failed; turned automatic sync off for {} account(s).",
                tick.ran, tick.failed, tick.turned_off
            );
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(args.tick_seconds)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// Looks at every connection once and syncs the due ones, `slots` at a time. One account's
/// failure never stops the others.
async fn tick(ctx: &Context, grace: Duration, slots: &Arc<Semaphore>) -> anyhow::Result<Tick> {
    let mut report = Tick::default();
    let mut syncs = JoinSet::new();
    for connection in ctx.store.list_connections().await? {
        let account = ctx.store.account(&AccountRef::Id(connection.account_id)).await?;
        let last = ctx.store.last_run_started(account.id, Trigger::Automatic).await?;
        let missing_since = ctx.store.tech_contact_missing_since(account.id).await?;
        match decide(&account, &connection, last, missing_since, grace, OffsetDateTime::now_utc()) {
            ScheduleDecision::Off | ScheduleDecision::Wait { .. } => {}
            ScheduleDecision::TurnOff => {
                turn_off(ctx, account.id, connection.settings.clone(), grace).await?;
                report.turned_off += 1;
            }
            ScheduleDecision::RunNow => {
                let engine = ctx.engine.clone();
                let slot = Arc::clone(slots).acquire_owned().await?;
                syncs.spawn(async move {
                    let outcome = engine.run_automatic(account.id, ACTOR, &NoProgress).await;
                    drop(slot);
                    (account.id, outcome)
                });
            }
        }
    }
    while let Some(joined) = syncs.join_next().await {
        let (account_id, outcome) = joined?;
        match outcome {
            Ok(outcome) => {
                report.ran += 1;
                tracing::info!(%account_id, run = %outcome.run.id, status = ?outcome.run.status, "automatic sync finished");
            }
            // Another worker got there first.
            Err(SyncError::Store(StoreError::SyncAlreadyRunning { .. })) => {}
            Err(error) => {
                report.failed += 1;
                tracing::warn!(%account_id, %error, "automatic sync failed");
            }
        }
    }
    Ok(report)
}

/// Sets the frequency to never and records why, for the console and the history.
async fn turn_off(
    ctx: &Context,
    account_id: AccountId,
    mut settings: roster_domain::ConnectionSettings,
    grace: Duration,
) -> anyhow::Result<()> {
    settings.frequency = Frequency::Never;
    ctx.store.set_connection(account_id, settings, None).await?;
    let message = format!(
        "Automatic sync was set to never: the account has had no tech contact for more than {} days, so nobody \
         would hear of a failing or held sync. Set a tech contact, then choose a frequency again.",
        grace.whole_days()
    );
    ctx.store.record_event(account_id, AccountEventKind::AutomaticSyncTurnedOff, &message, None).await?;
    tracing::warn!(%account_id, "automatic sync turned off: no tech contact");
    Ok(())
}
