use roster_domain::plan::ChangeAction;
use roster_domain::{AccountId, GroupId, NewUserRole, Role, Source, User};
use roster_store::{GroupEntry, GroupQuery, MemberQuery, Reach, UserQuery};

use super::harness::{TestDb, add_group, address, contract_test, external, user_fields};
use super::users::manual_user;

fn add_user(id: &str, primary: &str) -> ChangeAction {
    ChangeAction::AddUser {
        external_id: external(id),
        fields: user_fields(primary, &[]),
        role: NewUserRole::EndUser,
    }
}

fn addresses(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.primary_address.as_str()).collect()
}

fn names(groups: &[GroupEntry]) -> Vec<&str> {
    groups.iter().map(|g| g.name.as_str()).collect()
}

async fn group_id(db: &TestDb, account: AccountId, name: &str) -> GroupId {
    let groups = db.store.list_groups(account).await.unwrap();
    groups
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name}"))
        .id
}

/// Contoso: "All" holds ann and the nested "Sales", which holds bob and, back again, "All"
/// (a cycle); "Sales" also holds "Deals", which holds cy. Dan is in no group.
async fn contoso_with_nested_groups(db: &TestDb) -> AccountId {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let changes = [
        add_user("u-ann", "ann@contoso.com"),
        add_user("u-bob", "bob@contoso.com"),
        add_user("u-cy", "cy@contoso.com"),
        add_user("u-dan", "dan@contoso.com"),
        add_group(
            "g-all",
            "All",
            Some("all@contoso.com"),
            &["u-ann"],
            &["g-sales"],
        ),
        add_group(
            "g-sales",
            "Sales",
            Some("sales@contoso.com"),
            &["u-bob", "u-ann"],
            &["g-all", "g-deals"],
        ),
        add_group("g-deals", "Deals", None, &["u-cy"], &[]),
    ];
    db.store.apply_changes(contoso.id, &changes).await.unwrap();
    contoso.id
}

contract_test!(
    a_groups_recipients_are_its_transitive_members_each_once_through_cycles,
    |db| {
        let contoso = contoso_with_nested_groups(&db).await;
        let all = group_id(&db, contoso, "All").await;
        let query = |reach, after: Option<&str>, limit| MemberQuery {
            reach,
            after: after.map(address),
            limit,
        };

        let direct = db
            .store
            .group_users_page(contoso, all, &query(Reach::Direct, None, 10))
            .await
            .unwrap();
        assert_eq!(addresses(&direct), ["ann@contoso.com"]);
        let recipients = db
            .store
            .group_users_page(contoso, all, &query(Reach::Recipients, None, 10))
            .await
            .unwrap();
        assert_eq!(
            addresses(&recipients),
            ["ann@contoso.com", "bob@contoso.com", "cy@contoso.com"],
            "nested groups expanded at any depth, the cycle back to All ends, ann counted once"
        );
        assert_eq!(db.store.recipient_count(contoso, all).await.unwrap(), 3);

        let first = db
            .store
            .group_users_page(contoso, all, &query(Reach::Recipients, None, 2))
            .await
            .unwrap();
        let second = db
            .store
            .group_users_page(
                contoso,
                all,
                &query(Reach::Recipients, Some("bob@contoso.com"), 2),
            )
            .await
            .unwrap();
        assert_eq!(
            (addresses(&first), addresses(&second)),
            (
                vec!["ann@contoso.com", "bob@contoso.com"],
                vec!["cy@contoso.com"]
            ),
            "pages follow each other by primary address"
        );

        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        assert!(
            db.store
                .group_users_page(fabrikam.id, all, &query(Reach::Recipients, None, 10))
                .await
                .unwrap()
                .is_empty(),
            "another account's group reaches nobody"
        );
        assert_eq!(db.store.recipient_count(fabrikam.id, all).await.unwrap(), 0);
        assert!(db.store.group_entry(fabrikam.id, all).await.is_err());
    }
);

contract_test!(
    group_entries_name_addresses_and_member_counts_without_the_members,
    |db| {
        let contoso = contoso_with_nested_groups(&db).await;
        let sales = group_id(&db, contoso, "Sales").await;

        let entry = db.store.group_entry(contoso, sales).await.unwrap();
        assert_eq!(
            (
                entry.name.as_str(),
                entry.address.as_ref().map(|a| a.as_str()),
                entry.member_users,
                entry.member_groups,
                entry.source,
                entry.external_id,
            ),
            (
                "Sales",
                Some("sales@contoso.com"),
                2,
                2,
                Source::Directory,
                Some(external("g-sales")),
            )
        );
        assert_eq!(
            names(&db.store.nested_groups(contoso, sales).await.unwrap()),
            ["All", "Deals"]
        );

        let ann = db
            .store
            .users_page(
                contoso,
                &UserQuery {
                    search: Some("ann@".to_owned()),
                    limit: 1,
                    ..UserQuery::default()
                },
            )
            .await
            .unwrap()
            .remove(0);
        assert_eq!(
            names(&db.store.groups_of_user(contoso, ann.id).await.unwrap()),
            ["All", "Sales"],
            "the groups that have ann as a direct member"
        );
    }
);

contract_test!(groups_page_by_name_with_search_and_paging, |db| {
    let contoso = contoso_with_nested_groups(&db).await;
    let page = |after, search: Option<&str>, limit| GroupQuery {
        after,
        limit,
        search: search.map(ToOwned::to_owned),
    };

    let first = db
        .store
        .groups_page(contoso, &page(None, None, 2))
        .await
        .unwrap();
    assert_eq!(names(&first), ["All", "Deals"]);
    let rest = db
        .store
        .groups_page(contoso, &page(Some(first[1].id), None, 2))
        .await
        .unwrap();
    assert_eq!(names(&rest), ["Sales"]);
    assert_eq!(
        names(
            &db.store
                .groups_page(contoso, &page(None, Some("DEAL"), 10))
                .await
                .unwrap()
        ),
        ["Deals"],
        "by name, case-insensitively"
    );
    assert_eq!(
        names(
            &db.store
                .groups_page(contoso, &page(None, Some("sales@"), 10))
                .await
                .unwrap()
        ),
        ["Sales"],
        "by address"
    );
    assert_eq!(
        names(
            &db.store
                .groups_page(contoso, &page(None, Some("100%"), 10))
                .await
                .unwrap()
        ),
        Vec::<&str>::new(),
        "wildcards in the search are plain text"
    );
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
    assert!(
        db.store
            .groups_page(fabrikam.id, &page(None, None, 10))
            .await
            .unwrap()
            .is_empty()
    );
});

/// `contoso_with_nested_groups` and two manual users beside the synced ones: an end user and
/// a silent user, so that pages can be filtered by role and by source.
async fn contoso_with_manual_users(db: &TestDb) -> AccountId {
    let contoso = contoso_with_nested_groups(db).await;
    for (primary, role) in [
        ("eve@contoso.com", Role::EndUser),
        ("printer@contoso.com", Role::SilentUser),
    ] {
        db.store
            .add_user(
                contoso,
                roster_store::NewUser {
                    role,
                    ..manual_user(primary, &[])
                },
            )
            .await
            .unwrap();
    }
    contoso
}

contract_test!(users_page_filters_by_role_source_and_text_and_pages, |db| {
    let contoso = contoso_with_manual_users(&db).await;
    let page = |query: UserQuery| {
        let store = db.store.clone();
        async move { store.users_page(contoso, &query).await.unwrap() }
    };
    let all = UserQuery {
        limit: 100,
        ..UserQuery::default()
    };

    assert_eq!(
        addresses(
            &page(UserQuery {
                source: Some(Source::Manual),
                ..all.clone()
            })
            .await
        ),
        ["eve@contoso.com", "printer@contoso.com"]
    );
    assert_eq!(
        addresses(
            &page(UserQuery {
                source: Some(Source::Directory),
                role: Some(Role::EndUser),
                after: Some(address("bob@contoso.com")),
                limit: 2,
                ..UserQuery::default()
            })
            .await
        ),
        ["cy@contoso.com", "dan@contoso.com"],
        "synced end users after bob, two at a time"
    );
    assert_eq!(
        addresses(
            &page(UserQuery {
                role: Some(Role::SilentUser),
                ..all.clone()
            })
            .await
        ),
        ["printer@contoso.com"]
    );
    assert_eq!(
        addresses(
            &page(UserQuery {
                search: Some("Jane Doe".to_owned()),
                ..all.clone()
            })
            .await
        ),
        ["eve@contoso.com", "printer@contoso.com"],
        "by name as well as by address"
    );
});

contract_test!(
    users_page_before_an_address_is_the_page_just_before_it_in_order,
    |db| {
        let contoso = contoso_with_manual_users(&db).await;
        let page = |query: UserQuery| {
            let store = db.store.clone();
            async move { store.users_page(contoso, &query).await.unwrap() }
        };
        let end_users_two_at_a_time = UserQuery {
            role: Some(Role::EndUser),
            limit: 2,
            ..UserQuery::default()
        };

        assert_eq!(
            addresses(
                &page(UserQuery {
                    before: Some(address("printer@contoso.com")),
                    ..end_users_two_at_a_time.clone()
                })
                .await
            ),
            ["dan@contoso.com", "eve@contoso.com"],
            "the two end users nearest before printer (a silent user), first to last"
        );
        assert_eq!(
            addresses(
                &page(UserQuery {
                    before: Some(address("dan@contoso.com")),
                    ..end_users_two_at_a_time.clone()
                })
                .await
            ),
            ["bob@contoso.com", "cy@contoso.com"]
        );
        assert_eq!(
            addresses(
                &page(UserQuery {
                    before: Some(address("bob@contoso.com")),
                    ..end_users_two_at_a_time.clone()
                })
                .await
            ),
            ["ann@contoso.com"],
            "the first page, short: nothing comes before it"
        );
        assert_eq!(
            addresses(
                &page(UserQuery {
                    before: Some(address("printer@contoso.com")),
                    source: Some(Source::Directory),
                    search: Some("contoso".to_owned()),
                    ..end_users_two_at_a_time.clone()
                })
                .await
            ),
            ["cy@contoso.com", "dan@contoso.com"],
            "every filter applies: eve was added by hand"
        );
    }
);

contract_test!(exempt_among_names_only_this_accounts_exemptions, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
    db.store
        .add_exemption(contoso.id, external("u-1"), "test")
        .await
        .unwrap();
    db.store
        .add_exemption(fabrikam.id, external("u-2"), "test")
        .await
        .unwrap();

    let exempt = db
        .store
        .exempt_among(
            contoso.id,
            &[external("u-1"), external("u-2"), external("u-3")],
        )
        .await
        .unwrap();
    assert_eq!(exempt.into_iter().collect::<Vec<_>>(), [external("u-1")]);
    assert!(
        db.store
            .exempt_among(contoso.id, &[])
            .await
            .unwrap()
            .is_empty()
    );
});
