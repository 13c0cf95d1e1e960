//! Group members for a full read: twenty groups to a `$batch`, several batches in flight,
//! each group's list paged by its own nextLink, and throttled items retried in a later batch
//! after their own `Retry-After`.

use std::collections::VecDeque;
use std::time::Duration;

use backon::ExponentialBackoff;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use roster_domain::ExternalId;
use serde_json::json;
use tokio::time::Instant;

use crate::client::{Call, GraphClient, Reply, denied, rejected};
use crate::error::GraphError;
use crate::events::{DirectoryEvent, GroupPatch};
use crate::parse;
use crate::read::{BATCH_SIZE, wire_error};

/// One page of one group's members, waiting to be put in a batch.
struct MemberRequest {
    group: ExternalId,
    /// Relative to `/v1.0`, as batch items need it.
    path: String,
    pages: u32,
    not_before: Instant,
    /// Created on the first failure of this page; its end is the end of the retries.
    backoff: Option<ExponentialBackoff>,
    retries: u32,
    first_failure: Option<Instant>,
}

type BatchDone = (Vec<MemberRequest>, Result<Reply, GraphError>);

#[derive(Default)]
pub(crate) struct MemberFetcher {
    waiting: VecDeque<MemberRequest>,
    in_flight: FuturesUnordered<BoxFuture<'static, BatchDone>>,
}

impl MemberFetcher {
    /// Queues the first page of `group`'s members.
    pub(crate) fn fetch(&mut self, group: &ExternalId) {
        self.waiting.push_back(MemberRequest {
            group: group.clone(),
            path: format!(
                "/groups/{}/members?$select=id&$top=999",
                encode_segment(group.as_str())
            ),
            pages: 1,
            not_before: Instant::now(),
            backoff: None,
            retries: 0,
            first_failure: None,
        });
    }

    /// The events of the next batch to complete, or `None` when every queued group's members
    /// have been read.
    pub(crate) async fn next(
        &mut self,
        client: &GraphClient,
    ) -> Result<Option<Vec<DirectoryEvent>>, GraphError> {
        loop {
            self.launch(client);
            let Some((sent, outcome)) = self.in_flight.next().await else {
                // Nothing in flight: all done, or every waiting page is waiting out a delay.
                match self.waiting.iter().map(|request| request.not_before).min() {
                    None => return Ok(None),
                    Some(at) => {
                        tokio::time::sleep_until(at).await;
                        continue;
                    }
                }
            };
            let events = self.absorb(client, sent, outcome?).await?;
            if !events.is_empty() {
                return Ok(Some(events));
            }
        }
    }

    /// Starts batches of the pages that are due, up to the limit of batches in flight.
    fn launch(&mut self, client: &GraphClient) {
        let now = Instant::now();
        while self.in_flight.len() < client.options().member_batches_in_flight.max(1) {
            let mut batch = Vec::new();
            let mut index = 0;
            while batch.len() < BATCH_SIZE as usize && index < self.waiting.len() {
                if self.waiting[index].not_before <= now {
                    batch.extend(self.waiting.remove(index));
                } else {
                    index += 1;
                }
            }
            if batch.is_empty() {
                return;
            }
            let client = client.clone();
            self.in_flight.push(Box::pin(async move {
                let outcome = send_batch(&client, &batch).await;
                (batch, outcome)
            }));
        }
    }

    /// Turns a batch response into events, queueing next pages and retries.
    async fn absorb(
        &mut self,
        client: &GraphClient,
        sent: Vec<MemberRequest>,
        reply: Reply,
    ) -> Result<Vec<DirectoryEvent>, GraphError> {
        let batch_path = client.api_url("/$batch").path().to_owned();
        let mut items = match parse::member_batch(&reply.body) {
            // Each item is taken by the request it answers, so that its page moves out.
            Ok(items) => items.into_iter().map(Some).collect::<Vec<_>>(),
            // A 424 envelope need not carry the items: retry them all.
            Err(_) if reply.status == 424 => {
                for request in sent {
                    self.retry_later(client, request, None, 424)?;
                }
                return Ok(Vec::new());
            }
            Err(e) => return Err(wire_error(&batch_path, e)),
        };
        let mut events = Vec::new();
        for (index, request) in sent.into_iter().enumerate() {
            let id = (index + 1).to_string();
            // The envelope's status says nothing about its items, and an item may be missing.
            let answer = items.iter_mut().enumerate().find_map(|(position, slot)| {
                slot.take_if(|item| item.id.eq_ignore_ascii_case(&id))
                    .map(|item| (position, item))
            });
            let Some((position, item)) = answer else {
                self.retry_later(client, request, None, reply.status)?;
                continue;
            };
            let item_path = client.api_url(&request.path).path().to_owned();
            match item.status {
                200 => {
                    let page = item
                        .body
                        .members(position)
                        .map_err(|e| wire_error(&batch_path, e))?;
                    if let Some(next) = page.next_link {
                        let location = format!("responses[{position}].body.@odata.nextLink");
                        self.queue_next_page(client, &request, &next, &batch_path, &location)?;
                    }
                    if !page.items.is_empty() {
                        events.push(DirectoryEvent::Group(GroupPatch::members_only(
                            request.group,
                            page.items,
                        )));
                    }
                }
                // Graph answers 404 for a group it has just listed while the group replicates,
                // and a group deleted meanwhile is simply absent from the next read. A read
                // missing a group's members must never remove it (product.md §5): retry, then
                // fail the read.
                404 => self.retry_later(client, request, None, 404)?,
                429 => {
                    client.throttled_item(reply.sent_at, item.retry_after);
                    self.retry_later(client, request, item.retry_after, 429)?;
                }
                424 | 500 | 502 | 503 | 504 => {
                    self.retry_later(client, request, item.retry_after, item.status)?
                }
                403 => return Err(denied(&*client.token().await?, &item_path)),
                status => {
                    let error = item.body.error().unwrap_or_default();
                    return Err(rejected(&item_path, status, error));
                }
            }
        }
        Ok(events)
    }

    fn queue_next_page(
        &mut self,
        client: &GraphClient,
        request: &MemberRequest,
        link: &str,
        batch_path: &str,
        location: &str,
    ) -> Result<(), GraphError> {
        let url = client.own_link(link, batch_path, location)?;
        let path = client.relative(&url).ok_or_else(|| {
            GraphError::protocol(
                batch_path,
                location,
                "the link is outside the Graph v1.0 API",
            )
        })?;
        if path == request.path {
            return Err(GraphError::protocol(
                batch_path,
                location,
                "the nextLink repeats the page it came from",
            ));
        }
        let max_pages = client.options().max_pages_per_round;
        if request.pages >= max_pages {
            return Err(GraphError::protocol(
                batch_path,
                location,
                format!(
                    "a group's member list runs past {max_pages} pages; the server keeps sending nextLinks"
                ),
            ));
        }
        self.waiting.push_back(MemberRequest {
            group: request.group.clone(),
            path,
            pages: request.pages + 1,
            not_before: Instant::now(),
            backoff: None,
            retries: 0,
            first_failure: None,
        });
        Ok(())
    }

    /// Queues `request` again after the item's own delay, or a backoff delay; gives up when the
    /// retry policy is spent.
    fn retry_later(
        &mut self,
        client: &GraphClient,
        mut request: MemberRequest,
        server_delay: Option<Duration>,
        status: u16,
    ) -> Result<(), GraphError> {
        let policy = &client.options().retry;
        let now = Instant::now();
        let first_failure = *request.first_failure.get_or_insert(now);
        request.retries += 1;
        let computed = request
            .backoff
            .get_or_insert_with(|| policy.backoff())
            .next();
        let delay = computed.map(|computed| {
            server_delay.map_or(computed, |server| server.min(policy.max_retry_after))
        });
        let Some(delay) =
            delay.filter(|delay| now.duration_since(first_failure) + *delay <= policy.max_total)
        else {
            let path = client.api_url(&request.path).path().to_owned();
            let attempts = request.retries;
            return Err(match status {
                404 => GraphError::GroupMembersNotFound {
                    group: request.group.to_string(),
                    path,
                    attempts,
                },
                429 => GraphError::Throttled {
                    path,
                    attempts,
                    waited: now.duration_since(first_failure),
                },
                status => GraphError::Unavailable {
                    path,
                    status,
                    attempts,
                },
            });
        };
        client.count_retry(
            "batch_item",
            match status {
                404 => "not_found",
                429 => "throttled",
                _ => "server_error",
            },
        );
        request.not_before = now + delay;
        self.waiting.push_back(request);
        Ok(())
    }
}

async fn send_batch(client: &GraphClient, batch: &[MemberRequest]) -> Result<Reply, GraphError> {
    let requests: Vec<_> = batch
        .iter()
        .enumerate()
        .map(|(index, request)| json!({ "id": (index + 1).to_string(), "method": "GET", "url": request.path }))
        .collect();
    let body = json!({ "requests": requests }).to_string().into_bytes();
    let items = u32::try_from(batch.len()).unwrap_or(BATCH_SIZE);
    client
        .send("batch", Call::Batch { body: &body, items })
        .await
}

/// Percent-encodes an object id for use as one path segment. Ids are opaque, so anything
/// outside the unreserved characters is encoded.
fn encode_segment(id: &str) -> String {
    let mut encoded = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
