//! The account's revision: every write to what its plan is computed from moves it, and an
//! account recorded in step with its mirror stays so only until the next such write.

use roster_domain::plan::ChangeAction;
use roster_domain::{NewUserRole, TechContact};
use roster_store::MirrorRefresh;

use super::connections::{SECRET, settings};
use super::harness::{address, contract_test, domain, external, user_fields};
use super::mirror::directory_user;
use super::plans_and_runs::empty_plan;
use super::users::manual_user;

/// Runs `write` and asserts whether it moved the account's revision.
macro_rules! moves_revision {
    ($db:expr, $account:expr, $moves:expr, $write:expr) => {{
        let before = $db.store.revision($account).await.unwrap();
        $write;
        let after = $db.store.revision($account).await.unwrap();
        assert_eq!(
            after > before,
            $moves,
            "{} (revision {before} → {after})",
            stringify!($write)
        );
        assert!(after >= before);
    }};
}

contract_test!(
    every_write_to_what_a_plan_is_computed_from_moves_the_revision_and_nothing_else_does,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let id = contoso.id;
        let store = &db.store;
        moves_revision!(
            db,
            id,
            true,
            store
                .set_connection(id, settings("contoso.com"), Some(SECRET.into()))
                .await
                .unwrap()
        );
        moves_revision!(
            db,
            id,
            false,
            store
                .set_connection(id, settings("contoso.com"), Some("another secret".into()))
                .await
                .unwrap()
        );
        let mut changed = settings("contoso.com");
        changed.scope.security_groups = false;
        moves_revision!(
            db,
            id,
            true,
            store.set_connection(id, changed, None).await.unwrap()
        );
        moves_revision!(
            db,
            id,
            true,
            store.add_domain(id, domain("contoso.org")).await.unwrap()
        );
        moves_revision!(
            db,
            id,
            true,
            store
                .remove_domain(id, &domain("contoso.org"))
                .await
                .unwrap()
        );
        let contact = TechContact {
            name: "IT".to_owned(),
            email: address("it@contoso.com"),
        };
        moves_revision!(
            db,
            id,
            true,
            store.set_tech_contact(id, Some(contact)).await.unwrap()
        );
        moves_revision!(
            db,
            id,
            true,
            store
                .add_exemption(id, external("u-1"), "admin")
                .await
                .unwrap()
        );
        moves_revision!(
            db,
            id,
            true,
            assert!(store.remove_exemption(id, &external("u-1")).await.unwrap())
        );
        moves_revision!(
            db,
            id,
            false,
            assert!(!store.remove_exemption(id, &external("u-1")).await.unwrap())
        );
        moves_revision!(
            db,
            id,
            true,
            store
                .add_user(id, manual_user("ann@contoso.com", &[]))
                .await
                .unwrap()
        );
        let ann = db.store.list_users(id).await.unwrap().pop().unwrap();
        moves_revision!(db, id, true, store.remove_user(id, ann.id).await.unwrap());
        let add = ChangeAction::AddUser {
            external_id: external("u-2"),
            fields: user_fields("bob@contoso.com", &[]),
            role: NewUserRole::EndUser,
        };
        moves_revision!(db, id, true, store.apply_changes(id, &[add]).await.unwrap());

        let objects = MirrorRefresh {
            upsert_users: vec![directory_user("u-2", "bob@contoso.com")],
            ..MirrorRefresh::default()
        };
        moves_revision!(
            db,
            id,
            true,
            store
                .replace_mirror(db.mirror_run(id).await, id, &objects)
                .await
                .unwrap()
        );
        moves_revision!(
            db,
            id,
            true,
            store
                .commit_mirror_delta(db.mirror_run(id).await, id, &objects)
                .await
                .unwrap()
        );
        let links_only = MirrorRefresh {
            users_delta_link: Some(
                "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=two".to_owned(),
            ),
            ..MirrorRefresh::default()
        };
        moves_revision!(
            db,
            id,
            false,
            store
                .commit_mirror_delta(db.mirror_run(id).await, id, &links_only)
                .await
                .unwrap()
        );
        let plan = empty_plan(id);
        moves_revision!(
            db,
            id,
            false,
            store
                .save_plan(
                    &plan,
                    store.revision(id).await.unwrap(),
                    store.mirror_version(id).await.unwrap(),
                )
                .await
                .unwrap()
        );
        moves_revision!(
            db,
            id,
            false,
            store.mark_plan_applied(id, plan.id).await.unwrap()
        );

        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        moves_revision!(
            db,
            id,
            false,
            store
                .add_user(fabrikam.id, manual_user("eve@fabrikam.com", &[]))
                .await
                .unwrap()
        );
    }
);

contract_test!(
    an_account_recorded_in_step_stays_so_until_the_next_write,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let id = contoso.id;
        let plan = empty_plan(id);
        let revision = db.store.revision(id).await.unwrap();
        db.store
            .save_plan(&plan, revision, db.store.mirror_version(id).await.unwrap())
            .await
            .unwrap();
        assert_eq!(
            db.store.in_step_plan(id).await.unwrap(),
            None,
            "nothing recorded yet"
        );

        assert!(
            db.store
                .record_in_step(id, revision, plan.id)
                .await
                .unwrap()
        );
        assert_eq!(db.store.in_step_plan(id).await.unwrap(), Some(plan.id));

        db.store
            .add_exemption(id, external("u-1"), "admin")
            .await
            .unwrap();
        assert_eq!(db.store.in_step_plan(id).await.unwrap(), None);
        assert!(
            !db.store
                .record_in_step(id, revision, plan.id)
                .await
                .unwrap(),
            "a revision the account has left is refused"
        );
        assert_eq!(db.store.in_step_plan(id).await.unwrap(), None);
    }
);

contract_test!(
    an_applier_knows_whether_another_writer_came_between_its_writes,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let id = contoso.id;
        let add = |n: u32| ChangeAction::AddUser {
            external_id: external(&format!("u-{n}")),
            fields: user_fields(&format!("user{n}@contoso.com"), &[]),
            role: NewUserRole::EndUser,
        };

        let planned_at = db.store.revision(id).await.unwrap();
        let mut alone = db.store.applier(id, Some(planned_at)).await.unwrap();
        alone.apply(&[add(1)]).await.unwrap();
        alone.apply(&[add(2)]).await.unwrap();
        let after = db.store.revision(id).await.unwrap();
        assert_eq!(alone.undisturbed_revision(), Some(after));
        assert!(after > planned_at);

        let mut overtaken = db.store.applier(id, Some(after)).await.unwrap();
        overtaken.apply(&[add(3)]).await.unwrap();
        db.store
            .add_exemption(id, external("u-9"), "admin")
            .await
            .unwrap();
        overtaken.apply(&[add(4)]).await.unwrap();
        assert_eq!(overtaken.undisturbed_revision(), None);

        let mut unknown = db.store.applier(id, None).await.unwrap();
        unknown.apply(&[add(5)]).await.unwrap();
        assert_eq!(
            unknown.undisturbed_revision(),
            None,
            "a plan of unknown revision never counts as undisturbed"
        );
    }
);

contract_test!(
    a_delta_round_reports_the_in_step_plan_it_followed_and_the_revision_it_left,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let id = contoso.id;
        db.store
            .set_connection(id, settings("contoso.com"), Some(SECRET.into()))
            .await
            .unwrap();
        let plan = empty_plan(id);
        let revision = db.store.revision(id).await.unwrap();
        db.store
            .save_plan(&plan, revision, db.store.mirror_version(id).await.unwrap())
            .await
            .unwrap();
        assert!(
            db.store
                .record_in_step(id, revision, plan.id)
                .await
                .unwrap()
        );

        let objects = MirrorRefresh {
            upsert_users: vec![directory_user("u-1", "ann@contoso.com")],
            ..MirrorRefresh::default()
        };
        let first = db
            .store
            .commit_mirror_delta(db.mirror_run(id).await, id, &objects)
            .await
            .unwrap();
        assert_eq!(
            first.in_step_before,
            Some(plan.id),
            "the account was in step until this round"
        );
        assert_eq!(first.revision, db.store.revision(id).await.unwrap());
        assert_eq!(first.revision, revision.next());

        let second = db
            .store
            .commit_mirror_delta(db.mirror_run(id).await, id, &objects)
            .await
            .unwrap();
        assert_eq!(
            second.in_step_before, None,
            "the first round moved the account out of step"
        );
        let links_only = MirrorRefresh {
            users_delta_link: Some(
                "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=two".to_owned(),
            ),
            ..MirrorRefresh::default()
        };
        let third = db
            .store
            .commit_mirror_delta(db.mirror_run(id).await, id, &links_only)
            .await
            .unwrap();
        assert_eq!(
            third.revision, second.revision,
            "a round that brings nothing leaves the revision"
        );
    }
);
