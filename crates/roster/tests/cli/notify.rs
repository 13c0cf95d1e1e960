//! `roster notify`: without a mail server, what automatic runs have to tell waits in the
//! outbox, and `notify list` shows it.

use serde_json::json;

use crate::support::{ACCOUNT, Roster, Sim};

#[test]
fn a_held_automatic_run_waits_in_the_outbox_for_the_tech_contact_without_a_mail_server() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);
    roster.ok(&["sync", "run", ACCOUNT]);
    assert_eq!(roster.json(&["notify", "list", ACCOUNT]), json!([]));
    let users = roster.json(&["user", "list", "--account", ACCOUNT]);
    let leaving: Vec<String> = users.as_array().unwrap()[..12]
        .iter()
        .map(|u| u["external_id"].as_str().unwrap().to_owned())
        .collect();
    sim.hard_delete_users(&leaving);
    roster.ok(&["sync", "run", ACCOUNT]);
    roster.ok(&["sync", "run", ACCOUNT]);

    let outbox = roster.json(&["notify", "list", ACCOUNT]);
    let messages = outbox.as_array().unwrap();
    assert_eq!(
        messages.len(),
        1,
        "one message for two held runs on one day: {outbox:#}"
    );
    let held = &messages[0];
    assert_eq!(held["kind"], "automatic run held");
    assert_eq!(
        held["subject"],
        "[Roster] Automatic sync held removals for contoso"
    );
    assert_eq!(held["recipients"], json!(["it@contoso.com"]));
    assert_eq!(
        (&held["status"], &held["attempts"]),
        (&json!("pending"), &json!(0))
    );
    assert_eq!(held["notice"]["held"], json!({"users_to_remove": 12}));
    let text = roster.ok(&["notify", "list", ACCOUNT]);
    assert!(
        text.contains("pending") && text.contains("to it@contoso.com"),
        "{text}"
    );

    let refused = roster.fails(&["notify", "send", "--once"]);
    assert!(refused.contains("ROSTER_SMTP_URL is not set"), "{refused}");
}

#[test]
fn mail_settings_that_cannot_work_are_refused_with_the_fix() {
    let roster = Roster::new();
    let send = |vars: &[(&str, &str)]| {
        let mut command = roster.command(&["notify", "send", "--once"]);
        command.envs(vars.iter().copied());
        let output = command.output().unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let no_from = send(&[("ROSTER_SMTP_URL", "smtp://127.0.0.1:2525")]);
    assert!(no_from.contains("ROSTER_MAIL_FROM) is not"), "{no_from}");
    let no_url = send(&[
        ("ROSTER_SMTP_URL", "smtp://127.0.0.1:2525"),
        ("ROSTER_MAIL_FROM", "Roster <roster@example.net>"),
    ]);
    assert!(no_url.contains("ROSTER_PUBLIC_URL) is not"), "{no_url}");
    let in_url = send(&[
        ("ROSTER_SMTP_URL", "smtp://roster:hunter2@127.0.0.1:2525"),
        ("ROSTER_MAIL_FROM", "roster@example.net"),
        ("ROSTER_PUBLIC_URL", "https://roster.example.net"),
    ]);
    assert!(in_url.contains("ROSTER_SMTP_PASSWORD_FILE"), "{in_url}");
    assert!(!in_url.contains("hunter2"), "{in_url}");
    let password = roster.write_file("smtp-password", "hunter2\n");
    std::fs::set_permissions(
        &password,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let readable = send(&[
        ("ROSTER_SMTP_URL", "smtp://127.0.0.1:2525"),
        ("ROSTER_SMTP_USERNAME", "roster"),
        ("ROSTER_SMTP_PASSWORD_FILE", password.to_str().unwrap()),
        ("ROSTER_MAIL_FROM", "roster@example.net"),
        ("ROSTER_PUBLIC_URL", "https://roster.example.net"),
    ]);
    assert!(readable.contains("chmod 600"), "{readable}");
}

#[test]
fn roster_serve_mails_with_the_configuration_files_mail_settings() {
    let roster = Roster::new();
    roster.create_account();
    let secret = roster.write_file("secret.txt", "a client secret\n");
    let expires_on = (time::OffsetDateTime::now_utc().date() + time::Duration::days(5)).to_string();
    roster.ok(&[
        "connection",
        "set",
        ACCOUNT,
        "--tenant",
        "contoso.onmicrosoft.com",
        "--client-id",
        "00000000-0000-0000-0000-0000000000aa",
        "--client-secret-file",
        secret.to_str().unwrap(),
        "--key-expires-on",
        &expires_on,
    ]);
    // Nothing listens on the port: the sender's attempt and its error show it ran with the
    // file's settings.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = roster.write_file(
        "roster.toml",
        &format!(
            "public_url = \"https://roster.example.net/\"\n\
             smtp_url = \"smtp://127.0.0.1:{port}\"\n\
             mail_from = \"Roster <roster@example.net>\"\n"
        ),
    );
    let mut serve = roster
        .command(&["serve", "--listen", "127.0.0.1:0", "--no-scheduler"])
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // An attempt counts from its claim; its error is recorded when it has failed.
    let message = loop {
        let outbox = roster.json(&["notify", "list", ACCOUNT]);
        if let Some(tried) = outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["last_error"].is_string())
        {
            break tried.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "roster serve tried no message: {outbox:#}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert_eq!(
        message["notice"]["expires_on"],
        json!(expires_on),
        "{message:#}"
    );
    assert_eq!(message["status"], "pending", "{message:#}");
    assert!(
        message["last_error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{message:#}"
    );
}
