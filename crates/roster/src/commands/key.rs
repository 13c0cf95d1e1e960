//! `roster key …`

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use roster_store::MasterKey;

use crate::cli::KeyCommand;
use crate::context::Context;

pub async fn run(ctx: &Context, command: KeyCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Rotate { new_key_file } => {
            // Written (0600, synced) before the database changes, so the key that will seal
            // everything exists on disk before anything is sealed with it.
            let new = MasterKey::from_file(&new_key_file).with_context(|| {
                format!(
                    "cannot read or create the new key file {}",
                    new_key_file.display()
                )
            })?;
            let current = ctx.store.master_key_id();
            if new.id() == current {
                bail!(
                    "{} holds the current master key; give a file that does not exist yet (a new key is written to it) or holds another key",
                    new_key_file.display()
                );
            }
            let rotation = ctx.store.rotate_master_key(&new).await?;
            println!(
                "Re-encrypted {} client secret(s) and {} certificate private key(s) under the new master key {} (was {}){}.",
                rotation.client_secrets,
                rotation.private_keys,
                new.id(),
                current,
                if rotation.already_rotated > 0 {
                    format!(
                        "; {} were already under the new key",
                        rotation.already_rotated
                    )
                } else {
                    String::new()
                }
            );
            println!("The old key no longer opens them. Now, before starting Roster again:");
            println!(
                "  - if ROSTER_MASTER_KEY is set, set it to the contents of {} in every process's environment;",
                new_key_file.display()
            );
            println!(
                "  - otherwise move {} over the key file Roster reads (ROSTER_MASTER_KEY_FILE, or master.key in the data directory);",
                new_key_file.display()
            );
            println!(
                "  - then start the workers and servers again, and destroy every copy of the old key."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
