//! Each notice reaches its people with its subject and facts; an outage delays a message and
//! never doubles it; two senders share one outbox.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use roster_domain::notice::ExpiryWarning;
use roster_domain::plan::Category;
use roster_domain::run::{CategoryCount, RunStatus, Trigger};
use roster_domain::{AccountEventKind, CredentialKind, RunId};
use roster_notify::PassReport;
use roster_store::{MasterKey, NewAdmin, NewRun, OutboxStatus, Store};
use time::OffsetDateTime;

use super::support::{
    ServerOptions, SmtpServer, TestApp, TestClock, free_port, mailer, smtp_tests_enabled,
};

/// A finished automatic run with `status`, holding `held` user removals.
async fn automatic_run(app: &TestApp, status: RunStatus, held: usize) -> RunId {
    let mut run = app
        .store
        .start_run(NewRun {
            account_id: app.account.id,
            trigger: Trigger::Automatic,
            actor: "scheduler".into(),
        })
        .await
        .unwrap();
    run.status = status;
    run.counts = BTreeMap::from([(
        Category::UsersToRemove,
        CategoryCount {
            planned: held,
            applied: 0,
        },
    )]);
    app.store.update_run(&run).await.unwrap();
    run.id
}

#[tokio::test]
async fn each_notice_reaches_its_people_with_its_subject_and_facts() {
    if !smtp_tests_enabled("each_notice_reaches_its_people_with_its_subject_and_facts") {
        return;
    }
    let server = SmtpServer::start(free_port());
    let app = TestApp::new().await;
    let account = app.account.id;
    let failed = automatic_run(&app, RunStatus::Failed, 0).await;
    let wrong_key = "Automatic sync failed: the key was refused (AADSTS7000215): paste the client secret's Value, not its Secret ID";
    app.store
        .record_event(
            account,
            AccountEventKind::AutomaticRunFailed,
            wrong_key,
            Some(failed),
        )
        .await
        .unwrap();
    let held = automatic_run(&app, RunStatus::Held, 40).await;
    app.store
        .record_event(
            account,
            AccountEventKind::AutomaticRunHeld,
            "Automatic sync held 40 removal(s)",
            Some(held),
        )
        .await
        .unwrap();
    let clock = TestClock::new(OffsetDateTime::now_utc());
    app.connect_with_key_expiring(OffsetDateTime::now_utc().date() + time::Duration::days(5))
        .await;
    // Without a tech contact, after the grace period: the admins are told.
    app.store
        .create_admin(
            account,
            NewAdmin {
                address: "it-admin@contoso.com".parse().unwrap(),
                display_name: None,
                password: "a long enough password".into(),
            },
        )
        .await
        .unwrap();
    app.store.set_tech_contact(account, None).await.unwrap();
    app.store
        .record_event(
            account,
            AccountEventKind::AutomaticSyncTurnedOff,
            "Automatic sync was set to never: the account has had no tech contact for more than 7 days",
            None,
        )
        .await
        .unwrap();
    // The expiry warning needs a tech contact to go to.
    app.store
        .set_tech_contact(
            account,
            Some(roster_domain::TechContact {
                name: "Ada Lovelace".into(),
                email: "ada@contoso.com".parse().unwrap(),
            }),
        )
        .await
        .unwrap();

    clock.set(OffsetDateTime::now_utc());
    let report = app
        .sender(mailer(server.port), &clock)
        .pass()
        .await
        .unwrap();
    assert_eq!(
        report,
        PassReport {
            queued: 1,
            sent: 4,
            retrying: 0,
            failed: 0
        }
    );

    let received = server.received();
    let by_subject = |subject: &str| {
        received
            .iter()
            .find(|m| m.subject == subject)
            .unwrap_or_else(|| {
                panic!(
                    "no message {subject:?} among {:?}",
                    received.iter().map(|m| &m.subject).collect::<Vec<_>>()
                )
            })
    };
    for message in &received {
        assert_eq!(message.from, "Roster <roster@example.net>");
        assert_eq!(message.mail_from, "roster@example.net");
        assert_eq!(
            message.content_type, "multipart/alternative",
            "{}",
            message.subject
        );
        assert!(
            message.message_id.ends_with("@example.net>"),
            "{}",
            message.message_id
        );
    }

    let failure = by_subject("[Roster] Automatic sync failed for Contoso");
    assert_eq!(failure.rcpt_tos, vec!["ada@contoso.com"]);
    assert_eq!(failure.to, "ada@contoso.com");
    let text = failure.text.as_deref().unwrap();
    assert!(text.starts_with("Hello Ada Lovelace,"), "{text}");
    assert!(text.contains(wrong_key), "{text}");
    let report_link = format!("https://roster.example.net/accounts/{account}/runs/{failed}");
    assert!(text.contains(&report_link), "{text}");
    let html = failure.html.as_deref().unwrap();
    assert!(
        html.contains(&format!("<a href=\"{report_link}\">")),
        "{html}"
    );
    assert!(html.contains("client secret&#39;s Value"), "{html}");

    let hold = by_subject("[Roster] Automatic sync held removals for Contoso");
    assert_eq!(hold.rcpt_tos, vec!["ada@contoso.com"]);
    let text = hold.text.as_deref().unwrap();
    assert!(text.contains("held 40 user(s) to remove"), "{text}");
    assert!(
        text.contains(&format!(
            "https://roster.example.net/accounts/{account}/import/azure"
        )),
        "{text}"
    );

    let off = by_subject("[Roster] Automatic sync turned off for Contoso: no tech contact");
    assert_eq!(off.rcpt_tos, vec!["it-admin@contoso.com"]);
    assert!(
        off.text
            .as_deref()
            .unwrap()
            .contains(&format!("/accounts/{account}/profile"))
    );

    let expiry = by_subject("[Roster] The Entra ID key of Contoso expires in 5 days");
    assert_eq!(expiry.rcpt_tos, vec!["ada@contoso.com"]);
    assert!(
        expiry
            .text
            .as_deref()
            .unwrap()
            .contains("Certificates & secrets › New client secret")
    );

    let outbox = app.store.list_outbox(account, 10).await.unwrap();
    assert!(
        outbox
            .iter()
            .all(|m| m.status == OutboxStatus::Sent && m.attempts == 1),
        "{outbox:?}"
    );
    assert_eq!(
        app.sender(mailer(server.port), &clock)
            .pass()
            .await
            .unwrap(),
        PassReport::default(),
        "each is sent once"
    );
    assert_eq!(server.received().len(), 4);
}

#[tokio::test]
async fn a_mail_server_that_is_down_delays_the_message_which_then_arrives_once() {
    if !smtp_tests_enabled("a_mail_server_that_is_down_delays_the_message_which_then_arrives_once")
    {
        return;
    }
    let port = free_port();
    let app = TestApp::new().await;
    app.record_failure().await;
    let start = OffsetDateTime::now_utc();
    let clock = TestClock::new(start);
    let sender = app.sender(mailer(port), &clock);

    let report = sender.pass().await.unwrap();
    assert_eq!(
        (report.sent, report.retrying),
        (0, 1),
        "nothing listens on {port}"
    );
    let waiting = &app.store.list_outbox(app.account.id, 10).await.unwrap()[0];
    assert_eq!(waiting.status, OutboxStatus::Pending);
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{waiting:?}"
    );

    let server = SmtpServer::start(port);
    clock.set(start + Duration::from_secs(30));
    assert_eq!(
        sender.pass().await.unwrap().sent,
        0,
        "not retried before its backoff"
    );
    clock.set(start + Duration::from_secs(61));
    assert_eq!(sender.pass().await.unwrap().sent, 1);
    clock.set(start + Duration::from_secs(7200));
    assert_eq!(sender.pass().await.unwrap().sent, 0);

    let received = server.received();
    assert_eq!(received.len(), 1, "delivered once");
    assert_eq!(
        received[0].subject,
        "[Roster] Automatic sync failed for Contoso"
    );
    let sent = &app.store.list_outbox(app.account.id, 10).await.unwrap()[0];
    assert_eq!((sent.status, sent.attempts), (OutboxStatus::Sent, 2));
}

#[tokio::test]
async fn two_senders_on_one_outbox_mail_each_message_once() {
    if !smtp_tests_enabled("two_senders_on_one_outbox_mail_each_message_once") {
        return;
    }
    let server = SmtpServer::start(free_port());
    let app = TestApp::new().await;
    let at = OffsetDateTime::now_utc();
    for day in 0..24 {
        let on = at.date() + time::Duration::days(10 + day);
        assert!(
            app.store
                .queue_key_expiry(
                    app.account.id,
                    CredentialKind::Secret,
                    on,
                    ExpiryWarning::In30Days,
                    at,
                )
                .await
                .unwrap()
        );
    }
    // The second sender is another process as far as the database can tell: its own pool.
    let other_store = Store::connect(&app.url, MasterKey::generate())
        .await
        .unwrap();
    let clock = TestClock::new(at);
    let first = app.sender(mailer(server.port), &clock);
    let second = roster_notify::Sender::new(
        other_store,
        Some(mailer(server.port)),
        roster_notify::Links::new(super::support::PUBLIC_URL).unwrap(),
    )
    .with_clock(clock.clock());
    let (a, b) = tokio::join!(first.pass(), second.pass());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sent + b.sent, 24, "{a:?} {b:?}");

    let received = server.received();
    assert_eq!(received.len(), 24);
    let ids: HashSet<_> = received.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), 24, "no message twice");
}

#[tokio::test]
async fn a_sender_slow_with_one_message_never_sends_another_sender_s_message() {
    if !smtp_tests_enabled("a_sender_slow_with_one_message_never_sends_another_sender_s_message") {
        return;
    }
    let server = SmtpServer::start_with(
        free_port(),
        &ServerOptions {
            hold_first: true,
            ..ServerOptions::default()
        },
    );
    let app = TestApp::new().await;
    let at = OffsetDateTime::now_utc();
    for day in [10, 11] {
        let on = at.date() + time::Duration::days(day);
        app.store
            .queue_key_expiry(
                app.account.id,
                CredentialKind::Secret,
                on,
                ExpiryWarning::In30Days,
                at,
            )
            .await
            .unwrap();
    }
    let clock = TestClock::new(at);
    let slow = app.sender(mailer(server.port), &clock);
    let slow_pass = tokio::spawn(async move { slow.pass().await });
    server.holding().await;

    // The slow sender's claims have lapsed by the time another sender looks.
    clock.set(at + roster_notify::LEASE + Duration::from_secs(1));
    let other = app
        .sender(mailer(server.port), &clock)
        .pass()
        .await
        .unwrap();
    assert_eq!(other.sent, 2, "{other:?}");
    server.release();
    let slow = slow_pass.await.unwrap().unwrap();
    assert_eq!(slow.sent, 0, "{slow:?}");

    let received = server.received();
    let ids: HashSet<_> = received.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        (received.len(), ids.len()),
        (2, 2),
        "each message once: {received:?}"
    );
    let outbox = app.store.list_outbox(app.account.id, 10).await.unwrap();
    assert!(
        outbox.iter().all(|m| m.status == OutboxStatus::Sent),
        "{outbox:?}"
    );
}
