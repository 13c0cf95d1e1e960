//! The fast path of the page parsers: a body read straight into structs that borrow its
//! strings, with no `Value` tree in between.
//!
//! It accepts only bodies that the `Value` walker of the parent module accepts, and gives the
//! same result for them. Anything else makes it give up (`None`), and the walker then reads the
//! body again to say precisely where and why it fails. To keep that promise every struct denies
//! unknown properties: serde skips an unknown property more leniently than `Value` parses it
//! (no nesting limit, no check of escapes or number ranges), so a body with one goes to the walker.
//! Serde also refuses a duplicated property, which the walker resolves by taking the last one,
//! and a wrong type anywhere: both go to the walker too.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use roster_domain::{DirectoryMember, ExternalId, MemberType};
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de};
use serde_json::{Map, Value};

use super::{MAX_LINK_CHARS, MAX_TEXT_CHARS, Page};
use crate::events::{DirectoryEvent, GroupPatch, Patch, Removal, RemovalReason, UserPatch};

/// A JSON object read into `T`. Serde's derived structs would also take an array of their
/// properties in order, which the walker refuses; asking for a map refuses it too.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

/// A string, borrowed from the body unless it had escapes to decode.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

impl<'a> Text<'a> {
    /// The text if it has at most `limit` characters. A string of at most `limit` bytes
    /// cannot have more characters, so most strings are never counted.
    fn within(self, limit: usize) -> Option<Cow<'a, str>> {
        (self.0.len() <= limit || self.0.chars().count() <= limit).then_some(self.0)
    }

    fn into_bounded_string(self) -> Option<String> {
        self.within(MAX_TEXT_CHARS).map(Cow::into_owned)
    }

    fn into_id(self) -> Option<ExternalId> {
        self.0.parse().ok()
    }
}

/// A property that may be absent (the default: unchanged), `null` (cleared) or a value.
struct Property<T>(Patch<T>);

impl<T> Default for Property<T> {
    fn default() -> Self {
        Self(Patch::Unchanged)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Property<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Option::<T>::deserialize(deserializer)?;
        Ok(Self(value.map_or(Patch::Cleared, Patch::Set)))
    }
}

impl<T> Property<T> {
    /// The patch with its value converted, or `None` if the value is refused.
    fn try_map<U>(self, convert: impl FnOnce(T) -> Option<U>) -> Option<Patch<U>> {
        match self.0 {
            Patch::Unchanged => Some(Patch::Unchanged),
            Patch::Cleared => Some(Patch::Cleared),
            Patch::Set(value) => convert(value).map(Patch::Set),
        }
    }
}

fn text_patch(property: Property<Text<'_>>) -> Option<Patch<String>> {
    property.try_map(Text::into_bounded_string)
}

fn text_list_patch(property: Property<Vec<Text<'_>>>) -> Option<Patch<Vec<String>>> {
    property.try_map(|items| items.into_iter().map(Text::into_bounded_string).collect())
}

/// The `@removed` annotation of a delta item.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRemoval<'a> {
    #[serde(default, borrow)]
    reason: Option<Text<'a>>,
}

/// Whether an item was removed: absent is not, `null` is for no stated reason.
fn removal_reason(removed: Property<Object<WireRemoval<'_>>>) -> Option<Option<RemovalReason>> {
    match removed.0 {
        Patch::Unchanged => Some(None),
        Patch::Cleared => Some(Some(RemovalReason::Unspecified)),
        Patch::Set(Object(removal)) => {
            let reason = match removal.reason {
                Some(reason) => Some(reason.within(MAX_TEXT_CHARS)?),
                None => None,
            };
            Some(Some(RemovalReason::from_annotation(reason.as_deref())))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePage<'a, T> {
    value: Vec<Object<T>>,
    /// Named only so that it is not an unknown property; its value is not used.
    #[serde(rename = "@odata.context", default, borrow)]
    _context: Option<Text<'a>>,
    #[serde(rename = "@odata.nextLink", default, borrow)]
    next_link: Option<Text<'a>>,
    #[serde(rename = "@odata.deltaLink", default, borrow)]
    delta_link: Option<Text<'a>>,
}

impl<T> WirePage<'_, T> {
    /// The page with each item converted, or `None` if an item or a link is refused.
    fn convert<U>(self, item: impl Fn(T) -> Option<U>) -> Option<Page<U>> {
        let link = |link: Option<Text<'_>>| match link {
            Some(link) => link
                .within(MAX_LINK_CHARS)
                .map(|link| Some(link.into_owned())),
            None => Some(None),
        };
        let next_link = link(self.next_link)?;
        let delta_link = link(self.delta_link)?;
        if next_link.is_some() && delta_link.is_some() {
            return None;
        }
        let items = self
            .value
            .into_iter()
            .map(|Object(entry)| item(entry))
            .collect::<Option<_>>()?;
        Some(Page {
            items,
            next_link,
            delta_link,
        })
    }
}

/// `body` read as a `T`. The whole body's UTF-8 is checked at once, which costs fewer
/// instructions than serde_json's check of each string it reads from bytes.
fn read<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    let Object(read) = serde_json::from_str::<Object<T>>(std::str::from_utf8(body).ok()?).ok()?;
    Some(read)
}

fn read_page<'a, T: Deserialize<'a>, U>(
    body: &'a [u8],
    item: impl Fn(T) -> Option<U>,
) -> Option<Page<U>> {
    read::<WirePage<'a, T>>(body)?.convert(item)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireUser<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(rename = "@removed", default, borrow)]
    removed: Property<Object<WireRemoval<'a>>>,
    #[serde(default, borrow)]
    user_principal_name: Property<Text<'a>>,
    #[serde(default, borrow)]
    mail: Property<Text<'a>>,
    #[serde(default, borrow)]
    proxy_addresses: Property<Vec<Text<'a>>>,
    #[serde(default)]
    account_enabled: Property<bool>,
    #[serde(default, borrow)]
    user_type: Property<Text<'a>>,
    #[serde(default, borrow)]
    display_name: Property<Text<'a>>,
    #[serde(default, borrow)]
    given_name: Property<Text<'a>>,
    #[serde(default, borrow)]
    surname: Property<Text<'a>>,
}

fn user_event(user: WireUser<'_>) -> Option<DirectoryEvent> {
    let id = user.id.into_id()?;
    if let Some(reason) = removal_reason(user.removed)? {
        return Some(DirectoryEvent::UserRemoved(Removal { id, reason }));
    }
    Some(DirectoryEvent::User(UserPatch {
        id,
        user_principal_name: text_patch(user.user_principal_name)?,
        mail: text_patch(user.mail)?,
        proxy_addresses: text_list_patch(user.proxy_addresses)?,
        account_enabled: user.account_enabled.0,
        user_type: text_patch(user.user_type)?,
        display_name: text_patch(user.display_name)?,
        given_name: text_patch(user.given_name)?,
        surname: text_patch(user.surname)?,
    }))
}

/// A member of a member page, or an entry of `members@delta` (where `@removed` matters).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMember<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(rename = "@odata.type", default, borrow)]
    odata_type: Option<Text<'a>>,
    #[serde(rename = "@removed", default, borrow)]
    removed: Property<Object<WireRemoval<'a>>>,
}

fn member(member: WireMember<'_>) -> Option<DirectoryMember> {
    let kind = match member.odata_type {
        Some(odata_type) => MemberType::from_odata_type(&odata_type.within(MAX_TEXT_CHARS)?),
        None => MemberType::Other,
    };
    Some(DirectoryMember {
        id: member.id.into_id()?,
        kind,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireGroup<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(rename = "@removed", default, borrow)]
    removed: Property<Object<WireRemoval<'a>>>,
    #[serde(rename = "members@delta", default, borrow)]
    members_delta: Option<Vec<Object<WireMember<'a>>>>,
    #[serde(default, borrow)]
    display_name: Property<Text<'a>>,
    #[serde(default, borrow)]
    mail: Property<Text<'a>>,
    #[serde(default)]
    mail_enabled: Property<bool>,
    #[serde(default)]
    security_enabled: Property<bool>,
    #[serde(default, borrow)]
    group_types: Property<Vec<Text<'a>>>,
    #[serde(default, borrow)]
    proxy_addresses: Property<Vec<Text<'a>>>,
}

fn group_event(group: WireGroup<'_>) -> Option<DirectoryEvent> {
    let id = group.id.into_id()?;
    if let Some(reason) = removal_reason(group.removed)? {
        return Some(DirectoryEvent::GroupRemoved(Removal { id, reason }));
    }
    let mut members_added = Vec::new();
    let mut members_removed = Vec::new();
    for Object(mut entry) in group.members_delta.unwrap_or_default() {
        let removed = removal_reason(std::mem::take(&mut entry.removed))?;
        let parsed = member(entry)?;
        match removed {
            Some(_) => members_removed.push(parsed),
            None => members_added.push(parsed),
        }
    }
    Some(DirectoryEvent::Group(GroupPatch {
        id,
        display_name: text_patch(group.display_name)?,
        mail: text_patch(group.mail)?,
        mail_enabled: group.mail_enabled.0,
        security_enabled: group.security_enabled.0,
        group_types: text_list_patch(group.group_types)?,
        proxy_addresses: text_list_patch(group.proxy_addresses)?,
        members_added,
        members_removed,
    }))
}

pub(super) fn user_page(body: &[u8]) -> Option<Page<DirectoryEvent>> {
    read_page(body, user_event)
}

pub(super) fn group_page(body: &[u8]) -> Option<Page<DirectoryEvent>> {
    read_page(body, group_event)
}

pub(super) fn member_page(body: &[u8]) -> Option<Page<DirectoryMember>> {
    read_page(body, member)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBatch<'a> {
    #[serde(borrow)]
    responses: Vec<Object<WireBatchItem<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBatchItem<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    status: u16,
    #[serde(default)]
    headers: Option<Map<String, Value>>,
    #[serde(borrow)]
    body: Object<WirePage<'a, WireMember<'a>>>,
}

/// A `$batch` of member pages in which every item succeeded with a page: what a full read gets
/// when nothing is throttled or failing. Any other envelope is left to the walker.
pub(super) fn member_batch(body: &[u8]) -> Option<Vec<super::MemberBatchItem>> {
    read::<WireBatch<'_>>(body)?
        .responses
        .into_iter()
        .map(|Object(item)| {
            if item.status != 200 {
                return None;
            }
            let Object(page) = item.body;
            Some(super::MemberBatchItem {
                id: item.id.into_bounded_string()?,
                status: item.status,
                retry_after: item.headers.as_ref().and_then(super::retry_after_header),
                body: super::MemberBatchBody::Members(page.convert(member)?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{Loc, batch_response, page_at, parse_json};
    use super::*;

    /// What the walker makes of `body` as a page, read with `item`.
    fn walked<T>(
        body: &[u8],
        item: impl Fn(&Map<String, Value>, &Loc) -> Result<T, super::super::WireError>,
    ) -> Option<Page<T>> {
        page_at(&parse_json(body).ok()?, &Loc::Root, item).ok()
    }

    /// The fast path must agree with the walker wherever it reads a body at all.
    fn assert_agrees(body: &[u8]) {
        if let Some(page) = user_page(body) {
            assert_eq!(
                Some(page),
                walked(body, super::super::user_event),
                "users: {}",
                String::from_utf8_lossy(body)
            );
        }
        if let Some(page) = group_page(body) {
            assert_eq!(
                Some(page),
                walked(body, super::super::group_event),
                "groups: {}",
                String::from_utf8_lossy(body)
            );
        }
        if let Some(page) = member_page(body) {
            assert_eq!(
                Some(page),
                walked(body, super::super::member),
                "members: {}",
                String::from_utf8_lossy(body)
            );
        }
        if let Some(items) = member_batch(body) {
            let walked = batch_response(body).expect("the walker reads what the fast path read");
            assert_eq!(items.len(), walked.len());
            for (index, (fast, walked)) in items.into_iter().zip(walked).enumerate() {
                assert_eq!(
                    (fast.id.as_str(), fast.status, fast.retry_after),
                    (walked.id.as_str(), walked.status, walked.retry_after)
                );
                assert_eq!(
                    fast.body.members(index),
                    super::super::batch_member_page(index, &walked.body)
                );
            }
        }
    }

    #[test]
    fn every_documented_sample_reads_the_same_on_both_paths() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/graph-samples");
        for entry in std::fs::read_dir(dir).expect("the samples directory") {
            let path = entry.expect("a sample").path();
            if path
                .extension()
                .is_some_and(|extension| extension == "json")
            {
                assert_agrees(&std::fs::read(&path).expect("a readable sample"));
            }
        }
    }

    #[test]
    fn ordinary_pages_take_the_fast_path() {
        let users = json!({"@odata.context": "x", "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=a", "value": [
            {"id": "u1", "userPrincipalName": "a@contoso.com", "mail": null, "proxyAddresses": ["SMTP:a@contoso.com"], "accountEnabled": true},
            {"id": "u2", "@removed": {"reason": "deleted"}},
            {"id": "u3", "displayName": "Zo\u{eb} \\\"Z\\\"", "surname": null}
        ]});
        let groups = json!({"@odata.deltaLink": "https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=b", "value": [
            {"id": "g1", "groupTypes": [], "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u1"}, {"id": "u2", "@removed": {"reason": "deleted"}}]},
            {"id": "g2", "@removed": null}
        ]});
        let batch = json!({"responses": [
            {"id": "2", "status": 200, "headers": {"Retry-After": "1.5"}, "body": {"value": [{"@odata.type": "#microsoft.graph.group", "id": "g2"}]}},
            {"id": "1", "status": 200, "body": {"value": [], "@odata.nextLink": "https://graph.microsoft.com/v1.0/groups/g1/members?$skiptoken=c"}}
        ]});
        for (body, read) in [
            (&users, user_page(users.to_string().as_bytes()).is_some()),
            (&groups, group_page(groups.to_string().as_bytes()).is_some()),
            (&batch, member_batch(batch.to_string().as_bytes()).is_some()),
        ] {
            assert!(read, "the fast path refused {body}");
            assert_agrees(body.to_string().as_bytes());
        }
    }

    #[test]
    fn bodies_the_walker_treats_differently_from_serde_are_left_to_it() {
        let bodies = [
            // The walker takes the last of duplicated properties; serde refuses them.
            r#"{"value": [{"id": "u1", "mail": "a@contoso.com", "mail": null}]}"#.to_owned(),
            // Serde would read these arrays as structs; the walker refuses them.
            r#"{"value": [["u1"]]}"#.to_owned(),
            r#"[[{"id": "u1"}]]"#.to_owned(),
            r#"{"value": [{"id": "u1", "@removed": []}]}"#.to_owned(),
            // Serde skips unknown properties without the walker's checks.
            r#"{"value": [], "unknown": "\ud800"}"#.to_owned(),
            r#"{"value": [], "unknown": 1e999}"#.to_owned(),
            format!(r#"{{"value": [], "unknown": {}{}}}"#, "[".repeat(1000), "]".repeat(1000)),
            // Bounds, ids and types the fast path must refuse as the walker does.
            format!(r#"{{"value": [{{"id": "u1", "displayName": "{}"}}]}}"#, "é".repeat(MAX_TEXT_CHARS + 1)),
            format!(r#"{{"value": [{{"id": "u1", "displayName": "{}"}}]}}"#, "é".repeat(MAX_TEXT_CHARS)),
            r#"{"value": [{"id": "has space"}]}"#.to_owned(),
            r#"{"value": [{"id": "u1", "proxyAddresses": ["SMTP:a@contoso.com", null]}]}"#.to_owned(),
            r#"{"value": [], "@odata.nextLink": "a", "@odata.deltaLink": "b"}"#.to_owned(),
            r#"{"value": [], "@odata.nextLink": null}"#.to_owned(),
            r#"{"responses": [{"id": "1", "status": 429, "headers": {"retry-after": 2}, "body": {"error": {"code": "TooManyRequests"}}}]}"#.to_owned(),
            r#"{"responses": [{"id": "1", "status": 200, "body": {"value": [{"id": 42}]}}]}"#.to_owned(),
        ];
        for body in &bodies {
            assert_agrees(body.as_bytes());
        }
        assert!(
            user_page(bodies[0].as_bytes()).is_none() && user_page(bodies[4].as_bytes()).is_none()
        );
        assert!(
            user_page(bodies[8].as_bytes()).is_some(),
            "a string of exactly the bound is read"
        );
        let mut invalid_utf8 = br#"{"value": [], "@odata.context": ""#.to_vec();
        invalid_utf8.extend([0xff, b'"', b'}']);
        assert!(user_page(&invalid_utf8).is_none());
    }
}
