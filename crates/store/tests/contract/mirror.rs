use roster_domain::{DirectoryGroup, DirectoryMember, DirectoryUser, MemberType};
use roster_store::{Backend, MirrorRefresh, StoreError};

use super::connections::{SECRET, settings};
use super::harness::{TestDb, contract_test, external};

pub fn directory_user(id: &str, mail: &str) -> DirectoryUser {
    DirectoryUser {
        id: external(id),
        user_principal_name: Some(mail.to_owned()),
        mail: Some(mail.to_owned()),
        proxy_addresses: vec![format!("SMTP:{mail}")],
        account_enabled: Some(true),
        user_type: Some("Member".to_owned()),
        display_name: Some(format!("User {id}")),
        given_name: None,
        surname: None,
    }
}

pub fn directory_group(id: &str, members: &[&str]) -> DirectoryGroup {
    DirectoryGroup {
        id: external(id),
        display_name: Some(format!("Group {id}")),
        mail: None,
        mail_enabled: Some(false),
        security_enabled: Some(true),
        group_types: Vec::new(),
        proxy_addresses: Vec::new(),
        members: members
            .iter()
            .map(|m| DirectoryMember {
                id: external(m),
                kind: MemberType::User,
            })
            .collect(),
    }
}

const USERS_LINK: &str = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=one";
const GROUPS_LINK: &str = "https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=one";

async fn connected(db: &TestDb) -> roster_domain::AccountId {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    db.store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    contoso.id
}

contract_test!(
    a_delta_round_upserts_removes_and_keeps_unnamed_objects,
    |db| {
        let account = connected(&db).await;
        let full = MirrorRefresh {
            upsert_users: vec![
                directory_user("u-1", "a@contoso.com"),
                directory_user("u-2", "b@contoso.com"),
            ],
            upsert_groups: vec![directory_group("g-1", &["u-1", "u-2"])],
            users_delta_link: Some(USERS_LINK.into()),
            groups_delta_link: Some(GROUPS_LINK.into()),
            ..MirrorRefresh::default()
        };
        db.store
            .replace_mirror(db.mirror_run(account).await, account, &full)
            .await
            .unwrap();

        let renamed = directory_user("u-2", "b.renamed@contoso.com");
        let delta = MirrorRefresh {
            upsert_users: vec![renamed.clone(), directory_user("u-3", "c@contoso.com")],
            remove_users: vec![external("u-1")],
            users_delta_link: Some(
                "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=two".into(),
            ),
            ..MirrorRefresh::default()
        };
        db.store
            .commit_mirror_delta(db.mirror_run(account).await, account, &delta)
            .await
            .unwrap();

        let mirror = db.store.load_mirror(account).await.unwrap();
        let mut users = mirror.users.clone();
        users.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(users, vec![renamed, directory_user("u-3", "c@contoso.com")]);
        assert_eq!(
            mirror.groups,
            vec![directory_group("g-1", &["u-1", "u-2"])],
            "groups not named are kept"
        );
        assert!(
            mirror
                .delta_links
                .users
                .unwrap()
                .url
                .ends_with("deltatoken=two")
        );
        assert_eq!(
            mirror.delta_links.groups.unwrap().url,
            GROUPS_LINK,
            "a link not given is kept"
        );
    }
);

contract_test!(
    mirrored_objects_are_read_back_by_directory_id_and_their_delta_links_alone,
    |db| {
        let account = connected(&db).await;
        let full = MirrorRefresh {
            upsert_users: vec![
                directory_user("u-1", "a@contoso.com"),
                directory_user("u-2", "b@contoso.com"),
            ],
            upsert_groups: vec![
                directory_group("g-1", &["u-1"]),
                directory_group("g-2", &["u-2"]),
            ],
            users_delta_link: Some(USERS_LINK.into()),
            groups_delta_link: Some(GROUPS_LINK.into()),
            ..MirrorRefresh::default()
        };
        db.store
            .replace_mirror(db.mirror_run(account).await, account, &full)
            .await
            .unwrap();

        let (users, groups) = db
            .store
            .mirror_objects(
                account,
                &[external("u-2"), external("u-9")],
                &[external("g-1")],
            )
            .await
            .unwrap();

        assert_eq!(
            users,
            vec![directory_user("u-2", "b@contoso.com")],
            "an id the mirror does not hold is left out"
        );
        assert_eq!(groups, vec![directory_group("g-1", &["u-1"])]);
        assert_eq!(
            db.store.mirror_objects(account, &[], &[]).await.unwrap(),
            (Vec::new(), Vec::new())
        );
        let links = db.store.delta_links(account).await.unwrap();
        assert_eq!(
            (links.users.unwrap().url, links.groups.unwrap().url),
            (USERS_LINK.to_owned(), GROUPS_LINK.to_owned())
        );
    }
);

contract_test!(a_full_read_replaces_the_whole_mirror, |db| {
    let account = connected(&db).await;
    let first = MirrorRefresh {
        upsert_users: vec![directory_user("u-1", "a@contoso.com")],
        ..MirrorRefresh::default()
    };
    db.store
        .replace_mirror(db.mirror_run(account).await, account, &first)
        .await
        .unwrap();
    let second = MirrorRefresh {
        upsert_users: vec![directory_user("u-2", "b@contoso.com")],
        users_delta_link: Some(USERS_LINK.into()),
        ..MirrorRefresh::default()
    };
    db.store
        .replace_mirror(db.mirror_run(account).await, account, &second)
        .await
        .unwrap();
    let mirror = db.store.load_mirror(account).await.unwrap();
    assert_eq!(mirror.users, vec![directory_user("u-2", "b@contoso.com")]);
    assert!(mirror.delta_links.groups.is_none());
});

contract_test!(
    a_failed_refresh_changes_neither_the_mirror_nor_the_delta_links,
    |db| {
        let account = connected(&db).await;
        let before = MirrorRefresh {
            upsert_users: vec![directory_user("u-1", "a@contoso.com")],
            users_delta_link: Some(USERS_LINK.into()),
            ..MirrorRefresh::default()
        };
        db.store
            .replace_mirror(db.mirror_run(account).await, account, &before)
            .await
            .unwrap();
        let snapshot = db.store.load_mirror(account).await.unwrap();

        // Make the last write of a refresh, the delta links, fail inside the database.
        let sabotage: &[&'static str] = match db.backend() {
            Backend::Sqlite => &[
                "CREATE TRIGGER sabotage_insert BEFORE INSERT ON delta_links BEGIN SELECT RAISE(ABORT, 'sabotaged'); END",
                "CREATE TRIGGER sabotage_update BEFORE UPDATE ON delta_links BEGIN SELECT RAISE(ABORT, 'sabotaged'); END",
            ],
            Backend::Postgres => &[
                "CREATE FUNCTION sabotage() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''sabotaged''; END'",
                "CREATE TRIGGER sabotage BEFORE INSERT OR UPDATE ON delta_links FOR EACH ROW EXECUTE FUNCTION sabotage()",
            ],
        };
        for statement in sabotage {
            db.raw(statement, vec![]).await.unwrap();
        }
        let failing = MirrorRefresh {
            upsert_users: vec![directory_user("u-2", "b@contoso.com")],
            remove_users: vec![external("u-1")],
            upsert_groups: vec![directory_group("g-1", &["u-2"])],
            users_delta_link: Some(
                "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=two".into(),
            ),
            ..MirrorRefresh::default()
        };
        assert!(
            db.store
                .commit_mirror_delta(db.mirror_run(account).await, account, &failing)
                .await
                .is_err()
        );
        assert!(
            db.store
                .replace_mirror(db.mirror_run(account).await, account, &failing)
                .await
                .is_err()
        );
        assert_eq!(db.store.load_mirror(account).await.unwrap(), snapshot);
    }
);

contract_test!(a_mirror_needs_a_connection, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let refresh = MirrorRefresh {
        upsert_users: vec![directory_user("u-1", "a@contoso.com")],
        ..MirrorRefresh::default()
    };
    let committed = db
        .store
        .commit_mirror_delta(db.mirror_run(contoso.id).await, contoso.id, &refresh)
        .await;
    assert!(
        matches!(committed, Err(StoreError::ConnectionNotFound(_))),
        "{committed:?}"
    );
});

contract_test!(a_directory_id_named_twice_among_many_is_read_once, |db| {
    let account = connected(&db).await;
    let full = MirrorRefresh {
        upsert_users: vec![directory_user("u-1", "a@contoso.com")],
        ..MirrorRefresh::default()
    };
    db.store
        .replace_mirror(db.mirror_run(account).await, account, &full)
        .await
        .unwrap();
    // A delta round may name an object on several pages; the ids then span several statements.
    let mut ids: Vec<_> = (0..500).map(|n| external(&format!("absent-{n}"))).collect();
    ids.insert(0, external("u-1"));
    ids.push(external("u-1"));
    let (users, groups) = db.store.mirror_objects(account, &ids, &ids).await.unwrap();
    assert_eq!(users, [directory_user("u-1", "a@contoso.com")]);
    assert_eq!(groups, []);
});
