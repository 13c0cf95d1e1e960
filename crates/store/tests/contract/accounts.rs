use roster_domain::TechContact;
use roster_store::{AccountRef, NewAccount, StoreError};

use super::harness::{Raw, address, assert_refused, contract_test, domain};

contract_test!(an_account_name_is_unique, |db| {
    db.account("Contoso", &["contoso.com"]).await;
    let second = db
        .store
        .create_account(NewAccount {
            name: "Contoso".into(),
            domains: vec![domain("contoso.org")],
            tech_contact: None,
        })
        .await;
    assert!(matches!(second, Err(StoreError::AccountNameTaken(name)) if name == "Contoso"));
});

contract_test!(an_account_needs_at_least_one_domain, |db| {
    let created = db
        .store
        .create_account(NewAccount {
            name: "Empty".into(),
            domains: vec![],
            tech_contact: None,
        })
        .await;
    assert!(matches!(created, Err(StoreError::AccountNeedsDomain)));
});

contract_test!(a_domain_belongs_to_one_account_only, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;

    let added = db
        .store
        .add_domain(fabrikam.id, domain("contoso.com"))
        .await;
    match added {
        Err(StoreError::DomainTaken { domain: d, owner }) => {
            assert_eq!((d.as_str(), owner.as_str()), ("contoso.com", "Contoso"))
        }
        other => panic!("expected DomainTaken, got {other:?}"),
    }
    let created = db
        .store
        .create_account(NewAccount {
            name: "Third".into(),
            domains: vec![domain("contoso.com")],
            tech_contact: None,
        })
        .await;
    assert!(matches!(created, Err(StoreError::DomainTaken { .. })));

    // The schema refuses it too, whatever the code does.
    let raw = db
        .raw(
            "INSERT INTO domains (domain, account_id) VALUES ($1, $2)",
            vec![Raw::Text("contoso.com"), Raw::Uuid(fabrikam.id.as_uuid())],
        )
        .await;
    assert_refused(raw, "a second owner of a domain was stored");
    assert_eq!(
        db.store
            .account(&AccountRef::Id(contoso.id))
            .await
            .unwrap()
            .domains,
        vec![domain("contoso.com")]
    );
});

contract_test!(
    of_two_accounts_adding_one_domain_at_once_exactly_one_gets_it,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        let (first, second) = tokio::join!(
            db.store.add_domain(contoso.id, domain("shared.example")),
            db.store.add_domain(fabrikam.id, domain("shared.example")),
        );
        let refused: Vec<_> = [&first, &second]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
            .collect();
        assert!(
            matches!(refused[..], [StoreError::DomainTaken { .. }]),
            "{first:?} {second:?}"
        );
    }
);

contract_test!(an_account_is_found_by_id_or_by_name, |db| {
    let contoso = db
        .account("Contoso Ltd", &["contoso.com", "contoso.org"])
        .await;
    let by_name = db
        .store
        .account(&"Contoso Ltd".parse().unwrap())
        .await
        .unwrap();
    let by_id = db
        .store
        .account(&contoso.id.to_string().parse().unwrap())
        .await
        .unwrap();
    assert_eq!(by_name, by_id);
    assert_eq!(
        by_id.domains,
        vec![domain("contoso.com"), domain("contoso.org")]
    );
    let missing = db.store.account(&"Nobody".parse().unwrap()).await;
    assert!(matches!(missing, Err(StoreError::AccountNotFound(name)) if name == "Nobody"));
    assert_eq!(db.store.list_accounts().await.unwrap(), vec![by_id]);
});

contract_test!(the_tech_contact_can_be_set_and_cleared, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let contact = TechContact {
        name: "Ada".into(),
        email: address("ada@elsewhere.example"),
    };
    db.store
        .set_tech_contact(contoso.id, Some(contact.clone()))
        .await
        .unwrap();
    assert_eq!(
        db.store
            .account(&contoso.id.into())
            .await
            .unwrap()
            .tech_contact,
        Some(contact)
    );
    db.store.set_tech_contact(contoso.id, None).await.unwrap();
    assert_eq!(
        db.store
            .account(&contoso.id.into())
            .await
            .unwrap()
            .tech_contact,
        None
    );
});

contract_test!(a_domain_in_use_cannot_be_removed, |db| {
    let contoso = db.account("Contoso", &["contoso.com", "contoso.org"]).await;
    db.store
        .add_user(
            contoso.id,
            super::users::manual_user("jane@contoso.org", &[]),
        )
        .await
        .unwrap();

    let removed = db
        .store
        .remove_domain(contoso.id, &domain("contoso.org"))
        .await;
    assert!(
        matches!(removed, Err(StoreError::DomainInUse { addresses: 1, .. })),
        "{removed:?}"
    );
    let raw = db
        .raw(
            "DELETE FROM domains WHERE domain = $1",
            vec![Raw::Text("contoso.org")],
        )
        .await;
    assert_refused(raw, "the schema let a domain in use go");

    db.store
        .remove_domain(contoso.id, &domain("contoso.com"))
        .await
        .unwrap();
    assert_eq!(
        db.store.account(&contoso.id.into()).await.unwrap().domains,
        vec![domain("contoso.org")]
    );
});

contract_test!(the_last_domain_of_an_account_stays, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let removed = db
        .store
        .remove_domain(contoso.id, &domain("contoso.com"))
        .await;
    assert!(matches!(removed, Err(StoreError::LastDomain(_))));
});
