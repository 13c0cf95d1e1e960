//! The connection's certificates, for signing in with client assertions instead of the client
//! secret: listed and downloaded without their private keys, generated, removed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_api::{CertificateView, CertificateWithPem};
use roster_domain::{DirectoryConnection, PublicCertificate};
use roster_sync::CERTIFICATE_VALID_DAYS;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::{OptionalBody, Path};
use crate::auth::{AccountScope, Reader, Writer};
use crate::error::{ApiError, ApiResult};

/// The media type of a PEM download.
const PEM: &str = "application/x-pem-file";
/// The media type of a DER download (RFC 2585), the `.cer` file the Entra admin center takes.
const DER: &str = "application/pkix-cert";

async fn connection(state: &AppState, scope: &AccountScope) -> ApiResult<DirectoryConnection> {
    state
        .store()
        .connection(scope.account.id)
        .await?
        .ok_or_else(|| ApiError::not_found("the account has no directory connection yet"))
}

/// The certificate's view, as it is to the connection's sign-in now, with its PEM.
fn with_pem(
    connection: &DirectoryConnection,
    certificate: &PublicCertificate,
) -> ApiResult<CertificateWithPem> {
    CertificateView::all(connection, OffsetDateTime::now_utc())
        .into_iter()
        .find(|view| view.thumbprint == certificate.info.thumbprint)
        .map(|view| CertificateWithPem {
            certificate: view,
            certificate_pem: certificate.pem(),
        })
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "the connection no longer has the certificate {}",
                certificate.info.thumbprint
            ))
        })
}

/// `GET …/connection/certificates`: newest first, without private keys.
pub async fn list(
    State(state): State<AppState>,
    Reader(scope): Reader,
) -> ApiResult<Json<Vec<CertificateView>>> {
    let connection = connection(&state, &scope).await?;
    Ok(Json(CertificateView::all(
        &connection,
        OffsetDateTime::now_utc(),
    )))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    /// How long the certificate is valid, in days (365 when left out).
    pub valid_days: Option<u16>,
}

/// `POST …/connection/certificates`: a new key pair and certificate; `201` with the public
/// certificate as PEM, to upload to the app registration. The private key never leaves Roster.
pub async fn generate(
    State(state): State<AppState>,
    Writer(scope): Writer,
    OptionalBody(body): OptionalBody<GenerateBody>,
) -> ApiResult<Response> {
    let valid_days = match body.valid_days {
        None => CERTIFICATE_VALID_DAYS,
        Some(days) => std::num::NonZeroU16::new(days).ok_or_else(|| {
            ApiError::invalid_field(
                "valid_days",
                "a certificate is valid for at least 1 day; give the number of days, e.g. 365",
            )
        })?,
    };
    let made = state
        .engine()
        .generate_certificate(scope.account.id, valid_days)
        .await?;
    let view = with_pem(&connection(&state, &scope).await?, &made)?;
    let location = format!(
        "/api/v1/accounts/{}/connection/certificates/{}",
        scope.account.id, made.info.thumbprint
    );
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Whether the request's `Accept` asks for PEM.
fn accepts_pem(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|media| media.split(';').next())
        .any(|media| media.trim().eq_ignore_ascii_case(PEM))
}

/// The certificate as a file to save and upload.
fn download(certificate: &PublicCertificate, media_type: &'static str, body: Vec<u8>) -> Response {
    let extension = if media_type == DER { "cer" } else { "pem" };
    let disposition = format!(
        "attachment; filename=\"{}.{extension}\"",
        certificate.file_stem()
    );
    let mut response = ([(header::CONTENT_TYPE, media_type)], body).into_response();
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

/// `GET …/connection/certificates/{certificate}`: by its SHA-1 or SHA-256 thumbprint; JSON
/// with the PEM, the PEM alone with `Accept: application/x-pem-file`, or DER for `{…}.cer`.
pub async fn show(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((_, certificate)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(thumbprint) = certificate.strip_suffix(".cer") {
        let found = state
            .store()
            .certificate(scope.account.id, thumbprint)
            .await?;
        let der = found.der.clone();
        return Ok(download(&found, DER, der));
    }
    let found = state
        .store()
        .certificate(scope.account.id, &certificate)
        .await?;
    if accepts_pem(&headers) {
        let pem = found.pem().into_bytes();
        return Ok(download(&found, PEM, pem));
    }
    let connection = connection(&state, &scope).await?;
    Ok(Json(with_pem(&connection, &found)?).into_response())
}

/// `DELETE …/connection/certificates/{certificate}`: after it was deleted from the app
/// registration, or expired. Remove it there too, or it keeps being accepted.
pub async fn remove(
    State(state): State<AppState>,
    Writer(scope): Writer,
    Path((_, certificate)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .engine()
        .remove_certificate(scope.account.id, &certificate)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
