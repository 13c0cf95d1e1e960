//! The double-submit token guarding the forms a browser posts before it has a session (signing
//! in, accepting an invitation) against login CSRF: a random value in a cookie scoped to the
//! form's path and in the form itself, which another site can neither read nor set.

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngCore;

use crate::AppState;
use crate::auth;

const COOKIE: &str = "roster_login_csrf";

/// A fresh token for a form posted to `path`, and the cookie that pairs with it.
pub fn issue(state: &AppState, path: &str) -> (String, HeaderValue) {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let cookie = cookie(state, path, &token);
    (token, cookie)
}

/// The cookie that forgets the token once its form has done its work.
pub fn clear(state: &AppState, path: &str) -> HeaderValue {
    cookie(state, path, "")
}

/// Whether the form's token matches the cookie's; a missing cookie never matches.
pub fn matches(headers: &HeaderMap, sent: &str) -> bool {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .unwrap_or_default();
    !cookie.is_empty() && auth::same_secret(cookie, sent)
}

fn cookie(state: &AppState, path: &str, value: &str) -> HeaderValue {
    let secure = if state.config().secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    ))
    .expect("a hex token and a route's path are a valid header value")
}
