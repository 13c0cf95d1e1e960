//! Rendering pages and error pages, and reading forms, in the product's words: no framework
//! default ever reaches the browser.

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;

use super::layout::Layout;
use crate::error::ApiError;
use crate::input::InputProblem;

/// Renders a template as an HTML response.
pub fn render(template: &impl Template) -> PageResult {
    match template.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(error) => {
            tracing::error!(%error, "a console template failed to render");
            Err(PageError::internal())
        }
    }
}

/// Whether htmx sent the request, wanting only the fragment it swaps.
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request") && !headers.contains_key("hx-history-restore-request")
}

/// A request the console cannot serve, shown as a page that says what happened and what to do.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    /// Where the browser goes instead of seeing a page (sign in first).
    redirect: Option<String>,
    /// htmx asked: it would follow a redirect itself and swap the sign-in page into the page,
    /// so it is told to send the whole window there (`HX-Redirect`).
    htmx: bool,
}

pub type PageResult<T = Response> = Result<T, PageError>;

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            redirect: None,
            htmx: false,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Not allowed", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Cannot do that", detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Roster could not complete the request. Nothing was changed by the part that \
             failed; try again, and if it keeps failing, the server's log says why.",
        )
    }

    /// Sends the browser to the sign-in page, then back to `next` (a path on this site); for
    /// an htmx request (`htmx`), the whole window rather than the fragment htmx asked for.
    pub fn sign_in(next: &str, reason: SignInReason, htmx: bool) -> Self {
        let mut target = url::form_urlencoded::Serializer::new(String::new());
        target.append_pair("next", next);
        if reason == SignInReason::Expired {
            target.append_pair("expired", "1");
        }
        Self {
            redirect: Some(format!("/login?{}", target.finish())),
            htmx,
            ..Self::new(StatusCode::UNAUTHORIZED, "Sign in", "Sign in to continue.")
        }
    }
}

/// Why a request was sent to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInReason {
    NotSignedIn,
    Expired,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    detail: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self.redirect {
            Some(target) if self.htmx => {
                return (self.status, [("hx-redirect", target)]).into_response();
            }
            Some(target) => return Redirect::to(&target).into_response(),
            None => {}
        }
        let page = ErrorPage {
            layout: Layout::bare(self.title),
            status: self.status.as_u16(),
            detail: &self.detail,
        };
        let body = page.render().unwrap_or_else(|_| self.detail.clone());
        (self.status, Html(body)).into_response()
    }
}

/// The API's errors already speak the product's words; the console shows them as pages.
impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        let mut detail = error.detail;
        for field in &error.errors {
            detail.push_str(&format!("\n{}: {}", field.field, field.detail));
        }
        Self::new(error.status, error.title, detail)
    }
}

impl From<roster_store::StoreError> for PageError {
    fn from(error: roster_store::StoreError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<roster_sync::SyncError> for PageError {
    fn from(error: roster_sync::SyncError) -> Self {
        ApiError::from(error).into()
    }
}

/// A submitted form. Repeated keys (a list of checkboxes) read into a `Vec`; a form that does
/// not parse is answered with a page naming the field, never the framework's text.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        match axum_extra::extract::Form::<T>::from_request(request, state).await {
            Ok(axum_extra::extract::Form(value)) => Ok(Self(value)),
            Err(rejection) => {
                let problem = InputProblem::from_rejection(&rejection.body_text());
                Err(PageError::bad_request(format!(
                    "The form could not be read: {}. Go back, check the fields and send it again.",
                    problem.clause()
                )))
            }
        }
    }
}

/// A query string; one that does not parse is answered with a page naming the field, never
/// the framework's text.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                let problem = InputProblem::from_rejection(&rejection.body_text());
                Err(PageError::bad_request(format!(
                    "The page's address is not valid: {}. Follow a link from the console instead.",
                    problem.clause()
                )))
            }
        }
    }
}

/// The parameters of a page's path; an address that does not read (a `%` escape of no
/// character) is answered with a page, never the framework's text.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => match InputProblem::from_path(&rejection) {
                Some(_) => Err(PageError::bad_request(
                    "The page's address is not valid: it holds a %-escape that stands for no \
                     character. Follow a link from the console instead.",
                )),
                None => {
                    tracing::error!(%rejection, "a console route reads a parameter it does not have");
                    Err(PageError::internal())
                }
            },
        }
    }
}
