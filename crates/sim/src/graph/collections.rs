//! Collections and single objects: `/users`, `/groups`, `/{collection}/{id}`, `/$count`,
//! `/groups/{id}/members`, `/groups/{id}/transitiveMembers` and `/domains`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::json::{ArrayWriter, ObjectWriter};
use crate::model::{DirectoryObject, ObjectKind, ObjectRef, PropertyMask, Value};

use super::error::GraphError;
use super::query::{Field, Filter, FilterParser, MixedSelection, Selection, parse_search};
use super::{Call, GraphReply, decode_token, encode_token};

/// Graph's page size when `$top` is absent.
const DEFAULT_PAGE_SIZE: usize = 100;

const SEARCH_NEEDS_HEADER: &str = "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'";

/// How to treat null values when writing an object.
#[derive(Debug, Clone, Copy)]
pub enum Nulls {
    /// Collections and single objects print nulls.
    Write,
    /// Delta omits never-set values, except those this round cleared.
    OmitExcept(PropertyMask),
}

/// Writes the selected fields of `object` into an object being written.
pub fn write_fields(
    writer: &mut ObjectWriter<'_>,
    object: &DirectoryObject,
    schema: &crate::model::Schema,
    selection: &Selection,
    nulls: Nulls,
) {
    for field in &selection.fields {
        match *field {
            Field::Id => {
                writer.str("id", &object.id);
            }
            Field::Property(position) => {
                let value = &object.values[position];
                if let (Value::Null, Nulls::OmitExcept(cleared)) = (value, nulls)
                    && cleared & (1 << position) == 0
                {
                    continue;
                }
                writer.value(schema.properties[position].name, value);
            }
        }
    }
}

/// A position in a collection listing, carried by `$skiptoken`.
#[derive(Debug, Serialize, Deserialize)]
struct ListCursor {
    #[serde(rename = "t")]
    tenant: usize,
    #[serde(rename = "p")]
    position: usize,
}

fn list_start(call: &Call<'_>) -> Result<usize, GraphError> {
    let Some(token) = &call.options.skiptoken else {
        return Ok(0);
    };
    decode_token::<ListCursor>(token)
        .filter(|cursor| cursor.tenant == call.tenant.index)
        .map(|cursor| cursor.position)
        .ok_or_else(|| {
            GraphError::bad_request(
                "The $skiptoken is not valid. Follow @odata.nextLink exactly as it was returned.",
            )
        })
}

fn next_link(call: &Call<'_>, position: usize) -> String {
    call.next_link(&encode_token(&ListCursor {
        tenant: call.tenant.index,
        position,
    }))
}

/// What a collection request asks of each object: `$filter` and `$search`.
struct Predicate {
    filter: Option<Filter>,
    search: Option<(usize, String)>,
}

impl Predicate {
    fn parse(call: &Call<'_>, kind: ObjectKind) -> Result<Self, GraphError> {
        let options = &call.options;
        let search = match &options.search {
            Some(_) if !options.eventual => {
                return Err(GraphError::unsupported_query(SEARCH_NEEDS_HEADER));
            }
            Some(search) => Some(parse_search(search, kind)?),
            None => None,
        };
        let advanced = options.is_advanced() || search.is_some();
        let filter = options
            .filter
            .as_deref()
            .map(|f| FilterParser::parse(f, kind, advanced))
            .transpose()?;
        Ok(Self { filter, search })
    }

    fn matches(&self, object: &DirectoryObject) -> bool {
        object.is_live()
            && self.filter.as_ref().is_none_or(|f| f.matches(object))
            && self.search.as_ref().is_none_or(|(position, words)| {
                object.values[*position]
                    .as_text()
                    .is_some_and(|text| text.to_lowercase().contains(words.as_str()))
            })
    }
}

pub fn list(call: &Call<'_>, kind: ObjectKind) -> Result<GraphReply, GraphError> {
    let options = &call.options;
    options.refuse_unsupported()?;
    let selection = Selection::parse(kind, options.select.as_deref(), &[])?;
    let page_size = options.page_size(DEFAULT_PAGE_SIZE)?;
    let predicate = Predicate::parse(call, kind)?;
    let start = list_start(call)?;

    let directory = call.tenant.read();
    let table = directory.table(kind);
    let mut positions = Vec::with_capacity(page_size);
    let mut next = None;
    for (position, object) in table.iter().enumerate().skip(start) {
        if predicate.matches(object) {
            if positions.len() == page_size {
                next = Some(position);
                break;
            }
            positions.push(position);
        }
    }

    let schema = kind.schema();
    let mut out = Vec::with_capacity(positions.len() * 512 + 512);
    let mut root = ObjectWriter::new(&mut out);
    root.str(
        "@odata.context",
        &call.context(&format!(
            "{}{}",
            kind.entity_set(),
            selection.context_suffix(schema)
        )),
    );
    if options.wants_count() && options.skiptoken.is_none() {
        let count = table.iter().filter(|o| predicate.matches(o)).count();
        root.raw("@odata.count", count.to_string().as_bytes());
    }
    if let Some(position) = next {
        root.str("@odata.nextLink", &next_link(call, position));
    }
    let mut values = ArrayWriter::new(root.key("value"));
    for position in positions {
        let mut object = ObjectWriter::new(values.element());
        write_fields(
            &mut object,
            &table[position],
            schema,
            &selection,
            Nulls::Write,
        );
        object.finish();
    }
    values.finish();
    root.finish();
    Ok(GraphReply::json(out))
}

/// `/users/$count`: plain text, and only as an advanced query.
pub fn count(call: &Call<'_>, kind: ObjectKind) -> Result<GraphReply, GraphError> {
    if !call.options.eventual {
        return Err(GraphError::bad_request(
            "$count is not currently supported.",
        ));
    }
    let predicate = Predicate::parse(call, kind)?;
    let directory = call.tenant.read();
    let count = directory
        .table(kind)
        .iter()
        .filter(|o| predicate.matches(o))
        .count();
    let mut reply = GraphReply::json(count.to_string().into_bytes());
    reply.headers.retain(|(name, _)| name != "Content-Type");
    reply
        .headers
        .push(("Content-Type".to_owned(), "text/plain".to_owned()));
    Ok(reply)
}

fn find_live(call: &Call<'_>, kind: ObjectKind, key: &str) -> Result<ObjectRef, GraphError> {
    let directory = call.tenant.read();
    let found = match kind {
        ObjectKind::User => directory.find_user(key),
        _ => directory.find(key).filter(|at| at.kind == kind),
    };
    found
        .filter(|at| directory.get(*at).is_live())
        .ok_or_else(|| GraphError::not_found(key))
}

pub fn one(call: &Call<'_>, kind: ObjectKind, key: &str) -> Result<GraphReply, GraphError> {
    let selection = Selection::parse(kind, call.options.select.as_deref(), &[])?;
    let at = find_live(call, kind, key)?;
    let directory = call.tenant.read();
    let schema = kind.schema();
    let mut out = Vec::with_capacity(1024);
    let mut object = ObjectWriter::new(&mut out);
    let context = format!(
        "{}{}/$entity",
        kind.entity_set(),
        selection.context_suffix(schema)
    );
    object.str("@odata.context", &call.context(&context));
    write_fields(
        &mut object,
        directory.get(at),
        schema,
        &selection,
        Nulls::Write,
    );
    object.finish();
    Ok(GraphReply::json(out))
}

/// `/groups/{id}/members` (direct, paged over the group's member list) and
/// `/groups/{id}/transitiveMembers` (the nested expansion, each object once).
pub fn members(call: &Call<'_>, id: &str, transitive: bool) -> Result<GraphReply, GraphError> {
    let options = &call.options;
    options.refuse_unsupported()?;
    if options.filter.is_some() || options.search.is_some() {
        return Err(GraphError::unsupported_query("Unsupported Query."));
    }
    let selection = MixedSelection::parse(options.select.as_deref())?;
    let page_size = options.page_size(DEFAULT_PAGE_SIZE)?;
    let start = list_start(call)?;
    let group = find_live(call, ObjectKind::Group, id)?;

    let directory = call.tenant.read();
    let members: Vec<ObjectRef> = if transitive {
        directory.transitive_members(group)
    } else {
        directory.get(group).members.clone()
    };
    let visible = |m: &ObjectRef| directory.get(*m).is_live();
    let mut page = Vec::with_capacity(page_size);
    let mut next = None;
    for (position, member) in members.iter().enumerate().skip(start) {
        if visible(member) {
            if page.len() == page_size {
                next = Some(position);
                break;
            }
            page.push(*member);
        }
    }

    let mut out = Vec::with_capacity(page.len() * 400 + 512);
    let mut root = ObjectWriter::new(&mut out);
    root.str("@odata.context", &call.context("directoryObjects"));
    if options.wants_count() && options.skiptoken.is_none() {
        root.raw(
            "@odata.count",
            members
                .iter()
                .filter(|m| visible(m))
                .count()
                .to_string()
                .as_bytes(),
        );
    }
    if let Some(position) = next {
        root.str("@odata.nextLink", &next_link(call, position));
    }
    let mut values = ArrayWriter::new(root.key("value"));
    for member in page {
        let mut object = ObjectWriter::new(values.element());
        object.str("@odata.type", member.kind.odata_type());
        write_fields(
            &mut object,
            directory.get(member),
            member.kind.schema(),
            selection.for_kind(member.kind),
            Nulls::Write,
        );
        object.finish();
    }
    values.finish();
    root.finish();
    Ok(GraphReply::json(out))
}

/// `/domains` and `/domains/{name}` in Graph's domain resource shape.
pub fn domains(call: &Call<'_>, name: Option<&str>) -> Result<GraphReply, GraphError> {
    let render = |domain: &crate::tenant::Domain| {
        let services: &[&str] = if domain.is_verified {
            &["Email", "OfficeCommunicationsOnline"]
        } else {
            &[]
        };
        json!({
            "authenticationType": "Managed",
            "availabilityStatus": null,
            "id": domain.name,
            "isAdminManaged": true,
            "isDefault": domain.is_default,
            "isInitial": domain.is_initial,
            "isRoot": true,
            "isVerified": domain.is_verified,
            "passwordNotificationWindowInDays": 14,
            "passwordValidityPeriodInDays": 2147483647,
            "supportedServices": services,
            "state": null,
        })
    };
    let body = match name {
        None => json!({
            "@odata.context": call.context("domains"),
            "value": call.tenant.domains.iter().map(render).collect::<Vec<_>>(),
        }),
        Some(name) => {
            let domain = call
                .tenant
                .domains
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| GraphError::not_found(name))?;
            let mut body = render(domain);
            body["@odata.context"] = json!(call.context("domains/$entity"));
            body
        }
    };
    Ok(GraphReply::json(
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}
