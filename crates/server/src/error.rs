//! The one error policy at the HTTP edge: every failure answers as RFC 9457 problem details
//! (`application/problem+json`), its status chosen by the error's [`ErrorKind`], validation
//! failures with one entry per field.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_domain::{ErrorKind, ParseError};
use roster_store::StoreError;
use roster_sync::SyncError;
use serde::Serialize;
use utoipa::ToSchema;

/// One field's problem in a request body or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name as the request spells it.
    pub field: String,
    pub detail: String,
}

/// A failure as the API answers it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

/// Problem details (RFC 9457): every failure of the API answers with one.
#[derive(Serialize, ToSchema)]
pub(crate) struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    /// One entry per field of the request that is wrong, when the request was invalid.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    #[schema(value_type = Vec<FieldError>)]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// The caller did not say who it is, or said it wrongly.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Sign-in required", detail)
    }

    /// The caller is known but may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Not allowed", detail)
    }

    /// The object does not exist, or is not the caller's to see: the two answer alike.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    /// The request body or query is wrong; each entry names a field.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.detail))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request", detail)
        }
    }

    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldError {
            field: field.to_owned(),
            detail: detail.into(),
        }])
    }

    /// A value in the request that does not parse, named by its field.
    pub fn parse(field: &str, error: &ParseError) -> Self {
        Self::invalid_field(field, error.to_string())
    }

    fn of_kind(kind: ErrorKind, detail: String) -> Self {
        let (status, title) = match kind {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "Not found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "Conflict"),
            ErrorKind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid request"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
            ErrorKind::Upstream => (StatusCode::BAD_GATEWAY, "Microsoft Entra ID failed"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The detail may name database internals; the log keeps it, the caller gets less.
            tracing::error!(error = %detail, "a request failed inside Roster");
            return Self::new(
                status,
                title,
                "Roster failed to handle the request; the server's log says why",
            );
        }
        Self::new(status, title, detail)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::of_kind(error.kind(), error.to_string())
    }
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::InvalidSettings { problems } => Self::invalid_fields(
                problems
                    .into_iter()
                    .map(|p| FieldError {
                        field: p.field.to_owned(),
                        detail: p.error.to_string(),
                    })
                    .collect(),
            ),
            error => Self::of_kind(error.kind(), error.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"roster\""),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
