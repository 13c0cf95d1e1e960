//! How the CLI prints: JSON views with stable field names, and plain text for people.

use std::collections::BTreeMap;

use roster_api::{GroupView, UserView};
use roster_domain::plan::{AttributeValue, Category, Change, Plan, SkipReason, Skipped};
use roster_domain::run::Run;
use roster_domain::{Group, User};
use serde::Serialize;
use serde_json::{Map, Value, json};

pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A user as `--json` shows it: the API's shape.
pub fn user_json(user: &User) -> Value {
    serde_json::to_value(UserView::from(user)).unwrap_or_default()
}

/// A group as `--json` shows it: the API's shape.
pub fn group_json(group: &Group) -> Value {
    serde_json::to_value(GroupView::from(group)).unwrap_or_default()
}

fn value_text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::None => "—".to_owned(),
        AttributeValue::Text(text) => text.clone(),
        AttributeValue::List(items) if items.is_empty() => "—".to_owned(),
        AttributeValue::List(items) => items.join(", "),
    }
}

fn change_json(change: &Change) -> Value {
    let changes: Map<String, Value> = change
        .attributes
        .iter()
        .map(|a| {
            (
                a.attribute.clone(),
                json!({ "before": a.before, "after": a.after }),
            )
        })
        .collect();
    json!({
        "id": change.id,
        "external_id": change.external_id,
        "summary": change.summary,
        "reason": change.reason,
        "changes": changes,
        "allowed_by_settings": change.allowed_by_settings,
    })
}

fn skipped_json(skipped: &Skipped) -> Value {
    json!({
        "id": skipped.external_id,
        "external_id": skipped.external_id,
        "summary": skipped.summary,
        "reason": skipped.detail,
        "reason_code": skipped.reason,
        "changes": {},
    })
}

/// The plan as `sync preview --json` prints it.
pub fn plan_json(plan: &Plan) -> Value {
    let mut categories: Map<String, Value> = Category::ALL
        .iter()
        .map(|&c| {
            (
                c.as_str().to_owned(),
                Value::Array(plan.in_category(c).map(change_json).collect()),
            )
        })
        .collect();
    categories.insert(
        "skipped".to_owned(),
        Value::Array(plan.skipped.iter().map(skipped_json).collect()),
    );
    json!({
        "plan_id": plan.id,
        "run_id": plan.run_id,
        "created_at": plan.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "deletion_check": plan.deletion_check,
        "inactive_not_imported": plan.inactive_not_imported,
        "categories": categories,
    })
}

fn skip_reason_title(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::OutOfDomain => "Primary address outside the account's domains",
        SkipReason::AliasOutOfDomain => "Alias outside the account's domains (dropped)",
        SkipReason::OwnedByAnotherAccount => "Address owned by another account",
        SkipReason::DuplicateInTenant => "Duplicate address inside the tenant",
        SkipReason::ConflictsWithExisting => "Address held by another object of this account",
        SkipReason::Exempted => "Exempt from sync",
        SkipReason::InvalidAddress => "Not a valid email address",
        SkipReason::UnknownGroupKind => "Group kind Roster does not import",
        SkipReason::ProtectedFromRemoval => {
            "Kept although gone from the directory (manual, admin or tech contact)"
        }
    }
}

/// The plan for people: counts per category and the first `shown` changes of each.
pub fn print_plan(plan: &Plan, shown: usize) {
    println!(
        "Plan {} ({} changes, {} skipped)",
        plan.id,
        plan.changes.len(),
        plan.skipped.len()
    );
    for category in Category::ALL {
        let changes: Vec<&Change> = plan.in_category(category).collect();
        let held = changes.iter().filter(|c| !c.allowed_by_settings).count();
        let note = if held > 0 {
            format!(" — {held} not applied by your settings")
        } else {
            String::new()
        };
        println!("\n{} ({}){note}", category.title(), changes.len());
        for change in changes.iter().take(shown) {
            println!("  [{}] {} — {}", change.id, change.summary, change.reason);
            for attribute in &change.attributes {
                println!(
                    "      {}: {} → {}",
                    attribute.attribute,
                    value_text(&attribute.before),
                    value_text(&attribute.after)
                );
            }
        }
        if changes.len() > shown {
            println!("  … and {} more", changes.len() - shown);
        }
    }
    println!("\nSkipped ({})", plan.skipped.len());
    // One reason can account for hundreds of entries; a few of each reason say more.
    let mut by_reason: BTreeMap<String, Vec<&Skipped>> = BTreeMap::new();
    for skipped in &plan.skipped {
        by_reason
            .entry(skip_reason_title(skipped.reason).to_owned())
            .or_default()
            .push(skipped);
    }
    for (reason, entries) in &by_reason {
        println!("  {reason} ({})", entries.len());
        for skipped in entries.iter().take(shown.min(3)) {
            println!("    {} — {}", skipped.summary, skipped.detail);
        }
        if entries.len() > shown.min(3) {
            println!("    … and {} more", entries.len() - shown.min(3));
        }
    }
    let check = &plan.deletion_check;
    if check.exceeded {
        println!(
            "\nDeletion limit exceeded: {} of {} synced users and {} of {} synced groups would be removed. \
             Automatic sync holds these removals; apply them here with --confirm-removals.",
            check.user_removals, check.synced_users, check.group_removals, check.synced_groups
        );
    }
}

/// One line per run, for `sync history`.
pub fn print_run(run: &Run) {
    let applied: usize = run.counts.values().map(|c| c.applied).sum();
    let planned: usize = run.counts.values().map(|c| c.planned).sum();
    let finished = run
        .finished_at
        .map(|t| t.to_string())
        .unwrap_or_else(|| "(running)".to_owned());
    println!(
        "{}  {:?}  {:?}  by {}  started {}  finished {}  planned {planned}  applied {applied}  skipped {}  failures {}  graph requests {}",
        run.id,
        run.trigger,
        run.status,
        run.actor,
        run.started_at,
        finished,
        run.skipped,
        run.failures.len(),
        run.graph_requests
    );
    if let Some(error) = &run.error {
        println!("    {error}");
    }
    for failure in &run.failures {
        println!("    failed: {} — {}", failure.object, failure.reason);
    }
}
