//! What keeps a deployment's data and its admin's terminal safe: private files, a master key
//! others cannot read, directory text that cannot drive the terminal, and a simulator whose
//! certificate is made at start-up and trusted only where a test says so.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::support::{ACCOUNT, Roster, Sim, roster_command};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_default_data_directory_is_private_and_so_are_the_database_and_its_wal_and_shm_files() {
    let home = tempfile::tempdir().unwrap();
    let listed = roster_command()
        .env("XDG_DATA_HOME", home.path())
        .args(["account", "list"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");

    let data = home.path().join("roster");
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("roster.db")), 0o600, "the database");
    assert_eq!(mode(&data.join("master.key")), 0o600, "the master key");

    // The -wal and -shm files exist while a connection is open; SQLite creates them with the
    // database's mode.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("sqlite:{}", data.join("roster.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("SELECT count(*) FROM accounts")
            .fetch_one(&pool)
            .await
            .unwrap();
        for file in ["roster.db-wal", "roster.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
        pool.close().await;
    });
}

#[test]
fn a_database_an_older_roster_left_readable_by_others_is_narrowed_to_its_owner() {
    let roster = Roster::new();
    roster.ok(&["migrate"]);
    let database = roster.data_dir().join("roster.db");
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).unwrap();

    roster.ok(&["account", "list"]);

    assert_eq!(mode(&database), 0o600);
}

#[test]
fn a_master_key_file_others_can_read_is_refused_with_how_to_fix_it() {
    let roster = Roster::new();
    roster.create_account();
    let key = roster.data_dir().join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let refused = roster.fails(&["account", "list"]);

    assert!(
        refused.contains(&format!("chmod 600 {}", key.display())) && refused.contains("0644"),
        "{refused}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    roster.ok(&["account", "list"]);
}

#[test]
fn control_characters_in_directory_names_are_printed_escaped_never_raw() {
    let sim = Sim::start(20, 2, 5);
    let roster = Roster::connected_to(&sim);
    // Clears the screen, sets the window title and rings the bell, on an unescaped terminal.
    let hostile = "Mallory\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m\u{202e}moc.evil";
    sim.create_user(json!({
        "displayName": hostile,
        "givenName": "Mallory\u{1b}[31m",
        "mailNickname": "mallory",
    }));

    let preview = roster.ok(&["sync", "preview", ACCOUNT]);
    let plan = roster.json(&["sync", "preview", ACCOUNT]);
    roster.ok(&["sync", "run", ACCOUNT]);
    let users = roster.ok(&["user", "list", "--account", ACCOUNT]);
    let users_json = roster.ok(&["user", "list", "--account", ACCOUNT, "--json"]);

    for (what, printed) in [
        ("sync preview", &preview),
        ("user list", &users),
        ("user list --json", &users_json),
    ] {
        assert!(
            !printed.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}']),
            "{what} printed a control character raw:\n{printed:?}"
        );
    }
    assert!(preview.contains("Mallory\\u{1b}[2J"), "{preview}");
    assert!(
        users.contains("Mallory\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{9b}31m\\u{202e}moc.evil"),
        "{users}"
    );
    let listed: serde_json::Value = serde_json::from_str(&users_json).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|user| user["display_name"] == hostile),
        "--json keeps the name itself, escaped as JSON: {users_json}"
    );
    assert!(plan["categories"].is_object());
}

#[test]
fn a_graph_url_with_the_api_version_is_saved_without_it_and_works() {
    let sim = Sim::start(20, 2, 5);
    let roster = Roster::new();
    roster.create_account();
    let secret = roster.write_file("secret.txt", sim.secret());
    let graph_with_version = format!("{}/v1.0", sim.field("graph_url"));
    let saved = roster.json(&[
        "connection",
        "set",
        ACCOUNT,
        "--tenant",
        sim.field("tenant"),
        "--client-id",
        sim.field("client_id"),
        "--client-secret-file",
        secret.to_str().unwrap(),
        "--login-url",
        sim.field("login_url"),
        "--graph-url",
        &graph_with_version,
    ]);
    assert_eq!(
        saved["graph_url"].as_str().unwrap().trim_end_matches('/'),
        sim.field("graph_url")
    );
    assert_eq!(
        roster.json(&["connection", "test", ACCOUNT])["passed"],
        true
    );

    let beta = format!("{}/beta", sim.field("graph_url"));
    let refused = roster.fails(&[
        "connection",
        "set",
        ACCOUNT,
        "--login-url",
        sim.field("login_url"),
        "--graph-url",
        &beta,
    ]);
    assert!(refused.contains("without a version"), "{refused}");
}

#[test]
fn roster_sim_writes_its_generated_certificate_and_only_a_client_told_to_trusts_it() {
    let files = tempfile::tempdir().unwrap();
    let certificate = files.path().join("sim.pem");
    let sim = Sim::start_tls(20, 2, 5, &certificate);
    assert!(sim.field("login_url").starts_with("https://"));
    let pem = std::fs::read_to_string(&certificate).unwrap();
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE-----") && !pem.contains("PRIVATE KEY"),
        "{pem}"
    );
    let roster = Roster::connected_to(&sim);

    let untrusted = roster.run(&["connection", "test", ACCOUNT]);
    let said = String::from_utf8_lossy(&untrusted.stdout);
    assert!(!untrusted.status.success());
    assert!(said.contains("unknown issuer"), "{said}");

    let trusted = roster
        .command(&["connection", "test", ACCOUNT, "--json"])
        .env("ROSTER_GRAPH_CA_FILE", &certificate)
        .output()
        .unwrap();
    let checklist: serde_json::Value = serde_json::from_slice(&trusted.stdout).unwrap();
    assert_eq!(checklist["passed"], true, "{checklist:#}");

    let other_certificate = files.path().join("other.pem");
    let other = Sim::start_tls(5, 1, 6, &other_certificate);
    assert_ne!(
        std::fs::read_to_string(&other_certificate).unwrap(),
        pem,
        "a key per start"
    );
    drop(other);
}
