//! `roster demo`: the console served on localhost against a simulated tenant in the process,
//! with an admin who can sign in and the app registration's values that work; and
//! `--walkthrough`, the scripted command-line session.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Roster, keys};

/// `roster demo --json` on a free port, stopped with SIGTERM when dropped.
struct Demo {
    child: Child,
    started: Value,
}

/// `roster demo` on a free port of a small tenant, its standard output piped.
fn spawn_demo(roster: &Roster, json: bool) -> Child {
    let mut args = vec![
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--users",
        "40",
        "--groups",
        "5",
    ];
    if json {
        args.push("--json");
    }
    roster
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("roster demo starts")
}

impl Demo {
    fn start(roster: &Roster) -> Self {
        let mut child = spawn_demo(roster, true);
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("roster demo prints its start-up line");
        let started = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the start-up line is JSON ({e}): {line:?}"));
        Self { child, started }
    }

    fn field(&self, name: &str) -> &str {
        self.started[name]
            .as_str()
            .unwrap_or_else(|| panic!("the demo prints {name}"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.field("url"), path.trim_start_matches('/'))
    }

    /// Sends SIGTERM and waits for the process; whether it exited successfully.
    fn stop(&mut self) -> bool {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(terminated.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(Instant::now() < deadline, "roster demo stops on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API session of the demo's admin: its cookie and CSRF token.
struct Session {
    client: reqwest::Client,
    cookie: String,
    csrf_token: String,
}

impl Session {
    async fn sign_in(demo: &Demo) -> Self {
        let client = reqwest::Client::new();
        let response = client
            .post(demo.url("/api/v1/session"))
            .json(&json!({ "email": demo.field("login"), "password": demo.field("password") }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "the demo's login and password sign in"
        );
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        Self {
            client,
            cookie,
            csrf_token: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, String) {
        let response = request
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf_token)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn the_demo_serves_the_console_with_an_admin_and_the_tenant_values_that_work() {
    let roster = Roster::new();
    let mut demo = Demo::start(&roster);
    assert_eq!(
        keys(&demo.started),
        [
            "account",
            "client_id",
            "data_dir",
            "key",
            "login",
            "password",
            "primary_domain",
            "url"
        ]
    );
    assert!(demo.field("url").starts_with("http://127.0.0.1:"));
    assert_eq!(
        std::path::Path::new(demo.field("data_dir")),
        roster.data_dir()
    );
    let account = demo.field("account").to_owned();
    block_on(async {
        let session = Session::sign_in(&demo).await;
        let (status, connection) = session
            .send(
                session
                    .client
                    .get(demo.url(&format!("/api/v1/accounts/{account}/connection"))),
            )
            .await;
        assert_eq!(status, 200, "{connection}");
        assert!(
            !connection.contains(demo.field("key")),
            "the saved key is never shown: {connection}"
        );
        let connection: Value = serde_json::from_str(&connection).unwrap();
        assert_eq!(connection["tenant"], demo.started["primary_domain"]);
        assert_eq!(connection["client_id"], demo.started["client_id"]);
        assert_eq!(connection["frequency"], "never", "nothing syncs unreviewed");

        let (status, checklist) = session
            .send(
                session
                    .client
                    .post(demo.url(&format!("/api/v1/accounts/{account}/connection/test"))),
            )
            .await;
        assert_eq!(status, 200, "{checklist}");
        let checklist: Value = serde_json::from_str(&checklist).unwrap();
        for step in checklist["steps"].as_array().unwrap() {
            assert_eq!(step["status"], "passed", "{step}");
        }

        let (status, login_page) = session.send(session.client.get(demo.url("/login"))).await;
        assert_eq!(status, 200, "the console's sign-in page is served");
        assert!(login_page.contains("<form"), "{login_page}");
    });
    assert!(demo.stop(), "roster demo exits cleanly on SIGTERM");
    assert!(roster.data_dir().join("roster.db").exists());
}

#[test]
fn the_demo_prints_what_to_paste_into_the_settings_form() {
    let roster = Roster::new();
    let mut child = spawn_demo(&roster, false);
    let mut printed = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !printed.contains("The data stays in") {
        let line = lines
            .next()
            .expect("the demo prints its instructions")
            .unwrap();
        printed.push_str(&line);
        printed.push('\n');
    }
    let _ = child.kill();
    let _ = child.wait();
    for label in [
        "Roster's console is at http://127.0.0.1:",
        "Log in as       roster-admin@",
        "Password",
        "Primary Domain",
        "Client ID",
        "Key",
        "Import & Sync › Azure Active Directory",
    ] {
        assert!(printed.contains(label), "{label:?} is printed:\n{printed}");
    }
}

#[test]
fn the_demo_serves_only_this_machine() {
    let roster = Roster::new();
    let stderr = roster.fails(&["demo", "--listen", "0.0.0.0:0"]);
    assert!(stderr.contains("loopback address"), "{stderr}");
}

#[test]
fn the_demo_starts_from_an_empty_data_directory() {
    let roster = Roster::new();
    std::fs::write(roster.data_dir().join("something"), "kept").unwrap();
    let stderr = roster.fails(&["demo", "--listen", "127.0.0.1:0"]);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");
}

#[test]
fn the_walkthrough_runs_the_main_job_on_the_command_line() {
    let roster = Roster::new();
    let printed = roster.ok(&["demo", "--walkthrough", "--users", "40", "--groups", "5"]);
    for heading in [
        "1. A simulated Entra ID tenant",
        "4. Search Now",
        "5. Sync Active Directory",
        "7. Search Now again: only the changes",
        "8. The result",
    ] {
        assert!(printed.contains(heading), "{heading:?}:\n{printed}");
    }
    let stderr = roster.fails(&["demo", "--walkthrough", "--json"]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
