//! Reading the part of an account a delta round reaches: objects by directory id or address,
//! the synced groups holding given members, synced members by name, and the mirrored groups
//! naming given directory ids.

use roster_domain::plan::ChangeAction;
use roster_domain::{AccountId, NewUserRole, SyncedGroup, SyncedUser};
use roster_store::{MemberKeys, Membership, MirrorRefresh, ObjectKeys, OwnedBy};

use super::connections::{SECRET, settings};
use super::harness::{TestDb, add_group, address, contract_test, external, user_fields};
use super::mirror::directory_group;
use super::users::manual_user;

fn add_user(id: &str, primary: &str, aliases: &[&str]) -> ChangeAction {
    ChangeAction::AddUser {
        external_id: external(id),
        fields: user_fields(primary, aliases),
        role: NewUserRole::EndUser,
    }
}

/// Contoso with synced users u-1 (ann, alias annie) and u-2 (bob), the manual user carol,
/// group g-1 "Engineering" (eng@) holding u-1, and group g-2 "Staff" holding u-2 and g-1.
async fn contoso(db: &TestDb) -> AccountId {
    let account = db.account("Contoso", &["contoso.com"]).await.id;
    db.store
        .add_user(account, manual_user("carol@contoso.com", &[]))
        .await
        .unwrap();
    let changes = [
        add_user("u-1", "ann@contoso.com", &["annie@contoso.com"]),
        add_user("u-2", "bob@contoso.com", &[]),
        add_group("g-1", "Engineering", Some("eng@contoso.com"), &["u-1"], &[]),
        add_group("g-2", "Staff", None, &["u-2"], &["g-1"]),
    ];
    for outcome in db.store.apply_changes(account, &changes).await.unwrap() {
        outcome.unwrap();
    }
    account
}

contract_test!(
    objects_are_read_whole_by_directory_id_or_by_an_address_they_hold,
    |db| {
        let account = contoso(&db).await;
        let keys = ObjectKeys {
            user_external_ids: &[external("u-1")],
            group_external_ids: &[external("g-2"), external("g-9")],
            addresses: &[
                address("carol@contoso.com"),
                address("eng@contoso.com"),
                address("annie@contoso.com"),
                address("nobody@contoso.com"),
            ],
        };
        let (users, groups) = db.store.objects(account, &keys).await.unwrap();
        let primaries: Vec<&str> = users.iter().map(|u| u.primary_address.as_str()).collect();
        assert_eq!(
            primaries,
            ["ann@contoso.com", "carol@contoso.com"],
            "ann once, though named twice"
        );
        assert_eq!(users[0].aliases, [address("annie@contoso.com")]);
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["Engineering", "Staff"]);
        assert_eq!(groups[0].address, Some(address("eng@contoso.com")));
        assert_eq!(
            groups[1].member_groups,
            [groups[0].id],
            "members come whole"
        );
        assert_eq!(groups[1].member_users.len(), 1);

        let nothing = db
            .store
            .objects(account, &ObjectKeys::default())
            .await
            .unwrap();
        assert_eq!(nothing, (Vec::new(), Vec::new()));
    }
);

contract_test!(
    the_synced_groups_holding_members_are_found_with_each_membership,
    |db| {
        let account = contoso(&db).await;
        let users = db.store.list_users(account).await.unwrap();
        let groups = db.store.list_groups(account).await.unwrap();
        let user = |primary: &str| {
            users
                .iter()
                .find(|u| u.primary_address.as_str() == primary)
                .unwrap()
                .id
        };
        let group = |name: &str| groups.iter().find(|g| g.name == name).unwrap().id;

        let holding = db
            .store
            .synced_groups_holding(
                account,
                &[user("ann@contoso.com"), user("carol@contoso.com")],
                &[group("Engineering")],
            )
            .await
            .unwrap();
        let mut expected = vec![
            Membership {
                group: group("Engineering"),
                member: OwnedBy::User(user("ann@contoso.com")),
            },
            Membership {
                group: group("Staff"),
                member: OwnedBy::Group(group("Engineering")),
            },
        ];
        expected.sort();
        assert_eq!(holding, expected);
        assert_eq!(
            db.store
                .synced_groups_holding(account, &[], &[])
                .await
                .unwrap(),
            []
        );

        let without = db
            .store
            .groups_without_members(account, &[group("Staff")], &[external("g-1")])
            .await
            .unwrap();
        let names: Vec<&str> = without.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["Engineering", "Staff"]);
        assert!(
            without
                .iter()
                .all(|g| g.member_users.is_empty() && g.member_groups.is_empty()),
            "members are left out"
        );
        assert_eq!(
            without[0].address,
            Some(address("eng@contoso.com")),
            "addresses are read"
        );
    }
);

contract_test!(
    synced_members_are_named_by_directory_id_or_account_id,
    |db| {
        let account = contoso(&db).await;
        let users = db.store.list_users(account).await.unwrap();
        let groups = db.store.list_groups(account).await.unwrap();
        let ann = users
            .iter()
            .find(|u| u.primary_address.as_str() == "ann@contoso.com")
            .unwrap();
        let bob = users
            .iter()
            .find(|u| u.primary_address.as_str() == "bob@contoso.com")
            .unwrap();
        let carol = users
            .iter()
            .find(|u| u.primary_address.as_str() == "carol@contoso.com")
            .unwrap();
        let engineering = groups.iter().find(|g| g.name == "Engineering").unwrap();
        let staff = groups.iter().find(|g| g.name == "Staff").unwrap();

        let keys = MemberKeys {
            user_external_ids: &[external("u-2"), external("u-9")],
            user_ids: &[ann.id, bob.id, carol.id],
            group_external_ids: &[external("g-2")],
            group_ids: &[engineering.id],
        };
        let (mut named_users, mut named_groups) =
            db.store.synced_members(account, &keys).await.unwrap();
        named_users.sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
        named_groups.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            named_users,
            [
                SyncedUser {
                    external_id: external("u-1"),
                    id: ann.id,
                    primary_address: address("ann@contoso.com")
                },
                SyncedUser {
                    external_id: external("u-2"),
                    id: bob.id,
                    primary_address: address("bob@contoso.com")
                },
            ],
            "the manual user is not synced, and bob is named once"
        );
        assert_eq!(
            named_groups,
            [
                SyncedGroup {
                    external_id: external("g-1"),
                    id: engineering.id,
                    name: "Engineering".to_owned(),
                    address: Some(address("eng@contoso.com"))
                },
                SyncedGroup {
                    external_id: external("g-2"),
                    id: staff.id,
                    name: "Staff".to_owned(),
                    address: None
                },
            ]
        );

        let mut every_user = db.store.synced_users(account).await.unwrap();
        every_user.sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
        assert_eq!(
            every_user, named_users,
            "every synced user, and no manual one"
        );
        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await.id;
        assert_eq!(
            db.store.synced_users(fabrikam).await.unwrap(),
            [],
            "an account without synced users"
        );
    }
);

contract_test!(
    the_mirrored_groups_naming_a_directory_id_are_found_without_loading_the_mirror,
    |db| {
        let account = db.account("Contoso", &["contoso.com"]).await.id;
        db.store
            .set_connection(account, settings("contoso.com"), Some(SECRET.into()))
            .await
            .unwrap();
        let groups = vec![
            directory_group("g-1", &["u-1", "u-2"]),
            directory_group("g-2", &["u-3"]),
            directory_group("g-3", &["u-10"]),
        ];
        let full = MirrorRefresh {
            upsert_groups: groups.clone(),
            ..MirrorRefresh::default()
        };
        db.store
            .replace_mirror(db.mirror_run(account).await, account, &full)
            .await
            .unwrap();

        let naming = |ids: &'static [&'static str]| {
            let store = db.store.clone();
            async move {
                let ids: Vec<_> = ids.iter().map(|id| external(id)).collect();
                let mut found = store.mirror_groups_naming(account, &ids).await.unwrap();
                found.sort_by(|a, b| a.id.cmp(&b.id));
                found
            }
        };
        assert_eq!(
            naming(&["u-1"]).await,
            [groups[0].clone()],
            "u-10 is not u-1"
        );
        assert_eq!(
            naming(&["u-1", "u-3"]).await,
            [groups[0].clone(), groups[1].clone()]
        );
        assert_eq!(naming(&["u-9"]).await, []);
        assert_eq!(naming(&[]).await, []);
    }
);
