use roster_domain::plan::{
    AttributeChange, AttributeValue, Category, Change, ChangeAction, DeletionCheck, Plan,
};
use roster_domain::run::{CategoryCount, RunFailure, RunStatus, Trigger};
use roster_domain::{ChangeId, PlanId, RunId, UserId};
use roster_store::{NewRun, StoreError};
use time::OffsetDateTime;

use super::harness::{Raw, TestDb, assert_refused, contract_test};

fn new_run(account_id: roster_domain::AccountId) -> NewRun {
    NewRun {
        account_id,
        trigger: Trigger::Automatic,
        actor: "scheduler".into(),
    }
}

pub fn empty_plan(account_id: roster_domain::AccountId) -> Plan {
    Plan {
        id: PlanId::new(),
        account_id,
        run_id: RunId::new(),
        created_at: OffsetDateTime::UNIX_EPOCH,
        changes: Vec::new(),
        skipped: Vec::new(),
        deletion_check: DeletionCheck {
            user_removals: 0,
            synced_users: 0,
            group_removals: 0,
            synced_groups: 0,
            exceeded: false,
        },
        inactive_not_imported: Default::default(),
    }
}

/// Saves `plan` as its account's newest plan, at the account's revision and mirror version.
pub async fn saved(db: &TestDb, plan: &Plan) {
    let account = plan.account_id;
    db.store
        .save_plan(
            plan,
            db.store.revision(account).await.unwrap(),
            db.store.mirror_version(account).await.unwrap(),
        )
        .await
        .unwrap();
}

contract_test!(a_plan_is_stored_and_applied_at_most_once, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let plan = empty_plan(contoso.id);
    let revision = db.store.revision(contoso.id).await.unwrap();
    let mirror = db.store.mirror_version(contoso.id).await.unwrap();
    db.store.save_plan(&plan, revision, mirror).await.unwrap();
    let stored = db.store.plan(contoso.id, plan.id).await.unwrap();
    assert_eq!(
        (stored.plan, stored.planned_at, stored.applied_at),
        (plan.clone(), Some(revision), None)
    );

    let (first, second) = tokio::join!(
        db.store.mark_plan_applied(contoso.id, plan.id),
        db.store.mark_plan_applied(contoso.id, plan.id)
    );
    let applied = [&first, &second].iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        applied, 1,
        "exactly one of two concurrent applies wins: {first:?} {second:?}"
    );
    let third = db.store.mark_plan_applied(contoso.id, plan.id).await;
    assert!(
        matches!(third, Err(StoreError::PlanAlreadyApplied { plan_id, .. }) if plan_id == plan.id)
    );
    assert!(
        db.store
            .plan(contoso.id, plan.id)
            .await
            .unwrap()
            .applied_at
            .is_some()
    );
    assert!(matches!(
        db.store.mark_plan_applied(contoso.id, PlanId::new()).await,
        Err(StoreError::PlanNotFound(_))
    ));
});

contract_test!(
    a_plan_made_by_an_earlier_version_is_refused_with_the_fix,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let plan = plan_with_changes(contoso.id, 1);
        db.store
            .save_plan(
                &plan,
                db.store.revision(contoso.id).await.unwrap(),
                db.store.mirror_version(contoso.id).await.unwrap(),
            )
            .await
            .unwrap();
        // A group update as plans carried it before updates named only the members that change.
        let earlier = r#"{"id":"01900000-0000-7000-8000-000000000001","category":"groups_to_update","external_id":"g-1",
        "summary":"Update group All","reason":"changed in the directory: members_added","attributes":[],
        "action":{"op":"update_group","group_id":"01900000-0000-7000-8000-000000000002","expected_version":1,
        "fields":{"name":"All","kind":"security","address":null,"aliases":[],"member_users":["u-1"],"member_groups":[]}},
        "allowed_by_settings":true}"#;
        let rewritten = db
            .raw(
                "UPDATE plan_changes SET body = $1 WHERE plan_id = $2",
                vec![Raw::Text(earlier), Raw::Uuid(plan.id.as_uuid())],
            )
            .await;
        assert_eq!(rewritten, Ok(1));
        let error = db.store.plan(contoso.id, plan.id).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::PlanFromEarlierVersion { plan_id, .. } if *plan_id == plan.id),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("run Search Now to build a new plan"),
            "{error}"
        );
    }
);

/// A plan of `count` removals, each with an attribute change: enough to span several writes.
fn plan_with_changes(account_id: roster_domain::AccountId, count: usize) -> Plan {
    let changes = (0..count)
        .map(|n| Change {
            id: ChangeId::new(),
            category: Category::UsersToRemove,
            external_id: format!("u-{n}").parse().unwrap(),
            summary: format!("Remove user{n}@contoso.com"),
            reason: "deleted in the directory".into(),
            attributes: vec![AttributeChange {
                attribute: "primary_address".into(),
                before: AttributeValue::Text(format!("user{n}@contoso.com")),
                after: AttributeValue::None,
            }],
            action: ChangeAction::RemoveUser {
                user_id: UserId::new(),
                expected_version: 1,
            },
            allowed_by_settings: n % 2 == 0,
        })
        .collect();
    Plan {
        changes,
        ..empty_plan(account_id)
    }
}

contract_test!(a_large_plan_keeps_every_change_in_order, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let plan = plan_with_changes(contoso.id, 1_234);
    db.store
        .save_plan(
            &plan,
            db.store.revision(contoso.id).await.unwrap(),
            db.store.mirror_version(contoso.id).await.unwrap(),
        )
        .await
        .unwrap();
    db.store
        .mark_plan_applied(contoso.id, plan.id)
        .await
        .unwrap();
    let stored = db.store.plan(contoso.id, plan.id).await.unwrap();
    assert!(stored.applied_at.is_some());
    assert_eq!(stored.plan, plan);
});

contract_test!(one_sync_runs_per_account_at_a_time, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
    let running = db.store.start_run(new_run(contoso.id)).await.unwrap();
    let second = db.store.start_run(new_run(contoso.id)).await;
    assert!(
        matches!(second, Err(StoreError::SyncAlreadyRunning { running: id }) if id == running.id),
        "{second:?}"
    );
    db.store
        .start_run(new_run(fabrikam.id))
        .await
        .expect("other accounts are not blocked");

    let now = OffsetDateTime::now_utc();
    let raw = db
        .raw(
            "INSERT INTO runs (id, account_id, trigger_kind, actor, status, started_at, heartbeat_at, counts, skipped, \
             failures, graph_requests) VALUES ($1, $2, 'automatic', 'x', 'running', $3, $3, '{}', 0, '[]', 0)",
            vec![Raw::Uuid(RunId::new().as_uuid()), Raw::Uuid(contoso.id.as_uuid()), Raw::Time(now)],
        )
        .await;
    assert_refused(raw, "the schema stored a second running sync");

    db.store
        .update_run(&roster_domain::run::Run {
            status: RunStatus::Succeeded,
            ..running
        })
        .await
        .unwrap();
    db.store
        .start_run(new_run(contoso.id))
        .await
        .expect("a finished run no longer blocks");
});

contract_test!(of_two_syncs_started_at_once_exactly_one_runs, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let (first, second) = tokio::join!(
        db.store.start_run(new_run(contoso.id)),
        db.store.start_run(new_run(contoso.id))
    );
    let refused: Vec<_> = [&first, &second]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    assert!(
        matches!(refused[..], [StoreError::SyncAlreadyRunning { .. }]),
        "{first:?} {second:?}"
    );
});

contract_test!(an_abandoned_run_no_longer_blocks_a_new_one, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let abandoned = db.store.start_run(new_run(contoso.id)).await.unwrap();
    // Its owner stopped renewing the lease, which then ran out.
    db.raw("UPDATE runs SET lease_expires_ms = $1", vec![Raw::Int(1)])
        .await
        .unwrap();

    db.store
        .start_run(new_run(contoso.id))
        .await
        .expect("the stale run is taken over");
    let old = db.store.run(contoso.id, abandoned.id).await.unwrap();
    assert_eq!(old.status, RunStatus::Failed);
    assert!(old.error.unwrap().contains("abandoned"));
});

contract_test!(runs_keep_their_progress_and_are_listed_newest_first, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let mut run = db.store.start_run(new_run(contoso.id)).await.unwrap();
    run.counts.insert(
        Category::UsersToAdd,
        CategoryCount {
            planned: 3,
            applied: 2,
        },
    );
    run.failures.push(RunFailure {
        external_id: None,
        object: "jane@contoso.com".into(),
        reason: "stale".into(),
    });
    run.graph_requests = 7;
    run.skipped = 1;
    let progress = db.store.update_run(&run).await.unwrap();
    assert_eq!(db.store.run(contoso.id, run.id).await.unwrap(), progress);

    run.status = RunStatus::Partial;
    let finished = db.store.update_run(&run).await.unwrap();
    assert!(finished.finished_at.is_some());
    assert_eq!(
        db.store.run(contoso.id, run.id).await.unwrap().finished_at,
        finished.finished_at
    );
    let again = db.store.update_run(&run).await;
    assert!(matches!(again, Err(StoreError::RunFinished(id)) if id == run.id));

    let newer = db.store.start_run(new_run(contoso.id)).await.unwrap();
    let history: Vec<RunId> = db
        .store
        .list_runs(contoso.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(history, vec![newer.id, run.id]);
    assert_eq!(db.store.list_runs(contoso.id, 1).await.unwrap().len(), 1);
    assert!(matches!(
        db.store.run(contoso.id, RunId::new()).await,
        Err(StoreError::RunNotFound(_))
    ));
});

contract_test!(
    the_latest_finished_run_of_each_trigger_is_read_for_the_banners,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let other = db.account("Fabrikam", &["fabrikam.com"]).await;
        let finish = |trigger: Trigger, status: RunStatus, account| {
            let store = db.store.clone();
            async move {
                let mut run = store
                    .start_run(NewRun {
                        account_id: account,
                        trigger,
                        actor: "tests".into(),
                    })
                    .await
                    .unwrap();
                run.status = status;
                store.update_run(&run).await.unwrap()
            }
        };
        let old_failure = finish(Trigger::Automatic, RunStatus::Failed, contoso.id).await;
        let held = finish(Trigger::Automatic, RunStatus::Held, contoso.id).await;
        let preview = finish(Trigger::Preview, RunStatus::Succeeded, contoso.id).await;
        finish(Trigger::Apply, RunStatus::Failed, other.id).await;
        // A running run is not finished, and says nothing yet.
        db.store
            .start_run(NewRun {
                account_id: contoso.id,
                trigger: Trigger::Apply,
                actor: "tests".into(),
            })
            .await
            .unwrap();
        let latest: Vec<RunId> = db
            .store
            .last_finished_runs(contoso.id)
            .await
            .unwrap()
            .iter()
            .map(|run| run.id)
            .collect();
        assert_eq!(latest, [preview.id, held.id]);
        assert!(!latest.contains(&old_failure.id));
    }
);

contract_test!(another_accounts_plan_and_run_are_not_found, |db| {
    let contoso = db.account("Contoso", &["contoso.com"]).await;
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
    let plan = plan_with_changes(contoso.id, 3);
    saved(&db, &plan).await;
    let run = db.store.start_run(new_run(contoso.id)).await.unwrap();
    let not_found = |result: Result<(), StoreError>| matches!(result, Err(StoreError::PlanNotFound(id)) if id == plan.id);

    assert!(not_found(
        db.store.plan(fabrikam.id, plan.id).await.map(drop)
    ));
    assert!(not_found(
        db.store
            .plan_without_changes(fabrikam.id, plan.id)
            .await
            .map(drop)
    ));
    assert!(not_found(
        db.store.check_plan_current(fabrikam.id, plan.id).await
    ));
    assert!(not_found(
        db.store.plan_summary(fabrikam.id, plan.id).await.map(drop)
    ));
    assert!(not_found(
        db.store
            .plan_change_ids(fabrikam.id, plan.id)
            .await
            .map(drop)
    ));
    assert!(not_found(
        db.store
            .mark_plan_applied(fabrikam.id, plan.id)
            .await
            .map(drop)
    ));
    assert!(matches!(
        db.store.run(fabrikam.id, run.id).await,
        Err(StoreError::RunNotFound(id)) if id == run.id
    ));
    assert_eq!(
        db.store.plan(contoso.id, plan.id).await.unwrap().applied_at,
        None,
        "the other account's attempt marked nothing"
    );
    assert_eq!(db.store.run(contoso.id, run.id).await.unwrap().id, run.id);
});
