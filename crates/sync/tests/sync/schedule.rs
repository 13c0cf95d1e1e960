//! The scheduler: automatic syncs when their slot comes, never right after saving, and turned
//! off after the grace period without a tech contact.

use roster_domain::run::{RunStatus, Trigger};
use roster_domain::{AccountEventKind, Frequency};
use roster_sync::SchedulePolicy;
use sqlx::Connection;
use time::{Duration, OffsetDateTime};

use crate::support::TestApp;

#[tokio::test]
async fn nothing_runs_right_after_the_settings_are_saved() {
    let app = TestApp::unsynced().await;
    let report = app
        .engine
        .run_due(OffsetDateTime::now_utc(), SchedulePolicy::default())
        .await
        .unwrap();
    assert!(
        report.ran.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert!(
        app.users().await.is_empty(),
        "no unreviewed sync right after saving"
    );
}

#[tokio::test]
async fn a_due_account_is_synced_once_per_slot_by_the_automatic_path() {
    let app = TestApp::unsynced().await;
    let next_day = OffsetDateTime::now_utc() + Duration::days(1) + Duration::minutes(1);
    let report = app
        .engine
        .run_due(next_day, SchedulePolicy::default())
        .await
        .unwrap();
    assert_eq!(report.ran, vec![app.account.id]);
    assert!(
        !app.users().await.is_empty(),
        "the automatic run applied the plan"
    );
    let run = &app.store.list_runs(app.account.id, 1).await.unwrap()[0];
    assert_eq!(
        (run.trigger, run.actor.as_str()),
        (Trigger::Automatic, "scheduler")
    );

    // The run started after the latest slot, so until the next slot nothing is due.
    let again = app
        .engine
        .run_due(OffsetDateTime::now_utc(), SchedulePolicy::default())
        .await
        .unwrap();
    assert!(
        again.ran.is_empty(),
        "the same slot is not synced twice: {again:?}"
    );
}

#[tokio::test]
async fn without_a_tech_contact_automatic_sync_is_turned_off_after_the_grace_period() {
    let app = TestApp::unsynced().await;
    app.store
        .set_tech_contact(app.account.id, None)
        .await
        .unwrap();
    let policy = SchedulePolicy {
        tech_contact_grace: Duration::days(7),
        ..SchedulePolicy::default()
    };

    let within_grace = OffsetDateTime::now_utc() + Duration::days(6);
    let report = app.engine.run_due(within_grace, policy).await.unwrap();
    assert_eq!(
        report.ran,
        vec![app.account.id],
        "within the grace period the schedule still runs"
    );

    let past_grace = OffsetDateTime::now_utc() + Duration::days(8);
    let report = app.engine.run_due(past_grace, policy).await.unwrap();
    assert_eq!(report.turned_off, vec![app.account.id]);
    let connection = app.store.connection(app.account.id).await.unwrap().unwrap();
    assert_eq!(connection.settings.frequency, Frequency::Never);
    let events = app.store.list_events(app.account.id, 10).await.unwrap();
    assert_eq!(events[0].kind, AccountEventKind::AutomaticSyncTurnedOff);
    assert!(
        events[0].message.contains("no tech contact"),
        "{}",
        events[0].message
    );
}

#[tokio::test]
async fn a_failed_automatic_run_is_recorded_for_the_tech_contact() {
    let app = TestApp::unsynced().await;
    app.control.revoke_role("Directory.Read.All").await.unwrap();
    let due = OffsetDateTime::now_utc() + Duration::days(1) + Duration::minutes(1);
    let report = app
        .engine
        .run_due(due, SchedulePolicy::default())
        .await
        .unwrap();
    assert_eq!(report.failed, vec![app.account.id]);
    let events = app.store.list_events(app.account.id, 10).await.unwrap();
    assert_eq!(events[0].kind, AccountEventKind::AutomaticRunFailed);
    assert_eq!(
        events[0].notify,
        vec![
            "it@contoso.com"
                .parse::<roster_domain::EmailAddress>()
                .unwrap()
        ]
    );
    assert!(
        events[0].message.contains("Directory.Read.All"),
        "{}",
        events[0].message
    );
}

#[tokio::test]
async fn an_account_whose_settings_cannot_be_read_fails_alone_and_the_others_still_sync() {
    let app = TestApp::unsynced().await;
    let fabrikam = app
        .store
        .create_account(roster_store::NewAccount {
            name: "fabrikam".into(),
            domains: vec!["fabrikam.com".parse().unwrap()],
            tech_contact: None,
        })
        .await
        .unwrap();
    let settings = app
        .store
        .connection(app.account.id)
        .await
        .unwrap()
        .unwrap()
        .settings;
    app.store
        .set_connection(fabrikam.id, settings, Some("secret".to_owned().into()))
        .await
        .unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE connections SET settings = '{\"tenant\": 7}' WHERE account_id = $1")
        .bind(fabrikam.id.as_uuid())
        .execute(&mut conn)
        .await
        .unwrap();

    let due = OffsetDateTime::now_utc() + Duration::days(1) + Duration::minutes(1);
    let report = app
        .engine
        .run_due(due, SchedulePolicy::default())
        .await
        .expect("one account's unreadable settings do not stop the scheduler");
    assert_eq!(report.ran, vec![app.account.id]);
    assert_eq!(report.failed, vec![fabrikam.id]);
    let runs = app.store.list_runs(fabrikam.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert!(
        runs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("connection settings could not be read")),
        "{:?}",
        runs[0].error
    );

    let again = app
        .engine
        .run_due(due, SchedulePolicy::default())
        .await
        .unwrap();
    assert!(again.failed.is_empty(), "recorded once: {again:?}");
    assert_eq!(app.store.list_runs(fabrikam.id, 10).await.unwrap().len(), 1);
}
