//! Configuration layering: defaults, then the file, then the environment.

use std::io::Write as _;

use roster_server::Config;
use roster_server::config::KEYS;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn without_file_or_environment_the_defaults_hold() {
    let loaded = Config::load(None, env(&[])).unwrap();
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.warnings.is_empty());
    assert!(!loaded.config.secure_cookies());
}

#[test]
fn the_environment_overrides_the_file_which_overrides_the_defaults() {
    let toml = file(
        "public_url = \"https://roster.example.com/\"\nsession_idle_minutes = 10\nscheduler_concurrency = 2\n",
    );
    let loaded = Config::load(
        Some(toml.path()),
        env(&[
            ("ROSTER_SESSION_IDLE_MINUTES", "15"),
            ("ROSTER_UNRELATED", "x"),
        ]),
    )
    .unwrap();
    let config = loaded.config;
    assert_eq!(config.public_url.as_str(), "https://roster.example.com/");
    assert!(
        config.secure_cookies(),
        "an https deployment gets Secure cookies"
    );
    assert_eq!(config.session_idle_minutes, 15);
    assert_eq!(config.scheduler_concurrency, 2);
    assert_eq!(
        config.session_absolute_hours,
        Config::default().session_absolute_hours
    );
}

#[test]
fn a_secret_can_come_from_a_file_named_by_the_environment() {
    let secret = file("postgres://roster:hunter2@db/roster\n");
    let loaded = Config::load(
        None,
        env(&[("ROSTER_DATABASE_URL_FILE", secret.path().to_str().unwrap())]),
    )
    .unwrap();
    assert_eq!(
        loaded.config.database_url.as_deref(),
        Some("postgres://roster:hunter2@db/roster")
    );
}

#[test]
fn unknown_keys_in_the_file_are_warned_about_and_ignored() {
    let toml = file("public_url = \"http://localhost:9000/\"\nsesion_idle_minutes = 5\n");
    let loaded = Config::load(Some(toml.path()), env(&[])).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("sesion_idle_minutes"));
    assert_eq!(loaded.config.session_idle_minutes, 30);
}

#[test]
fn a_wrong_value_says_which_key_and_a_bad_public_url_is_refused() {
    let toml = file("session_idle_minutes = \"half an hour\"\n");
    let error = Config::load(Some(toml.path()), env(&[])).unwrap_err();
    assert!(
        error.to_string().contains("session_idle_minutes"),
        "{error}"
    );
    let error =
        Config::load(None, env(&[("ROSTER_PUBLIC_URL", "ftp://example.com/")])).unwrap_err();
    assert!(error.to_string().contains("public_url"), "{error}");
}

#[test]
fn the_example_file_documents_every_key_and_loads_as_the_defaults() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/roster.example.toml");
    let text = std::fs::read_to_string(example).unwrap();
    for key in KEYS {
        assert!(
            text.contains(&format!("{key} =")),
            "roster.example.toml lacks {key}"
        );
    }
    let loaded = Config::load(Some(std::path::Path::new(example)), env(&[])).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn mail_settings_layer_like_every_key_and_a_numeric_user_name_stays_text() {
    let toml = file(
        "public_url = \"https://roster.example.net/\"\n\
         smtp_url = \"smtp://relay.internal:25\"\n\
         smtp_username = \"from-the-file\"\n\
         smtp_password_file = \"/run/secrets/smtp\"\n\
         mail_from = \"Roster <roster@example.net>\"\n",
    );
    let loaded = Config::load(
        Some(toml.path()),
        env(&[
            ("ROSTER_SMTP_URL", "smtps://mail.example.net"),
            ("ROSTER_SMTP_USERNAME", "1234"),
            ("ROSTER_SMTP_CA_FILE", "/etc/roster/mail-ca.pem"),
            // Set to nothing, as compose files leave variables: the file's value stands.
            ("ROSTER_MAIL_FROM", ""),
        ]),
    )
    .unwrap();
    let config = loaded.config;
    assert_eq!(config.smtp_url.as_deref(), Some("smtps://mail.example.net"));
    assert_eq!(config.smtp_username.as_deref(), Some("1234"));
    assert_eq!(
        config.smtp_password_file.as_deref(),
        Some(std::path::Path::new("/run/secrets/smtp"))
    );
    assert_eq!(
        config.smtp_ca_file.as_deref(),
        Some(std::path::Path::new("/etc/roster/mail-ca.pem"))
    );
    assert_eq!(
        config.mail_from.as_deref(),
        Some("Roster <roster@example.net>")
    );
}

#[test]
fn a_mail_server_needs_a_sender_and_the_public_url_its_links_start_with() {
    let error = Config::load(
        None,
        env(&[
            ("ROSTER_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("ROSTER_PUBLIC_URL", "https://roster.example.net"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("mail_from (ROSTER_MAIL_FROM) is not"),
        "{error}"
    );

    let toml = file("smtp_url = \"smtp://127.0.0.1:2525\"\nmail_from = \"roster@example.net\"\n");
    let error = Config::load(Some(toml.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("public_url (ROSTER_PUBLIC_URL) is not"),
        "the default public URL is no address for people's mail: {error}"
    );

    let without_mail = Config::load(None, env(&[("ROSTER_MAIL_FROM", "roster@example.net")]));
    assert!(without_mail.is_ok(), "a sender alone sends nothing");
}
