//! The server's configuration, layered: defaults, then a TOML file, then `ROSTER_*`
//! environment variables. Every key has one name: `public_url` in the file is
//! `ROSTER_PUBLIC_URL` in the environment. A key holding a secret may instead name a file with
//! `ROSTER_<KEY>_FILE`, so the secret stays out of the process environment listing.
//!
//! `roster.example.toml` at the crate's root documents every key; a test keeps it complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// Every key, as the file and (upper-cased, prefixed `ROSTER_`) the environment name it.
pub const KEYS: &[&str] = &[
    "public_url",
    "database_url",
    "session_idle_minutes",
    "session_absolute_hours",
    "login_attempts_per_address_per_minute",
    "login_attempts_per_client_per_minute",
    "scheduler_tick_seconds",
    "scheduler_concurrency",
    "tech_contact_grace_days",
    "shutdown_grace_seconds",
    "smtp_url",
    "smtp_username",
    "smtp_password_file",
    "smtp_ca_file",
    "mail_from",
];

/// Keys whose value is a secret and may come from `ROSTER_<KEY>_FILE`.
const SECRET_KEYS: &[&str] = &["database_url"];

/// Keys whose value is text even when it reads as a number (a user name such as `1234`).
const TEXT_KEYS: &[&str] = &[
    "public_url",
    "database_url",
    "smtp_url",
    "smtp_username",
    "smtp_password_file",
    "smtp_ca_file",
    "mail_from",
];

/// The server's settings after layering.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The deployment's own URL, as browsers reach it. Cookies are `Secure` when it is https.
    pub public_url: Url,
    /// The database, when `--database` / `ROSTER_DATABASE_URL` do not name one.
    pub database_url: Option<String>,
    pub session_idle_minutes: u32,
    pub session_absolute_hours: u32,
    pub login_attempts_per_address_per_minute: u32,
    pub login_attempts_per_client_per_minute: u32,
    pub scheduler_tick_seconds: u32,
    pub scheduler_concurrency: u16,
    pub tech_contact_grace_days: u32,
    /// How long a shutdown waits for running requests and syncs before it stops anyway.
    pub shutdown_grace_seconds: u32,
    /// The mail server (`smtp://`, `smtp://…?tls=required`, `smtps://`); without one, messages
    /// wait in the outbox. Needs `mail_from` and an explicit `public_url`.
    pub smtp_url: Option<String>,
    pub smtp_username: Option<String>,
    /// The file holding the mail server's password (kept out of the file and the environment).
    pub smtp_password_file: Option<PathBuf>,
    /// PEM certificates trusted for the mail server besides the system's (a private CA).
    pub smtp_ca_file: Option<PathBuf>,
    /// The From of every message, e.g. `Roster <roster@example.net>`.
    pub mail_from: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            public_url: Url::parse("http://127.0.0.1:8080/").expect("a valid constant URL"),
            database_url: None,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            login_attempts_per_address_per_minute: 5,
            login_attempts_per_client_per_minute: 20,
            scheduler_tick_seconds: 60,
            scheduler_concurrency: 4,
            tech_contact_grace_days: 7,
            shutdown_grace_seconds: 30,
            smtp_url: None,
            smtp_username: None,
            smtp_password_file: None,
            smtp_ca_file: None,
            mail_from: None,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the configuration file {path} is not valid TOML: {reason}")]
    Syntax { path: String, reason: String },
    #[error("cannot read {variable}: {reason}")]
    SecretFile { variable: String, reason: String },
    #[error(
        "the configuration is not valid: {reason}; see roster.example.toml for every key and its type"
    )]
    Invalid { reason: String },
    #[error(
        "public_url {url:?} is not usable: give the http:// or https:// URL browsers reach this deployment at"
    )]
    PublicUrl { url: String },
    #[error("smtp_url (ROSTER_SMTP_URL) is set but {missing} ({variable}) is not: {what}")]
    MailIncomplete {
        missing: &'static str,
        variable: &'static str,
        what: &'static str,
    },
}

/// The loaded configuration and the warnings to show (unknown keys).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Config {
    /// Layers defaults, the file (when given) and the environment `variables` (pass
    /// `std::env::vars()`; tests pass their own).
    pub fn load(
        file: Option<&Path>,
        variables: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let mut warnings = Vec::new();
        let mut table = match file {
            Some(path) => read_file(path, &mut warnings)?,
            None => toml::Table::new(),
        };
        let variables: BTreeMap<String, String> = variables.into_iter().collect();
        for key in KEYS {
            let name = format!("ROSTER_{}", key.to_uppercase());
            let file_name = format!("{name}_FILE");
            // A variable set to nothing (as compose files leave them) is not set.
            let set = |name: &str| variables.get(name).filter(|v| !v.trim().is_empty());
            let value = match (set(&name), set(&file_name)) {
                (Some(value), _) => Some(value.clone()),
                (None, Some(path)) if SECRET_KEYS.contains(key) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| ConfigError::SecretFile {
                            variable: format!("{file_name}={path}"),
                            reason: e.to_string(),
                        })?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                ),
                _ => None,
            };
            if let Some(value) = value {
                let value = if TEXT_KEYS.contains(key) {
                    toml::Value::String(value)
                } else {
                    environment_value(&value)
                };
                table.insert((*key).to_owned(), value);
            }
        }
        let config: Config = table.clone().try_into().map_err(|e: toml::de::Error| {
            // The whole table's error does not say which key; the first key that fails alone does.
            let key = table.iter().find_map(|(key, value)| {
                let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
                alone.try_into::<Config>().is_err().then_some(key.as_str())
            });
            ConfigError::Invalid {
                reason: match key {
                    Some(key) => format!("{key}: {}", e.message()),
                    None => e.message().to_owned(),
                },
            }
        })?;
        if !matches!(config.public_url.scheme(), "http" | "https")
            || config.public_url.host().is_none()
        {
            return Err(ConfigError::PublicUrl {
                url: config.public_url.to_string(),
            });
        }
        if config.smtp_url.is_some() {
            if config.mail_from.is_none() {
                return Err(ConfigError::MailIncomplete {
                    missing: "mail_from",
                    variable: "ROSTER_MAIL_FROM",
                    what: "give the sender of every message, e.g. \"Roster <roster@example.net>\"",
                });
            }
            // The default is where a developer's browser finds the server, not where the
            // people mailed can: the links in messages need the real address.
            if !table.contains_key("public_url") {
                return Err(ConfigError::MailIncomplete {
                    missing: "public_url",
                    variable: "ROSTER_PUBLIC_URL",
                    what: "give the console's address as people reach it, e.g. https://roster.example.net, for the links in messages",
                });
            }
        }
        Ok(Loaded { config, warnings })
    }

    /// Whether cookies must be `Secure`: the deployment is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    pub fn session_lifetime(&self) -> roster_store::SessionLifetime {
        roster_store::SessionLifetime {
            idle: time::Duration::minutes(i64::from(self.session_idle_minutes.max(1))),
            absolute: time::Duration::hours(i64::from(self.session_absolute_hours.max(1))),
        }
    }

    pub fn scheduler_tick(&self) -> Duration {
        Duration::from_secs(u64::from(self.scheduler_tick_seconds.max(1)))
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(u64::from(self.shutdown_grace_seconds))
    }
}

/// Reads the file's table, dropping (and warning about) keys the server does not know.
fn read_file(path: &Path, warnings: &mut Vec<String>) -> Result<toml::Table, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let mut table: toml::Table =
        text.parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: shown.clone(),
                reason: e.message().to_owned(),
            })?;
    let unknown: Vec<String> = table
        .keys()
        .filter(|key| !KEYS.contains(&key.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        table.remove(&key);
        warnings.push(format!(
            "{shown}: unknown key {key:?} ignored; roster.example.toml lists every key"
        ));
    }
    Ok(table)
}

/// An environment value as the TOML value it stands for: numbers and booleans as such, the
/// rest as text.
fn environment_value(text: &str) -> toml::Value {
    if let Ok(number) = text.trim().parse::<i64>() {
        toml::Value::Integer(number)
    } else if let Ok(flag) = text.trim().parse::<bool>() {
        toml::Value::Boolean(flag)
    } else {
        toml::Value::String(text.to_owned())
    }
}
