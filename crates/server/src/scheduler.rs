//! The scheduler inside `roster serve`, for the single-process deployment: it looks for due
//! automatic syncs every tick, as `roster worker` does, until the server shuts down.

use roster_sync::{SchedulePolicy, SyncEngine};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::Config;

/// The policy the configuration sets.
pub fn policy(config: &Config) -> SchedulePolicy {
    SchedulePolicy {
        tech_contact_grace: time::Duration::days(i64::from(config.tech_contact_grace_days)),
        concurrency: usize::from(config.scheduler_concurrency.max(1)),
    }
}

/// Runs due syncs every tick until `stop` turns true. A look in progress when the server stops
/// is dropped, as `roster worker` drops its own: its runs are then taken over by the next
/// process that finds them abandoned.
pub async fn run(engine: SyncEngine, config: Config, mut stop: watch::Receiver<bool>) {
    let policy = policy(&config);
    loop {
        tokio::select! {
            outcome = look_once(&engine, policy) => match outcome {
                Ok(report) => tracing::info!(
                    ran = report.ran.len(),
                    failed = report.failed.len(),
                    turned_off = report.turned_off.len(),
                    "looked at the schedule"
                ),
                Err(e) => tracing::warn!(error = %e, "the scheduler could not look at the schedule"),
            },
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        tokio::select! {
            () = tokio::time::sleep(config.scheduler_tick()) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// One look at the schedule: the same engine call `roster worker` makes.
async fn look_once(
    engine: &SyncEngine,
    policy: SchedulePolicy,
) -> Result<roster_sync::ScheduleReport, roster_sync::SyncError> {
    engine.run_due(OffsetDateTime::now_utc(), policy).await
}
