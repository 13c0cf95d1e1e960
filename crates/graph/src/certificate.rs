//! Certificate credentials (graph-protocol.md §1a): the key pair and self-signed certificate an
//! admin uploads to the app registration, and the client assertion that proves the app holds
//! its private key: a JWT signed PS256 whose `x5t#S256` header names the certificate, as
//! Microsoft's current documentation describes it.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use roster_domain::ClientId;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use crate::error::GraphError;

/// How long an assertion is good for: Microsoft suggests 5–10 minutes after `nbf`.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// A certificate and key pair made for one app registration.
pub struct GeneratedCertificate {
    /// The certificate's DER encoding: the `.cer` file the Entra admin center accepts.
    pub certificate_der: Vec<u8>,
    /// The same certificate as PEM (`.pem`, also accepted).
    pub certificate_pem: String,
    /// The private key as PKCS#8 PEM; it never leaves Roster.
    pub private_key_pem: SecretString,
    /// The SHA-1 thumbprint in upper-case hex, as the Entra admin center lists it.
    pub thumbprint: String,
    /// The base64url SHA-256 thumbprint, the `x5t#S256` of every assertion.
    pub sha256_thumbprint: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for GeneratedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedCertificate")
            .field("thumbprint", &self.thumbprint)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A new RSA-2048 key pair (Entra requires RSA for client assertions) and a self-signed
/// certificate for it, valid from (just before) `now` for `valid_for`, named after the app
/// registration.
pub fn generate_certificate(
    client_id: ClientId,
    now: OffsetDateTime,
    valid_for: time::Duration,
) -> Result<GeneratedCertificate, GraphError> {
    let failed = |what: &str, e: &dyn fmt::Display| GraphError::ClientSetup {
        detail: format!("could not {what}: {e}"),
    };
    let key = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
        .map_err(|e| failed("generate an RSA key pair", &e))?;
    let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
        .map_err(|e| failed("encode the private key", &e))?;
    let signer =
        rcgen::KeyPair::try_from(pkcs8.as_ref()).map_err(|e| failed("load the private key", &e))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("Roster directory sync {client_id}"),
    );
    // Whole seconds: X.509 times have no fractions, and the stored dates must match them. A few
    // minutes back, so that a clock slightly behind this one already finds it valid.
    let not_before = now.replace_nanosecond(0).unwrap_or(now) - time::Duration::minutes(5);
    params.not_before = not_before;
    params.not_after = not_before + valid_for;
    let certificate = params
        .self_signed(&signer)
        .map_err(|e| failed("sign the certificate", &e))?;
    let der = certificate.der().to_vec();
    Ok(GeneratedCertificate {
        thumbprint: sha1_thumbprint(&der),
        sha256_thumbprint: sha256_thumbprint(&der),
        certificate_pem: certificate.pem(),
        private_key_pem: SecretString::from(signer.serialize_pem()),
        certificate_der: der,
        not_before: params.not_before,
        not_after: params.not_after,
    })
}

/// A DER certificate as PEM: base64 in lines of 64 characters between the CERTIFICATE lines.
pub fn certificate_pem(der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The SHA-1 thumbprint of a DER certificate in upper-case hex (how Entra shows it).
pub fn sha1_thumbprint(der: &[u8]) -> String {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The base64url SHA-256 thumbprint of a DER certificate (`x5t#S256`).
pub fn sha256_thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, der))
}

/// A certificate the app registration holds, with the private key to sign assertions.
pub struct ClientCertificate {
    key: RsaKeyPair,
    thumbprint: String,
    sha256_thumbprint: String,
    not_after: OffsetDateTime,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// The certificate (DER) and its private key (PKCS#8 PEM), expiring at `not_after`.
    pub fn new(
        certificate_der: &[u8],
        private_key_pem: &SecretString,
        not_after: OffsetDateTime,
    ) -> Result<Self, GraphError> {
        let thumbprint = sha1_thumbprint(certificate_der);
        let unusable = |why: String| GraphError::CertificateUnusable {
            thumbprint: thumbprint.clone(),
            why,
        };
        let der = pem_body(private_key_pem.expose_secret(), "PRIVATE KEY")
            .ok_or_else(|| unusable("the private key is not PKCS#8 PEM".into()))?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| unusable(format!("the private key is not an RSA key ({e})")))?;
        Ok(Self {
            key,
            sha256_thumbprint: sha256_thumbprint(certificate_der),
            thumbprint,
            not_after,
        })
    }

    /// The SHA-1 thumbprint in hex, as the Entra admin center lists it.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// A fresh client assertion for `client_id` at the token endpoint `audience`: PS256 with
    /// `x5t#S256`, `iss` = `sub` = the client ID, a new `jti`, valid from now for ten minutes.
    pub fn assertion(&self, client_id: ClientId, audience: &str) -> Result<String, GraphError> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.sha256_thumbprint});
        let claims = json!({
            "aud": audience,
            "iss": client_id.to_string(),
            "sub": client_id.to_string(),
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PSS_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|e| GraphError::CertificateUnusable {
                thumbprint: self.thumbprint.clone(),
                why: format!("signing failed ({e})"),
            })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The bytes of the first PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let base64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(base64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_signs_assertions_with_its_own_key() {
        let client_id: ClientId = "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".parse().unwrap();
        let now = OffsetDateTime::now_utc();
        let made = generate_certificate(client_id, now, time::Duration::days(365)).unwrap();
        assert_eq!(made.thumbprint.len(), 40);
        assert!(
            made.certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(
            made.private_key_pem
                .expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert_eq!(made.not_after - made.not_before, time::Duration::days(365));
        assert_eq!(
            certificate_pem(&made.certificate_der),
            made.certificate_pem.replace("\r\n", "\n"),
            "the PEM made again from the stored DER is the one generated"
        );
        assert!(!format!("{made:?}").contains("PRIVATE"));
        let certificate =
            ClientCertificate::new(&made.certificate_der, &made.private_key_pem, made.not_after)
                .unwrap();
        assert_eq!(certificate.thumbprint(), made.thumbprint);
        let assertion = certificate
            .assertion(client_id, "https://login.example/t/oauth2/v2.0/token")
            .unwrap();
        assert_eq!(assertion.split('.').count(), 3);
    }

    #[test]
    fn a_key_that_is_not_pkcs8_pem_is_refused_with_the_certificate_named() {
        let err = ClientCertificate::new(
            b"not a certificate",
            &SecretString::from(
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
            ),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("PKCS#8"), "{err}");
    }
}
