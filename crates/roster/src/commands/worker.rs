//! `roster worker`: automatic syncs on their schedule. Several workers may share one database:
//! each slot is claimed by one worker, a run is owned under a lease its worker renews, and a
//! dead worker's runs are marked abandoned by the next pass of any worker, which runs those
//! accounts again (product.md §6, §9).

use std::process::ExitCode;
use std::time::Duration as StdDuration;

use roster_sync::{SchedulePolicy, ScheduleReport, Scheduler};
use time::{Duration, OffsetDateTime};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::cli::WorkerArgs;
use crate::context::{self, Context};

/// The first wait after the store failed a look at the schedule; each failure in a row doubles
/// it, up to [`MOST_BACKOFF`].
const FIRST_BACKOFF: StdDuration = StdDuration::from_secs(1);
const MOST_BACKOFF: StdDuration = StdDuration::from_secs(60);
/// Failed looks in a row after which `--once` gives up: a store that stays down is not a blip.
const ONCE_GIVES_UP_AFTER: u32 = 6;

pub async fn run(ctx: &Context, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let policy = SchedulePolicy {
        tech_contact_grace: Duration::days(i64::from(args.tech_contact_grace_days)),
        concurrency: usize::from(args.concurrency),
    };
    // Mail goes out beside the syncs, never holding one up.
    let sender = super::notify::spawn_sender(ctx, &context::mail_config(args.config.as_deref())?)?;
    let mut scheduler = Scheduler::new(ctx.engine.clone(), policy);
    let mut report = ScheduleReport::default();
    let mut terminate = signal(SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
        }
    };
    let mut stop = std::pin::pin!(stop);
    let tick = StdDuration::from_secs(args.tick_seconds);
    let grace = StdDuration::from_secs(args.grace_seconds);
    let mut failed_looks = 0u32;
    loop {
        let wait = match scheduler.look(OffsetDateTime::now_utc(), &mut report).await {
            Ok(_) => {
                failed_looks = 0;
                if args.once && scheduler.running() == 0 {
                    break;
                }
                tick
            }
            Err(error) => {
                failed_looks += 1;
                if args.once && failed_looks >= ONCE_GIVES_UP_AFTER {
                    scheduler.stop(grace, &mut report).await;
                    sender.stop().await;
                    return Err(error.into());
                }
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1 << (failed_looks - 1).min(6))
                    .min(MOST_BACKOFF);
                tracing::warn!(%error, retry_in = ?backoff, "could not look at the schedule; trying again");
                backoff
            }
        };
        let next_look = Instant::now() + wait;
        // A sync that ends makes room: look again at once, without waiting for the others.
        tokio::select! {
            _ = scheduler.next_finished(&mut report), if scheduler.running() > 0 => {}
            () = tokio::time::sleep_until(next_look), if !args.once || failed_looks > 0 => {}
            signal = &mut stop => {
                tracing::info!(signal, running = scheduler.running(), "stopping: no new syncs are started");
                break;
            }
        }
    }
    scheduler.stop(grace, &mut report).await;
    sender.stop().await;
    tracing::info!(
        ran = report.ran.len(),
        failed = report.failed.len(),
        turned_off = report.turned_off.len(),
        abandoned = report.abandoned.len(),
        "worker stopped"
    );
    if args.once {
        println!(
            "Ran {} automatic sync(s), {} failed; turned automatic sync off for {} account(s); marked {} abandoned run(s).",
            report.ran.len(),
            report.failed.len(),
            report.turned_off.len(),
            report.abandoned.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
