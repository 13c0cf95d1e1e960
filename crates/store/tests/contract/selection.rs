use roster_domain::plan::{Category, Change, ChangeAction, Plan, SelectionUpdate};
use roster_domain::{AccountId, ChangeId, PlanId, UserId};
use roster_store::{CategoryQuery, StoreError};

use super::harness::{Raw, TestDb, assert_refused, contract_test};
use super::plans_and_runs::empty_plan;

/// A plan of `adds` users to add, then `removals` users to remove.
fn plan(account_id: AccountId, adds: usize, removals: usize) -> Plan {
    let change = |n: usize, category: Category| Change {
        id: ChangeId::new(),
        category,
        external_id: format!("u-{n}").parse().unwrap(),
        summary: format!("{} user{n}@contoso.com", category.title()),
        reason: "new in the directory".into(),
        attributes: Vec::new(),
        action: ChangeAction::RemoveUser {
            user_id: UserId::new(),
            expected_version: 1,
        },
        allowed_by_settings: true,
    };
    let changes = (0..adds)
        .map(|n| change(n, Category::UsersToAdd))
        .chain((adds..adds + removals).map(|n| change(n, Category::UsersToRemove)))
        .collect();
    Plan {
        changes,
        ..empty_plan(account_id)
    }
}

async fn saved(db: &TestDb, plan: &Plan) {
    let account = plan.account_id;
    db.store
        .save_plan(
            plan,
            db.store.revision(account).await.unwrap(),
            db.store.mirror_version(account).await.unwrap(),
        )
        .await
        .unwrap();
}

fn boxes(changes: &[(&Change, bool)]) -> SelectionUpdate {
    SelectionUpdate {
        changes: changes
            .iter()
            .map(|(c, checked)| (c.id, *checked))
            .collect(),
        categories: Vec::new(),
    }
}

fn whole(category: Category, checked: bool) -> SelectionUpdate {
    SelectionUpdate {
        changes: Vec::new(),
        categories: vec![(category, checked)],
    }
}

contract_test!(
    boxes_unchecked_on_different_pages_are_all_kept_until_checked_again,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let plan = plan(contoso.id, 150, 10);
        saved(&db, &plan).await;
        let fresh = db.store.selection(contoso.id, plan.id).await.unwrap();
        assert!(plan.changes.iter().all(|c| fresh.is_checked(c)));

        let (first_page, third_page) = (&plan.changes[3], &plan.changes[120]);
        for update in [boxes(&[(first_page, false)]), boxes(&[(third_page, false)])] {
            db.store
                .record_selection(contoso.id, plan.id, &update)
                .await
                .unwrap();
        }
        let selection = db.store.selection(contoso.id, plan.id).await.unwrap();
        let unchecked: Vec<ChangeId> = (plan.changes.iter())
            .filter(|c| !selection.is_checked(c))
            .map(|c| c.id)
            .collect();
        assert_eq!(unchecked, vec![first_page.id, third_page.id]);
        assert_eq!(selection.checked_in(Category::UsersToAdd, 150), 148);
        assert_eq!(selection.checked_in(Category::UsersToRemove, 10), 10);

        db.store
            .record_selection(contoso.id, plan.id, &boxes(&[(first_page, true)]))
            .await
            .unwrap();
        let selection = db.store.selection(contoso.id, plan.id).await.unwrap();
        assert!(selection.is_checked(first_page));
        assert!(!selection.is_checked(third_page));
    }
);

contract_test!(
    select_all_and_none_mean_the_whole_category_and_clear_its_boxes,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let plan = plan(contoso.id, 150, 10);
        saved(&db, &plan).await;
        let removal = &plan.changes[155];
        db.store
            .record_selection(contoso.id, plan.id, &boxes(&[(removal, false)]))
            .await
            .unwrap();

        db.store
            .record_selection(contoso.id, plan.id, &whole(Category::UsersToAdd, false))
            .await
            .unwrap();
        let kept = &plan.changes[149];
        db.store
            .record_selection(contoso.id, plan.id, &boxes(&[(kept, true)]))
            .await
            .unwrap();
        let selection = db.store.selection(contoso.id, plan.id).await.unwrap();
        let checked: Vec<ChangeId> = (plan.in_category(Category::UsersToAdd))
            .filter(|c| selection.is_checked(c))
            .map(|c| c.id)
            .collect();
        assert_eq!(checked, vec![kept.id], "select none, then one box checked");
        assert!(
            !selection.is_checked(removal),
            "another category keeps its boxes"
        );

        // Select all, pressed on a page whose boxes (one unchecked) are sent along, wins.
        let update = SelectionUpdate {
            changes: vec![(plan.changes[0].id, false)],
            categories: vec![(Category::UsersToAdd, true)],
        };
        db.store
            .record_selection(contoso.id, plan.id, &update)
            .await
            .unwrap();
        let selection = db.store.selection(contoso.id, plan.id).await.unwrap();
        assert_eq!(selection.checked_in(Category::UsersToAdd, 150), 150);
        assert!(
            plan.in_category(Category::UsersToAdd)
                .all(|c| selection.is_checked(c))
        );
        assert_eq!(selection.checked_in(Category::UsersToRemove, 10), 9);
    }
);

contract_test!(
    a_choice_is_refused_whole_for_a_change_the_plan_does_not_hold,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let plan = plan(contoso.id, 3, 0);
        saved(&db, &plan).await;
        let stranger = ChangeId::new();
        let update = SelectionUpdate {
            changes: vec![(plan.changes[0].id, false), (stranger, false)],
            categories: vec![(Category::UsersToAdd, false)],
        };
        let refused = db
            .store
            .record_selection(contoso.id, plan.id, &update)
            .await
            .expect_err("an unknown change");
        assert!(
            matches!(refused, StoreError::ChangeNotFound { change_id, .. } if change_id == stranger),
            "{refused}"
        );
        let selection = db.store.selection(contoso.id, plan.id).await.unwrap();
        assert!(
            plan.changes.iter().all(|c| selection.is_checked(c)),
            "nothing recorded"
        );

        // The schema itself ties a box to a change of its plan.
        assert_refused(
            db.raw(
                "INSERT INTO plan_change_choices (plan_id, change_id, checked) VALUES ($1, $2, $3)",
                vec![
                    Raw::Uuid(plan.id.as_uuid()),
                    Raw::Text("00000000-0000-0000-0000-000000000000"),
                    Raw::Bool(false),
                ],
            )
            .await,
            "a box for a change the plan does not hold",
        );
    }
);

contract_test!(
    another_accounts_plan_and_an_applied_plan_take_no_choice,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        let plan = plan(contoso.id, 2, 0);
        saved(&db, &plan).await;
        let update = boxes(&[(&plan.changes[0], false)]);
        let foreign = db
            .store
            .record_selection(fabrikam.id, plan.id, &update)
            .await;
        assert!(matches!(foreign, Err(StoreError::PlanNotFound(id)) if id == plan.id));
        let foreign = db.store.selection(fabrikam.id, plan.id).await;
        assert!(matches!(foreign, Err(StoreError::PlanNotFound(id)) if id == plan.id));
        let unknown = db.store.selection(contoso.id, PlanId::new()).await;
        assert!(matches!(unknown, Err(StoreError::PlanNotFound(_))));

        db.store
            .mark_plan_applied(contoso.id, plan.id)
            .await
            .unwrap();
        let late = db
            .store
            .record_selection(contoso.id, plan.id, &update)
            .await;
        assert!(
            matches!(late, Err(StoreError::PlanAlreadyApplied { plan_id, .. }) if plan_id == plan.id)
        );
    }
);

contract_test!(
    a_category_is_read_in_numbered_pages_filtered_by_summary,
    |db| {
        let contoso = db.account("Contoso", &["contoso.com"]).await;
        let fabrikam = db.account("Fabrikam", &["fabrikam.com"]).await;
        let plan = plan(contoso.id, 120, 5);
        saved(&db, &plan).await;
        let query = |offset, search: Option<&str>| CategoryQuery {
            category: Category::UsersToAdd,
            search: search.map(str::to_owned),
            offset,
            limit: 50,
        };
        let third = db
            .store
            .plan_category_page(contoso.id, plan.id, &query(100, None))
            .await
            .unwrap();
        assert_eq!(third.matching, 120);
        assert_eq!(third.changes, plan.changes[100..120].to_vec());

        let found = db
            .store
            .plan_category_page(contoso.id, plan.id, &query(0, Some("USER11")))
            .await
            .unwrap();
        let summaries: Vec<&str> = found.changes.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(found.matching, 11, "{summaries:?}");
        assert_eq!(summaries[0], "Users to add user11@contoso.com");

        let foreign = db
            .store
            .plan_category_page(fabrikam.id, plan.id, &query(0, None))
            .await;
        assert!(matches!(foreign, Err(StoreError::PlanNotFound(_))));
    }
);
