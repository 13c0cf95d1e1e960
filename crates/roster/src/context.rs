//! Where the CLI finds its database and master key, from flags, environment and defaults.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use roster_graph::ClientOptions;
use roster_notify::{Links, MailSettings, Mailer};
use roster_server::Config;
use roster_store::{AccountRef, MasterKey, Store};
use roster_sync::SyncEngine;
use secrecy::SecretString;

use crate::cli::GlobalArgs;

pub const MASTER_KEY_FILE_ENV: &str = "ROSTER_MASTER_KEY_FILE";
/// PEM certificates the Graph client trusts besides the system's: a TLS-inspecting proxy's CA
/// (tests also give it the certificate `roster sim --tls --cert-out` wrote).
const GRAPH_CA_FILE_ENV: &str = "ROSTER_GRAPH_CA_FILE";
const MASTER_KEY_ENV: &str = "ROSTER_MASTER_KEY";
/// How the mail files are named in errors: the file's key and its variable.
const SMTP_PASSWORD_FILE: &str = "smtp_password_file (ROSTER_SMTP_PASSWORD_FILE)";
const SMTP_CA_FILE: &str = "smtp_ca_file (ROSTER_SMTP_CA_FILE)";

/// An open store, and the sync engine over it.
pub struct Context {
    pub store: Store,
    pub engine: SyncEngine,
}

impl Context {
    /// Opens (and migrates) the configured database.
    pub async fn open(global: &GlobalArgs) -> anyhow::Result<Self> {
        let data_dir = data_dir(global)?;
        let (url, embedded) = match &global.database {
            Some(url) => (url.clone(), false),
            None => {
                create_private_dir(&data_dir)?;
                (
                    format!("sqlite:{}", data_dir.join("roster.db").display()),
                    true,
                )
            }
        };
        let key = master_key(&data_dir, embedded)?;
        let lease = std::time::Duration::from_secs(global.run_lease_seconds);
        let Self { store, engine } = Self::connect(&url, key).await?;
        Ok(Self {
            store: store.with_run_lease(lease),
            engine: engine.with_run_lease(lease),
        })
    }

    pub async fn connect(url: &str, key: MasterKey) -> anyhow::Result<Self> {
        if let Some(path) = sqlite_file(url) {
            private_sqlite_files(&path)?;
        }
        let store = Store::connect(url, key).await?;
        store.migrate().await?;
        let mut engine = SyncEngine::new(store.clone());
        if let Some(path) = std::env::var_os(GRAPH_CA_FILE_ENV) {
            let pem = std::fs::read(&path).with_context(|| {
                format!(
                    "cannot read {GRAPH_CA_FILE_ENV}={}",
                    PathBuf::from(&path).display()
                )
            })?;
            engine = engine.with_graph_options(move |priority| ClientOptions {
                extra_root_certificates_pem: pem.clone(),
                ..ClientOptions::new(priority)
            });
        }
        Ok(Self { engine, store })
    }

    /// The account named by id or name, or an error that says how to list them.
    pub async fn account(&self, reference: &str) -> anyhow::Result<roster_domain::Account> {
        let reference: AccountRef = reference.parse()?;
        Ok(self.store.account(&reference).await?)
    }
}

/// The configuration's mail settings and public URL, for the commands that send mail besides
/// `roster serve`: the file `--config` names (or none), then the `ROSTER_*` environment.
pub fn mail_config(file: Option<&Path>) -> anyhow::Result<Config> {
    let loaded = Config::load(file, std::env::vars())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.config)
}

/// The mail server, when `smtp_url` is set: without one, messages wait in the outbox.
pub fn mailer(config: &Config) -> anyhow::Result<Option<Mailer>> {
    let Some(url) = &config.smtp_url else {
        return Ok(None);
    };
    let from = config.mail_from.clone().context(
        "smtp_url (ROSTER_SMTP_URL) is set but mail_from (ROSTER_MAIL_FROM) is not: give the sender, e.g. \"Roster <roster@example.net>\"",
    )?;
    let password = match &config.smtp_password_file {
        Some(path) => Some(SecretString::from(
            private_file(path, SMTP_PASSWORD_FILE)?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        )),
        None => None,
    };
    let extra_root_certificates_pem = match &config.smtp_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read {SMTP_CA_FILE}={}", path.display()))?,
        ),
        None => None,
    };
    Ok(Some(Mailer::new(MailSettings {
        url: url.clone(),
        username: config.smtp_username.clone(),
        password,
        from,
        extra_root_certificates_pem,
    })?))
}

/// The links in messages, under the console's public URL.
pub fn links(config: &Config) -> anyhow::Result<Links> {
    Ok(Links::new(config.public_url.as_str())?)
}

/// A secret file's text; refused when others may read it.
fn private_file(path: &Path, variable: &str) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("cannot read {variable}={}", path.display()))?;
    if metadata.permissions().mode() & 0o077 != 0 {
        bail!(
            "{variable}={} may be read by other users; make it private with `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {variable}={}", path.display()))
}

/// The data directory: the flag or variable, else $XDG_DATA_HOME/roster, else
/// ~/.local/share/roster.
pub fn data_dir(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &global.data_dir {
        return Ok(dir.clone());
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("roster"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/roster")),
        None => {
            bail!("cannot tell where to keep Roster's data: set ROSTER_DATA_DIR or pass --data-dir")
        }
    }
}

/// The master key: `ROSTER_MASTER_KEY`, else the key file. The embedded database creates its
/// key file on first use; a shared database must be given the key, or each process would make
/// its own and none could read the others' secrets.
fn master_key(data_dir: &Path, embedded: bool) -> anyhow::Result<MasterKey> {
    let file = std::env::var_os(MASTER_KEY_FILE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir.join("master.key"));
    if !embedded && std::env::var_os(MASTER_KEY_ENV).is_none() && !file.exists() {
        bail!(
            "a shared database needs the master key that encrypts client secrets: set {MASTER_KEY_ENV} \
             (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) or {MASTER_KEY_FILE_ENV}, the same for every process"
        );
    }
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    Ok(MasterKey::from_env_or_file(&file)?)
}

/// Creates `dir` and any missing parents, each readable by its owner only: the data directory
/// holds personal data and password hashes. An existing directory is left as it is (it may be
/// shared, such as /tmp).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// The file of a SQLite database URL (`sqlite:PATH`, `sqlite://PATH?…` or a plain path); none
/// for PostgreSQL or an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Makes the database file and its -wal and -shm files readable by their owner only. An absent
/// database is created empty with mode 0600 first, because SQLite gives the -wal and -shm files
/// the database's own mode; files an older Roster left readable by others are narrowed.
fn private_sqlite_files(database: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false).mode(0o600);
        options
            .open(database)
            .with_context(|| format!("cannot create the database file {}", database.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            match std::fs::metadata(&file) {
                Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                        .with_context(|| {
                            format!("cannot make {} private (chmod 600)", file.display())
                        })?;
                }
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = database;
    Ok(())
}
