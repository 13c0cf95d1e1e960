//! `roster worker`: automatic syncs on their schedule. Several workers may share one database:
//! the store lets one run per account start at a time, so a due account is synced by whichever
//! worker gets there first, and a dead worker's run is taken over (product.md §9).

use std::process::ExitCode;

use roster_sync::SchedulePolicy;
use time::{Duration, OffsetDateTime};

use crate::cli::WorkerArgs;
use crate::context::Context;

pub async fn run(ctx: &Context, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let policy = SchedulePolicy {
        tech_contact_grace: Duration::days(i64::from(args.tech_contact_grace_days)),
        concurrency: usize::from(args.concurrency),
    };
    // Mail goes out beside the syncs, never holding one up.
    let sender = super::notify::spawn_sender(ctx)?;
    loop {
        let report = ctx
            .engine
            .run_due(OffsetDateTime::now_utc(), policy)
            .await?;
        tracing::info!(
            ran = report.ran.len(),
            failed = report.failed.len(),
            turned_off = report.turned_off.len(),
            "looked at the schedule"
        );
        if args.once {
            println!(
                "Ran {} automatic sync(s), {} failed; turned automatic sync off for {} account(s).",
                report.ran.len(),
                report.failed.len(),
                report.turned_off.len()
            );
            sender.stop().await;
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(args.tick_seconds)) => {}
            _ = tokio::signal::ctrl_c() => {
                sender.stop().await;
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}
