//! How the CLI prints: JSON views with stable field names, and plain text for people.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use roster_api::{GroupView, UserView};
use roster_domain::plan::{AttributeValue, Category, Change, Plan, SkipReason, Skipped};
use roster_domain::run::Run;
use roster_domain::{Group, User};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Text from the directory (or another outside source) as it may be shown on a terminal:
/// control characters (ESC, CR, BEL, backspace, the C1 range…) and the invisible reordering
/// marks become `\u{1b}`-style escapes, so a display name can neither move the cursor,
/// recolour nor rewrite the admin's screen, nor pass itself off as other text.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, needs_escape, |out, c| {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    })
}

/// `text` with each character for which `needs` holds written by `write_escaped` instead.
fn escape(
    text: &str,
    needs: fn(char) -> bool,
    write_escaped: fn(&mut String, char),
) -> Cow<'_, str> {
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs(c) {
            write_escaped(&mut escaped, c);
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Unicode's bidirectional formatting characters, which reorder the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Prints `value` as JSON. serde_json escapes the C0 controls (ESC among them); the C1 controls
/// and reordering marks it leaves raw are escaped too (`\u009b`), which is still the same JSON.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", json_text(value)?);
    Ok(())
}

fn json_text(value: &impl Serialize) -> anyhow::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    let escaped = escape(&text, needs_escape_in_json, |out, c| {
        let _ = write!(out, "\\u{:04x}", u32::from(c));
    });
    Ok(escaped.into_owned())
}

/// Besides the newlines and spaces of pretty-printing, which are not in strings, serde_json
/// writes every control character escaped except DEL and the C1 range.
fn needs_escape_in_json(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\t' | '\r')) || is_bidi_control(c)
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
        AttributeValue::Text(text) => printable(text).into_owned(),
        AttributeValue::List(items) if items.is_empty() => "—".to_owned(),
        AttributeValue::List(items) => printable(&items.join(", ")).into_owned(),
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
            println!(
                "  [{}] {} — {}",
                change.id,
                printable(&change.summary),
                printable(&change.reason)
            );
            for attribute in &change.attributes {
                println!(
                    "      {}: {} → {}",
                    printable(&attribute.attribute),
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
            println!(
                "    {} — {}",
                printable(&skipped.summary),
                printable(&skipped.detail)
            );
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
        println!("    {}", printable(error));
    }
    for failure in &run.failures {
        println!(
            "    failed: {} — {}",
            printable(&failure.object),
            printable(&failure.reason)
        );
    }
}
