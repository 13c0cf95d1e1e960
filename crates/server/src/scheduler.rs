//! The scheduler inside `roster serve`, for the single-process deployment: it looks for due
//! automatic syncs every tick, as `roster worker` does, and stops as the worker does.

use roster_sync::{SchedulePolicy, ScheduleReport, Scheduler, SyncEngine};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::Config;

/// The policy the configuration sets.
pub fn policy(config: &Config) -> SchedulePolicy {
    SchedulePolicy {
        tech_contact_grace: time::Duration::days(i64::from(config.tech_contact_grace_days)),
        concurrency: usize::from(config.scheduler_concurrency.max(1)),
    }
}

/// Starts due syncs every tick, and looks again as soon as one ends, until `stop` completes.
/// Then no new sync starts; the running ones may finish within the configured grace period,
/// and those still running after it are handed back, so that another process runs those
/// accounts at once instead of waiting for their leases to lapse.
pub async fn run(engine: SyncEngine, config: Config, stop: impl Future<Output = ()>) {
    let mut scheduler = Scheduler::new(engine, policy(&config));
    let mut report = ScheduleReport::default();
    let mut stop = std::pin::pin!(stop);
    loop {
        // A look only reads and claims; it is never cut short, so that no claimed slot is left
        // without its sync.
        if let Err(e) = scheduler.look(OffsetDateTime::now_utc(), &mut report).await {
            tracing::warn!(error = %e, "the scheduler could not look at the schedule");
        }
        let next_look = Instant::now() + config.scheduler_tick();
        tokio::select! {
            _ = scheduler.next_finished(&mut report), if scheduler.running() > 0 => {}
            () = tokio::time::sleep_until(next_look) => {}
            () = &mut stop => break,
        }
    }
    tracing::info!(
        running = scheduler.running(),
        "the scheduler stops: no new syncs are started"
    );
    scheduler.stop(config.shutdown_grace(), &mut report).await;
    tracing::info!(
        ran = report.ran.len(),
        failed = report.failed.len(),
        turned_off = report.turned_off.len(),
        abandoned = report.abandoned.len(),
        "the scheduler stopped"
    );
}
