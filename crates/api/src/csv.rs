//! CSV exports of a plan and of a run's report (RFC 4180: comma-separated, CRLF line ends,
//! fields quoted when they hold a comma, a quote or a line break). Directory text reaches a
//! spreadsheet through them, so a field that a spreadsheet would take for a formula (one that
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'` to stay
//! text, as OWASP recommends.

use std::borrow::Cow;

use roster_domain::plan::{Category, Change};
use roster_domain::run::Run;

/// The export's media type.
pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

const PLAN_COLUMNS: [&str; 8] = [
    "category",
    "change_id",
    "external_id",
    "summary",
    "reason",
    "before_after",
    "allowed_by_settings",
    "checked",
];

const REPORT_COLUMNS: [&str; 7] = [
    "kind",
    "category",
    "planned",
    "applied",
    "object",
    "external_id",
    "reason",
];

/// One field, neutralized against formulas and quoted where it must be.
fn field(text: &str) -> Cow<'_, str> {
    let text: Cow<'_, str> = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    };
    if text.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        text
    }
}

/// One line of the export, its line end included.
fn line<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = fields.into_iter().map(field).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// The first line of a plan's export.
pub fn plan_header() -> String {
    line(PLAN_COLUMNS)
}

/// A change's line in a plan's export; `checked` is its box on the plan.
pub fn change_line(change: &Change, checked: bool) -> String {
    let before_after = change
        .attributes
        .iter()
        .map(|a| format!("{}: {} → {}", a.attribute, a.before, a.after))
        .collect::<Vec<_>>()
        .join("; ");
    let id = change.id.to_string();
    line([
        change.category.title(),
        &id,
        change.external_id.as_str(),
        &change.summary,
        &change.reason,
        &before_after,
        yes_no(change.allowed_by_settings),
        yes_no(checked),
    ])
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// A run's report: a line per category with what was planned and applied, then a line per
/// failure with its object and reason, and the run's own error if it failed as a whole.
pub fn run_report(run: &Run) -> String {
    let mut text = line(REPORT_COLUMNS);
    for category in Category::ALL {
        let Some(count) = run.counts.get(&category) else {
            continue;
        };
        let (planned, applied) = (count.planned.to_string(), count.applied.to_string());
        text.push_str(&line([
            "category",
            category.title(),
            &planned,
            &applied,
            "",
            "",
            "",
        ]));
    }
    for failure in &run.failures {
        let external_id = failure.external_id.as_ref().map_or("", |id| id.as_str());
        text.push_str(&line([
            "failure",
            "",
            "",
            "",
            &failure.object,
            external_id,
            &failure.reason,
        ]));
    }
    if let Some(error) = &run.error {
        text.push_str(&line(["error", "", "", "", "", "", error]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_with_a_comma_a_quote_and_a_line_break_is_quoted_and_its_quotes_doubled() {
        assert_eq!(
            field("Doe, \"Jane\"\nSales"),
            "\"Doe, \"\"Jane\"\"\nSales\""
        );
        assert_eq!(field("plain"), "plain");
    }

    #[test]
    fn a_field_a_spreadsheet_would_run_as_a_formula_stays_text() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for formula in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(field(formula).starts_with('\''), "{formula}");
        }
        assert_eq!(field("a=b"), "a=b");
    }
}
