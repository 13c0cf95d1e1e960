//! The reads that serve one request, a page at a time: a plan's changes by category and text,
//! its counts per category, and a run with its progress.

use std::collections::BTreeMap;

use roster_domain::plan::{Category, Change, ChangeAction, Plan};
use roster_domain::run::Trigger;
use roster_domain::{AccountId, ChangeId, UserId};
use roster_store::{ChangeQuery, NewRun, RunProgress, StoreError};

use super::harness::{TestDb, contract_test};
use super::plans_and_runs::{empty_plan, saved};

/// A plan of `count` changes across the categories, groups to remove rare (one in a thousand),
/// summaries in mixed case, one holding `LIKE`'s wildcards.
fn mixed_plan(account_id: AccountId, count: usize) -> Plan {
    let changes = (0..count)
        .map(|n| Change {
            id: ChangeId::new(),
            category: if n % 1000 == 999 {
                Category::GroupsToRemove
            } else {
                Category::ALL[n % 5]
            },
            external_id: format!("x-{n}").parse().unwrap(),
            summary: if n == 7 {
                "Update User7@Contoso.com: quota 100%_full".to_owned()
            } else {
                format!("Change User{n}@Contoso.com")
            },
            reason: "changed in the directory".into(),
            attributes: Vec::new(),
            action: ChangeAction::RemoveUser {
                user_id: UserId::new(),
                expected_version: 1,
            },
            allowed_by_settings: true,
        })
        .collect();
    Plan {
        changes,
        ..empty_plan(account_id)
    }
}

/// Every page of `query` from the first, following each page's cursor; with how many pages.
async fn every_page(db: &TestDb, plan: &Plan, query: ChangeQuery) -> (Vec<Change>, usize) {
    let mut query = ChangeQuery {
        after: None,
        ..query
    };
    let (mut read, mut pages) = (Vec::new(), 0);
    loop {
        let page = db
            .store
            .plan_changes_page(plan.account_id, plan.id, &query)
            .await
            .unwrap();
        pages += 1;
        assert!(page.changes.len() <= query.limit as usize);
        read.extend(page.changes);
        match page.last_position {
            Some(position) => query.after = Some(position),
            None => return (read, pages),
        }
    }
}

fn expected(plan: &Plan, keep: impl Fn(&Change) -> bool) -> Vec<Change> {
    plan.changes.iter().filter(|c| keep(c)).cloned().collect()
}

contract_test!(
    a_plans_changes_are_read_a_page_at_a_time_by_category_and_text,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let plan = mixed_plan(contoso.id, 2_500);
        saved(&db, &plan).await;

        let (all, pages) = every_page(
            &db,
            &plan,
            ChangeQuery {
                limit: 700,
                ..ChangeQuery::default()
            },
        )
        .await;
        assert_eq!((all, pages), (plan.changes.clone(), 4));

        let (rare, pages) = every_page(
            &db,
            &plan,
            ChangeQuery {
                limit: 1,
                category: Some(Category::GroupsToRemove),
                ..ChangeQuery::default()
            },
        )
        .await;
        let positions: Vec<String> = rare.iter().map(|c| c.external_id.to_string()).collect();
        assert_eq!(positions, ["x-999", "x-1999"]);
        assert_eq!(pages, 3, "two full pages, then an empty one");

        let (found, _) = every_page(
            &db,
            &plan,
            ChangeQuery {
                limit: 50,
                search: Some(" user12 ".into()),
                ..ChangeQuery::default()
            },
        )
        .await;
        assert_eq!(
            found,
            expected(&plan, |c| c.summary.to_lowercase().contains("user12")),
            "text matches anywhere, whatever its case"
        );
        assert_eq!(found.len(), 1 + 10 + 100);

        let (both, _) = every_page(
            &db,
            &plan,
            ChangeQuery {
                limit: 7,
                category: Some(Category::UsersToRemove),
                search: Some("USER1".into()),
                ..ChangeQuery::default()
            },
        )
        .await;
        assert_eq!(
            both,
            expected(&plan, |c| c.category == Category::UsersToRemove
                && c.summary.to_lowercase().contains("user1"))
        );

        let (literal, _) = every_page(
            &db,
            &plan,
            ChangeQuery {
                limit: 10,
                search: Some("100%_".into()),
                ..ChangeQuery::default()
            },
        )
        .await;
        assert_eq!(
            literal,
            vec![plan.changes[7].clone()],
            "% and _ are text, not wildcards"
        );
    }
);

contract_test!(
    a_plans_summary_counts_its_changes_per_category_and_lists_their_ids,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let plan = mixed_plan(contoso.id, 1_200);
        saved(&db, &plan).await;

        let summary = db.store.plan_summary(contoso.id, plan.id).await.unwrap();
        let mut counts: BTreeMap<Category, usize> = Category::ALL.iter().map(|&c| (c, 0)).collect();
        for change in &plan.changes {
            *counts.get_mut(&change.category).unwrap() += 1;
        }
        assert_eq!(summary.counts, counts);
        assert_eq!(summary.counts[&Category::GroupsToRemove], 1);
        assert!(summary.plan.changes.is_empty());
        assert_eq!(summary.applied_at, None);

        let ids = db.store.plan_change_ids(contoso.id, plan.id).await.unwrap();
        let planned: Vec<ChangeId> = plan.changes.iter().map(|c| c.id).collect();
        assert_eq!(ids, planned);
    }
);

contract_test!(
    another_accounts_plan_has_no_pages_and_its_run_no_progress,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        let plan = mixed_plan(contoso.id, 10);
        saved(&db, &plan).await;
        let page = db
            .store
            .plan_changes_page(
                fabrikam.id,
                plan.id,
                &ChangeQuery {
                    limit: 10,
                    ..ChangeQuery::default()
                },
            )
            .await;
        assert!(matches!(page, Err(StoreError::PlanNotFound(id)) if id == plan.id));

        let run = db
            .store
            .start_run(NewRun {
                account_id: contoso.id,
                trigger: Trigger::Preview,
                actor: "admin@contoso.com".into(),
            })
            .await
            .unwrap();
        let progress = RunProgress {
            phase: Some("reading".into()),
            objects_read: 1_500,
            changes_total: 0,
            changes_applied: 0,
        };
        db.store
            .record_run_progress(run.id, &progress)
            .await
            .unwrap();
        let (read, recorded) = db.store.account_run(contoso.id, run.id).await.unwrap();
        assert_eq!((read.id, recorded), (run.id, progress));
        assert!(matches!(
            db.store.account_run(fabrikam.id, run.id).await,
            Err(StoreError::RunNotFound(id)) if id == run.id
        ));
    }
);
