//! Runs: one at a time per account, plans applied once, and what each run records.

use std::collections::HashSet;
use std::time::Duration;

use roster_domain::ChangeId;
use roster_domain::plan::Category;
use roster_domain::run::{CategoryCount, RunStatus, Trigger};
use roster_store::StoreError;
use roster_sync::{ApplyRequest, Chosen, NoProgress, SyncError};
use sqlx::Connection;

use crate::support::{ACTOR, TestApp};

#[tokio::test]
async fn a_second_run_of_an_account_is_refused_while_one_is_running() {
    let app = TestApp::synced().await;
    app.control
        .set_latency(Duration::from_millis(150))
        .await
        .unwrap();
    let engine = app.engine.clone();
    let account_id = app.account.id;
    let first =
        tokio::spawn(async move { engine.preview(account_id, false, ACTOR, &NoProgress).await });
    let running = loop {
        let latest = app
            .store
            .list_runs(app.account.id, 1)
            .await
            .unwrap()
            .remove(0);
        if latest.status == RunStatus::Running {
            break latest;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    let second = app
        .try_preview()
        .await
        .expect_err("a second preview is refused");
    let automatic = app
        .engine
        .run_automatic(app.account.id, "scheduler", &NoProgress)
        .await
        .expect_err("and so is an automatic run");

    for error in [second, automatic] {
        assert!(
            matches!(error, SyncError::Store(StoreError::SyncAlreadyRunning { running: id }) if id == running.id),
            "{error}"
        );
    }
    assert_eq!(
        first.await.unwrap().expect("the first run finishes").run.id,
        running.id
    );
    app.control.set_latency(Duration::ZERO).await.unwrap();
    assert!(
        app.try_preview().await.is_ok(),
        "once it has finished, the next run starts"
    );
}

#[tokio::test]
async fn a_plan_is_applied_once_and_refused_the_second_time() {
    let app = TestApp::unsynced().await;
    let plan = app.preview().await;
    app.apply(&plan).await;

    let again = app
        .try_apply(&plan, &[], false)
        .await
        .expect_err("the second apply is refused");

    assert!(
        matches!(again, SyncError::Store(StoreError::PlanAlreadyApplied { plan_id, .. }) if plan_id == plan.id),
        "{again}"
    );
    assert_eq!(app.users().await.len(), 3);
    let runs = app.store.list_runs(app.account.id, 10).await.unwrap();
    assert_eq!(
        runs.len(),
        2,
        "the refused apply started no run: only the preview's and the first apply's are kept"
    );
}

#[tokio::test]
async fn runs_record_trigger_actor_counts_and_graph_requests() {
    let app = TestApp::unsynced().await;
    app.control.reset_request_counts().await.unwrap();
    let plan = app.preview().await;
    let seen = app.control.request_counts().await.unwrap();
    // The simulator also counts each item of a `$batch`; the run counts the `$batch` once.
    let graph_requests = seen.total - seen.get("GET /v1.0/groups/{id}/members");
    app.apply(&plan).await;
    app.run_automatic().await;

    let runs = app.store.list_runs(app.account.id, 10).await.unwrap();

    let [automatic, apply, preview] = &runs[..] else {
        panic!("three runs, newest first: {runs:#?}")
    };
    assert_eq!(
        (preview.trigger, preview.actor.as_str(), preview.status),
        (Trigger::Preview, ACTOR, RunStatus::Succeeded)
    );
    assert_eq!(preview.plan_id, Some(plan.id));
    assert_eq!(
        preview.counts[&Category::UsersToAdd],
        CategoryCount {
            planned: 3,
            applied: 0
        }
    );
    assert_eq!(
        preview.counts[&Category::GroupsToAdd],
        CategoryCount {
            planned: 2,
            applied: 0
        }
    );
    assert!(graph_requests > 0);
    assert_eq!(
        preview.graph_requests, graph_requests,
        "every HTTP request to Graph and to the token endpoint"
    );
    assert!(
        preview
            .finished_at
            .is_some_and(|end| end >= preview.started_at)
    );

    assert_eq!(
        (apply.trigger, apply.actor.as_str(), apply.status),
        (Trigger::Apply, ACTOR, RunStatus::Succeeded)
    );
    assert_eq!(apply.plan_id, Some(plan.id));
    assert_eq!(
        apply.counts[&Category::UsersToAdd],
        CategoryCount {
            planned: 3,
            applied: 3
        }
    );
    assert_eq!(
        apply.counts[&Category::GroupsToAdd],
        CategoryCount {
            planned: 2,
            applied: 2
        }
    );
    assert_eq!(apply.graph_requests, 0, "applying reads nothing from Graph");
    assert!(apply.failures.is_empty());

    assert_eq!(
        (
            automatic.trigger,
            automatic.actor.as_str(),
            automatic.status
        ),
        (Trigger::Automatic, "scheduler", RunStatus::Succeeded)
    );
    assert!(
        automatic.counts.is_empty(),
        "nothing changed since: {:?}",
        automatic.counts
    );
    assert!(automatic.graph_requests > 0);
}

#[tokio::test]
async fn an_apply_naming_another_accounts_plan_or_an_unknown_change_is_refused_before_it_runs() {
    let app = TestApp::unsynced().await;
    let plan = app.preview().await;
    let other = app
        .store
        .create_account(roster_store::NewAccount {
            name: "fabrikam".to_owned(),
            domains: vec!["fabrikam.com".parse().unwrap()],
            tech_contact: None,
        })
        .await
        .unwrap();
    let runs_before = app.store.list_runs(app.account.id, 10).await.unwrap();

    let request = ApplyRequest {
        plan_id: plan.id,
        chosen: Chosen::Recorded,
        confirm_removals: false,
    };
    let foreign = app
        .engine
        .apply(other.id, &request, ACTOR, &NoProgress)
        .await
        .expect_err("another account's plan");
    let unknown_change = ChangeId::from_uuid(uuid::Uuid::now_v7());
    let request = ApplyRequest {
        plan_id: plan.id,
        chosen: Chosen::AllBut(HashSet::from([unknown_change])),
        confirm_removals: false,
    };
    let unknown = app
        .engine
        .apply(app.account.id, &request, ACTOR, &NoProgress)
        .await
        .expect_err("an unknown change");

    assert!(
        matches!(foreign, SyncError::Store(StoreError::PlanNotFound(plan_id)) if plan_id == plan.id),
        "{foreign}"
    );
    assert!(
        matches!(&unknown, SyncError::UnknownChange { change_id, .. } if *change_id == unknown_change.to_string()),
        "{unknown}"
    );
    assert_eq!(
        app.store.list_runs(app.account.id, 10).await.unwrap(),
        runs_before,
        "no run was started"
    );
    assert!(app.store.list_runs(other.id, 10).await.unwrap().is_empty());
    assert!(app.users().await.is_empty());
}

#[tokio::test]
async fn a_run_reading_a_slow_directory_keeps_beating_so_it_is_not_taken_for_abandoned() {
    let app = TestApp::synced().await;
    app.control
        .set_latency(Duration::from_millis(400))
        .await
        .unwrap();
    let engine = app.engine.clone().with_heartbeat(Duration::from_millis(50));
    let account_id = app.account.id;
    let preview =
        tokio::spawn(async move { engine.preview(account_id, false, ACTOR, &NoProgress).await });

    let mut beat_while_reading = false;
    while !preview.is_finished() && !beat_while_reading {
        let (status, plan_id, started_at, heartbeat_at) = app.latest_run_liveness().await;
        beat_while_reading = status == "running" && plan_id.is_none() && heartbeat_at > started_at;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    assert!(
        beat_while_reading,
        "the run's heartbeat moved while the directory was read"
    );
    assert!(preview.await.unwrap().is_ok());
}

#[tokio::test]
async fn a_run_that_lost_its_ownership_stops_and_writes_nothing() {
    let app = TestApp::unsynced().await;
    app.control
        .set_latency(Duration::from_millis(300))
        .await
        .unwrap();
    let engine = app.engine.clone().with_heartbeat(Duration::from_millis(50));
    let account_id = app.account.id;
    let preview =
        tokio::spawn(async move { engine.preview(account_id, false, ACTOR, &NoProgress).await });
    while app.store.list_runs(account_id, 1).await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another process took the run over while the directory was read.
    let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE runs SET owner = 'another-process'")
        .execute(&mut conn)
        .await
        .unwrap();

    let outcome = preview.await.unwrap();
    assert!(
        matches!(outcome, Err(SyncError::Store(StoreError::RunTakenOver(_)))),
        "{outcome:?}"
    );
    let mirror = app.store.load_mirror(account_id).await.unwrap();
    assert!(
        mirror.users.is_empty() && mirror.delta_links.users.is_none(),
        "the run stopped before writing its mirror"
    );
    let run = &app.store.list_runs(account_id, 1).await.unwrap()[0];
    assert_eq!(
        run.status,
        RunStatus::Running,
        "the process that took it over records its end, not this one"
    );
}
