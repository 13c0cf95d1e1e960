//! `roster operator …` and `roster token …`

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use roster_api::{CreatedTokenView, TokenView};
use roster_domain::{ApiTokenId, EmailAddress};
use roster_store::NewOperator;
use secrecy::{ExposeSecret, SecretString};

use crate::cli::{OperatorCommand, TokenCommand};
use crate::context::Context;
use crate::output::print_json;

/// A password from standard input, without its trailing newline.
pub fn password_from_stdin() -> anyhow::Result<SecretString> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    Ok(SecretString::from(
        password.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

pub async fn run_operator(ctx: &Context, command: OperatorCommand) -> anyhow::Result<ExitCode> {
    let OperatorCommand::Create { email } = command;
    let email: EmailAddress = email.parse()?;
    let password = password_from_stdin()?;
    let operator = ctx
        .store
        .create_operator(NewOperator { email, password })
        .await?;
    println!("Created the platform operator {}.", operator.email);
    Ok(ExitCode::SUCCESS)
}

fn print_token(token: &TokenView) {
    let used = token
        .last_used_at
        .map_or("never used".to_owned(), |t| format!("last used {t}"));
    let state = if token.revoked_at.is_some() {
        "revoked"
    } else if token.read_only {
        "read-only"
    } else {
        "read-write"
    };
    println!("{}  {}  {state}  {used}", token.id, token.name);
}

pub async fn run_token(ctx: &Context, command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create {
            account,
            name,
            read_only,
            output,
        } => {
            let account = ctx.account(&account).await?;
            let new = ctx
                .store
                .create_api_token(account.id, &name, read_only)
                .await?;
            let view = CreatedTokenView {
                token: TokenView::from(&new.token),
                secret: new.secret.expose_secret().to_owned(),
            };
            if output.json {
                print_json(&view)?;
            } else {
                print_token(&view.token);
                println!("{}", view.secret);
                eprintln!("This is the only time the token is shown; keep it now.");
            }
        }
        TokenCommand::List { account, output } => {
            let account = ctx.account(&account).await?;
            let tokens = ctx.store.list_api_tokens(account.id).await?;
            let views: Vec<TokenView> = tokens.iter().map(TokenView::from).collect();
            if output.json {
                print_json(&views)?;
            } else if views.is_empty() {
                println!("{} has no API tokens.", account.name);
            } else {
                views.iter().for_each(print_token);
            }
        }
        TokenCommand::Revoke { account, token } => {
            let account = ctx.account(&account).await?;
            let token: ApiTokenId = token.parse()?;
            let token = ctx.store.revoke_api_token(account.id, token).await?;
            println!("Revoked the token {} ({}).", token.id, token.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
