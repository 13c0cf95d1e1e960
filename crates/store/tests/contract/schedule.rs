//! What the scheduler relies on: run ownership, the last automatic run, the time without a
//! tech contact, and account events.

use roster_domain::run::{RunStatus, Trigger};
use roster_domain::{AccountEventKind, RunId, TechContact};
use roster_store::{NewRun, StoreError};
use time::OffsetDateTime;

use super::harness::{Raw, address, contract_test};

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

async fn insert_running(
    db: &super::harness::TestDb,
    account: roster_domain::AccountId,
    owner: String,
) -> RunId {
    let id = RunId::new();
    db.raw(
        "INSERT INTO runs (id, account_id, trigger_kind, actor, status, started_at, heartbeat_at, counts, skipped, \
         failures, graph_requests, owner) VALUES ($1, $2, 'automatic', 'x', 'running', $3, $3, '{}', 0, '[]', 0, $4)",
        vec![Raw::Uuid(id.as_uuid()), Raw::Uuid(account.as_uuid()), Raw::Time(OffsetDateTime::now_utc()), Raw::Text(owner.leak())],
    )
    .await
    .expect("a running run is inserted");
    id
}

fn new_run(account_id: roster_domain::AccountId) -> NewRun {
    NewRun {
        account_id,
        trigger: Trigger::Automatic,
        actor: "scheduler".into(),
    }
}

contract_test!(
    a_run_left_by_a_process_gone_from_this_host_is_taken_over_at_once,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        // No process has pid 4194304 (above Linux's pid_max); its run is a killed process's.
        let orphan = insert_running(&db, contoso.id, format!("{}/4194304/1", this_host())).await;
        let run = db
            .store
            .start_run(new_run(contoso.id))
            .await
            .expect("the orphaned run does not block");
        let orphan = db.store.run(orphan).await.unwrap();
        assert_eq!(orphan.status, RunStatus::Failed);
        assert!(orphan.error.unwrap().contains("abandoned"));
        assert_eq!(
            db.store.run(run.id).await.unwrap().status,
            RunStatus::Running
        );
    }
);

contract_test!(
    a_run_of_a_live_process_or_of_another_host_blocks_until_its_heartbeat_is_stale,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let elsewhere = insert_running(&db, contoso.id, "another-host/1/1".to_owned()).await;
        let second = db.store.start_run(new_run(contoso.id)).await;
        assert!(
            matches!(second, Err(StoreError::SyncAlreadyRunning { running }) if running == elsewhere),
            "{second:?}"
        );

        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        db.store
            .start_run(new_run(fabrikam.id))
            .await
            .expect("a first run starts");
        let again = db.store.start_run(new_run(fabrikam.id)).await;
        assert!(
            matches!(again, Err(StoreError::SyncAlreadyRunning { .. })),
            "this live process still runs it: {again:?}"
        );
    }
);

contract_test!(the_last_run_of_a_trigger_is_the_schedules_baseline, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    assert_eq!(
        db.store
            .last_run_started(contoso.id, Trigger::Automatic)
            .await
            .unwrap(),
        None
    );
    let run = db.store.start_run(new_run(contoso.id)).await.unwrap();
    db.store
        .update_run(&roster_domain::run::Run {
            status: RunStatus::Succeeded,
            ..run.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        db.store
            .last_run_started(contoso.id, Trigger::Automatic)
            .await
            .unwrap(),
        Some(run.started_at)
    );
    assert_eq!(
        db.store
            .last_run_started(contoso.id, Trigger::Preview)
            .await
            .unwrap(),
        None
    );
});

contract_test!(
    an_account_without_a_tech_contact_is_known_since_when,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let since = db
            .store
            .tech_contact_missing_since(contoso.id)
            .await
            .unwrap()
            .expect("created without one");
        assert_eq!(since, contoso.created_at);

        let ada = TechContact {
            name: "Ada".into(),
            email: address("ada@contoso.com"),
        };
        db.store
            .set_tech_contact(contoso.id, Some(ada))
            .await
            .unwrap();
        assert_eq!(
            db.store
                .tech_contact_missing_since(contoso.id)
                .await
                .unwrap(),
            None
        );

        db.store.set_tech_contact(contoso.id, None).await.unwrap();
        let cleared = db
            .store
            .tech_contact_missing_since(contoso.id)
            .await
            .unwrap()
            .expect("cleared");
        assert!(cleared >= since);
        db.store.set_tech_contact(contoso.id, None).await.unwrap();
        assert_eq!(
            db.store
                .tech_contact_missing_since(contoso.id)
                .await
                .unwrap(),
            Some(cleared),
            "clearing again keeps the start"
        );
    }
);

contract_test!(
    events_are_addressed_to_the_tech_contact_and_listed_newest_first,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let first = db
            .store
            .record_event(
                contoso.id,
                AccountEventKind::AutomaticRunFailed,
                "the tenant was not found",
                None,
            )
            .await
            .unwrap();
        assert_eq!(first.notify, None, "nobody to tell without a tech contact");

        let ada = TechContact {
            name: "Ada".into(),
            email: address("ada@contoso.com"),
        };
        db.store
            .set_tech_contact(contoso.id, Some(ada))
            .await
            .unwrap();
        let run = RunId::new();
        let second = db
            .store
            .record_event(
                contoso.id,
                AccountEventKind::AutomaticRunHeld,
                "12 removals held",
                Some(run),
            )
            .await
            .unwrap();
        assert_eq!(second.notify, Some(address("ada@contoso.com")));

        let events = db.store.list_events(contoso.id, 10).await.unwrap();
        assert_eq!(events, vec![second, first]);
    }
);
