//! An account in step with its directory. Once a whole plan has been applied with nothing else
//! writing the account, a sync whose delta round brings nothing knows its plan is empty without
//! loading and planning the tenant; anything that could change the plan makes it plan again.

use roster_domain::plan::Category;
use serde_json::json;

use roster_sync::Planned;

use crate::support::{TestApp, change_to, described, skipped};

#[tokio::test]
async fn an_unchanged_directory_after_a_whole_plan_was_applied_is_known_in_step_and_reports_what_that_plan_skipped()
 {
    let app = TestApp::unsynced().await;
    app.create_user(
        json!({"displayName": "Outsider", "userPrincipalName": "outsider@contoso.onmicrosoft.com"}),
    )
    .await;
    app.create_user(json!({
        "displayName": "Partner", "userType": "Guest", "mail": "partner@contoso.com",
        "userPrincipalName": "partner_contoso.com#EXT#@contoso.onmicrosoft.com",
    }))
    .await;
    let first = app.preview().await;
    app.apply(&first).await;
    app.control.reset_request_counts().await.unwrap();

    let again = app.try_preview().await.unwrap();

    assert_eq!(again.planned, Planned::InStep);
    assert!(again.plan.is_empty(), "{:#?}", described(&again.plan));
    assert_eq!(skipped(&again.plan), skipped(&first));
    assert!(!skipped(&first).is_empty());
    assert_eq!(
        again.plan.inactive_not_imported,
        first.inactive_not_imported
    );
    assert_eq!(
        (
            again.plan.deletion_check.synced_users,
            again.plan.deletion_check.synced_groups
        ),
        (3, 2)
    );
    let seen = app.control.request_counts().await.unwrap();
    assert_eq!(
        seen.total, 3,
        "a token, then one delta request for users and one for groups: {seen:?}"
    );
    assert_eq!(again.run.graph_requests, 3);
}

#[tokio::test]
async fn an_automatic_run_keeps_the_account_in_step_run_after_run() {
    let app = TestApp::synced().await;

    app.run_automatic().await;
    let third = app.try_preview().await.unwrap();

    assert_eq!(third.planned, Planned::InStep);
    assert!(third.plan.is_empty());
}

#[tokio::test]
async fn a_directory_change_is_planned_and_applying_it_brings_the_account_in_step_again() {
    let app = TestApp::synced().await;
    app.control
        .rename_user(&app.directory.grace, "Grace Brewster Hopper")
        .await
        .unwrap();

    let changed = app.try_preview().await.unwrap();
    assert_ne!(changed.planned, Planned::InStep);
    assert_eq!(
        changed.plan.changes.len(),
        1,
        "{:#?}",
        described(&changed.plan)
    );
    app.apply(&changed.plan).await;

    assert_eq!(app.try_preview().await.unwrap().planned, Planned::InStep);
}

#[tokio::test]
async fn a_synced_user_deleted_in_roster_is_added_back_although_the_directory_did_not_change() {
    let app = TestApp::synced().await;
    let ada = app.user(&app.directory.ada).await.unwrap();
    app.store.remove_user(ada.account_id, ada.id).await.unwrap();

    let plan = app.try_preview().await.unwrap();

    assert_ne!(plan.planned, Planned::InStep);
    assert_eq!(
        change_to(&plan.plan, &app.directory.ada).category,
        Category::UsersToAdd
    );
}

#[tokio::test]
async fn new_settings_are_planned_although_the_directory_did_not_change() {
    let app = TestApp::synced().await;
    app.change_settings(|settings| settings.scope.distribution_groups = false)
        .await;

    let plan = app.try_preview().await.unwrap();

    assert_ne!(plan.planned, Planned::InStep);
    assert_eq!(
        change_to(&plan.plan, &app.directory.engineering).category,
        Category::GroupsToRemove
    );
}

#[tokio::test]
async fn a_new_client_secret_alone_keeps_the_account_in_step() {
    let app = TestApp::synced().await;
    let settings = app
        .store
        .connection(app.account.id)
        .await
        .unwrap()
        .unwrap()
        .settings;
    let secret = app.tenant.client_secret.clone();
    app.store
        .set_connection(app.account.id, settings, Some(secret.into()))
        .await
        .unwrap();

    assert_eq!(app.try_preview().await.unwrap().planned, Planned::InStep);
}

#[tokio::test]
async fn an_exemption_or_a_new_tech_contact_makes_the_next_sync_plan_again() {
    let app = TestApp::synced().await;
    app.exempt(&app.directory.alan).await;
    let exempted = app.try_preview().await.unwrap();
    assert_ne!(exempted.planned, Planned::InStep);
    app.apply(&exempted.plan).await;
    assert_eq!(app.try_preview().await.unwrap().planned, Planned::InStep);

    let contact = roster_domain::TechContact {
        name: "IT".to_owned(),
        email: "grace@contoso.com".parse().unwrap(),
    };
    app.store
        .set_tech_contact(app.account.id, Some(contact))
        .await
        .unwrap();

    assert_ne!(app.try_preview().await.unwrap().planned, Planned::InStep);
}

#[tokio::test]
async fn a_change_left_unchecked_is_proposed_again_by_the_next_sync() {
    let app = TestApp::synced().await;
    app.control
        .rename_user(&app.directory.grace, "Grace Brewster Hopper")
        .await
        .unwrap();
    app.control
        .rename_user(&app.directory.ada, "Augusta Ada King")
        .await
        .unwrap();
    let plan = app.preview().await;
    let left_out = change_to(&plan, &app.directory.ada);
    app.try_apply(&plan, &[left_out], false).await.unwrap();

    let again = app.try_preview().await.unwrap();

    assert_ne!(again.planned, Planned::InStep);
    assert_eq!(described(&again.plan).len(), 1);
    assert_eq!(
        change_to(&again.plan, &app.directory.ada).category,
        Category::UsersToUpdate
    );
}

#[tokio::test]
async fn a_plan_that_another_write_overtook_does_not_put_the_account_in_step() {
    let app = TestApp::synced().await;
    app.control
        .rename_user(&app.directory.grace, "Grace Brewster Hopper")
        .await
        .unwrap();
    let plan = app.preview().await;
    let ada = app.user(&app.directory.ada).await.unwrap();
    app.store.remove_user(ada.account_id, ada.id).await.unwrap();
    app.apply(&plan).await;

    let again = app.try_preview().await.unwrap();

    assert_ne!(again.planned, Planned::InStep);
    assert_eq!(
        change_to(&again.plan, &app.directory.ada).category,
        Category::UsersToAdd
    );
}
