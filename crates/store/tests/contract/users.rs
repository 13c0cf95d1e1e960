use roster_domain::plan::ChangeAction;
use roster_domain::{NewUserRole, Principal, Role, Source};
use roster_store::{ChangeFailure, NewAdmin, NewUser, OwnedBy, StoreError};
use secrecy::SecretString;

use super::harness::{
    Raw, add_group, address, assert_refused, contract_test, external, user_fields,
};

pub fn manual_user(primary: &str, aliases: &[&str]) -> NewUser {
    NewUser {
        primary_address: address(primary),
        aliases: aliases.iter().map(|a| address(a)).collect(),
        first_name: Some("Jane".into()),
        last_name: Some("Doe".into()),
        display_name: Some("Jane Doe".into()),
        role: Role::EndUser,
        digests: None,
    }
}

contract_test!(a_manual_user_round_trips_and_gets_digests_by_role, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let jane = db
        .store
        .add_user(
            contoso.id,
            manual_user(
                "Jane@Contoso.com",
                &["j.doe@contoso.com", "jane@contoso.com"],
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        jane.aliases,
        vec![address("j.doe@contoso.com")],
        "the primary is not repeated as an alias"
    );
    assert!(jane.digests && jane.source == Source::Manual && jane.version == 1);
    let silent = db
        .store
        .add_user(
            contoso.id,
            NewUser {
                role: Role::SilentUser,
                ..manual_user("printer@contoso.com", &[])
            },
        )
        .await
        .unwrap();
    assert!(!silent.digests, "silent users get no digests unless asked");

    assert_eq!(db.store.user(contoso.id, jane.id).await.unwrap(), jane);
    assert_eq!(
        db.store.list_users(contoso.id).await.unwrap(),
        vec![jane.clone(), silent]
    );
    db.store.remove_user(contoso.id, jane.id).await.unwrap();
    assert!(matches!(
        db.store.user(contoso.id, jane.id).await,
        Err(StoreError::UserNotFound(_))
    ));
    // Its addresses are free again.
    db.store
        .add_user(contoso.id, manual_user("j.doe@contoso.com", &[]))
        .await
        .unwrap();
});

contract_test!(an_address_belongs_to_one_object_across_accounts, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
    let jane = db
        .store
        .add_user(contoso.id, manual_user("jane@contoso.com", &[]))
        .await
        .unwrap();

    // Fabrikam cannot even name Contoso's domain, so the conflict is over the domain first …
    let added = db
        .store
        .add_user(
            fabrikam.id,
            manual_user("joe@fabrikam.com", &["jane@contoso.com"]),
        )
        .await;
    assert!(
        matches!(added, Err(StoreError::AddressOutsideDomains { address: a }) if a.as_str() == "jane@contoso.com")
    );
    // … and the schema refuses a second row for the address, whoever would own it.
    let raw = db
        .raw_alias("jane@contoso.com", fabrikam.id, "contoso.com", jane.id)
        .await;
    assert_refused(raw, "a second owner of an address was stored");

    let elsewhere = db
        .store
        .addresses_owned_elsewhere(
            fabrikam.id,
            &[address("jane@contoso.com"), address("free@contoso.com")],
        )
        .await
        .unwrap();
    assert_eq!(
        elsewhere.into_iter().collect::<Vec<_>>(),
        vec![(address("jane@contoso.com"), "Contoso".to_owned())]
    );
    assert!(
        db.store
            .addresses_owned_elsewhere(contoso.id, &[address("jane@contoso.com")])
            .await
            .unwrap()
            .is_empty()
    );
});

contract_test!(an_address_belongs_to_one_object_within_an_account, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let jane = db
        .store
        .add_user(
            contoso.id,
            manual_user("jane@contoso.com", &["sales@contoso.com"]),
        )
        .await
        .unwrap();

    let second_user = db
        .store
        .add_user(contoso.id, manual_user("sales@contoso.com", &[]))
        .await;
    match second_user {
        Err(StoreError::AddressTaken { address: a, owner }) => {
            assert_eq!(a.as_str(), "sales@contoso.com");
            assert_eq!(
                (owner.object, owner.account_name.as_str()),
                (OwnedBy::User(jane.id), "Contoso")
            );
        }
        other => panic!("expected AddressTaken, got {other:?}"),
    }
    let joe = db
        .store
        .add_user(contoso.id, manual_user("joe@contoso.com", &[]))
        .await
        .unwrap();
    let raw = db
        .raw_alias("sales@contoso.com", contoso.id, "contoso.com", joe.id)
        .await;
    assert_refused(raw, "the schema gave one address to two users");

    let group = add_group("g-sales", "Sales", Some("sales@contoso.com"), &[], &[]);
    let outcome = db.store.apply_changes(contoso.id, &[group]).await.unwrap();
    assert!(
        matches!(&outcome[..], [Err(ChangeFailure::AddressTaken { owner, .. })] if owner.object == OwnedBy::User(jane.id)),
        "{outcome:?}"
    );
});

contract_test!(
    of_two_users_claiming_one_address_at_once_exactly_one_gets_it,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let (first, second) = tokio::join!(
            db.store.add_user(
                contoso.id,
                manual_user("one@contoso.com", &["shared@contoso.com"])
            ),
            db.store.add_user(
                contoso.id,
                manual_user("two@contoso.com", &["shared@contoso.com"])
            ),
        );
        let refused: Vec<_> = [&first, &second]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
            .collect();
        assert!(
            matches!(
                refused[..],
                [StoreError::AddressTaken { .. } | StoreError::ConcurrentClaim { .. }]
            ),
            "{first:?} {second:?}"
        );
        assert_eq!(db.store.list_users(contoso.id).await.unwrap().len(), 1);
    }
);

contract_test!(an_address_must_be_in_one_of_the_accounts_domains, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let added = db
        .store
        .add_user(
            contoso.id,
            manual_user("jane@contoso.com", &["jane@gmail.com"]),
        )
        .await;
    assert!(
        matches!(added, Err(StoreError::AddressOutsideDomains { address: a }) if a.as_str() == "jane@gmail.com")
    );
    assert!(
        db.store.list_users(contoso.id).await.unwrap().is_empty(),
        "a refused user leaves nothing behind"
    );

    let add = ChangeAction::AddUser {
        external_id: external("u-1"),
        fields: user_fields("joe@gmail.com", &[]),
        role: NewUserRole::EndUser,
    };
    let outcome = db.store.apply_changes(contoso.id, &[add]).await.unwrap();
    assert!(
        matches!(
            &outcome[..],
            [Err(ChangeFailure::AddressOutsideDomains { .. })]
        ),
        "{outcome:?}"
    );

    let jane = db
        .store
        .add_user(contoso.id, manual_user("jane@contoso.com", &[]))
        .await
        .unwrap();
    db.account("Gmail", &["gmail.com"]).await;
    let raw = db
        .raw_alias("jane@gmail.com", contoso.id, "gmail.com", jane.id)
        .await;
    assert_refused(
        raw,
        "the schema stored an address in another account's domain",
    );
});

contract_test!(an_admin_logs_in_with_the_right_password_only, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let password = || SecretString::from("correct horse battery staple");
    let admin = db
        .store
        .create_admin(
            contoso.id,
            NewAdmin {
                address: address("admin@contoso.com"),
                display_name: None,
                password: password(),
            },
        )
        .await
        .unwrap();
    assert_eq!(admin.role, Role::OrganizationAdmin);

    let ok = db
        .store
        .verify_password_login(&address("admin@contoso.com"), password())
        .await
        .unwrap();
    assert_eq!(
        ok,
        Some(Principal::User {
            user_id: admin.id,
            account_id: contoso.id,
            role: Role::OrganizationAdmin
        })
    );
    let bad = db
        .store
        .verify_password_login(
            &address("admin@contoso.com"),
            SecretString::from("wrong password!!"),
        )
        .await
        .unwrap();
    assert!(bad.is_none());
    let unknown = db
        .store
        .verify_password_login(&address("nobody@contoso.com"), password())
        .await
        .unwrap();
    assert!(unknown.is_none());

    let short = db
        .store
        .create_admin(
            contoso.id,
            NewAdmin {
                address: address("a2@contoso.com"),
                display_name: None,
                password: "short".into(),
            },
        )
        .await;
    assert!(matches!(short, Err(StoreError::PasswordTooShort { .. })));
    let shown = format!(
        "{:?}",
        NewAdmin {
            address: address("a3@contoso.com"),
            display_name: None,
            password: password()
        }
    );
    assert!(!shown.contains("horse"), "{shown}");
    assert!(!format!("{:?}", db.store.list_users(contoso.id).await.unwrap()).contains("argon2"));
});

contract_test!(a_user_left_without_addresses_is_reported_not_hidden, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let ann = db
        .store
        .add_user(
            contoso.id,
            manual_user("ann@contoso.com", &["a@contoso.com"]),
        )
        .await
        .unwrap();
    db.store
        .add_user(contoso.id, manual_user("bob@contoso.com", &[]))
        .await
        .unwrap();
    // Only a damaged database holds such a user: the store never writes one.
    let deleted = db
        .raw(
            "DELETE FROM addresses WHERE user_id = $1",
            vec![Raw::Uuid(ann.id.as_uuid())],
        )
        .await;
    assert_eq!(deleted, Ok(2));
    let listed = db.store.list_users(contoso.id).await;
    assert!(
        matches!(&listed, Err(StoreError::Corrupt { what: "user", .. })),
        "{listed:?}"
    );
    let read = db.store.user(contoso.id, ann.id).await;
    assert!(
        matches!(&read, Err(StoreError::Corrupt { what: "user", .. })),
        "{read:?}"
    );
    assert!(matches!(
        db.store
            .user(contoso.id, roster_domain::UserId::new())
            .await,
        Err(StoreError::UserNotFound(_))
    ));
});

contract_test!(
    a_manual_user_without_a_display_name_is_named_by_first_and_last_name,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let unnamed = |primary: &str, first: Option<&str>, last: Option<&str>| NewUser {
            first_name: first.map(ToOwned::to_owned),
            last_name: last.map(ToOwned::to_owned),
            display_name: None,
            ..manual_user(primary, &[])
        };
        for (new, expected) in [
            (
                unnamed("ann@contoso.com", Some("Ann"), Some("Lee")),
                Some("Ann Lee"),
            ),
            (unnamed("bob@contoso.com", None, Some("Bob")), Some("Bob")),
            (unnamed("box@contoso.com", None, None), None),
        ] {
            let user = db.store.add_user(contoso.id, new).await.unwrap();
            let read = db.store.user(contoso.id, user.id).await.unwrap();
            assert_eq!(read.display_name.as_deref(), expected);
            assert_eq!(read, user);
        }
    }
);
