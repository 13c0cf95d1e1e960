//! The reads behind mail-flow lookups: an account's recipients in one snapshot, what of them
//! changed since a revision, every account's revision, and announcements that one moved.

use std::time::Duration;

use roster_domain::plan::{ChangeAction, MemberChanges};
use roster_domain::{AccountId, GroupId, NewUserRole, UserId};
use roster_store::{Backend, MailChanges, MailDirectory, MailGroup, MailUser, Revision};

use super::harness::{
    Raw, TestDb, add_group, address, contract_test, domain, external, group_fields, user_fields,
};
use super::users::manual_user;

fn add_user(id: &str, primary: &str, aliases: &[&str]) -> ChangeAction {
    ChangeAction::AddUser {
        external_id: external(id),
        fields: user_fields(primary, aliases),
        role: NewUserRole::EndUser,
    }
}

/// The directory with its lists sorted, so that comparisons do not depend on read order.
fn sorted(mut directory: MailDirectory) -> MailDirectory {
    directory.domains.sort();
    directory
        .users
        .sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
    for user in &mut directory.users {
        user.aliases.sort();
    }
    directory.groups.sort_by(|a, b| a.address.cmp(&b.address));
    for group in &mut directory.groups {
        group.aliases.sort();
        group.member_users.sort();
        group.member_groups.sort();
    }
    directory
}

contract_test!(
    the_mail_directory_holds_every_address_member_and_domain_of_the_account_and_no_other,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com", "contoso.org"]).await;
        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        let changes = [
            add_user(
                "u-1",
                "ann@contoso.com",
                &["a@contoso.org", "ann.b@contoso.com"],
            ),
            add_user("u-2", "bob@contoso.com", &[]),
            add_group("g-1", "All", Some("all@contoso.com"), &["u-1"], &["g-2"]),
            add_group("g-2", "Team", None, &["u-2"], &["g-1"]),
        ];
        db.store.apply_changes(contoso.id, &changes).await.unwrap();
        let manual = db
            .store
            .add_user(contoso.id, manual_user("carl@contoso.org", &[]))
            .await
            .unwrap();
        db.store
            .add_user(fabrikam.id, manual_user("dana@fabrikam.com", &[]))
            .await
            .unwrap();
        let users = db.store.list_users(contoso.id).await.unwrap();
        let groups = db.store.list_groups(contoso.id).await.unwrap();
        let id_of = |primary: &str| {
            users
                .iter()
                .find(|u| u.primary_address.as_str() == primary)
                .unwrap()
                .id
        };

        let directory = sorted(db.store.mail_directory(contoso.id).await.unwrap());

        assert_eq!(directory.account_id, contoso.id);
        assert_eq!(
            directory.revision,
            db.store.revision(contoso.id).await.unwrap()
        );
        assert_eq!(
            directory.domains,
            vec![domain("contoso.com"), domain("contoso.org")]
        );
        let users: Vec<_> = directory
            .users
            .iter()
            .map(|u| (u.id, u.primary_address.as_str(), u.aliases.clone()))
            .collect();
        assert_eq!(
            users,
            vec![
                (
                    id_of("ann@contoso.com"),
                    "ann@contoso.com",
                    vec![address("a@contoso.org"), address("ann.b@contoso.com")]
                ),
                (id_of("bob@contoso.com"), "bob@contoso.com", vec![]),
                (manual.id, "carl@contoso.org", vec![]),
            ]
        );
        let group_id = |name: &str| groups.iter().find(|g| g.name == name).unwrap().id;
        assert_eq!(
            directory.groups,
            vec![
                MailGroup {
                    id: group_id("Team"),
                    address: None,
                    aliases: vec![],
                    member_users: vec![id_of("bob@contoso.com")],
                    member_groups: vec![group_id("All")],
                },
                MailGroup {
                    id: group_id("All"),
                    address: Some(address("all@contoso.com")),
                    aliases: vec![],
                    member_users: vec![id_of("ann@contoso.com")],
                    member_groups: vec![group_id("Team")],
                },
            ]
        );
    }
);

contract_test!(
    the_mail_directory_of_an_unknown_account_is_an_account_not_found_error,
    |db| {
        let unknown = roster_domain::AccountId::new();
        let outcome = db.store.mail_directory(unknown).await;
        assert!(
            matches!(outcome, Err(roster_store::StoreError::AccountNotFound(_))),
            "{outcome:?}"
        );
    }
);

contract_test!(
    account_revisions_list_every_account_and_move_with_each_write,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        let before = db.store.account_revisions().await.unwrap();
        let revision_in = |list: &[(roster_domain::AccountId, roster_store::Revision)], id| {
            list.iter().find(|(a, _)| *a == id).map(|(_, r)| *r)
        };

        db.store
            .add_user(contoso.id, manual_user("ann@contoso.com", &[]))
            .await
            .unwrap();
        let after = db.store.account_revisions().await.unwrap();

        assert_eq!(before.len(), 2);
        assert_eq!(after.len(), 2);
        assert!(revision_in(&after, contoso.id) > revision_in(&before, contoso.id));
        assert_eq!(
            revision_in(&after, fabrikam.id),
            revision_in(&before, fabrikam.id)
        );
        assert_eq!(
            revision_in(&after, contoso.id),
            Some(db.store.revision(contoso.id).await.unwrap())
        );
    }
);

/// The changes with their lists sorted, so that comparisons do not depend on read order.
fn sorted_changes(mut changes: MailChanges) -> MailChanges {
    changes
        .users
        .sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
    changes.groups.sort_by_key(|g| g.id);
    changes.removed_users.sort();
    changes.removed_groups.sort();
    changes
}

/// The users and groups of the account's whole directory with these ids, as it reads now.
async fn now(
    db: &TestDb,
    account: AccountId,
    users: &[UserId],
    groups: &[GroupId],
) -> (Vec<MailUser>, Vec<MailGroup>) {
    let directory = db.store.mail_directory(account).await.unwrap();
    let mut users: Vec<_> = directory
        .users
        .into_iter()
        .filter(|u| users.contains(&u.id))
        .collect();
    users.sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
    let mut groups: Vec<_> = directory
        .groups
        .into_iter()
        .filter(|g| groups.contains(&g.id))
        .collect();
    groups.sort_by_key(|g| g.id);
    (users, groups)
}

async fn changes_since(db: &TestDb, account: AccountId, since: Revision) -> MailChanges {
    let changes = db.store.mail_changes(account, since).await.unwrap();
    sorted_changes(changes.expect("the feed reaches back to a revision just read"))
}

contract_test!(
    the_mail_changes_after_a_revision_are_the_users_written_since_as_they_are_now_and_the_removed_ones,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com", "contoso.org"]).await;
        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        let changes = [
            add_user("u-ann", "ann@contoso.com", &["a@contoso.org"]),
            add_user("u-bob", "bob@contoso.com", &[]),
            add_user("u-carl", "carl@contoso.com", &[]),
            add_group("g-all", "All", Some("all@contoso.com"), &["u-ann", "u-bob"], &[]),
        ];
        db.store.apply_changes(contoso.id, &changes).await.unwrap();
        let start = db.store.revision(contoso.id).await.unwrap();
        let users = db.store.list_users(contoso.id).await.unwrap();
        let user = |primary: &str| users.iter().find(|u| u.primary_address.as_str() == primary).unwrap().clone();
        let (ann, bob, carl) = (user("ann@contoso.com"), user("bob@contoso.com"), user("carl@contoso.com"));

        let nothing = changes_since(&db, contoso.id, start).await;
        // The alias moves from Ann to Bob in one apply.
        let moved = [
            ChangeAction::UpdateUser { user_id: ann.id, expected_version: ann.version, fields: user_fields("ann@contoso.com", &[]) },
            ChangeAction::UpdateUser { user_id: bob.id, expected_version: bob.version, fields: user_fields("bob@contoso.com", &["a@contoso.org"]) },
        ];
        db.store.apply_changes(contoso.id, &moved).await.unwrap();
        let after_move = db.store.revision(contoso.id).await.unwrap();
        db.store.remove_user(contoso.id, carl.id).await.unwrap();
        let dana = db.store.add_user(contoso.id, manual_user("dana@contoso.org", &[])).await.unwrap();
        db.store.add_user(fabrikam.id, manual_user("erin@fabrikam.com", &[])).await.unwrap();

        let all = changes_since(&db, contoso.id, start).await;
        let latest = changes_since(&db, contoso.id, after_move).await;

        assert_eq!(
            (nothing.revision, nothing.users, nothing.groups, nothing.removed_users, nothing.removed_groups),
            (start, vec![], vec![], vec![], vec![]),
            "nothing changed after the revision the account is at"
        );
        assert_eq!(all.revision, db.store.revision(contoso.id).await.unwrap());
        assert_eq!(all.domains.len(), 2, "the domains come whole");
        assert_eq!((all.users.clone(), vec![]), now(&db, contoso.id, &[ann.id, bob.id, dana.id], &[]).await);
        assert_eq!(all.users.len(), 3, "Ann, Bob and Dana changed; Carl is gone");
        assert_eq!(all.removed_users, vec![carl.id]);
        assert_eq!(all.groups, vec![], "no group lost or gained a member");
        assert_eq!(latest.users.iter().map(|u| u.id).collect::<Vec<_>>(), vec![dana.id]);
        assert_eq!(latest.removed_users, vec![carl.id]);
    }
);

contract_test!(
    the_mail_changes_name_a_group_whose_members_changed_and_the_groups_a_removed_one_was_in,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let changes = [
            add_user("u-ann", "ann@contoso.com", &[]),
            add_user("u-bob", "bob@contoso.com", &[]),
            add_group(
                "g-all",
                "All",
                Some("all@contoso.com"),
                &["u-ann"],
                &["g-team"],
            ),
            add_group("g-team", "Team", None, &["u-bob"], &[]),
            add_group(
                "g-other",
                "Other",
                Some("other@contoso.com"),
                &["u-bob"],
                &[],
            ),
        ];
        db.store.apply_changes(contoso.id, &changes).await.unwrap();
        let start = db.store.revision(contoso.id).await.unwrap();
        let users = db.store.list_users(contoso.id).await.unwrap();
        let groups = db.store.list_groups(contoso.id).await.unwrap();
        let group = |name: &str| groups.iter().find(|g| g.name == name).unwrap().clone();
        let (all, team, other) = (group("All"), group("Team"), group("Other"));
        let bob = users
            .iter()
            .find(|u| u.primary_address.as_str() == "bob@contoso.com")
            .unwrap();

        let update = [
            ChangeAction::UpdateGroup {
                group_id: other.id,
                expected_version: other.version,
                fields: group_fields("Other", Some("other@contoso.com")),
                members: MemberChanges {
                    leaving_users: vec![bob.id],
                    ..MemberChanges::default()
                },
            },
            ChangeAction::RemoveGroup {
                group_id: team.id,
                expected_version: team.version,
            },
            add_group("g-new", "New", Some("new@contoso.com"), &["u-ann"], &[]),
        ];
        db.store.apply_changes(contoso.id, &update).await.unwrap();
        let new = db
            .store
            .list_groups(contoso.id)
            .await
            .unwrap()
            .into_iter()
            .find(|g| g.name == "New")
            .unwrap();

        let changes = changes_since(&db, contoso.id, start).await;

        let mut expected = vec![all.id, other.id, new.id];
        expected.sort();
        assert_eq!(
            changes.groups.iter().map(|g| g.id).collect::<Vec<_>>(),
            expected,
            "All lost its nested Team; Other lost Bob; New is new"
        );
        assert_eq!(
            (vec![], changes.groups.clone()),
            now(&db, contoso.id, &[], &expected).await
        );
        assert_eq!(changes.removed_groups, vec![team.id]);
        assert_eq!(changes.users, vec![], "no user's addresses changed");
    }
);

contract_test!(
    a_write_marks_what_it_touches_whatever_path_it_takes_and_whenever_it_bumps,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let ann = db
            .store
            .add_user(
                contoso.id,
                manual_user("ann@contoso.com", &["a@contoso.com"]),
            )
            .await
            .unwrap();
        let bob = db
            .store
            .add_user(contoso.id, manual_user("bob@contoso.com", &[]))
            .await
            .unwrap();
        let carl = db
            .store
            .add_user(contoso.id, manual_user("carl@contoso.com", &[]))
            .await
            .unwrap();
        let start = db.store.revision(contoso.id).await.unwrap();

        // An alias moved by an update, behind the store's back: no bump yet, so both users are
        // pending, which counts as changed after every revision, the current one included.
        db.raw(
            "UPDATE addresses SET user_id = $1 WHERE address = 'a@contoso.com'",
            vec![Raw::Uuid(bob.id.as_uuid())],
        )
        .await
        .unwrap();
        let pending = changes_since(&db, contoso.id, start).await;
        // The next write stamps them with its revision.
        db.store.remove_user(contoso.id, carl.id).await.unwrap();
        let stamped = changes_since(&db, contoso.id, start).await;
        let after = changes_since(
            &db,
            contoso.id,
            db.store.revision(contoso.id).await.unwrap(),
        )
        .await;

        let ids = |c: &MailChanges| {
            let mut ids: Vec<_> = c.users.iter().map(|u| u.id).collect();
            ids.sort();
            ids
        };
        let mut both = vec![ann.id, bob.id];
        both.sort();
        assert_eq!((pending.revision, ids(&pending)), (start, both.clone()));
        assert_eq!(
            (ids(&stamped), stamped.removed_users),
            (both, vec![carl.id])
        );
        assert_eq!(
            (ids(&after), after.removed_users),
            (vec![], vec![]),
            "stamped, they are no longer changed after the revision that stamped them"
        );
    }
);

contract_test!(
    the_mail_changes_cannot_tell_from_before_pruned_removals_or_from_ahead_of_the_account,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let ann = db
            .store
            .add_user(contoso.id, manual_user("ann@contoso.com", &[]))
            .await
            .unwrap();
        let start = db.store.revision(contoso.id).await.unwrap();
        db.store.remove_user(contoso.id, ann.id).await.unwrap();
        let removed_at = db.store.revision(contoso.id).await.unwrap();
        assert!(
            db.store
                .mail_changes(contoso.id, removed_at.next())
                .await
                .unwrap()
                .is_none(),
            "ahead of the account"
        );

        // Ten thousand revisions later the tombstone is pruned by the next write.
        db.raw(
            "UPDATE accounts SET revision = revision + 10000 WHERE id = $1",
            vec![Raw::Uuid(contoso.id.as_uuid())],
        )
        .await
        .unwrap();
        db.store
            .add_user(contoso.id, manual_user("bob@contoso.com", &[]))
            .await
            .unwrap();
        let current = db.store.revision(contoso.id).await.unwrap();

        assert!(
            db.store
                .mail_changes(contoso.id, start)
                .await
                .unwrap()
                .is_none(),
            "Ann's removal is no longer recorded"
        );
        assert!(
            db.store
                .mail_changes(contoso.id, current)
                .await
                .unwrap()
                .is_some()
        );
        let unknown = db.store.mail_changes(AccountId::new(), start).await;
        assert!(
            matches!(unknown, Err(roster_store::StoreError::AccountNotFound(_))),
            "{unknown:?}"
        );
    }
);

contract_test!(
    postgresql_announces_each_moved_revision_and_sqlite_makes_no_announcements,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let notices = db.store.revision_notices().await.unwrap();
        let Some(mut notices) = notices else {
            assert_eq!(db.backend(), Backend::Sqlite);
            return;
        };
        assert_eq!(db.backend(), Backend::Postgres);
        db.store
            .add_user(contoso.id, manual_user("ann@contoso.com", &[]))
            .await
            .unwrap();
        let announced = tokio::time::timeout(Duration::from_secs(5), notices.next()).await;
        assert_eq!(
            announced.expect("announced within seconds").unwrap(),
            contoso.id
        );
    }
);
