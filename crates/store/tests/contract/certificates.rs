//! Certificates for client assertions: the private key sealed like the client secret, and
//! master key rotation over every sealed value.

use roster_domain::AccountId;
use roster_store::{
    KeyRotation, MasterKey, MasterKeyError, NewCertificate, SigningCertificate, Store, StoreError,
};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use super::connections::{SECRET, settings};
use super::harness::{Raw, TestDb, contract_test};

const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-not-a-real-key\n-----END PRIVATE KEY-----\n";

fn certificate(thumbprint: &str, key_pem: &str, created_days_ago: i64) -> NewCertificate {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    NewCertificate {
        thumbprint: thumbprint.to_owned(),
        sha256_thumbprint: format!("s256-{thumbprint}"),
        not_before: now - Duration::days(created_days_ago),
        not_after: now + Duration::days(365 - created_days_ago),
        certificate_der: format!("der of {thumbprint}").into_bytes(),
        private_key_pem: SecretString::from(key_pem.to_owned()),
    }
}

async fn connected(db: &TestDb, name: &str, domain: &str) -> AccountId {
    let account = db.account(name, &[domain]).await;
    db.store
        .set_connection(account.id, settings(domain), Some(SECRET.into()))
        .await
        .unwrap();
    account.id
}

fn keys(opened: &[SigningCertificate]) -> Vec<(&str, &str)> {
    opened
        .iter()
        .map(|c| {
            (
                c.info.thumbprint.as_str(),
                c.private_key_pem.expose_secret(),
            )
        })
        .collect()
}

contract_test!(
    a_certificates_private_key_is_sealed_and_never_listed,
    |db| {
        let contoso = connected(&db, "Contoso", "contoso.com").await;
        let info = db
            .store
            .add_certificate(contoso, certificate("ab01", KEY_PEM, 0))
            .await
            .unwrap();
        assert_eq!(
            info.thumbprint, "AB01",
            "thumbprints are kept in upper case"
        );

        let opened = db.store.signing_certificates(contoso).await.unwrap();
        assert_eq!(keys(&opened), [("AB01", KEY_PEM)]);
        assert_eq!(opened[0].certificate_der, b"der of ab01");
        for named in ["ab01", "AB01", "s256-ab01"] {
            assert_eq!(
                db.store.certificate(contoso, named).await.unwrap().der,
                b"der of ab01",
                "the public certificate to download, named by {named}"
            );
        }
        let elsewhere = connected(&db, "Fabrikam", "fabrikam.com").await;
        assert!(matches!(
            db.store.certificate(elsewhere, "AB01").await,
            Err(StoreError::CertificateNotFound(_))
        ));

        let connection = db.store.connection(contoso).await.unwrap().unwrap();
        assert_eq!(connection.certificates, [info]);
        let shown = format!(
            "{connection:?} {opened:?} {:?}",
            db.store.list_connections().await.unwrap()
        );
        assert!(
            !shown.contains("PRIVATE KEY"),
            "the key leaked into {shown}"
        );

        // At rest: ciphertext under the master key's id, with no trace of the PEM text.
        let in_clear = db
        .raw(
            "UPDATE connection_certificates SET thumbprint = thumbprint WHERE instr(key_ciphertext, $1) > 0",
            vec![Raw::Bytes(b"BEGIN PRIVATE KEY".to_vec())],
        )
        .await
        .unwrap();
        assert_eq!(in_clear, 0, "the private key is stored in the clear");
        let under_key = db
            .raw(
                "UPDATE connection_certificates SET thumbprint = thumbprint WHERE key_key_id = $1",
                vec![Raw::Text(Box::leak(
                    db.key.id().to_owned().into_boxed_str(),
                ))],
            )
            .await
            .unwrap();
        assert_eq!(under_key, 1);
    }
);

contract_test!(
    a_private_key_moved_to_another_certificate_does_not_open,
    |db| {
        let contoso = connected(&db, "Contoso", "contoso.com").await;
        db.store
            .add_certificate(contoso, certificate("AA", "key of AA", 0))
            .await
            .unwrap();
        db.store
            .add_certificate(contoso, certificate("BB", "key of BB", 1))
            .await
            .unwrap();
        db.raw(
        "UPDATE connection_certificates SET \
         key_ciphertext = (SELECT key_ciphertext FROM connection_certificates WHERE thumbprint = 'AA'), \
         key_nonce = (SELECT key_nonce FROM connection_certificates WHERE thumbprint = 'AA') \
         WHERE thumbprint = 'BB'",
        vec![],
    )
    .await
    .unwrap();
        let opened = db.store.signing_certificates(contoso).await;
        assert!(
            matches!(opened, Err(StoreError::MasterKey(MasterKeyError::Tampered))),
            "{opened:?}"
        );
    }
);

contract_test!(
    two_certificates_are_kept_newest_first_and_removed_by_thumbprint,
    |db| {
        let contoso = connected(&db, "Contoso", "contoso.com").await;
        let old = db
            .store
            .add_certificate(contoso, certificate("0LD", "old key", 300))
            .await
            .unwrap();
        let new = db
            .store
            .add_certificate(contoso, certificate("NEW", "new key", 0))
            .await
            .unwrap();
        let opened = db.store.signing_certificates(contoso).await.unwrap();
        assert_eq!(keys(&opened), [("NEW", "new key"), ("0LD", "old key")]);
        assert_eq!(
            db.store
                .connection(contoso)
                .await
                .unwrap()
                .unwrap()
                .certificates,
            [new.clone(), old.clone()]
        );

        let again = db
            .store
            .add_certificate(contoso, certificate("new", "another key", 0))
            .await;
        assert!(matches!(again, Err(StoreError::CertificateExists(t)) if t == "NEW"));

        // By the SHA-1 thumbprint in any case, or by the SHA-256 one.
        db.store.remove_certificate(contoso, "0ld").await.unwrap();
        db.store
            .remove_certificate(contoso, &new.sha256_thumbprint)
            .await
            .unwrap();
        assert!(
            db.store
                .signing_certificates(contoso)
                .await
                .unwrap()
                .is_empty()
        );
        let gone = db.store.remove_certificate(contoso, "NEW").await;
        assert!(
            matches!(gone, Err(StoreError::CertificateNotFound(_))),
            "{gone:?}"
        );
    }
);

contract_test!(a_certificate_needs_a_connection_and_goes_with_it, |db| {
    let lonely = db.account("Lonely", &["lonely.example"]).await;
    let refused = db
        .store
        .add_certificate(lonely.id, certificate("AA", KEY_PEM, 0))
        .await;
    assert!(
        matches!(refused, Err(StoreError::ConnectionNotFound(_))),
        "{refused:?}"
    );

    let contoso = connected(&db, "Contoso", "contoso.com").await;
    db.store
        .add_certificate(contoso, certificate("AA", KEY_PEM, 0))
        .await
        .unwrap();
    db.store.delete_connection(contoso).await.unwrap();
    db.store
        .set_connection(contoso, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    assert!(
        db.store
            .signing_certificates(contoso)
            .await
            .unwrap()
            .is_empty()
    );
});

contract_test!(
    rotating_the_master_key_reseals_every_secret_and_refuses_the_old_key,
    |db| {
        let contoso = connected(&db, "Contoso", "contoso.com").await;
        let fabrikam = connected(&db, "Fabrikam", "fabrikam.com").await;
        db.store
            .add_certificate(contoso, certificate("AA", KEY_PEM, 0))
            .await
            .unwrap();

        let new_key = MasterKey::generate();
        let rotation = db.store.rotate_master_key(&new_key).await.unwrap();
        assert_eq!(
            rotation,
            KeyRotation {
                client_secrets: 2,
                private_keys: 1,
                already_rotated: 0
            }
        );

        // The old key opens nothing any more, and says so.
        let old_secret = db.store.connection_secret(fabrikam).await;
        assert!(
            matches!(
                old_secret,
                Err(StoreError::MasterKey(MasterKeyError::WrongKey))
            ),
            "{:?}",
            old_secret.map(|s| s.expose_secret().len())
        );
        let old_key = db.store.signing_certificates(contoso).await;
        assert!(
            matches!(
                old_key,
                Err(StoreError::MasterKey(MasterKeyError::WrongKey))
            ),
            "{old_key:?}"
        );

        let rotated = db.reopen_with(new_key.clone()).await;
        assert_eq!(
            rotated
                .connection_secret(contoso)
                .await
                .unwrap()
                .expose_secret(),
            SECRET
        );
        assert_eq!(
            keys(&rotated.signing_certificates(contoso).await.unwrap()),
            [("AA", KEY_PEM)]
        );
        // Running it again (say after a crash before the key file was swapped) changes nothing.
        assert_eq!(
            rotated.rotate_master_key(&new_key).await.unwrap(),
            KeyRotation {
                client_secrets: 0,
                private_keys: 0,
                already_rotated: 3
            }
        );
    }
);

contract_test!(a_secret_under_a_third_key_stops_the_whole_rotation, |db| {
    let contoso = connected(&db, "Contoso", "contoso.com").await;
    db.store
        .add_certificate(contoso, certificate("AA", KEY_PEM, 0))
        .await
        .unwrap();
    let stranger_key = MasterKey::generate();
    let stranger: Store = db.reopen_with(stranger_key.clone()).await;
    let tailspin = db.account("Tailspin", &["tailspin.example"]).await;
    stranger
        .set_connection(
            tailspin.id,
            settings("tailspin.example"),
            Some("other".into()),
        )
        .await
        .unwrap();

    let refused = db.store.rotate_master_key(&MasterKey::generate()).await;
    let Err(StoreError::RotationKeyMismatch { found, current }) = &refused else {
        panic!("expected RotationKeyMismatch, got {refused:?}");
    };
    assert_eq!(found, stranger_key.id());
    assert_eq!(current, db.key.id());
    // Nothing was re-sealed: the current key still opens what it sealed.
    assert_eq!(
        db.store
            .connection_secret(contoso)
            .await
            .unwrap()
            .expose_secret(),
        SECRET
    );
    assert_eq!(
        keys(&db.store.signing_certificates(contoso).await.unwrap()),
        [("AA", KEY_PEM)]
    );
});

contract_test!(
    a_certificate_is_read_without_its_key_by_either_thumbprint_in_its_own_account_only,
    |db| {
        let contoso = connected(&db, "Contoso", "contoso.com").await;
        let fabrikam = connected(&db, "Fabrikam", "fabrikam.com").await;
        let info = db
            .store
            .add_certificate(contoso, certificate("cd02", KEY_PEM, 0))
            .await
            .unwrap();

        let by_sha1 = db.store.certificate(contoso, "cd02").await.unwrap();
        assert_eq!(
            (&by_sha1.info, by_sha1.der.as_slice()),
            (&info, b"der of cd02".as_slice())
        );
        let by_sha256 = db.store.certificate(contoso, "s256-cd02").await.unwrap();
        assert_eq!(by_sha256, by_sha1);
        assert!(!format!("{by_sha1:?}").contains("PRIVATE KEY"));
        assert!(matches!(
            db.store.certificate(fabrikam, "cd02").await,
            Err(StoreError::CertificateNotFound(t)) if t == "cd02"
        ));
    }
);
