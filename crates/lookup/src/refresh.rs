//! Keeping the view current: a first complete load, then polling every account's revision and
//! reading again, whole, each account whose revision moved.
//!
//! Every write to an account's users, groups, addresses or domains bumps its revision in the
//! same transaction, so an unchanged revision means an unchanged account; the poll is one small
//! row per account. While the database cannot be reached, the view keeps answering from what it
//! last read, and the poll goes on trying.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use roster_domain::AccountId;
use roster_store::{MailDirectory, Store, StoreError};

use crate::view::{AccountView, LookupView};

/// How often the refresher looks for changed accounts: an applied change shows in lookups
/// within this long plus the time to read the account again.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refreshed {
    pub changed: usize,
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

/// Reads again the accounts whose revision differs from the view's, and drops deleted ones.
pub async fn refresh(store: &Store, view: &LookupView) -> Result<Refreshed, StoreError> {
    let held: HashMap<AccountId, _> = view.revisions().into_iter().collect();
    let current = store.account_revisions().await?;
    let mut changed = Vec::new();
    for (account_id, revision) in &current {
        if held.get(account_id) != Some(revision) {
            match read_account(store, view, *account_id).await {
                Ok(account) => changed.push(account),
                Err(StoreError::AccountNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let present: HashMap<AccountId, ()> = current.iter().map(|(id, _)| (*id, ())).collect();
    let removed: Vec<AccountId> = held
        .keys()
        .filter(|id| !present.contains_key(id))
        .copied()
        .collect();
    let refreshed = Refreshed {
        changed: changed.len(),
        removed: removed.len(),
    };
    if !changed.is_empty() || !removed.is_empty() {
        view.update(changed, &removed);
    }
    Ok(refreshed)
}

/// Reads one account and builds its view on a blocking thread: indexing a large account takes
/// long enough to hold up the lookups sharing a runtime thread with it.
async fn read_account(
    store: &Store,
    view: &LookupView,
    account_id: AccountId,
) -> Result<AccountView, StoreError> {
    let directory: MailDirectory = store.mail_directory(account_id).await?;
    let seed = view.seed();
    tokio::task::spawn_blocking(move || AccountView::build(directory, seed))
        .await
        .map_err(|e| StoreError::Unavailable {
            reason: format!("indexing the account's lookups failed: {e}"),
        })
}

/// Loads the view and keeps it current until the task is dropped: the first load is retried
/// until it succeeds (lookups answer `TEMP` until then), and then the revisions are polled
/// every `interval`.
pub async fn keep_current(store: Store, view: Arc<LookupView>, interval: Duration) {
    let mut failing_since: Option<Instant> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = if view.is_ready() {
            refresh(&store, &view).await.map(|r| {
                if r.changed + r.removed > 0 {
                    tracing::debug!(
                        changed = r.changed,
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
