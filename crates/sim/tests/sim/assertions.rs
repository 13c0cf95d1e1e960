//! Certificate credentials: the token endpoint checks client assertions as Entra does
//! (graph-protocol.md §1a), against certificates uploaded through the control API. The
//! assertions here are built by hand, apart from both the simulator and Roster's client.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Harness, Reply};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct TestCertificate {
    pem: String,
    der: Vec<u8>,
    key: RsaKeyPair,
}

fn certificate() -> TestCertificate {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 =
        aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).unwrap();
    let signer = rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let made = rcgen::CertificateParams::new(vec!["sync.example".to_owned()])
        .unwrap()
        .self_signed(&signer)
        .unwrap();
    TestCertificate {
        pem: made.pem(),
        der: made.der().to_vec(),
        key: RsaKeyPair::from_pkcs8(pkcs8.as_ref()).unwrap(),
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TestCertificate {
    fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.der))
    }

    fn x5t(&self) -> String {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der);
        URL_SAFE_NO_PAD.encode(digest)
    }

    /// A JWS of `header` and `claims`, signed by this certificate's key with the header's
    /// `alg` (PS256 or RS256).
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let padding: &dyn signature::RsaEncoding = match header["alg"].as_str() {
            Some("RS256") => &signature::RSA_PKCS1_SHA256,
            _ => &signature::RSA_PSS_SHA256,
        };
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                padding,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The current documented form: PS256 with `x5t#S256`.
    fn header(&self) -> Value {
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.x5t_s256()})
    }
}

/// Claims as Microsoft documents them, for the simulated tenant's token endpoint.
fn claims(harness: &Harness) -> Value {
    let tenant = harness.tenant();
    let now = now();
    json!({
        "aud": format!("{}/{}/oauth2/v2.0/token", tenant.login_url, tenant.tenant_id),
        "iss": tenant.client_id,
        "sub": tenant.client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    })
}

async fn sign_in(harness: &Harness, assertion: &str) -> Reply {
    let tenant = harness.tenant().clone();
    let scope = harness.scope();
    harness
        .token_request(
            &tenant.tenant_id,
            &[
                ("client_id", &tenant.client_id),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion),
                ("scope", &scope),
                ("grant_type", "client_credentials"),
            ],
        )
        .await
}

fn assert_refused(reply: &Reply, status: StatusCode, error: &str, code: u64) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"], error, "{}", reply.body);
    assert_eq!(reply.body["error_codes"], json!([code]), "{}", reply.body);
    let description = reply.body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
}

async fn with_uploaded() -> (Harness, TestCertificate) {
    let harness = Harness::small().await;
    let certificate = certificate();
    harness
        .control()
        .upload_certificate(&certificate.pem)
        .await
        .unwrap();
    (harness, certificate)
}

#[tokio::test]
async fn an_assertion_signed_by_an_uploaded_certificate_earns_a_token() {
    let (harness, certificate) = with_uploaded().await;
    let reply = sign_in(
        &harness,
        &certificate.sign(&certificate.header(), &claims(&harness)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    let token = reply.body["access_token"].as_str().unwrap();
    let claims = crate::support::jwt_payload(token);
    assert_eq!(claims["appid"], harness.tenant().client_id);
    assert_eq!(claims["roles"], json!(["Directory.Read.All"]));
}

#[tokio::test]
async fn the_older_rs256_form_with_x5t_and_a_domain_audience_is_accepted_too() {
    let (harness, certificate) = with_uploaded().await;
    let tenant = harness.tenant().clone();
    // Padded, as MSAL Python writes it.
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": format!("{}=", certificate.x5t())});
    let mut claims = claims(&harness);
    claims["aud"] = json!(format!(
        "{}/{}/oauth2/v2.0/token",
        tenant.login_url, tenant.tenant
    ));
    // MSAL Python sends `iat` and no `nbf`, and times with a fraction.
    claims.as_object_mut().unwrap().remove("nbf");
    claims["iat"] = json!(now() as f64 + 0.25);
    claims["exp"] = json!(now() as f64 + 600.75);
    let reply = sign_in(&harness, &certificate.sign(&header, &claims)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn a_certificate_the_app_does_not_hold_is_aadsts700027() {
    let (harness, uploaded) = with_uploaded().await;
    let stranger = certificate();
    let reply = sign_in(
        &harness,
        &stranger.sign(&stranger.header(), &claims(&harness)),
    )
    .await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains("The key was not found")
    );

    // The uploaded certificate's thumbprint over another key's signature fails too.
    let forged = stranger.sign(&uploaded.header(), &claims(&harness));
    let reply = sign_in(&harness, &forged).await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains("signature value did not match")
    );
}

#[tokio::test]
async fn a_removed_certificate_stops_signing_in() {
    let (harness, certificate) = with_uploaded().await;
    let control = harness.control();
    let thumbprints = control.app().await.unwrap().certificates;
    assert_eq!(thumbprints.len(), 1);
    assert_eq!(
        thumbprints[0].len(),
        40,
        "SHA-1 in hex, as the admin center shows it"
    );
    control
        .remove_certificate(&thumbprints[0].to_ascii_lowercase())
        .await
        .unwrap();
    let reply = sign_in(
        &harness,
        &certificate.sign(&certificate.header(), &claims(&harness)),
    )
    .await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    assert!(control.remove_certificate(&thumbprints[0]).await.is_err());
}

#[tokio::test]
async fn an_audience_other_than_the_token_endpoint_is_aadsts700023() {
    let (harness, certificate) = with_uploaded().await;
    for audience in [
        "https://login.microsoftonline.com/common/oauth2/v2.0/token".to_owned(),
        format!(
            "{}/{}/v2.0",
            harness.tenant().login_url,
            harness.tenant().tenant_id
        ),
        format!(
            "{}/another.example/oauth2/v2.0/token",
            harness.tenant().login_url
        ),
    ] {
        let mut claims = claims(&harness);
        claims["aud"] = json!(audience);
        let reply = sign_in(&harness, &certificate.sign(&certificate.header(), &claims)).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700023);
    }
}

#[tokio::test]
async fn an_issuer_or_subject_other_than_the_client_id_is_aadsts700021() {
    let (harness, certificate) = with_uploaded().await;
    for claim in ["iss", "sub"] {
        let mut claims = claims(&harness);
        claims[claim] = json!("00000000-1111-2222-3333-444444444444");
        let reply = sign_in(&harness, &certificate.sign(&certificate.header(), &claims)).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700021);
    }
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_assertion_is_aadsts700024_beyond_a_little_skew() {
    let (harness, certificate) = with_uploaded().await;
    let at = |nbf: i64, exp: i64| {
        let mut claims = claims(&harness);
        claims["nbf"] = json!(nbf);
        claims["iat"] = json!(nbf);
        claims["exp"] = json!(exp);
        certificate.sign(&certificate.header(), &claims)
    };
    let now = now();
    for (nbf, exp) in [(now - 1200, now - 600), (now + 900, now + 1500)] {
        let reply = sign_in(&harness, &at(nbf, exp)).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700024);
        assert!(
            reply.body["error_description"]
                .as_str()
                .unwrap()
                .contains("valid time range")
        );
    }
    // A clock a minute off either way is tolerated.
    for (nbf, exp) in [(now - 660, now - 60), (now + 60, now + 660)] {
        let reply = sign_in(&harness, &at(nbf, exp)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

#[tokio::test]
async fn an_assertion_is_accepted_once() {
    let (harness, certificate) = with_uploaded().await;
    let assertion = certificate.sign(&certificate.header(), &claims(&harness));
    assert_eq!(sign_in(&harness, &assertion).await.status, StatusCode::OK);
    let replayed = sign_in(&harness, &assertion).await;
    assert_refused(&replayed, StatusCode::UNAUTHORIZED, "invalid_client", 50013);
    // A new jti signs in again.
    let fresh = certificate.sign(&certificate.header(), &claims(&harness));
    assert_eq!(sign_in(&harness, &fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_malformed_assertion_or_assertion_type_is_aadsts50027() {
    let (harness, certificate) = with_uploaded().await;
    let reply = sign_in(&harness, "not.a-jwt").await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "invalid_request", 50027);

    let mut claims = claims(&harness);
    claims.as_object_mut().unwrap().remove("jti");
    let reply = sign_in(&harness, &certificate.sign(&certificate.header(), &claims)).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "invalid_request", 50027);

    let tenant = harness.tenant().clone();
    let scope = harness.scope();
    let assertion = certificate.sign(&certificate.header(), &self::claims(&harness));
    let reply = harness
        .token_request(
            &tenant.tenant_id,
            &[
                ("client_id", &tenant.client_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                ),
                ("client_assertion", &assertion),
                ("scope", &scope),
                ("grant_type", "client_credentials"),
            ],
        )
        .await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "invalid_request", 50027);
}

#[tokio::test]
async fn the_control_api_refuses_what_is_not_a_certificate() {
    let harness = Harness::small().await;
    let refused = harness
        .control()
        .upload_certificate(
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        harness
            .control()
            .app()
            .await
            .unwrap()
            .certificates
            .is_empty()
    );
}
