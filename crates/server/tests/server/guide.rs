//! The guide's manual sync, only through the API: Search Now, the plan by category, one change
//! left unchecked, Sync Active Directory, the users listed, and the unchecked change proposed
//! again by the next Search Now.

use axum::http::{Method, StatusCode};
use serde_json::{Value as Json, json};

use super::support::TestApp;

async fn search_now(app: &TestApp) -> (String, Json) {
    let admin = &app.callers.admin;
    let started = app
        .call(admin, Method::POST, &app.path("/sync/preview"), None)
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let run_id = started.field("run_id").as_str().unwrap().to_owned();
    let run = app.finished_run(admin, &run_id).await;
    assert_eq!(run.field("status"), "succeeded", "{}", run.body);
    let plan_id = run.field("plan_id").as_str().expect("a plan").to_owned();
    let plan = app
        .call(
            admin,
            Method::GET,
            &app.path(&format!("/plans/{plan_id}")),
            None,
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    (plan_id, plan.body)
}

async fn users_to_add(app: &TestApp, plan_id: &str) -> Vec<Json> {
    let page = app
        .call(
            &app.callers.admin,
            Method::GET,
            &app.path(&format!(
                "/plans/{plan_id}/changes?category=users_to_add&limit=50"
            )),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.field("items").as_array().unwrap().clone()
}

#[tokio::test]
async fn the_manual_sync_of_the_guide_through_the_api() {
    let app = TestApp::start().await;
    let admin = &app.callers.admin;

    // Step 2: the settings form, saved, then Test connection.
    let settings = app
        .call(
            admin,
            Method::PUT,
            &app.path("/connection"),
            Some(json!({
                "tenant": app.tenant.tenant,
                "client_id": app.tenant.client_id,
                "key": app.tenant.client_secret,
                "default_role": "end_user",
                "sync": ["users", "distribution-groups", "security-groups"],
                "actions": ["add-users", "update-users", "remove-users", "add-groups", "update-groups", "remove-groups"],
                "frequency": "never",
            })),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    let test = app
        .call(admin, Method::POST, &app.path("/connection/test"), None)
        .await;
    assert_eq!(test.field("passed"), true, "{}", test.body);

    let (plan_id, plan) = search_now(&app).await;
    assert_eq!(plan["counts"]["users_to_add"], 3, "{plan}");
    let changes = users_to_add(&app, &plan_id).await;
    let alan = changes
        .iter()
        .find(|c| c["summary"].as_str().unwrap().contains("alan@contoso.com"))
        .expect("Alan is proposed");
    let searched = app
        .call(
            admin,
            Method::GET,
            &app.path(&format!("/plans/{plan_id}/changes?q=GRACE")),
            None,
        )
        .await;
    assert_eq!(
        searched.field("items").as_array().unwrap().len(),
        1,
        "{}",
        searched.body
    );

    let applied = app
        .call(
            admin,
            Method::POST,
            &app.path(&format!("/plans/{plan_id}/apply")),
            Some(json!({"skip": [alan["id"]], "confirm_removals": false})),
        )
        .await;
    assert_eq!(applied.status, StatusCode::ACCEPTED, "{}", applied.body);
    let run = app
        .finished_run(admin, applied.field("run_id").as_str().unwrap())
        .await;
    assert_eq!(run.field("status"), "succeeded", "{}", run.body);
    assert_eq!(
        run.field("counts")["users_to_add"]["applied"],
        2,
        "{}",
        run.body
    );

    let users = app
        .call(
            admin,
            Method::GET,
            &app.path("/users?source=directory"),
            None,
        )
        .await;
    let addresses: Vec<&str> = users
        .field("items")
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["primary_address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["ada@contoso.com", "grace@contoso.com"]);

    let applied_again = app
        .call(
            admin,
            Method::POST,
            &app.path(&format!("/plans/{plan_id}/apply")),
            Some(json!({})),
        )
        .await;
    // A plan applies once: the second apply is refused at once, saying why, and starts no run.
    assert_eq!(
        applied_again.status,
        StatusCode::CONFLICT,
        "{}",
        applied_again.body
    );
    assert!(
        applied_again
            .field("detail")
            .as_str()
            .unwrap()
            .contains("already applied"),
        "{}",
        applied_again.body
    );

    let (next_plan, _) = search_now(&app).await;
    let proposed = users_to_add(&app, &next_plan).await;
    assert_eq!(proposed.len(), 1, "{proposed:?}");
    assert_eq!(proposed[0]["external_id"], alan["external_id"]);

    let history = app.call(admin, Method::GET, &app.path("/runs"), None).await;
    let triggers: Vec<&str> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["preview", "apply", "preview"]);
}

#[tokio::test]
async fn apply_with_only_applies_just_those_changes() {
    let app = TestApp::start().await;
    let (plan_id, _) = search_now(&app).await;
    let changes = users_to_add(&app, &plan_id).await;
    let only = &changes[0];
    let applied = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path(&format!("/plans/{plan_id}/apply")),
            Some(json!({"only": [only["id"]]})),
        )
        .await;
    assert_eq!(applied.status, StatusCode::ACCEPTED, "{}", applied.body);
    let run = app
        .finished_run(
            &app.callers.admin,
            applied.field("run_id").as_str().unwrap(),
        )
        .await;
    assert_eq!(
        run.field("counts")["users_to_add"]["applied"],
        1,
        "{}",
        run.body
    );
    let unknown = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path(&format!("/plans/{plan_id}/apply")),
            Some(json!({"only": [uuid::Uuid::new_v4()]})),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
}

#[tokio::test]
async fn a_second_search_now_while_one_runs_is_a_conflict() {
    let app = TestApp::start().await;
    let admin = &app.callers.admin;
    app.control
        .set_latency(std::time::Duration::from_millis(300))
        .await
        .expect("the simulator slows down");
    let first = app
        .call(admin, Method::POST, &app.path("/sync/preview"), None)
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let second = app
        .call(admin, Method::POST, &app.path("/sync/preview"), None)
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    app.finished_run(admin, first.field("run_id").as_str().unwrap())
        .await;
}
