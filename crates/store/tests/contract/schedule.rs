//! What the scheduler relies on: the last automatic run, the time without a tech contact, and
//! account events. Run ownership and slot claims are in `ownership`.

use roster_domain::run::{RunStatus, Trigger};
use roster_domain::{AccountEventKind, RunId, TechContact};
use roster_store::NewRun;

use super::harness::{address, contract_test};

fn new_run(account_id: roster_domain::AccountId) -> NewRun {
    NewRun {
        account_id,
        trigger: Trigger::Automatic,
        actor: "scheduler".into(),
    }
}

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
        assert_eq!(
            first.notify,
            vec![],
            "nobody to tell without a tech contact"
        );

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
        assert_eq!(second.notify, vec![address("ada@contoso.com")]);

        let events = db.store.list_events(contoso.id, 10).await.unwrap();
        assert_eq!(events, vec![second, first]);
    }
);
