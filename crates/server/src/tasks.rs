//! The server's own pool for long work: Search Now, apply and automatic runs started through
//! the API or the console run here, outlive the request that started them, and record their
//! progress on the run at most about once a second. A client that disconnects changes nothing.
//! At shutdown they may finish within the grace period; the rest are handed back.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roster_domain::{AccountId, RunId};
use roster_store::{RunProgress, Store};
use roster_sync::{ApplyRequest, Progress, SyncEngine, SyncError};
use tokio::sync::{Notify, oneshot};
use tokio::task::{self, JoinError, JoinSet};

use crate::AppState;
use crate::auth::AccountScope;

/// How often a running sync's progress is written to its run.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// The syncs this server runs. One sync per account at a time is the store's rule, across
/// every process; the pool keeps them so that shutdown can wait for them and hand back those
/// that outlast the grace period.
#[derive(Default)]
pub struct RunPool {
    syncs: Mutex<Syncs>,
}

#[derive(Default)]
struct Syncs {
    tasks: JoinSet<()>,
    /// What each running task reports, to know its run when it is stopped.
    counters: HashMap<task::Id, Arc<Counter>>,
}

impl Syncs {
    /// Forgets the tasks that ended, so that a long-running server keeps none of them.
    fn reap(&mut self) {
        while let Some(joined) = self.tasks.try_join_next_with_id() {
            self.forget(joined);
        }
    }

    /// Forgets an ended task; its counter when it was stopped before it ended.
    fn forget(&mut self, joined: Result<(task::Id, ()), JoinError>) -> Option<Arc<Counter>> {
        match joined {
            Ok((id, ())) => {
                self.counters.remove(&id);
                None
            }
            Err(error) => {
                if error.is_panic() {
                    tracing::error!(%error, "a sync task stopped; its run's lease will lapse");
                }
                self.counters.remove(&error.id())
            }
        }
    }
}

const READING: u8 = 1;
const APPLYING: u8 = 2;

/// Counts what a sync reports, for the recorder to write.
struct Counter {
    started: Mutex<Option<oneshot::Sender<RunId>>>,
    run: Mutex<Option<RunId>>,
    phase: AtomicU8,
    objects_read: AtomicU64,
    changes_total: AtomicU64,
    changes_applied: AtomicU64,
    changed: Notify,
}

impl Progress for Counter {
    fn started(&self, run: RunId) {
        *self
            .run
            .lock()
            .expect("the counter's lock is never poisoned") = Some(run);
        if let Some(started) = self
            .started
            .lock()
            .expect("the counter's lock is never poisoned")
            .take()
        {
            let _ = started.send(run);
        }
    }

    fn objects_read(&self, count: u64) {
        self.phase.fetch_max(READING, Ordering::Relaxed);
        self.objects_read.fetch_add(count, Ordering::Relaxed);
        self.changed.notify_one();
    }

    fn applying(&self, total: u64) {
        self.phase.store(APPLYING, Ordering::Relaxed);
        self.changes_total.store(total, Ordering::Relaxed);
        self.changed.notify_one();
    }

    fn changes_applied(&self, count: u64) {
        self.changes_applied.fetch_add(count, Ordering::Relaxed);
        self.changed.notify_one();
    }
}

impl Counter {
    fn run(&self) -> Option<RunId> {
        *self
            .run
            .lock()
            .expect("the counter's lock is never poisoned")
    }

    fn snapshot(&self) -> RunProgress {
        RunProgress {
            phase: match self.phase.load(Ordering::Relaxed) {
                READING => Some("reading".to_owned()),
                APPLYING => Some("applying".to_owned()),
                _ => None,
            },
            objects_read: self.objects_read.load(Ordering::Relaxed),
            changes_total: self.changes_total.load(Ordering::Relaxed),
            changes_applied: self.changes_applied.load(Ordering::Relaxed),
        }
    }
}

/// Writes the counter to the run whenever it changed, at most every [`RECORD_EVERY`], for as
/// long as the sync runs.
async fn record(store: Store, counter: Arc<Counter>) -> Infallible {
    let mut written = RunProgress::default();
    loop {
        counter.changed.notified().await;
        tokio::time::sleep(RECORD_EVERY).await;
        let now = counter.snapshot();
        if let Some(run) = counter.run()
            && now != written
        {
            if let Err(e) = store.record_run_progress(run, &now).await {
                tracing::warn!(%run, error = %e, "could not record a run's progress");
            }
            written = now;
        }
    }
}

impl RunPool {
    /// Starts `work` on the pool and answers with its run's id as soon as the run is recorded;
    /// an error before that (a sync already running, no connection) is the caller's answer.
    pub async fn start<W, F>(&self, store: Store, work: W) -> Result<RunId, SyncError>
    where
        W: FnOnce(Arc<dyn Progress>) -> F,
        F: Future<Output = Result<(), SyncError>> + Send + 'static,
    {
        let (started, run_id) = oneshot::channel();
        let counter = Arc::new(Counter {
            started: Mutex::new(Some(started)),
            run: Mutex::new(None),
            phase: AtomicU8::new(0),
            objects_read: AtomicU64::new(0),
            changes_total: AtomicU64::new(0),
            changes_applied: AtomicU64::new(0),
            changed: Notify::new(),
        });
        let work = work(counter.clone());
        let (finished, outcome) = oneshot::channel();
        {
            let mut syncs = self
                .syncs
                .lock()
                .expect("the pool's lock is never poisoned");
            syncs.reap();
            let recorded = counter.clone();
            let task = syncs.tasks.spawn(async move {
                let result = tokio::select! {
                    result = work => result,
                    never = record(store, recorded) => match never {},
                };
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "a sync started through the API failed");
                }
                let _ = finished.send(result);
            });
            syncs.counters.insert(task.id(), counter);
        }
        tokio::select! {
            biased;
            Ok(run_id) = run_id => Ok(run_id),
            outcome = outcome => match outcome {
                Ok(Err(e)) => Err(e),
                // The work ended without ever recording a run: only a shutdown does that.
                Ok(Ok(())) | Err(_) => Err(SyncError::SchedulerStopped),
            },
        }
    }

    /// How the server stops its syncs: lets them finish within `grace`, then stops the rest and
    /// hands their runs back (with their last progress), as `roster worker` does, so that
    /// another process may run those accounts at once. Returns how many were handed back.
    pub async fn stop(&self, store: &Store, grace: Duration) -> usize {
        let mut syncs = std::mem::take(
            &mut *self
                .syncs
                .lock()
                .expect("the pool's lock is never poisoned"),
        );
        let all_finished = async {
            while let Some(joined) = syncs.tasks.join_next_with_id().await {
                syncs.forget(joined);
            }
        };
        if tokio::time::timeout(grace, all_finished).await.is_ok() {
            return 0;
        }
        syncs.tasks.abort_all();
        let mut handed_back = 0;
        while let Some(joined) = syncs.tasks.join_next_with_id().await {
            let Some(run) = syncs
                .forget(joined)
                .and_then(|counter| counter.run().map(|run| (run, counter.snapshot())))
            else {
                continue;
            };
            let (run, progress) = run;
            if let Err(e) = store.record_run_progress(run, &progress).await {
                tracing::warn!(%run, error = %e, "could not record a stopped run's progress");
            }
            match store.release_run(run).await {
                Ok(()) => {
                    tracing::info!(%run, "handed the run back");
                    handed_back += 1;
                }
                Err(error) => {
                    tracing::warn!(%run, %error, "could not hand the run back; its lease will lapse")
                }
            }
        }
        handed_back
    }
}

/// Starts `work` on the server's pool for the scope's account, as its caller, and answers with
/// the run's id once the run is recorded.
async fn start<W, F>(state: &AppState, scope: &AccountScope, work: W) -> Result<RunId, SyncError>
where
    W: FnOnce(SyncEngine, AccountId, String, Arc<dyn Progress>) -> F,
    F: Future<Output = Result<(), SyncError>> + Send + 'static,
{
    let engine = state.engine().clone();
    let account_id = scope.account.id;
    let actor = scope.caller.actor();
    state
        .runs()
        .start(state.store().clone(), move |progress| {
            work(engine, account_id, actor, progress)
        })
        .await
}

/// Search Now: refreshes the mirror (the whole directory when `full`) and stores a plan.
pub async fn start_preview(
    state: &AppState,
    scope: &AccountScope,
    full: bool,
) -> Result<RunId, SyncError> {
    start(
        state,
        scope,
        move |engine, account_id, actor, progress| async move {
            engine
                .preview(account_id, full, &actor, &*progress)
                .await
                .map(drop)
        },
    )
    .await
}

/// Sync Active Directory: applies the chosen changes of a plan.
pub async fn start_apply(
    state: &AppState,
    scope: &AccountScope,
    request: ApplyRequest,
) -> Result<RunId, SyncError> {
    start(
        state,
        scope,
        move |engine, account_id, actor, progress| async move {
            engine
                .apply(account_id, &request, &actor, &*progress)
                .await
                .map(drop)
        },
    )
    .await
}

/// The automatic sync, now: refresh, plan, and apply what the settings allow.
pub async fn start_automatic(state: &AppState, scope: &AccountScope) -> Result<RunId, SyncError> {
    start(
        state,
        scope,
        |engine, account_id, actor, progress| async move {
            engine
                .run_automatic(account_id, &actor, &*progress)
                .await
                .map(drop)
        },
    )
    .await
}
