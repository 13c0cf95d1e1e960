//! The admin's review: unchecked changes, exemptions, and changes made stale since planning.

use roster_domain::plan::{Category, SelectionUpdate};
use roster_domain::run::RunStatus;
use roster_sync::{ApplyRequest, Chosen, NoProgress};
use serde_json::json;

use crate::support::{TestApp, change_to, described, skipped};

#[tokio::test]
async fn an_unchecked_change_is_not_applied_and_appears_again_in_the_next_plan() {
    let app = TestApp::synced().await;
    let grace = &app.directory.grace;
    app.control
        .rename_user(grace, "Grace B. Hopper")
        .await
        .unwrap();
    let katherine = app
        .create_user(json!({"displayName": "Katherine Johnson", "mailNickname": "katherine"}))
        .await;
    let plan = app.preview().await;
    let unchecked = change_to(&plan, grace);

    let outcome = app.try_apply(&plan, &[unchecked], false).await.unwrap();

    assert_eq!(outcome.run.counts[&Category::UsersToUpdate].applied, 0);
    assert_eq!(outcome.run.counts[&Category::UsersToAdd].applied, 1);
    assert!(app.user(&katherine).await.is_some());
    assert_eq!(
        app.user(grace).await.unwrap().display_name.as_deref(),
        Some("Grace Hopper")
    );
    let next = app.preview().await;
    assert_eq!(
        described(&next),
        [format!(
            "users_to_update {grace}: changed in the directory: display_name [display_name: Grace Hopper → Grace B. Hopper]"
        )]
    );
}

#[tokio::test]
async fn sync_active_directory_applies_the_boxes_recorded_on_the_plan() {
    let app = TestApp::synced().await;
    let grace = &app.directory.grace;
    app.control
        .rename_user(grace, "Grace B. Hopper")
        .await
        .unwrap();
    let katherine = app
        .create_user(json!({"displayName": "Katherine Johnson", "mailNickname": "katherine"}))
        .await;
    let dorothy = app
        .create_user(json!({"displayName": "Dorothy Vaughan", "mailNickname": "dorothy"}))
        .await;
    let plan = app.preview().await;
    // Every addition unchecked at once, then one checked again; the update left as it was.
    let choices = [
        SelectionUpdate {
            changes: Vec::new(),
            categories: vec![(Category::UsersToAdd, false)],
        },
        SelectionUpdate {
            changes: vec![(change_to(&plan, &dorothy).id, true)],
            categories: Vec::new(),
        },
    ];
    for update in &choices {
        app.store
            .record_selection(app.account.id, plan.id, update)
            .await
            .unwrap();
    }
    let request = ApplyRequest {
        plan_id: plan.id,
        chosen: Chosen::Recorded,
        confirm_removals: false,
    };

    let outcome = app
        .engine
        .apply(app.account.id, &request, "admin", &NoProgress)
        .await
        .unwrap();

    assert_eq!(outcome.run.counts[&Category::UsersToAdd].applied, 1);
    assert_eq!(outcome.run.counts[&Category::UsersToUpdate].applied, 1);
    assert!(app.user(&dorothy).await.is_some());
    assert!(app.user(&katherine).await.is_none());
    let next = app.preview().await;
    assert_eq!(
        next.changes
            .iter()
            .map(|c| c.external_id.as_str())
            .collect::<Vec<_>>(),
        [katherine.as_str()],
        "the unchecked addition is proposed again"
    );
}

#[tokio::test]
async fn an_exempted_object_is_never_changed_added_or_removed() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    let ada_before = app.user(&d.ada).await.unwrap();
    let temp = app
        .create_user(json!({"displayName": "Temp", "mailNickname": "temp"}))
        .await;
    app.exempt(&d.ada).await;
    app.exempt(&temp).await;
    app.control
        .rename_user(&d.ada, "Countess of Lovelace")
        .await
        .unwrap();

    let renamed = app.preview().await;

    assert!(renamed.is_empty(), "{:#?}", described(&renamed));
    assert_eq!(
        skipped(&renamed),
        [
            format!(
                "{} exempted: exempt from sync: no change is proposed",
                d.ada
            ),
            format!("{temp} exempted: exempt from sync: no change is proposed"),
        ]
    );

    app.control.hard_delete_user(&d.ada).await.unwrap();
    let deleted = app.preview().await;

    assert!(
        deleted
            .changes
            .iter()
            .all(|c| c.external_id.as_str() != d.ada),
        "{:#?}",
        described(&deleted)
    );
    assert!(skipped(&deleted).contains(&format!(
        "{} exempted: deleted in the directory, but it is kept: it is exempt from sync",
        d.ada
    )));
    app.apply(&deleted).await;
    assert_eq!(
        app.user(&d.ada).await,
        Some(ada_before),
        "the exempted user is untouched"
    );
    assert!(app.user(&temp).await.is_none());
}

#[tokio::test]
async fn a_change_made_stale_since_planning_fails_alone_and_is_recorded_with_its_object_and_reason()
{
    let app = TestApp::synced().await;
    let d = &app.directory;
    app.control
        .rename_user(&d.grace, "Grace B. Hopper")
        .await
        .unwrap();
    let katherine = app
        .create_user(json!({"displayName": "Katherine Johnson", "mailNickname": "katherine"}))
        .await;
    let plan = app.preview().await;
    let grace = app.user(&d.grace).await.unwrap();
    app.store
        .remove_user(grace.account_id, grace.id)
        .await
        .unwrap();

    let outcome = app.apply(&plan).await;

    assert_eq!(outcome.run.status, RunStatus::Partial);
    assert_eq!(outcome.run.failures.len(), 1, "{:?}", outcome.run.failures);
    let failure = &outcome.run.failures[0];
    assert_eq!(
        failure.external_id.as_ref().map(|id| id.as_str()),
        Some(d.grace.as_str())
    );
    assert_eq!(failure.object, "Update user grace@contoso.com");
    assert!(failure.reason.starts_with("stale:"), "{}", failure.reason);
    assert!(
        app.user(&katherine).await.is_some(),
        "the other changes still apply"
    );
    let recorded = app.store.run(app.account.id, outcome.run.id).await.unwrap();
    assert_eq!(recorded.failures, outcome.run.failures);
}
