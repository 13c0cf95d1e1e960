//! `roster notify`: the outbox's sender, once or on a loop, and the account's messages.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use roster_notify::{Sender, compose};
use roster_server::Config;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cli::NotifyCommand;
use crate::context::{self, Context};
use crate::output::print_json;

/// Seconds between the worker's outbox passes: mail goes out within this of being queued.
const WORKER_PASS_EVERY: Duration = Duration::from_secs(30);

pub async fn run(ctx: &Context, command: NotifyCommand) -> anyhow::Result<ExitCode> {
    match command {
        NotifyCommand::Send {
            once,
            every_seconds,
            config,
        } => {
            let sender = sender(ctx, &context::mail_config(config.as_deref())?)?;
            if !sender.sends_mail() {
                bail!(
                    "ROSTER_SMTP_URL is not set (smtp_url in the configuration file): messages wait in the outbox (`roster notify list ACCOUNT`) until a mail server is configured"
                );
            }
            if once {
                let report = sender.pass().await?;
                println!(
                    "Sent {} message(s); {} to retry, {} given up; queued {} key-expiry warning(s).",
                    report.sent, report.retrying, report.failed, report.queued
                );
            } else {
                let stop = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                sender.run(Duration::from_secs(every_seconds), stop).await;
            }
        }
        NotifyCommand::List {
            account,
            limit,
            output,
        } => {
            let account = ctx.account(&account).await?;
            // Only the subjects are shown: the links in them need no public URL.
            let links = context::links(&Config::default())?;
            let messages = ctx.store.list_outbox(account.id, limit).await?;
            let now = OffsetDateTime::now_utc();
            let rows: Vec<_> = messages
                .iter()
                .map(|m| {
                    let subject =
                        compose(&m.notice, &account, &links, m.sent_at.unwrap_or(now)).subject;
                    (m, subject)
                })
                .collect();
            if output.json {
                let json = rows
                    .iter()
                    .map(|(m, subject)| -> Result<_, time::error::Format> {
                        Ok(json!({
                            "id": m.id,
                            "kind": m.notice.kind(),
                            "subject": subject,
                            "recipients": m.recipients,
                            "status": m.status,
                            "attempts": m.attempts,
                            "last_error": m.last_error,
                            "created_at": m.created_at.format(&time::format_description::well_known::Rfc3339)?,
                            "sent_at": m.sent_at.map(|t| t.format(&time::format_description::well_known::Rfc3339)).transpose()?,
                            "notice": m.notice,
                        }))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                print_json(&json)?;
            } else if rows.is_empty() {
                println!("No messages for {}.", account.name);
            } else {
                for (m, subject) in &rows {
                    let to: Vec<String> = m.recipients.iter().map(ToString::to_string).collect();
                    println!(
                        "{}  {}  {} attempt(s)  to {}\n    {subject}",
                        m.created_at,
                        m.status.as_str(),
                        m.attempts,
                        to.join(", ")
                    );
                    if let Some(error) = &m.last_error {
                        println!("    last error: {error}");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn sender(ctx: &Context, config: &Config) -> anyhow::Result<Sender> {
    Ok(Sender::new(
        ctx.store.clone(),
        context::mailer(config)?,
        context::links(config)?,
    ))
}

/// The outbox sender running beside the worker's syncs.
pub struct RunningSender {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningSender {
    /// Lets the pass under way finish (at most one SMTP timeout per message), then stops.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts the sender with `config`'s mail settings: without a mail server it only queues
/// key-expiry warnings, and messages wait in the outbox.
pub fn spawn_sender(ctx: &Context, config: &Config) -> anyhow::Result<RunningSender> {
    let sender = sender(ctx, config)?;
    if !sender.sends_mail() {
        tracing::info!("smtp_url (ROSTER_SMTP_URL) is not set: messages wait in the outbox");
    }
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        sender
            .run(WORKER_PASS_EVERY, async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(RunningSender { stop, task })
}
