//! `roster sync …`, `roster exempt` and the synced users and groups, against `roster sim`.

use serde_json::{Value, json};

use crate::support::{ACCOUNT, Roster, Sim, keys};

const CATEGORIES: [&str; 7] = [
    "groups_to_add",
    "groups_to_remove",
    "groups_to_update",
    "skipped",
    "users_to_add",
    "users_to_remove",
    "users_to_update",
];

fn entries<'v>(plan: &'v Value, category: &str) -> &'v Vec<Value> {
    plan["categories"][category]
        .as_array()
        .unwrap_or_else(|| panic!("the plan lists {category}"))
}

fn external_ids(plan: &Value, category: &str) -> Vec<String> {
    entries(plan, category)
        .iter()
        .map(|e| e["external_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn sync_preview_prints_the_plan_by_category_with_reasons_and_before_and_after_values() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);

    let plan = roster.json(&["sync", "preview", ACCOUNT]);

    for key in ["plan_id", "run_id", "categories"] {
        assert!(
            plan.get(key).is_some(),
            "the plan has {key}: {:?}",
            keys(&plan)
        );
    }
    assert_eq!(keys(&plan["categories"]), CATEGORIES);
    for category in CATEGORIES {
        for entry in entries(&plan, category) {
            for key in ["id", "external_id", "summary", "reason", "changes"] {
                assert!(
                    entry.get(key).is_some(),
                    "a {category} entry has {key}: {entry:#}"
                );
            }
        }
    }
    let adds = entries(&plan, "users_to_add");
    assert!(
        adds.len() > 20,
        "a first sync adds the directory's active users: {}",
        adds.len()
    );
    let first = &adds[0];
    assert_eq!(first["reason"], "new in the directory");
    assert_eq!(first["changes"]["primary_address"]["before"], json!(null));
    assert!(
        first["changes"]["primary_address"]["after"]
            .as_str()
            .unwrap()
            .contains('@')
    );
    assert_eq!(
        first["changes"]["role"],
        json!({"before": null, "after": "end_user"})
    );
    assert!(!entries(&plan, "groups_to_add").is_empty());
    assert!(
        entries(&plan, "skipped").iter().any(|s| s["reason"]
            .as_str()
            .unwrap()
            .contains("in none of the account's domains")),
        "aliases in the tenant's onmicrosoft.com domain are reported"
    );
    let text = roster.ok(&["sync", "preview", ACCOUNT]);
    let count = format!("Users to add ({})", adds.len());
    assert!(
        text.contains(&count) && text.contains("roster sync apply contoso --plan"),
        "{text}"
    );
}

#[test]
fn sync_apply_applies_the_checked_changes_once_and_an_unchecked_one_is_proposed_again() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);
    let plan = roster.json(&["sync", "preview", ACCOUNT]);
    let plan_id = plan["plan_id"].as_str().unwrap();
    let unchecked = &entries(&plan, "users_to_add")[0];

    let applied = roster.json(&[
        "sync",
        "apply",
        ACCOUNT,
        "--plan",
        plan_id,
        "--skip",
        unchecked["id"].as_str().unwrap(),
    ]);

    assert_eq!(
        (&applied["run"]["status"], &applied["run"]["trigger"]),
        (&json!("succeeded"), &json!("apply"))
    );
    let added = applied["run"]["counts"]["users_to_add"].clone();
    assert_eq!(
        added["applied"].as_u64().unwrap() + 1,
        added["planned"].as_u64().unwrap()
    );
    let users = roster.json(&["user", "list", "--account", ACCOUNT]);
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), entries(&plan, "users_to_add").len() - 1);
    assert!(
        users
            .iter()
            .all(|u| u["source"] == "directory" && u["external_id"].is_string())
    );
    assert!(
        users
            .iter()
            .all(|u| u["external_id"] != unchecked["external_id"])
    );
    let groups = roster.json(&["group", "list", "--account", ACCOUNT]);
    assert_eq!(
        groups.as_array().unwrap().len(),
        entries(&plan, "groups_to_add").len()
    );
    assert_eq!(
        keys(&groups[0]),
        [
            "address",
            "aliases",
            "external_id",
            "id",
            "kind",
            "members",
            "name",
            "source"
        ]
    );
    roster.holdings(); // every member of every group is a listed user or group

    let again = roster.fails(&["sync", "apply", ACCOUNT, "--plan", plan_id]);
    assert_eq!(
        again.matches("was already applied").count(),
        1,
        "said once: {again}"
    );
    let next = roster.json(&["sync", "preview", ACCOUNT]);
    assert_eq!(
        external_ids(&next, "users_to_add"),
        [unchecked["external_id"].as_str().unwrap()]
    );
}

#[test]
fn sync_run_applies_what_the_settings_allow_and_history_records_every_run() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);
    roster.ok(&[
        "connection",
        "set",
        ACCOUNT,
        "--actions",
        "add-users,update-users,remove-users",
    ]);

    let run = roster.json(&["sync", "run", ACCOUNT]);

    assert_eq!(
        (
            &run["run"]["trigger"],
            &run["run"]["status"],
            &run["run"]["actor"]
        ),
        (&json!("automatic"), &json!("succeeded"), &json!("cli"))
    );
    assert!(
        run["not_allowed_by_settings"].as_u64().unwrap() > 0,
        "groups are not added by these settings"
    );
    assert_eq!(
        roster.json(&["group", "list", "--account", ACCOUNT]),
        json!([])
    );
    assert!(
        !roster
            .json(&["user", "list", "--account", ACCOUNT])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let history = roster.json(&["sync", "history", ACCOUNT]);
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 1);
    let recorded = &history[0];
    assert_eq!(recorded["id"], run["run"]["id"]);
    for key in [
        "trigger",
        "actor",
        "started_at",
        "finished_at",
        "status",
        "counts",
        "failures",
        "graph_requests",
        "skipped",
    ] {
        assert!(
            recorded.get(key).is_some(),
            "a run records {key}: {recorded:#}"
        );
    }
    assert!(recorded["graph_requests"].as_u64().unwrap() > 0);
    let text = roster.ok(&["sync", "history", ACCOUNT]);
    assert!(
        text.contains("Automatic") && text.contains("by cli"),
        "{text}"
    );
}

#[test]
fn search_now_after_a_complete_sync_of_an_unchanged_directory_says_nothing_changed() {
    let sim = Sim::start(20, 3, 2);
    let roster = Roster::connected_to(&sim);
    roster.json(&["sync", "run", ACCOUNT]);

    let text = roster.ok(&["sync", "preview", ACCOUNT]);

    assert!(
        text.contains(
            "Nothing changed in the directory or in the account since the last complete sync."
        ),
        "{text}"
    );
}

#[test]
fn sync_apply_refuses_a_plan_a_newer_preview_replaced_and_says_to_preview_again() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);
    let replaced = roster.json(&["sync", "preview", ACCOUNT]);
    roster.json(&["sync", "preview", ACCOUNT]);

    let refused = roster.fails(&[
        "sync",
        "apply",
        ACCOUNT,
        "--plan",
        replaced["plan_id"].as_str().unwrap(),
    ]);

    assert!(
        refused.contains(
            "is no longer current: a newer Search Now or scheduled sync replaced this plan"
        ) && refused.contains("run Search Now again")
            && refused.contains("`roster sync preview contoso`"),
        "{refused}"
    );
    let users = roster.json(&["user", "list", "--account", ACCOUNT]);
    assert_eq!(users, json!([]), "nothing is applied");
}

#[test]
fn an_exempted_directory_object_is_left_out_of_the_plan_until_the_exemption_is_lifted() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);
    let plan = roster.json(&["sync", "preview", ACCOUNT]);
    let exempted = external_ids(&plan, "users_to_add").remove(0);

    roster.ok(&["exempt", ACCOUNT, &exempted]);
    let without = roster.json(&["sync", "preview", ACCOUNT]);
    let twice = roster.fails(&["exempt", ACCOUNT, &exempted]);
    roster.ok(&["unexempt", ACCOUNT, &exempted]);
    let with = roster.json(&["sync", "preview", ACCOUNT]);
    let not_exempt = roster.fails(&["unexempt", ACCOUNT, &exempted]);

    assert!(!external_ids(&without, "users_to_add").contains(&exempted));
    let skipped = entries(&without, "skipped")
        .iter()
        .find(|s| s["external_id"] == exempted.as_str())
        .expect("it is listed as skipped");
    assert_eq!(skipped["reason_code"], "exempted");
    assert!(twice.contains("already exempt"), "{twice}");
    assert!(external_ids(&with, "users_to_add").contains(&exempted));
    assert!(not_exempt.contains("was not exempt"), "{not_exempt}");
}

#[test]
fn removals_over_the_deletion_limit_are_held_by_sync_run_and_applied_with_confirm_removals() {
    let sim = Sim::start(60, 8, 3);
    let roster = Roster::connected_to(&sim);
    roster.ok(&["sync", "run", ACCOUNT]);
    let users = roster.json(&["user", "list", "--account", ACCOUNT]);
    let leaving: Vec<String> = users
        .as_array()
        .unwrap()
        .iter()
        .take(12)
        .map(|u| u["external_id"].as_str().unwrap().to_owned())
        .collect();
    sim.hard_delete_users(&leaving);

    let held = roster.json(&["sync", "run", ACCOUNT]);
    // The plan applied is the newest: a later preview would replace it.
    let text = roster.ok(&["sync", "preview", ACCOUNT]);
    let plan = roster.json(&["sync", "preview", ACCOUNT]);
    let unconfirmed = roster.json(&[
        "sync",
        "apply",
        ACCOUNT,
        "--plan",
        plan["plan_id"].as_str().unwrap(),
    ]);
    let plan = roster.json(&["sync", "preview", ACCOUNT]);
    let confirmed = roster.json(&[
        "sync",
        "apply",
        ACCOUNT,
        "--plan",
        plan["plan_id"].as_str().unwrap(),
        "--confirm-removals",
    ]);

    assert_eq!(
        (&held["run"]["status"], &held["held_removals"]),
        (&json!("held"), &json!(12))
    );
    assert_eq!(plan["deletion_check"]["exceeded"], true);
    assert!(
        text.contains("Deletion limit exceeded") && text.contains("--confirm-removals"),
        "{text}"
    );
    assert_eq!(
        (&unconfirmed["run"]["status"], &unconfirmed["held_removals"]),
        (&json!("held"), &json!(12))
    );
    assert_eq!(
        (&confirmed["run"]["status"], &confirmed["held_removals"]),
        (&json!("succeeded"), &json!(0))
    );
    assert_eq!(confirmed["run"]["counts"]["users_to_remove"]["applied"], 12);
    let remaining = roster.json(&["user", "list", "--account", ACCOUNT]);
    assert_eq!(
        remaining.as_array().unwrap().len(),
        users.as_array().unwrap().len() - 12
    );
}
