//! Client assertions (certificate credentials) checked as Entra checks them: the certificate
//! named by `x5t#S256` (or the older `x5t`) must be uploaded to the app and have signed the JWT
//! (PS256, or RS256); `iss` and `sub` must be the client ID, `aud` this tenant's token endpoint,
//! `nbf`/`exp` must hold now within a little skew, and a `jti` is accepted once.
//!
//! Written apart from the Graph client's assertion code on purpose (see ARCHITECTURE.md).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock;

/// The only `client_assertion_type` Entra accepts.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far `nbf` and `exp` may be off the simulator's clock.
const CLOCK_SKEW_SECS: i64 = 300;

/// A certificate uploaded to the app registration (Certificates & secrets › Certificates).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadedCertificate {
    /// The certificate's DER, base64 (standard alphabet).
    pub der_base64: String,
    /// SHA-1 thumbprint in upper-case hex, as the admin center lists it.
    pub thumbprint: String,
}

impl UploadedCertificate {
    /// Reads the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let start = pem
            .find(BEGIN)
            .ok_or("no -----BEGIN CERTIFICATE----- block")?
            + BEGIN.len();
        let stop = start
            + pem[start..]
                .find(END)
                .ok_or("the certificate block has no end")?;
        let body: String = pem[start..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD
            .decode(&body)
            .map_err(|e| format!("the certificate block is not base64: {e}"))?;
        let parsed = rustls_pki_types::CertificateDer::from(der.as_slice());
        webpki::EndEntityCert::try_from(&parsed)
            .map_err(|e| format!("not an X.509 certificate: {e:?}"))?;
        Ok(Self {
            thumbprint: hex_upper(&sha1(&der)),
            der_base64: body,
        })
    }

    fn der(&self) -> Vec<u8> {
        STANDARD.decode(&self.der_base64).unwrap_or_default()
    }

    fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha1(&self.der()))
    }

    fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.der()))
    }
}

fn sha1(bytes: &[u8]) -> Vec<u8> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes);
    digest.as_ref().to_vec()
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Why an assertion was refused, as the token endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// AADSTS50027: not a JWT, or a claim missing.
    Malformed(String),
    /// AADSTS700027: no uploaded certificate has that thumbprint, or the signature fails.
    Signature(String),
    /// AADSTS700021: `iss`/`sub` are not the client ID.
    ClientMismatch,
    /// AADSTS700023: `aud` is not this tenant's token endpoint.
    Audience,
    /// AADSTS700024: outside `nbf`..`exp` (with skew).
    Time { now: i64, nbf: i64, exp: i64 },
    /// A `jti` seen before (AADSTS50013, Entra's code for an invalid assertion: its
    /// documentation names no code of its own for a replay).
    Replayed,
}

/// The `jti`s accepted so far, until their assertions expire.
#[derive(Debug, Default)]
pub struct SeenAssertions {
    expiry_by_jti: HashMap<String, i64>,
}

impl SeenAssertions {
    /// Records `jti` unless it was seen; false for a replay.
    fn first_use(&mut self, jti: &str, exp: i64, now: i64) -> bool {
        self.expiry_by_jti
            .retain(|_, expiry| *expiry + CLOCK_SKEW_SECS >= now);
        if self.expiry_by_jti.contains_key(jti) {
            return false;
        }
        self.expiry_by_jti.insert(jti.to_owned(), exp);
        true
    }
}

/// What the token endpoint knows when it checks an assertion.
pub struct Expected<'a> {
    pub client_id: &'a str,
    /// Is this URL one of this tenant's token endpoints (by GUID or verified domain)?
    pub is_token_endpoint: &'a dyn Fn(&str) -> bool,
    pub certificates: &'a [UploadedCertificate],
}

/// Checks `assertion`, recording its `jti` in `seen` when it is accepted.
pub fn verify(
    assertion: &str,
    expected: &Expected<'_>,
    seen: &mut SeenAssertions,
) -> Result<(), Refusal> {
    let malformed = |why: &str| Refusal::Malformed(why.to_owned());
    let mut parts = assertion.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("the assertion is not a JWS in compact form"));
    };
    let decode_json = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?).ok()
    };
    let header = decode_json(header_b64).ok_or_else(|| malformed("the header is not JSON"))?;
    let claims = decode_json(claims_b64).ok_or_else(|| malformed("the payload is not JSON"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64.trim_end_matches('='))
        .map_err(|_| malformed("the signature is not base64url"))?;

    let text =
        |value: &Value, name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    // MSAL Python pads its thumbprints (`hOBcHZi846VCHSJbFAs26Go9VTQ=`, as an older version of
    // Microsoft's page shows them); Entra accepts both spellings.
    let thumbprint = |name: &str| text(&header, name).map(|t| t.trim_end_matches('=').to_owned());
    let (by_s256, by_sha1) = (thumbprint("x5t#S256"), thumbprint("x5t"));
    let certificate = expected
        .certificates
        .iter()
        .find(|c| {
            by_s256.as_deref() == Some(c.x5t_s256().as_str())
                || by_sha1.as_deref() == Some(c.x5t().as_str())
        })
        .ok_or_else(|| {
            Refusal::Signature(format!(
                "The key was not found., Thumbprint of key used by client: '{}'",
                by_s256.or(by_sha1).unwrap_or_default()
            ))
        })?;
    let algorithm: &dyn rustls_pki_types::SignatureVerificationAlgorithm =
        match text(&header, "alg").as_deref() {
            Some("PS256") => webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            Some("RS256") => webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
            other => {
                return Err(Refusal::Signature(format!(
                    "The signing algorithm {other:?} is not supported; use PS256 or RS256."
                )));
            }
        };
    let der = certificate.der();
    let parsed = rustls_pki_types::CertificateDer::from(der.as_slice());
    let end_entity = webpki::EndEntityCert::try_from(&parsed)
        .map_err(|_| Refusal::Signature("The uploaded certificate cannot be read.".into()))?;
    let signing_input = format!("{header_b64}.{claims_b64}");
    end_entity
        .verify_signature(algorithm, signing_input.as_bytes(), &signature)
        .map_err(|_| {
            Refusal::Signature(
                "The provided signature value did not match the expected signature value.".into(),
            )
        })?;

    let (iss, sub) = (text(&claims, "iss"), text(&claims, "sub"));
    let is_client = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(expected.client_id))
    };
    if !is_client(&iss) || !is_client(&sub) {
        return Err(Refusal::ClientMismatch);
    }
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if !audiences
        .iter()
        .any(|aud| (expected.is_token_endpoint)(aud))
    {
        return Err(Refusal::Audience);
    }
    // A NumericDate may have a fraction (RFC 7519 §2); MSAL Python sends `time.time()`'s.
    let number = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_f64)
            .map(|seconds| seconds.floor() as i64)
    };
    let exp = number("exp").ok_or_else(|| malformed("the assertion has no exp claim"))?;
    // MSAL sends `iat` without `nbf`; either starts the valid range.
    let nbf = number("nbf").or_else(|| number("iat")).unwrap_or(exp);
    let now = clock::now_unix();
    if now + CLOCK_SKEW_SECS < nbf || now >= exp + CLOCK_SKEW_SECS {
        return Err(Refusal::Time { now, nbf, exp });
    }
    let jti = text(&claims, "jti").ok_or_else(|| malformed("the assertion has no jti claim"))?;
    if !seen.first_use(&jti, exp, now) {
        return Err(Refusal::Replayed);
    }
    Ok(())
}

impl Refusal {
    /// The AADSTS code, OAuth error and message Entra answers with.
    pub fn describe(&self, client_id: &str) -> (u32, &'static str, String) {
        const DOCS: &str = "Review the documentation at https://aka.ms/certCreds .";
        match self {
            Self::Malformed(why) => (
                50027,
                "invalid_request",
                format!("JWT token is invalid or malformed: {why}."),
            ),
            Self::Signature(reason) => (
                700027,
                "invalid_client",
                format!(
                    "Client assertion contains an invalid signature. [Reason - {reason}, Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/resources/application?view=graph-rest-1.0 to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{client_id}']"
                ),
            ),
            Self::ClientMismatch => (
                700021,
                "invalid_client",
                format!(
                    "Client assertion application identifier doesn't match 'client_id' parameter. {DOCS}"
                ),
            ),
            Self::Audience => (
                700023,
                "invalid_client",
                format!("Client assertion audience claim does not match Realm issuer. {DOCS}"),
            ),
            Self::Time { now, nbf, exp } => (
                700024,
                "invalid_client",
                format!(
                    "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. {DOCS}",
                    clock::iso_z(*now),
                    clock::iso_z(*nbf),
                    clock::iso_z(*exp)
                ),
            ),
            Self::Replayed => (
                50013,
                "invalid_client",
                format!(
                    "Assertion is invalid: its jti was already used. Sign a new assertion for each request. {DOCS}"
                ),
            ),
        }
    }
}
