//! The connection's certificates through the API: generated, listed and downloaded without
//! their private keys, accepted by the tenant once uploaded, removed; another account's
//! certificate is not found.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use roster_domain::{Cloud, ConnectionSettings};
use secrecy::SecretString;
use serde_json::json;
use tower::ServiceExt;

use super::support::{As, TestApp};

/// A GET as an API token, with `accept`, answered as raw bytes (a DER file is not text).
async fn download(
    app: &TestApp,
    token: &As,
    path: &str,
    accept: &str,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let As::Bearer(token) = token else {
        panic!("downloads are made with a token");
    };
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_generated_certificate_signs_in_once_uploaded_and_its_private_key_is_never_returned() {
    let app = TestApp::start().await;
    let admin = &app.callers.admin;
    let certificates = app.path("/connection/certificates");

    let made = app
        .call(
            admin,
            Method::POST,
            &certificates,
            Some(json!({"valid_days": 30})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let thumbprint = made.field("thumbprint").as_str().unwrap().to_owned();
    let pem = made.field("certificate_pem").as_str().unwrap().to_owned();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert_eq!(
        header(&made.headers, header::LOCATION),
        format!(
            "/api/v1/accounts/{}/connection/certificates/{thumbprint}",
            app.account.id
        )
    );
    assert_eq!(made.field("use"), "tried first");

    let listed = app.call(admin, Method::GET, &certificates, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let thumbprints: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["thumbprint"].as_str().unwrap())
        .collect();
    assert_eq!(thumbprints, [thumbprint.as_str()]);

    let one = format!("{certificates}/{thumbprint}");
    let token = &app.callers.read_only_token;
    let (status, headers, as_pem) = download(&app, token, &one, "application/x-pem-file").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, header::CONTENT_TYPE),
        "application/x-pem-file"
    );
    assert_eq!(String::from_utf8(as_pem).unwrap(), pem);
    let (status, headers, der) = download(&app, token, &format!("{one}.cer"), "*/*").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, header::CONTENT_TYPE),
        "application/pkix-cert"
    );
    let stem = format!("roster-{}", thumbprint[..12].to_ascii_lowercase());
    assert_eq!(
        header(&headers, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"{stem}.cer\"")
    );
    assert_eq!(der[0], 0x30, "DER: a SEQUENCE");
    let as_json = app.call(token, Method::GET, &one, None).await;
    assert_eq!(as_json.field("certificate_pem"), &json!(pem));
    for body in [&made.body, &listed.body, &as_json.body] {
        assert!(!body.to_string().contains("PRIVATE KEY"), "{body}");
    }

    // The guide's upload, then sign-in with it: the secret no longer works.
    app.control.upload_certificate(&pem).await.unwrap();
    app.control.rotate_secret().await.unwrap();
    let switched = app
        .call(
            admin,
            Method::PUT,
            &app.path("/connection"),
            Some(json!({"credential": "certificate"})),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.body);
    let test = app
        .call(admin, Method::POST, &app.path("/connection/test"), None)
        .await;
    assert_eq!(test.field("passed"), true, "{}", test.body);

    // The connection signs in with it alone: removing it would stop every sync.
    let refused = app.call(admin, Method::DELETE, &one, None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let detail = refused.field("detail").as_str().unwrap();
    assert!(
        detail.contains("switch the connection to its key first"),
        "{detail}"
    );
    let back = app
        .call(
            admin,
            Method::PUT,
            &app.path("/connection"),
            Some(json!({"credential": "secret"})),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let removed = app.call(admin, Method::DELETE, &one, None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let gone = app.call(admin, Method::GET, &one, None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.body);
}

#[tokio::test]
async fn another_accounts_certificate_is_not_found_and_a_wrong_validity_is_explained() {
    let app = TestApp::start().await;
    let certificates =
        |account: &str| format!("/api/v1/accounts/{account}/connection/certificates");
    let fabrikam = &app.callers.other_token;
    let refused = app
        .call(fabrikam, Method::POST, &certificates("fabrikam"), None)
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    assert!(
        refused
            .field("detail")
            .as_str()
            .unwrap()
            .contains("no directory connection")
    );

    let zero = app
        .call(
            &app.callers.token,
            Method::POST,
            &certificates("contoso"),
            Some(json!({"valid_days": 0})),
        )
        .await;
    assert_eq!(
        zero.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        zero.body
    );
    assert_eq!(zero.field("errors")[0]["field"], "valid_days");

    let made = app
        .call(
            &app.callers.token,
            Method::POST,
            &certificates("contoso"),
            None,
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let thumbprint = made.field("thumbprint").as_str().unwrap();
    // Fabrikam has a connection of its own, so only the certificate's account tells them apart.
    let settings = ConnectionSettings::new(
        "fabrikam.com".parse().unwrap(),
        app.tenant.client_id.parse().unwrap(),
        Cloud::Global,
    );
    app.store
        .set_connection(app.other.id, settings, Some(SecretString::from("a secret")))
        .await
        .unwrap();
    for method in [Method::GET, Method::DELETE] {
        let theirs = app
            .call(
                fabrikam,
                method.clone(),
                &format!("{}/{thumbprint}", certificates("fabrikam")),
                None,
            )
            .await;
        assert_eq!(
            theirs.status,
            StatusCode::NOT_FOUND,
            "{method} {}",
            theirs.body
        );
    }
    let still = app
        .call(
            &app.callers.token,
            Method::GET,
            &format!("{}/{thumbprint}", certificates("contoso")),
            None,
        )
        .await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
}
