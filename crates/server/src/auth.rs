//! Who is calling, and what they may do (product.md §8).
//!
//! A caller proves who it is with an API token (`Authorization: Bearer …`) or a console
//! session cookie. A session's state-changing requests must also carry the session's CSRF
//! token in the `X-CSRF-Token` header (the synchronizer-token pattern); a token caller needs
//! none, since a browser never attaches a bearer token by itself.
//!
//! Account-scoped routes take one of the extractors below, which resolve `{account}` and check
//! the caller against it before the handler runs: an account the caller may not see answers 404,
//! as an unknown one does.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roster_domain::{Account, AccountId, EmailAddress, Principal, Role, UserId};
use roster_store::AccountRef;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, Config};

pub const SESSION_COOKIE: &str = "roster_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a caller proved who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A console session; its CSRF token guards its state-changing requests.
    Session {
        token: String,
        csrf_token: String,
    },
    ApiToken,
}

/// A caller who proved who it is.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub credential: Credential,
}

impl Caller {
    /// The name a run records as its actor.
    pub fn actor(&self) -> String {
        match self.principal {
            Principal::Operator(id) => format!("operator {id}"),
            Principal::User { user_id, .. } => format!("user {user_id}"),
            Principal::Token { token_id, .. } => format!("API token {token_id}"),
        }
    }
}

pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn bearer_token(headers: &HeaderMap) -> Option<Result<String, ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    Some(parsed.ok_or_else(|| {
        ApiError::unauthenticated("the Authorization header must be \"Bearer\" and an API token")
    }))
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(crate) fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        if let Some(token) = bearer_token(&parts.headers) {
            let token = token?;
            let found = state.store().use_api_token(&token).await?;
            let Some(token) = found else {
                return Err(ApiError::unauthenticated(
                    "the API token is unknown or revoked; create a new one",
                ));
            };
            return Ok(Self {
                principal: Principal::Token {
                    token_id: token.id,
                    account_id: token.account_id,
                    read_only: token.read_only,
                },
                credential: Credential::ApiToken,
            });
        }
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(ApiError::unauthenticated(
                "sign in first, or send an API token as \"Authorization: Bearer …\"",
            ));
        };
        let lifetime = state.config().session_lifetime();
        let Some(session) = state.store().session(&token, lifetime).await? else {
            return Err(ApiError::unauthenticated(
                "the session has ended or expired; sign in again",
            ));
        };
        if changes_state(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !same_secret(sent, &session.csrf_token) {
                return Err(ApiError::forbidden(
                    "this request changes something and needs the session's CSRF token in the X-CSRF-Token header",
                ));
            }
        }
        Ok(Self {
            principal: session.principal,
            credential: Credential::Session {
                token,
                csrf_token: session.csrf_token,
            },
        })
    }
}

/// A platform operator.
pub struct OperatorCaller(pub Caller);

impl FromRequestParts<AppState> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.principal {
            Principal::Operator(_) => Ok(Self(caller)),
            _ => Err(ApiError::forbidden("only platform operators may do this")),
        }
    }
}

/// What a caller may do in the account it named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Operator,
    Admin,
    /// An end user sees and edits only their own profile.
    EndUser(UserId),
    Token {
        read_only: bool,
    },
}

/// The account a route names, seen by a caller allowed to see it at all.
pub struct AccountScope {
    pub account: Account,
    pub access: Access,
    pub caller: Caller,
}

impl FromRequestParts<AppState> for AccountScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such account"))?;
        let reference = params
            .iter()
            .find(|(name, _)| *name == "account")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| ApiError::not_found("no such account"))?;
        Self::resolve(state, caller, &reference).await
    }
}

impl AccountScope {
    /// The account `reference` names (its id or name), as `caller` may see it: an account the
    /// caller may not see answers as an unknown one does (404).
    pub async fn resolve(state: &AppState, caller: Caller, reference: &str) -> ApiResult<Self> {
        let hidden =
            || ApiError::not_found(format!("no account is named or has the id {reference:?}"));
        let reference: AccountRef = reference.parse().map_err(|_| hidden())?;
        // Resolve before judging, but answer alike: an account the caller may not see and an
        // account that does not exist are indistinguishable.
        let account = match state.store().account(&reference).await {
            Ok(account) => account,
            Err(e) if e.kind() == roster_domain::ErrorKind::NotFound => return Err(hidden()),
            Err(e) => return Err(e.into()),
        };
        let access = match caller.principal {
            Principal::Operator(_) => Access::Operator,
            Principal::User {
                account_id, role, ..
            } if account_id == account.id && role == Role::OrganizationAdmin => Access::Admin,
            Principal::User {
                account_id,
                user_id,
                role: Role::EndUser,
            } if account_id == account.id => Access::EndUser(user_id),
            Principal::Token {
                account_id,
                read_only,
                ..
            } if account_id == account.id => Access::Token { read_only },
            _ => return Err(hidden()),
        };
        Ok(Self {
            account,
            access,
            caller,
        })
    }
}

/// An account's admin-level reader: an operator, an organization admin, or any of its tokens.
pub struct Reader(pub AccountScope);

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let scope = AccountScope::from_request_parts(parts, state).await?;
        match scope.access {
            Access::EndUser(_) => Err(ApiError::forbidden(
                "only the account's organization admins may see this",
            )),
            _ => Ok(Self(scope)),
        }
    }
}

/// The refusal of a change asked with a read-only token, in the API caller's terms.
pub(crate) fn read_only_token() -> ApiError {
    ApiError::forbidden(
        "this API token is read-only: it may read but not change anything; send a token created \
         with \"read_only\": false (POST .../tokens, or API tokens in the console)",
    )
}

/// An account's admin-level writer: an operator, an organization admin, or a token that is
/// not read-only.
pub struct Writer(pub AccountScope);

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Reader(scope) = Reader::from_request_parts(parts, state).await?;
        match scope.access {
            Access::Token { read_only: true } => Err(read_only_token()),
            _ => Ok(Self(scope)),
        }
    }
}

/// The connecting client's address, when the server knows it (in-process tests do not).
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// Failed sign-ins are limited per address and per client, so guessing a password is slow
/// however it is spread.
pub struct LoginLimits {
    per_address: DefaultKeyedRateLimiter<String>,
    per_client: DefaultKeyedRateLimiter<String>,
    attempts: AtomicU64,
}

/// Every this many attempts, the limiters forget the addresses and clients whose quota is
/// whole again, so that a long-running server under a spray of addresses keeps no memory of
/// each one.
const PRUNE_EVERY: u64 = 1024;

impl LoginLimits {
    pub fn new(config: &Config) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        Self {
            per_address: RateLimiter::keyed(quota(config.login_attempts_per_address_per_minute)),
            per_client: RateLimiter::keyed(quota(config.login_attempts_per_client_per_minute)),
            attempts: AtomicU64::new(0),
        }
    }

    /// Counts an attempt; false when the address or the client has used up its quota.
    pub(crate) fn allow(&self, address: &EmailAddress, client: Option<IpAddr>) -> bool {
        let client = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let address_ok = self.per_address.check_key(&address.to_string()).is_ok();
        let client_ok = self.per_client.check_key(&client).is_ok();
        if self.attempts.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.per_address.retain_recent();
            self.per_client.retain_recent();
        }
        address_ok && client_ok
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// Who a session acts for, and the CSRF token its state-changing requests carry.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub kind: &'static str,
    pub account_id: Option<AccountId>,
    pub user_id: Option<UserId>,
    pub role: Option<Role>,
    pub csrf_token: Option<String>,
}

impl SessionView {
    fn of(caller: &Caller) -> Self {
        let csrf_token = match &caller.credential {
            Credential::Session { csrf_token, .. } => Some(csrf_token.clone()),
            Credential::ApiToken => None,
        };
        match caller.principal {
            Principal::Operator(_) => Self {
                kind: "operator",
                account_id: None,
                user_id: None,
                role: None,
                csrf_token,
            },
            Principal::User {
                user_id,
                account_id,
                role,
            } => Self {
                kind: "user",
                account_id: Some(account_id),
                user_id: Some(user_id),
                role: Some(role),
                csrf_token,
            },
            Principal::Token { account_id, .. } => Self {
                kind: "api_token",
                account_id: Some(account_id),
                user_id: None,
                role: None,
                csrf_token,
            },
        }
    }
}

pub(crate) fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config().secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text).expect("a session token is URL-safe base64")
}

/// `POST /api/v1/session`: signs in with an address and a password.
pub async fn sign_in(
    state: axum::extract::State<AppState>,
    ClientIp(client): ClientIp,
    crate::api::Body(body): crate::api::Body<SignIn>,
) -> ApiResult<Response> {
    let address: EmailAddress = body
        .email
        .parse()
        .map_err(|e| ApiError::parse("email", &e))?;
    if !state.limits().allow(&address, client) {
        metrics::counter!("roster_login_failures_total", "reason" => "rate_limited").increment(1);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts",
            "too many sign-in attempts for this address or from this client; wait a minute and try again",
        ));
    }
    let password = SecretString::from(body.password);
    let Some(principal) = state
        .store()
        .verify_password_login(&address, password)
        .await?
    else {
        metrics::counter!("roster_login_failures_total", "reason" => "wrong_credentials")
            .increment(1);
        return Err(ApiError::unauthenticated(
            "the address or the password is wrong",
        ));
    };
    let lifetime = state.config().session_lifetime();
    let new = state.store().create_session(principal, lifetime).await?;
    let caller = Caller {
        principal,
        credential: Credential::Session {
            token: new.token.expose_secret().to_owned(),
            csrf_token: new.session.csrf_token.clone(),
        },
    };
    let mut response = (StatusCode::CREATED, axum::Json(SessionView::of(&caller))).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(
            &state,
            new.token.expose_secret(),
            lifetime.absolute.whole_seconds(),
        ),
    );
    Ok(response)
}

/// `GET /api/v1/session`: who the caller is (and a session's CSRF token).
pub async fn current(caller: Caller) -> axum::Json<SessionView> {
    axum::Json(SessionView::of(&caller))
}

/// `DELETE /api/v1/session`: signs out; the session's cookie stops working at once.
pub async fn sign_out(
    state: axum::extract::State<AppState>,
    caller: Caller,
) -> ApiResult<Response> {
    let Credential::Session { token, .. } = &caller.credential else {
        return Err(ApiError::invalid_field(
            "Authorization",
            "an API token has no session to end; revoke the token instead",
        ));
    };
    state.store().end_session(token).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, "", 0));
    Ok(response)
}
