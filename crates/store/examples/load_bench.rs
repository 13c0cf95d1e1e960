//! Times, one after another, the loads a sync makes of a large account before planning:
//! `cargo run --release -p roster-store --example load_bench -- <database url>`. Each runs alone,
//! so that its time is its own; the sync runs them side by side. Point it at a copy of a
//! benchmark's database (`sqlite3 roster.db ".backup copy.db"`) or at a PostgreSQL database.

use std::time::Instant;

use anyhow::Context as _;
use roster_store::{MasterKey, Store};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .context("usage: load_bench <database url>")?;
    // Loads decrypt nothing: any key opens the store.
    let store = Store::connect(&url, MasterKey::generate()).await?;
    let accounts = store.list_accounts().await?;
    let account = accounts.first().context("the database holds no account")?;
    for round in 1..=2 {
        let started = Instant::now();
        let users = store.list_users(account.id).await?;
        let users_took = started.elapsed();
        let started = Instant::now();
        let groups = store.list_groups(account.id).await?;
        let groups_took = started.elapsed();
        let started = Instant::now();
        let mirror = store.load_mirror(account.id).await?;
        let mirror_took = started.elapsed();
        println!(
            "round {round}: {} users in {users_took:.2?}, {} groups in {groups_took:.2?}, mirror of {} users and {} groups in {mirror_took:.2?}",
            users.len(),
            groups.len(),
            mirror.users.len(),
            mirror.groups.len(),
        );
    }
    Ok(())
}
