//! `roster demo --walkthrough`: the main job end to end as a scripted command-line session.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use roster_domain::{Cloud, ConnectionSettings, Frequency, Source};
use roster_graph::Priority;
use roster_graph::diagnostics::test_connection;
use roster_sync::NoProgress;
use secrecy::SecretString;
use serde_json::json;

use super::{ACCOUNT, Demo};
use crate::cli::DemoArgs;
use crate::commands::sync::print_apply;
use crate::output::print_plan;

const ACTOR: &str = "demo";
/// Changes shown per category: enough to see what a plan says, few enough to read.
const SHOWN: usize = 5;

fn heading(text: &str) {
    println!("\n━━ {text} ━━");
}

pub async fn run(dir: PathBuf, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let demo = Demo::start(dir, args).await?;
    let Demo {
        dir,
        sim,
        summary,
        ctx,
        account,
        unowned_domains,
    } = &demo;
    heading("1. A simulated Entra ID tenant");
    let tenant = sim.tenant().clone();
    let control = sim.control();
    println!(
        "Tenant {} ({}) with {} users and {} groups; login at {}, Graph at {}.",
        tenant.tenant,
        tenant.tenant_id,
        summary.users,
        summary.groups,
        tenant.login_url,
        tenant.graph_url
    );

    heading("2. An account whose domains match the tenant");
    println!(
        "Account {} ({}) owns {}.",
        account.name,
        account.id,
        demo.domain_list()
    );
    for domain in unowned_domains {
        println!(
            "It does not own the tenant's initial domain {domain}: mail does not reach the service there."
        );
    }

    heading("3. The directory connection (the guide's Step 2)");
    let cloud = Cloud::custom(&tenant.login_url, &tenant.graph_url)?;
    let settings = ConnectionSettings {
        frequency: Frequency::Hours(24),
        // As the Entra admin center would show it for a secret created a while ago: close
        // enough for the tech contact's first expiry warning.
        key_expires_on: Some(time::OffsetDateTime::now_utc().date() + time::Duration::days(20)),
        ..ConnectionSettings::new(tenant.tenant.parse()?, tenant.client_id.parse()?, cloud)
    };
    ctx.store
        .set_connection(
            account.id,
            settings,
            Some(SecretString::from(tenant.client_secret.clone())),
        )
        .await?;
    let (_, client) = ctx.engine.graph_client(account.id, Priority::High).await?;
    let checklist = test_connection(&client, &account.domains).await;
    for step in &checklist.steps {
        println!("  [{:?}] {}: {}", step.status, step.title, step.detail);
    }

    heading("4. Search Now");
    let preview = ctx
        .engine
        .preview(account.id, false, ACTOR, &NoProgress)
        .await?;
    print_plan(&preview.plan, SHOWN);

    heading("5. Sync Active Directory (every change)");
    let request = roster_sync::ApplyRequest {
        plan_id: preview.plan.id,
        chosen: roster_sync::Chosen::Recorded,
        confirm_removals: false,
    };
    let applied = ctx
        .engine
        .apply(account.id, &request, ACTOR, &NoProgress)
        .await?;
    print_apply(&applied);

    heading("6. The directory changes");
    let users = ctx.store.list_users(account.id).await?;
    let synced: Vec<_> = users
        .iter()
        .filter(|u| u.source == Source::Directory)
        .collect();
    if synced.len() < 2 {
        bail!(
            "the first sync imported {} user(s); the demo needs at least two to change",
            synced.len()
        );
    }
    let new_user = control
        .create_user(json!({
            "displayName": "Grace Hopper",
            "givenName": "Grace",
            "surname": "Hopper",
            "mailNickname": "grace.hopper",
        }))
        .await?;
    println!("  New user: Grace Hopper (grace.hopper@{}).", tenant.tenant);

    let renamed = synced[0];
    let renamed_id = renamed
        .external_id
        .as_ref()
        .context("a synced user has its directory id")?
        .to_string();
    let new_primary = format!("renamed.{}", renamed.primary_address);
    let mut proxies = vec![
        format!("SMTP:{new_primary}"),
        format!("smtp:{}", renamed.primary_address),
    ];
    proxies.extend(renamed.aliases.iter().map(|a| format!("smtp:{a}")));
    let proxy_refs: Vec<&str> = proxies.iter().map(String::as_str).collect();
    control
        .set_proxy_addresses(&renamed_id, &proxy_refs)
        .await?;
    control
        .update_user(&renamed_id, json!({ "mail": new_primary }))
        .await?;
    println!(
        "  Renamed address: {} is now {new_primary} (the old address stays as an alias).",
        renamed.primary_address
    );

    let blocked = synced[1];
    let blocked_id = blocked
        .external_id
        .as_ref()
        .context("a synced user has its directory id")?
        .to_string();
    control.disable_user(&blocked_id).await?;
    println!("  Sign-in blocked: {}.", blocked.primary_address);

    let groups = ctx.store.list_groups(account.id).await?;
    if let Some(group) = groups
        .iter()
        .find(|g| g.source == Source::Directory && g.address.is_some())
    {
        let group_id = group
            .external_id
            .as_ref()
            .context("a synced group has its directory id")?
            .to_string();
        control
            .add_members(&group_id, &[new_user.id.as_str()])
            .await?;
        println!("  Group membership: Grace Hopper joined {}.", group.name);
    }

    heading("7. Search Now again: only the changes");
    let preview = ctx
        .engine
        .preview(account.id, false, ACTOR, &NoProgress)
        .await?;
    print_plan(&preview.plan, SHOWN);
    let request = roster_sync::ApplyRequest {
        plan_id: preview.plan.id,
        chosen: roster_sync::Chosen::Recorded,
        confirm_removals: false,
    };
    let applied = ctx
        .engine
        .apply(account.id, &request, ACTOR, &NoProgress)
        .await?;
    print_apply(&applied);

    heading("8. The result");
    let users = ctx.store.list_users(account.id).await?;
    let groups = ctx.store.list_groups(account.id).await?;
    let runs = ctx.store.list_runs(account.id, 100).await?;
    println!(
        "{} users, {} groups, {} runs recorded.",
        users.len(),
        groups.len(),
        runs.len()
    );
    // No mail server here: the sender only queues what is due, and messages wait in the outbox.
    let links = crate::context::links(&roster_server::Config::default())?;
    roster_notify::Sender::new(ctx.store.clone(), None, links.clone())
        .pass()
        .await?;
    let messages = ctx.store.list_outbox(account.id, 10).await?;
    println!(
        "{} message(s) in the outbox, kept there without ROSTER_SMTP_URL:",
        messages.len()
    );
    let now = time::OffsetDateTime::now_utc();
    for message in &messages {
        let subject = roster_notify::compose(&message.notice, account, &links, now).subject;
        println!("  [{}] {subject}", message.status.as_str());
    }
    let data_dir = dir.display();
    println!("\nExplore it (the simulated tenant has stopped; the data stays in {data_dir}):");
    println!("  cargo run --release -- --data-dir {data_dir} user list --account {ACCOUNT}");
    println!("  cargo run --release -- --data-dir {data_dir} group list --account {ACCOUNT}");
    println!("  cargo run --release -- --data-dir {data_dir} sync history {ACCOUNT}");
    println!("  cargo run --release -- --data-dir {data_dir} connection show {ACCOUNT}");
    println!("  cargo run --release -- --data-dir {data_dir} notify list {ACCOUNT}");
    demo.sim.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}
