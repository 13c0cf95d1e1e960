//! OData query options as Graph's directory endpoints understand them: `$select`, `$top`,
//! `$filter` (the forms a sync uses, plus the advanced ones that need `ConsistencyLevel`), and
//! `$search`.

use crate::model::{
    DirectoryObject, Filterable, ObjectKind, PropertyMask, Schema, Value, ValueType,
};

use super::error::GraphError;

/// The `$`-options of one request, plus whether it qualifies as an advanced query.
#[derive(Debug, Default, Clone)]
pub struct QueryOptions {
    pub select: Option<String>,
    pub filter: Option<String>,
    pub top: Option<String>,
    pub skiptoken: Option<String>,
    pub deltatoken: Option<String>,
    pub count: Option<String>,
    pub search: Option<String>,
    pub orderby: Option<String>,
    pub expand: Option<String>,
    /// The query pairs as received, to rebuild a nextLink that keeps them.
    pub pairs: Vec<(String, String)>,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
}

impl QueryOptions {
    pub fn parse(query: &str, eventual: bool) -> Result<Self, GraphError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let mut options = QueryOptions {
            eventual,
            ..Default::default()
        };
        for (name, value) in &pairs {
            let slot = match name.to_ascii_lowercase().as_str() {
                "$select" => &mut options.select,
                "$filter" => &mut options.filter,
                "$top" => &mut options.top,
                "$skiptoken" => &mut options.skiptoken,
                "$deltatoken" => &mut options.deltatoken,
                "$count" => &mut options.count,
                "$search" => &mut options.search,
                "$orderby" => &mut options.orderby,
                "$expand" => &mut options.expand,
                other if other.starts_with('$') => {
                    return Err(GraphError::bad_request(format!(
                        "Query option '{name}' is not allowed."
                    )));
                }
                // Graph ignores parameters that are not OData options.
                _ => continue,
            };
            if slot.is_some() {
                return Err(GraphError::bad_request(format!(
                    "Query option '{name}' was specified more than once."
                )));
            }
            *slot = Some(value.clone());
        }
        options.pairs = pairs;
        Ok(options)
    }

    /// Advanced queries need `ConsistencyLevel: eventual` and `$count=true` (graph-protocol.md §2).
    pub fn is_advanced(&self) -> bool {
        self.eventual
            && self
                .count
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("true"))
    }

    /// `$count=true` is honoured only on advanced queries; otherwise Graph silently ignores it.
    pub fn wants_count(&self) -> bool {
        self.is_advanced()
    }

    /// `$top` within 1..=999, or the default page size.
    pub fn page_size(&self, default: usize) -> Result<usize, GraphError> {
        let Some(top) = &self.top else {
            return Ok(default);
        };
        match top.trim().parse::<i64>() {
            Ok(n) if (1..=999).contains(&n) => Ok(n as usize),
            _ => Err(GraphError::bad_request_code(
                "Request_BadRequest",
                format!(
                    "Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
                ),
            )),
        }
    }

    /// Options a collection of this simulator cannot honour are refused rather than ignored,
    /// so a client never mistakes an unsupported query for an answer.
    pub fn refuse_unsupported(&self) -> Result<(), GraphError> {
        if self.expand.is_some() {
            return Err(GraphError::unsupported_query(
                "$expand is not supported by the simulated tenant.",
            ));
        }
        if self.orderby.is_some() {
            return Err(GraphError::unsupported_query(
                "$orderby is not supported by the simulated tenant.",
            ));
        }
        Ok(())
    }
}

/// User properties kept outside the main directory store (SharePoint profile data): selecting
/// them on a collection gives 501 (graph-protocol.md §4, the `$select=skills` sample).
const OUTSIDE_DIRECTORY_STORE: [&str; 10] = [
    "aboutMe",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
    "skills",
];

/// One selected field: the object id or a schema property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Property(usize),
}

/// The fields to write for one object kind, in output order.
#[derive(Debug, Clone)]
pub struct Selection {
    pub fields: Vec<Field>,
    pub mask: PropertyMask,
    /// `$select` was given (it changes `@odata.context` and lowers the throttling cost).
    pub explicit: bool,
}

impl Selection {
    /// Graph's default property set for the kind.
    pub fn default_for(kind: ObjectKind) -> Self {
        let schema = kind.schema();
        let properties = schema
            .properties
            .iter()
            .enumerate()
            .filter(|(_, p)| p.default)
            .map(|(i, _)| Field::Property(i));
        let fields: Vec<Field> = if schema.id_first {
            std::iter::once(Field::Id).chain(properties).collect()
        } else {
            properties.chain(std::iter::once(Field::Id)).collect()
        };
        Self::from_fields(fields, false)
    }

    fn from_fields(fields: Vec<Field>, explicit: bool) -> Self {
        let mask = fields.iter().fold(0, |mask, f| match f {
            Field::Property(i) => mask | (1 << i),
            Field::Id => mask,
        });
        Self {
            fields,
            mask,
            explicit,
        }
    }

    /// Resolves `$select` names (case-insensitively) against the kind's schema. Names in
    /// `also_allowed` (such as `members` on groups delta) are accepted and left to the caller.
    pub fn parse(
        kind: ObjectKind,
        select: Option<&str>,
        also_allowed: &[&str],
    ) -> Result<Self, GraphError> {
        let Some(select) = select.filter(|s| !s.trim().is_empty()) else {
            return Ok(Self::default_for(kind));
        };
        let schema = kind.schema();
        let mut fields = Vec::new();
        for name in select.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let field = if name.eq_ignore_ascii_case("id") {
                Field::Id
            } else if let Some(position) = schema.position_ignore_case(name) {
                Field::Property(position)
            } else if also_allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
                continue;
            } else if kind == ObjectKind::User
                && OUTSIDE_DIRECTORY_STORE
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(name))
            {
                return Err(GraphError::new(
                    axum::http::StatusCode::NOT_IMPLEMENTED,
                    "NotImplemented",
                    "This operation target is not yet supported.",
                ));
            } else {
                return Err(unknown_property(name, kind));
            };
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        Ok(Self::from_fields(fields, true))
    }

    /// The names as `@odata.context` lists them: `users(id,mail)`.
    pub fn context_suffix(&self, schema: &Schema) -> String {
        if !self.explicit {
            return String::new();
        }
        let names: Vec<&str> = self
            .fields
            .iter()
            .map(|f| match f {
                Field::Id => "id",
                Field::Property(i) => schema.properties[*i].name,
            })
            .collect();
        format!("({})", names.join(","))
    }
}

pub fn unknown_property(name: &str, kind: ObjectKind) -> GraphError {
    GraphError::bad_request_code(
        "Request_BadRequest",
        format!(
            "Could not find a property named '{name}' on type '{}'.",
            kind.type_name()
        ),
    )
}

/// `$select` on a mixed collection (group members): each member kind writes the named fields it has.
#[derive(Debug, Clone)]
pub struct MixedSelection {
    per_kind: Vec<(ObjectKind, Selection)>,
}

impl MixedSelection {
    pub fn parse(select: Option<&str>) -> Result<Self, GraphError> {
        let Some(select) = select.filter(|s| !s.trim().is_empty()) else {
            return Ok(Self {
                per_kind: ObjectKind::ALL
                    .iter()
                    .map(|k| (*k, Selection::default_for(*k)))
                    .collect(),
            });
        };
        let names: Vec<&str> = select
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if let Some(unknown) = names.iter().find(|name| {
            !name.eq_ignore_ascii_case("id")
                && ObjectKind::ALL
                    .iter()
                    .all(|k| k.schema().position_ignore_case(name).is_none())
        }) {
            return Err(GraphError::bad_request_code(
                "Request_BadRequest",
                format!(
                    "Could not find a property named '{unknown}' on type 'microsoft.graph.directoryObject'."
                ),
            ));
        }
        let per_kind = ObjectKind::ALL
            .iter()
            .map(|kind| {
                let fields = names
                    .iter()
                    .filter_map(|name| {
                        if name.eq_ignore_ascii_case("id") {
                            Some(Field::Id)
                        } else {
                            kind.schema()
                                .position_ignore_case(name)
                                .map(Field::Property)
                        }
                    })
                    .collect();
                (*kind, Selection::from_fields(fields, true))
            })
            .collect();
        Ok(Self { per_kind })
    }

    pub fn for_kind(&self, kind: ObjectKind) -> &Selection {
        // Every kind is present by construction; the fallback keeps this total.
        self.per_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(&self.per_kind[0].1, |(_, s)| s)
    }
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        field: Field,
        op: Op,
        literal: Literal,
    },
    In {
        field: Field,
        literals: Vec<Literal>,
    },
    /// `collection/any(x:x eq 'v')` or `collection/any(x:startswith(x,'v'))`.
    Any {
        property: usize,
        op: Op,
        literal: Literal,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
    Colon,
}

fn invalid_filter(detail: impl std::fmt::Display) -> GraphError {
    GraphError::bad_request_code("BadRequest", format!("Invalid filter clause: {detail}"))
}

fn tokenize(input: &str) -> Result<Vec<Token>, GraphError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' | ')' | ',' | ':' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Colon,
                });
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => text.push(other),
                        None => return Err(invalid_filter("unterminated string literal")),
                    }
                }
                tokens.push(Token::Text(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if matches!(c, ' ' | '\t' | '(' | ')' | ',' | ':' | '\'') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Parses `$filter` for objects of `kind`. Operators that need an advanced query (`ne`, `not`,
/// `endswith`) are refused with `Request_UnsupportedQuery` unless `advanced` is set.
pub struct FilterParser {
    tokens: Vec<Token>,
    position: usize,
    kind: ObjectKind,
    advanced: bool,
    depth: usize,
}

const MAX_FILTER_DEPTH: usize = 32;
/// Longer filters are refused: evaluation recurses once per `and`/`or`.
const MAX_FILTER_TOKENS: usize = 2_000;

impl FilterParser {
    pub fn parse(input: &str, kind: ObjectKind, advanced: bool) -> Result<Filter, GraphError> {
        let tokens = tokenize(input)?;
        if tokens.len() > MAX_FILTER_TOKENS {
            return Err(invalid_filter(format!(
                "the expression has more than {MAX_FILTER_TOKENS} parts; split the query"
            )));
        }
        let mut parser = FilterParser {
            tokens,
            position: 0,
            kind,
            advanced,
            depth: 0,
        };
        let filter = parser.or()?;
        if parser.position != parser.tokens.len() {
            return Err(invalid_filter("unexpected text after the expression"));
        }
        Ok(filter)
    }

    fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.position) {
            Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn expect(&mut self, wanted: Token) -> Result<(), GraphError> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            _ => Err(invalid_filter(format!("expected {wanted:?}"))),
        }
    }

    fn descend(&mut self) -> Result<(), GraphError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(invalid_filter("the expression is nested too deeply"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, GraphError> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.position += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, GraphError> {
        let mut left = self.unary()?;
        while self.peek_word().as_deref() == Some("and") {
            self.position += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, GraphError> {
        self.descend()?;
        let result = if self.peek_word().as_deref() == Some("not") {
            self.position += 1;
            self.require_advanced()?;
            self.unary().map(|inner| Filter::Not(Box::new(inner)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        result
    }

    fn require_advanced(&self) -> Result<(), GraphError> {
        if self.advanced {
            Ok(())
        } else {
            Err(GraphError::unsupported_query("Unsupported Query."))
        }
    }

    fn primary(&mut self) -> Result<Filter, GraphError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                let lower = word.to_ascii_lowercase();
                if lower == "startswith" || lower == "endswith" {
                    let op = if lower == "startswith" {
                        Op::StartsWith
                    } else {
                        Op::EndsWith
                    };
                    if op == Op::EndsWith {
                        self.require_advanced()?;
                    }
                    self.expect(Token::Open)?;
                    let field = self.field()?;
                    self.expect(Token::Comma)?;
                    let literal = self.literal()?;
                    self.expect(Token::Close)?;
                    return Ok(Filter::Compare { field, op, literal });
                }
                if let Some(collection) = word
                    .strip_suffix("/any")
                    .or_else(|| word.strip_suffix("/ANY"))
                {
                    return self.any(collection);
                }
                self.position -= 1;
                let field = self.field()?;
                match self.peek_word().as_deref() {
                    Some("in") => {
                        self.position += 1;
                        self.expect(Token::Open)?;
                        let mut literals = vec![self.literal()?];
                        while self.tokens.get(self.position) == Some(&Token::Comma) {
                            self.position += 1;
                            literals.push(self.literal()?);
                        }
                        self.expect(Token::Close)?;
                        Ok(Filter::In { field, literals })
                    }
                    Some(op) => {
                        let op = self.comparison(op)?;
                        self.position += 1;
                        let literal = self.literal()?;
                        Ok(Filter::Compare { field, op, literal })
                    }
                    None => Err(invalid_filter("expected an operator")),
                }
            }
            _ => Err(invalid_filter("expected a property or a function")),
        }
    }

    fn comparison(&self, op: &str) -> Result<Op, GraphError> {
        match op {
            "eq" => Ok(Op::Eq),
            "ne" => self.require_advanced().map(|()| Op::Ne),
            "ge" => Ok(Op::Ge),
            "le" => Ok(Op::Le),
            "gt" | "lt" => Err(GraphError::unsupported_query("Unsupported Query.")),
            other => Err(invalid_filter(format!("unknown operator '{other}'"))),
        }
    }

    /// `proxyAddresses/any(p:p eq 'x')` or `/any(p:startswith(p,'x'))`.
    fn any(&mut self, collection: &str) -> Result<Filter, GraphError> {
        let property = self.property(collection)?;
        if self.kind.schema().properties[property].value_type != ValueType::TextList {
            return Err(invalid_filter(format!(
                "'{collection}' is not a collection"
            )));
        }
        self.expect(Token::Open)?;
        let Some(Token::Word(variable)) = self.next() else {
            return Err(invalid_filter("expected a lambda variable"));
        };
        self.expect(Token::Colon)?;
        let (op, literal) = match self.next() {
            Some(Token::Word(w)) if w == variable => {
                let Some(op) = self.peek_word() else {
                    return Err(invalid_filter("expected an operator"));
                };
                let op = self.comparison(&op)?;
                self.position += 1;
                (op, self.literal()?)
            }
            Some(Token::Word(w))
                if w.eq_ignore_ascii_case("startswith") || w.eq_ignore_ascii_case("endswith") =>
            {
                let op = if w.eq_ignore_ascii_case("startswith") {
                    Op::StartsWith
                } else {
                    Op::EndsWith
                };
                if op == Op::EndsWith {
                    self.require_advanced()?;
                }
                self.expect(Token::Open)?;
                if self.next() != Some(Token::Word(variable.clone())) {
                    return Err(invalid_filter("expected the lambda variable"));
                }
                self.expect(Token::Comma)?;
                let literal = self.literal()?;
                self.expect(Token::Close)?;
                (op, literal)
            }
            _ => return Err(invalid_filter("expected a lambda body")),
        };
        self.expect(Token::Close)?;
        Ok(Filter::Any {
            property,
            op,
            literal,
        })
    }

    fn property(&self, name: &str) -> Result<usize, GraphError> {
        let schema = self.kind.schema();
        let position = schema
            .position_ignore_case(name)
            .ok_or_else(|| unknown_property(name, self.kind))?;
        if schema.properties[position].filterable == Filterable::No && !self.advanced {
            return Err(GraphError::unsupported_query(format!(
                "Unsupported or invalid query filter clause specified for property '{}' of resource '{}'.",
                schema.properties[position].name, schema.kind_name
            )));
        }
        Ok(position)
    }

    fn field(&mut self) -> Result<Field, GraphError> {
        match self.next() {
            Some(Token::Word(name)) if name.eq_ignore_ascii_case("id") => Ok(Field::Id),
            Some(Token::Word(name)) => self.property(&name).map(Field::Property),
            _ => Err(invalid_filter("expected a property name")),
        }
    }

    fn literal(&mut self) -> Result<Literal, GraphError> {
        match self.next() {
            Some(Token::Text(text)) => Ok(Literal::Text(text)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            _ => Err(invalid_filter(
                "expected a literal ('text', true, false or null)",
            )),
        }
    }
}

fn text_matches(value: &str, op: Op, wanted: &str) -> bool {
    let value = value.to_lowercase();
    let wanted = wanted.to_lowercase();
    match op {
        Op::Eq => value == wanted,
        Op::Ne => value != wanted,
        Op::Ge => value >= wanted,
        Op::Le => value <= wanted,
        Op::StartsWith => value.starts_with(&wanted),
        Op::EndsWith => value.ends_with(&wanted),
    }
}

fn compare(value: &Value, op: Op, literal: &Literal) -> bool {
    let equal = match (value, literal) {
        (Value::Null, Literal::Null) => Some(true),
        (Value::Bool(a), Literal::Bool(b)) => Some(a == b),
        (Value::Text(a), Literal::Text(b)) => return text_matches(a, op, b),
        _ => None,
    };
    match op {
        Op::Eq => equal == Some(true),
        Op::Ne => equal != Some(true),
        _ => false,
    }
}

impl Filter {
    pub fn matches(&self, object: &DirectoryObject) -> bool {
        match self {
            Filter::And(a, b) => a.matches(object) && b.matches(object),
            Filter::Or(a, b) => a.matches(object) || b.matches(object),
            Filter::Not(inner) => !inner.matches(object),
            Filter::Compare { field, op, literal } => compare_field(object, *field, *op, literal),
            Filter::In { field, literals } => literals
                .iter()
                .any(|l| compare_field(object, *field, Op::Eq, l)),
            Filter::Any {
                property,
                op,
                literal,
            } => match (&object.values[*property], literal) {
                (Value::TextList(items), Literal::Text(wanted)) => {
                    items.iter().any(|i| text_matches(i, *op, wanted))
                }
                _ => false,
            },
        }
    }

    /// The ids of a filter made only of `id eq '…'` joined by `or` (the one form delta accepts).
    pub fn id_equalities(&self) -> Option<Vec<String>> {
        match self {
            Filter::Compare {
                field: Field::Id,
                op: Op::Eq,
                literal: Literal::Text(id),
            } => Some(vec![id.clone()]),
            Filter::Or(a, b) => {
                let mut ids = a.id_equalities()?;
                ids.extend(b.id_equalities()?);
                Some(ids)
            }
            _ => None,
        }
    }
}

fn compare_field(object: &DirectoryObject, field: Field, op: Op, literal: &Literal) -> bool {
    match (field, literal) {
        (Field::Id, Literal::Text(wanted)) => text_matches(&object.id, op, wanted),
        (Field::Id, _) => op == Op::Ne,
        (Field::Property(i), _) => compare(&object.values[i], op, literal),
    }
}

/// `$search="property:words"`: each clause matches objects whose property contains the words.
pub fn parse_search(search: &str, kind: ObjectKind) -> Result<(usize, String), GraphError> {
    let clause = search.trim().trim_matches('"');
    let (name, words) = clause.split_once(':').ok_or_else(|| {
        GraphError::bad_request_code(
            "Request_UnsupportedQuery",
            "Syntax error: expected \"property:value\" in $search.",
        )
    })?;
    let schema = kind.schema();
    let position = schema
        .position_ignore_case(name.trim())
        .ok_or_else(|| unknown_property(name, kind))?;
    Ok((position, words.trim().to_lowercase()))
}
