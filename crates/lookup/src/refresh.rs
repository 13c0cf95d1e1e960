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
use std::time::Duration;

use roster_domain::AccountId;
use roster_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio::time::Instant;

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
    // The replaced accounts' old views are now held only here (a lookup in progress aside):
    // freeing a large one takes milliseconds, not to be spent on a thread serving lookups.
    tokio::task::spawn_blocking(move || drop(held));
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

/// When announced changes are taken in. A sync writes in batches, each bumping the revision and
/// announcing it, and each refresh copies the changed account's view: refreshing on every
/// announcement would copy a large account back to back for as long as the sync runs. So the
/// announcements that come close together are taken in together, and refreshes keep a gap
/// between them, while an announced change still shows within `max_wait` (or `min_gap` after
/// the refresh before) plus the time one refresh takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coalescing {
    /// How long announcements must have stopped coming before their refresh.
    pub settle: Duration,
    /// How long after the first announcement pending its refresh starts, however many follow.
    pub max_wait: Duration,
    /// How long after a refresh the next one may start.
    pub min_gap: Duration,
}

impl Default for Coalescing {
    fn default() -> Self {
        Self {
            settle: Duration::from_millis(20),
            max_wait: Duration::from_millis(200),
            min_gap: Duration::from_millis(200),
        }
    }
}

impl Coalescing {
    /// When to refresh for the announcements pending, the first and the latest of which came
    /// at `first` and `latest`, the last refresh having ended at `refreshed`.
    pub fn due(&self, refreshed: Instant, first: Instant, latest: Instant) -> Instant {
        let settled = (latest + self.settle).min(first + self.max_wait);
        settled.max(refreshed + self.min_gap)
    }
}

/// Loads the view and keeps it current until the task is dropped: the first load is retried
/// until it succeeds (lookups answer `TEMP` until then), and then the view is refreshed
/// `interval` after its last refresh, and soon after the store announces changes (as
/// [`Coalescing`] has it).
pub async fn keep_current(store: Store, view: Arc<LookupView>, interval: Duration) {
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(wake_on_announcements(store.clone(), wake.clone(), interval));
    // Ends the listener with this task, which is only ever dropped, never returns.
    let _listener = AbortOnDrop(listener);
    let coalescing = Coalescing::default();
    let mut failing_since: Option<Instant> = None;
    // The first load starts at once.
    let mut refreshed = Instant::now();
    let mut next_poll = refreshed;
    loop {
        let announced = tokio::select! {
            () = tokio::time::sleep_until(next_poll) => false,
            () = wake.notified() => true,
        };
        if announced && view.is_ready() {
            let (first, mut latest) = (Instant::now(), Instant::now());
            loop {
                tokio::select! {
                    biased;
                    () = tokio::time::sleep_until(coalescing.due(refreshed, first, latest)) => break,
                    () = wake.notified() => latest = Instant::now(),
                }
            }
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
        refreshed = Instant::now();
        next_poll = refreshed + interval;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_lone_announcement_long_after_the_last_refresh_is_taken_in_once_it_settles() {
        let c = Coalescing::default();
        let refreshed = Instant::now();
        let announced = refreshed + 5_000 * MS;
        assert_eq!(c.due(refreshed, announced, announced), announced + c.settle);
    }

    #[test]
    fn a_stream_of_announcements_is_taken_in_together_no_later_than_max_wait() {
        let c = Coalescing::default();
        let refreshed = Instant::now();
        let first = refreshed + 5_000 * MS;
        // A batch every 10 ms: each would put the refresh off by `settle`; the first holds it.
        let mut latest = first;
        for _ in 0..100 {
            latest += 10 * MS;
            assert!(c.due(refreshed, first, latest) <= first + c.max_wait);
        }
        assert_eq!(c.due(refreshed, first, latest), first + c.max_wait);
    }

    #[test]
    fn refreshes_keep_their_gap_and_a_change_still_shows_within_a_second() {
        let c = Coalescing::default();
        let refreshed = Instant::now();
        let announced = refreshed + MS;
        let due = c.due(refreshed, announced, announced);
        assert_eq!(due, refreshed + c.min_gap);
        // What the rule can add to a change's delay, before the refresh's own time.
        assert!(due - announced < Duration::from_millis(500));
    }

    #[test]
    fn a_sync_announcing_every_10_ms_for_10_s_costs_at_most_one_refresh_per_gap() {
        let c = Coalescing::default();
        let start = Instant::now();
        let announcements: Vec<Instant> = (0..1000).map(|i| start + i * 10 * MS).collect();
        // Replays the refresher: each refresh (taken to last 50 ms) takes in every
        // announcement made before it starts.
        let mut refreshed = start - 10 * c.min_gap;
        let mut refreshes = 0;
        let mut next = 0;
        while next < announcements.len() {
            let first = announcements[next];
            let mut due = c.due(refreshed, first, first);
            while let Some(&later) = announcements.get(next + 1).filter(|&&a| a < due) {
                next += 1;
                due = c.due(refreshed, first, later);
            }
            next = announcements.partition_point(|&a| a < due);
            refreshed = due + 50 * MS;
            refreshes += 1;
        }
        assert!(refreshes <= 10_000 / 250 + 1, "{refreshes} refreshes");
    }
}
