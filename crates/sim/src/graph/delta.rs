//! `/users/delta` and `/groups/delta`, following graph-protocol.md §4.
//!
//! A round starts with a walk over every object (the initial round) or over the change log from a
//! delta link. Tokens carry the position, the query and the round's start, so a page is computed
//! from the current directory and the log alone. Changes are replayed one window of the log per
//! page: a window holding only other objects' changes gives an empty page, an object changed in
//! two windows appears twice, and a page never holds more than 200 objects or 500 member links —
//! the quirks Graph documents.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::json::{ArrayWriter, ObjectWriter};
use crate::model::{
    Change, ChangeKind, Directory, DirectoryObject, Lifecycle, ObjectKind, ObjectRef, PropertyMask,
};

use super::collections::{Nulls, write_fields};
use super::error::GraphError;
use super::query::{Field, FilterParser, Selection};
use super::{Call, GraphReply, decode_token, encode_query_part, encode_token};

/// Most objects on one delta page (graph-protocol.md §4).
const MAX_OBJECTS_PER_PAGE: usize = 200;
/// Most member links on one delta page.
const MAX_LINKS_PER_PAGE: usize = 500;
/// Change-log entries replayed per page of an incremental round.
const CHANGE_WINDOW: usize = 200;
/// Most ids a delta `$filter` may name.
const MAX_FILTER_IDS: usize = 50;

/// Everything a delta token remembers.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeltaState {
    #[serde(rename = "t")]
    tenant: usize,
    #[serde(rename = "k")]
    kind: ObjectKind,
    /// The tenant's delta generation when issued; expiring tokens on demand bumps it.
    #[serde(rename = "g")]
    generation: u64,
    /// When the round (or the delta link) was issued, in Unix seconds.
    #[serde(rename = "i")]
    issued: i64,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    select: Option<String>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    ids: Option<Vec<String>>,
    #[serde(rename = "p")]
    position: Position,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Position {
    /// Walking every object; `since` is the change-log length when the round began.
    Initial {
        slot: usize,
        member: usize,
        since: usize,
    },
    /// Replaying the log window `[from, to)`, at its `entry`-th changed object.
    Changes {
        from: usize,
        to: usize,
        entry: usize,
        member: usize,
    },
    /// A delta link: the changes from `since` on.
    Since { since: usize },
}

/// Where a page stopped.
enum PageEnd {
    Next(Position),
    /// The round is complete; the delta link continues from this log length.
    Done(usize),
}

/// The `Prefer` preferences delta honours.
#[derive(Debug, Default)]
struct Prefer {
    minimal: bool,
    max_page_size: Option<usize>,
}

impl Prefer {
    fn parse(call: &Call<'_>) -> Self {
        let mut prefer = Prefer::default();
        for value in call
            .request
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            for preference in value.split(',').map(str::trim) {
                if preference.eq_ignore_ascii_case("return=minimal") {
                    prefer.minimal = true;
                } else if let Some(size) = preference.strip_prefix("odata.maxpagesize=") {
                    prefer.max_page_size = size.trim().parse::<usize>().ok().filter(|n| *n > 0);
                }
            }
        }
        prefer
    }
}

/// What one page may hold.
struct Limits {
    objects: usize,
    links: usize,
}

/// The page being written and how full it is.
struct Page<'a> {
    values: ArrayWriter<'a>,
    objects: usize,
    links: usize,
    limits: Limits,
}

/// One entry of `members@delta`.
#[derive(Debug, Clone, Copy)]
struct MemberChange {
    member: ObjectRef,
    removed: bool,
}

/// How an object is written in a round.
struct Rendering<'s> {
    selection: &'s Selection,
    nulls: Nulls,
}

impl Page<'_> {
    fn is_full(&self) -> bool {
        self.objects >= self.limits.objects
    }

    fn write_removed(&mut self, object: &DirectoryObject, reason: &str) {
        let mut entry = ObjectWriter::new(self.values.element());
        entry.str("id", &object.id);
        let mut removed = ObjectWriter::new(entry.key("@removed"));
        removed.str("reason", reason);
        removed.finish();
        entry.finish();
        self.objects += 1;
    }

    /// Writes an object with as many of `members` (from `offset`) as the page has room for, and
    /// returns how many member links it wrote.
    fn write_present(
        &mut self,
        directory: &Directory,
        kind: ObjectKind,
        object: &DirectoryObject,
        rendering: &Rendering<'_>,
        members: &[MemberChange],
    ) -> usize {
        let room = self.limits.links.saturating_sub(self.links);
        let chunk = &members[..members.len().min(room)];
        let mut entry = ObjectWriter::new(self.values.element());
        write_fields(
            &mut entry,
            object,
            kind.schema(),
            rendering.selection,
            rendering.nulls,
        );
        if !rendering.selection.fields.contains(&Field::Id) {
            entry.str("id", &object.id);
        }
        if !chunk.is_empty() {
            let mut list = ArrayWriter::new(entry.key("members@delta"));
            for change in chunk {
                let mut link = ObjectWriter::new(list.element());
                link.str("@odata.type", change.member.kind.odata_type());
                link.str("id", &directory.get(change.member).id);
                if change.removed {
                    let mut removed = ObjectWriter::new(link.key("@removed"));
                    removed.str("reason", "deleted");
                    removed.finish();
                }
                link.finish();
            }
            list.finish();
        }
        entry.finish();
        self.objects += 1;
        self.links += chunk.len();
        chunk.len()
    }
}

/// The navigation properties delta tracks besides the object's own: a group's `members`.
fn navigation_properties(kind: ObjectKind) -> &'static [&'static str] {
    if kind == ObjectKind::Group {
        &["members"]
    } else {
        &[]
    }
}

fn invalid_token() -> GraphError {
    GraphError::bad_request(
        "The delta or skip token is not valid. Follow @odata.nextLink and @odata.deltaLink exactly as returned.",
    )
}

fn collection_path(kind: ObjectKind) -> String {
    format!("/v1.0/{}/delta", kind.entity_set())
}

pub fn delta(call: &Call<'_>, kind: ObjectKind) -> Result<GraphReply, GraphError> {
    let prefer = Prefer::parse(call);
    let options = &call.options;
    let (state, first_request) = match (&options.skiptoken, &options.deltatoken) {
        (Some(token), _) => (resume(call, kind, token, false)?, false),
        (None, Some(token)) if token.eq_ignore_ascii_case("latest") => {
            let mut state = start(call, kind)?;
            let since = call.tenant.read().changes.len();
            state.position = Position::Since { since };
            return Ok(envelope(
                call,
                kind,
                &state,
                None,
                PageEnd::Done(since),
                Vec::from("[]"),
            ));
        }
        // An empty $deltatoken (the Location of a 410) restarts with a full round.
        (None, Some(token)) if !token.trim().is_empty() => {
            (resume(call, kind, token, true)?, false)
        }
        _ => (start(call, kind)?, true),
    };
    let selection = Selection::parse(kind, state.select.as_deref(), navigation_properties(kind))?;
    let with_members = kind == ObjectKind::Group
        && state.select.as_deref().is_none_or(|s| {
            s.split(',')
                .any(|n| n.trim().eq_ignore_ascii_case("members"))
        });
    let limits = Limits {
        objects: prefer
            .max_page_size
            .map_or(MAX_OBJECTS_PER_PAGE, |n| n.min(MAX_OBJECTS_PER_PAGE)),
        links: MAX_LINKS_PER_PAGE,
    };

    let directory = call.tenant.read();
    let mut values = Vec::with_capacity(64 * 1024);
    let mut page = Page {
        values: ArrayWriter::new(&mut values),
        objects: 0,
        links: 0,
        limits,
    };
    let round = Round {
        directory: &directory,
        kind,
        state: &state,
        selection: &selection,
        with_members,
        minimal: prefer.minimal,
    };
    let end = match state.position {
        Position::Initial {
            slot,
            member,
            since,
        } => round.initial_page(&mut page, slot, member, since),
        Position::Changes {
            from,
            to,
            entry,
            member,
        } => round.changes_page(&mut page, from, to, entry, member),
        Position::Since { since } if since >= directory.changes.len() => {
            PageEnd::Done(directory.changes.len())
        }
        Position::Since { since } => {
            let to = (since + CHANGE_WINDOW).min(directory.changes.len());
            round.changes_page(&mut page, since, to, 0, 0)
        }
    };
    page.values.finish();
    drop(directory);
    let mut reply = envelope(
        call,
        kind,
        &state,
        first_request.then_some(&selection),
        end,
        values,
    );
    let mut applied = Vec::new();
    if prefer.minimal {
        applied.push("return=minimal".to_owned());
    }
    if let Some(size) = prefer.max_page_size {
        applied.push(format!("odata.maxpagesize={size}"));
    }
    if !applied.is_empty() {
        reply
            .headers
            .push(("Preference-Applied".to_owned(), applied.join(",")));
    }
    Ok(reply)
}

/// A new round from the request's own query options.
fn start(call: &Call<'_>, kind: ObjectKind) -> Result<DeltaState, GraphError> {
    let options = &call.options;
    if options.expand.is_some() || options.orderby.is_some() || options.search.is_some() {
        return Err(GraphError::unsupported_query(
            "Delta query does not support $expand, $orderby or $search on directory objects.",
        ));
    }
    // Validate $select now, so a bad name fails the first request rather than a later page.
    Selection::parse(kind, options.select.as_deref(), navigation_properties(kind))?;
    let ids = match options.filter.as_deref() {
        None => None,
        Some(filter) => {
            let ids = FilterParser::parse(filter, kind, false)?
                .id_equalities()
                .ok_or_else(|| {
                    GraphError::unsupported_query(
                        "Delta query supports only $filter=id eq '…' (combined with 'or').",
                    )
                })?;
            if ids.len() > MAX_FILTER_IDS {
                return Err(GraphError::unsupported_query(format!(
                    "Delta query accepts at most {MAX_FILTER_IDS} ids in $filter; {} were given.",
                    ids.len()
                )));
            }
            Some(ids)
        }
    };
    let since = call.tenant.read().changes.len();
    Ok(DeltaState {
        tenant: call.tenant.index,
        kind,
        generation: call.tenant.delta_generation(),
        issued: clock::now_unix(),
        select: options.select.clone(),
        ids,
        position: Position::Initial {
            slot: 0,
            member: 0,
            since,
        },
    })
}

/// Decodes a token and checks that it is still usable (410 when it expired).
fn resume(
    call: &Call<'_>,
    kind: ObjectKind,
    token: &str,
    is_delta_link: bool,
) -> Result<DeltaState, GraphError> {
    let state: DeltaState = decode_token(token).ok_or_else(invalid_token)?;
    let position_fits = match state.position {
        Position::Since { .. } => is_delta_link,
        Position::Initial { .. } => !is_delta_link,
        Position::Changes { from, to, .. } => !is_delta_link && from <= to,
    };
    if state.tenant != call.tenant.index || state.kind != kind || !position_fits {
        return Err(invalid_token());
    }
    let max_age = call.tenant.settings().delta_token_max_age_secs as i64;
    let expired = state.generation < call.tenant.delta_generation()
        || clock::now_unix() - state.issued > max_age;
    if expired {
        let select = state
            .select
            .as_deref()
            .map(|s| format!("$select={}&", encode_query_part(s)))
            .unwrap_or_default();
        let location = format!(
            "{}{}?{select}$deltatoken=",
            call.shared.urls.graph,
            collection_path(kind)
        );
        return Err(GraphError::sync_reset(location));
    }
    Ok(state)
}

/// Writes the response around a page of values: context, then the next or delta link.
fn envelope(
    call: &Call<'_>,
    kind: ObjectKind,
    state: &DeltaState,
    first_selection: Option<&Selection>,
    end: PageEnd,
    values: Vec<u8>,
) -> GraphReply {
    let suffix = first_selection
        .map(|s| s.context_suffix(kind.schema()))
        .unwrap_or_default();
    let base = format!("{}{}", call.shared.urls.graph, collection_path(kind));
    let (name, link) = match end {
        PageEnd::Next(position) => {
            let token = encode_token(&DeltaState {
                position,
                ..state.clone()
            });
            ("@odata.nextLink", format!("{base}?$skiptoken={token}"))
        }
        PageEnd::Done(since) => {
            let token = encode_token(&DeltaState {
                position: Position::Since { since },
                issued: clock::now_unix(),
                generation: call.tenant.delta_generation(),
                ..state.clone()
            });
            ("@odata.deltaLink", format!("{base}?$deltatoken={token}"))
        }
    };
    let mut out = Vec::with_capacity(values.len() + 1024);
    let mut root = ObjectWriter::new(&mut out);
    root.str(
        "@odata.context",
        &call.context(&format!("{}{suffix}", kind.entity_set())),
    );
    root.str(name, &link);
    root.raw("value", &values);
    root.finish();
    GraphReply::json(out)
}

/// What one changed object did within a window of the log.
#[derive(Debug)]
struct Aggregate {
    target: ObjectRef,
    /// Created or restored: written in full.
    appeared: bool,
    changed: PropertyMask,
    /// Per member: (member, added by the first change, added by the last change).
    members: Vec<(ObjectRef, bool, bool)>,
}

impl Aggregate {
    /// Membership changes that survive the window (added then removed cancels out).
    fn net_members(&self, directory: &Directory) -> Vec<MemberChange> {
        self.members
            .iter()
            .filter(|(_, first, last)| first == last)
            .filter(|(member, _, added)| !*added || directory.get(*member).is_live())
            .map(|(member, _, added)| MemberChange {
                member: *member,
                removed: !added,
            })
            .collect()
    }
}

fn aggregate(
    changes: &[Change],
    kind: ObjectKind,
    only: Option<&HashSet<ObjectRef>>,
) -> Vec<Aggregate> {
    let mut aggregates: Vec<Aggregate> = Vec::new();
    let mut index: HashMap<ObjectRef, usize> = HashMap::new();
    for change in changes
        .iter()
        .filter(|c| c.target.kind == kind && only.is_none_or(|o| o.contains(&c.target)))
    {
        let position = *index.entry(change.target).or_insert_with(|| {
            aggregates.push(Aggregate {
                target: change.target,
                appeared: false,
                changed: 0,
                members: Vec::new(),
            });
            aggregates.len() - 1
        });
        let aggregate = &mut aggregates[position];
        match change.kind {
            ChangeKind::Created | ChangeKind::Restored => aggregate.appeared = true,
            ChangeKind::Updated(mask) => aggregate.changed |= mask,
            // The object's current lifecycle decides how a deletion is reported.
            ChangeKind::SoftDeleted | ChangeKind::Purged => {}
            ChangeKind::MemberAdded(member) | ChangeKind::MemberRemoved(member) => {
                let added = matches!(change.kind, ChangeKind::MemberAdded(_));
                match aggregate.members.iter_mut().find(|(m, _, _)| *m == member) {
                    Some(entry) => entry.2 = added,
                    None => aggregate.members.push((member, added, added)),
                }
            }
        }
    }
    aggregates
}

/// The parts of a round that stay fixed while its pages are written.
struct Round<'a> {
    directory: &'a Directory,
    kind: ObjectKind,
    state: &'a DeltaState,
    selection: &'a Selection,
    with_members: bool,
    minimal: bool,
}

impl Round<'_> {
    /// The objects named by an id filter, if any.
    fn filtered(&self) -> Option<HashSet<ObjectRef>> {
        let ids = self.state.ids.as_ref()?;
        Some(
            ids.iter()
                .filter_map(|id| self.directory.find(id))
                .filter(|at| at.kind == self.kind)
                .collect(),
        )
    }

    /// How a removed object is reported: soft deletion (restorable) is "changed", permanent
    /// deletion is "deleted".
    fn removal_reason(object: &DirectoryObject) -> Option<&'static str> {
        match object.lifecycle {
            Lifecycle::Live => None,
            Lifecycle::SoftDeleted => Some("changed"),
            Lifecycle::Purged => Some("deleted"),
        }
    }

    fn all_members(&self, at: ObjectRef) -> Vec<MemberChange> {
        if !self.with_members {
            return Vec::new();
        }
        self.directory
            .live_members(at)
            .map(|member| MemberChange {
                member,
                removed: false,
            })
            .collect()
    }

    fn initial_page(
        &self,
        page: &mut Page<'_>,
        slot: usize,
        member: usize,
        since: usize,
    ) -> PageEnd {
        let table = self.directory.table(self.kind);
        let candidates: Box<dyn Iterator<Item = usize>> = match self.filtered() {
            Some(only) => {
                let mut slots: Vec<usize> = only
                    .iter()
                    .map(|at| at.slot as usize)
                    .filter(|s| *s >= slot)
                    .collect();
                slots.sort_unstable();
                Box::new(slots.into_iter())
            }
            None => Box::new(slot..table.len()),
        };
        let full = Rendering {
            selection: self.selection,
            nulls: Nulls::OmitExcept(0),
        };
        // The member offset continues the first object only (a group split across pages).
        let mut continued_from = member;
        for current in candidates {
            let offset = std::mem::take(&mut continued_from);
            let object = &table[current];
            if object.lifecycle == Lifecycle::Purged {
                // Objects deleted for good before the round never appear in it.
                continue;
            }
            if page.is_full() {
                return PageEnd::Next(Position::Initial {
                    slot: current,
                    member: offset,
                    since,
                });
            }
            if let Some(reason) = Self::removal_reason(object) {
                page.write_removed(object, reason);
            } else {
                let at = ObjectRef {
                    kind: self.kind,
                    slot: current as u32,
                };
                let members = self.all_members(at);
                let members = &members[offset.min(members.len())..];
                if !members.is_empty() && page.links >= page.limits.links {
                    return PageEnd::Next(Position::Initial {
                        slot: current,
                        member: offset,
                        since,
                    });
                }
                let written = page.write_present(self.directory, self.kind, object, &full, members);
                if written < members.len() {
                    return PageEnd::Next(Position::Initial {
                        slot: current,
                        member: offset + written,
                        since,
                    });
                }
            }
        }
        PageEnd::Done(since)
    }

    fn changes_page(
        &self,
        page: &mut Page<'_>,
        from: usize,
        to: usize,
        entry: usize,
        member: usize,
    ) -> PageEnd {
        let changes = &self.directory.changes;
        let start = from.min(changes.len());
        let window = &changes[start..to.clamp(start, changes.len())];
        let aggregates = aggregate(window, self.kind, self.filtered().as_ref());
        // The member offset continues the first object only (a group split across pages).
        let mut continued_from = member;
        for (ordinal, aggregate) in aggregates.iter().enumerate().skip(entry) {
            let offset = std::mem::take(&mut continued_from);
            let object = self.directory.get(aggregate.target);
            if let Some(reason) = Self::removal_reason(object) {
                if page.is_full() {
                    return PageEnd::Next(Position::Changes {
                        from,
                        to,
                        entry: ordinal,
                        member: 0,
                    });
                }
                page.write_removed(object, reason);
                continue;
            }
            let (selection, members) = if aggregate.appeared {
                (self.selection.clone(), self.all_members(aggregate.target))
            } else {
                let changed = aggregate.changed & self.selection.mask;
                let members = if self.with_members {
                    aggregate.net_members(self.directory)
                } else {
                    Vec::new()
                };
                if changed == 0 && members.is_empty() {
                    // Only unselected properties changed: not tracked, not surfaced.
                    continue;
                }
                let selection = if self.minimal {
                    minimal_selection(self.selection, changed)
                } else {
                    self.selection.clone()
                };
                (selection, members)
            };
            let cleared = if aggregate.appeared {
                0
            } else {
                aggregate.changed
            };
            let rendering = Rendering {
                selection: &selection,
                nulls: Nulls::OmitExcept(cleared),
            };
            let members = &members[offset.min(members.len())..];
            if page.is_full() || (!members.is_empty() && page.links >= page.limits.links) {
                return PageEnd::Next(Position::Changes {
                    from,
                    to,
                    entry: ordinal,
                    member: offset,
                });
            }
            let written =
                page.write_present(self.directory, self.kind, object, &rendering, members);
            if written < members.len() {
                return PageEnd::Next(Position::Changes {
                    from,
                    to,
                    entry: ordinal,
                    member: offset + written,
                });
            }
        }
        if to >= changes.len() {
            PageEnd::Done(to.max(from))
        } else {
            PageEnd::Next(Position::Changes {
                from: to,
                to: (to + CHANGE_WINDOW).min(changes.len()),
                entry: 0,
                member: 0,
            })
        }
    }
}

/// With `Prefer: return=minimal`, only the changed properties (and the id) are written.
fn minimal_selection(selection: &Selection, changed: PropertyMask) -> Selection {
    let mut minimal = selection.clone();
    minimal.fields.retain(|field| match field {
        Field::Id => true,
        Field::Property(position) => changed & (1 << position) != 0,
    });
    minimal.mask &= changed;
    minimal
}
