//! The directory connection: saved, shown and tested without ever printing the client secret,
//! and invalid settings refused with the reason.

use serde_json::json;

use crate::support::{ACCOUNT, Roster, Sim};

#[test]
fn connection_set_show_test_and_delete_and_the_secret_is_shown_only_as_set_on_its_date() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::new();
    roster.create_account();

    let saved = roster.connect(&sim);

    let today = &saved["secret_set_at"].as_str().unwrap()[..10];
    assert_eq!(saved["client_secret"], format!("set on {today}"));
    assert_eq!(
        (&saved["tenant"], &saved["client_id"]),
        (&json!(sim.field("tenant")), &json!(sim.field("client_id")))
    );
    assert_eq!(saved["frequency"], "24h");
    let shown = roster.ok(&["connection", "show", ACCOUNT]);
    assert!(
        shown.contains(&format!("Key (client secret):     set on {today}")),
        "{shown}"
    );
    let checklist = roster.json(&["connection", "test", ACCOUNT]);
    assert_eq!(checklist["passed"], true, "{checklist:#}");

    assert!(!shown.contains("no tech contact"), "{shown}");
    roster.ok(&["account", "set-tech-contact", ACCOUNT, "--clear"]);
    let without_contact = roster.ok(&["connection", "show", ACCOUNT]);
    assert!(
        without_contact.contains("Warning: the account has no tech contact"),
        "{without_contact}"
    );

    let changed = roster.json(&[
        "connection",
        "set",
        ACCOUNT,
        "--frequency",
        "6h",
        "--sync",
        "users,distribution-groups",
    ]);
    assert_eq!(
        (&changed["frequency"], &changed["sync"]),
        (&json!("6h"), &json!(["users", "distribution-groups"]))
    );
    assert_eq!(
        roster.json(&["connection", "test", ACCOUNT])["passed"],
        true,
        "flags left out keep the saved secret"
    );

    roster.ok(&["connection", "delete", ACCOUNT]);
    let gone = roster.fails(&["connection", "show", ACCOUNT]);
    assert!(gone.contains("has no directory connection"), "{gone}");
    assert!(
        !roster.everything_printed().contains(sim.secret()),
        "{}",
        roster.everything_printed()
    );
}

#[test]
fn the_client_secret_appears_in_no_output_of_any_command_even_when_it_is_wrong() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);
    let wrong_secret = "Abc8Q~this-is-not-the-secret-value-0123456";

    let from_stdin = roster.run_with_input(
        &[
            "connection",
            "set",
            ACCOUNT,
            "--client-secret-file",
            "-",
            "--json",
        ],
        wrong_secret,
    );
    let failed_test = roster.run(&["connection", "test", ACCOUNT]);
    let failed_sync = roster.run(&["sync", "preview", ACCOUNT]);
    roster.run_with_input(
        &["connection", "set", ACCOUNT, "--client-secret-file", "-"],
        sim.secret(),
    );
    roster.ok(&["connection", "test", ACCOUNT]);
    roster.ok(&["sync", "preview", ACCOUNT, "--json"]);
    roster.ok(&["sync", "history", ACCOUNT, "--json"]);

    assert!(from_stdin.status.success());
    assert!(
        !failed_test.status.success(),
        "a wrong secret fails the connection test"
    );
    assert!(
        String::from_utf8_lossy(&failed_test.stdout).contains("7000215"),
        "the test names the error code"
    );
    assert!(!failed_sync.status.success());
    let printed = roster.everything_printed();
    assert!(!printed.contains(sim.secret()), "{printed}");
    assert!(!printed.contains(wrong_secret), "{printed}");
}

#[test]
fn invalid_connection_settings_are_refused_with_the_reason() {
    let roster = Roster::new();
    roster.create_account();
    let secret = roster.write_file("secret.txt", "Abc8Q~0123456789012345678901234567890123");
    let secret = secret.to_str().unwrap();
    let empty = roster.write_file("empty.txt", "\n");
    let base = ["connection", "set", ACCOUNT, "--tenant", "contoso.com"];
    let set = |extra: &[&str]| roster.fails(&[&base[..], extra].concat());

    let client_id = set(&["--client-id", "not-a-guid", "--client-secret-file", secret]);
    let zero_id = set(&[
        "--client-id",
        "00000000-0000-0000-0000-000000000000",
        "--client-secret-file",
        secret,
    ]);
    let client = ["--client-id", "6731de76-14a6-49ae-97bc-6eba6914391e"];
    let frequency = set(&[
        &client[..],
        &["--client-secret-file", secret, "--frequency", "2h"],
    ]
    .concat());
    let role = set(&[
        &client[..],
        &[
            "--client-secret-file",
            secret,
            "--default-role",
            "organization-admin",
        ],
    ]
    .concat());
    let no_secret = set(&client);
    let empty_secret = set(&[
        &client[..],
        &["--client-secret-file", empty.to_str().unwrap()],
    ]
    .concat());
    let tenant = roster.fails(&[
        "connection",
        "set",
        ACCOUNT,
        "--tenant",
        "not a tenant!",
        "--client-id",
        client[1],
        "--client-secret-file",
        secret,
    ]);

    assert!(
        client_id.contains("client ID \"not-a-guid\" is not valid"),
        "{client_id}"
    );
    assert!(zero_id.contains("client ID"), "{zero_id}");
    assert!(
        frequency
            .contains("sync frequency \"2h\" is not valid: expected never, 1h, 3h, 6h, 12h or 24h"),
        "{frequency}"
    );
    assert!(
        role.contains("sync never creates organization admins"),
        "{role}"
    );
    assert!(
        no_secret.contains("a new connection needs its key"),
        "{no_secret}"
    );
    assert!(
        empty_secret.contains("the client secret is empty"),
        "{empty_secret}"
    );
    assert!(tenant.contains("not a tenant!"), "{tenant}");
    roster.fails(&["connection", "show", ACCOUNT]);
}

#[test]
fn a_failing_sync_says_once_what_is_wrong_and_how_to_fix_it() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);
    roster.run_with_input(
        &["connection", "set", ACCOUNT, "--client-secret-file", "-"],
        "Abc8Q~not-the-value-but-looks-like-one-000",
    );

    let stderr = roster.fails(&["sync", "preview", ACCOUNT]);

    assert_eq!(stderr.matches("AADSTS7000215").count(), 1, "{stderr}");
    assert!(
        stderr.contains("Paste the client secret's VALUE, not its Secret ID"),
        "{stderr}"
    );
    // The fix is worded for every surface; the CLI adds the flags that carry it out.
    assert!(
        stderr.contains("with roster: roster connection set ACCOUNT --client-secret-file -"),
        "{stderr}"
    );

    let test = roster.run(&["connection", "test", ACCOUNT]);
    assert!(!test.status.success());
    let checklist = String::from_utf8_lossy(&test.stdout);
    assert!(
        checklist.contains(&format!(
            "with roster: roster connection set {ACCOUNT} --client-secret-file - --key-expires-on"
        )),
        "{checklist}"
    );
}
