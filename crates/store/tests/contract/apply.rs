use std::time::Instant;

use roster_domain::plan::{ChangeAction, MemberChanges, UserFields};
use roster_domain::{Group, NewUserRole, Role, Source, User};
use roster_store::{ChangeFailure, OwnedBy};

use roster_store::MirrorRefresh;

use super::connections::{SECRET, settings};
use super::harness::{
    TestDb, add_group, address, contract_test, external, group_fields, user_fields,
};
use super::mirror::{directory_group, directory_user};
use super::users::manual_user;

fn add_user(id: &str, primary: &str, aliases: &[&str]) -> ChangeAction {
    ChangeAction::AddUser {
        external_id: external(id),
        fields: user_fields(primary, aliases),
        role: NewUserRole::EndUser,
    }
}

async fn user_by_address(db: &TestDb, account: roster_domain::AccountId, primary: &str) -> User {
    let users = db.store.list_users(account).await.unwrap();
    users
        .into_iter()
        .find(|u| u.primary_address.as_str() == primary)
        .unwrap_or_else(|| panic!("no user {primary}"))
}

async fn group_named(db: &TestDb, account: roster_domain::AccountId, name: &str) -> Group {
    let groups = db.store.list_groups(account).await.unwrap();
    groups
        .into_iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name}"))
}

contract_test!(
    groups_are_read_back_by_directory_id_as_the_listing_has_them,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let changes = [
            add_user("u-1", "ann@contoso.com", &[]),
            add_group("g-1", "All", Some("all@contoso.com"), &["u-1"], &["g-2"]),
            add_group("g-2", "Team", None, &["u-1"], &[]),
            add_group("g-3", "Other", None, &[], &[]),
        ];
        db.store.apply_changes(contoso.id, &changes).await.unwrap();
        let listed = db.store.list_groups(contoso.id).await.unwrap();

        let read = db
            .store
            .groups_by_external_id(
                contoso.id,
                &[external("g-2"), external("g-1"), external("g-9")],
            )
            .await
            .unwrap();

        let expected: Vec<_> = listed.into_iter().filter(|g| g.name != "Other").collect();
        assert_eq!(
            read, expected,
            "by name, with addresses and members; an id the account does not hold is left out"
        );
        assert_eq!(
            db.store
                .groups_by_external_id(contoso.id, &[])
                .await
                .unwrap(),
            Vec::new()
        );
    }
);

contract_test!(
    adds_create_directory_objects_and_resolve_members_by_directory_id,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let changes = [
            add_user("u-1", "ann@contoso.com", &["a@contoso.com"]),
            add_user("u-2", "bob@contoso.com", &[]),
            // The nested group comes later in the same call; "u-9" is not held by Roster.
            add_group(
                "g-1",
                "All",
                Some("all@contoso.com"),
                &["u-1", "u-9"],
                &["g-2"],
            ),
            add_group("g-2", "Team", None, &["u-2"], &[]),
        ];
        let outcomes = db.store.apply_changes(contoso.id, &changes).await.unwrap();
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");

        let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;
        assert_eq!(
            (ann.source, ann.external_id.clone(), ann.role, ann.version),
            (Source::Directory, Some(external("u-1")), Role::EndUser, 1)
        );
        assert_eq!(ann.aliases, vec![address("a@contoso.com")]);
        let bob = user_by_address(&db, contoso.id, "bob@contoso.com").await;
        let team = group_named(&db, contoso.id, "Team").await;
        let all = group_named(&db, contoso.id, "All").await;
        assert_eq!(all.address, Some(address("all@contoso.com")));
        assert_eq!(all.member_users, vec![ann.id]);
        assert_eq!(
            all.member_groups,
            vec![team.id],
            "a member added later in the same batch is resolved"
        );
        assert_eq!(team.member_users, vec![bob.id]);
    }
);

contract_test!(stale_changes_are_rejected_not_forced, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    db.store
        .apply_changes(contoso.id, &[add_user("u-1", "ann@contoso.com", &[])])
        .await
        .unwrap();
    let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;
    let update = |version| ChangeAction::UpdateUser {
        user_id: ann.id,
        expected_version: version,
        fields: user_fields("ann.new@contoso.com", &[]),
    };

    let outcomes = db
        .store
        .apply_changes(
            contoso.id,
            &[
                update(ann.version + 1),
                add_user("u-1", "other@contoso.com", &[]),
                ChangeAction::RemoveUser {
                    user_id: roster_domain::UserId::new(),
                    expected_version: 1,
                },
            ],
        )
        .await
        .unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(ChangeFailure::Stale { .. }))),
        "{outcomes:?}"
    );
    assert_eq!(
        db.store.user(ann.account_id, ann.id).await.unwrap(),
        ann,
        "nothing changed"
    );

    let outcomes = db
        .store
        .apply_changes(contoso.id, &[update(ann.version)])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![Ok(())]);
    let updated = db.store.user(ann.account_id, ann.id).await.unwrap();
    assert_eq!(
        (updated.primary_address.as_str(), updated.version),
        ("ann.new@contoso.com", ann.version + 1)
    );
    // The plan built before this update is now stale.
    let outcomes = db
        .store
        .apply_changes(contoso.id, &[update(ann.version)])
        .await
        .unwrap();
    assert!(matches!(&outcomes[..], [Err(ChangeFailure::Stale { .. })]));
});

contract_test!(a_failing_change_does_not_stop_the_others, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
    db.store
        .add_user(contoso.id, manual_user("taken@contoso.com", &[]))
        .await
        .unwrap();
    let changes = [
        add_user("u-1", "one@fabrikam.com", &[]),
        add_user("u-2", "two@fabrikam.com", &["taken@contoso.com"]),
        add_user("u-3", "three@fabrikam.com", &[]),
        add_user("u-4", "one@fabrikam.com", &[]),
    ];
    let outcomes = db.store.apply_changes(fabrikam.id, &changes).await.unwrap();
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
    assert!(
        matches!(&outcomes[1], Err(ChangeFailure::AddressOutsideDomains { address: a }) if a.as_str() == "taken@contoso.com")
    );
    match &outcomes[3] {
        Err(ChangeFailure::AddressTaken { address: a, owner }) => {
            assert_eq!(a.as_str(), "one@fabrikam.com");
            assert_eq!(
                owner.account_name, "Fabrikam",
                "an earlier change of the same call holds it"
            );
        }
        other => panic!("expected AddressTaken, got {other:?}"),
    }
    let users: Vec<String> = db
        .store
        .list_users(fabrikam.id)
        .await
        .unwrap()
        .iter()
        .map(|u| u.primary_address.to_string())
        .collect();
    assert_eq!(
        users,
        vec!["one@fabrikam.com", "three@fabrikam.com"],
        "the failed change left nothing behind"
    );
});

contract_test!(
    re_applying_the_same_changes_converges_and_changes_nothing,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let changes = [
            add_user("u-1", "ann@contoso.com", &[]),
            add_group("g-1", "All", Some("all@contoso.com"), &["u-1"], &[]),
        ];
        db.store.apply_changes(contoso.id, &changes).await.unwrap();
        let users = db.store.list_users(contoso.id).await.unwrap();
        let groups = db.store.list_groups(contoso.id).await.unwrap();

        let again = db.store.apply_changes(contoso.id, &changes).await.unwrap();
        assert!(
            again
                .iter()
                .all(|o| matches!(o, Err(ChangeFailure::Stale { .. }))),
            "{again:?}"
        );
        assert_eq!(db.store.list_users(contoso.id).await.unwrap(), users);
        assert_eq!(db.store.list_groups(contoso.id).await.unwrap(), groups);
    }
);

contract_test!(
    linking_adopts_a_manual_object_and_every_write_bumps_its_version,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let jane = db
            .store
            .add_user(
                contoso.id,
                manual_user("jane@contoso.com", &["old@contoso.com"]),
            )
            .await
            .unwrap();
        let link = ChangeAction::LinkUser {
            user_id: jane.id,
            expected_version: jane.version,
            external_id: external("u-jane"),
            fields: user_fields("jane@contoso.com", &["new@contoso.com"]),
        };
        assert_eq!(
            db.store.apply_changes(contoso.id, &[link]).await.unwrap(),
            vec![Ok(())]
        );
        let linked = db.store.user(jane.account_id, jane.id).await.unwrap();
        assert_eq!(
            (linked.source, linked.external_id.clone(), linked.version),
            (Source::Directory, Some(external("u-jane")), 2)
        );
        assert_eq!(linked.aliases, vec![address("new@contoso.com")]);
        assert_eq!(linked.role, Role::EndUser, "sync never changes a role");
        // The dropped alias is free again.
        db.store
            .add_user(contoso.id, manual_user("old@contoso.com", &[]))
            .await
            .unwrap();

        let group = add_group("g-1", "All", None, &["u-jane"], &[]);
        db.store.apply_changes(contoso.id, &[group]).await.unwrap();
        let all = group_named(&db, contoso.id, "All").await;
        let rename = ChangeAction::UpdateGroup {
            group_id: all.id,
            expected_version: all.version,
            fields: group_fields("Everyone", None),
            members: MemberChanges::default(),
        };
        db.store.apply_changes(contoso.id, &[rename]).await.unwrap();
        let everyone = group_named(&db, contoso.id, "Everyone").await;
        assert_eq!(
            (everyone.version, everyone.member_users.len()),
            (2, 1),
            "a rename keeps the members"
        );
    }
);

contract_test!(
    removing_objects_frees_their_addresses_and_memberships,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let changes = [
            add_user("u-1", "ann@contoso.com", &["sales@contoso.com"]),
            add_group("g-1", "All", Some("all@contoso.com"), &["u-1"], &[]),
        ];
        db.store.apply_changes(contoso.id, &changes).await.unwrap();
        let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;
        let all = group_named(&db, contoso.id, "All").await;

        let removals = [
            ChangeAction::RemoveUser {
                user_id: ann.id,
                expected_version: ann.version,
            },
            ChangeAction::RemoveGroup {
                group_id: all.id,
                expected_version: all.version,
            },
            // The freed addresses can be taken by a change later in the same call.
            add_group("g-2", "Sales", Some("sales@contoso.com"), &["u-1"], &[]),
        ];
        let outcomes = db.store.apply_changes(contoso.id, &removals).await.unwrap();
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        assert!(db.store.list_users(contoso.id).await.unwrap().is_empty());
        let groups = db.store.list_groups(contoso.id).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert!(
            groups[0].member_users.is_empty(),
            "the removed user is no member and is not resolved"
        );
        db.store
            .add_user(contoso.id, manual_user("all@contoso.com", &[]))
            .await
            .unwrap();
    }
);

contract_test!(
    a_group_address_conflicting_with_a_user_of_the_account_names_the_user,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let outcomes = db
            .store
            .apply_changes(
                contoso.id,
                &[
                    add_user("u-1", "ann@contoso.com", &[]),
                    add_group("g-1", "Ann", Some("ann@contoso.com"), &[], &[]),
                ],
            )
            .await
            .unwrap();
        let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;
        assert!(
            matches!(&outcomes[1], Err(ChangeFailure::AddressTaken { owner, .. }) if owner.object == OwnedBy::User(ann.id)),
            "{outcomes:?}"
        );
        assert!(db.store.list_groups(contoso.id).await.unwrap().is_empty());
    }
);

/// Users, groups and members per group for the bulk test; `ROSTER_BENCH_SCALE` multiplies them
/// (a scale of 10 is the benchmark: 100,000 users, 10,000 groups, 1,000,000 memberships).
fn bulk_sizes() -> (usize, usize, usize) {
    let scale: usize = std::env::var("ROSTER_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    (10_000 * scale, 1_000 * scale, 100)
}

contract_test!(bulk_applies_and_mirror_loads_hold_every_object, |db| {
    let (users, groups, members) = bulk_sizes();
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let mut changes: Vec<ChangeAction> = (0..users)
        .map(|i| {
            add_user(
                &format!("u-{i}"),
                &format!("user{i}@contoso.com"),
                &[&format!("alias{i}@contoso.com")],
            )
        })
        .collect();
    for g in 0..groups {
        let member_ids: Vec<String> = (0..members)
            .map(|m| format!("u-{}", (g * 7 + m * 13) % users))
            .collect();
        let member_refs: Vec<&str> = member_ids.iter().map(String::as_str).collect();
        changes.push(add_group(
            &format!("g-{g}"),
            &format!("Group {g}"),
            Some(&format!("group{g}@contoso.com")),
            &member_refs,
            &[],
        ));
    }
    let started = Instant::now();
    let outcomes = db.store.apply_changes(contoso.id, &changes).await.unwrap();
    let applied = started.elapsed();
    assert!(outcomes.iter().all(Result::is_ok));
    let listed = db.store.list_groups(contoso.id).await.unwrap();
    assert_eq!(listed.len(), groups);
    assert_eq!(
        listed.iter().map(|g| g.member_users.len()).sum::<usize>(),
        groups * members
    );
    assert_eq!(db.store.list_users(contoso.id).await.unwrap().len(), users);
    eprintln!(
        "{:?}: applied {users} users and {groups} groups with {} memberships in {applied:?}",
        db.backend(),
        groups * members
    );

    db.store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    let full = MirrorRefresh {
        upsert_users: (0..users)
            .map(|i| directory_user(&format!("u-{i}"), &format!("user{i}@contoso.com")))
            .collect(),
        upsert_groups: (0..groups)
            .map(|g| {
                let member_ids: Vec<String> = (0..members)
                    .map(|m| format!("u-{}", (g * 7 + m * 13) % users))
                    .collect();
                directory_group(
                    &format!("g-{g}"),
                    &member_ids.iter().map(String::as_str).collect::<Vec<_>>(),
                )
            })
            .collect(),
        ..MirrorRefresh::default()
    };
    let started = Instant::now();
    db.store
        .replace_mirror(db.mirror_run(contoso.id).await, contoso.id, &full)
        .await
        .unwrap();
    let written = started.elapsed();
    let started = Instant::now();
    let mirror = db.store.load_mirror(contoso.id).await.unwrap();
    let loaded = started.elapsed();
    assert_eq!((mirror.users.len(), mirror.groups.len()), (users, groups));
    assert_eq!(
        mirror.groups.iter().map(|g| g.members.len()).sum::<usize>(),
        groups * members
    );
    eprintln!(
        "{:?}: mirror written in {written:?} and loaded in {loaded:?}",
        db.backend()
    );
});

contract_test!(
    a_group_update_keeps_added_and_drops_left_members_only,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let changes = [
            add_user("u-1", "ann@contoso.com", &[]),
            add_user("u-2", "bob@contoso.com", &[]),
            add_user("u-3", "cy@contoso.com", &[]),
            add_group("g-2", "Team", None, &[], &[]),
            add_group("g-3", "Crew", None, &[], &[]),
            add_group("g-1", "All", None, &["u-1", "u-2"], &["g-2"]),
        ];
        let outcomes = db.store.apply_changes(contoso.id, &changes).await.unwrap();
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        let all = group_named(&db, contoso.id, "All").await;

        // Ann and Team leave, Bob stays, Cy and Crew join.
        let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;
        let members = MemberChanges {
            joining_users: vec![external("u-3")],
            joining_groups: vec![external("g-3")],
            leaving_users: vec![ann.id],
            leaving_groups: vec![group_named(&db, contoso.id, "Team").await.id],
        };
        let update = ChangeAction::UpdateGroup {
            group_id: all.id,
            expected_version: all.version,
            fields: group_fields("All", None),
            members,
        };
        assert_eq!(
            db.store.apply_changes(contoso.id, &[update]).await.unwrap(),
            vec![Ok(())]
        );

        let all = group_named(&db, contoso.id, "All").await;
        let bob = user_by_address(&db, contoso.id, "bob@contoso.com").await;
        let cy = user_by_address(&db, contoso.id, "cy@contoso.com").await;
        let mut members = vec![bob.id, cy.id];
        members.sort();
        assert_eq!(all.member_users, members);
        assert_eq!(
            all.member_groups,
            vec![group_named(&db, contoso.id, "Crew").await.id]
        );
    }
);

contract_test!(changes_of_one_call_can_trade_addresses, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let added = [
        add_user("u-1", "ann@contoso.com", &["team@contoso.com"]),
        add_user("u-2", "bob@contoso.com", &[]),
    ];
    db.store.apply_changes(contoso.id, &added).await.unwrap();
    let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;
    let bob = user_by_address(&db, contoso.id, "bob@contoso.com").await;
    let update = |user: &User, primary, aliases| ChangeAction::UpdateUser {
        user_id: user.id,
        expected_version: user.version,
        fields: user_fields(primary, aliases),
    };

    // The primaries swap, and Bob claims Ann's alias before Ann's change gives it up.
    let swap = [
        update(&bob, "ann@contoso.com", &["team@contoso.com"]),
        update(&ann, "bob@contoso.com", &[]),
    ];
    let outcomes = db.store.apply_changes(contoso.id, &swap).await.unwrap();

    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let now_ann = db.store.user(ann.account_id, ann.id).await.unwrap();
    let now_bob = db.store.user(bob.account_id, bob.id).await.unwrap();
    assert_eq!(
        (now_ann.primary_address, now_ann.aliases),
        (address("bob@contoso.com"), vec![])
    );
    assert_eq!(
        (now_bob.primary_address, now_bob.aliases),
        (
            address("ann@contoso.com"),
            vec![address("team@contoso.com")]
        )
    );
});

contract_test!(
    a_change_that_fails_keeps_the_addresses_another_change_wanted,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let added = [
            add_user("u-1", "ann@contoso.com", &[]),
            add_user("u-2", "bob@contoso.com", &[]),
        ];
        db.store.apply_changes(contoso.id, &added).await.unwrap();
        let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;
        let bob = user_by_address(&db, contoso.id, "bob@contoso.com").await;

        // Bob wants Ann's address; Ann's change, which would give it up, is stale.
        let changes = [
            ChangeAction::UpdateUser {
                user_id: bob.id,
                expected_version: bob.version,
                fields: user_fields("ann@contoso.com", &[]),
            },
            ChangeAction::UpdateUser {
                user_id: ann.id,
                expected_version: ann.version,
                fields: user_fields("ann@fabrikam.com", &[]),
            },
        ];
        let outcomes = db.store.apply_changes(contoso.id, &changes).await.unwrap();

        assert!(
            matches!(&outcomes[0], Err(ChangeFailure::AddressTaken { address: taken, .. }) if *taken == address("ann@contoso.com")),
            "{outcomes:?}"
        );
        assert!(
            matches!(
                &outcomes[1],
                Err(ChangeFailure::AddressOutsideDomains { .. })
            ),
            "{outcomes:?}"
        );
        assert_eq!(
            db.store
                .user(ann.account_id, ann.id)
                .await
                .unwrap()
                .primary_address,
            address("ann@contoso.com")
        );
        assert_eq!(
            db.store
                .user(bob.account_id, bob.id)
                .await
                .unwrap()
                .primary_address,
            address("bob@contoso.com")
        );
    }
);

contract_test!(
    an_update_rewrites_addresses_only_when_they_change_and_a_new_primary_is_a_change,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let added = db
            .store
            .apply_changes(
                contoso.id,
                &[add_user("u-1", "ann@contoso.com", &["a@contoso.com"])],
            )
            .await
            .unwrap();
        assert_eq!(added, vec![Ok(())]);
        let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;

        let renamed = UserFields {
            display_name: Some("Ann Renamed".into()),
            ..user_fields("ann@contoso.com", &["a@contoso.com"])
        };
        let rename = ChangeAction::UpdateUser {
            user_id: ann.id,
            expected_version: ann.version,
            fields: renamed,
        };
        assert_eq!(
            db.store.apply_changes(contoso.id, &[rename]).await.unwrap(),
            vec![Ok(())]
        );
        let ann = user_by_address(&db, contoso.id, "ann@contoso.com").await;
        assert_eq!(
            (ann.display_name.as_deref(), ann.aliases.clone()),
            (Some("Ann Renamed"), vec![address("a@contoso.com")])
        );

        // The same two addresses, the alias now primary.
        let swapped = ChangeAction::UpdateUser {
            user_id: ann.id,
            expected_version: ann.version,
            fields: user_fields("a@contoso.com", &["ann@contoso.com"]),
        };
        assert_eq!(
            db.store
                .apply_changes(contoso.id, &[swapped])
                .await
                .unwrap(),
            vec![Ok(())]
        );
        let ann = user_by_address(&db, contoso.id, "a@contoso.com").await;
        assert_eq!(ann.aliases, vec![address("ann@contoso.com")]);
    }
);
