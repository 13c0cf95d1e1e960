//! The server's own pool for long work: Search Now, apply and automatic runs started through
//! the API or the console run here, outlive the request that started them, and record their
//! progress on the run at most about once a second. A client that disconnects changes nothing.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roster_domain::{AccountId, RunId};
use roster_store::{RunProgress, Store};
use roster_sync::{ApplyRequest, Progress, SyncEngine, SyncError};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;

use crate::AppState;
use crate::auth::AccountScope;

/// How often a running sync's progress is written to its run.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// The syncs this server runs. One sync per account at a time is the store's rule, across
/// every process; the pool only keeps them so that shutdown can wait for them.
#[derive(Default)]
pub struct RunPool {
    tasks: Mutex<JoinSet<()>>,
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

/// Writes the counter to the run whenever it changed, at most every [`RECORD_EVERY`].
async fn record(store: Store, counter: Arc<Counter>) {
    let mut written = RunProgress::default();
    loop {
        counter.changed.notified().await;
        tokio::time::sleep(RECORD_EVERY).await;
        let run = *counter
            .run
            .lock()
            .expect("the counter's lock is never poisoned");
        let now = counter.snapshot();
        if let Some(run) = run
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
        self.tasks
            .lock()
            .expect("the pool's lock is never poisoned")
            .spawn(async move {
                let recorder = tokio::spawn(record(store, counter));
                let result = work.await;
                recorder.abort();
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "a sync started through the API failed");
                }
                let _ = finished.send(result);
            });
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

    /// Waits for the running syncs to finish, at most `grace`; returns how many were left.
    pub async fn wait(&self, grace: Duration) -> usize {
        let mut tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .expect("the pool's lock is never poisoned"),
        );
        let all = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(grace, all).await;
        tasks.len()
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
