//! The outbox: what each account event queues and for whom, one message per notice, and claims
//! that let several senders share the outbox without mailing a message twice.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use roster_domain::notice::{ExpiryWarning, Notice};
use roster_domain::plan::Category;
use roster_domain::run::{CategoryCount, RunStatus, Trigger};
use roster_domain::{Account, AccountEventKind, CredentialKind, RunId, TechContact};
use roster_store::{NewAdmin, NewRun, OutboxStatus, SendFailure};
use time::OffsetDateTime;
use time::macros::date;

use super::connections::settings;
use super::harness::{Raw, TestDb, address, contract_test};

const LEASE: Duration = Duration::from_secs(300);

async fn with_tech_contact(db: &TestDb) -> Account {
    let account = db.account("Contoso", &["contoso.com"]).await;
    let ada = TechContact {
        name: "Ada".into(),
        email: address("ada@contoso.com"),
    };
    db.store
        .set_tech_contact(account.id, Some(ada))
        .await
        .unwrap();
    account
}

/// An automatic run that ended with `status`, holding `held_users` user removals.
async fn automatic_run(
    db: &TestDb,
    account: &Account,
    status: RunStatus,
    held_users: usize,
) -> RunId {
    let mut run = db
        .store
        .start_run(NewRun {
            account_id: account.id,
            trigger: Trigger::Automatic,
            actor: "scheduler".into(),
        })
        .await
        .unwrap();
    run.status = status;
    run.counts = BTreeMap::from([
        (
            Category::UsersToAdd,
            CategoryCount {
                planned: 2,
                applied: 2,
            },
        ),
        (
            Category::UsersToRemove,
            CategoryCount {
                planned: held_users,
                applied: 0,
            },
        ),
    ]);
    db.store.update_run(&run).await.unwrap();
    run.id
}

async fn fail(db: &TestDb, account: &Account, message: &str) -> RunId {
    let run = automatic_run(db, account, RunStatus::Failed, 0).await;
    db.store
        .record_event(
            account.id,
            AccountEventKind::AutomaticRunFailed,
            message,
            Some(run),
        )
        .await
        .unwrap();
    run
}

contract_test!(
    a_failing_run_queues_one_message_to_the_tech_contact_per_day_of_its_streak,
    |db| {
        let contoso = with_tech_contact(&db).await;
        let first = fail(&db, &contoso, "the tenant was not found").await;
        fail(&db, &contoso, "the tenant was not found").await;
        let queued = db.store.list_outbox(contoso.id, 10).await.unwrap();
        assert_eq!(
            queued.len(),
            1,
            "the second failure on the same day adds no message"
        );
        assert_eq!(queued[0].recipients, vec![address("ada@contoso.com")]);
        assert_eq!(queued[0].status, OutboxStatus::Pending);
        assert_eq!(
            queued[0].notice,
            Notice::AutomaticRunFailed {
                run_id: Some(first),
                message: "the tenant was not found".into(),
                failing_since: None
            }
        );

        // A day later the streak goes on: one "still failing" reminder.
        let started = OffsetDateTime::now_utc() - time::Duration::hours(25);
        db.raw(
            "UPDATE account_events SET created_at = $1 WHERE account_id = $2",
            vec![Raw::Time(started), Raw::Uuid(contoso.id.as_uuid())],
        )
        .await
        .unwrap();
        let latest = fail(&db, &contoso, "Graph is unavailable").await;
        fail(&db, &contoso, "Graph is unavailable").await;
        let queued = db.store.list_outbox(contoso.id, 10).await.unwrap();
        assert_eq!(queued.len(), 2);
        let Notice::AutomaticRunFailed {
            run_id,
            message,
            failing_since: Some(since),
        } = &queued[0].notice
        else {
            panic!("a reminder: {:?}", queued[0].notice);
        };
        assert_eq!(
            (*run_id, message.as_str()),
            (Some(latest), "Graph is unavailable")
        );
        assert!(
            (*since - started).abs() < time::Duration::seconds(1),
            "{since} vs {started}"
        );

        // A run that succeeds ends the streak; the next failure is news again.
        automatic_run(&db, &contoso, RunStatus::Succeeded, 0).await;
        fail(&db, &contoso, "the key expired").await;
        let queued = db.store.list_outbox(contoso.id, 10).await.unwrap();
        assert_eq!(queued.len(), 3);
        assert!(
            matches!(&queued[0].notice, Notice::AutomaticRunFailed { failing_since: None, message, .. } if message == "the key expired")
        );
    }
);

contract_test!(a_held_run_queues_what_it_held, |db| {
    let contoso = with_tech_contact(&db).await;
    let run = automatic_run(&db, &contoso, RunStatus::Held, 12).await;
    db.store
        .record_event(
            contoso.id,
            AccountEventKind::AutomaticRunHeld,
            "12 removals held",
            Some(run),
        )
        .await
        .unwrap();
    let queued = db.store.list_outbox(contoso.id, 10).await.unwrap();
    assert_eq!(
        queued.iter().map(|m| &m.notice).collect::<Vec<_>>(),
        vec![&Notice::AutomaticRunHeld {
            run_id: Some(run),
            message: "12 removals held".into(),
            held: BTreeMap::from([(Category::UsersToRemove, 12)]),
            held_since: None,
        }]
    );
});

contract_test!(
    sync_turned_off_is_queued_for_the_admins_and_nothing_for_nobody,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        db.store
            .record_event(
                contoso.id,
                AccountEventKind::AutomaticRunFailed,
                "failed",
                None,
            )
            .await
            .unwrap();
        db.store
            .record_event(
                contoso.id,
                AccountEventKind::AutomaticSyncTurnedOff,
                "no tech contact",
                None,
            )
            .await
            .unwrap();
        assert!(
            db.store
                .list_outbox(contoso.id, 10)
                .await
                .unwrap()
                .is_empty(),
            "no tech contact and no admin: nobody to mail; the events stay in the history"
        );
        assert!(
            db.store.list_events(contoso.id, 10).await.unwrap()[0]
                .notify
                .is_empty()
        );

        for admin in ["zoe@contoso.com", "bob@contoso.com"] {
            db.store
                .create_admin(
                    contoso.id,
                    NewAdmin {
                        address: address(admin),
                        display_name: None,
                        password: "a long enough password".into(),
                    },
                )
                .await
                .unwrap();
        }
        let told = db
            .store
            .record_event(
                contoso.id,
                AccountEventKind::AutomaticSyncTurnedOff,
                "no tech contact",
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            told.notify,
            vec![address("bob@contoso.com"), address("zoe@contoso.com")],
            "the event names whom its notice went to: the admins"
        );
        let queued = db.store.list_outbox(contoso.id, 10).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(
            queued[0].recipients,
            vec![address("bob@contoso.com"), address("zoe@contoso.com")]
        );
        assert_eq!(
            queued[0].notice,
            Notice::AutomaticSyncTurnedOff {
                message: "no tech contact".into()
            }
        );
    }
);

contract_test!(each_expiry_warning_is_queued_once_per_expiry_date, |db| {
    let contoso = with_tech_contact(&db).await;
    let mut with_expiry = settings("contoso.com");
    with_expiry.key_expires_on = Some(date!(2027 - 01 - 31));
    db.store
        .set_connection(contoso.id, with_expiry, Some("secret".into()))
        .await
        .unwrap();
    let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
    db.store
        .set_connection(fabrikam.id, settings("fabrikam.com"), Some("secret".into()))
        .await
        .unwrap();
    assert_eq!(
        db.store
            .key_expiry_dates(OffsetDateTime::now_utc())
            .await
            .unwrap(),
        vec![(contoso.id, CredentialKind::Secret, date!(2027 - 01 - 31))],
        "only connections that know their key's expiry"
    );

    let at = OffsetDateTime::now_utc();
    let queue = |on, warning| {
        db.store
            .queue_key_expiry(contoso.id, CredentialKind::Secret, on, warning, at)
    };
    assert!(
        queue(date!(2027 - 01 - 31), ExpiryWarning::In30Days)
            .await
            .unwrap()
    );
    assert!(
        !queue(date!(2027 - 01 - 31), ExpiryWarning::In30Days)
            .await
            .unwrap()
    );
    assert!(
        queue(date!(2027 - 01 - 31), ExpiryWarning::In7Days)
            .await
            .unwrap()
    );
    assert!(
        queue(date!(2027 - 07 - 31), ExpiryWarning::In30Days)
            .await
            .unwrap(),
        "a new key's expiry warns again"
    );
    assert!(
        db.store
            .queue_key_expiry(
                contoso.id,
                CredentialKind::Certificate,
                date!(2027 - 07 - 31),
                ExpiryWarning::In30Days,
                at
            )
            .await
            .unwrap(),
        "a certificate expiring the same day is another credential to replace"
    );
    assert!(
        !db.store
            .queue_key_expiry(
                fabrikam.id,
                CredentialKind::Secret,
                date!(2027 - 01 - 31),
                ExpiryWarning::Expired,
                at
            )
            .await
            .unwrap(),
        "no tech contact: nobody to warn"
    );
    let queued = db.store.list_outbox(contoso.id, 10).await.unwrap();
    assert_eq!(queued.len(), 4);
    let certificate_warning = Notice::KeyExpiry {
        expires_on: date!(2027 - 07 - 31),
        warning: ExpiryWarning::In30Days,
        credential: CredentialKind::Certificate,
    };
    assert!(
        queued.iter().any(|m| m.notice == certificate_warning),
        "the warning says which credential to replace: {queued:?}"
    );
});

/// Queues `count` messages for one account.
async fn queue_messages(db: &TestDb, count: usize) -> Account {
    let contoso = with_tech_contact(db).await;
    let at = OffsetDateTime::now_utc();
    for day in 0..count {
        let on = date!(2027 - 01 - 01) + time::Duration::days(day as i64);
        assert!(
            db.store
                .queue_key_expiry(
                    contoso.id,
                    CredentialKind::Secret,
                    on,
                    ExpiryWarning::In30Days,
                    at
                )
                .await
                .unwrap()
        );
    }
    contoso
}

contract_test!(concurrent_claims_share_out_the_due_messages, |db| {
    let contoso = queue_messages(&db, 30).await;
    let at = OffsetDateTime::now_utc();
    let claims = (0..4).map(|n| {
        let store = db.store.clone();
        tokio::spawn(async move {
            let owner = format!("sender-{n}");
            let mut mine = Vec::new();
            while let Some(claimed) = store.claim_outbox(&owner, at, LEASE).await.unwrap() {
                mine.push(claimed.id);
            }
            mine
        })
    });
    let mut seen = HashSet::new();
    for claim in claims {
        for id in claim.await.unwrap() {
            assert!(seen.insert(id), "{id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(
        db.store.claim_outbox("latecomer", at, LEASE).await.unwrap(),
        None,
        "every message is leased"
    );
    let after_lease = at + LEASE + Duration::from_secs(1);
    let mut taken_over = Vec::new();
    while let Some(claimed) = db
        .store
        .claim_outbox("latecomer", after_lease, LEASE)
        .await
        .unwrap()
    {
        taken_over.push(claimed);
    }
    assert_eq!(
        taken_over.len(),
        30,
        "a lapsed lease lets another sender take over"
    );
    assert!(taken_over.iter().all(|m| m.attempts == 2));
    assert_eq!(
        db.store.list_outbox(contoso.id, 100).await.unwrap().len(),
        30
    );
});

contract_test!(a_claim_takes_only_the_message_about_to_be_sent, |db| {
    queue_messages(&db, 2).await;
    let at = OffsetDateTime::now_utc();
    let first = db.store.claim_outbox("slow", at, LEASE).await.unwrap();
    let first = first.expect("a due message");
    let second = db.store.claim_outbox("other", at, LEASE).await.unwrap();
    let second = second.expect("the other message is not held by the slow sender");
    assert_ne!(first.id, second.id);

    // The slow sender outlived its lease; another took its message over and sent it.
    let later = at + LEASE + Duration::from_secs(1);
    let taken = db.store.claim_outbox("other", later, LEASE).await.unwrap();
    assert_eq!(taken.map(|m| m.id), Some(first.id));
    assert!(
        !db.store.outbox_sent(first.id, "slow", later).await.unwrap(),
        "the sender that lost the lease does not finish the message"
    );
    assert!(
        !db.store
            .outbox_failed(first.id, "slow", "timed out", SendFailure::RetryAt(later))
            .await
            .unwrap()
    );
    assert!(
        db.store
            .outbox_sent(first.id, "other", later)
            .await
            .unwrap()
    );
    assert!(
        db.store
            .outbox_sent(second.id, "other", later)
            .await
            .unwrap()
    );
    assert_eq!(
        db.store.claim_outbox("slow", later, LEASE).await.unwrap(),
        None,
        "nothing is left to send twice"
    );
});

contract_test!(only_the_lease_holder_finishes_a_message, |db| {
    let contoso = queue_messages(&db, 3).await;
    let at = OffsetDateTime::now_utc();
    let mut claimed = Vec::new();
    while let Some(message) = db.store.claim_outbox("first", at, LEASE).await.unwrap() {
        claimed.push(message);
    }
    let [sent, retried, given_up] = &claimed[..] else {
        panic!("three messages: {claimed:?}");
    };
    assert!(!db.store.outbox_sent(sent.id, "intruder", at).await.unwrap());
    assert!(db.store.outbox_sent(sent.id, "first", at).await.unwrap());
    assert!(
        !db.store.outbox_sent(sent.id, "first", at).await.unwrap(),
        "sent once"
    );

    let retry_at = at + Duration::from_secs(120);
    assert!(
        db.store
            .outbox_failed(
                retried.id,
                "first",
                "connection refused",
                SendFailure::RetryAt(retry_at)
            )
            .await
            .unwrap()
    );
    assert!(
        db.store
            .outbox_failed(
                given_up.id,
                "first",
                "550 no such user",
                SendFailure::GiveUp
            )
            .await
            .unwrap()
    );
    assert_eq!(
        db.store
            .claim_outbox("second", at + Duration::from_secs(60), LEASE)
            .await
            .unwrap(),
        None
    );
    let again = db
        .store
        .claim_outbox("second", retry_at, LEASE)
        .await
        .unwrap()
        .expect("the message to retry is due");
    assert_eq!(again.id, retried.id);
    assert_eq!(again.last_error.as_deref(), Some("connection refused"));
    assert_eq!(again.attempts, 2);

    let listed = db.store.list_outbox(contoso.id, 10).await.unwrap();
    let status = |id| listed.iter().find(|m| m.id == id).unwrap();
    assert_eq!(status(sent.id).status, OutboxStatus::Sent);
    assert!(status(sent.id).sent_at.is_some());
    assert_eq!(status(given_up.id).status, OutboxStatus::Failed);
    assert_eq!(
        status(given_up.id).last_error.as_deref(),
        Some("550 no such user")
    );
    assert_eq!(status(retried.id).status, OutboxStatus::Pending);
});
