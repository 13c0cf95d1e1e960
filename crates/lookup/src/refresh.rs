//! Keeping the view current: a first complete load, then, for each account whose revision
//! moved, reading only what changed since the view's revision and applying it to a copy of the
//! account's view; an account the change feed cannot bring up to date is read again whole.
//!
//! Every write to an account's users, groups, addresses or domains bumps its revision in the
//! same transaction, so an unchanged revision means an unchanged account; the poll is one small
//! row per account. On PostgreSQL every bump is also announced (NOTIFY) as it commits, and the
//! refresher runs at once instead of at its next poll; the poll stays, for announcements lost
//! while the listening connection was down. While the database cannot be reached, the view
//! keeps answering from what it last read, and the poll goes on trying.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use roster_domain::AccountId;
use roster_store::{Store, StoreError};
use tokio::sync::Notify;

use crate::view::{AccountView, LookupView};

/// How often the refresher looks for changed accounts: an applied change shows in lookups
/// within this long plus the time to read the change (on PostgreSQL, usually at once).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refreshed {
    /// Accounts brought up to date by reading only what changed.
    pub patched: usize,
    /// Accounts read whole: new ones, and those the change feed could not bring up to date.
    pub read_whole: usize,
    pub removed: usize,
}

/// Reads every account and installs the result as the whole view. Returns how many accounts it
/// holds.
pub async fn load_all(store: &Store, view: &LookupView) -> Result<usize, StoreError> {
    let revisions = store.account_revisions().await?;
    let mut accounts = Vec::with_capacity(revisions.len());
    for (account_id, _) in revisions {
        match read_account(store, view, account_id).await {
            Ok(account) => accounts.push(account),
            // Deleted between the two reads: it is simply not there.
            Err(StoreError::AccountNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let count = accounts.len();
    view.install(accounts);
    Ok(count)
}

/// Brings up to date the accounts whose revision differs from the view's, and drops deleted
/// ones.
pub async fn refresh(store: &Store, view: &LookupView) -> Result<Refreshed, StoreError> {
    let held: HashMap<AccountId, Arc<AccountView>> = view
        .accounts()
        .into_iter()
        .map(|account| (account.account_id(), account))
        .collect();
    let current = store.account_revisions().await?;
    let mut refreshed = Refreshed::default();
    let mut changed = Vec::new();
    for (account_id, revision) in &current {
        let outcome = match held.get(account_id) {
            Some(account) if account.revision() == *revision => continue,
            Some(account) => match patch_account(store, account.clone()).await {
                Ok(Some(patched)) => {
                    refreshed.patched += 1;
                    Ok(patched)
                }
                Ok(None) => {
                    refreshed.read_whole += 1;
                    read_account(store, view, *account_id).await
                }
                Err(e) => Err(e),
            },
            None => {
                refreshed.read_whole += 1;
                read_account(store, view, *account_id).await
            }
        };
        match outcome {
            Ok(account) => changed.push(account),
            Err(StoreError::AccountNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let present: HashMap<AccountId, ()> = current.iter().map(|(id, _)| (*id, ())).collect();
    let removed: Vec<AccountId> = held
        .keys()
        .filter(|id| !present.contains_key(id))
        .copied()
        .collect();
    refreshed.removed = removed.len();
    if !changed.is_empty() || !removed.is_empty() {
        view.update(changed, &removed);
    }
    Ok(refreshed)
}

/// Reads what changed in the account since its view's revision and applies it to a copy of the
/// view, on a blocking thread (copying a large account takes tens of milliseconds). `None`
/// when the change feed cannot tell, or when removals left the copy sparse: the account is
/// then to be read whole.
async fn patch_account(
    store: &Store,
    account: Arc<AccountView>,
) -> Result<Option<AccountView>, StoreError> {
    let Some(changes) = store
        .mail_changes(account.account_id(), account.revision())
        .await?
    else {
        return Ok(None);
    };
    let patched = tokio::task::spawn_blocking(move || account.patched(changes))
        .await
        .map_err(indexing_failed)?;
    Ok((!patched.is_sparse()).then_some(patched))
}

/// Reads one account and builds its view on a blocking thread: indexing a large account takes
/// long enough to hold up the lookups sharing a runtime thread with it.
async fn read_account(
    store: &Store,
    view: &LookupView,
    account_id: AccountId,
) -> Result<AccountView, StoreError> {
    let directory = store.mail_directory(account_id).await?;
    let seed = view.seed();
    tokio::task::spawn_blocking(move || AccountView::build(directory, seed))
        .await
        .map_err(indexing_failed)
}

fn indexing_failed(e: tokio::task::JoinError) -> StoreError {
    StoreError::Unavailable {
        reason: format!("indexing the account's lookups failed: {e}"),
    }
}

/// Wakes the refresher whenever the store announces that a revision moved, for as long as the
/// task runs. Returns at once on a store that makes no announcements (SQLite); on one that
/// does, a lost listening connection is opened again after `retry`.
async fn wake_on_announcements(store: Store, wake: Arc<Notify>, retry: Duration) {
    loop {
        match store.revision_notices().await {
            Ok(None) => return,
            Ok(Some(mut notices)) => loop {
                match notices.next().await {
                    Ok(account) => {
                        tracing::trace!(%account, "revision announced");
                        wake.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for revision announcements failed; polling until it resumes");
                        break;
                    }
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for revision announcements; polling until it can");
            }
        }
        tokio::time::sleep(retry).await;
    }
}

/// Loads the view and keeps it current until the task is dropped: the first load is retried
/// until it succeeds (lookups answer `TEMP` until then), and then the view is refreshed every
/// `interval`, and at once whenever the store announces a change.
pub async fn keep_current(store: Store, view: Arc<LookupView>, interval: Duration) {
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(wake_on_announcements(store.clone(), wake.clone(), interval));
    // Ends the listener with this task, which is only ever dropped, never returns.
    let _listener = AbortOnDrop(listener);
    let mut failing_since: Option<Instant> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = wake.notified() => {}
        }
        let outcome = if view.is_ready() {
            refresh(&store, &view).await.map(|r| {
                if r != Refreshed::default() {
                    tracing::debug!(
                        patched = r.patched,
                        read_whole = r.read_whole,
                        removed = r.removed,
                        "lookup view refreshed"
                    );
                }
            })
        } else {
            load_all(&store, &view).await.map(|accounts| {
                tracing::info!(accounts, "lookup view loaded");
            })
        };
        match (outcome, failing_since) {
            (Ok(()), Some(since)) => {
                tracing::info!(
                    after_seconds = since.elapsed().as_secs(),
                    "the database is reachable again; lookups are current"
                );
                failing_since = None;
            }
            (Ok(()), None) => {}
            (Err(e), None) => {
                tracing::warn!(
                    error = %e,
                    "cannot read the directory; lookups answer from the last view until it can be read"
                );
                failing_since = Some(Instant::now());
            }
            (Err(_), Some(_)) => {}
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
