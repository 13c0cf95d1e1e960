//! The reads behind mail-flow lookups: an account's recipients in one snapshot, and every
//! account's revision.

use roster_domain::NewUserRole;
use roster_domain::plan::ChangeAction;
use roster_store::{MailDirectory, MailGroup};

use super::harness::{add_group, address, contract_test, domain, external, user_fields};
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
