//! The directory mirror: Roster's copy of what the tenant returned, one row per object, and the
//! delta links that continue it. Refreshes commit objects and links together.

use std::collections::{BTreeSet, HashMap};

use roster_domain::{AccountId, DirectoryGroup, DirectoryUser, ExternalId, PlanId, RunId};
use time::OffsetDateTime;

use crate::db::{
    Conn, Constraint, DbError, Tx, Value, built_sql, execute_in, fetch_in, insert_rows, sql,
};
use crate::revision::{self, Revision};
use crate::rows::{now, stored_json};
use crate::{Store, StoreError};

/// A saved `@odata.deltaLink` and when it was saved (Graph expires them after 7 days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaLink {
    pub url: String,
    pub saved_at: OffsetDateTime,
}

/// The delta links of a connection: one per object kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaLinks {
    pub users: Option<DeltaLink>,
    pub groups: Option<DeltaLink>,
}

/// The whole mirror of a connection, for the planner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mirror {
    pub users: Vec<DirectoryUser>,
    pub groups: Vec<DirectoryGroup>,
    pub delta_links: DeltaLinks,
}

/// What one round of reading the directory changed. For a delta round, objects not named are
/// kept and a `None` link keeps the saved one; for a full read
/// ([`Store::replace_mirror`]), the objects given are the whole mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorRefresh {
    pub upsert_users: Vec<DirectoryUser>,
    pub remove_users: Vec<ExternalId>,
    pub upsert_groups: Vec<DirectoryGroup>,
    pub remove_groups: Vec<ExternalId>,
    pub users_delta_link: Option<String>,
    pub groups_delta_link: Option<String>,
}

impl MirrorRefresh {
    /// Whether the refresh adds, changes or removes no object: only its links are new.
    pub fn brings_nothing(&self) -> bool {
        self.upsert_users.is_empty()
            && self.remove_users.is_empty()
            && self.upsert_groups.is_empty()
            && self.remove_groups.is_empty()
    }
}

/// What committing a delta round found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaCommitted {
    /// The plan that left the account in step with its mirror, if the account still was just
    /// before this round: the round's changes are then all that separate the two.
    pub in_step_before: Option<PlanId>,
    /// The revision the round left the account at.
    pub revision: Revision,
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    record: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct DeltaLinksRow {
    users_link: Option<String>,
    users_saved_at: Option<OffsetDateTime>,
    groups_link: Option<String>,
    groups_saved_at: Option<OffsetDateTime>,
}

fn link(url: Option<String>, saved_at: Option<OffsetDateTime>) -> Option<DeltaLink> {
    Some(DeltaLink {
        url: url?,
        saved_at: saved_at?,
    })
}

/// Upserts records and returns how many were new or different: one the mirror already holds as
/// it is is left alone, so that a round re-sending it does not change the mirror.
async fn upsert_records(
    conn: &mut Conn<'_>,
    table: &str,
    account_id: AccountId,
    records: impl Iterator<Item = (&ExternalId, Vec<u8>)>,
) -> Result<u64, DbError> {
    // A directory id given twice keeps its last record, as one upsert after the other would. On
    // PostgreSQL one statement may not upsert a row twice, and a statement holds many records.
    let mut latest: HashMap<&ExternalId, Vec<u8>> = HashMap::new();
    let mut order = Vec::new();
    for (id, record) in records {
        if latest.insert(id, record).is_none() {
            order.push(id);
        }
    }
    let mut values = Vec::with_capacity(order.len() * 3);
    for id in order {
        let record = latest
            .remove(id)
            .expect("every id in the order has a record");
        values.extend([
            Value::from(account_id.as_uuid()),
            Value::from(id.as_str()),
            Value::from(record),
        ]);
    }
    insert_rows(
        conn,
        &format!("{table} (account_id, external_id, record)"),
        &format!(
            "ON CONFLICT (account_id, external_id) DO UPDATE SET record = excluded.record \
             WHERE {table}.record <> excluded.record"
        ),
        3,
        values,
    )
    .await
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("directory records serialize to JSON")
}

impl Store {
    /// The connection's whole mirror and delta links, read from one snapshot.
    pub async fn load_mirror(&self, account_id: AccountId) -> Result<Mirror, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let delta_links = load_delta_links(&mut tx.conn(), account_id).await?;
        let users: Vec<RecordRow> = sql("SELECT record FROM mirror_users WHERE account_id = $1")
            .bind(account_id.as_uuid())
            .fetch_all(&mut tx.conn())
            .await?;
        let groups: Vec<RecordRow> = sql("SELECT record FROM mirror_groups WHERE account_id = $1")
            .bind(account_id.as_uuid())
            .fetch_all(&mut tx.conn())
            .await?;
        drop(tx);
        Ok(Mirror {
            users: users
                .iter()
                .map(|r| stored_json("mirrored user", &r.record))
                .collect::<Result<_, _>>()?,
            groups: groups
                .iter()
                .map(|r| stored_json("mirrored group", &r.record))
                .collect::<Result<_, _>>()?,
            delta_links,
        })
    }

    /// The mirrored objects with these directory ids, as stored: what a delta round's patches
    /// apply to. Ids the mirror does not hold are left out, and an id named twice is read once.
    pub async fn mirror_objects(
        &self,
        account_id: AccountId,
        users: &[ExternalId],
        groups: &[ExternalId],
    ) -> Result<(Vec<DirectoryUser>, Vec<DirectoryGroup>), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let account = [Value::from(account_id.as_uuid())];
        // An id named twice is read once: the keys may be split over several statements.
        let keys = |ids: &[ExternalId]| {
            ids.iter()
                .map(ExternalId::as_str)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(Value::from)
                .collect()
        };
        let users: Vec<RecordRow> = fetch_in(
            &mut tx.conn(),
            "SELECT record FROM mirror_users WHERE account_id = $1 AND external_id IN ({list})",
            &account,
            keys(users),
        )
        .await?;
        let groups: Vec<RecordRow> = fetch_in(
            &mut tx.conn(),
            "SELECT record FROM mirror_groups WHERE account_id = $1 AND external_id IN ({list})",
            &account,
            keys(groups),
        )
        .await?;
        drop(tx);
        Ok((
            users
                .iter()
                .map(|r| stored_json("mirrored user", &r.record))
                .collect::<Result<_, _>>()?,
            groups
                .iter()
                .map(|r| stored_json("mirrored group", &r.record))
                .collect::<Result<_, _>>()?,
        ))
    }

    /// The mirrored groups whose records name any of these directory ids, as a member or
    /// otherwise: the groups that may list them. Each record is searched as stored, without
    /// reading the mirror into memory.
    pub async fn mirror_groups_naming(
        &self,
        account_id: AccountId,
        ids: &[ExternalId],
    ) -> Result<Vec<DirectoryGroup>, StoreError> {
        // A statement searches for this many ids at once, each as one parameter.
        const IDS_PER_STATEMENT: usize = 100;
        let mut tx = self.db.begin_read().await?;
        let mut records: Vec<RecordRow> = Vec::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let searches: Vec<String> = (0..chunk.len())
                .map(|i| format!("instr(record, ${}) > 0", i + 2))
                .collect();
            let statement = format!(
                "SELECT record FROM mirror_groups WHERE account_id = $1 AND ({})",
                searches.join(" OR ")
            );
            // An id is searched for as the JSON string it is stored as, quotes included, so
            // that it matches no longer id containing it.
            let needles = chunk.iter().map(|id| Value::from(encode(&id.as_str())));
            let params = std::iter::once(Value::from(account_id.as_uuid()))
                .chain(needles)
                .collect();
            records.extend(
                built_sql(statement, params)
                    .fetch_all::<RecordRow>(&mut tx.conn())
                    .await?,
            );
        }
        drop(tx);
        records
            .iter()
            .map(|r| stored_json("mirrored group", &r.record))
            .collect()
    }

    /// The mirror's delta links alone: what a delta round starts from, without the objects.
    pub async fn delta_links(&self, account_id: AccountId) -> Result<DeltaLinks, StoreError> {
        let mut tx = self.db.begin_read().await?;
        Ok(load_delta_links(&mut tx.conn(), account_id).await?)
    }

    /// Commits one delta round of the run `run`: upserts, removals and new delta links, all or
    /// nothing, and only while this instance still owns the run (else
    /// [`StoreError::RunTakenOver`], and nothing is written).
    pub async fn commit_mirror_delta(
        &self,
        run: RunId,
        account_id: AccountId,
        refresh: &MirrorRefresh,
    ) -> Result<DeltaCommitted, StoreError> {
        self.write_mirror(run, account_id, refresh, false).await
    }

    /// Replaces the whole mirror after a full read, with its new delta links, all or nothing.
    /// The refresh's removals are ignored: whatever it does not hold is gone. Fenced by the run
    /// as [`Store::commit_mirror_delta`] is.
    pub async fn replace_mirror(
        &self,
        run: RunId,
        account_id: AccountId,
        full: &MirrorRefresh,
    ) -> Result<(), StoreError> {
        self.write_mirror(run, account_id, full, true)
            .await
            .map(|_| ())
    }

    async fn write_mirror(
        &self,
        run: RunId,
        account_id: AccountId,
        refresh: &MirrorRefresh,
        replace: bool,
    ) -> Result<DeltaCommitted, StoreError> {
        // Serializing before the transaction keeps the write lock short.
        let users: Vec<_> = refresh
            .upsert_users
            .iter()
            .map(|u| (&u.id, encode(u)))
            .collect();
        let groups: Vec<_> = refresh
            .upsert_groups
            .iter()
            .map(|g| (&g.id, encode(g)))
            .collect();
        let now = now();
        let mut tx = self.db.begin_write().await?;
        self.hold_run(&mut tx.conn(), run, account_id).await?;
        let in_step_before = revision::in_step_plan(&mut tx.conn(), account_id).await?;
        let missing_connection = |e: DbError| match e {
            DbError::Violation(Constraint::ForeignKey) => {
                StoreError::ConnectionNotFound(account_id)
            }
            e => e.into(),
        };
        // Rows removed, added or changed: a round that brought nothing new leaves the mirror
        // version, and so the plans built at it, as they were.
        let mut changed = 0;
        if replace {
            for statement in [
                "DELETE FROM mirror_users WHERE account_id = $1",
                "DELETE FROM mirror_groups WHERE account_id = $1",
            ] {
                sql(statement)
                    .bind(account_id.as_uuid())
                    .execute(&mut tx.conn())
                    .await?;
            }
        } else {
            changed +=
                remove_records(&mut tx, "mirror_users", account_id, &refresh.remove_users).await?;
            changed += remove_records(&mut tx, "mirror_groups", account_id, &refresh.remove_groups)
                .await?;
        }
        changed += upsert_records(
            &mut tx.conn(),
            "mirror_users",
            account_id,
            users.into_iter(),
        )
        .await
        .map_err(missing_connection)?;
        changed += upsert_records(
            &mut tx.conn(),
            "mirror_groups",
            account_id,
            groups.into_iter(),
        )
        .await
        .map_err(missing_connection)?;
        let statement = if replace {
            "INSERT INTO delta_links (account_id, users_link, users_saved_at, groups_link, groups_saved_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET \
             users_link = excluded.users_link, users_saved_at = excluded.users_saved_at, \
             groups_link = excluded.groups_link, groups_saved_at = excluded.groups_saved_at"
        } else {
            "INSERT INTO delta_links (account_id, users_link, users_saved_at, groups_link, groups_saved_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET \
             users_link = COALESCE(excluded.users_link, delta_links.users_link), \
             users_saved_at = COALESCE(excluded.users_saved_at, delta_links.users_saved_at), \
             groups_link = COALESCE(excluded.groups_link, delta_links.groups_link), \
             groups_saved_at = COALESCE(excluded.groups_saved_at, delta_links.groups_saved_at)"
        };
        let saved_at = |link: &Option<String>| link.as_ref().map(|_| now);
        sql(statement)
            .bind(account_id.as_uuid())
            .bind(refresh.users_delta_link.clone())
            .bind(saved_at(&refresh.users_delta_link))
            .bind(refresh.groups_delta_link.clone())
            .bind(saved_at(&refresh.groups_delta_link))
            .execute(&mut tx.conn())
            .await
            .map_err(missing_connection)?;
        // A round that brought no object leaves the plan as it was; only its links moved on.
        let revision = if replace || !refresh.brings_nothing() {
            revision::bump(&mut tx.conn(), account_id).await?
        } else {
            revision::current(&mut tx.conn(), account_id).await?
        };
        let revision =
            revision.ok_or_else(|| StoreError::AccountNotFound(account_id.to_string()))?;
        if replace || changed > 0 {
            revision::bump_mirror_version(&mut tx.conn(), account_id).await?;
        }
        tx.commit().await?;
        if replace {
            self.db.release_idle_cache().await?;
        }
        Ok(DeltaCommitted {
            in_step_before,
            revision,
        })
    }
}

async fn load_delta_links(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<DeltaLinks, DbError> {
    let links: Option<DeltaLinksRow> =
        sql("SELECT users_link, users_saved_at, groups_link, groups_saved_at FROM delta_links WHERE account_id = $1")
            .bind(account_id.as_uuid())
            .fetch_optional(conn)
            .await?;
    Ok(links.map_or_else(DeltaLinks::default, |l| DeltaLinks {
        users: link(l.users_link, l.users_saved_at),
        groups: link(l.groups_link, l.groups_saved_at),
    }))
}

/// Removes records and returns how many the mirror held.
async fn remove_records(
    tx: &mut Tx,
    table: &str,
    account_id: AccountId,
    ids: &[ExternalId],
) -> Result<u64, DbError> {
    let keys = ids.iter().map(|id| Value::from(id.as_str())).collect();
    let template =
        format!("DELETE FROM {table} WHERE account_id = $1 AND external_id IN ({{list}})");
    execute_in(
        &mut tx.conn(),
        &template,
        &[Value::from(account_id.as_uuid())],
        keys,
    )
    .await
}
