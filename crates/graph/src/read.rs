//! Reading the directory: a fast full read for first syncs and delta rounds after it, handed
//! to the caller one page of events at a time.

use std::collections::HashSet;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::str::FromStr;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{Call, GraphClient};
use crate::error::GraphError;
use crate::events::DirectoryEvent;
use crate::members::MemberFetcher;
use crate::parse::{self, Page, WireError};

/// Requests per `$batch`: Graph's maximum.
pub(crate) const BATCH_SIZE: u32 = 20;

/// The user properties the sync needs. Delta tracks only selected properties, so every
/// property a plan depends on must be here.
const USER_SELECT: &str = "id,userPrincipalName,mail,proxyAddresses,accountEnabled,userType,displayName,givenName,surname";
const GROUP_SELECT: &str =
    "id,displayName,mail,mailEnabled,securityEnabled,groupTypes,proxyAddresses";

/// The saved position of a delta round: the whole `@odata.deltaLink` URL, used verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeltaLink(Url);

impl DeltaLink {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl FromStr for DeltaLink {
    type Err = url::ParseError;

    fn from_str(link: &str) -> Result<Self, Self::Err> {
        Url::parse(link).map(Self)
    }
}

impl fmt::Display for DeltaLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Where the next delta round of a connection starts, for users and for groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaLinks {
    pub users: DeltaLink,
    pub groups: DeltaLink,
}

/// What [`DirectoryRead::next`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadStep {
    /// The events of one page, to be applied to the mirror in order. A page may be empty.
    Page(Vec<DirectoryEvent>),
    /// The read is complete; the next round starts from these links.
    Finished(DeltaLinks),
}

#[derive(Clone, Copy)]
enum Kind {
    Users,
    Groups,
}

/// A read of the directory in progress. Call [`next`](Self::next) until it yields
/// [`ReadStep::Finished`]; after an error the read is over and the mirror should not take
/// its events.
///
/// Users and groups are read side by side, each at most one page ahead of the caller, so
/// memory holds a page or two, never the tenant.
pub struct DirectoryRead {
    client: GraphClient,
    stage: Stage,
}

enum Stage {
    TakeLinks,
    Reading {
        lanes: FuturesUnordered<BoxFuture<'static, LaneStep>>,
        users: Option<DeltaLink>,
        groups: Option<DeltaLink>,
    },
    Finished(DeltaLinks),
}

/// One collection being read: its pages, and for a full read of groups, their members.
struct Lane {
    walk: Walk,
    members: Option<MemberFetcher>,
}

/// A lane with the outcome of its last step: a page of events, or `None` when it is done.
type LaneStep = (Lane, Result<Option<Vec<DirectoryEvent>>, GraphError>);

impl Lane {
    /// The lane's next step, as a future that owns the lane and hands it back.
    fn start(mut self, client: &GraphClient) -> BoxFuture<'static, LaneStep> {
        let client = client.clone();
        Box::pin(async move {
            let step = self.next(&client).await;
            (self, step)
        })
    }

    async fn next(
        &mut self,
        client: &GraphClient,
    ) -> Result<Option<Vec<DirectoryEvent>>, GraphError> {
        let Some(members) = &mut self.members else {
            return Ok(self.walk.next_page(client).await?.map(|page| page.items));
        };
        // Members of the groups listed so far come first, so that memory holds at most one
        // page of groups waiting for their members.
        if let Some(events) = members.next(client).await? {
            return Ok(Some(events));
        }
        let Some(page) = self.walk.next_page(client).await? else {
            return Ok(None);
        };
        for event in &page.items {
            if let DirectoryEvent::Group(group) = event {
                members.fetch(&group.id);
            }
        }
        Ok(Some(page.items))
    }
}

impl GraphClient {
    /// A full read for a first sync or after an expired delta link: every user, group and
    /// membership, listed with `$top=999` and group members fetched by `$batch`.
    ///
    /// The delta links are taken (`$deltatoken=latest`) before listing, so a change made
    /// while listing is replayed by the next delta round; applying is idempotent.
    pub fn read_full(&self) -> DirectoryRead {
        DirectoryRead {
            client: self.clone(),
            stage: Stage::TakeLinks,
        }
    }

    /// A delta round from saved links. Fails with [`GraphError::DeltaExpired`] when a link
    /// is too old; the caller then does a [`read_full`](Self::read_full).
    pub fn read_changes(&self, since: &DeltaLinks) -> DirectoryRead {
        let lanes = [
            Lane {
                walk: Walk::delta(Kind::Users, since.users.0.clone()),
                members: None,
            },
            Lane {
                walk: Walk::delta(Kind::Groups, since.groups.0.clone()),
                members: None,
            },
        ];
        let lanes = lanes.into_iter().map(|lane| lane.start(self)).collect();
        DirectoryRead {
            client: self.clone(),
            stage: Stage::Reading {
                lanes,
                users: None,
                groups: None,
            },
        }
    }
}

impl DirectoryRead {
    /// The next page of events, or the links to start the next round from.
    pub async fn next(&mut self) -> Result<ReadStep, GraphError> {
        let client = &self.client;
        loop {
            match &mut self.stage {
                Stage::TakeLinks => {
                    let users = latest_link(client, Kind::Users).await?;
                    let groups = latest_link(client, Kind::Groups).await?;
                    let lanes = [
                        Lane {
                            walk: Walk::list(
                                Kind::Users,
                                client.api_url(&format!("/users?$select={USER_SELECT}&$top=999")),
                            ),
                            members: None,
                        },
                        Lane {
                            walk: Walk::list(
                                Kind::Groups,
                                client.api_url(&format!("/groups?$select={GROUP_SELECT}&$top=999")),
                            ),
                            members: Some(MemberFetcher::default()),
                        },
                    ];
                    let lanes = lanes.into_iter().map(|lane| lane.start(client)).collect();
                    self.stage = Stage::Reading {
                        lanes,
                        users: Some(users),
                        groups: Some(groups),
                    };
                }
                Stage::Reading {
                    lanes,
                    users,
                    groups,
                } => match lanes.next().await {
                    Some((lane, Ok(Some(events)))) => {
                        lanes.push(lane.start(client));
                        return Ok(ReadStep::Page(events));
                    }
                    Some((mut lane, Ok(None))) => {
                        if lane.walk.delta {
                            let link = lane.walk.finished_link()?;
                            match lane.walk.kind {
                                Kind::Users => *users = Some(link),
                                Kind::Groups => *groups = Some(link),
                            }
                        }
                    }
                    Some((_, Err(error))) => return Err(error),
                    None => {
                        let links = DeltaLinks {
                            users: links_taken(users)?,
                            groups: links_taken(groups)?,
                        };
                        self.stage = Stage::Finished(links);
                    }
                },
                Stage::Finished(links) => return Ok(ReadStep::Finished(links.clone())),
            }
        }
    }
}

/// The link a finished round left; each lane's own end checks it has one, so this only
/// guards the bookkeeping.
fn links_taken(link: &mut Option<DeltaLink>) -> Result<DeltaLink, GraphError> {
    link.take().ok_or_else(|| {
        GraphError::protocol("/", "@odata.deltaLink", "a round ended without a deltaLink")
    })
}

/// A delta link for "from now on", taken before a full listing. A service that ignores
/// `$deltatoken=latest` gets its whole initial round walked and its events dropped, since
/// the listing reports the same objects.
async fn latest_link(client: &GraphClient, kind: Kind) -> Result<DeltaLink, GraphError> {
    let path = match kind {
        Kind::Users => format!("/users/delta?$select={USER_SELECT}&$deltatoken=latest"),
        Kind::Groups => format!("/groups/delta?$select={GROUP_SELECT},members&$deltatoken=latest"),
    };
    let mut walk = Walk::delta(kind, client.api_url(&path));
    while walk.next_page(client).await?.is_some() {}
    walk.finished_link()
}

/// Following one collection's pages: a listing (ends without a link) or a delta round (ends
/// with a deltaLink).
struct Walk {
    kind: Kind,
    delta: bool,
    next: Option<Url>,
    /// The path of the last page fetched, for errors about what it said.
    last_path: String,
    delta_link: Option<DeltaLink>,
    pages: u32,
    /// Hashes of the links followed, to catch a server that sends one in a loop.
    seen: HashSet<u64>,
}

impl Walk {
    fn list(kind: Kind, first: Url) -> Self {
        Self::new(kind, false, first)
    }

    fn delta(kind: Kind, first: Url) -> Self {
        Self::new(kind, true, first)
    }

    fn new(kind: Kind, delta: bool, first: Url) -> Self {
        let last_path = first.path().to_owned();
        Self {
            kind,
            delta,
            next: Some(first),
            last_path,
            delta_link: None,
            pages: 0,
            seen: HashSet::new(),
        }
    }

    fn endpoint(&self) -> &'static str {
        match (self.kind, self.delta) {
            (Kind::Users, false) => "users",
            (Kind::Users, true) => "users_delta",
            (Kind::Groups, false) => "groups",
            (Kind::Groups, true) => "groups_delta",
        }
    }

    /// The next page, or `None` once the last one has been read.
    async fn next_page(
        &mut self,
        client: &GraphClient,
    ) -> Result<Option<Page<DirectoryEvent>>, GraphError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        // The first URL may be a saved delta link: it too must point at the Graph host.
        let url = client.own_link(url.as_str(), url.path(), "the request URL")?;
        self.last_path = url.path().to_owned();
        self.pages += 1;
        let max_pages = client.options().max_pages_per_round;
        if self.pages > max_pages {
            return Err(GraphError::protocol(
                &self.last_path,
                "@odata.nextLink",
                format!(
                    "more than {max_pages} pages in one round; the server keeps sending nextLinks"
                ),
            ));
        }
        let reply = client.send(self.endpoint(), Call::Get(&url)).await?;
        let parsed = match self.kind {
            Kind::Users => parse::user_page(&reply.body),
            Kind::Groups => parse::group_page(&reply.body),
        };
        let page = parsed.map_err(|e| wire_error(&self.last_path, e))?;
        match (&page.next_link, &page.delta_link) {
            (Some(next), _) => {
                let next = client.own_link(next, &self.last_path, "@odata.nextLink")?;
                if !self.seen.insert(hash_of(next.as_str())) {
                    return Err(GraphError::protocol(
                        &self.last_path,
                        "@odata.nextLink",
                        "the nextLink repeats one already followed in this round",
                    ));
                }
                self.next = Some(next);
            }
            (None, Some(link)) if self.delta => {
                self.delta_link = Some(DeltaLink(client.own_link(
                    link,
                    &self.last_path,
                    "@odata.deltaLink",
                )?));
            }
            (None, _) if self.delta => {
                return Err(GraphError::protocol(
                    &self.last_path,
                    "the document root",
                    "a delta page has neither @odata.nextLink nor @odata.deltaLink",
                ));
            }
            (None, _) => {}
        }
        Ok(Some(page))
    }

    /// The deltaLink that ended a delta round.
    fn finished_link(&mut self) -> Result<DeltaLink, GraphError> {
        self.delta_link.take().ok_or_else(|| {
            GraphError::protocol(
                &self.last_path,
                "@odata.deltaLink",
                "the delta round ended without a deltaLink",
            )
        })
    }
}

fn hash_of(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

pub(crate) fn wire_error(path: &str, error: WireError) -> GraphError {
    GraphError::protocol(path, error.location, error.problem)
}
