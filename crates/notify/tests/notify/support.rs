//! A real SMTP server in a child process, a store on a fresh SQLite file, and a movable clock.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use roster_domain::{Account, ConnectionSettings, TechContact};
use roster_notify::{Clock, Links, MailSettings, Mailer, Sender};
use roster_store::{MasterKey, NewAccount, Store};
use time::OffsetDateTime;

pub const PUBLIC_URL: &str = "https://roster.example.net";

/// Whether this run may start an SMTP server; says so when it may not.
pub fn smtp_tests_enabled(test: &str) -> bool {
    let enabled = std::env::var("ROSTER_TEST_SMTP").is_ok_and(|v| v == "1");
    if !enabled {
        // Straight to the standard error, which the test harness does not capture as it does
        // `eprintln!`: a test that did not run says so even when it "passes".
        let _ = writeln!(
            std::io::stderr(),
            "{test}: not run: set ROSTER_TEST_SMTP=1 with aiosmtpd installed (ROSTER_TEST_SMTP_PYTHON names its python; .ci/run does both)"
        );
    }
    enabled
}

/// One message as the server received and parsed it.
#[derive(Debug, serde::Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub content_type: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// aiosmtpd listening on 127.0.0.1, writing what it accepts into a directory.
pub struct SmtpServer {
    pub port: u16,
    child: Child,
    inbox: PathBuf,
    _dir: tempfile::TempDir,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().unwrap().port()
}

impl SmtpServer {
    pub fn start(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let inbox = dir.path().to_owned();
        let python = std::env::var("ROSTER_TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notify/smtp_server.py");
        let mut command = Command::new(&python);
        command.arg(&script).arg(port.to_string()).arg(&inbox);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} {}: {e}", script.display()));
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .expect("the SMTP server says it is ready");
        assert_eq!(
            ready.trim(),
            "ready",
            "the SMTP server did not start (is aiosmtpd installed?)"
        );
        Self {
            port,
            child,
            inbox,
            _dir: dir,
        }
    }

    /// Every message received so far, in the order received.
    pub fn received(&self) -> Vec<Received> {
        let mut files: Vec<_> = std::fs::read_dir(&self.inbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}

fn mail_settings(port: u16) -> MailSettings {
    MailSettings {
        url: format!("smtp://127.0.0.1:{port}"),
        username: None,
        password: None,
        from: "Roster <roster@example.net>".into(),
        extra_root_certificates_pem: None,
    }
}

pub fn mailer(port: u16) -> Mailer {
    Mailer::new(mail_settings(port)).expect("the mail settings are valid")
}

/// A clock the test moves.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    pub fn set(&self, at: OffsetDateTime) {
        *self.0.lock().unwrap() = at;
    }

    pub fn clock(&self) -> Clock {
        let at = self.0.clone();
        Arc::new(move || *at.lock().unwrap())
    }
}

pub struct TestApp {
    pub store: Store,
    pub url: String,
    pub account: Account,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// A store with the account Contoso, whose tech contact is Ada.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite:{}", dir.path().join("roster.db").display());
        let store = Store::connect(&url, MasterKey::generate()).await.unwrap();
        store.migrate().await.unwrap();
        let account = store
            .create_account(NewAccount {
                name: "Contoso".into(),
                domains: vec!["contoso.com".parse().unwrap()],
                tech_contact: Some(TechContact {
                    name: "Ada Lovelace".into(),
                    email: "ada@contoso.com".parse().unwrap(),
                }),
            })
            .await
            .unwrap();
        Self {
            store,
            url,
            account,
            _dir: dir,
        }
    }

    pub fn sender(&self, mailer: Mailer, clock: &TestClock) -> Sender {
        Sender::new(
            self.store.clone(),
            Some(mailer),
            Links::new(PUBLIC_URL).unwrap(),
        )
        .with_clock(clock.clock())
    }

    /// Saves a connection whose key expires on `expires_on`.
    pub async fn connect_with_key_expiring(&self, expires_on: time::Date) {
        let mut settings = ConnectionSettings::new(
            "contoso.com".parse().unwrap(),
            "00000000-0000-0000-0000-0000000000aa".parse().unwrap(),
            roster_domain::Cloud::Global,
        );
        settings.key_expires_on = Some(expires_on);
        self.store
            .set_connection(self.account.id, settings, Some("secret".into()))
            .await
            .unwrap();
    }
}
