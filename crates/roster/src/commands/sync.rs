//! `roster sync …`, `roster exempt` and `roster unexempt`

use std::collections::HashSet;
use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use roster_domain::run::{Run, RunStatus};
use roster_domain::{ChangeId, ExternalId, PlanId};
use roster_store::StoreError;
use roster_sync::{ApplyOutcome, ApplyRequest, Chosen, NoProgress, Planned, Progress, SyncError};
use serde_json::json;

use crate::cli::{ExemptArgs, SyncCommand};
use crate::context::Context;
use crate::output::{plan_json, print_json, print_plan, print_run, printable};

/// Who the CLI acts as in run records.
const ACTOR: &str = "cli";

/// A progress bar on standard error, shown only on a terminal.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} [{elapsed}]")
                .expect("the template is valid"),
        );
        bar.set_message("directory objects read");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(Self(bar))
    }
}

impl Progress for Bar {
    fn objects_read(&self, count: u64) {
        self.0.inc(count);
    }

    fn applying(&self, total: u64) {
        self.0.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} changes applied [{elapsed}]")
                .expect("the template is valid"),
        );
        self.0.set_position(0);
        self.0.set_length(total);
    }

    fn changes_applied(&self, count: u64) {
        self.0.inc(count);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

pub fn progress(bar: &Option<Bar>) -> &dyn Progress {
    match bar {
        Some(bar) => bar,
        None => &NoProgress,
    }
}

fn run_json(run: &Run) -> serde_json::Value {
    serde_json::to_value(run).unwrap_or_default()
}

pub fn print_apply(outcome: &ApplyOutcome) {
    let run = &outcome.run;
    let applied: usize = run.counts.values().map(|c| c.applied).sum();
    println!(
        "Applied {applied} change(s); run {} {:?}.",
        run.id, run.status
    );
    for (category, count) in &run.counts {
        println!(
            "  {}: {} of {} applied",
            category.title(),
            count.applied,
            count.planned
        );
    }
    if outcome.not_allowed > 0 {
        println!(
            "  {} change(s) not applied by your settings (how to sync).",
            outcome.not_allowed
        );
    }
    if outcome.held_removals > 0 {
        println!(
            "  {} removal(s) held: they exceed the deletion limit. Review them with `roster sync preview` and apply with --confirm-removals.",
            outcome.held_removals
        );
    }
    for failure in &run.failures {
        println!(
            "  failed: {} — {}",
            printable(&failure.object),
            printable(&failure.reason)
        );
    }
}

/// Prints what an apply or automatic run did; the exit code says whether every change applied.
fn report_apply(outcome: &ApplyOutcome, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&json!({
            "run": run_json(&outcome.run),
            "held_removals": outcome.held_removals,
            "not_allowed_by_settings": outcome.not_allowed,
        }))?;
    } else {
        print_apply(outcome);
    }
    Ok(exit_for(&outcome.run))
}

fn exit_for(run: &Run) -> ExitCode {
    match run.status {
        RunStatus::Succeeded | RunStatus::Held => ExitCode::SUCCESS,
        RunStatus::Partial | RunStatus::Failed | RunStatus::Running => ExitCode::FAILURE,
    }
}

pub async fn run(ctx: &Context, command: SyncCommand) -> anyhow::Result<ExitCode> {
    match command {
        SyncCommand::Preview {
            account,
            full,
            output,
        } => {
            let account = ctx.account(&account).await?;
            let bar = Bar::new();
            let outcome = ctx
                .engine
                .preview(account.id, full, ACTOR, progress(&bar))
                .await;
            drop(bar);
            let outcome = outcome?;
            if output.json {
                print_json(&plan_json(&outcome.plan))?;
            } else {
                print_plan(&outcome.plan, 10);
                if outcome.planned == Planned::InStep {
                    println!(
                        "\nNothing changed in the directory or in the account since the last complete sync."
                    );
                }
                println!(
                    "\nApply it with: roster sync apply {} --plan {} [--skip CHANGE_ID ...]",
                    account.name, outcome.plan.id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SyncCommand::Apply {
            account,
            plan,
            skip,
            confirm_removals,
            output,
        } => {
            let account = ctx.account(&account).await?;
            let plan_id: PlanId = plan.parse()?;
            let skip = skip
                .iter()
                .map(|s| s.parse())
                .collect::<Result<HashSet<ChangeId>, _>>()?;
            let request = ApplyRequest {
                plan_id,
                chosen: if skip.is_empty() {
                    Chosen::Recorded
                } else {
                    Chosen::AllBut(skip)
                },
                confirm_removals,
            };
            let bar = Bar::new();
            let outcome = ctx
                .engine
                .apply(account.id, &request, ACTOR, progress(&bar))
                .await;
            drop(bar);
            let outcome = outcome.map_err(|error| match error {
                SyncError::Store(StoreError::PlanNotCurrent { .. }) => anyhow::anyhow!(
                    "{error} (Search Now is `roster sync preview {}`)",
                    account.name
                ),
                error => error.into(),
            })?;
            report_apply(&outcome, output.json)
        }
        SyncCommand::Run { account, output } => {
            let account = ctx.account(&account).await?;
            let bar = Bar::new();
            let outcome = ctx
                .engine
                .run_automatic(account.id, ACTOR, progress(&bar))
                .await;
            drop(bar);
            report_apply(&outcome?, output.json)
        }
        SyncCommand::History { account, output } => {
            let account = ctx.account(&account).await?;
            let runs = ctx.store.list_runs(account.id, 100).await?;
            if output.json {
                print_json(&runs.iter().map(run_json).collect::<Vec<_>>())?;
            } else if runs.is_empty() {
                println!(
                    "No runs yet; start with `roster sync preview {}`.",
                    account.name
                );
            } else {
                runs.iter().for_each(print_run);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn exempt(ctx: &Context, args: ExemptArgs, exempt: bool) -> anyhow::Result<ExitCode> {
    let account = ctx.account(&args.account).await?;
    let external_id: ExternalId = args.external_id.parse()?;
    if exempt {
        ctx.store
            .add_exemption(account.id, external_id.clone(), ACTOR)
            .await?;
        println!("{external_id} is exempt from sync: no plan will propose changes to it.");
    } else if ctx.store.remove_exemption(account.id, &external_id).await? {
        println!("{external_id} is no longer exempt; the next plan includes it again.");
    } else {
        anyhow::bail!("{external_id} was not exempt from sync in {}", account.name);
    }
    Ok(ExitCode::SUCCESS)
}
