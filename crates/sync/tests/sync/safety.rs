//! Safety (product.md §5 and §6): the deletion limit, failed reads, and expired delta links.

use std::time::Duration;

use roster_domain::plan::Category;
use roster_domain::run::{RunStatus, Trigger};
use roster_plan::PlanError;
use roster_sync::{NoProgress, ReadKind, SyncError};
use serde_json::json;

use crate::support::{ACTOR, TestApp, described};

/// The small directory plus `extra` users named member0, member1, …, synced.
async fn synced_with_members(extra: usize) -> (TestApp, Vec<String>) {
    let app = TestApp::unsynced().await;
    let mut members = Vec::new();
    for n in 0..extra {
        members.push(
            app.create_user(
                json!({"displayName": format!("Member {n}"), "mailNickname": format!("member{n}")}),
            )
            .await,
        );
    }
    app.sync().await;
    (app, members)
}

#[tokio::test]
async fn losing_half_the_users_holds_the_removals_on_automatic_sync_and_applies_the_rest() {
    let (app, members) = synced_with_members(21).await;
    for id in &members[..12] {
        app.control.hard_delete_user(id).await.unwrap();
    }
    let newcomer = app
        .create_user(json!({"displayName": "Newcomer", "mailNickname": "newcomer"}))
        .await;

    let outcome = app.run_automatic().await;

    assert_eq!(outcome.run.status, RunStatus::Held);
    assert_eq!(outcome.held_removals, 12);
    assert_eq!(outcome.run.counts[&Category::UsersToRemove].planned, 12);
    assert_eq!(outcome.run.counts[&Category::UsersToRemove].applied, 0);
    assert_eq!(outcome.run.counts[&Category::UsersToAdd].applied, 1);
    assert!(
        outcome
            .run
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("12 removal(s) held"),
        "{:?}",
        outcome.run.error
    );
    assert!(
        app.user(&newcomer).await.is_some(),
        "the other changes are applied"
    );
    assert_eq!(app.users().await.len(), 3 + 21 + 1, "nobody is removed");
    assert_eq!(
        app.store
            .run(app.account.id, outcome.run.id)
            .await
            .unwrap()
            .status,
        RunStatus::Held
    );
    let told = &app.store.list_events(app.account.id, 1).await.unwrap()[0];
    assert_eq!(
        (told.kind, told.run_id),
        (
            roster_domain::AccountEventKind::AutomaticRunHeld,
            Some(outcome.run.id)
        )
    );
    assert_eq!(
        told.notify,
        vec![
            "it@contoso.com"
                .parse::<roster_domain::EmailAddress>()
                .unwrap()
        ],
        "the tech contact is told"
    );
}

#[tokio::test]
async fn removals_over_the_deletion_limit_apply_in_a_manual_sync_only_when_confirmed() {
    let (app, members) = synced_with_members(21).await;
    for id in &members[..12] {
        app.control.hard_delete_user(id).await.unwrap();
    }

    let unconfirmed = app.preview().await;
    assert!(unconfirmed.deletion_check.exceeded);
    assert_eq!(unconfirmed.in_category(Category::UsersToRemove).count(), 12);
    let held = app.try_apply(&unconfirmed, &[], false).await.unwrap();
    assert_eq!((held.run.status, held.held_removals), (RunStatus::Held, 12));
    assert_eq!(app.users().await.len(), 24);

    let confirmed = app.preview().await;
    let applied = app.try_apply(&confirmed, &[], true).await.unwrap();

    assert_eq!(
        (applied.run.status, applied.held_removals),
        (RunStatus::Succeeded, 0)
    );
    assert_eq!(applied.run.counts[&Category::UsersToRemove].applied, 12);
    assert_eq!(app.users().await.len(), 12);
    for id in &members[..12] {
        assert!(app.user(id).await.is_none());
    }
}

#[tokio::test]
async fn a_graph_failure_halfway_through_a_refresh_removes_nothing_and_leaves_the_mirror_unchanged()
{
    let app = TestApp::synced().await;
    let d = &app.directory;
    // Enough new users that the users' delta round takes more than one page.
    for n in 0..250 {
        app.create_user(
            json!({"displayName": format!("Newcomer {n}"), "mailNickname": format!("newcomer{n}")}),
        )
        .await;
    }
    app.control.hard_delete_user(&d.ada).await.unwrap();
    app.control.hard_delete_user(&d.grace).await.unwrap();
    let mirror_before = app.mirror().await;
    let users_before = app.users().await;
    app.control.reset_request_counts().await.unwrap();
    // A request's fault is decided by the settings at its arrival, and it is answered after the
    // latency: the request already counted below still succeeds; every later one fails.
    app.control
        .set_latency(Duration::from_millis(500))
        .await
        .unwrap();

    let engine = app.engine.clone();
    let account_id = app.account.id;
    let preview =
        tokio::spawn(async move { engine.preview(account_id, false, ACTOR, &NoProgress).await });
    while app
        .control
        .request_counts()
        .await
        .unwrap()
        .get("GET /v1.0/users/delta")
        == 0
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.control.set_fault_rate(1.0).await.unwrap();
    let failed = preview.await.unwrap();

    let error = failed.expect_err("the refresh fails on the users' second page");
    assert!(matches!(error, SyncError::Graph { .. }), "{error}");
    assert_eq!(
        app.mirror().await,
        mirror_before,
        "neither objects nor delta links change"
    );
    assert_eq!(app.users().await, users_before, "nobody is removed");
    let run = &app.store.list_runs(app.account.id, 1).await.unwrap()[0];
    assert_eq!(
        (run.trigger, run.status),
        (Trigger::Preview, RunStatus::Failed)
    );
    assert!(run.plan_id.is_none(), "no plan is built from a failed read");
    assert!(run.error.is_some());
    assert!(
        run.graph_requests > 0,
        "a failed run records the requests it made"
    );

    app.control.set_fault_rate(0.0).await.unwrap();
    app.control.set_latency(Duration::ZERO).await.unwrap();
    let plan = app.preview().await;
    assert_eq!(
        plan.in_category(Category::UsersToRemove).count(),
        2,
        "the next round still sees the deletions"
    );
    assert_eq!(plan.in_category(Category::UsersToAdd).count(), 250);
}

#[tokio::test]
async fn a_read_with_no_active_users_is_a_failure_not_a_mass_removal() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    for id in [&d.ada, &d.grace, &d.alan] {
        app.control.disable_user(id).await.unwrap();
    }

    let error = app
        .try_preview()
        .await
        .expect_err("Search Now refuses to plan");

    assert!(
        matches!(
            error,
            SyncError::Plan(PlanError::NoActiveUsersRead { synced_users: 3 })
        ),
        "{error}"
    );
    assert_eq!(app.users().await.len(), 3);
}

#[tokio::test]
async fn an_expired_delta_link_falls_back_to_a_full_read_with_the_same_result() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    app.control
        .rename_user(&d.grace, "Grace B. Hopper")
        .await
        .unwrap();
    app.control.hard_delete_user(&d.alan).await.unwrap();
    app.control.expire_delta_tokens().await.unwrap();

    let after_expiry = app
        .try_preview()
        .await
        .expect("an expired link is no error for the admin");
    let mirror_after_expiry = app.mirror().await;
    let full = app
        .engine
        .preview(app.account.id, true, ACTOR, &NoProgress)
        .await
        .unwrap();

    assert_eq!(after_expiry.read, ReadKind::FullDeltaExpired);
    assert_eq!(full.read, ReadKind::FullRequested);
    assert_eq!(described(&after_expiry.plan), described(&full.plan));
    assert_eq!(
        described(&after_expiry.plan),
        [
            format!(
                "users_to_update {}: changed in the directory: display_name [display_name: Grace Hopper → Grace B. Hopper]",
                d.grace
            ),
            format!(
                "users_to_remove {}: deleted in the directory [user: alan@contoso-europe.com → —]",
                d.alan
            ),
            format!(
                "groups_to_update {}: changed in the directory: members_removed [members_removed: [alan@contoso-europe.com] → —]",
                d.staff
            ),
        ]
    );
    let mirror_after_full = app.mirror().await;
    assert_eq!(
        (mirror_after_expiry.users, mirror_after_expiry.groups),
        (mirror_after_full.users, mirror_after_full.groups)
    );
    assert_eq!(
        app.try_preview().await.unwrap().read,
        ReadKind::Delta,
        "the fresh links serve the next round"
    );
}

#[tokio::test]
async fn a_delta_link_older_than_seven_days_is_not_tried_and_the_directory_is_read_whole() {
    let app = TestApp::synced().await;
    app.control
        .rename_user(&app.directory.grace, "Grace B. Hopper")
        .await
        .unwrap();
    app.age_delta_links(time::Duration::days(8)).await;
    app.control.reset_request_counts().await.unwrap();

    let outcome = app
        .try_preview()
        .await
        .expect("an old link is no error for the admin");

    assert_eq!(outcome.read, ReadKind::FullDeltaExpired);
    assert_eq!(
        app.control
            .request_counts()
            .await
            .unwrap()
            .get("GET /v1.0/users"),
        1,
        "the users are listed whole"
    );
    assert_eq!(
        described(&outcome.plan),
        [format!(
            "users_to_update {}: changed in the directory: display_name [display_name: Grace Hopper → Grace B. Hopper]",
            app.directory.grace
        )]
    );
}

#[tokio::test]
async fn a_group_whose_members_graph_cannot_find_is_kept_and_the_full_read_fails() {
    let app = TestApp::synced().await;
    let engineering = app.directory.engineering.clone();
    let groups_before = app.groups().await;
    let mirror_before = app.mirror().await;
    app.control
        .members_not_found(&engineering, None)
        .await
        .unwrap();

    let error = app
        .engine
        .preview(app.account.id, true, ACTOR, &NoProgress)
        .await
        .expect_err("a full read missing a group's members fails");

    assert!(
        error.to_string().contains(&engineering) && error.to_string().contains("404"),
        "{error}"
    );
    assert_eq!(app.mirror().await, mirror_before, "the mirror is untouched");
    assert_eq!(app.groups().await, groups_before, "no group is removed");

    app.control
        .members_not_found(&engineering, Some(1))
        .await
        .unwrap();
    let plan = app
        .engine
        .preview(app.account.id, true, ACTOR, &NoProgress)
        .await
        .expect("one 404 is retried")
        .plan;
    assert!(
        described(&plan).is_empty(),
        "the group read whole again proposes nothing: {:?}",
        described(&plan)
    );
}
