//! The REST API's handlers under `/api/v1`. Each parses its input into domain types, calls the
//! store or the sync engine, and answers with the shared views of `roster-api`.

pub mod accounts;
pub mod certificates;
pub mod connection;
pub mod sync;
pub mod tokens;
pub mod users;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::input::InputProblem;

/// The largest page a listing returns, and the page size when none is asked for.
pub const MAX_PAGE: u32 = 500;
pub const DEFAULT_PAGE: u32 = 100;

/// A JSON request body; a malformed one answers as problem details naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(body_problem(&rejection)),
        }
    }
}

fn body_problem(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            // serde's message names the field path: "missing field `name`", "name: invalid type".
            let text =
                std::error::Error::source(e).map_or_else(|| e.body_text(), |s| s.to_string());
            let field = text
                .split_once(": ")
                .map(|(path, _)| path.to_owned())
                .filter(|path| !path.contains(' '))
                .or_else(|| text.split('`').nth(1).map(ToOwned::to_owned))
                .unwrap_or_else(|| "body".to_owned());
            ApiError::invalid_field(&field, text)
        }
        other => ApiError::new(
            other.status(),
            "Invalid request body",
            format!(
                "{}; send a JSON object with Content-Type: application/json",
                other.body_text()
            ),
        ),
    }
}

/// A JSON request body that may be left out: an empty body is `T::default()`.
pub struct OptionalBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "Invalid request body", e.body_text()))?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::invalid_field("body", e.to_string()))
    }
}

/// A query string; a malformed one answers as problem details.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_problem(&rejection)),
        }
    }
}

fn query_problem(rejection: &QueryRejection) -> ApiError {
    let problem = InputProblem::from_rejection(&rejection.body_text());
    let field = problem.field.as_deref().unwrap_or("query");
    ApiError::invalid_field(field, problem.problem)
}

/// A route's path parameters; a path that does not read (a `%` escape of no character)
/// answers as problem details, never the framework's text.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => match InputProblem::from_path(&rejection) {
                Some(problem) => Err(ApiError {
                    status: StatusCode::BAD_REQUEST,
                    ..ApiError::invalid_field("path", problem.problem)
                }),
                None => {
                    tracing::error!(%rejection, "an API route reads a parameter it does not have");
                    Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal error",
                        "Roster failed to handle the request; the server's log says why",
                    ))
                }
            },
        }
    }
}

/// A page size from `?limit=`: at least one, at most [`MAX_PAGE`].
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_field(
            "limit",
            format!("give a page size from 1 to {MAX_PAGE}"),
        )),
    }
}
