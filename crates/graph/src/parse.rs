//! Graph's response bodies, parsed into the client's types.
//!
//! Every body is hostile until parsed: each failure names where in the document it happened
//! (`value[3].proxyAddresses[1]`), strings are bounded, and an absent property is kept apart
//! from a `null` one. Parsing is page by page, so memory follows the page, not the tenant.

use std::fmt;
use std::time::{Duration, SystemTime};

use roster_domain::{DirectoryMember, ExternalId, MemberType};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::events::{DirectoryEvent, GroupPatch, Patch, Removal, RemovalReason, UserPatch};

mod fast;

/// The longest property value accepted; Entra's own limits are far below it.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The longest nextLink or deltaLink accepted; skip tokens run to a few kilobytes.
pub const MAX_LINK_CHARS: usize = 16 * 1024;
/// The longest access token accepted.
const MAX_TOKEN_CHARS: usize = 64 * 1024;

/// Where a body stopped making sense, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {location}: {problem}")]
pub struct WireError {
    /// A JSON location such as `value[3].proxyAddresses[1]`, or a line and column.
    pub location: String,
    pub problem: String,
}

/// A JSON location, built on the stack while descending and only rendered on error.
#[derive(Clone, Copy)]
enum Loc<'a> {
    Root,
    Key(&'a Loc<'a>, &'a str),
    Index(&'a Loc<'a>, usize),
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("the document root"),
            Self::Key(Self::Root, key) => f.write_str(key),
            Self::Key(parent, key) => write!(f, "{parent}.{key}"),
            Self::Index(Self::Root, index) => write!(f, "[{index}]"),
            Self::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

impl Loc<'_> {
    fn error(&self, problem: impl Into<String>) -> WireError {
        WireError {
            location: self.to_string(),
            problem: problem.into(),
        }
    }

    fn expected(&self, what: &str, found: &Value) -> WireError {
        self.error(format!("expected {what}, found {}", kind_of(found)))
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_json(body: &[u8]) -> Result<Value, WireError> {
    serde_json::from_slice(body).map_err(|e| WireError {
        location: format!("line {} column {}", e.line(), e.column()),
        problem: format!("the body is not valid JSON ({})", e.classify_name()),
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "it ends too early",
        }
    }
}

fn object<'v>(value: &'v Value, loc: &Loc) -> Result<&'v Map<String, Value>, WireError> {
    value
        .as_object()
        .ok_or_else(|| loc.expected("an object", value))
}

fn bounded_text(value: &str, limit: usize, loc: &Loc) -> Result<String, WireError> {
    if value.chars().count() > limit {
        return Err(too_long(limit, loc));
    }
    Ok(value.to_owned())
}

fn too_long(limit: usize, loc: &Loc) -> WireError {
    loc.error(format!("the string is longer than {limit} characters"))
}

fn text(value: &Value, loc: &Loc) -> Result<String, WireError> {
    match value {
        Value::String(s) => bounded_text(s, MAX_TEXT_CHARS, loc),
        other => Err(loc.expected("a string", other)),
    }
}

/// A property that may be absent (unchanged), `null` (cleared) or a value.
fn patch<T>(
    map: &Map<String, Value>,
    key: &str,
    parent: &Loc,
    read: impl FnOnce(&Value, &Loc) -> Result<T, WireError>,
) -> Result<Patch<T>, WireError> {
    let loc = Loc::Key(parent, key);
    match map.get(key) {
        None => Ok(Patch::Unchanged),
        Some(Value::Null) => Ok(Patch::Cleared),
        Some(value) => read(value, &loc).map(Patch::Set),
    }
}

fn text_patch(
    map: &Map<String, Value>,
    key: &str,
    parent: &Loc,
) -> Result<Patch<String>, WireError> {
    patch(map, key, parent, text)
}

fn bool_patch(map: &Map<String, Value>, key: &str, parent: &Loc) -> Result<Patch<bool>, WireError> {
    patch(map, key, parent, |value, loc| {
        value
            .as_bool()
            .ok_or_else(|| loc.expected("true or false", value))
    })
}

fn text_list_patch(
    map: &Map<String, Value>,
    key: &str,
    parent: &Loc,
) -> Result<Patch<Vec<String>>, WireError> {
    patch(map, key, parent, |value, loc| {
        let items = value
            .as_array()
            .ok_or_else(|| loc.expected("an array of strings", value))?;
        items
            .iter()
            .enumerate()
            .map(|(index, item)| text(item, &Loc::Index(loc, index)))
            .collect()
    })
}

fn object_id(map: &Map<String, Value>, parent: &Loc) -> Result<ExternalId, WireError> {
    let loc = Loc::Key(parent, "id");
    let value = map
        .get("id")
        .ok_or_else(|| loc.error("the object has no id"))?;
    let id = value
        .as_str()
        .ok_or_else(|| loc.expected("a string", value))?;
    id.parse()
        .map_err(|e: roster_domain::ParseError| loc.error(e.why))
}

fn optional_str<'v>(
    map: &'v Map<String, Value>,
    key: &str,
    limit: usize,
    parent: &Loc,
) -> Result<Option<&'v str>, WireError> {
    let loc = Loc::Key(parent, key);
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > limit => Err(too_long(limit, &loc)),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(loc.expected("a string", other)),
    }
}

fn optional_text(
    map: &Map<String, Value>,
    key: &str,
    limit: usize,
    parent: &Loc,
) -> Result<Option<String>, WireError> {
    optional_str(map, key, limit, parent).map(|text| text.map(str::to_owned))
}

/// The `@removed` annotation of a delta item, if it has one.
fn removal_reason(
    map: &Map<String, Value>,
    parent: &Loc,
) -> Result<Option<RemovalReason>, WireError> {
    let loc = Loc::Key(parent, "@removed");
    match map.get("@removed") {
        None => Ok(None),
        Some(Value::Object(annotation)) => {
            let reason = optional_text(annotation, "reason", MAX_TEXT_CHARS, &loc)?;
            Ok(Some(RemovalReason::from_annotation(reason.as_deref())))
        }
        Some(Value::Null) => Ok(Some(RemovalReason::Unspecified)),
        Some(other) => Err(loc.expected("an object", other)),
    }
}

/// One page of a collection: its items and where to go next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

fn page_at<T>(
    value: &Value,
    loc: &Loc,
    item: impl Fn(&Map<String, Value>, &Loc) -> Result<T, WireError>,
) -> Result<Page<T>, WireError> {
    let map = object(value, loc)?;
    let value_loc = Loc::Key(loc, "value");
    let values = match map.get("value") {
        Some(Value::Array(values)) => values,
        Some(other) => return Err(value_loc.expected("an array", other)),
        None => return Err(value_loc.error("the page has no value array")),
    };
    let items = values
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let entry_loc = Loc::Index(&value_loc, index);
            item(object(entry, &entry_loc)?, &entry_loc)
        })
        .collect::<Result<_, _>>()?;
    let next_link = optional_text(map, "@odata.nextLink", MAX_LINK_CHARS, loc)?;
    let delta_link = optional_text(map, "@odata.deltaLink", MAX_LINK_CHARS, loc)?;
    if next_link.is_some() && delta_link.is_some() {
        return Err(loc.error("the page has both @odata.nextLink and @odata.deltaLink"));
    }
    Ok(Page {
        items,
        next_link,
        delta_link,
    })
}

fn user_event(map: &Map<String, Value>, loc: &Loc) -> Result<DirectoryEvent, WireError> {
    let id = object_id(map, loc)?;
    if let Some(reason) = removal_reason(map, loc)? {
        return Ok(DirectoryEvent::UserRemoved(Removal { id, reason }));
    }
    Ok(DirectoryEvent::User(UserPatch {
        id,
        user_principal_name: text_patch(map, "userPrincipalName", loc)?,
        mail: text_patch(map, "mail", loc)?,
        proxy_addresses: text_list_patch(map, "proxyAddresses", loc)?,
        account_enabled: bool_patch(map, "accountEnabled", loc)?,
        user_type: text_patch(map, "userType", loc)?,
        display_name: text_patch(map, "displayName", loc)?,
        given_name: text_patch(map, "givenName", loc)?,
        surname: text_patch(map, "surname", loc)?,
    }))
}

fn member(map: &Map<String, Value>, loc: &Loc) -> Result<DirectoryMember, WireError> {
    let id = object_id(map, loc)?;
    let odata_type = optional_str(map, "@odata.type", MAX_TEXT_CHARS, loc)?;
    let kind = odata_type.map_or(MemberType::Other, MemberType::from_odata_type);
    Ok(DirectoryMember { id, kind })
}

fn group_event(map: &Map<String, Value>, loc: &Loc) -> Result<DirectoryEvent, WireError> {
    let id = object_id(map, loc)?;
    if let Some(reason) = removal_reason(map, loc)? {
        return Ok(DirectoryEvent::GroupRemoved(Removal { id, reason }));
    }
    let mut members_added = Vec::new();
    let mut members_removed = Vec::new();
    let members_loc = Loc::Key(loc, "members@delta");
    match map.get("members@delta") {
        None | Some(Value::Null) => {}
        Some(Value::Array(entries)) => {
            for (index, entry) in entries.iter().enumerate() {
                let entry_loc = Loc::Index(&members_loc, index);
                let entry_map = object(entry, &entry_loc)?;
                let parsed = member(entry_map, &entry_loc)?;
                match removal_reason(entry_map, &entry_loc)? {
                    Some(_) => members_removed.push(parsed),
                    None => members_added.push(parsed),
                }
            }
        }
        Some(other) => return Err(members_loc.expected("an array", other)),
    }
    Ok(DirectoryEvent::Group(GroupPatch {
        id,
        display_name: text_patch(map, "displayName", loc)?,
        mail: text_patch(map, "mail", loc)?,
        mail_enabled: bool_patch(map, "mailEnabled", loc)?,
        security_enabled: bool_patch(map, "securityEnabled", loc)?,
        group_types: text_list_patch(map, "groupTypes", loc)?,
        proxy_addresses: text_list_patch(map, "proxyAddresses", loc)?,
        members_added,
        members_removed,
    }))
}

/// A page of `/users` or `/users/delta`.
pub fn user_page(body: &[u8]) -> Result<Page<DirectoryEvent>, WireError> {
    fast::user_page(body).map_or_else(|| page_at(&parse_json(body)?, &Loc::Root, user_event), Ok)
}

/// A page of `/groups` or `/groups/delta` (with `members@delta`).
pub fn group_page(body: &[u8]) -> Result<Page<DirectoryEvent>, WireError> {
    fast::group_page(body).map_or_else(|| page_at(&parse_json(body)?, &Loc::Root, group_event), Ok)
}

/// A page of `/groups/{id}/members`.
pub fn member_page(body: &[u8]) -> Result<Page<DirectoryMember>, WireError> {
    fast::member_page(body).map_or_else(|| page_at(&parse_json(body)?, &Loc::Root, member), Ok)
}

/// A verified or unverified domain of the tenant, from `/domains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDomain {
    pub name: String,
    pub verified: bool,
}

/// A page of `/domains`.
pub fn domain_page(body: &[u8]) -> Result<Page<TenantDomain>, WireError> {
    page_at(&parse_json(body)?, &Loc::Root, |map, loc| {
        let id_loc = Loc::Key(loc, "id");
        let name = match map.get("id") {
            Some(value) => text(value, &id_loc)?.to_ascii_lowercase(),
            None => return Err(id_loc.error("the domain has no id")),
        };
        let verified_loc = Loc::Key(loc, "isVerified");
        let verified = match map.get("isVerified") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(verified)) => *verified,
            Some(other) => return Err(verified_loc.expected("true or false", other)),
        };
        Ok(TenantDomain { name, verified })
    })
}

/// One item of a `$batch` response.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItemReply {
    pub id: String,
    pub status: u16,
    /// The item's own `Retry-After`, read from its `headers`.
    pub retry_after: Option<Duration>,
    pub body: Value,
}

/// A `$batch` response envelope: its items, in the order Graph sent them (which is any order).
pub fn batch_response(body: &[u8]) -> Result<Vec<BatchItemReply>, WireError> {
    let root_loc = Loc::Root;
    let loc = Loc::Key(&root_loc, "responses");
    // The envelope is taken apart by value, so that each item's body moves out without a copy.
    let responses = match parse_json(body)? {
        Value::Object(mut root) => match root.remove("responses") {
            Some(Value::Array(responses)) => responses,
            Some(other) => return Err(loc.expected("an array", &other)),
            None => return Err(loc.error("the batch response has no responses array")),
        },
        other => return Err(root_loc.expected("an object", &other)),
    };
    let mut items = Vec::with_capacity(responses.len());
    for (index, response) in responses.into_iter().enumerate() {
        let item_loc = Loc::Index(&loc, index);
        let Value::Object(mut item) = response else {
            return Err(item_loc.expected("an object", &response));
        };
        let id_loc = Loc::Key(&item_loc, "id");
        let id = match item.get("id") {
            Some(Value::String(id)) => bounded_text(id, MAX_TEXT_CHARS, &id_loc)?,
            Some(other) => return Err(id_loc.expected("a string", other)),
            None => return Err(id_loc.error("the batch item has no id")),
        };
        let status_loc = Loc::Key(&item_loc, "status");
        let status = match item.get("status") {
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (100..=599).contains(n))
                .ok_or_else(|| status_loc.error(format!("{n} is not an HTTP status")))?,
            Some(other) => return Err(status_loc.expected("a number", other)),
            None => return Err(status_loc.error("the batch item has no status")),
        };
        let headers_loc = Loc::Key(&item_loc, "headers");
        let retry_after = match item.get("headers") {
            None | Some(Value::Null) => None,
            Some(Value::Object(headers)) => retry_after_header(headers),
            Some(other) => return Err(headers_loc.expected("an object", other)),
        };
        let body = item.remove("body").unwrap_or(Value::Null);
        items.push(BatchItemReply {
            id,
            status,
            retry_after,
            body,
        });
    }
    Ok(items)
}

/// The `Retry-After` among a batch item's `headers`, whose names are case-insensitive.
fn retry_after_header(headers: &Map<String, Value>) -> Option<Duration> {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, value)| match value {
            Value::String(s) => retry_after(s, SystemTime::now()),
            Value::Number(n) => n.as_f64().and_then(seconds),
            _ => None,
        })
}

/// The body of a batch item, read as a page of a group's members. `item` is the item's index
/// in the envelope, so errors point into the envelope.
pub fn batch_member_page(item: usize, body: &Value) -> Result<Page<DirectoryMember>, WireError> {
    let responses = Loc::Key(&Loc::Root, "responses");
    let entry = Loc::Index(&responses, item);
    page_at(body, &Loc::Key(&entry, "body"), member)
}

/// One item of a `$batch` of group member pages.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberBatchItem {
    pub id: String,
    pub status: u16,
    /// The item's own `Retry-After`, read from its `headers`.
    pub retry_after: Option<Duration>,
    pub body: MemberBatchBody,
}

/// The body of one item of a `$batch` of group member pages.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberBatchBody {
    /// The page of members, already read with the envelope.
    Members(Page<DirectoryMember>),
    /// A body still to be read: as a page of members if the item succeeded, as a Graph error
    /// if it did not. Its problems are reported only if the item is used.
    Json(Value),
}

impl MemberBatchBody {
    /// The page of members of the item at `index` in the envelope.
    pub fn members(self, index: usize) -> Result<Page<DirectoryMember>, WireError> {
        match self {
            Self::Members(page) => Ok(page),
            Self::Json(body) => batch_member_page(index, &body),
        }
    }

    /// The Graph error the body holds, if it holds one.
    pub fn error(&self) -> Option<ErrorBody> {
        match self {
            Self::Members(_) => None,
            Self::Json(body) => error_body_value(body),
        }
    }
}

/// A `$batch` response to requests for group member pages. When every item is a page of
/// members, as when nothing fails, the pages are read with the envelope and without a `Value`
/// tree; otherwise the envelope is read as [`batch_response`] reads it.
pub fn member_batch(body: &[u8]) -> Result<Vec<MemberBatchItem>, WireError> {
    if let Some(items) = fast::member_batch(body) {
        return Ok(items);
    }
    let items = batch_response(body)?
        .into_iter()
        .map(|item| MemberBatchItem {
            id: item.id,
            status: item.status,
            retry_after: item.retry_after,
            body: MemberBatchBody::Json(item.body),
        });
    Ok(items.collect())
}

/// A successful token response.
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub expires_in: Duration,
}

/// The token endpoint's success body.
pub fn token_response(body: &[u8]) -> Result<TokenGrant, WireError> {
    let root = parse_json(body)?;
    let root_loc = Loc::Root;
    let map = object(&root, &root_loc)?;
    let token_type = optional_text(map, "token_type", MAX_TEXT_CHARS, &root_loc)?;
    if let Some(kind) = token_type.filter(|kind| !kind.eq_ignore_ascii_case("bearer")) {
        return Err(
            Loc::Key(&root_loc, "token_type").error(format!("expected Bearer, found {kind:?}"))
        );
    }
    let token_loc = Loc::Key(&root_loc, "access_token");
    let access_token = match map.get("access_token") {
        Some(Value::String(token)) if token.is_empty() => {
            return Err(token_loc.error("the access token is empty"));
        }
        Some(Value::String(token)) if token.len() > MAX_TOKEN_CHARS => {
            return Err(token_loc.error(format!(
                "the access token is longer than {MAX_TOKEN_CHARS} characters"
            )));
        }
        Some(Value::String(token)) if !token.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(token_loc
                .error("the access token contains characters not allowed in an HTTP header"));
        }
        Some(Value::String(token)) => SecretString::from(token.as_str()),
        Some(other) => return Err(token_loc.expected("a string", other)),
        None => return Err(token_loc.error("the token response has no access_token")),
    };
    let expiry_loc = Loc::Key(&root_loc, "expires_in");
    // The v2.0 endpoint sends a number; older endpoints sent the same number as a string.
    let expires_in = match map.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(other) => return Err(expiry_loc.expected("a number of seconds", other)),
        None => return Err(expiry_loc.error("the token response has no expires_in")),
    }
    .filter(|secs| *secs > 0.0)
    .and_then(seconds)
    .ok_or_else(|| expiry_loc.error("expected a positive number of seconds"))?;
    Ok(TokenGrant {
        access_token,
        expires_in,
    })
}

/// The token endpoint's error body (`error`, `error_codes`, `error_description`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFailure {
    pub error: String,
    /// The first of `error_codes`: the AADSTS number.
    pub code: Option<u32>,
    /// The first line of `error_description`, without its trace and correlation ids.
    pub description: String,
}

pub fn token_error(body: &[u8]) -> Option<TokenFailure> {
    let root = serde_json::from_slice::<Value>(body).ok()?;
    let map = root.as_object()?;
    let error = map.get("error")?.as_str()?;
    let code = map
        .get("error_codes")
        .and_then(Value::as_array)
        .and_then(|codes| codes.first())
        .and_then(Value::as_u64)
        .and_then(|code| u32::try_from(code).ok());
    let description = map
        .get("error_description")
        .and_then(Value::as_str)
        .and_then(|text| text.lines().next())
        .unwrap_or_default();
    Some(TokenFailure {
        error: clip(error),
        code,
        description: clip(description),
    })
}

/// Graph's error body: `{"error": {"code", "message", "innerError": {"request-id"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

pub fn error_body(body: &[u8]) -> Option<ErrorBody> {
    error_body_value(&serde_json::from_slice(body).ok()?)
}

pub(crate) fn error_body_value(root: &Value) -> Option<ErrorBody> {
    let error = root.get("error")?.as_object()?;
    let field = |key: &str| error.get(key).and_then(Value::as_str).map(clip);
    // The docs spell the inner object both innerError and innererror.
    let request_id = error
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("innererror"))
        .and_then(|(_, inner)| inner.get("request-id"))
        .and_then(Value::as_str)
        .map(clip);
    Some(ErrorBody {
        code: field("code").unwrap_or_default(),
        message: field("message").unwrap_or_default(),
        request_id,
    })
}

/// Text from a response, shortened so that a hostile body cannot flood a message or a log.
fn clip(text: &str) -> String {
    const SHOWN: usize = 300;
    if text.chars().count() <= SHOWN {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(SHOWN).collect();
    cut.push('…');
    cut
}

fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

/// A `Retry-After` value: seconds, possibly fractional (`2.128`), or an HTTP date.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
