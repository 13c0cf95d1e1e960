//! Refreshing the directory mirror from Graph.
//!
//! The whole read happens before anything is written: events are merged into an in-memory copy
//! of the mirror, and only a finished read is committed, objects and delta links in one
//! transaction. A read that fails halfway therefore changes nothing — and, since no plan is
//! built from it, removes nothing.
//!
//! A delta round is read before anything is loaded, and merged into the stored records of the
//! objects it names only: a round that brought nothing, the usual case for a scheduled sync,
//! costs two requests and one small write, and a round of a few changes does not load the
//! whole tenant to merge them.

use std::collections::{BTreeSet, HashMap};

use roster_domain::{AccountId, DirectoryGroup, DirectoryUser, ExternalId, RunId};
use roster_graph::{DeltaLink, DeltaLinks, DirectoryEvent, DirectoryRead, GraphClient, ReadStep};
use roster_store::{DeltaCommitted, Mirror, MirrorRefresh, Store};
use time::{Duration, OffsetDateTime};

use crate::{Progress, SyncError};

/// Graph keeps the state behind a directory delta link for 7 days; an older link would only
/// earn a 410, so it is not tried.
const DELTA_LINK_LIFETIME: Duration = Duration::days(7);

/// How the mirror was refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// Only the changes since the last round.
    Delta,
    /// Everything, because it was asked for.
    FullRequested,
    /// Everything, because the mirror had no delta links yet (the first sync).
    FullFirstSync,
    /// Everything, because the delta link was older than Graph keeps it, or Graph said so.
    FullDeltaExpired,
}

/// A refreshed mirror, committed.
#[derive(Debug)]
pub struct RefreshOutcome {
    /// The whole refreshed mirror after a full read; `None` after a delta round, which merges
    /// into the stored mirror without loading all of it.
    pub mirror: Option<Mirror>,
    /// What a delta round changed.
    pub delta: Option<DeltaChanges>,
    pub kind: ReadKind,
    /// Directory objects (and removal notices) the read returned.
    pub objects_read: u64,
}

/// What a delta round changed: the stored records it replaced or removed, and what it wrote.
#[derive(Debug)]
pub struct DeltaChanges {
    /// The stored records of the objects the round named, as they were before it.
    pub users_before: Vec<DirectoryUser>,
    pub groups_before: Vec<DirectoryGroup>,
    pub written: MirrorRefresh,
    pub committed: DeltaCommitted,
}

/// Refreshes the account's mirror from the tenant and commits it, fenced by the run `run`.
/// `full` forces a full read.
pub async fn refresh(
    store: &Store,
    run: RunId,
    account_id: AccountId,
    client: &GraphClient,
    full: bool,
    progress: &dyn Progress,
) -> Result<RefreshOutcome, SyncError> {
    let kind = if full {
        ReadKind::FullRequested
    } else {
        match usable_links(
            &store.delta_links(account_id).await?,
            OffsetDateTime::now_utc(),
        ) {
            Usable::Yes(links) => {
                match DeltaRound::read(client.read_changes(&links), progress).await {
                    Ok(round) => return round.commit(store, run, account_id).await,
                    Err(SyncError::Graph { error }) if error.needs_full_read() => {
                        tracing::info!(%account_id, "delta link expired; reading the whole directory");
                        ReadKind::FullDeltaExpired
                    }
                    Err(e) => return Err(e),
                }
            }
            Usable::NoLinks => ReadKind::FullFirstSync,
            Usable::Expired => ReadKind::FullDeltaExpired,
        }
    };
    let mut working = WorkingMirror::default();
    let reading = std::time::Instant::now();
    let links = working.read(client.read_full(), progress).await?;
    tracing::debug!(%account_id, objects = working.objects_read, elapsed = ?reading.elapsed(), "directory read in full");
    working
        .commit_full(store, run, account_id, links, kind)
        .await
}

enum Usable {
    Yes(DeltaLinks),
    NoLinks,
    Expired,
}

fn usable_links(links: &roster_store::DeltaLinks, now: OffsetDateTime) -> Usable {
    let (Some(users), Some(groups)) = (&links.users, &links.groups) else {
        return Usable::NoLinks;
    };
    if now - users.saved_at.min(groups.saved_at) >= DELTA_LINK_LIFETIME {
        return Usable::Expired;
    }
    // A link that no longer parses was written by something else; a full read replaces it.
    match (
        users.url.parse::<DeltaLink>(),
        groups.url.parse::<DeltaLink>(),
    ) {
        (Ok(users), Ok(groups)) => Usable::Yes(DeltaLinks { users, groups }),
        _ => Usable::NoLinks,
    }
}

/// A delta round, read to the end but not yet merged.
struct DeltaRound {
    events: Vec<DirectoryEvent>,
    links: DeltaLinks,
}

impl DeltaRound {
    async fn read(mut read: DirectoryRead, progress: &dyn Progress) -> Result<Self, SyncError> {
        let mut events = Vec::new();
        loop {
            match read.next().await? {
                ReadStep::Page(page) => {
                    progress.objects_read(page.len() as u64);
                    events.extend(page);
                }
                ReadStep::Finished(links) => return Ok(Self { events, links }),
            }
        }
    }

    /// Merges the round into the stored records of the objects it patches and commits it, with
    /// the new delta links.
    async fn commit(
        self,
        store: &Store,
        run: RunId,
        account_id: AccountId,
    ) -> Result<RefreshOutcome, SyncError> {
        let (mut users, mut groups) = (Vec::new(), Vec::new());
        for event in &self.events {
            match event {
                DirectoryEvent::User(patch) => users.push(patch.id.clone()),
                DirectoryEvent::Group(patch) => groups.push(patch.id.clone()),
                DirectoryEvent::UserRemoved(removal) => users.push(removal.id.clone()),
                DirectoryEvent::GroupRemoved(removal) => groups.push(removal.id.clone()),
            }
        }
        // The records as they were are kept for planning: a few, however large the tenant.
        let (users_before, groups_before) =
            store.mirror_objects(account_id, &users, &groups).await?;
        let mut working = WorkingMirror::of(users_before.clone(), groups_before.clone());
        working.objects_read = self.events.len() as u64;
        self.events
            .into_iter()
            .for_each(|event| working.merge(event));
        working
            .commit_delta(
                store,
                run,
                account_id,
                self.links,
                users_before,
                groups_before,
            )
            .await
    }
}

/// The mirror being refreshed, with what the read touched.
#[derive(Default)]
struct WorkingMirror {
    users: HashMap<ExternalId, DirectoryUser>,
    groups: HashMap<ExternalId, DirectoryGroup>,
    touched_users: BTreeSet<ExternalId>,
    touched_groups: BTreeSet<ExternalId>,
    removed_users: BTreeSet<ExternalId>,
    removed_groups: BTreeSet<ExternalId>,
    objects_read: u64,
}

impl WorkingMirror {
    /// A working copy of these stored records, which the round's patches apply to.
    fn of(users: Vec<DirectoryUser>, groups: Vec<DirectoryGroup>) -> Self {
        Self {
            users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect(),
            ..Self::default()
        }
    }

    /// Reads to the end, merging every page; returns the links of the next round.
    async fn read(
        &mut self,
        mut read: DirectoryRead,
        progress: &dyn Progress,
    ) -> Result<DeltaLinks, SyncError> {
        loop {
            match read.next().await? {
                ReadStep::Page(events) => {
                    progress.objects_read(events.len() as u64);
                    self.objects_read += events.len() as u64;
                    events.into_iter().for_each(|event| self.merge(event));
                }
                ReadStep::Finished(links) => return Ok(links),
            }
        }
    }

    /// Merges one event. Replays and repeats are harmless: a patch applied twice, or a removal
    /// of an object already gone, leaves the same state.
    fn merge(&mut self, event: DirectoryEvent) {
        match event {
            DirectoryEvent::User(patch) => {
                let id = patch.id.clone();
                let merged = patch.apply(self.users.remove(&id));
                self.removed_users.remove(&id);
                self.touched_users.insert(id.clone());
                self.users.insert(id, merged);
            }
            DirectoryEvent::UserRemoved(removal) => {
                self.users.remove(&removal.id);
                self.touched_users.remove(&removal.id);
                self.removed_users.insert(removal.id);
            }
            DirectoryEvent::Group(patch) => {
                let id = patch.id.clone();
                let merged = patch.apply(self.groups.remove(&id));
                self.removed_groups.remove(&id);
                self.touched_groups.insert(id.clone());
                self.groups.insert(id, merged);
            }
            DirectoryEvent::GroupRemoved(removal) => {
                self.groups.remove(&removal.id);
                self.touched_groups.remove(&removal.id);
                self.removed_groups.insert(removal.id);
            }
        }
    }

    async fn commit_delta(
        mut self,
        store: &Store,
        run: RunId,
        account_id: AccountId,
        links: DeltaLinks,
        users_before: Vec<DirectoryUser>,
        groups_before: Vec<DirectoryGroup>,
    ) -> Result<RefreshOutcome, SyncError> {
        let refresh = MirrorRefresh {
            upsert_users: self
                .touched_users
                .iter()
                .filter_map(|id| self.users.get(id).cloned())
                .collect(),
            remove_users: std::mem::take(&mut self.removed_users)
                .into_iter()
                .collect(),
            upsert_groups: self
                .touched_groups
                .iter()
                .filter_map(|id| self.groups.get(id).cloned())
                .collect(),
            remove_groups: std::mem::take(&mut self.removed_groups)
                .into_iter()
                .collect(),
            users_delta_link: Some(links.users.to_string()),
            groups_delta_link: Some(links.groups.to_string()),
        };
        let committed = store.commit_mirror_delta(run, account_id, &refresh).await?;
        let delta = DeltaChanges {
            users_before,
            groups_before,
            written: refresh,
            committed,
        };
        Ok(RefreshOutcome {
            mirror: None,
            delta: Some(delta),
            kind: ReadKind::Delta,
            objects_read: self.objects_read,
        })
    }

    async fn commit_full(
        self,
        store: &Store,
        run: RunId,
        account_id: AccountId,
        links: DeltaLinks,
        kind: ReadKind,
    ) -> Result<RefreshOutcome, SyncError> {
        // The mirror moves into the refresh for the write and back out for the planner: a
        // whole tenant is never held twice.
        let objects_read = self.objects_read;
        let mirror = self.into_mirror();
        let full = MirrorRefresh {
            upsert_users: mirror.users,
            upsert_groups: mirror.groups,
            users_delta_link: Some(links.users.to_string()),
            groups_delta_link: Some(links.groups.to_string()),
            ..MirrorRefresh::default()
        };
        store.replace_mirror(run, account_id, &full).await?;
        let mirror = Mirror {
            users: full.upsert_users,
            groups: full.upsert_groups,
            delta_links: mirror.delta_links,
        };
        Ok(RefreshOutcome {
            mirror: Some(mirror),
            delta: None,
            kind,
            objects_read,
        })
    }

    /// The refreshed mirror in a stable order, so that plans built from it are too.
    fn into_mirror(self) -> Mirror {
        let mut users: Vec<DirectoryUser> = self.users.into_values().collect();
        users.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut groups: Vec<DirectoryGroup> = self.groups.into_values().collect();
        groups.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Mirror {
            users,
            groups,
            delta_links: Default::default(),
        }
    }
}
