use roster_domain::{
    Cloud, ConnectionSettings, DeletionLimit, Frequency, NewUserRole, SyncActions, SyncScope,
};
use roster_store::{MasterKey, MasterKeyError, MirrorRefresh, StoreError};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use super::harness::{Raw, assert_refused, contract_test, external};

pub const SECRET: &str = "Qx8~q1Zv.secret-value_0123456789";

pub fn settings(tenant: &str) -> ConnectionSettings {
    ConnectionSettings {
        tenant: tenant.parse().unwrap(),
        client_id: "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".parse().unwrap(),
        cloud: Cloud::Global,
        default_role: NewUserRole::EndUser,
        scope: SyncScope::default(),
        actions: SyncActions::default(),
        frequency: Frequency::Hours(6),
        deletion_limit: DeletionLimit::default(),
        include_sign_in_blocked: false,
        credential: Default::default(),
        key_expires_on: None,
    }
}

contract_test!(a_first_connection_needs_a_secret, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let saved = db
        .store
        .set_connection(contoso.id, settings("contoso.com"), None)
        .await;
    assert!(matches!(saved, Err(StoreError::SecretRequired)));
    assert_eq!(db.store.connection(contoso.id).await.unwrap(), None);
});

contract_test!(an_account_has_at_most_one_connection, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let first = db
        .store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    let mut changed = settings("contoso.com");
    changed.frequency = Frequency::Never;
    let second = db
        .store
        .set_connection(contoso.id, changed.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        second.settings, changed,
        "saving again replaces the one connection"
    );
    assert_eq!(
        second.secret_set_at, first.secret_set_at,
        "the secret is kept when none is given"
    );
    assert_eq!(db.store.list_connections().await.unwrap(), vec![second]);

    let raw = db
        .raw(
            "INSERT INTO connections (account_id, settings, secret_ciphertext, secret_nonce, secret_key_id, secret_set_at, updated_at) \
             VALUES ($1, '{}', $2, $2, 'k', $3, $3)",
            vec![Raw::Uuid(contoso.id.as_uuid()), Raw::Bytes(vec![0; 12]), Raw::Time(OffsetDateTime::now_utc())],
        )
        .await;
    assert_refused(raw, "the schema stored a second connection for one account");
});

contract_test!(the_client_secret_round_trips_and_is_never_listed, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let saved = db
        .store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    assert_eq!(
        db.store
            .connection_secret(contoso.id)
            .await
            .unwrap()
            .expose_secret(),
        SECRET
    );

    let listed = format!(
        "{saved:?} {:?} {:?} {:?} {:?}",
        db.store.connection(contoso.id).await.unwrap(),
        db.store.list_connections().await.unwrap(),
        db.store.connection_secret(contoso.id).await.unwrap(),
        db.store,
    );
    assert!(!listed.contains(SECRET), "the secret leaked into {listed}");

    db.store
        .set_connection(
            contoso.id,
            settings("contoso.com"),
            Some("a-new-secret-value".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        db.store
            .connection_secret(contoso.id)
            .await
            .unwrap()
            .expose_secret(),
        "a-new-secret-value"
    );
});

contract_test!(a_wrong_master_key_is_a_clear_error_not_garbage, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    db.store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();

    let other = db.reopen_with(MasterKey::generate()).await;
    let opened = other.connection_secret(contoso.id).await;
    let Err(StoreError::MasterKey(MasterKeyError::WrongKey)) = &opened else {
        panic!(
            "expected WrongKey, got {:?}",
            opened.map(|s| s.expose_secret().len())
        );
    };
    let message = opened.unwrap_err().to_string();
    assert!(
        message.contains("ROSTER_MASTER_KEY")
            && message.contains("set the connection's secret again"),
        "{message}"
    );

    let same = db.reopen_with(db.key.clone()).await;
    assert_eq!(
        same.connection_secret(contoso.id)
            .await
            .unwrap()
            .expose_secret(),
        SECRET
    );
});

contract_test!(a_secret_moved_to_another_account_does_not_open, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
    db.store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    db.store
        .set_connection(
            fabrikam.id,
            settings("fabrikam.com"),
            Some("fabrikam-secret".into()),
        )
        .await
        .unwrap();
    db.raw(
        "UPDATE connections SET secret_ciphertext = (SELECT secret_ciphertext FROM connections WHERE account_id = $1), \
         secret_nonce = (SELECT secret_nonce FROM connections WHERE account_id = $1) WHERE account_id = $2",
        vec![Raw::Uuid(contoso.id.as_uuid()), Raw::Uuid(fabrikam.id.as_uuid())],
    )
    .await
    .unwrap();
    let opened = db
        .store
        .connection_secret(fabrikam.id)
        .await
        .map(|s| s.expose_secret().to_owned());
    assert!(
        matches!(opened, Err(StoreError::MasterKey(MasterKeyError::Tampered))),
        "{opened:?}"
    );
});

contract_test!(deleting_a_connection_deletes_its_mirror, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    db.store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    let refresh = MirrorRefresh {
        upsert_users: vec![super::mirror::directory_user("u-1", "jane@contoso.com")],
        users_delta_link: Some("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=a".into()),
        ..MirrorRefresh::default()
    };
    db.store
        .commit_mirror_delta(db.mirror_run(contoso.id).await, contoso.id, &refresh)
        .await
        .unwrap();
    db.store.delete_connection(contoso.id).await.unwrap();
    assert_eq!(db.store.connection(contoso.id).await.unwrap(), None);
    assert!(matches!(
        db.store.delete_connection(contoso.id).await,
        Err(StoreError::ConnectionNotFound(_))
    ));

    db.store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    let mirror = db.store.load_mirror(contoso.id).await.unwrap();
    assert!(
        mirror.users.is_empty() && mirror.delta_links.users.is_none(),
        "{mirror:?}"
    );
});

contract_test!(
    pointing_a_connection_at_another_tenant_discards_the_mirror,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        db.store
            .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
            .await
            .unwrap();
        let refresh = MirrorRefresh {
            upsert_users: vec![super::mirror::directory_user("u-1", "jane@contoso.com")],
            ..MirrorRefresh::default()
        };
        let run = db.mirror_run(contoso.id).await;
        db.store
            .commit_mirror_delta(run, contoso.id, &refresh)
            .await
            .unwrap();
        let run = db.store.run(contoso.id, run).await.unwrap();
        db.store
            .update_run(&roster_domain::run::Run {
                status: roster_domain::run::RunStatus::Succeeded,
                ..run
            })
            .await
            .unwrap();

        db.store
            .set_connection(contoso.id, settings("contoso.com"), None)
            .await
            .unwrap();
        assert_eq!(
            db.store.load_mirror(contoso.id).await.unwrap().users.len(),
            1,
            "the same tenant keeps its mirror"
        );
        db.store
            .set_connection(contoso.id, settings("contoso.onmicrosoft.com"), None)
            .await
            .unwrap();
        assert!(
            db.store
                .load_mirror(contoso.id)
                .await
                .unwrap()
                .users
                .is_empty()
        );
    }
);

contract_test!(exemptions_are_added_listed_and_removed, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let exempt = db
        .store
        .add_exemption(contoso.id, external("u-1"), "admin@contoso.com")
        .await
        .unwrap();
    let again = db
        .store
        .add_exemption(contoso.id, external("u-1"), "cli")
        .await;
    assert!(matches!(again, Err(StoreError::AlreadyExempt(id)) if id == external("u-1")));
    let listed = db.store.list_exemptions(contoso.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].external_id.clone(), listed[0].actor.as_str()),
        (exempt.external_id, "admin@contoso.com")
    );
    assert!(
        db.store
            .remove_exemption(contoso.id, &external("u-1"))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .remove_exemption(contoso.id, &external("u-1"))
            .await
            .unwrap()
    );
    assert!(
        db.store
            .list_exemptions(contoso.id)
            .await
            .unwrap()
            .is_empty()
    );
});
