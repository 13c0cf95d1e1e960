//! The OpenAPI 3.1 document at `/api/openapi.json`, built from the route table: every route
//! the router serves is in it, with its parameters, who may call it and the problem details
//! it answers with.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json;
use axum::http::Method;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder,
};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder,
    Required, ResponseBuilder,
};

use crate::routes::{self, Policy, Route};

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

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", ContentBuilder::new().build())
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

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let id = format!(
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
    );
    let mut builder = OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(route.summary))
        .description(Some(who(route.policy)))
        .response("2XX", ResponseBuilder::new().description("Success").build())
        .response("default", problem("Problem details (RFC 9457)"));
    for name in path_parameters(route.path) {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).build())),
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
    builder.build()
}

/// The document, built from the route table.
pub fn build() -> OpenApi {
    let mut by_path: BTreeMap<&str, PathItemBuilder> = BTreeMap::new();
    for route in routes::list() {
        let item = by_path.remove(route.path).unwrap_or_default();
        by_path.insert(
            route.path,
            item.operation(http_method(&route.method), operation(&route)),
        );
    }
    let mut paths = PathsBuilder::new();
    for (path, item) in by_path {
        paths = paths.path(path, item.build());
    }
    let components = ComponentsBuilder::new()
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
