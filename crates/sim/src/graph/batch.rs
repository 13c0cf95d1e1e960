//! `POST /$batch` (graph-protocol.md §7): up to 20 requests, each routed through the same
//! pipeline as an HTTP request (so permissions, paging, faults and throttling apply per item),
//! answered in a deterministic shuffle of the request order.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::json::{ArrayWriter, ObjectWriter, write_str};

use super::error::GraphError;
use super::{Call, GraphReply, GraphRequest, Nesting, serve};

const MAX_BATCH_REQUESTS: usize = 20;

/// One request of a batch, validated.
#[derive(Debug)]
struct BatchItem {
    id: String,
    request: Result<GraphRequest, GraphError>,
    depends_on: Vec<String>,
}

fn malformed(detail: impl std::fmt::Display) -> GraphError {
    GraphError::bad_request_code(
        "BadRequest",
        format!("Invalid batch payload format: {detail}"),
    )
}

pub async fn batch(call: &Call<'_>) -> Result<GraphReply, GraphError> {
    let items = parse(call)?;
    let mut answered: Vec<(String, GraphReply)> = Vec::with_capacity(items.len());
    for item in &items {
        let dependency_failed = item.depends_on.iter().any(|dependency| {
            answered
                .iter()
                .find(|(id, _)| id.eq_ignore_ascii_case(dependency))
                .is_none_or(|(_, reply)| !reply.status.is_success())
        });
        let reply = match (&item.request, dependency_failed) {
            (_, true) => GraphError::failed_dependency().into_reply("", ""),
            (Err(error), false) => error.clone().into_reply("", ""),
            (Ok(request), false) => Box::pin(serve(call.shared, request, Nesting::BatchItem)).await,
        };
        answered.push((item.id.clone(), reply));
    }
    // Graph answers in any order; a seeded shuffle keeps runs reproducible.
    let ids: String = items
        .iter()
        .map(|i| i.id.as_str())
        .collect::<Vec<_>>()
        .join("\u{1f}");
    let mut rng = ChaCha8Rng::seed_from_u64(call.shared.seed ^ fnv1a(ids.as_bytes()));
    answered.shuffle(&mut rng);
    Ok(GraphReply::json(write_responses(&answered)))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn parse(call: &Call<'_>) -> Result<Vec<BatchItem>, GraphError> {
    let body: Value = serde_json::from_slice(&call.request.body)
        .map_err(|e| malformed(format!("the body is not JSON ({e})")))?;
    let requests = body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("expected {\"requests\": [...]}"))?;
    if requests.is_empty() {
        return Err(malformed("the batch holds no requests"));
    }
    if requests.len() > MAX_BATCH_REQUESTS {
        return Err(GraphError::bad_request_code(
            "BadRequest",
            format!(
                "The batch holds {} requests; at most {MAX_BATCH_REQUESTS} are allowed. Split it into several batches.",
                requests.len()
            ),
        ));
    }
    let mut items: Vec<BatchItem> = Vec::with_capacity(requests.len());
    for request in requests {
        let id = request
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("every request needs a string 'id'"))?;
        if items.iter().any(|item| item.id.eq_ignore_ascii_case(id)) {
            return Err(GraphError::bad_request_code(
                "BadRequest",
                format!(
                    "The batch holds the request id '{id}' more than once; ids must be unique (ignoring case)."
                ),
            ));
        }
        let depends_on = match request.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| malformed("'dependsOn' holds ids as strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(malformed("'dependsOn' must be an array of ids")),
        };
        if let Some(unknown) = depends_on
            .iter()
            .find(|d| !items.iter().any(|item| item.id.eq_ignore_ascii_case(d)))
        {
            return Err(GraphError::bad_request_code(
                "BadRequest",
                format!(
                    "Request '{id}' depends on '{unknown}', which is not an earlier request of this batch."
                ),
            ));
        }
        items.push(BatchItem {
            id: id.to_owned(),
            request: item_request(call, request),
            depends_on,
        });
    }
    Ok(items)
}

/// Builds the request of one item; problems confined to the item become its own error.
fn item_request(call: &Call<'_>, request: &Value) -> Result<GraphRequest, GraphError> {
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("every request needs a 'method'"))?;
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| GraphError::method_not_allowed())?;
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("every request needs a 'url'"))?;
    if url.starts_with("http://") || url.starts_with("https://") {
        return Err(GraphError::bad_request_code(
            "BadRequest",
            "The url of a batch request must be relative to the version, for example /users?$top=5.",
        ));
    }
    let url = if url.starts_with('/') {
        url.to_owned()
    } else {
        format!("/{url}")
    };
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let mut headers = HeaderMap::new();
    if let Some(authorization) = call.request.headers.get("authorization") {
        headers.insert("authorization", authorization.clone());
    }
    match request.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = value
                    .as_str()
                    .ok_or_else(|| malformed("header values must be strings"))?;
                let name = HeaderName::try_from(name.as_str())
                    .map_err(|_| malformed(format!("'{name}' is not a header name")))?;
                let value = HeaderValue::try_from(value)
                    .map_err(|_| malformed("a header value is not valid"))?;
                headers.insert(name, value);
            }
        }
        Some(_) => return Err(malformed("'headers' must be an object")),
    }
    let body = match request.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(body) => Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
    };
    Ok(GraphRequest {
        method,
        path: format!("/v1.0{path}"),
        query: query.to_owned(),
        headers,
        body,
    })
}

fn write_responses(answered: &[(String, GraphReply)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(answered.iter().map(|(_, r)| r.body.len() + 512).sum());
    let mut root = ObjectWriter::new(&mut out);
    let mut responses = ArrayWriter::new(root.key("responses"));
    for (id, reply) in answered {
        let mut item = ObjectWriter::new(responses.element());
        item.str("id", id);
        item.raw("status", reply.status.as_u16().to_string().as_bytes());
        let mut headers = ObjectWriter::new(item.key("headers"));
        for (name, value) in &reply.headers {
            headers.str(name, value);
        }
        headers.finish();
        if !reply.body.is_empty() {
            let is_json = reply
                .header("Content-Type")
                .is_some_and(|t| t.starts_with("application/json"));
            if is_json {
                item.raw("body", &reply.body);
            } else {
                write_str(item.key("body"), &String::from_utf8_lossy(&reply.body));
            }
        }
        item.finish();
    }
    responses.finish();
    root.finish();
    out
}
