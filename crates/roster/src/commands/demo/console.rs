//! `roster demo`: the console served on localhost, with an admin login, for a person to follow
//! the guide's Step 2 and Manual Sync against the simulated tenant.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use roster_domain::{Cloud, ConnectionSettings};
use roster_server::{AppState, Config};
use roster_store::NewAdmin;
use secrecy::SecretString;
use serde::Serialize;

use super::Demo;
use crate::cli::DemoArgs;
use crate::output::printable;

/// The admin's login: an address in the account's domain that the generated directory never
/// holds (its users are first.last), so syncing cannot collide with it.
const ADMIN_LOCAL_PART: &str = "roster-admin";

/// What a person (or a test) needs to follow the guide in the console.
#[derive(Debug, Serialize)]
struct Started {
    url: String,
    account: String,
    login: String,
    password: String,
    primary_domain: String,
    client_id: String,
    key: String,
    data_dir: PathBuf,
}

pub async fn run(dir: PathBuf, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "the demo serves only this machine: give --listen a loopback address such as 127.0.0.1:8080, not {}",
            args.listen
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; give another --listen (port 0 picks a free one)",
                args.listen
            )
        })?;
    let address: SocketAddr = listener
        .local_addr()
        .context("cannot tell which address the console listens on")?;
    let url = format!("http://{address}/");

    let demo = Demo::start(dir, args).await?;
    let tenant = demo.sim.tenant().clone();
    let login = format!("{ADMIN_LOCAL_PART}@{}", tenant.tenant);
    // 122 random bits, well over the minimum length, and easy to copy from a terminal.
    let password = uuid::Uuid::new_v4().simple().to_string();
    demo.ctx
        .store
        .create_admin(
            demo.account.id,
            NewAdmin {
                address: login.parse()?,
                display_name: Some("Demo Admin".to_owned()),
                password: SecretString::from(password.clone()),
            },
        )
        .await?;
    // A console admin cannot point a connection at endpoints of their choosing; a platform
    // operator can (a custom cloud). The demo does so for the simulated tenant, and since a new
    // connection needs its key, it saves the app registration's values the form then shows.
    let settings = ConnectionSettings::new(
        tenant.tenant.parse()?,
        tenant.client_id.parse()?,
        Cloud::custom(&tenant.login_url, &tenant.graph_url)?,
    );
    demo.ctx
        .store
        .set_connection(
            demo.account.id,
            settings,
            Some(SecretString::from(tenant.client_secret.clone())),
        )
        .await?;

    let started = Started {
        url,
        account: demo.account.name.clone(),
        login,
        password,
        primary_domain: tenant.tenant,
        client_id: tenant.client_id,
        key: tenant.client_secret,
        data_dir: demo.dir.clone(),
    };
    if args.json {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", serde_json::to_string(&started)?)
            .and_then(|()| stdout.flush())
            .context("cannot print the start-up line")?;
    } else {
        print_instructions(&demo, &started);
    }

    let loaded = Config::load(None, [("ROSTER_PUBLIC_URL".to_owned(), started.url)])?;
    let state = AppState::new(demo.ctx.engine.clone(), loaded.config);
    let served = roster_server::serve(
        listener,
        state,
        true,
        crate::commands::serve::shutdown_signal(),
    )
    .await;
    demo.sim.shutdown().await?;
    served.context("the console stopped with an error")?;
    Ok(ExitCode::SUCCESS)
}

fn print_instructions(demo: &Demo, started: &Started) {
    let account = &demo.account;
    println!("Roster's console is at {} (Ctrl-C stops it).", started.url);
    println!();
    println!("  Log in as       {}", printable(&started.login));
    println!("  Password        {}", started.password);
    println!();
    println!(
        "A simulated Entra ID tenant with {} users and {} groups stands in for Microsoft. Its app",
        demo.summary.users, demo.summary.groups
    );
    println!(
        "registration's values, for Administration › User Management › Import & Sync › Azure Active Directory:"
    );
    println!();
    println!("  Primary Domain  {}", printable(&started.primary_domain));
    println!("  Client ID       {}", printable(&started.client_id));
    println!("  Key             {}", printable(&started.key));
    println!();
    println!(
        "The account {} owns {}; its tech contact is {}.",
        printable(&account.name),
        printable(&demo.domain_list()),
        account
            .tech_contact
            .as_ref()
            .map_or("nobody".into(), |c| printable(&format!(
                "{} <{}>",
                c.name, c.email
            ))
            .into_owned()),
    );
    for domain in &demo.unowned_domains {
        println!(
            "It does not own the tenant's initial domain {}: mail does not reach the service there.",
            printable(domain)
        );
    }
    println!(
        "Its connection already points at the simulated tenant (custom endpoints, which only a platform operator"
    );
    println!(
        "sets) with the values above: the key shows as \"Set on\" today, and Replace takes it again. Follow the"
    );
    println!(
        "guide's Step 2 and Manual Sync from there (README.md, \"The guide in the console\"). The data stays in"
    );
    println!("{}.", demo.dir.display());
}
