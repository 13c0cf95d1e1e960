//! `roster`: the command-line shell around Roster's sync engine and store.

mod cli;
mod commands;
mod context;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    roster_sync::use_one_allocator_arena();
    restore_default_sigpipe();
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // An error can quote the directory or Graph (a name, a server's message).
            eprintln!("error: {}", output::printable(&format!("{e:#}")));
            // The fix names the setting as the console does; the CLI adds its own flag for it.
            if let Some(roster_sync::SyncError::Graph { error }) = e.downcast_ref()
                && let Some(setting) = error.fix_setting()
            {
                let command = commands::connection::fix_command(setting, "ACCOUNT");
                eprintln!("with roster: {command}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`roster user list | head`) would fail
/// with an error on every line; a command-line tool should instead end quietly, as `cat` does.
#[expect(unsafe_code, reason = "libc::signal has no safe wrapper")]
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any other thread exists; setting a signal's
    // disposition to its default has no other effect on this process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Sim(args) => {
            roster_sim::cli::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => commands::demo::run(global, args).await,
        Command::Serve(args) => commands::serve(global, args).await,
        command => {
            let ctx = context::Context::open(&global).await?;
            commands::dispatch(&ctx, command).await
        }
    }
}
