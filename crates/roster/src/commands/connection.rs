//! `roster connection …`

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use roster_domain::{
    AccountEventKind, Cloud, ConnectionSettings, DeletionLimit, DirectoryConnection, Frequency,
};
use roster_graph::Priority;
use roster_graph::diagnostics::{StepStatus, test_connection};
use secrecy::SecretString;
use serde_json::json;

use crate::cli::{ConnectionCommand, ConnectionSetArgs};
use crate::context::Context;
use crate::output::print_json;

/// Reads the client secret from a file or standard input ("-"). Only its value is kept:
/// surrounding white space (a trailing newline from `echo`) is not part of a secret.
fn read_secret(path: &Path) -> anyhow::Result<SecretString> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the client secret from standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the client secret file {}", path.display()))?;
    }
    let secret = text.trim();
    if secret.is_empty() {
        bail!(
            "the client secret is empty; paste the secret's Value (not its Secret ID) from Certificates & secrets"
        );
    }
    Ok(SecretString::from(secret.to_owned()))
}

/// The saved settings changed by the flags given; a new connection needs tenant and client ID.
fn settings_from(
    args: &ConnectionSetArgs,
    saved: Option<&ConnectionSettings>,
) -> anyhow::Result<ConnectionSettings> {
    let tenant = match (&args.tenant, saved) {
        (Some(t), _) => t.parse()?,
        (None, Some(s)) => s.tenant.clone(),
        (None, None) => {
            bail!("a new connection needs --tenant (the tenant GUID or a verified domain)")
        }
    };
    let client_id = match (&args.client_id, saved) {
        (Some(c), _) => c.parse()?,
        (None, Some(s)) => s.client_id,
        (None, None) => bail!(
            "a new connection needs --client-id (the app registration's Application (client) ID)"
        ),
    };
    let cloud = match (&args.cloud, &args.login_url, &args.graph_url) {
        (Some(name), _, _) => name.parse()?,
        (None, Some(login), Some(graph)) => Cloud::custom(login, graph)?,
        _ => saved.map_or(Cloud::Global, |s| s.cloud.clone()),
    };
    let defaults = saved.cloned();
    let limit = defaults
        .as_ref()
        .map(|s| s.deletion_limit)
        .unwrap_or_default();
    Ok(ConnectionSettings {
        tenant,
        client_id,
        cloud,
        default_role: match &args.default_role {
            Some(r) => r.parse()?,
            None => defaults
                .as_ref()
                .map(|s| s.default_role)
                .unwrap_or_default(),
        },
        scope: match &args.sync {
            Some(list) => list.parse()?,
            None => defaults.as_ref().map(|s| s.scope).unwrap_or_default(),
        },
        actions: match &args.actions {
            Some(list) => list.parse()?,
            None => defaults.as_ref().map(|s| s.actions).unwrap_or_default(),
        },
        frequency: match &args.frequency {
            Some(f) => f.parse()?,
            None => defaults.as_ref().map(|s| s.frequency).unwrap_or_default(),
        },
        deletion_limit: DeletionLimit::new(
            args.deletion_limit_percent.unwrap_or(limit.percent),
            args.deletion_limit_min.unwrap_or(limit.min_objects),
        )?,
        include_sign_in_blocked: args
            .include_sign_in_blocked
            .unwrap_or(defaults.as_ref().is_some_and(|s| s.include_sign_in_blocked)),
        key_expires_on: defaults.as_ref().and_then(|s| s.key_expires_on),
    })
}

fn connection_json(connection: &DirectoryConnection) -> serde_json::Value {
    let settings = &connection.settings;
    json!({
        "account_id": connection.account_id,
        "tenant": settings.tenant,
        "client_id": settings.client_id,
        "cloud": settings.cloud.name(),
        "login_url": settings.cloud.login_url(),
        "graph_url": settings.cloud.graph_url(),
        "default_role": settings.default_role,
        "sync": settings.scope.names(),
        "actions": settings.actions.names(),
        "frequency": settings.frequency,
        "deletion_limit": settings.deletion_limit,
        "include_sign_in_blocked": settings.include_sign_in_blocked,
        "client_secret": format!("set on {}", connection.secret_set_at.date()),
        "secret_set_at": connection.secret_set_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "updated_at": connection.updated_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    })
}

fn print_connection(connection: &DirectoryConnection, has_tech_contact: bool) {
    let s = &connection.settings;
    println!("Tenant (primary domain): {}", s.tenant);
    println!("Client ID:               {}", s.client_id);
    println!(
        "Key (client secret):     set on {}",
        connection.secret_set_at.date()
    );
    println!(
        "Cloud:                   {} (login {}, Graph {})",
        s.cloud.name(),
        s.cloud.login_url(),
        s.cloud.graph_url()
    );
    println!("Default new-user role:   {}", s.default_role);
    println!("What to sync:            {}", s.scope.names().join(", "));
    println!("How to sync:             {}", s.actions.names().join(", "));
    println!("When to sync:            {}", s.frequency);
    println!(
        "Deletion limit:          more than {}% of synced users or groups, and at least {} objects",
        s.deletion_limit.percent, s.deletion_limit.min_objects
    );
    println!(
        "Sign-in-blocked mailboxes count as active: {}",
        s.include_sign_in_blocked
    );
    if s.frequency.interval().is_some() && !has_tech_contact {
        println!(
            "Warning: the account has no tech contact. Set one (`roster account set-tech-contact`) or automatic sync \
             will be switched to never after the grace period."
        );
    }
}

pub async fn run(ctx: &Context, command: ConnectionCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConnectionCommand::Set(args) => {
            let account = ctx.account(&args.account).await?;
            let saved = ctx.store.connection(account.id).await?;
            let settings = settings_from(&args, saved.as_ref().map(|c| &c.settings))?;
            let secret = args
                .client_secret_file
                .as_deref()
                .map(read_secret)
                .transpose()?;
            if saved.is_none() && secret.is_none() {
                bail!(
                    "a new connection needs its key: pass --client-secret-file PATH (or - to read it from standard input)"
                );
            }
            let connection = ctx
                .store
                .set_connection(account.id, settings, secret)
                .await?;
            if args.output.json {
                print_json(&connection_json(&connection))?;
            } else {
                println!("Saved the directory connection of {}.", account.name);
                print_connection(&connection, account.tech_contact.is_some());
            }
        }
        ConnectionCommand::Show { account, output } => {
            let account = ctx.account(&account).await?;
            let Some(connection) = ctx.store.connection(account.id).await? else {
                bail!(
                    "the account {} has no directory connection; create it with `roster connection set`",
                    account.name
                );
            };
            // Say why automatic sync is off when the schedule turned it off.
            let turned_off = match connection.settings.frequency {
                Frequency::Never => ctx
                    .store
                    .list_events(account.id, 20)
                    .await?
                    .into_iter()
                    .find(|e| {
                        e.kind == AccountEventKind::AutomaticSyncTurnedOff
                            && e.created_at >= connection.updated_at
                    }),
                Frequency::Hours(_) => None,
            };
            if output.json {
                let mut value = connection_json(&connection);
                value["frequency_turned_off"] = json!(turned_off.as_ref().map(|e| &e.message));
                print_json(&value)?;
            } else {
                print_connection(&connection, account.tech_contact.is_some());
                if let Some(event) = turned_off {
                    println!("Note: {}", event.message);
                }
            }
        }
        ConnectionCommand::Delete { account } => {
            let account = ctx.account(&account).await?;
            ctx.store.delete_connection(account.id).await?;
            println!(
                "Deleted the directory connection of {} and its mirror; its users and groups stay.",
                account.name
            );
        }
        ConnectionCommand::Test { account, output } => {
            let account = ctx.account(&account).await?;
            let (_, client) = ctx.engine.graph_client(account.id, Priority::High).await?;
            let checklist = test_connection(&client, &account.domains).await;
            if output.json {
                print_json(&checklist)?;
            } else {
                for step in &checklist.steps {
                    let mark = match step.status {
                        StepStatus::Passed => "ok  ",
                        StepStatus::Failed => "FAIL",
                        StepStatus::NotRun => "skip",
                    };
                    println!("[{mark}] {}: {}", step.title, step.detail);
                    if let Some(fix) = &step.fix {
                        println!("       fix: {fix}");
                    }
                }
            }
            if !checklist.passed {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
