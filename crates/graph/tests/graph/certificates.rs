//! Certificate credentials: the client assertion the token request carries (checked here with
//! webpki, apart from the client's own signing code), the choice between two certificates,
//! and the assertion errors in the admin's terms.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use roster_domain::{ClientId, ConnectionSettings};
use roster_graph::diagnostics::{Check, StepStatus, test_connection};
use roster_graph::{
    ClientCertificate, ClientCredential, FixSetting, GeneratedCertificate, GraphClient, GraphError,
    generate_certificate,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use wiremock::ResponseTemplate;

use crate::support::{CLIENT_ID, TENANT, Tenant, connection_settings, options, read_all};

fn made() -> GeneratedCertificate {
    let client_id: ClientId = CLIENT_ID.parse().unwrap();
    generate_certificate(
        client_id,
        OffsetDateTime::now_utc(),
        time::Duration::days(30),
    )
    .unwrap()
}

fn signing(made: &GeneratedCertificate) -> ClientCertificate {
    ClientCertificate::new(&made.certificate_der, &made.private_key_pem, made.not_after).unwrap()
}

fn client(settings: &ConnectionSettings, certificates: &[&GeneratedCertificate]) -> GraphClient {
    let credential =
        ClientCredential::Certificates(certificates.iter().map(|c| signing(c)).collect());
    GraphClient::with_credential(settings, credential, options()).expect("the client builds")
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn part(jwt: &str, index: usize) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(index).unwrap())
        .unwrap()
}

#[tokio::test]
async fn the_token_request_carries_a_ps256_assertion_with_the_documented_claims() {
    let tenant = Tenant::start().await;
    let certificate = made();
    let checklist = test_connection(&client(&tenant.settings(), &[&certificate]), &[]).await;
    let authentication = checklist
        .steps
        .iter()
        .find(|s| s.check == Check::Authentication)
        .unwrap();
    assert_eq!(authentication.status, StepStatus::Passed);
    assert!(
        authentication.detail.contains(&certificate.thumbprint),
        "{}",
        authentication.detail
    );

    let requests = tenant.server.received_requests().await.unwrap();
    let token_request = requests
        .iter()
        .find(|r| r.url.path().ends_with("/token"))
        .unwrap();
    let form = form(&token_request.body);
    assert_eq!(field(&form, "client_secret"), None);
    assert_eq!(field(&form, "grant_type"), Some("client_credentials"));
    assert_eq!(field(&form, "client_id"), Some(CLIENT_ID));
    assert_eq!(
        field(&form, "client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = field(&form, "client_assertion").unwrap();

    let header: Value = serde_json::from_slice(&part(assertion, 0)).unwrap();
    let sha256 =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &certificate.certificate_der);
    assert_eq!(
        header,
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(sha256)})
    );

    let claims: Value = serde_json::from_slice(&part(assertion, 1)).unwrap();
    assert_eq!(
        claims["aud"],
        format!("{}/{TENANT}/oauth2/v2.0/token", tenant.server.uri())
    );
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let nbf = claims["nbf"].as_i64().unwrap();
    assert!((now - nbf).abs() < 60, "nbf {nbf} is not now ({now})");
    assert_eq!(claims["iat"].as_i64(), Some(nbf));
    let lifetime = claims["exp"].as_i64().unwrap() - nbf;
    assert!((300..=600).contains(&lifetime), "valid for {lifetime}s");

    // The signature, checked by webpki against the certificate an admin would upload.
    let der = rustls_pki_types::CertificateDer::from(certificate.certificate_der.as_slice());
    let end_entity = webpki::EndEntityCert::try_from(&der).unwrap();
    let (signing_input, _) = assertion.rsplit_once('.').unwrap();
    end_entity
        .verify_signature(
            webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            signing_input.as_bytes(),
            &part(assertion, 2),
        )
        .expect("the assertion is signed by the certificate's key");
    let other = made();
    let der = rustls_pki_types::CertificateDer::from(other.certificate_der.as_slice());
    assert!(
        webpki::EndEntityCert::try_from(&der)
            .unwrap()
            .verify_signature(
                webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
                signing_input.as_bytes(),
                &part(assertion, 2),
            )
            .is_err(),
        "another certificate's key must not verify it"
    );
}

#[tokio::test]
async fn each_token_request_signs_a_new_assertion() {
    let tenant = Tenant::without_token().await;
    tenant.token_response(ResponseTemplate::new(503)).await;
    let certificate = made();
    let error = read_all(client(&tenant.settings(), &[&certificate]).read_full())
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Unavailable { .. }), "{error:?}");
    let requests = tenant.server.received_requests().await.unwrap();
    let jtis: std::collections::BTreeSet<String> = requests
        .iter()
        .map(|r| {
            let form = form(&r.body);
            let claims: Value =
                serde_json::from_slice(&part(field(&form, "client_assertion").unwrap(), 1))
                    .unwrap();
            claims["jti"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(requests.len() > 1, "the token request was retried");
    assert_eq!(jtis.len(), requests.len(), "a retry must not repeat a jti");
}

/// The error a read ends with when the token endpoint refuses with `code`.
async fn refusal(
    code: u32,
    settings: impl Fn(ConnectionSettings) -> ConnectionSettings,
) -> (GraphError, String) {
    let tenant = Tenant::without_token().await;
    tenant
        .token_response(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": format!("AADSTS{code}: refused.\r\nTrace ID: 0\r\nCorrelation ID: 1\r\nTimestamp: 2026-01-01 00:00:00Z"),
            "error_codes": [code],
        })))
        .await;
    let certificate = made();
    let error = read_all(client(&settings(tenant.settings()), &[&certificate]).read_full())
        .await
        .unwrap_err();
    let fix = error.fix();
    assert!(!format!("{error:?} {error} {fix}").contains("PRIVATE KEY"));
    (error, certificate.thumbprint)
}

#[tokio::test]
async fn assertion_refusals_are_explained_with_their_fix() {
    let (error, thumbprint) = refusal(700027, |s| s).await;
    assert!(
        matches!(error, GraphError::CertificateNotUploaded { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("AADSTS700027") && error.to_string().contains(&thumbprint));
    assert!(
        error
            .fix()
            .contains("Certificates & secrets › Certificates › Upload certificate")
            && error.fix().contains(&thumbprint),
        "{}",
        error.fix()
    );

    let (error, _) = refusal(700024, |s| s).await;
    assert!(
        matches!(error, GraphError::AssertionOutsideValidity),
        "{error:?}"
    );
    assert!(error.fix().contains("clock"), "{}", error.fix());

    let (error, _) = refusal(700021, |s| s).await;
    assert!(
        matches!(error, GraphError::AssertionClientMismatch { .. }),
        "{error:?}"
    );
    assert!(
        error.fix().contains("Application (client) ID"),
        "{}",
        error.fix()
    );

    let (error, _) = refusal(700023, |s| s).await;
    assert!(
        matches!(error, GraphError::AssertionAudienceMismatch { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("/oauth2/v2.0/token"));
    assert!(error.fix().contains("cloud and tenant"), "{}", error.fix());
}

#[tokio::test]
async fn an_expired_key_names_the_expiry_date_roster_was_given() {
    let tenant = Tenant::without_token().await;
    tenant
        .token_response(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000222: The provided client secret keys are expired.",
            "error_codes": [7000222],
        })))
        .await;
    let settings = ConnectionSettings {
        key_expires_on: Some(time::macros::date!(2026 - 06 - 30)),
        ..tenant.settings()
    };
    let client = GraphClient::new(&settings, crate::support::SECRET.into(), options()).unwrap();
    let error = read_all(client.read_full()).await.unwrap_err();
    assert!(
        matches!(error, GraphError::SecretExpired { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("AADSTS7000222")
            && error.to_string().contains("expires on 2026-06-30"),
        "{error}"
    );
    assert!(error.fix().contains("Create a new client secret"));
}

#[tokio::test]
async fn a_certificate_connection_without_certificates_is_refused_before_any_request() {
    let tenant = Tenant::start().await;
    let error = GraphClient::with_credential(
        &tenant.settings(),
        ClientCredential::Certificates(Vec::new()),
        options(),
    )
    .unwrap_err();
    assert!(
        matches!(error, GraphError::NoValidCertificate { .. }),
        "{error:?}"
    );
    // The fix speaks the product's words, which every surface shows; the CLI adds its command.
    assert!(error.fix().contains("Generate a new certificate in Roster"));
    assert!(
        !error.fix().contains("roster connection"),
        "{}",
        error.fix()
    );
    assert_eq!(error.fix_setting(), Some(FixSetting::Certificate));
}

mod simulated {
    use roster_sim::{SimConfig, Simulator};

    use super::*;

    #[tokio::test]
    async fn the_older_certificate_signs_in_until_the_newer_one_is_uploaded() {
        let sim = Simulator::start(SimConfig {
            users: 5,
            groups: 1,
            seed: 3,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let tenant = sim.tenant();
        let settings = connection_settings(
            &tenant.tenant,
            &tenant.client_id,
            &tenant.login_url,
            &tenant.graph_url,
        );
        let client_id: ClientId = tenant.client_id.parse().unwrap();
        let generate = || {
            generate_certificate(
                client_id,
                OffsetDateTime::now_utc(),
                time::Duration::days(90),
            )
            .unwrap()
        };
        let (older, newer) = (generate(), generate());
        let control = sim.control();
        control
            .upload_certificate(&older.certificate_pem)
            .await
            .unwrap();

        let authentication = |checklist: roster_graph::diagnostics::Checklist| {
            checklist
                .steps
                .into_iter()
                .find(|s| s.check == Check::Authentication)
                .unwrap()
        };
        let both = || client(&settings, &[&newer, &older]);
        let step = authentication(test_connection(&both(), &[]).await);
        assert_eq!(step.status, StepStatus::Passed, "{step:?}");
        assert!(step.detail.contains(&older.thumbprint), "{}", step.detail);

        control
            .upload_certificate(&newer.certificate_pem)
            .await
            .unwrap();
        let step = authentication(test_connection(&both(), &[]).await);
        assert!(step.detail.contains(&newer.thumbprint), "{}", step.detail);

        for certificate in [&older, &newer] {
            control
                .remove_certificate(&certificate.thumbprint)
                .await
                .unwrap();
        }
        let error = read_all(both().read_full()).await.unwrap_err();
        let GraphError::CertificateNotUploaded { thumbprints, .. } = &error else {
            panic!("expected AADSTS700027 explained, got {error:?}");
        };
        assert_eq!(
            thumbprints,
            &[newer.thumbprint.clone(), older.thumbprint.clone()]
        );
        assert!(error.fix().contains(&newer.thumbprint));
    }
}
