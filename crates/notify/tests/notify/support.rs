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
    /// Whether the message came over TLS (STARTTLS or smtps).
    pub tls: bool,
    /// Whom the client signed in as, and with which mechanism.
    pub login: Option<String>,
    pub mechanism: Option<String>,
}

/// aiosmtpd listening on 127.0.0.1, writing what it accepts into a directory.
pub struct SmtpServer {
    pub port: u16,
    child: Child,
    inbox: PathBuf,
    dir: tempfile::TempDir,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().unwrap().port()
}

/// How the test server secures the connection.
#[derive(Debug, Clone, Copy)]
pub enum ServerTls {
    /// STARTTLS, required before any mail.
    StartTls,
    /// TLS from the first byte (smtps).
    Implicit,
}

/// What the test server demands of a client; the default is plain SMTP without sign-in.
#[derive(Default)]
pub struct ServerOptions<'a> {
    pub tls: Option<(ServerTls, &'a TestCertificates)>,
    /// The user and password it accepts; without, anyone may send.
    pub login: Option<(&'a str, &'a str)>,
    /// The one AUTH mechanism it offers (`"LOGIN"` or `"PLAIN"`); without, both.
    pub mechanism: Option<&'a str>,
    /// Keeps the client that sends the first message waiting for the reply until
    /// [`SmtpServer::release`], then refuses that message for now (451).
    pub hold_first: bool,
}

impl SmtpServer {
    /// Plain SMTP, no sign-in.
    pub fn start(port: u16) -> Self {
        Self::start_with(port, &ServerOptions::default())
    }

    pub fn start_with(port: u16, options: &ServerOptions<'_>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let inbox = dir.path().join("inbox");
        std::fs::create_dir(&inbox).unwrap();
        let python = std::env::var("ROSTER_TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notify/smtp_server.py");
        let mut command = Command::new(&python);
        command.arg(&script).arg(port.to_string()).arg(&inbox);
        if let Some((tls, certificates)) = options.tls {
            let mode = match tls {
                ServerTls::StartTls => "starttls",
                ServerTls::Implicit => "implicit",
            };
            command
                .args(["--tls", mode, "--cert"])
                .arg(&certificates.server_certificate)
                .arg("--key")
                .arg(&certificates.server_key);
        }
        if let Some((user, password)) = options.login {
            let password_file = dir.path().join("password");
            std::fs::write(&password_file, password).unwrap();
            command
                .args(["--login", user, "--password-file"])
                .arg(&password_file);
        }
        if let Some(mechanism) = options.mechanism {
            command.args(["--mechanism", mechanism]);
        }
        if options.hold_first {
            command.arg("--hold-first").arg(dir.path());
        }
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
            dir,
        }
    }

    /// Waits until the server holds the first message (with [`ServerOptions::hold_first`]).
    pub async fn holding(&self) {
        let holding = self.dir.path().join("holding");
        while !holding.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Lets the held first message's client have its reply.
    pub fn release(&self) {
        std::fs::write(self.dir.path().join("release"), "").unwrap();
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

/// A private CA and a server certificate it signed for 127.0.0.1, made for one test and kept
/// in a temporary directory: no key is ever committed.
pub struct TestCertificates {
    /// The CA's certificate, what a deployment names in ROSTER_SMTP_CA_FILE.
    pub ca_pem: Vec<u8>,
    server_certificate: PathBuf,
    server_key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCertificates {
    pub fn generate() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "Roster test mail CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server_certificate = server.signed_by(&server_key, &ca).unwrap();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let certificate_path = dir.path().join("server.pem");
        let key_path = dir.path().join("server.key");
        std::fs::write(&certificate_path, server_certificate.pem()).unwrap();
        std::fs::write(&key_path, server_key.serialize_pem()).unwrap();
        Self {
            ca_pem: ca.pem().into_bytes(),
            server_certificate: certificate_path,
            server_key: key_path,
            _dir: dir,
        }
    }
}

/// Mail settings for `url`, sending as Roster, without sign-in or extra trust.
pub fn mail_settings(url: &str) -> MailSettings {
    MailSettings {
        url: url.to_owned(),
        username: None,
        password: None,
        from: "Roster <roster@example.net>".into(),
        extra_root_certificates_pem: None,
    }
}

/// A mailer for the plain server on `port`.
pub fn mailer(port: u16) -> Mailer {
    Mailer::new(mail_settings(&format!("smtp://127.0.0.1:{port}")))
        .expect("the mail settings are valid")
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

    /// Records a failed automatic run ("Graph is unavailable"): one notice for the tech contact.
    pub async fn record_failure(&self) {
        self.store
            .record_event(
                self.account.id,
                roster_domain::AccountEventKind::AutomaticRunFailed,
                "Graph is unavailable",
                None,
            )
            .await
            .unwrap();
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
