//! `roster user …`, `roster group …` and `roster admin …`

use std::process::ExitCode;

use anyhow::Context as _;
use roster_domain::{EmailAddress, Role, User};
use roster_store::{NewAdmin, NewUser};

use crate::cli::{AdminCommand, GroupCommand, UserCommand};
use crate::context::Context;
use crate::output::{group_json, print_json, printable, user_json};

fn print_user(user: &User) {
    let aliases = if user.aliases.is_empty() {
        String::new()
    } else {
        format!(
            "  aliases: {}",
            user.aliases
                .iter()
                .map(EmailAddress::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let name = user.display_name.clone().unwrap_or_default();
    println!(
        "{}  {}  {}  {}  {}{aliases}",
        user.id,
        user.primary_address,
        user.role,
        user.source.as_str(),
        printable(&name)
    );
}

pub async fn run_user(ctx: &Context, command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add {
            account,
            email,
            aliases,
            role,
            first_name,
            last_name,
            output,
        } => {
            let account = ctx.account(&account).await?;
            let role: Role = role.parse()?;
            anyhow::ensure!(
                role != Role::OrganizationAdmin,
                "organization admins log in with a password: create them with `roster admin create --account {} --email {email}`",
                account.name
            );
            let display_name = match (&first_name, &last_name) {
                (Some(f), Some(l)) => Some(format!("{f} {l}")),
                (Some(n), None) | (None, Some(n)) => Some(n.clone()),
                (None, None) => None,
            };
            let new = NewUser {
                primary_address: email.parse()?,
                aliases: aliases
                    .iter()
                    .map(|a| a.parse())
                    .collect::<Result<_, _>>()?,
                first_name,
                last_name,
                display_name,
                role,
                digests: None,
            };
            let user = ctx.store.add_user(account.id, new).await?;
            if output.json {
                print_json(&user_json(&user))?;
            } else {
                print_user(&user);
            }
        }
        UserCommand::List { account, output } => {
            let account = ctx.account(&account).await?;
            let users = ctx.store.list_users(account.id).await?;
            if output.json {
                print_json(&users.iter().map(user_json).collect::<Vec<_>>())?;
            } else {
                users.iter().for_each(print_user);
                println!("{} user(s)", users.len());
            }
        }
        UserCommand::Remove { account, user } => {
            let account = ctx.account(&account).await?;
            let users = ctx.store.list_users(account.id).await?;
            let wanted = user.trim().to_lowercase();
            let found = users
                .iter()
                .find(|u| u.id.to_string() == wanted || u.primary_address.as_str() == wanted)
                .with_context(|| {
                    format!(
                        "the account {} has no user with the id or primary address {user:?}",
                        account.name
                    )
                })?;
            ctx.store.remove_user(account.id, found.id).await?;
            println!("Removed {}.", found.primary_address);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_group(ctx: &Context, command: GroupCommand) -> anyhow::Result<ExitCode> {
    let GroupCommand::List { account, output } = command;
    let account = ctx.account(&account).await?;
    let groups = ctx.store.list_groups(account.id).await?;
    if output.json {
        print_json(&groups.iter().map(group_json).collect::<Vec<_>>())?;
    } else {
        for group in &groups {
            let address = group
                .address
                .as_ref()
                .map(EmailAddress::as_str)
                .unwrap_or("(no address)");
            println!(
                "{}  {}  {}  {}  {} member(s)",
                group.id,
                printable(&group.name),
                group.kind,
                address,
                group.member_users.len() + group.member_groups.len()
            );
        }
        println!("{} group(s)", groups.len());
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_admin(ctx: &Context, command: AdminCommand) -> anyhow::Result<ExitCode> {
    let AdminCommand::Create { account, email } = command;
    let account = ctx.account(&account).await?;
    let address: EmailAddress = email.parse()?;
    let admin = NewAdmin {
        address,
        display_name: None,
        password: super::access::password_from_stdin()?,
    };
    let user = ctx.store.create_admin(account.id, admin).await?;
    println!(
        "Created the organization admin {} for {}.",
        user.primary_address, account.name
    );
    Ok(ExitCode::SUCCESS)
}
