//! Signing in to the mail server over TLS, as a deployment's relay demands: STARTTLS and
//! implicit TLS (smtps), AUTH PLAIN and LOGIN, a private CA trusted through
//! `ROSTER_SMTP_CA_FILE`, and the errors that say what to fix when the password or the
//! certificate is wrong. The certificates are made by each test.

use std::time::Duration;

use roster_notify::{MailSettings, Mailer, PassReport, Sender};
use roster_store::{OutboxMessage, OutboxStatus};
use time::OffsetDateTime;

use super::support::{
    ServerOptions, ServerTls, SmtpServer, TestApp, TestCertificates, TestClock, free_port,
    mail_settings, smtp_tests_enabled,
};

const USER: &str = "roster";
const PASSWORD: &str = "correct horse battery staple";

/// A server on `port` that takes mail over `tls` only from [`USER`] with [`PASSWORD`].
fn guarded_server(port: u16, tls: ServerTls, certificates: &TestCertificates) -> SmtpServer {
    SmtpServer::start_with(
        port,
        &ServerOptions {
            tls: Some((tls, certificates)),
            login: Some((USER, PASSWORD)),
            mechanism: None,
            ..ServerOptions::default()
        },
    )
}

/// An account whose outbox holds one notice for the tech contact.
async fn app_with_a_notice() -> TestApp {
    let app = TestApp::new().await;
    app.record_failure().await;
    app
}

/// A sender mailing through `url`, signed in as [`USER`] with `password`, trusting the CA of
/// `trusted` besides the system's.
fn sender(
    app: &TestApp,
    url: &str,
    password: &str,
    trusted: Option<&TestCertificates>,
    clock: &TestClock,
) -> Sender {
    let settings = MailSettings {
        username: Some(USER.into()),
        password: Some(password.into()),
        extra_root_certificates_pem: trusted.map(|c| c.ca_pem.clone()),
        ..mail_settings(url)
    };
    app.sender(Mailer::new(settings).unwrap(), clock)
}

/// One pass, which must not wait on a server that never answers.
async fn pass(sender: Sender) -> PassReport {
    tokio::time::timeout(Duration::from_secs(30), sender.pass())
        .await
        .expect("a pass ends: the server answers every command")
        .unwrap()
}

async fn only_message(app: &TestApp) -> OutboxMessage {
    let mut outbox = app.store.list_outbox(app.account.id, 10).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    outbox.remove(0)
}

#[tokio::test]
async fn starttls_signs_in_with_plain_and_with_login() {
    if !smtp_tests_enabled("starttls_signs_in_with_plain_and_with_login") {
        return;
    }
    let certificates = TestCertificates::generate();
    for mechanism in ["PLAIN", "LOGIN"] {
        let server = SmtpServer::start_with(
            free_port(),
            &ServerOptions {
                tls: Some((ServerTls::StartTls, &certificates)),
                login: Some((USER, PASSWORD)),
                mechanism: Some(mechanism),
                ..ServerOptions::default()
            },
        );
        let app = app_with_a_notice().await;
        let url = format!("smtp://127.0.0.1:{}?tls=required", server.port);
        let clock = TestClock::new(OffsetDateTime::now_utc());
        let report = pass(sender(&app, &url, PASSWORD, Some(&certificates), &clock)).await;
        assert_eq!(report.sent, 1, "{mechanism}: {report:?}");

        let received = server.received();
        assert_eq!(received.len(), 1);
        assert!(received[0].tls, "{mechanism}: sent after STARTTLS");
        assert_eq!(received[0].login.as_deref(), Some(USER));
        assert_eq!(received[0].mechanism.as_deref(), Some(mechanism));
        assert_eq!(received[0].rcpt_tos, vec!["ada@contoso.com"]);
        assert_eq!(only_message(&app).await.status, OutboxStatus::Sent);
    }
}

#[tokio::test]
async fn smtps_speaks_tls_from_the_first_byte_and_signs_in() {
    if !smtp_tests_enabled("smtps_speaks_tls_from_the_first_byte_and_signs_in") {
        return;
    }
    let certificates = TestCertificates::generate();
    let server = guarded_server(free_port(), ServerTls::Implicit, &certificates);
    let app = app_with_a_notice().await;
    let url = format!("smtps://127.0.0.1:{}", server.port);
    let clock = TestClock::new(OffsetDateTime::now_utc());
    let report = pass(sender(&app, &url, PASSWORD, Some(&certificates), &clock)).await;
    assert_eq!(report.sent, 1, "{report:?}");

    let received = server.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].tls);
    assert_eq!(received[0].login.as_deref(), Some(USER));
    assert_eq!(
        received[0].subject,
        "[Roster] Automatic sync failed for Contoso"
    );
}

#[tokio::test]
async fn a_wrong_password_says_which_settings_to_check_and_the_message_waits_for_the_fix() {
    if !smtp_tests_enabled(
        "a_wrong_password_says_which_settings_to_check_and_the_message_waits_for_the_fix",
    ) {
        return;
    }
    let certificates = TestCertificates::generate();
    let server = guarded_server(free_port(), ServerTls::StartTls, &certificates);
    let app = app_with_a_notice().await;
    let url = format!("smtp://127.0.0.1:{}?tls=required", server.port);
    let start = OffsetDateTime::now_utc();
    let clock = TestClock::new(start);
    let wrong = "Tr0ub4dor&3";
    let report = pass(sender(&app, &url, wrong, Some(&certificates), &clock)).await;
    assert_eq!((report.sent, report.retrying, report.failed), (0, 1, 0));

    let waiting = only_message(&app).await;
    assert_eq!(
        waiting.status,
        OutboxStatus::Pending,
        "kept for after the fix"
    );
    let error = waiting.last_error.unwrap();
    assert!(error.contains("refused the sign-in"), "{error}");
    assert!(error.contains("535"), "the server's own reply: {error}");
    assert!(
        error.contains("ROSTER_SMTP_USERNAME") && error.contains("ROSTER_SMTP_PASSWORD_FILE"),
        "{error}"
    );
    assert!(!error.contains(wrong), "no password in the error: {error}");

    // The password mended, the message goes at its next attempt, once.
    clock.set(start + Duration::from_secs(61));
    let report = pass(sender(&app, &url, PASSWORD, Some(&certificates), &clock)).await;
    assert_eq!(report.sent, 1);
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused_until_roster_smtp_ca_file_names_the_ca() {
    if !smtp_tests_enabled(
        "a_certificate_from_an_untrusted_ca_is_refused_until_roster_smtp_ca_file_names_the_ca",
    ) {
        return;
    }
    let certificates = TestCertificates::generate();
    let server = guarded_server(free_port(), ServerTls::Implicit, &certificates);
    let app = app_with_a_notice().await;
    let url = format!("smtps://127.0.0.1:{}", server.port);
    let start = OffsetDateTime::now_utc();
    let clock = TestClock::new(start);
    let report = pass(sender(&app, &url, PASSWORD, None, &clock)).await;
    assert_eq!((report.sent, report.retrying), (0, 1));
    let error = only_message(&app).await.last_error.unwrap();
    assert!(
        error.contains("presented a certificate that is not trusted"),
        "{error}"
    );
    assert!(
        error.contains("issued by a CA that neither the system nor Roster trusts"),
        "{error}"
    );
    assert!(error.contains("ROSTER_SMTP_CA_FILE"), "{error}");
    assert!(
        server.received().is_empty(),
        "nothing sent to an unverified server"
    );

    clock.set(start + Duration::from_secs(61));
    let report = pass(sender(&app, &url, PASSWORD, Some(&certificates), &clock)).await;
    assert_eq!(report.sent, 1);
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn credentials_are_never_offered_over_plain_smtp_and_the_error_says_to_use_tls() {
    if !smtp_tests_enabled(
        "credentials_are_never_offered_over_plain_smtp_and_the_error_says_to_use_tls",
    ) {
        return;
    }
    let certificates = TestCertificates::generate();
    // The server offers STARTTLS, but the URL asks for plain SMTP: it offers no AUTH there.
    let server = guarded_server(free_port(), ServerTls::StartTls, &certificates);
    let app = app_with_a_notice().await;
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let clock = TestClock::new(OffsetDateTime::now_utc());
    let report = pass(sender(&app, &url, PASSWORD, Some(&certificates), &clock)).await;
    assert_eq!((report.sent, report.retrying), (0, 1));
    let error = only_message(&app).await.last_error.unwrap();
    assert!(error.contains("offers no sign-in"), "{error}");
    assert!(error.contains("?tls=required"), "{error}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_tls_server_that_is_down_delays_the_message_which_then_arrives_once() {
    if !smtp_tests_enabled("a_tls_server_that_is_down_delays_the_message_which_then_arrives_once") {
        return;
    }
    let certificates = TestCertificates::generate();
    let port = free_port();
    let app = app_with_a_notice().await;
    let url = format!("smtp://127.0.0.1:{port}?tls=required");
    let start = OffsetDateTime::now_utc();
    let clock = TestClock::new(start);
    let send = || sender(&app, &url, PASSWORD, Some(&certificates), &clock);
    let report = pass(send()).await;
    assert_eq!((report.sent, report.retrying), (0, 1), "nothing listens");

    let server = guarded_server(port, ServerTls::StartTls, &certificates);
    clock.set(start + Duration::from_secs(30));
    assert_eq!(pass(send()).await.sent, 0, "backing off");
    clock.set(start + Duration::from_secs(61));
    assert_eq!(pass(send()).await.sent, 1);
    clock.set(start + Duration::from_secs(7200));
    assert_eq!(pass(send()).await.sent, 0);

    assert_eq!(server.received().len(), 1, "delivered once");
    let sent = only_message(&app).await;
    assert_eq!((sent.status, sent.attempts), (OutboxStatus::Sent, 2));
}
