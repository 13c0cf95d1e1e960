//! Running the `roster` binary on a data directory of its own, and a simulated tenant served by
//! `roster sim` in a child process.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

pub const ACCOUNT: &str = "contoso";

/// A bare `roster` command: no input, and none of the developer's `ROSTER_*` variables. Each
/// of them configures the binary (its database and key, the mail server, every server setting):
/// a test's `roster` must not mail through the developer's relay or open their database, so a
/// test sets what it needs itself.
pub fn roster_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ROSTER_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "warn").stdin(Stdio::null());
    command
}

/// One deployment: a data directory (SQLite database and master key), and everything its
/// commands printed, so a test can check what was never printed.
pub struct Roster {
    data: TempDir,
    files: TempDir,
    printed: RefCell<Vec<String>>,
}

impl Roster {
    pub fn new() -> Self {
        let temporary = || tempfile::tempdir().expect("a temporary directory");
        Self {
            data: temporary(),
            files: temporary(),
            printed: RefCell::default(),
        }
    }

    /// Another deployment starting from a copy of this one's database and key (no command of
    /// this one may be running).
    pub fn copy(&self) -> Self {
        let copy = Self::new();
        for entry in std::fs::read_dir(self.data.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), copy.data.path().join(entry.file_name())).unwrap();
        }
        copy
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// `roster --data-dir <this deployment> <args>`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = roster_command();
        command.arg("--data-dir").arg(self.data.path()).args(args);
        command
    }

    /// Runs a command to its end, with `stdin` as its standard input.
    pub fn run_with_input(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        self.record(args, child.wait_with_output().unwrap())
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("roster runs");
        self.record(args, output)
    }

    fn record(&self, args: &[&str], output: Output) -> Output {
        let text = format!(
            "$ roster {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        self.printed.borrow_mut().push(text);
        output
    }

    /// Runs a command that must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run(args))
    }

    /// Runs a command with `--json` that must succeed; its output, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("`roster {}` prints JSON ({e}):\n{stdout}", args.join(" ")))
    }

    /// Runs a command that must fail with a non-zero exit; its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success(),
            "`roster {}` fails, but it succeeded:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            stderr.contains("error:"),
            "`roster {}` says why it failed:\n{stderr}",
            args.join(" ")
        );
        stderr
    }

    /// Everything every command printed so far, on both streams.
    pub fn everything_printed(&self) -> String {
        self.printed.borrow().join("\n")
    }

    /// The account `contoso`, owning contoso.com and contoso-europe.com, with a tech contact.
    pub fn create_account(&self) -> Value {
        self.json(&[
            "account",
            "create",
            "--name",
            ACCOUNT,
            "--domain",
            "contoso.com",
            "--domain",
            "contoso-europe.com",
            "--tech-contact-name",
            "Tech Contact",
            "--tech-contact-email",
            "it@contoso.com",
        ])
    }

    /// A new deployment with the account `contoso` connected to `sim`.
    pub fn connected_to(sim: &Sim) -> Self {
        let roster = Self::new();
        roster.create_account();
        roster.connect(sim);
        roster
    }

    /// The account's connection to `sim`, its secret read from a file.
    pub fn connect(&self, sim: &Sim) -> Value {
        let secret_file = self.write_file("secret.txt", &format!("{}\n", sim.secret()));
        self.json(&[
            "connection",
            "set",
            ACCOUNT,
            "--tenant",
            sim.field("tenant"),
            "--client-id",
            sim.field("client_id"),
            "--client-secret-file",
            secret_file.to_str().unwrap(),
            "--login-url",
            sim.field("login_url"),
            "--graph-url",
            sim.field("graph_url"),
            "--frequency",
            "24h",
        ])
    }

    /// A file outside the data directory, such as a secret an admin saved.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.files.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The account's users and groups as (external id, primary, aliases) and (external id,
    /// name, members' external ids), sorted: what two syncs of one directory must agree on.
    pub fn holdings(&self) -> Holdings {
        let users = self.json(&["user", "list", "--account", ACCOUNT]);
        let groups = self.json(&["group", "list", "--account", ACCOUNT]);
        Holdings::of(&users, &groups)
    }
}

fn succeeded(args: &[&str], output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`roster {}` succeeds, but it exited with {}:\n{stdout}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// What an account holds, in directory terms.
#[derive(Debug, PartialEq, Eq)]
pub struct Holdings {
    pub users: Vec<HeldUser>,
    pub groups: Vec<HeldGroup>,
}

/// A synced user: its directory id and addresses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldUser {
    pub external_id: String,
    pub primary_address: String,
    pub aliases: Vec<String>,
}

/// A synced group: its directory id, name, addresses and members' directory ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldGroup {
    pub external_id: String,
    pub name: String,
    pub address: Option<String>,
    pub aliases: Vec<String>,
    pub members: Vec<String>,
}

impl Holdings {
    /// Reads `user list --json` and `group list --json`. Panics when a group names a member
    /// that is not listed.
    pub fn of(users: &Value, groups: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let sorted = |v: &Value| {
            let mut items: Vec<String> = v.as_array().expect("a list").iter().map(text).collect();
            items.sort();
            items
        };
        let users = users.as_array().expect("a list of users");
        let groups = groups.as_array().expect("a list of groups");
        let external_ids: HashMap<String, String> = users
            .iter()
            .chain(groups)
            .map(|object| (text(&object["id"]), text(&object["external_id"])))
            .collect();
        let member = |id: String| {
            external_ids
                .get(&id)
                .cloned()
                .unwrap_or_else(|| panic!("the group member {id} exists"))
        };
        let mut users: Vec<HeldUser> = users
            .iter()
            .map(|u| HeldUser {
                external_id: text(&u["external_id"]),
                primary_address: text(&u["primary_address"]),
                aliases: sorted(&u["aliases"]),
            })
            .collect();
        users.sort();
        let mut groups: Vec<HeldGroup> = groups
            .iter()
            .map(|g| {
                let mut members: Vec<String> =
                    sorted(&g["members"]).into_iter().map(member).collect();
                members.sort();
                HeldGroup {
                    external_id: text(&g["external_id"]),
                    name: text(&g["name"]),
                    address: g["address"].as_str().map(str::to_owned),
                    aliases: sorted(&g["aliases"]),
                    members,
                }
            })
            .collect();
        groups.sort();
        Self { users, groups }
    }

    /// Every address, as many times as it is held.
    pub fn addresses(&self) -> Vec<&str> {
        let users = self
            .users
            .iter()
            .flat_map(|u| std::iter::once(&u.primary_address).chain(&u.aliases));
        let groups = self
            .groups
            .iter()
            .flat_map(|g| g.address.iter().chain(&g.aliases));
        users.chain(groups).map(String::as_str).collect()
    }
}

/// `roster sim` in a child process, stopped when dropped.
pub struct Sim {
    child: Child,
    announcement: Value,
}

impl Sim {
    pub fn start(users: usize, groups: usize, seed: u64) -> Self {
        Self::start_with(users, groups, seed, &[])
    }

    /// Over HTTPS, the certificate it generated written to `certificate`.
    pub fn start_tls(users: usize, groups: usize, seed: u64, certificate: &Path) -> Self {
        let certificate = certificate.to_str().expect("a UTF-8 path");
        Self::start_with(users, groups, seed, &["--tls", "--cert-out", certificate])
    }

    /// Like [`Sim::start`], with more of `roster sim`'s flags (`--latency-ms 300`).
    pub fn start_with(users: usize, groups: usize, seed: u64, extra: &[&str]) -> Self {
        let mut child = roster_command()
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(extra)
            .args([
                "--users",
                &users.to_string(),
                "--groups",
                &groups.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("roster sim starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("roster sim prints its start-up line");
        let announcement = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the start-up line is JSON ({e}): {line:?}"));
        Self {
            child,
            announcement,
        }
    }

    pub fn field(&self, name: &str) -> &str {
        self.announcement[name]
            .as_str()
            .unwrap_or_else(|| panic!("roster sim announces {name}"))
    }

    pub fn secret(&self) -> &str {
        self.field("client_secret")
    }

    /// Deletes directory users for good, through the simulator's control API.
    pub fn hard_delete_users(&self, ids: &[String]) {
        self.control(|control| async move {
            for id in ids {
                control
                    .hard_delete_user(id)
                    .await
                    .expect("the simulator deletes the user");
            }
        });
    }

    /// Uploads a certificate (PEM) to the app registration, as the admin does.
    pub fn upload_certificate(&self, pem: &str) {
        self.control(|control| async move {
            control
                .upload_certificate(pem)
                .await
                .expect("the simulator takes the certificate");
        });
    }

    /// Removes a certificate from the app registration by its SHA-1 thumbprint.
    pub fn remove_certificate(&self, thumbprint: &str) {
        self.control(|control| async move {
            control
                .remove_certificate(thumbprint)
                .await
                .expect("the simulator removes the certificate");
        });
    }

    /// Expires the app's client secret (AADSTS7000222 from now on).
    pub fn expire_secret(&self) {
        self.control(|control| async move {
            control.expire_secret().await.expect("the secret expires");
        });
    }

    /// Replaces the app's client secret: the one Roster holds stops working.
    pub fn rotate_secret(&self) {
        self.control(|control| async move {
            control
                .rotate_secret()
                .await
                .expect("the secret is rotated");
        });
    }

    /// Creates a directory user with these Graph properties; its id.
    pub fn create_user(&self, properties: Value) -> String {
        self.control(|control| async move {
            control
                .create_user(properties)
                .await
                .expect("the simulator creates the user")
                .id
        })
    }

    fn control<F: std::future::Future<Output = T>, T>(
        &self,
        act: impl FnOnce(roster_sim::ControlClient) -> F,
    ) -> T {
        let control = roster_sim::ControlClient::new(self.field("control_url"));
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(act(control))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The keys of a JSON object, sorted.
pub fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}
