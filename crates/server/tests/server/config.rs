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
