//! Signing in with a certificate instead of the client secret, end to end: Roster generates
//! the certificate, the admin uploads it to the app registration (here: the simulator's
//! control API), and the sync signs its token requests with client assertions.

use roster_domain::{CredentialKind, credential_expiry};
use roster_graph::{GeneratedCertificate, GraphError, generate_certificate};
use roster_store::NewCertificate;
use roster_sync::SyncError;
use time::OffsetDateTime;

use crate::support::TestApp;

fn generate(app: &TestApp, valid_for: time::Duration) -> GeneratedCertificate {
    generate_certificate(
        app.tenant.client_id.parse().unwrap(),
        OffsetDateTime::now_utc(),
        valid_for,
    )
    .unwrap()
}

async fn keep(app: &TestApp, made: &GeneratedCertificate, not_after: OffsetDateTime) {
    app.store
        .add_certificate(
            app.account.id,
            NewCertificate {
                thumbprint: made.thumbprint.clone(),
                sha256_thumbprint: made.sha256_thumbprint.clone(),
                not_before: made.not_before,
                not_after,
                certificate_der: made.certificate_der.clone(),
                private_key_pem: made.private_key_pem.clone(),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_certificate_connection_syncs_and_a_removed_certificate_is_explained() {
    let app = TestApp::unsynced().await;
    let made = generate(&app, time::Duration::days(365));
    keep(&app, &made, made.not_after).await;
    app.control
        .upload_certificate(&made.certificate_pem)
        .await
        .unwrap();
    app.change_settings(|s| s.credential = CredentialKind::Certificate)
        .await;
    // The old secret no longer works: whatever signs in now is the certificate.
    app.control.rotate_secret().await.unwrap();

    let outcome = app.sync().await;
    assert!(
        outcome.run.failures.is_empty(),
        "{:?}",
        outcome.run.failures
    );
    assert!(
        app.user(&app.directory.ada).await.is_some(),
        "the directory was read and applied"
    );
    let connection = app.store.connection(app.account.id).await.unwrap().unwrap();
    assert_eq!(
        credential_expiry(&connection, OffsetDateTime::now_utc()),
        Some(made.not_after.date()),
        "a certificate connection stops working when its certificate expires"
    );

    app.control
        .remove_certificate(&made.thumbprint)
        .await
        .unwrap();
    let error = app.try_preview().await.unwrap_err();
    let SyncError::Graph {
        error: GraphError::CertificateNotUploaded { thumbprints, .. },
    } = &error
    else {
        panic!("expected AADSTS700027 explained, got {error:?}");
    };
    assert_eq!(thumbprints, std::slice::from_ref(&made.thumbprint));
    let message = error.to_string();
    assert!(
        message.contains("AADSTS700027")
            && message.contains("Certificates & secrets › Certificates › Upload certificate")
            && message.contains(&made.thumbprint),
        "{message}"
    );
}

#[tokio::test]
async fn a_connection_whose_certificates_all_expired_says_when_and_what_to_do() {
    let app = TestApp::unsynced().await;
    let made = generate(&app, time::Duration::days(30));
    let expired = OffsetDateTime::now_utc() - time::Duration::days(2);
    keep(&app, &made, expired).await;
    app.change_settings(|s| s.credential = CredentialKind::Certificate)
        .await;
    let error = app.try_preview().await.unwrap_err();
    assert!(
        matches!(
            &error,
            SyncError::Graph { error: GraphError::NoValidCertificate { expired_on: Some(day) } }
                if *day == expired.date()
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("Generate a new certificate in Roster"),
        "{error}"
    );
}

#[tokio::test]
async fn an_expired_key_is_explained_with_the_date_roster_knew() {
    let app = TestApp::unsynced().await;
    let date = time::macros::date!(2026 - 03 - 31);
    app.change_settings(|s| s.key_expires_on = Some(date)).await;
    app.control.expire_secret().await.unwrap();
    let error = app.try_preview().await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("has expired (AADSTS7000222)")
            && message.contains("expires on 2026-03-31")
            && message.contains("Create a new client secret"),
        "{message}"
    );
}
