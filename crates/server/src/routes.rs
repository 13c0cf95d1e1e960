//! Every route, with who may call it, in one table: the router is built from it, and the
//! authorization tests walk it, so a route cannot be added without being checked.
//!
//! The policy here states what the route's extractors enforce; it does not enforce anything
//! itself. The tests call every route as every kind of caller and compare.

use std::any::Any;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use futures_util::StreamExt as _;
use tower_http::catch_panic::CatchPanicLayer;

use roster_api::{
    AccountView, CertificateView, CertificateWithPem, ChangeView, ConnectionView, CreatedTokenView,
    GroupDetailView, GroupView, PlanSummaryView, RunView, TokenView, UserView,
};
use roster_domain::AccountEvent;
use roster_graph::diagnostics::Checklist;

use crate::api::{accounts, certificates, connection, sync, tokens, users};
use crate::error::ApiError;
use crate::openapi::Doc;
use crate::{AppState, auth, console, health, openapi};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, signed in or not.
    Public,
    /// Any caller who proved who it is.
    SignedIn,
    /// Platform operators only.
    Operator,
    /// Operators, and in the account: organization admins and every API token.
    AccountReader,
    /// Operators, and in the account: organization admins and tokens that are not read-only.
    AccountWriter,
    /// Operators only, on a route under an account: the account's own callers are refused
    /// (403), everyone else does not see the account (404).
    AccountOperator,
    /// As [`Policy::AccountReader`], and an end user for their own record.
    AccountMember,
}

/// One route of the table.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub policy: Policy,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// The rest of what the OpenAPI document says of it.
    pub doc: Doc,
}

fn entry(
    method: Method,
    path: &'static str,
    policy: Policy,
    summary: &'static str,
    handler: MethodRouter<AppState>,
    doc: Doc,
) -> (Route, MethodRouter<AppState>) {
    (
        Route {
            method,
            path,
            policy,
            summary,
            doc,
        },
        handler,
    )
}

/// A path under one account.
macro_rules! account {
    ($tail:literal) => {
        concat!("/api/v1/accounts/{account}", $tail)
    };
}

fn table() -> Vec<(Route, MethodRouter<AppState>)> {
    use Policy::*;
    vec![
        entry(
            Method::GET,
            "/healthz",
            Public,
            "The process serves requests",
            get(health::healthz),
            Doc::new().text("text/plain", "The process serves requests"),
        ),
        entry(
            Method::GET,
            "/readyz",
            Public,
            "The database answers",
            get(health::readyz),
            Doc::new()
                .text("text/plain", "The database answers")
                .problem("503", "The database does not answer"),
        ),
        entry(
            Method::GET,
            "/api/openapi.json",
            Public,
            "This document",
            get(openapi::document),
            Doc::new().any_json("This document"),
        ),
        entry(
            Method::GET,
            "/metrics",
            Public,
            "Prometheus metrics",
            get(health::metrics),
            Doc::new().text("text/plain; version=0.0.4", "Prometheus metrics"),
        ),
        entry(
            Method::POST,
            "/api/v1/session",
            Public,
            "Sign in with an address and a password",
            post(auth::sign_in),
            Doc::new()
                .body::<auth::SignIn>()
                .created::<auth::SessionView>()
                .problem("429", "Too many sign-in attempts for the address or from the client"),
        ),
        entry(
            Method::GET,
            "/api/v1/session",
            SignedIn,
            "Who the caller is, and a session's CSRF token",
            get(auth::current),
            Doc::new().ok::<auth::SessionView>(),
        ),
        entry(
            Method::DELETE,
            "/api/v1/session",
            SignedIn,
            "Sign out",
            delete(auth::sign_out),
            Doc::new().no_content(),
        ),
        entry(
            Method::POST,
            "/api/v1/invitations/accept",
            Public,
            "Set a password with an invitation's token",
            post(users::accept_invitation),
            Doc::new().body::<users::AcceptInvitation>().no_content(),
        ),
        entry(
            Method::GET,
            "/api/v1/accounts",
            Operator,
            "Every account (operators)",
            get(accounts::list),
            Doc::new().ok_list::<AccountView>(),
        ),
        entry(
            Method::POST,
            "/api/v1/accounts",
            Operator,
            "Create an account with its domains (operators)",
            post(accounts::create),
            Doc::new()
                .body::<accounts::NewAccountBody>()
                .created::<AccountView>(),
        ),
        entry(
            Method::GET,
            account!(""),
            AccountReader,
            "The account",
            get(accounts::show),
            Doc::new().ok::<AccountView>(),
        ),
        entry(
            Method::PUT,
            account!("/tech-contact"),
            AccountWriter,
            "Set the tech contact",
            put(accounts::set_tech_contact),
            Doc::new()
                .body::<accounts::TechContactBody>()
                .ok::<AccountView>(),
        ),
        entry(
            Method::DELETE,
            account!("/tech-contact"),
            AccountWriter,
            "Clear the tech contact",
            delete(accounts::clear_tech_contact),
            Doc::new().no_content(),
        ),
        entry(
            Method::POST,
            account!("/domains"),
            AccountOperator,
            "Add a domain (operators)",
            post(accounts::add_domain),
            Doc::new()
                .body::<accounts::DomainBody>()
                .created::<AccountView>(),
        ),
        entry(
            Method::DELETE,
            account!("/domains/{domain}"),
            AccountOperator,
            "Remove a domain no address uses (operators)",
            delete(accounts::remove_domain),
            Doc::new().no_content(),
        ),
        entry(
            Method::GET,
            account!("/events"),
            AccountReader,
            "What the tech contact is told",
            get(accounts::events),
            Doc::new().ok_list::<AccountEvent>(),
        ),
        entry(
            Method::GET,
            account!("/connection"),
            AccountReader,
            "The directory connection, without its key",
            get(connection::show),
            Doc::new().ok::<ConnectionView>(),
        ),
        entry(
            Method::PUT,
            account!("/connection"),
            AccountWriter,
            "Save the directory connection's settings",
            put(connection::save),
            Doc::new()
                .body::<connection::ConnectionBody>()
                .ok::<ConnectionView>(),
        ),
        entry(
            Method::POST,
            account!("/connection/test"),
            AccountWriter,
            "Test the connection step by step",
            post(connection::test),
            Doc::new().ok::<Checklist>(),
        ),
        entry(
            Method::GET,
            account!("/connection/certificates"),
            AccountReader,
            "The connection's certificates, without their private keys",
            get(certificates::list),
            Doc::new().ok_list::<CertificateView>(),
        ),
        entry(
            Method::POST,
            account!("/connection/certificates"),
            AccountWriter,
            "Generate a certificate to sign in with (201 with its public certificate as PEM)",
            post(certificates::generate),
            Doc::new()
                .optional_body::<certificates::GenerateBody>()
                .created::<CertificateWithPem>(),
        ),
        entry(
            Method::GET,
            account!("/connection/certificates/{certificate}"),
            AccountReader,
            "A public certificate: JSON, PEM (Accept: application/x-pem-file) or DER ({certificate}.cer)",
            get(certificates::show),
            Doc::new()
                .ok::<CertificateWithPem>()
                .or_file("application/x-pem-file")
                .or_file("application/pkix-cert"),
        ),
        entry(
            Method::DELETE,
            account!("/connection/certificates/{certificate}"),
            AccountWriter,
            "Forget a certificate",
            delete(certificates::remove),
            Doc::new().no_content(),
        ),
        entry(
            Method::GET,
            account!("/users"),
            AccountReader,
            "A page of users",
            get(users::list),
            Doc::new()
                .query::<users::UserListQuery>()
                .ok_page::<UserView>(),
        ),
        entry(
            Method::POST,
            account!("/users"),
            AccountWriter,
            "Add a manual user",
            post(users::create),
            Doc::new()
                .body::<users::NewUserBody>()
                .created::<UserView>(),
        ),
        entry(
            Method::GET,
            account!("/users/{user}"),
            AccountMember,
            "One user",
            get(users::show),
            Doc::new().ok::<UserView>(),
        ),
        entry(
            Method::PATCH,
            account!("/users/{user}"),
            AccountMember,
            "Change a user's names, role or digests",
            patch(users::update),
            Doc::new().body::<users::UserPatch>().ok::<UserView>(),
        ),
        entry(
            Method::DELETE,
            account!("/users/{user}"),
            AccountWriter,
            "Remove a user",
            delete(users::remove),
            Doc::new().no_content().problem(
                "409",
                "The user is the caller's own login, or the account's last organization admin",
            ),
        ),
        entry(
            Method::POST,
            account!("/users/{user}/invite"),
            AccountWriter,
            "Invite an end user to set a password",
            post(users::invite),
            Doc::new().created::<users::InvitationView>(),
        ),
        entry(
            Method::GET,
            account!("/groups"),
            AccountReader,
            "The groups with their members",
            get(users::groups),
            Doc::new().ok_list::<GroupView>(),
        ),
        entry(
            Method::GET,
            account!("/groups/{group}"),
            AccountReader,
            "One group: its nested groups, how many members and recipients it has",
            get(users::group),
            Doc::new().ok::<GroupDetailView>(),
        ),
        entry(
            Method::GET,
            account!("/groups/{group}/members"),
            AccountReader,
            "A page of a group's member users",
            get(users::group_members),
            Doc::new()
                .query::<users::MemberListQuery>()
                .ok_page::<UserView>(),
        ),
        entry(
            Method::GET,
            account!("/groups/{group}/recipients"),
            AccountReader,
            "A page of every user mail to a group reaches, through nested groups",
            get(users::group_recipients),
            Doc::new()
                .query::<users::MemberListQuery>()
                .ok_page::<UserView>(),
        ),
        entry(
            Method::PUT,
            account!("/exemptions/{external_id}"),
            AccountWriter,
            "Exempt a directory object from sync",
            put(users::exempt),
            Doc::new().no_content(),
        ),
        entry(
            Method::DELETE,
            account!("/exemptions/{external_id}"),
            AccountWriter,
            "Lift an exemption",
            delete(users::unexempt),
            Doc::new().no_content(),
        ),
        entry(
            Method::GET,
            account!("/tokens"),
            AccountReader,
            "The account's API tokens",
            get(tokens::list),
            Doc::new().ok_list::<TokenView>(),
        ),
        entry(
            Method::POST,
            account!("/tokens"),
            AccountWriter,
            "Create an API token (its secret is shown once)",
            post(tokens::create),
            Doc::new()
                .body::<tokens::NewTokenBody>()
                .created::<CreatedTokenView>(),
        ),
        entry(
            Method::DELETE,
            account!("/tokens/{token}"),
            AccountWriter,
            "Revoke an API token",
            delete(tokens::revoke),
            Doc::new().ok::<TokenView>(),
        ),
        entry(
            Method::POST,
            account!("/sync/preview"),
            AccountWriter,
            "Search Now: refresh and plan (202 with the run)",
            post(sync::preview),
            Doc::new()
                .optional_body::<sync::PreviewBody>()
                .accepted(),
        ),
        entry(
            Method::POST,
            account!("/sync/run"),
            AccountWriter,
            "The automatic sync, now (202 with the run)",
            post(sync::run_now),
            Doc::new().accepted(),
        ),
        entry(
            Method::GET,
            account!("/runs"),
            AccountReader,
            "The account's runs, newest first",
            get(sync::runs),
            Doc::new().ok_list::<RunView>(),
        ),
        entry(
            Method::GET,
            account!("/runs/{run}"),
            AccountReader,
            "A run's status, progress and report (the report as CSV with Accept: text/csv)",
            get(sync::run),
            Doc::new()
                .ok::<sync::RunWithProgress>()
                .or_text("text/csv"),
        ),
        entry(
            Method::GET,
            account!("/runs/{run}/report.csv"),
            AccountReader,
            "A run's report as CSV",
            get(sync::report_csv),
            Doc::new().text("text/csv", "The run's report"),
        ),
        entry(
            Method::GET,
            account!("/runs/{run}/events"),
            AccountReader,
            "A run's progress as server-sent events, then its final status",
            get(sync::run_events),
            Doc::new().text(
                "text/event-stream",
                "`progress` events (the run's progress as JSON) while it runs, then one `finished` event (the run as JSON)",
            ),
        ),
        entry(
            Method::GET,
            account!("/plans/{plan}"),
            AccountReader,
            "A plan's summary and counts per category",
            get(sync::plan),
            Doc::new().ok::<PlanSummaryView>(),
        ),
        entry(
            Method::GET,
            account!("/plans/{plan}/changes"),
            AccountReader,
            "A page of a plan's changes (every change as CSV with Accept: text/csv)",
            get(sync::changes),
            Doc::new()
                .query::<sync::ChangeListQuery>()
                .ok_page::<ChangeView>()
                .or_text("text/csv"),
        ),
        entry(
            Method::GET,
            account!("/plans/{plan}/changes.csv"),
            AccountReader,
            "Every change of a plan that the category and q select, as CSV",
            get(sync::changes_csv),
            Doc::new()
                .query::<sync::ChangeListQuery>()
                .text("text/csv", "The changes"),
        ),
        entry(
            Method::POST,
            account!("/plans/{plan}/apply"),
            AccountWriter,
            "Sync Active Directory: apply a plan (202 with the run)",
            post(sync::apply),
            Doc::new().body::<sync::ApplyBody>().accepted(),
        ),
    ]
}

/// Every route the router serves, with its policy.
pub fn list() -> Vec<Route> {
    table().into_iter().map(|(route, _)| route).collect()
}

pub(crate) fn build(state: AppState) -> Router {
    let mut router = Router::new();
    for (route, handler) in table() {
        router = router.route(route.path, handler);
    }
    // A handler that panics answers in the product's words, as the API or as a page, and the
    // connection stays up; the log keeps what went wrong.
    router
        .layer(CatchPanicLayer::custom(api_panic))
        .merge(console::router(state.clone()).layer(CatchPanicLayer::custom(page_panic)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            end_event_streams_at_shutdown,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(count_requests))
        .with_state(state)
}

/// What a panic said, for the log.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

fn api_panic(panic: Box<dyn Any + Send>) -> Response {
    tracing::error!(panic = panic_message(&*panic), "an API handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error",
        "Roster failed to handle the request; the server's log says why",
    )
    .into_response()
}

fn page_panic(panic: Box<dyn Any + Send>) -> Response {
    tracing::error!(panic = panic_message(&*panic), "a console page panicked");
    console::PageError::internal().into_response()
}

/// An unknown path: problem details under `/api`, a page elsewhere.
async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found(format!(
            "there is no route {}; see /api/openapi.json",
            uri.path()
        ))
        .into_response()
    } else {
        console::PageError::not_found(
            "There is no such page. Follow a link from the console instead.",
        )
        .into_response()
    }
}

async fn method_not_allowed(uri: Uri, method: Method) -> Response {
    let detail = format!("{} does not accept {method}", uri.path());
    if uri.path().starts_with("/api/") {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            format!("{detail}; see /api/openapi.json"),
        )
        .into_response()
    } else {
        console::PageError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Cannot do that",
            format!("{detail}. Follow a link or a button from the console instead."),
        )
        .into_response()
    }
}

/// An event stream follows a run until it ends, which may be long after shutdown began: it ends
/// when shutdown begins instead, so that it does not hold the server open (a client reconnects
/// to another server, or reads the run).
async fn end_event_streams_at_shutdown(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let is_event_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"text/event-stream"));
    if !is_event_stream {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().take_until(state.shutting_down());
    Response::from_parts(parts, Body::from_stream(body))
}

/// The console's pages load scripts and styles from this site only, and no other site may
/// frame them; the API's answers are JSON and unaffected.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages show an account's users and one-time secrets: never kept by a shared cache.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Counts each request by route (its pattern, not its ids) and status, and times it.
async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("roster_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("roster_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use tower::ServiceExt;

    use super::*;

    async fn panics() -> &'static str {
        panic!("a bug in a handler")
    }

    async fn answer_to_a_panic(
        on_panic: fn(Box<dyn Any + Send>) -> Response,
    ) -> (Response, String) {
        let router: Router = Router::new()
            .route("/", get(panics))
            .layer(CatchPanicLayer::custom(on_panic));
        let request = axum::http::Request::new(Body::empty());
        let (parts, body) = router.oneshot(request).await.unwrap().into_parts();
        let text = to_bytes(body, usize::MAX).await.unwrap();
        let response = Response::from_parts(parts, Body::empty());
        (response, String::from_utf8_lossy(&text).into_owned())
    }

    #[tokio::test]
    async fn a_panicking_console_page_answers_the_products_error_page() {
        let (response, page) = answer_to_a_panic(page_panic).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            page.contains("Roster could not complete the request."),
            "{page}"
        );
        assert!(!page.contains("a bug in a handler"), "{page}");
    }

    #[tokio::test]
    async fn a_panicking_api_handler_answers_problem_details() {
        let (response, body) = answer_to_a_panic(api_panic).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(body.contains("\"status\":500"), "{body}");
        assert!(!body.contains("a bug in a handler"), "{body}");
    }
}
