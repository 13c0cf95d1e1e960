//! Plans that sat open while things changed (product.md §4): one that is no longer current is
//! refused whole; otherwise whatever changed after Search Now wins, change by change, and the
//! run's report says why.

use roster_domain::TechContact;
use roster_domain::plan::{Category, Plan};
use roster_domain::run::{RunStatus, Trigger};
use roster_graph::GraphClient;
use roster_graph::Priority;
use roster_store::NewRun;
use roster_store::{NotCurrent, StoreError};
use roster_sync::{ApplyOutcome, NoProgress, SyncError, refresh};

use crate::support::{TestApp, change_to, described};

/// Asserts that the run failed exactly one change, the one to `external_id`, for `reason`.
fn assert_only_failure(outcome: &ApplyOutcome, external_id: &str, reason: &str) {
    let failures: Vec<(Option<&str>, &str)> = (outcome.run.failures.iter())
        .map(|f| {
            (
                f.external_id.as_ref().map(|id| id.as_str()),
                f.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(failures, [(Some(external_id), reason)]);
    assert_eq!(outcome.run.status, RunStatus::Partial);
}

/// A synced app whose directory has blocked Grace's sign-in, and the plan removing her.
async fn grace_blocked() -> (TestApp, Plan) {
    let app = TestApp::synced().await;
    app.control
        .disable_user(&app.directory.grace)
        .await
        .unwrap();
    let plan = app.preview().await;
    let removal = change_to(&plan, &app.directory.grace);
    assert_eq!(
        removal.category,
        Category::UsersToRemove,
        "{:#?}",
        described(&plan)
    );
    (app, plan)
}

fn assert_refused(refused: &SyncError, plan: &Plan, why: NotCurrent, says: &str) {
    assert!(
        matches!(refused, SyncError::Store(StoreError::PlanNotCurrent { plan_id, why: found })
            if *plan_id == plan.id && *found == why),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        format!(
            "the plan {} is no longer current: {says}; run Search Now again and apply its plan",
            plan.id
        )
    );
}

#[tokio::test]
async fn a_user_exempted_after_search_now_is_not_removed_and_the_report_says_why() {
    let (app, plan) = grace_blocked().await;
    let grace = &app.directory.grace;
    app.exempt(grace).await;

    let outcome = app.apply(&plan).await;

    assert_only_failure(
        &outcome,
        grace,
        "exempted from sync after the plan was built: no change to it is applied; lift the exemption to sync it again",
    );
    assert!(app.user(grace).await.is_some(), "the exempted user stays");
}

#[tokio::test]
async fn a_plan_replaced_by_a_newer_search_now_is_refused_whole_and_removes_nobody() {
    let (app, plan_a) = grace_blocked().await;
    let grace = &app.directory.grace;
    app.control.enable_user(grace).await.unwrap();
    let plan_b = app.preview().await;
    assert!(plan_b.is_empty(), "{:#?}", described(&plan_b));
    let before = (app.users().await, app.groups().await);

    let refused = app.try_apply(&plan_a, &[], false).await.unwrap_err();

    assert_refused(
        &refused,
        &plan_a,
        NotCurrent::Replaced,
        "a newer Search Now or scheduled sync replaced this plan",
    );
    assert_eq!(
        (app.users().await, app.groups().await),
        before,
        "nothing is applied"
    );
    app.apply(&plan_b).await;
}

#[tokio::test]
async fn a_scheduled_sync_replaces_a_plan_left_open() {
    let app = TestApp::synced().await;
    app.control
        .rename_user(&app.directory.grace, "Grace B. Hopper")
        .await
        .unwrap();
    let open = app.preview().await;
    app.run_automatic().await;

    let refused = app.try_apply(&open, &[], false).await.unwrap_err();

    assert_refused(
        &refused,
        &open,
        NotCurrent::Replaced,
        "a newer Search Now or scheduled sync replaced this plan",
    );
}

#[tokio::test]
async fn a_user_who_became_the_tech_contact_after_search_now_is_not_removed() {
    let (app, plan) = grace_blocked().await;
    let grace = &app.directory.grace;
    let contact = TechContact {
        name: "Grace Hopper".to_owned(),
        email: "grace@contoso.com".parse().unwrap(),
    };
    app.store
        .set_tech_contact(app.account.id, Some(contact))
        .await
        .unwrap();

    let outcome = app.apply(&plan).await;

    assert_only_failure(
        &outcome,
        grace,
        "the user is now the account's tech contact, and sync never removes the tech contact",
    );
    assert!(app.user(grace).await.is_some());
}

#[tokio::test]
async fn a_user_who_became_an_organization_admin_after_search_now_is_not_removed() {
    let (app, plan) = grace_blocked().await;
    let grace = &app.directory.grace;
    let user = app.user(grace).await.unwrap();
    app.change_user_row(
        "UPDATE users SET role = $1 WHERE id = $2",
        "organization_admin",
        user.id,
    )
    .await;

    let outcome = app.apply(&plan).await;

    assert_only_failure(
        &outcome,
        grace,
        "the user is now an organization admin, and sync never removes an organization admin",
    );
    assert!(app.user(grace).await.is_some());
}

#[tokio::test]
async fn a_user_made_manual_after_search_now_is_not_updated() {
    let app = TestApp::synced().await;
    let grace = &app.directory.grace;
    app.control
        .rename_user(grace, "Grace B. Hopper")
        .await
        .unwrap();
    let plan = app.preview().await;
    let user = app.user(grace).await.unwrap();
    app.change_user_row(
        "UPDATE users SET source = $1, external_id = NULL WHERE id = $2",
        "manual",
        user.id,
    )
    .await;

    let outcome = app.apply(&plan).await;

    assert_only_failure(
        &outcome,
        grace,
        "the user is now a manual object, and sync changes only the users and groups it created or linked",
    );
    assert_eq!(
        app.store
            .user(app.account.id, user.id)
            .await
            .unwrap()
            .display_name
            .as_deref(),
        Some("Grace Hopper")
    );
}

#[tokio::test]
async fn a_removal_the_settings_no_longer_allow_is_not_applied() {
    let (app, plan) = grace_blocked().await;
    let grace = &app.directory.grace;
    app.change_settings(|s| s.actions.remove_users = false)
        .await;

    let outcome = app.apply(&plan).await;

    assert_only_failure(
        &outcome,
        grace,
        "How to Sync no longer allows changes in \"Users to remove\": the setting changed after the plan was \
             built; turn it on and run Search Now again to apply them",
    );
    assert!(app.user(grace).await.is_some());
}

#[tokio::test]
async fn a_delta_round_that_brought_nothing_does_not_age_a_plan_and_one_that_did_does() {
    let app = TestApp::synced().await;
    let grace = &app.directory.grace;
    let (_, client) = app
        .engine
        .graph_client(app.account.id, Priority::High)
        .await
        .unwrap();
    app.control
        .rename_user(grace, "Grace B. Hopper")
        .await
        .unwrap();
    let plan = app.preview().await;

    delta_round(&app, &client).await;

    assert_eq!(app.apply(&plan).await.run.status, RunStatus::Succeeded);
    let renamed = app.user(grace).await.unwrap();
    assert_eq!(renamed.display_name.as_deref(), Some("Grace B. Hopper"));

    app.control
        .rename_user(grace, "Grace Hopper")
        .await
        .unwrap();
    let plan = app.preview().await;
    app.control
        .rename_user(grace, "Rear Admiral Hopper")
        .await
        .unwrap();
    delta_round(&app, &client).await;

    let refused = app.try_apply(&plan, &[], false).await.unwrap_err();

    assert_refused(
        &refused,
        &plan,
        NotCurrent::DirectoryChanged,
        "the directory changed since this plan was built",
    );
    assert_eq!(app.user(grace).await, Some(renamed));
}

/// One delta round of the mirror, outside any preview: as a scheduled sync's read would be, in a
/// run of its own.
async fn delta_round(app: &TestApp, client: &GraphClient) {
    let new = NewRun {
        account_id: app.account.id,
        trigger: Trigger::Automatic,
        actor: "test".to_owned(),
    };
    let mut run = app.store.start_run(new).await.unwrap();
    refresh(
        &app.store,
        run.id,
        app.account.id,
        client,
        false,
        &NoProgress,
    )
    .await
    .unwrap();
    run.status = RunStatus::Succeeded;
    app.store.update_run(&run).await.unwrap();
}
