//! Accounts, users and admins from the command line: the happy paths with their JSON fields, and
//! the clear, non-zero-exit errors for input the deployment's rules refuse.

use serde_json::json;

use crate::support::{ACCOUNT, Roster, keys};

#[test]
fn migrate_creates_the_schema_and_is_repeatable() {
    let roster = Roster::new();

    assert!(roster.ok(&["migrate"]).contains("up to date"));
    assert!(roster.ok(&["migrate"]).contains("up to date"));
    assert!(roster.data_dir().join("roster.db").exists());
    assert!(
        roster.data_dir().join("master.key").exists(),
        "the embedded database creates its key file"
    );
}

#[test]
fn account_commands_create_list_show_and_change_an_account() {
    let roster = Roster::new();

    let created = roster.create_account();

    assert_eq!(
        keys(&created),
        ["created_at", "domains", "id", "name", "tech_contact"]
    );
    assert_eq!(created["name"], ACCOUNT);
    assert_eq!(
        created["domains"],
        json!(["contoso-europe.com", "contoso.com"])
    );
    assert_eq!(
        created["tech_contact"],
        json!({"name": "Tech Contact", "email": "it@contoso.com"})
    );
    let listed = roster.json(&["account", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);
    let by_id = roster.json(&["account", "show", created["id"].as_str().unwrap()]);
    assert_eq!(
        (&by_id["name"], &by_id["connection"]),
        (&json!(ACCOUNT), &json!(false)),
        "an id names the account as well as its name"
    );

    roster.ok(&["account", "add-domain", ACCOUNT, "Fabrikam.COM"]);
    roster.ok(&[
        "account",
        "set-tech-contact",
        ACCOUNT,
        "--name",
        "Ada",
        "--email",
        "ada@fabrikam.com",
    ]);
    let changed = roster.json(&["account", "show", ACCOUNT]);
    assert_eq!(
        changed["domains"],
        json!(["contoso-europe.com", "contoso.com", "fabrikam.com"])
    );
    assert_eq!(
        changed["tech_contact"],
        json!({"name": "Ada", "email": "ada@fabrikam.com"})
    );

    roster.ok(&["account", "remove-domain", ACCOUNT, "fabrikam.com"]);
    roster.ok(&["account", "set-tech-contact", ACCOUNT, "--clear"]);
    let reverted = roster.json(&["account", "show", ACCOUNT]);
    assert_eq!(
        reverted["domains"],
        json!(["contoso-europe.com", "contoso.com"])
    );
    assert_eq!(reverted["tech_contact"], json!(null));
}

#[test]
fn user_commands_add_list_and_remove_manual_users_with_the_documented_json_fields() {
    let roster = Roster::new();
    roster.create_account();

    let ada = roster.json(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "Ada@Contoso.com",
        "--alias",
        "countess@contoso-europe.com",
        "--first-name",
        "Ada",
        "--last-name",
        "Lovelace",
    ]);
    let silent = roster.json(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "printer@contoso.com",
        "--role",
        "silent-user",
    ]);

    assert_eq!(
        keys(&ada),
        [
            "aliases",
            "digests",
            "display_name",
            "external_id",
            "first_name",
            "id",
            "last_name",
            "primary_address",
            "role",
            "source",
        ]
    );
    assert_eq!(
        ada["primary_address"], "ada@contoso.com",
        "addresses are lowercased"
    );
    assert_eq!(ada["aliases"], json!(["countess@contoso-europe.com"]));
    assert_eq!(
        (&ada["first_name"], &ada["last_name"], &ada["display_name"]),
        (&json!("Ada"), &json!("Lovelace"), &json!("Ada Lovelace"))
    );
    assert_eq!(
        (
            &ada["role"],
            &ada["digests"],
            &ada["source"],
            &ada["external_id"]
        ),
        (
            &json!("end_user"),
            &json!(true),
            &json!("manual"),
            &json!(null)
        )
    );
    assert_eq!(
        (&silent["role"], &silent["digests"]),
        (&json!("silent_user"), &json!(false)),
        "silent users get no digests by default"
    );
    let listed = roster.json(&["user", "list", "--account", ACCOUNT]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(listed.as_array().unwrap().contains(&ada));

    roster.ok(&["user", "remove", "--account", ACCOUNT, "ada@contoso.com"]);
    roster.ok(&[
        "user",
        "remove",
        "--account",
        ACCOUNT,
        silent["id"].as_str().unwrap(),
    ]);
    assert_eq!(
        roster.json(&["user", "list", "--account", ACCOUNT]),
        json!([])
    );
}

#[test]
fn an_organization_admin_is_created_with_a_password_from_standard_input_that_is_never_printed() {
    let roster = Roster::new();
    roster.create_account();
    let password = "correct horse battery staple";

    let created = roster.run_with_input(
        &[
            "admin",
            "create",
            "--account",
            ACCOUNT,
            "--email",
            "boss@contoso.com",
        ],
        password,
    );

    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let users = roster.json(&["user", "list", "--account", ACCOUNT]);
    assert_eq!(
        (&users[0]["primary_address"], &users[0]["role"]),
        (&json!("boss@contoso.com"), &json!("organization_admin"))
    );
    let refused = roster.fails(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "root@contoso.com",
        "--role",
        "organization-admin",
    ]);
    assert!(refused.contains("roster admin create"), "{refused}");
    assert!(!roster.everything_printed().contains(password));
}

#[test]
fn a_domain_another_account_owns_is_refused_with_the_owners_name() {
    let roster = Roster::new();
    roster.create_account();

    let stderr = roster.fails(&[
        "account",
        "create",
        "--name",
        "fabrikam",
        "--domain",
        "fabrikam.com",
        "--domain",
        "contoso.com",
    ]);
    let added = roster.fails(&["account", "add-domain", ACCOUNT, "contoso.com"]);

    assert!(
        stderr.contains("the domain contoso.com already belongs to the account \"contoso\""),
        "{stderr}"
    );
    assert!(added.contains("already belongs"), "{added}");
    assert_eq!(
        roster.json(&["account", "list"]).as_array().unwrap().len(),
        1,
        "nothing of the refused account is kept"
    );
}

#[test]
fn an_address_that_already_routes_to_a_user_is_refused_as_primary_or_alias() {
    let roster = Roster::new();
    roster.create_account();
    roster.ok(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "ada@contoso.com",
        "--alias",
        "countess@contoso.com",
    ]);

    let as_primary = roster.fails(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "ADA@contoso.com",
    ]);
    let as_alias = roster.fails(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "lovelace@contoso.com",
        "--alias",
        "countess@contoso.com",
    ]);

    assert!(
        as_primary.contains("the address ada@contoso.com is already used by"),
        "{as_primary}"
    );
    assert!(
        as_alias.contains("the address countess@contoso.com is already used by"),
        "{as_alias}"
    );
    assert_eq!(
        roster
            .json(&["user", "list", "--account", ACCOUNT])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_address_outside_the_accounts_domains_is_refused() {
    let roster = Roster::new();
    roster.create_account();

    let stderr = roster.fails(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "ada@fabrikam.com",
    ]);

    assert!(
        stderr.contains("the address ada@fabrikam.com is not in any of the account's domains"),
        "{stderr}"
    );
}

#[test]
fn invalid_emails_domains_and_account_names_are_refused_with_the_reason() {
    let roster = Roster::new();
    roster.create_account();

    let email = roster.fails(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "ada.contoso.com",
    ]);
    let alias = roster.fails(&[
        "user",
        "add",
        "--account",
        ACCOUNT,
        "--email",
        "ada@contoso.com",
        "--alias",
        "a b@contoso.com",
    ]);
    let domain = roster.fails(&[
        "account",
        "create",
        "--name",
        "fabrikam",
        "--domain",
        "fabrikam..com",
    ]);
    let contact = roster.fails(&[
        "account",
        "create",
        "--name",
        "fabrikam",
        "--domain",
        "fabrikam.com",
        "--tech-contact-name",
        "X",
        "--tech-contact-email",
        "nobody",
    ]);
    let unknown = roster.fails(&["user", "list", "--account", "northwind"]);

    assert!(
        email.contains("email address \"ada.contoso.com\" is not valid: it has no @"),
        "{email}"
    );
    assert!(
        alias.contains("email address \"a b@contoso.com\" is not valid"),
        "{alias}"
    );
    assert!(
        domain.contains("domain name \"fabrikam..com\" is not valid"),
        "{domain}"
    );
    assert!(
        contact.contains("email address \"nobody\" is not valid"),
        "{contact}"
    );
    assert!(
        unknown.contains("no account is named or has the id \"northwind\""),
        "{unknown}"
    );
    assert_eq!(
        roster.json(&["user", "list", "--account", ACCOUNT]),
        json!([])
    );
}
