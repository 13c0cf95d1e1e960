//! Graph's error body: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.

use std::time::Duration;

use axum::http::StatusCode;

use crate::clock;
use crate::json::ObjectWriter;

use super::GraphReply;

/// A Graph error before it is given its request ids.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
    /// Throttling bodies carry the status again inside `innerError` (the documented 429 sample).
    throttled: bool,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            throttled: false,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub fn bad_request_code(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    pub fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    pub fn unknown_segment(segment: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message).with_header(
            "WWW-Authenticate",
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }

    pub fn throttled(retry_after: Duration, decimals: usize) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Please retry again later.",
        )
        .with_header(
            "Retry-After",
            format!("{:.*}", decimals, retry_after.as_secs_f64()),
        );
        error.throttled = true;
        error
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay, the length of which may be specified in a Retry-After header.",
        )
        .with_header("Retry-After", "1")
    }

    /// A delta or skip token that can no longer be used: 410 with a Location to restart from.
    pub fn sync_reset(location: String) -> Self {
        Self::new(
            StatusCode::GONE,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )
        .with_header("Location", location)
    }

    pub fn failed_dependency() -> Self {
        Self::new(
            StatusCode::FAILED_DEPENDENCY,
            "FailedDependency",
            "A request this one depends on failed.",
        )
    }

    pub fn into_reply(self, request_id: &str, client_request_id: &str) -> GraphReply {
        let mut body = Vec::with_capacity(256);
        let mut root = ObjectWriter::new(&mut body);
        let mut error = ObjectWriter::new(root.key("error"));
        error.str("code", self.code).str("message", &self.message);
        let mut inner = ObjectWriter::new(error.key("innerError"));
        if self.throttled {
            let status = self.status.as_u16().to_string();
            inner
                .str("code", &status)
                .str("message", "Please retry after")
                .str("status", &status);
        }
        inner
            .str("date", &clock::graph_error_date())
            .str("request-id", request_id)
            .str("client-request-id", client_request_id);
        inner.finish();
        error.finish();
        root.finish();
        let mut headers: Vec<(String, String)> =
            vec![("Content-Type".to_owned(), "application/json".to_owned())];
        headers.extend(
            self.headers
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
        GraphReply {
            status: self.status,
            headers,
            body,
            drop_connection: false,
        }
    }
}
