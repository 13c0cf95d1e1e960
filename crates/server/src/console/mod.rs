//! The admin console: server-rendered pages (askama templates under `templates/`), enhanced by
//! htmx where it helps and complete without JavaScript.
//!
//! One handler serves a page and, for an htmx request, only the fragment it swaps (kanidm's
//! pattern). Every page and form goes through [`session::guard`], which resolves the session
//! once and refuses a state-changing request without the session's CSRF token. Handlers call
//! the store and the sync engine exactly as the REST API does; they hold no SQL and no rule.

mod accounts;
mod assets;
mod azure;
mod banners;
mod fields;
mod groups;
mod invitations;
mod layout;
mod login_csrf;
mod me;
mod notifications;
mod page;
mod plans;
mod profile;
mod runs;
mod session;
mod sign_in;
mod tokens;
mod users;

use axum::Router;
use axum::middleware;
use axum::routing::get;

use crate::AppState;

pub use layout::{Banner, BannerLevel, Layout, Nav};
pub use page::{Form, PageError, PageResult, Path, Query, is_htmx, render};
pub use session::{AdminPage, MemberPage, Viewer};

/// The console's routes, behind the session guard; static assets outside it.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    // Each area of the console adds its pages here as one `routes()` of its own module.
    let pages = Router::new()
        .merge(sign_in::routes())
        .merge(azure::routes())
        .merge(notifications::routes())
        .merge(accounts::routes())
        .merge(groups::routes())
        .merge(invitations::routes())
        .merge(me::routes())
        .merge(profile::routes())
        .merge(tokens::routes())
        .merge(users::routes())
        .merge(plans::routes())
        .merge(runs::routes())
        .route_layer(middleware::from_fn_with_state(state, session::guard));
    Router::new()
        .route("/static/{file}", get(assets::serve))
        .merge(pages)
}
