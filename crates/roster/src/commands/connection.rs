//! `roster connection …`

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use roster_api::{CertificateView, ConnectionView, certificate_use};
use roster_domain::connection::iso_date;
use roster_domain::{
    CredentialKind, DirectoryConnection, FieldProblem, SettingsChange, credential_expiry,
};
use roster_graph::FixSetting;
use roster_graph::diagnostics::StepStatus;
use roster_sync::SyncError;
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{CertificateCommand, ConnectionCommand, ConnectionSetArgs};
use crate::context::Context;
use crate::output::{print_json, printable};

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

/// The change the flags ask for; flags left out keep their saved values.
fn change_from(args: &ConnectionSetArgs) -> SettingsChange {
    SettingsChange {
        tenant: args.tenant.clone(),
        client_id: args.client_id.clone(),
        cloud: args.cloud.clone(),
        login_url: args.login_url.clone(),
        graph_url: args.graph_url.clone(),
        default_role: args.default_role.clone(),
        sync: args.sync.clone(),
        actions: args.actions.clone(),
        frequency: args.frequency.clone(),
        deletion_limit_percent: args.deletion_limit_percent,
        deletion_limit_min: args.deletion_limit_min,
        include_sign_in_blocked: args.include_sign_in_blocked,
        credential: args.credential.clone(),
        key_expires_on: args.key_expires_on.clone(),
    }
}

/// Settings that cannot be saved, each problem under the flag that set it.
fn settings_problems(account: &str, problems: &[FieldProblem]) -> anyhow::Error {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| match p.field {
            "key" => format!("--client-secret-file: {}", p.error),
            "credential" => format!(
                "--credential: {} (`roster connection certificate generate {account}` makes one)",
                p.error
            ),
            field => format!("--{}: {}", field.replace('_', "-"), p.error),
        })
        .collect();
    anyhow::anyhow!(lines.join("; "))
}

fn print_certificates(connection: &DirectoryConnection, now: OffsetDateTime) {
    if connection.certificates.is_empty() {
        println!(
            "Certificates:            none (`roster connection certificate generate` makes one)"
        );
        return;
    }
    println!("Certificates:");
    for (index, c) in connection.certificates.iter().enumerate() {
        println!(
            "  {}  valid {} to {}  ({})",
            c.thumbprint,
            c.not_before.date(),
            c.not_after.date(),
            certificate_use(connection, index, now)
        );
    }
}

fn connection_json(
    connection: &DirectoryConnection,
    turned_off: Option<&roster_domain::AccountEvent>,
) -> serde_json::Value {
    serde_json::to_value(ConnectionView::new(connection, turned_off)).unwrap_or_default()
}

fn print_connection(connection: &DirectoryConnection, has_tech_contact: bool) {
    let s = &connection.settings;
    println!("Tenant (primary domain): {}", s.tenant);
    println!("Client ID:               {}", s.client_id);
    println!(
        "Key (client secret):     set on {}{}",
        connection.secret_set_at.date(),
        s.key_expires_on
            .map(|d| format!(", expires on {}", iso_date::format(d)))
            .unwrap_or_default()
    );
    let now = OffsetDateTime::now_utc();
    println!(
        "Signs in with:           {}{}",
        match s.credential {
            CredentialKind::Secret => "the client secret",
            CredentialKind::Certificate => "a certificate (client assertion)",
        },
        credential_expiry(connection, now)
            .map(|d| format!(", which stops working on {}", iso_date::format(d)))
            .unwrap_or_default()
    );
    print_certificates(connection, now);
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
            let secret = args
                .client_secret_file
                .as_deref()
                .map(read_secret)
                .transpose()?;
            let connection = match ctx
                .engine
                .save_connection(account.id, &change_from(&args), secret.as_ref())
                .await
            {
                Ok(connection) => connection,
                Err(SyncError::InvalidSettings { problems }) => {
                    return Err(settings_problems(&args.account, &problems));
                }
                Err(e) => return Err(e.into()),
            };
            if args.output.json {
                print_json(&connection_json(&connection, None))?;
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
            let turned_off = ctx.engine.why_automatic_sync_is_off(&connection).await?;
            if output.json {
                print_json(&connection_json(&connection, turned_off.as_ref()))?;
            } else {
                print_connection(&connection, account.tech_contact.is_some());
                if let Some(event) = turned_off {
                    println!("Note: {}", printable(&event.message));
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
        ConnectionCommand::Certificate(command) => return certificate(ctx, command).await,
        ConnectionCommand::Test { account, output } => {
            let account = ctx.account(&account).await?;
            let checklist = ctx.engine.test_connection(&account).await?;
            if output.json {
                print_json(&checklist)?;
            } else {
                for step in &checklist.steps {
                    let mark = match step.status {
                        StepStatus::Passed => "ok  ",
                        StepStatus::Failed => "FAIL",
                        StepStatus::NotRun => "skip",
                    };
                    println!("[{mark}] {}: {}", step.title, printable(&step.detail));
                    if let Some(fix) = &step.fix {
                        println!("       fix: {}", printable(fix));
                    }
                    if let Some(setting) = step.fix_setting {
                        println!(
                            "       with roster: {}",
                            fix_command(setting, &account.name)
                        );
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

async fn certificate(ctx: &Context, command: CertificateCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertificateCommand::Generate {
            account,
            out_dir,
            valid_days,
            output,
        } => {
            let account = ctx.account(&account).await?;
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("cannot create {}", out_dir.display()))?;
            let made = match ctx
                .engine
                .generate_certificate(account.id, valid_days)
                .await
            {
                Err(SyncError::NoConnection(_)) => bail!(
                    "the account {} has no directory connection; create it with `roster connection set` first",
                    account.name
                ),
                made => made?,
            };
            let info = &made.info;
            let stem = made.file_stem();
            let cer = out_dir.join(format!("{stem}.cer"));
            let pem = out_dir.join(format!("{stem}.pem"));
            std::fs::write(&cer, &made.der)
                .with_context(|| format!("cannot write {}", cer.display()))?;
            std::fs::write(&pem, made.pem())
                .with_context(|| format!("cannot write {}", pem.display()))?;
            if output.json {
                print_json(&json!({
                    "thumbprint": info.thumbprint,
                    "sha256_thumbprint": info.sha256_thumbprint,
                    "not_before": info.not_before.format(&Rfc3339).unwrap_or_default(),
                    "not_after": info.not_after.format(&Rfc3339).unwrap_or_default(),
                    "cer_file": cer,
                    "pem_file": pem,
                }))?;
            } else {
                println!(
                    "Generated a certificate for {} (thumbprint {}, valid until {}).",
                    account.name,
                    info.thumbprint,
                    info.not_after.date()
                );
                println!(
                    "Its private key is kept encrypted by Roster; the public certificate is in"
                );
                println!("  {}\n  {}", cer.display(), pem.display());
                println!(
                    "Upload it: Entra admin center › App registrations › the connection's app › Certificates & secrets › Certificates › Upload certificate."
                );
                println!(
                    "Then switch the connection to it: roster connection set {} --credential certificate",
                    account.name
                );
            }
        }
        CertificateCommand::List { account, output } => {
            let account = ctx.account(&account).await?;
            let Some(connection) = ctx.store.connection(account.id).await? else {
                bail!(
                    "the account {} has no directory connection; create it with `roster connection set`",
                    account.name
                );
            };
            let now = OffsetDateTime::now_utc();
            if output.json {
                print_json(&CertificateView::all(&connection, now))?;
            } else {
                print_certificates(&connection, now);
            }
        }
        CertificateCommand::Remove {
            account,
            thumbprint,
        } => {
            let account = ctx.account(&account).await?;
            let thumbprint: String = thumbprint
                .chars()
                .filter(|c| !matches!(c, ':' | ' '))
                .collect();
            ctx.engine
                .remove_certificate(account.id, &thumbprint)
                .await?;
            println!(
                "Removed the certificate {thumbprint} from the connection of {}.",
                account.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The command that changes what a fix asks for: the fix names the setting as the console's
/// form does, and the CLI says which of its flags or commands that is.
pub fn fix_command(setting: FixSetting, account: &str) -> String {
    match setting {
        FixSetting::Key => format!(
            "roster connection set {account} --client-secret-file - --key-expires-on YYYY-MM-DD \
             (the secret's value on standard input)"
        ),
        FixSetting::Cloud => {
            format!("roster connection set {account} --cloud global|usgov|usgov-dod|china")
        }
        FixSetting::Certificate => format!(
            "roster connection certificate generate {account}, then upload its .cer \
             (roster connection certificate list {account} shows the thumbprints; \
             roster connection set {account} --credential secret signs in with the key again)"
        ),
    }
}
