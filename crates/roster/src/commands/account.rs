//! `roster account …`

use std::process::ExitCode;

use roster_api::AccountView;
use roster_domain::{Account, Audience, DomainName, EmailAddress, TechContact};
use roster_store::NewAccount;
use serde_json::json;

use crate::cli::AccountCommand;
use crate::context::Context;
use crate::output::{print_json, printable};

pub fn tech_contact(
    name: Option<String>,
    email: Option<String>,
) -> anyhow::Result<Option<TechContact>> {
    match (name, email) {
        (Some(name), Some(email)) => Ok(Some(TechContact::parse(&name, &email)?)),
        _ => Ok(None),
    }
}

fn account_json(account: &Account) -> serde_json::Value {
    serde_json::to_value(AccountView::from(account)).unwrap_or_default()
}

fn print_account(account: &Account) {
    let domains: Vec<&str> = account.domains.iter().map(DomainName::as_str).collect();
    println!(
        "{}  {}  domains: {}",
        account.id,
        account.name,
        domains.join(", ")
    );
    match &account.tech_contact {
        Some(contact) => println!(
            "    tech contact: {} <{}>",
            printable(&contact.name),
            contact.email
        ),
        None => println!("    tech contact: none (automatic sync falls back to never without one)"),
    }
}

pub async fn run(ctx: &Context, command: AccountCommand) -> anyhow::Result<ExitCode> {
    match command {
        AccountCommand::Create {
            name,
            domains,
            tech_contact_name,
            tech_contact_email,
            output,
        } => {
            let domains = domains
                .iter()
                .map(|d| d.parse())
                .collect::<Result<Vec<DomainName>, _>>()?;
            let tech_contact = tech_contact(tech_contact_name, tech_contact_email)?;
            let account = ctx
                .store
                .create_account(NewAccount {
                    name,
                    domains,
                    tech_contact,
                })
                .await?;
            if output.json {
                print_json(&account_json(&account))?;
            } else {
                print_account(&account);
            }
        }
        AccountCommand::List { output } => {
            let accounts = ctx.store.list_accounts().await?;
            if output.json {
                print_json(&accounts.iter().map(account_json).collect::<Vec<_>>())?;
            } else if accounts.is_empty() {
                println!(
                    "No accounts yet; create one with `roster account create --name NAME --domain DOMAIN`."
                );
            } else {
                accounts.iter().for_each(print_account);
            }
        }
        AccountCommand::Show { account, output } => {
            let account = ctx.account(&account).await?;
            let connection = ctx.store.connection(account.id).await?;
            if output.json {
                let mut value = account_json(&account);
                value["connection"] = json!(connection.is_some());
                print_json(&value)?;
            } else {
                print_account(&account);
                match connection {
                    Some(c) => println!(
                        "    directory connection: tenant {}, sync {}",
                        c.settings.tenant, c.settings.frequency
                    ),
                    None => println!("    directory connection: none"),
                }
            }
        }
        AccountCommand::SetTechContact {
            account,
            name,
            email,
            clear,
        } => {
            let account = ctx.account(&account).await?;
            let contact = if clear {
                None
            } else {
                tech_contact(name, email)?
            };
            ctx.store
                .set_tech_contact(account.id, contact.clone())
                .await?;
            match contact {
                Some(c) => println!(
                    "Tech contact of {} set to {} <{}>.",
                    account.name, c.name, c.email
                ),
                None => println!("Tech contact of {} cleared.", account.name),
            }
        }
        AccountCommand::AddDomain { account, domain } => {
            let account = ctx.account(&account).await?;
            let domain: DomainName = domain.parse()?;
            ctx.store.add_domain(account.id, domain.clone()).await?;
            println!("Added {domain} to {}.", account.name);
        }
        AccountCommand::Events { account, output } => {
            let account = ctx.account(&account).await?;
            let events = ctx.store.list_events(account.id, 100).await?;
            if output.json {
                print_json(&events)?;
            } else if events.is_empty() {
                println!("No events for {}.", account.name);
            } else {
                for event in &events {
                    let to = if event.notify.is_empty() {
                        match event.kind.audience() {
                            Audience::TechContact => "nobody (no tech contact)".to_owned(),
                            Audience::Admins => "nobody (no organization admin)".to_owned(),
                        }
                    } else {
                        let to: Vec<&str> = event.notify.iter().map(EmailAddress::as_str).collect();
                        to.join(", ")
                    };
                    println!(
                        "{}  {}  to {to}\n    {}",
                        event.created_at,
                        event.kind,
                        printable(&event.message)
                    );
                }
            }
        }
        AccountCommand::RemoveDomain { account, domain } => {
            let account = ctx.account(&account).await?;
            let domain: DomainName = domain.parse()?;
            ctx.store.remove_domain(account.id, &domain).await?;
            println!("Removed {domain} from {}.", account.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
