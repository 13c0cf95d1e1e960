//! Who is looking at a console page, resolved once per request by [`guard`], and the extractors
//! pages take: [`Viewer`] (anyone signed in), [`AdminPage`] (an account's administration pages)
//! and [`MemberPage`] (a user's own profile).
//!
//! Forms are posted without JavaScript, so the CSRF token travels as the hidden form field
//! `csrf_token` (htmx sends the `X-CSRF-Token` header as well). The guard reads it from either
//! before any handler runs, so no handler can forget the check.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use roster_domain::{Principal, Role, Session, UserId};

use super::banners;
use super::layout::{Layout, Nav, NavAccount};
use super::page::{PageError, SignInReason, is_htmx};
use crate::auth::{self, Access, AccountScope, Caller, Credential};
use crate::{AppState, Config};

/// The largest form body the guard reads to find its CSRF token.
const FORM_LIMIT: usize = 2 * 1024 * 1024;

pub const CSRF_FIELD: &str = "csrf_token";

/// What the guard found, for the extractors.
#[derive(Clone)]
struct SignedIn {
    token: String,
    session: Session,
}

#[derive(Clone)]
struct SessionLookup {
    signed_in: Option<SignedIn>,
    /// A session cookie came that no longer names a live session.
    expired: bool,
}

/// Resolves the session; refuses a cross-site state-changing request, and a session's
/// state-changing request whose CSRF token is missing or wrong.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let writes = auth::changes_state(&parts.method);
    if writes && from_another_site(&parts.headers, state.config()) {
        return PageError::forbidden(
            "This form was sent from another site. Open Roster directly and submit it there.",
        )
        .into_response();
    }
    let cookie = auth::session_cookie(&parts.headers).filter(|token| !token.is_empty());
    let signed_in = match &cookie {
        None => None,
        Some(token) => {
            match state
                .store()
                .session(token, state.config().session_lifetime())
                .await
            {
                Ok(found) => found.map(|session| SignedIn {
                    token: token.clone(),
                    session,
                }),
                Err(error) => return PageError::from(error).into_response(),
            }
        }
    };
    let body = match (&signed_in, writes) {
        (Some(signed_in), true) => match checked_body(&parts.headers, body, signed_in).await {
            Ok(body) => body,
            Err(refusal) => return refusal.into_response(),
        },
        _ => body,
    };
    parts.extensions.insert(SessionLookup {
        expired: cookie.is_some() && signed_in.is_none(),
        signed_in,
    });
    next.run(Request::from_parts(parts, body)).await
}

/// The body, once its CSRF token (header or form field) matched the session's.
async fn checked_body(
    headers: &HeaderMap,
    body: Body,
    signed_in: &SignedIn,
) -> Result<Body, PageError> {
    let expected = signed_in.session.csrf_token.as_str();
    let stale = || {
        PageError::forbidden(
            "This form is out of date: its security token does not match your session. \
             Reload the page and submit the form again.",
        )
    };
    if let Some(sent) = headers.get(auth::CSRF_HEADER) {
        let sent = sent.to_str().unwrap_or_default();
        return if auth::same_secret(sent, expected) {
            Ok(body)
        } else {
            Err(stale())
        };
    }
    let bytes = to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        PageError::bad_request("The form is too large to read. Send fewer items at once.")
    })?;
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == CSRF_FIELD)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if auth::same_secret(&sent, expected) {
        Ok(Body::from(bytes))
    } else {
        Err(stale())
    }
}

/// A browser tells where a request comes from (`Sec-Fetch-Site`, `Origin`); anything but this
/// site itself is refused, the session cookie's `SameSite=Lax` notwithstanding.
fn from_another_site(headers: &HeaderMap, config: &Config) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some(site) if site != "same-origin" && site != "none") {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let public = config.public_url.origin().ascii_serialization();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same_host = host.is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host)
    });
    origin != public && !same_host
}

fn lookup(parts: &Parts) -> SessionLookup {
    parts
        .extensions
        .get::<SessionLookup>()
        .cloned()
        .unwrap_or(SessionLookup {
            signed_in: None,
            expired: false,
        })
}

fn sign_in_first(parts: &Parts, expired: bool) -> PageError {
    let htmx = is_htmx(&parts.headers);
    // htmx asks for a fragment; the page it was on is the one to come back to.
    let current_page = (parts.headers.get("hx-current-url"))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| url::Url::parse(value).ok())
        .map(|url| match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        });
    let next = match current_page {
        Some(page) if htmx => page,
        // A form's target is no page to come back to; its page is.
        _ if auth::changes_state(&parts.method) => "/".to_owned(),
        _ => parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
    };
    let reason = if expired {
        SignInReason::Expired
    } else {
        SignInReason::NotSignedIn
    };
    PageError::sign_in(&next, reason, htmx)
}

/// Anyone signed in to the console.
pub struct Viewer {
    pub caller: Caller,
    pub csrf_token: String,
}

impl Viewer {
    fn of(signed_in: SignedIn) -> Self {
        let csrf_token = signed_in.session.csrf_token.clone();
        Self {
            caller: Caller {
                principal: signed_in.session.principal,
                credential: Credential::Session {
                    token: signed_in.token,
                    csrf_token: signed_in.session.csrf_token,
                },
            },
            csrf_token,
        }
    }

    /// The session's token, to end it.
    pub fn session_token(&self) -> &str {
        match &self.caller.credential {
            Credential::Session { token, .. } => token,
            Credential::ApiToken => "",
        }
    }

    pub fn is_operator(&self) -> bool {
        matches!(self.caller.principal, Principal::Operator(_))
    }

    /// The frame of a page outside any account (the operator's account list).
    pub async fn layout(&self, state: &AppState, title: &str, current: &'static str) -> Layout {
        Layout {
            nav: Some(Nav {
                signed_in_as: signed_in_as(state, &self.caller).await,
                operator: self.is_operator(),
                account: None,
                current,
            }),
            csrf_token: self.csrf_token.clone(),
            ..Layout::bare(title)
        }
    }
}

async fn signed_in_as(state: &AppState, caller: &Caller) -> String {
    let found = match caller.principal {
        Principal::Operator(id) => state
            .store()
            .operator(id)
            .await
            .map(|operator| operator.email.to_string()),
        Principal::User {
            user_id,
            account_id,
            ..
        } => state
            .store()
            .user(account_id, user_id)
            .await
            .map(|user| user.primary_address.to_string()),
        Principal::Token { .. } => return "an API token".to_owned(),
    };
    found.unwrap_or_else(|_| "you".to_owned())
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, PageError> {
        let found = lookup(parts);
        match found.signed_in {
            Some(signed_in) => Ok(Self::of(signed_in)),
            None => Err(sign_in_first(parts, found.expired)),
        }
    }
}

/// An account's administration page: seen by its organization admins and by operators; an
/// account the viewer may not see answers 404, as an unknown one does.
pub struct AdminPage {
    pub scope: AccountScope,
    pub csrf_token: String,
}

impl AdminPage {
    pub fn account(&self) -> &roster_domain::Account {
        &self.scope.account
    }

    /// The path of a page of this account, `tail` starting with `/`.
    pub fn path(&self, tail: &str) -> String {
        format!("/accounts/{}{tail}", self.scope.account.id)
    }

    /// The frame of this page: navigation, and the account's banners.
    pub async fn layout(
        &self,
        state: &AppState,
        title: &str,
        current: &'static str,
    ) -> Result<Layout, PageError> {
        Ok(Layout {
            nav: Some(Nav {
                signed_in_as: signed_in_as(state, &self.scope.caller).await,
                operator: self.scope.access == Access::Operator,
                account: Some(NavAccount::new(&self.scope.account, true)),
                current,
            }),
            banners: banners::for_account(state, &self.scope.account).await?,
            csrf_token: self.csrf_token.clone(),
            ..Layout::bare(title)
        })
    }
}

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::not_found("There is no such account."))?;
        let reference = params
            .iter()
            .find(|(name, _)| *name == "account")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| PageError::not_found("There is no such account."))?;
        let scope = AccountScope::resolve(state, viewer.caller, &reference).await?;
        match scope.access {
            Access::Operator | Access::Admin => Ok(Self {
                scope,
                csrf_token: viewer.csrf_token,
            }),
            Access::EndUser(_) | Access::Token { .. } => Err(PageError::forbidden(
                "Only the account's organization admins may open this page. Your own profile is under My profile.",
            )),
        }
    }
}

/// A signed-in user of an account, on their own profile.
pub struct MemberPage {
    pub viewer: Viewer,
    pub account_id: roster_domain::AccountId,
    pub user_id: UserId,
    pub role: Role,
}

impl MemberPage {
    pub async fn layout(
        &self,
        state: &AppState,
        title: &str,
        current: &'static str,
    ) -> Result<Layout, PageError> {
        let account = state
            .store()
            .account(&roster_store::AccountRef::Id(self.account_id))
            .await?;
        Ok(Layout {
            nav: Some(Nav {
                signed_in_as: signed_in_as(state, &self.viewer.caller).await,
                operator: false,
                account: Some(NavAccount::new(
                    &account,
                    self.role == Role::OrganizationAdmin,
                )),
                current,
            }),
            csrf_token: self.viewer.csrf_token.clone(),
            ..Layout::bare(title)
        })
    }
}

impl FromRequestParts<AppState> for MemberPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        match viewer.caller.principal {
            Principal::User {
                user_id,
                account_id,
                role,
            } => Ok(Self {
                viewer,
                account_id,
                user_id,
                role,
            }),
            _ => Err(PageError::not_found(
                "Platform operators have no profile of their own here; open an account instead.",
            )),
        }
    }
}
