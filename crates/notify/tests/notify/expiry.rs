//! The key's expiry warnings, on a controllable clock: 30, 7 and 1 days before, and once after,
//! each mailed once.

use roster_notify::PassReport;
use time::macros::{date, datetime};

use super::support::{SmtpServer, TestApp, TestClock, free_port, mailer, smtp_tests_enabled};

#[tokio::test]
async fn the_tech_contact_is_warned_30_7_and_1_days_before_the_key_expires_and_once_after() {
    if !smtp_tests_enabled(
        "the_tech_contact_is_warned_30_7_and_1_days_before_the_key_expires_and_once_after",
    ) {
        return;
    }
    let server = SmtpServer::start(free_port());
    let app = TestApp::new().await;
    app.connect_with_key_expiring(date!(2031 - 03 - 31)).await;
    let clock = TestClock::new(datetime!(2031-02-01 09:00 UTC));
    let sender = app.sender(mailer(server.port), &clock);
    let steps = [
        (datetime!(2031-02-01 09:00 UTC), None),
        (datetime!(2031-02-28 23:59 UTC), None),
        (datetime!(2031-03-01 00:00 UTC), Some("expires in 30 days")),
        (datetime!(2031-03-02 08:00 UTC), None),
        (datetime!(2031-03-24 08:00 UTC), Some("expires in 7 days")),
        (datetime!(2031-03-25 08:00 UTC), None),
        (datetime!(2031-03-30 08:00 UTC), Some("expires tomorrow")),
        (datetime!(2031-03-31 08:00 UTC), None),
        (datetime!(2031-04-01 08:00 UTC), Some("has expired")),
        (datetime!(2031-06-01 08:00 UTC), None),
    ];
    for (at, warning) in steps {
        clock.set(at);
        let report = sender.pass().await.unwrap();
        let sent = usize::from(warning.is_some());
        assert_eq!(
            report,
            PassReport {
                queued: sent,
                sent,
                retrying: 0,
                failed: 0
            },
            "at {at}"
        );
        if let Some(warning) = warning {
            let last = server.received().pop().unwrap();
            assert_eq!(
                last.subject,
                format!("[Roster] The Entra ID key of Contoso {warning}"),
                "at {at}"
            );
            assert_eq!(last.rcpt_tos, vec!["ada@contoso.com"]);
        }
    }
    assert_eq!(server.received().len(), 4);

    // A new key with a new expiry date is warned about in its turn.
    app.connect_with_key_expiring(date!(2031 - 06 - 20)).await;
    clock.set(datetime!(2031-06-02 08:00 UTC));
    assert_eq!(sender.pass().await.unwrap().sent, 1);
    assert_eq!(
        server.received().pop().unwrap().subject,
        "[Roster] The Entra ID key of Contoso expires in 18 days"
    );
}
