//! The server in-process: the router with a store on SQLite and a simulated Entra ID tenant on
//! 127.0.0.1, called through `tower::ServiceExt::oneshot` as an HTTP client would.

#[path = "server/access.rs"]
mod access;
#[path = "server/api.rs"]
mod api;
#[path = "server/certificates.rs"]
mod certificates;
#[path = "server/config.rs"]
mod config;
#[path = "server/console.rs"]
mod console;
#[path = "server/console_azure.rs"]
mod console_azure;
#[path = "server/console_directory.rs"]
mod console_directory;
#[path = "server/console_invitations.rs"]
mod console_invitations;
#[path = "server/console_plan.rs"]
mod console_plan;
#[path = "server/guide.rs"]
mod guide;
#[path = "server/health.rs"]
mod health;
#[path = "server/lookup.rs"]
mod lookup;
#[path = "server/matrix.rs"]
mod matrix;
#[path = "server/openapi.rs"]
mod openapi;
#[path = "server/run_exports.rs"]
mod run_exports;
#[path = "server/support.rs"]
mod support;
