//! The OpenAPI 3.1 document at `/api/openapi.json`, built from the route table: every route
//! the router serves is in it, with who may call it, its path and query parameters, its
//! request body, its answers and their schemas (derived from the very types the handlers read
//! and write), and the problem details it fails with.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json;
use axum::http::Method;
use roster_api::Page;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn, PathItemBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, Content, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder,
    Ref, RefOr, Required, ResponseBuilder,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::api::sync::Started;
use crate::error::Problem;
use crate::routes::{self, Policy, Route};

/// Named schemas, as `ToSchema::schemas` collects them.
type Components = Vec<(String, RefOr<Schema>)>;

/// A schema as an operation uses it: what stands where it is used, and the named schemas it
/// needs among the components.
#[derive(Debug, Clone, Copy)]
pub struct SchemaOf {
    at_use: fn() -> RefOr<Schema>,
    components: fn(&mut Components),
}

impl SchemaOf {
    /// A named schema, referred to where it is used.
    pub fn named<T: ToSchema>() -> Self {
        Self {
            at_use: || Ref::from_schema_name(T::name()).into(),
            components: |components| {
                components.push((T::name().into_owned(), T::schema()));
                T::schemas(components);
            },
        }
    }

    /// A JSON array of a named schema.
    pub fn list_of<T: ToSchema>() -> Self {
        Self {
            at_use: || {
                ArrayBuilder::new()
                    .items(Ref::from_schema_name(T::name()))
                    .into()
            },
            components: Self::named::<T>().components,
        }
    }

    /// A page of a named schema's items, written out where it is used (a generic type has
    /// no name of its own).
    pub fn page_of<T: ToSchema>() -> Self {
        Self {
            at_use: Page::<T>::schema,
            components: |components| {
                (Self::named::<T>().components)(components);
                Page::<T>::schemas(components);
            },
        }
    }

    /// Text that is not JSON (CSV, PEM, an event stream): a string.
    fn text() -> Self {
        Self {
            at_use: || ObjectBuilder::new().schema_type(Type::String).into(),
            components: |_| {},
        }
    }

    /// A JSON object this document does not describe further.
    fn object() -> Self {
        Self {
            at_use: || ObjectBuilder::new().schema_type(Type::Object).into(),
            components: |_| {},
        }
    }

    /// A file's bytes.
    fn binary() -> Self {
        Self {
            at_use: || {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/octet-stream")
                    .into()
            },
            components: |_| {},
        }
    }
}

/// One answer of an operation: its status, and its body in each media type it comes in.
#[derive(Debug, Clone)]
struct Answer {
    status: &'static str,
    description: &'static str,
    content: Vec<(&'static str, SchemaOf)>,
}

/// What the document says of one route beyond its path and policy: its query parameters,
/// request body and answers. Every route of the table has one, so none is left undocumented.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    query: Option<fn() -> Vec<Parameter>>,
    body: Option<(SchemaOf, bool)>,
    answers: Vec<Answer>,
    problems: Vec<(&'static str, &'static str)>,
}

impl Doc {
    pub fn new() -> Self {
        Self::default()
    }

    /// The query parameters `T` reads.
    pub fn query<T: IntoParams>(mut self) -> Self {
        self.query = Some(|| T::into_params(|| Some(ParameterIn::Query)));
        self
    }

    /// A JSON request body.
    pub fn body<T: ToSchema>(mut self) -> Self {
        self.body = Some((SchemaOf::named::<T>(), true));
        self
    }

    /// A JSON request body that may be left out.
    pub fn optional_body<T: ToSchema>(mut self) -> Self {
        self.body = Some((SchemaOf::named::<T>(), false));
        self
    }

    fn answer(mut self, status: &'static str, description: &'static str, body: SchemaOf) -> Self {
        self.answers.push(Answer {
            status,
            description,
            content: vec![("application/json", body)],
        });
        self
    }

    /// `200` with `T` as JSON.
    pub fn ok<T: ToSchema>(self) -> Self {
        self.answer("200", "Success", SchemaOf::named::<T>())
    }

    /// `200` with a JSON array of `T`.
    pub fn ok_list<T: ToSchema>(self) -> Self {
        self.answer("200", "Success", SchemaOf::list_of::<T>())
    }

    /// `200` with one page of a listing of `T`.
    pub fn ok_page<T: ToSchema>(self) -> Self {
        self.answer(
            "200",
            "One page; ask for the next with ?cursor=<next_cursor> until next_cursor is null",
            SchemaOf::page_of::<T>(),
        )
    }

    /// `200` with a JSON object described elsewhere (this very document).
    pub fn any_json(self, description: &'static str) -> Self {
        self.answer("200", description, SchemaOf::object())
    }

    /// `201` with `T` as JSON.
    pub fn created<T: ToSchema>(self) -> Self {
        self.answer("201", "Created", SchemaOf::named::<T>())
    }

    /// `202` with the id of the run that was started.
    pub fn accepted(self) -> Self {
        self.answer(
            "202",
            "The run started; read its progress and outcome from GET …/runs/{run_id}",
            SchemaOf::named::<Started>(),
        )
        .problem(
            "409",
            "A sync of the account is already running (one at a time)",
        )
    }

    /// `204` without a body.
    pub fn no_content(mut self) -> Self {
        self.answers.push(Answer {
            status: "204",
            description: "Done",
            content: Vec::new(),
        });
        self
    }

    /// `200` with text in the media type `media`.
    pub fn text(mut self, media: &'static str, description: &'static str) -> Self {
        self.answers.push(Answer {
            status: "200",
            description,
            content: vec![(media, SchemaOf::text())],
        });
        self
    }

    /// The first answer may also come as `media` (asked for with `Accept`).
    pub fn or_text(mut self, media: &'static str) -> Self {
        if let Some(first) = self.answers.first_mut() {
            first.content.push((media, SchemaOf::text()));
        }
        self
    }

    /// The first answer may also come as the bytes of a file of `media`.
    pub fn or_file(mut self, media: &'static str) -> Self {
        if let Some(first) = self.answers.first_mut() {
            first.content.push((media, SchemaOf::binary()));
        }
        self
    }

    /// A failure worth naming beyond the ones every route of its kind has.
    pub fn problem(mut self, status: &'static str, description: &'static str) -> Self {
        self.problems.push((status, description));
        self
    }
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

/// The `{name}` parameters of a path, in order.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn path_parameter_description(name: &str) -> &'static str {
    match name {
        "account" => "The account's id, or its unique name",
        "domain" => "A domain name of the account, such as contoso.com",
        "certificate" => {
            "The certificate's SHA-1 thumbprint (hex); with .cer appended, the DER file"
        }
        "external_id" => "The directory object's id (Entra's object id)",
        "user" => "The user's id",
        "group" => "The group's id",
        "run" => "The run's id",
        "plan" => "The plan's id",
        "token" => "The API token's id",
        _ => "An id",
    }
}

fn content(schema: SchemaOf, components: &mut Components) -> Content {
    (schema.components)(components);
    ContentBuilder::new()
        .schema(Some((schema.at_use)()))
        .build()
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::<'static>::name())))
                .build(),
        )
        .build()
}

fn who(policy: Policy) -> &'static str {
    match policy {
        Policy::Public => "Anyone.",
        Policy::SignedIn => "Any signed-in caller or API token.",
        Policy::Operator => "Platform operators.",
        Policy::AccountReader => {
            "Platform operators; the account's organization admins and API tokens."
        }
        Policy::AccountWriter => {
            "Platform operators; the account's organization admins and API tokens that are not read-only."
        }
        Policy::AccountOperator => "Platform operators.",
        Policy::AccountMember => {
            "Platform operators; the account's organization admins and API tokens; an end user for their own record."
        }
    }
}

fn operation_id(route: &Route) -> String {
    format!(
        "{}{}",
        route.method.as_str().to_lowercase(),
        route
            .path
            .replace(['{', '}'], "")
            .split(['/', '-', '.', '_'])
            .filter(|part| !part.is_empty() && *part != "api" && *part != "v1")
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            })
            .collect::<String>()
    )
}

fn operation(route: &Route, components: &mut Components) -> utoipa::openapi::path::Operation {
    let doc = &route.doc;
    let mut builder = OperationBuilder::new()
        .operation_id(Some(operation_id(route)))
        .summary(Some(route.summary))
        .description(Some(who(route.policy)));
    for name in path_parameters(route.path) {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(path_parameter_description(name)))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).build())),
        );
    }
    if let Some(query) = doc.query {
        builder = builder.parameters(Some(query()));
    }
    if let Some((schema, required)) = doc.body {
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", content(schema, components))
                .required(Some(if required {
                    Required::True
                } else {
                    Required::False
                }))
                .build(),
        ));
    }
    for answer in &doc.answers {
        let mut response = ResponseBuilder::new().description(answer.description);
        for (media, schema) in &answer.content {
            response = response.content(*media, content(*schema, components));
        }
        builder = builder.response(answer.status, response.build());
    }
    if doc.body.is_some() || doc.query.is_some() {
        builder = builder.response(
            "422",
            problem("The request is invalid; `errors` names each wrong field"),
        );
    }
    if route.policy != Policy::Public {
        builder = builder
            .response(
                "401",
                problem("Not signed in, or the token is unknown or revoked"),
            )
            .response("403", problem("Signed in, but not allowed"))
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .security(SecurityRequirement::new("session", Vec::<String>::new()));
    }
    if route.path.contains("{account}") {
        builder = builder.response(
            "404",
            problem("No such account or object, or not the caller's to see"),
        );
    }
    for (status, description) in &doc.problems {
        builder = builder.response(*status, problem(description));
    }
    builder
        .response("default", problem("Problem details (RFC 9457)"))
        .build()
}

/// The document, built from the route table.
pub fn build() -> OpenApi {
    let mut components = Components::new();
    (SchemaOf::named::<Problem<'static>>().components)(&mut components);
    let mut by_path: BTreeMap<&str, PathItemBuilder> = BTreeMap::new();
    for route in routes::list() {
        let item = by_path.remove(route.path).unwrap_or_default();
        by_path.insert(
            route.path,
            item.operation(
                http_method(&route.method),
                operation(&route, &mut components),
            ),
        );
    }
    let mut paths = PathsBuilder::new();
    for (path, item) in by_path {
        paths = paths.path(path, item.build());
    }
    // Sorted and once each, so that the document's text only changes with the API.
    let schemas: BTreeMap<String, RefOr<Schema>> = components.into_iter().collect();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        )
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The console's session; state-changing requests also send X-CSRF-Token.",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Roster")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The user directory of an email-security service, kept in step with Microsoft Entra ID.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// `GET /api/openapi.json`.
pub async fn document() -> Json<&'static OpenApi> {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    Json(DOCUMENT.get_or_init(build))
}
