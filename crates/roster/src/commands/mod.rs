//! One module per command group. Each parses its flags into domain types, calls the store or
//! the sync engine, and prints; no rules live here.

mod access;
mod account;
pub mod connection;
pub mod demo;
mod key;
pub mod lookup;
mod notify;
pub use serve::run as serve;
mod serve;
mod sync;
mod user;
mod worker;

use std::process::ExitCode;

use crate::cli::Command;
use crate::context::Context;

pub async fn dispatch(ctx: &Context, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Migrate => {
            println!("The database schema is up to date.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Account(command) => account::run(ctx, command).await,
        Command::User(command) => user::run_user(ctx, command).await,
        Command::Group(command) => user::run_group(ctx, command).await,
        Command::Admin(command) => user::run_admin(ctx, command).await,
        Command::Connection(command) => connection::run(ctx, command).await,
        Command::Sync(command) => sync::run(ctx, command).await,
        Command::Worker(args) => worker::run(ctx, args).await,
        Command::Lookup(command) => lookup::run(ctx, command).await,
        Command::Notify(command) => notify::run(ctx, command).await,
        Command::Serve(_) => unreachable!("handled before the database is opened"),
        Command::Operator(command) => access::run_operator(ctx, command).await,
        Command::Token(command) => access::run_token(ctx, command).await,
        Command::Exempt(args) => sync::exempt(ctx, args, true).await,
        Command::Unexempt(args) => sync::exempt(ctx, args, false).await,
        Command::Key(command) => key::run(ctx, command).await,
        Command::Sim(_) | Command::Demo(_) => unreachable!("handled before a database is opened"),
    }
}
