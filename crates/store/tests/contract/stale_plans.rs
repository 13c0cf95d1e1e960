//! Plans left open while things changed (product.md §4): a plan that is no longer current is
//! refused whole, and whatever changed after planning wins at apply time, change by change.

use roster_domain::plan::{Category, ChangeAction, Plan};
use roster_domain::{AccountId, TechContact, User};
use roster_store::{ChangeFailure, MirrorRefresh, NotCurrent, OwnedBy, StoreError};

use super::connections::{SECRET, settings};
use super::harness::{Raw, TestDb, address, contract_test, external, user_fields};
use super::mirror::directory_user;
use super::plans_and_runs::empty_plan;

/// An account with a connection whose mirror holds `u-1`, and a synced user for it.
async fn synced(db: &TestDb) -> (AccountId, User) {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    db.store
        .set_connection(contoso.id, settings("contoso.com"), Some(SECRET.into()))
        .await
        .unwrap();
    let full = MirrorRefresh {
        upsert_users: vec![directory_user("u-1", "ann@contoso.com")],
        ..MirrorRefresh::default()
    };
    db.store
        .replace_mirror(db.mirror_run(contoso.id).await, contoso.id, &full)
        .await
        .unwrap();
    let add = ChangeAction::AddUser {
        external_id: external("u-1"),
        fields: user_fields("ann@contoso.com", &["ann.alias@contoso.com"]),
        role: roster_domain::NewUserRole::EndUser,
    };
    let outcomes = db.store.apply_changes(contoso.id, &[add]).await.unwrap();
    assert_eq!(outcomes, [Ok(())]);
    let ann = db.store.list_users(contoso.id).await.unwrap().remove(0);
    (contoso.id, ann)
}

/// Stores a new empty plan as Search Now does: at the account's revision and mirror version.
async fn search_now(db: &TestDb, account: AccountId) -> Plan {
    let plan = empty_plan(account);
    let revision = db.store.revision(account).await.unwrap();
    let mirror = db.store.mirror_version(account).await.unwrap();
    db.store.save_plan(&plan, revision, mirror).await.unwrap();
    plan
}

/// Ends the run that wrote the mirror: a tenant is changed only while no sync runs.
async fn finish_the_sync(db: &TestDb, account: AccountId) {
    let mut run = db
        .store
        .run(account, db.mirror_run(account).await)
        .await
        .unwrap();
    run.status = roster_domain::run::RunStatus::Succeeded;
    db.store.update_run(&run).await.unwrap();
}

fn assert_not_current(
    outcome: Result<time::OffsetDateTime, StoreError>,
    plan: &Plan,
    why: NotCurrent,
) {
    match outcome {
        Err(StoreError::PlanNotCurrent {
            plan_id,
            why: found,
        }) => {
            assert_eq!((plan_id, found), (plan.id, why));
        }
        other => panic!("expected the plan to be refused as not current ({why:?}): {other:?}"),
    }
}

async fn delta(db: &TestDb, account: AccountId, users: Vec<roster_domain::DirectoryUser>) {
    let round = MirrorRefresh {
        upsert_users: users,
        users_delta_link: Some(
            "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=next".into(),
        ),
        ..MirrorRefresh::default()
    };
    db.store
        .commit_mirror_delta(db.mirror_run(account).await, account, &round)
        .await
        .unwrap();
}

contract_test!(
    a_plan_replaced_by_a_newer_one_is_refused_whole_with_why_and_what_to_do,
    |db| {
        let (account, _) = synced(&db).await;
        let a = search_now(&db, account).await;
        let b = search_now(&db, account).await;

        let refused = db.store.mark_plan_applied(account, a.id).await;

        let message = refused.as_ref().unwrap_err().to_string();
        assert!(
            message.contains("a newer Search Now or scheduled sync replaced this plan")
                && message.contains("run Search Now again"),
            "{message}"
        );
        assert_not_current(refused, &a, NotCurrent::Replaced);
        assert_eq!(
            db.store.plan(account, a.id).await.unwrap().applied_at,
            None,
            "nothing is marked"
        );
        db.store
            .mark_plan_applied(account, b.id)
            .await
            .expect("the newest plan applies");
        assert!(
            matches!(
                db.store.mark_plan_applied(account, b.id).await,
                Err(StoreError::PlanAlreadyApplied { .. })
            ),
            "a plan applied already is refused as before"
        );
    }
);

contract_test!(
    a_plan_whose_mirror_changed_since_it_was_built_is_refused_whole,
    |db| {
        let (account, _) = synced(&db).await;
        let plan = search_now(&db, account).await;
        let mut renamed = directory_user("u-1", "ann@contoso.com");
        renamed.display_name = Some("Ann, renamed".into());

        delta(&db, account, vec![renamed]).await;

        let refused = db.store.mark_plan_applied(account, plan.id).await;
        let message = refused.as_ref().unwrap_err().to_string();
        assert!(
            message.contains("the directory changed since this plan was built")
                && message.contains("run Search Now again"),
            "{message}"
        );
        assert_not_current(refused, &plan, NotCurrent::DirectoryChanged);
        assert_eq!(
            db.store.plan(account, plan.id).await.unwrap().applied_at,
            None
        );
    }
);

contract_test!(
    a_delta_round_that_brought_nothing_new_does_not_age_a_plan,
    |db| {
        let (account, _) = synced(&db).await;
        let plan = search_now(&db, account).await;
        let before = db.store.mirror_version(account).await.unwrap();

        delta(&db, account, Vec::new()).await;
        // Graph may send an object again as it was: the mirror's content is the same.
        delta(&db, account, vec![directory_user("u-1", "ann@contoso.com")]).await;
        // Writes to the account that are not the mirror's move its revision, not the mirror's.
        db.store
            .add_exemption(account, external("u-9"), "admin@contoso.com")
            .await
            .unwrap();

        assert_eq!(db.store.mirror_version(account).await.unwrap(), before);
        db.store
            .mark_plan_applied(account, plan.id)
            .await
            .expect("the plan is still current");
    }
);

contract_test!(
    discarding_the_mirror_for_another_tenant_ages_every_plan_built_on_it,
    |db| {
        let (account, _) = synced(&db).await;
        let plan = search_now(&db, account).await;
        finish_the_sync(&db, account).await;

        db.store
            .set_connection(account, settings("fabrikam.onmicrosoft.com"), None)
            .await
            .unwrap();

        assert_not_current(
            db.store.mark_plan_applied(account, plan.id).await,
            &plan,
            NotCurrent::DirectoryChanged,
        );
    }
);

fn update(user: &User) -> ChangeAction {
    ChangeAction::UpdateUser {
        user_id: user.id,
        expected_version: user.version,
        fields: user_fields("ann@contoso.com", &["ann.new@contoso.com"]),
    }
}

fn remove(user: &User) -> ChangeAction {
    ChangeAction::RemoveUser {
        user_id: user.id,
        expected_version: user.version,
    }
}

contract_test!(
    a_change_to_an_object_exempted_after_planning_is_rejected_with_the_reason,
    |db| {
        let (account, ann) = synced(&db).await;
        let planned = [
            update(&ann),
            remove(&ann),
            ChangeAction::AddUser {
                external_id: external("u-2"),
                fields: user_fields("bob@contoso.com", &[]),
                role: roster_domain::NewUserRole::EndUser,
            },
        ];
        for id in ["u-1", "u-2"] {
            db.store
                .add_exemption(account, external(id), "admin@contoso.com")
                .await
                .unwrap();
        }

        let outcomes = db.store.apply_changes(account, &planned).await.unwrap();

        assert_eq!(
            outcomes,
            [
                Err(ChangeFailure::Exempted),
                Err(ChangeFailure::Exempted),
                Err(ChangeFailure::Exempted)
            ]
        );
        assert!(
            ChangeFailure::Exempted
                .to_string()
                .starts_with("exempted from sync after the plan was built")
        );
        assert_eq!(
            db.store.list_users(account).await.unwrap(),
            [ann],
            "nothing changed"
        );
    }
);

contract_test!(
    removing_a_user_who_became_the_tech_contact_after_planning_is_rejected,
    |db| {
        let (account, ann) = synced(&db).await;
        db.store
            .set_tech_contact(
                account,
                Some(TechContact {
                    name: "Ann".into(),
                    email: address("ann.alias@contoso.com"),
                }),
            )
            .await
            .unwrap();

        let outcomes = db
            .store
            .apply_changes(account, &[remove(&ann)])
            .await
            .unwrap();

        assert_eq!(outcomes, [Err(ChangeFailure::TechContact)]);
        assert_eq!(
            ChangeFailure::TechContact.to_string(),
            "the user is now the account's tech contact, and sync never removes the tech contact"
        );
        let outcomes = db
            .store
            .apply_changes(account, &[update(&ann)])
            .await
            .unwrap();
        assert_eq!(outcomes, [Ok(())], "the tech contact is still updated");
    }
);

contract_test!(
    removing_a_user_who_became_an_organization_admin_after_planning_is_rejected,
    |db| {
        let (account, ann) = synced(&db).await;
        // No store call promotes a synced user yet (the console will); the row is changed
        // directly, its version untouched, so that only the role can stop the removal.
        let promoted = db
            .raw(
                "UPDATE users SET role = $1 WHERE id = $2",
                vec![Raw::Text("organization_admin"), Raw::Uuid(ann.id.as_uuid())],
            )
            .await;
        assert_eq!(promoted, Ok(1));

        let outcomes = db
            .store
            .apply_changes(account, &[remove(&ann)])
            .await
            .unwrap();

        assert_eq!(outcomes, [Err(ChangeFailure::OrganizationAdmin)]);
        assert_eq!(db.store.list_users(account).await.unwrap().len(), 1);
    }
);

contract_test!(
    a_change_to_an_object_that_became_manual_after_planning_is_rejected,
    |db| {
        let (account, ann) = synced(&db).await;
        let made_manual = db
            .raw(
                "UPDATE users SET source = $1, external_id = NULL WHERE id = $2",
                vec![Raw::Text("manual"), Raw::Uuid(ann.id.as_uuid())],
            )
            .await;
        assert_eq!(made_manual, Ok(1));

        let outcomes = db
            .store
            .apply_changes(account, &[update(&ann), remove(&ann)])
            .await
            .unwrap();

        let manual = ChangeFailure::Manual {
            object: OwnedBy::User(ann.id),
        };
        assert_eq!(outcomes, [Err(manual.clone()), Err(manual.clone())]);
        assert!(
            manual
                .to_string()
                .starts_with("the user is now a manual object"),
            "{manual}"
        );
        let kept = db.store.list_users(account).await.unwrap();
        assert_eq!(kept[0].aliases, ann.aliases, "not updated");
    }
);

contract_test!(
    a_change_whose_category_the_settings_no_longer_allow_is_rejected,
    |db| {
        let (account, ann) = synced(&db).await;
        let mut changed = settings("contoso.com");
        changed.actions.remove_users = false;
        db.store
            .set_connection(account, changed, None)
            .await
            .unwrap();
        let add = ChangeAction::AddUser {
            external_id: external("u-2"),
            fields: user_fields("bob@contoso.com", &[]),
            role: roster_domain::NewUserRole::EndUser,
        };

        let outcomes = db
            .store
            .apply_changes(account, &[remove(&ann), add])
            .await
            .unwrap();

        let refused = ChangeFailure::NotAllowedBySettings {
            category: Category::UsersToRemove,
        };
        assert_eq!(
            outcomes,
            [Err(refused.clone()), Ok(())],
            "the other switches still allow"
        );
        assert!(
            refused
                .to_string()
                .starts_with("How to Sync no longer allows changes in \"Users to remove\""),
            "{refused}"
        );
        assert_eq!(db.store.list_users(account).await.unwrap().len(), 2);
    }
);
