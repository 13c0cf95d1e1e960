//! Run ownership across processes (product.md §5, §6, §9): a run is owned by one store instance
//! under a lease; only an expired lease is taken over; a run taken over can no longer write;
//! each schedule slot is claimed once.

use std::time::Duration;

use roster_domain::run::{Run, RunStatus, Trigger};
use roster_domain::{AccountId, NewUserRole, RunId};
use roster_store::{MirrorRefresh, NewRun, Store, StoreError};
use time::OffsetDateTime;

use super::connections::{SECRET, settings};
use super::harness::{Raw, TestDb, contract_test, external, user_fields};
use super::mirror::directory_user;

/// A lease short enough for a test to outlive.
const SHORT_LEASE: Duration = Duration::from_millis(300);

fn preview(account_id: AccountId) -> NewRun {
    NewRun {
        account_id,
        trigger: Trigger::Preview,
        actor: "test".into(),
    }
}

async fn connected(db: &TestDb, name: &str, domain: &str) -> AccountId {
    let account = db.account(name, &[domain]).await;
    db.store
        .set_connection(account.id, settings(domain), Some(SECRET.into()))
        .await
        .unwrap();
    account.id
}

/// Another process on the same database: a store with an instance id of its own.
async fn another_process(db: &TestDb) -> Store {
    db.reopen_with(db.key.clone()).await
}

/// Waits until a lease of [`SHORT_LEASE`] given now has surely expired.
async fn outlive_the_lease() {
    tokio::time::sleep(SHORT_LEASE * 2).await;
}

fn one_user(id: &str, mail: &str) -> MirrorRefresh {
    MirrorRefresh {
        upsert_users: vec![directory_user(id, mail)],
        ..MirrorRefresh::default()
    }
}

fn finished(run: &Run) -> Run {
    Run {
        status: RunStatus::Succeeded,
        ..run.clone()
    }
}

contract_test!(
    a_run_taken_over_can_neither_commit_its_mirror_nor_apply_a_batch,
    |db| {
        let account = connected(&db, "Contoso", "contoso.com").await;
        let stalled = db.store.clone().with_run_lease(SHORT_LEASE);
        let old = stalled.start_run(preview(account)).await.unwrap();
        outlive_the_lease().await;
        let successor = another_process(&db).await;
        let new = successor
            .start_run(preview(account))
            .await
            .expect("an expired lease is taken over");

        let refused = stalled
            .commit_mirror_delta(old.id, account, &one_user("u-1", "a@contoso.com"))
            .await;
        assert!(
            matches!(refused, Err(StoreError::RunTakenOver(id)) if id == old.id),
            "{refused:?}"
        );
        let refused = stalled
            .replace_mirror(old.id, account, &one_user("u-1", "a@contoso.com"))
            .await;
        assert!(
            matches!(refused, Err(StoreError::RunTakenOver(_))),
            "{refused:?}"
        );
        let add = roster_domain::plan::ChangeAction::AddUser {
            external_id: external("u-1"),
            fields: user_fields("a@contoso.com", &[]),
            role: NewUserRole::EndUser,
        };
        let revision = stalled.revision(account).await.unwrap();
        let mut applier = stalled
            .applier(account, Some(revision))
            .await
            .unwrap()
            .for_run(old.id);
        let refused = applier.apply(std::slice::from_ref(&add)).await;
        assert!(
            matches!(refused, Err(StoreError::RunTakenOver(_))),
            "{refused:?}"
        );
        for refused in [
            stalled.update_run(&finished(&old)).await.map(|_| ()),
            stalled.renew_run_lease(old.id, account).await,
        ] {
            assert!(
                matches!(refused, Err(StoreError::RunTakenOver(_))),
                "{refused:?}"
            );
        }
        assert!(
            db.store
                .load_mirror(account)
                .await
                .unwrap()
                .users
                .is_empty(),
            "the refused commits wrote nothing"
        );
        assert!(db.store.list_users(account).await.unwrap().is_empty());
        let old = db.store.run(account, old.id).await.unwrap();
        assert_eq!(old.status, RunStatus::Failed);
        assert!(old.error.unwrap().contains("abandoned"));

        // The run that took over writes.
        successor
            .commit_mirror_delta(new.id, account, &one_user("u-1", "a@contoso.com"))
            .await
            .unwrap();
        let revision = successor.revision(account).await.unwrap();
        let outcomes = successor
            .applier(account, Some(revision))
            .await
            .unwrap()
            .for_run(new.id)
            .apply(&[add])
            .await
            .unwrap();
        assert!(outcomes[0].is_ok(), "{outcomes:?}");
        successor.update_run(&finished(&new)).await.unwrap();
    }
);

contract_test!(
    a_run_of_one_account_cannot_write_another_accounts_mirror,
    |db| {
        let contoso = connected(&db, "Contoso", "contoso.com").await;
        let fabrikam = connected(&db, "Fabrikam", "fabrikam.com").await;
        let run = db.store.start_run(preview(contoso)).await.unwrap();
        let refused = db
            .store
            .commit_mirror_delta(run.id, fabrikam, &one_user("u-1", "a@fabrikam.com"))
            .await;
        assert!(
            matches!(refused, Err(StoreError::RunTakenOver(_))),
            "{refused:?}"
        );
        let finished_run = db.store.update_run(&finished(&run)).await.unwrap();
        let refused = db
            .store
            .commit_mirror_delta(finished_run.id, contoso, &one_user("u-1", "a@contoso.com"))
            .await;
        assert!(
            matches!(refused, Err(StoreError::RunFinished(_))),
            "a finished run writes no more: {refused:?}"
        );
    }
);

contract_test!(
    a_lease_is_taken_over_only_after_it_expires_whatever_its_owner_looks_like,
    |db| {
        let account = connected(&db, "Contoso", "contoso.com").await;
        // An owner named as the old host/pid/start-time scheme named a process that is gone
        // (pid 4194304 is above Linux's pid_max): its lease, not its name, decides.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let owner = format!("{}/4194304/1", host.trim());
        let foreign = RunId::new();
        let lease_ends = OffsetDateTime::now_utc() + time::Duration::minutes(1);
        db.raw(
            "INSERT INTO runs (id, account_id, trigger_kind, actor, status, started_at, heartbeat_at, counts, skipped, \
             failures, graph_requests, owner, lease_expires_ms) \
             VALUES ($1, $2, 'automatic', 'x', 'running', $3, $3, '{}', 0, '[]', 0, $4, $5)",
            vec![
                Raw::Uuid(foreign.as_uuid()),
                Raw::Uuid(account.as_uuid()),
                Raw::Time(OffsetDateTime::now_utc()),
                Raw::Text(owner.leak()),
                Raw::Int(i64::try_from(lease_ends.unix_timestamp_nanos() / 1_000_000).unwrap()),
            ],
        )
        .await
        .unwrap();
        let blocked = db.store.start_run(preview(account)).await;
        assert!(
            matches!(blocked, Err(StoreError::SyncAlreadyRunning { running }) if running == foreign),
            "a run whose lease lasts is not taken over: {blocked:?}"
        );
        db.raw("UPDATE runs SET lease_expires_ms = $1", vec![Raw::Int(1)])
            .await
            .unwrap();
        db.store
            .start_run(preview(account))
            .await
            .expect("an expired lease is taken over");
        let foreign = db.store.run(account, foreign).await.unwrap();
        assert_eq!(foreign.status, RunStatus::Failed);
        assert!(foreign.error.unwrap().contains("abandoned"));
    }
);

contract_test!(a_lease_renewed_in_time_is_never_taken_over, |db| {
    let account = connected(&db, "Contoso", "contoso.com").await;
    let owner = db.store.clone().with_run_lease(SHORT_LEASE);
    let run = owner.start_run(preview(account)).await.unwrap();
    let other = another_process(&db).await;
    for _ in 0..6 {
        tokio::time::sleep(SHORT_LEASE / 3).await;
        owner.renew_run_lease(run.id, account).await.unwrap();
        let blocked = other.start_run(preview(account)).await;
        assert!(
            matches!(blocked, Err(StoreError::SyncAlreadyRunning { .. })),
            "{blocked:?}"
        );
        assert!(other.abandon_lapsed_runs().await.unwrap().is_empty());
    }
    owner.update_run(&finished(&run)).await.unwrap();
});

contract_test!(
    a_lapsed_run_is_marked_abandoned_by_whoever_looks_next,
    |db| {
        let contoso = connected(&db, "Contoso", "contoso.com").await;
        let fabrikam = connected(&db, "Fabrikam", "fabrikam.com").await;
        let dying = db.store.clone().with_run_lease(SHORT_LEASE);
        let lapsed = dying.start_run(preview(contoso)).await.unwrap();
        let alive = db.store.start_run(preview(fabrikam)).await.unwrap();
        outlive_the_lease().await;

        let abandoned = another_process(&db)
            .await
            .abandon_lapsed_runs()
            .await
            .unwrap();
        assert_eq!(abandoned, vec![lapsed.id]);
        let lapsed = db.store.run(contoso, lapsed.id).await.unwrap();
        assert_eq!(
            (lapsed.status, lapsed.finished_at.is_some()),
            (RunStatus::Failed, true)
        );
        assert_eq!(
            db.store.run(fabrikam, alive.id).await.unwrap().status,
            RunStatus::Running
        );
    }
);

contract_test!(each_schedule_slot_is_claimed_once_across_workers, |db| {
    let account = connected(&db, "Contoso", "contoso.com").await;
    let slot = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::hours(1);
    let (first, second) = (another_process(&db).await, another_process(&db).await);
    let (a, b) = tokio::join!(
        first.start_scheduled_run(account, "scheduler", slot),
        second.start_scheduled_run(account, "scheduler", slot)
    );
    let (winner, started) = match (&a, &b) {
        (Ok(run), Err(_)) => (&first, run.clone()),
        (Err(_), Ok(run)) => (&second, run.clone()),
        _ => panic!("exactly one worker claims the slot: {a:?} {b:?}"),
    };
    winner.update_run(&finished(&started)).await.unwrap();

    // A worker that decided before the run finished still finds the slot taken.
    let late = first.start_scheduled_run(account, "scheduler", slot).await;
    assert!(
        matches!(late, Err(StoreError::SlotAlreadyClaimed { .. })),
        "{late:?}"
    );
    let next = slot + time::Duration::hours(6);
    let run = second
        .start_scheduled_run(account, "scheduler", next)
        .await
        .expect("the next slot is claimed");
    second.update_run(&finished(&run)).await.unwrap();
});

contract_test!(
    an_abandoned_automatic_run_leaves_its_slot_to_run_again,
    |db| {
        let account = connected(&db, "Contoso", "contoso.com").await;
        let slot =
            OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::hours(1);
        let dying = db.store.clone().with_run_lease(SHORT_LEASE);
        let abandoned = dying
            .start_scheduled_run(account, "scheduler", slot)
            .await
            .unwrap();
        outlive_the_lease().await;
        db.store.abandon_lapsed_runs().await.unwrap();
        assert_eq!(
            db.store
                .last_run_started(account, Trigger::Automatic)
                .await
                .unwrap(),
            None,
            "an abandoned run is not the slot's run"
        );
        let again = db
            .store
            .start_scheduled_run(account, "scheduler", slot)
            .await
            .expect("the slot runs again");
        assert_ne!(again.id, abandoned.id);

        // A run handed back by a stopping worker is released the same way, at once.
        db.store.release_run(again.id).await.unwrap();
        let released = db.store.run(account, again.id).await.unwrap();
        assert_eq!(released.status, RunStatus::Failed);
        assert!(released.error.unwrap().contains("handed back"));
        db.store
            .start_scheduled_run(account, "scheduler", slot)
            .await
            .expect("the slot runs again after a hand-back");
    }
);

contract_test!(
    changing_the_tenant_while_a_sync_runs_is_refused_and_keeps_the_mirror,
    |db| {
        let account = connected(&db, "Contoso", "contoso.com").await;
        let run = db.store.start_run(preview(account)).await.unwrap();
        db.store
            .commit_mirror_delta(run.id, account, &one_user("u-1", "a@contoso.com"))
            .await
            .unwrap();
        let elsewhere = another_process(&db).await;
        let refused = elsewhere
            .set_connection(account, settings("fabrikam.com"), None)
            .await;
        assert!(
            matches!(refused, Err(StoreError::ConnectionBusy { running }) if running == run.id),
            "{refused:?}"
        );
        let mut same_tenant = settings("contoso.com");
        same_tenant.frequency = roster_domain::Frequency::Hours(12);
        elsewhere
            .set_connection(account, same_tenant, None)
            .await
            .expect("settings that keep the mirror save while a sync runs");
        assert_eq!(db.store.load_mirror(account).await.unwrap().users.len(), 1);

        db.store.update_run(&finished(&run)).await.unwrap();
        elsewhere
            .set_connection(account, settings("fabrikam.com"), None)
            .await
            .expect("saved once the sync finished");
        assert!(
            db.store
                .load_mirror(account)
                .await
                .unwrap()
                .users
                .is_empty()
        );
    }
);
