//! `roster demo`: Roster on a fresh SQLite data directory against a simulated tenant in this
//! process. By default it serves the console on localhost for a person to follow the guide
//! (`console`); `--walkthrough` runs the same job as a scripted command-line session
//! (`walkthrough`).

mod console;
mod walkthrough;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use roster_domain::{Account, DomainName, TechContact};
use roster_sim::{RunningSim, SimConfig, Simulator, TenantSummary};
use roster_store::{MasterKey, NewAccount};

use crate::cli::{DemoArgs, GlobalArgs};
use crate::context::Context;

const ACCOUNT: &str = "contoso-demo";

pub async fn run(global: GlobalArgs, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if global.database.is_some() {
        bail!(
            "the demo keeps its own SQLite database in its data directory; drop --database (or unset ROSTER_DATABASE_URL)"
        );
    }
    let dir = fresh_dir(global.data_dir.as_deref())?;
    if args.walkthrough {
        walkthrough::run(dir, &args).await
    } else {
        console::run(dir, &args).await
    }
}

/// A fresh directory for the demo's database and key: the one given (which must be empty), or
/// a new one under the system's temporary directory.
fn fresh_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(dir) => dir.to_owned(),
        None => std::env::temp_dir().join(format!("roster-demo-{}", uuid::Uuid::now_v7().simple())),
    };
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} is not empty; the demo starts from a fresh data directory (give another --data-dir, or unset ROSTER_DATA_DIR)",
            dir.display()
        );
    }
    crate::context::create_private_dir(&dir)?;
    Ok(dir)
}

/// What both forms of the demo start from: the simulated tenant, and an account of a fresh
/// database whose domains are the tenant's.
struct Demo {
    dir: PathBuf,
    sim: RunningSim,
    summary: TenantSummary,
    ctx: Context,
    account: Account,
    /// The tenant's initial *.onmicrosoft.com domains, which the account does not own.
    unowned_domains: Vec<String>,
}

impl Demo {
    async fn start(dir: PathBuf, args: &DemoArgs) -> anyhow::Result<Self> {
        let sim = Simulator::start(SimConfig {
            users: args.users as usize,
            groups: args.groups as usize,
            seed: args.seed,
            ..SimConfig::default()
        })
        .await?;
        let summary = sim.control().summary().await?;
        let key = MasterKey::from_env_or_file(&dir.join("master.key"))?;
        let ctx =
            Context::connect(&format!("sqlite:{}", dir.join("roster.db").display()), key).await?;
        // The tenant's initial *.onmicrosoft.com domain receives no mail through the service, so,
        // as at a real customer, the account does not own it: aliases there show up as skipped.
        let (unowned_domains, owned): (Vec<String>, Vec<String>) = summary
            .verified_domains
            .iter()
            .cloned()
            .partition(|d| d.ends_with(".onmicrosoft.com"));
        let domains = owned
            .iter()
            .map(|d| d.parse())
            .collect::<Result<Vec<DomainName>, _>>()?;
        let tech_contact = TechContact {
            name: "Ada Admin".to_owned(),
            email: format!("it-admin@{}", sim.tenant().tenant).parse()?,
        };
        let account = ctx
            .store
            .create_account(NewAccount {
                name: ACCOUNT.to_owned(),
                domains,
                tech_contact: Some(tech_contact),
            })
            .await?;
        Ok(Self {
            dir,
            sim,
            summary,
            ctx,
            account,
            unowned_domains,
        })
    }

    /// The account's domains, comma-separated.
    fn domain_list(&self) -> String {
        let domains: Vec<&str> = self
            .account
            .domains
            .iter()
            .map(DomainName::as_str)
            .collect();
        domains.join(", ")
    }
}
