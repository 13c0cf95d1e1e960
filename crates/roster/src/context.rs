//! Where the CLI finds its database and master key, from flags, environment and defaults.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use roster_graph::ClientOptions;
use roster_store::{AccountRef, MasterKey, Store};
use roster_sync::SyncEngine;

use crate::cli::GlobalArgs;

pub const MASTER_KEY_FILE_ENV: &str = "ROSTER_MASTER_KEY_FILE";
/// PEM certificates the Graph client trusts besides the system's (a TLS-inspecting proxy, or
/// the simulated tenant's loopback certificate with `roster sim --tls`).
const GRAPH_CA_FILE_ENV: &str = "ROSTER_GRAPH_CA_FILE";
const MASTER_KEY_ENV: &str = "ROSTER_MASTER_KEY";

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
                std::fs::create_dir_all(&data_dir).with_context(|| {
                    format!("cannot create the data directory {}", data_dir.display())
                })?;
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
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(MasterKey::from_env_or_file(&file)?)
}
