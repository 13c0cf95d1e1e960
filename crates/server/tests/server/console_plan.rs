//! The console's plan and run pages as a browser without JavaScript uses them: boxes posted a
//! page at a time and kept across pages, select all meaning the whole category, Sync Active
//! Directory applying what is checked; and what is refused (a form without its CSRF token,
//! another account's plan).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use roster_store::NewAdmin;
use secrecy::SecretString;
use serde_json::json;

use super::support::{As, Csrf, PASSWORD, Page, Reply, TestApp};

/// Users the directory gains beside the three it has: 110 users to add, three pages of 50.
const MORE_USERS: usize = 107;

/// Search Now through the API; the plan's id.
async fn search_now(app: &TestApp) -> String {
    let admin = &app.callers.admin;
    let started = app
        .call(admin, Method::POST, &app.path("/sync/preview"), None)
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let run_id = started.field("run_id").as_str().unwrap().to_owned();
    let run = app.finished_run(admin, &run_id).await;
    run.field("plan_id").as_str().expect("a plan").to_owned()
}

async fn with_three_pages_of_additions() -> (TestApp, String) {
    let app = TestApp::start().await;
    for n in 0..MORE_USERS {
        app.control
            .create_user(json!({"displayName": format!("User {n:03}"), "mailNickname": format!("user{n:03}")}))
            .await
            .expect("a directory user");
    }
    let plan = search_now(&app).await;
    (app, plan)
}

fn plan_path(app: &TestApp, plan: &str, tail: &str) -> String {
    format!("/accounts/{}/plans/{plan}{tail}", app.account.id)
}

/// The changes a page shows, and which of them are checked.
fn boxes(page: &Page) -> Vec<(String, bool)> {
    page.html
        .split("name=\"shown\" value=\"")
        .skip(1)
        .map(|rest| {
            let id = rest.split('"').next().unwrap().to_owned();
            let checkbox = format!("name=\"checked\" value=\"{id}\" checked>");
            let checked = page.html.contains(&checkbox);
            (id, checked)
        })
        .collect()
}

/// Posts a page's boxes as its form does, `unchecked` left out of `checked`.
async fn post_page(
    app: &TestApp,
    plan: &str,
    page: &Page,
    number: &str,
    unchecked: &[&str],
) -> Page {
    let shown = boxes(page);
    let mut fields = vec![("category", "users_to_add"), ("page", number)];
    for (id, _) in &shown {
        fields.push(("shown", id));
        if !unchecked.contains(&id.as_str()) {
            fields.push(("checked", id));
        }
    }
    let path = plan_path(app, plan, "/selection");
    app.submit(&app.callers.admin, &path, &fields, Csrf::Field)
        .await
}

async fn category_page(app: &TestApp, plan: &str, number: u32) -> Page {
    let path = plan_path(app, plan, &format!("?category=users_to_add&page={number}"));
    let page = app.page(&app.callers.admin, &path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    page
}

#[tokio::test]
async fn boxes_are_kept_across_pages_and_select_all_means_the_whole_category() {
    let (app, plan) = with_three_pages_of_additions().await;
    let first = category_page(&app, &plan, 1).await;
    first.assert_contains("110 of 110 checked");
    first.assert_contains("Page 1 of 3");
    first.assert_contains("Sync Active Directory");
    let third = category_page(&app, &plan, 3).await;
    let (first_boxes, third_boxes) = (boxes(&first), boxes(&third));
    assert_eq!((first_boxes.len(), third_boxes.len()), (50, 10));
    assert!(first_boxes.iter().all(|(_, checked)| *checked));
    let (a, b) = (first_boxes[0].0.clone(), third_boxes[9].0.clone());

    let posted = post_page(&app, &plan, &first, "1", &[&a]).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.html);
    assert_eq!(
        posted.location(),
        Some(plan_path(&app, &plan, "?category=users_to_add").as_str())
    );
    let posted = post_page(&app, &plan, &third, "3", &[&b]).await;
    assert!(posted.location().unwrap().ends_with("page=3"));

    let first = category_page(&app, &plan, 1).await;
    first.assert_contains("108 of 110 checked");
    assert_eq!(boxes(&first)[0], (a.clone(), false));
    assert_eq!(
        boxes(&category_page(&app, &plan, 3).await)[9],
        (b.clone(), false)
    );

    let admin = &app.callers.admin;
    let selection = plan_path(&app, &plan, "/selection");
    let none = [
        ("select_none", "users_to_add"),
        ("category", "users_to_add"),
    ];
    app.submit(admin, &selection, &none, Csrf::Field).await;
    let second = category_page(&app, &plan, 2).await;
    second.assert_contains("0 of 110 checked");
    assert!(boxes(&second).iter().all(|(_, checked)| !checked));
    // Select all, pressed on page 1 whose boxes (one unchecked) are sent along, wins.
    let mut all = vec![("select_all", "users_to_add"), ("category", "users_to_add")];
    all.extend([("shown", a.as_str())]);
    app.submit(admin, &selection, &all, Csrf::Field).await;
    let third = category_page(&app, &plan, 3).await;
    third.assert_contains("110 of 110 checked");
    assert!(boxes(&third).iter().all(|(_, checked)| *checked));

    // One box unchecked, then Sync Active Directory applies the other 109.
    let first = category_page(&app, &plan, 1).await;
    post_page(&app, &plan, &first, "1", &[&a]).await;
    let started = app
        .submit(admin, &plan_path(&app, &plan, "/apply"), &[], Csrf::Field)
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let run_page = started.location().expect("the run's page").to_owned();
    let run_id = run_page.rsplit('/').next().unwrap();
    assert_eq!(
        run_page,
        format!("/accounts/{}/runs/{run_id}", app.account.id)
    );
    let run = app.finished_run(admin, run_id).await;
    assert_eq!(
        run.field("counts")["users_to_add"]["applied"],
        109,
        "{}",
        run.body
    );
    let run_page = app.page(admin, &run_page).await;
    run_page.assert_contains("Result by category");
    run_page.assert_contains("Download the report as CSV");
}

#[tokio::test]
async fn a_plan_form_without_its_csrf_token_is_refused_and_another_accounts_plan_is_not_found() {
    let app = TestApp::start().await;
    let plan = search_now(&app).await;
    let admin = &app.callers.admin;
    let page = app
        .page(admin, &plan_path(&app, &plan, "?category=users_to_add"))
        .await;
    let id = boxes(&page)[0].0.clone();
    let fields = [("shown", id.as_str()), ("category", "users_to_add")];
    let selection = plan_path(&app, &plan, "/selection");

    let refused = app.submit(admin, &selection, &fields, Csrf::Missing).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = app
        .submit(admin, &plan_path(&app, &plan, "/apply"), &[], Csrf::Missing)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let page = app
        .page(admin, &plan_path(&app, &plan, "?category=users_to_add"))
        .await;
    page.assert_contains("3 of 3 checked");

    // With htmx a toggled box posts at once and the counts come back to be swapped in.
    let As::Session { cookie, csrf } = admin else {
        panic!("the admin signs in with a session");
    };
    let toggled = app
        .browse(
            Request::builder()
                .method(Method::POST)
                .uri(&selection)
                .header(header::COOKIE, cookie)
                .header("x-csrf-token", csrf)
                .header("hx-request", "true")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("shown={id}&category=users_to_add")))
                .unwrap(),
        )
        .await;
    assert_eq!(toggled.status, StatusCode::OK, "{}", toggled.html);
    toggled.assert_contains("hx-swap-oob=\"true\"");
    toggled.assert_contains("2 of 3 checked");

    app.store
        .create_admin(
            app.other.id,
            NewAdmin {
                address: "admin@fabrikam.com".parse().unwrap(),
                display_name: None,
                password: SecretString::from(PASSWORD),
            },
        )
        .await
        .unwrap();
    let stranger = app.sign_in("admin@fabrikam.com", PASSWORD).await;
    for path in [
        plan_path(&app, &plan, ""),
        format!("/accounts/{}/plans/{plan}", app.other.id),
        format!("/accounts/{}/plans/{plan}/plan.csv", app.other.id),
    ] {
        assert_eq!(
            app.page(&stranger, &path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let foreign = app
        .submit(
            &stranger,
            &format!("/accounts/{}/plans/{plan}/selection", app.other.id),
            &fields,
            Csrf::Field,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_finished_search_now_links_its_plan_and_its_run_streams_and_exports() {
    let app = TestApp::start().await;
    let plan = search_now(&app).await;
    let admin = &app.callers.admin;
    let history = app
        .page(admin, &format!("/accounts/{}/runs", app.account.id))
        .await;
    history.assert_contains("Search Now");
    let run = history
        .html
        .split(&format!("href=\"/accounts/{}/runs/", app.account.id))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the run")
        .to_owned();
    let base = format!("/accounts/{}/runs/{run}", app.account.id);

    let page = app.page(admin, &base).await;
    page.assert_contains(&plan_path(&app, &plan, ""));
    page.assert_contains("Review the plan");
    assert!(
        !page.html.contains("http-equiv=\"refresh\""),
        "a finished run stays put"
    );
    let events = app.page(admin, &format!("{base}/events")).await;
    assert!(
        events.html.trim_end().starts_with("event: finished")
            || events.html.contains("\nevent: finished"),
        "{}",
        events.html
    );
    assert!(
        events.html.contains("\"status\":\"succeeded\""),
        "{}",
        events.html
    );
    let report = app.page(admin, &format!("{base}/report.csv")).await;
    assert_eq!(
        report.headers[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    let export = app.page(admin, &plan_path(&app, &plan, "/plan.csv")).await;
    assert!(
        export.html.starts_with("category,change_id,"),
        "{}",
        export.html
    );
}

/// The form fields of a page's boxes as shown, `unchecked` left out of `checked`.
fn shown_boxes<'a>(shown: &'a [(String, bool)], unchecked: &str) -> Vec<(&'static str, &'a str)> {
    let mut fields = Vec::new();
    for (id, _) in shown {
        fields.push(("shown", id.as_str()));
        if id != unchecked {
            fields.push(("checked", id.as_str()));
        }
    }
    fields
}

#[tokio::test]
async fn without_javascript_sync_active_directory_applies_the_boxes_as_the_page_shows_them() {
    let app = TestApp::start().await;
    let plan = search_now(&app).await;
    let admin = &app.callers.admin;
    let page = category_page(&app, &plan, 1).await;
    // The button elsewhere on the page submits the form of boxes, to the apply address.
    page.assert_contains(&format!(
        "form=\"plan-choices\" formaction=\"{}\">Sync Active Directory",
        plan_path(&app, &plan, "/apply")
    ));
    let shown = boxes(&page);
    assert_eq!(shown.len(), 3);
    let unchecked = shown[0].0.clone();

    // The box is unchecked but never saved on its own: Sync Active Directory carries it.
    let mut fields = shown_boxes(&shown, &unchecked);
    fields.push(("category", "users_to_add"));
    let started = app
        .submit(
            admin,
            &plan_path(&app, &plan, "/apply"),
            &fields,
            Csrf::Field,
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let run_id = started.location().unwrap().rsplit('/').next().unwrap();
    let run = app.finished_run(admin, run_id).await;
    assert_eq!(
        run.field("counts")["users_to_add"]["applied"],
        2,
        "{}",
        run.body
    );
    // The unchecked change stays unchecked, to be proposed again by the next Search Now.
    let page = category_page(&app, &plan, 1).await;
    assert_eq!(boxes(&page)[0], (unchecked, false));
}

#[tokio::test]
async fn without_javascript_the_tabs_and_the_pager_save_the_boxes_before_moving() {
    let (app, plan) = with_three_pages_of_additions().await;
    let first = category_page(&app, &plan, 1).await;
    first.assert_contains(
        "form=\"plan-choices\" name=\"to_category\" value=\"skipped\">Skipped</button>",
    );
    first.assert_contains("form=\"plan-choices\" name=\"to_page\" value=\"2\">Next page</button>");
    let shown = boxes(&first);
    let selection = plan_path(&app, &plan, "/selection");
    let admin = &app.callers.admin;

    let mut next_page = shown_boxes(&shown, &shown[0].0);
    next_page.extend([
        ("category", "users_to_add"),
        ("page", "1"),
        ("to_page", "2"),
    ]);
    let moved = app.submit(admin, &selection, &next_page, Csrf::Field).await;
    assert_eq!(
        moved.location(),
        Some(plan_path(&app, &plan, "?category=users_to_add&page=2").as_str())
    );

    let mut tab = shown_boxes(&shown, &shown[1].0);
    tab.extend([
        ("category", "users_to_add"),
        ("page", "1"),
        ("to_category", "skipped"),
    ]);
    let moved = app.submit(admin, &selection, &tab, Csrf::Field).await;
    assert_eq!(
        moved.location(),
        Some(plan_path(&app, &plan, "?category=skipped").as_str())
    );
    let first = category_page(&app, &plan, 1).await;
    first.assert_contains("109 of 110 checked");
    assert_eq!(boxes(&first)[0], (shown[0].0.clone(), true));
    assert_eq!(boxes(&first)[1], (shown[1].0.clone(), false));
}

#[tokio::test]
async fn a_wrong_address_or_form_is_answered_naming_its_field_never_in_the_frameworks_words() {
    let app = TestApp::start().await;
    let plan = search_now(&app).await;
    let admin = &app.callers.admin;
    let page = app
        .page(
            admin,
            &plan_path(&app, &plan, "?category=users_to_add&page=two"),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    page.assert_contains("address is not valid: “page” must be a whole number");
    assert!(
        !page.html.contains("Failed to deserialize"),
        "{}",
        page.html
    );

    let refused = app
        .submit(
            admin,
            &plan_path(&app, &plan, "/exemptions"),
            &[],
            Csrf::Field,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("The form could not be read: “external_id” is missing.");
    assert!(!refused.html.contains("missing field"), "{}", refused.html);
}

/// The settings changed through the API, as an admin would in the form.
async fn change_settings(app: &TestApp, settings: serde_json::Value) {
    let reply = app
        .call(
            &app.callers.admin,
            Method::PUT,
            &app.path("/connection"),
            Some(settings),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// Sync Active Directory pressed on the plan's page (no boxes of a page sent along).
async fn sync_active_directory(app: &TestApp, plan: &str, fields: &[(&str, &str)]) -> Reply {
    let started = app
        .submit(
            &app.callers.admin,
            &plan_path(app, plan, "/apply"),
            fields,
            Csrf::Field,
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let run_id = started
        .location()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    app.finished_run(&app.callers.admin, &run_id).await
}

/// The value of the first `name="{name}" value="…"` after `after` on the page.
fn value_after(page: &Page, after: &str, name: &str) -> String {
    page.html
        .split_once(after)
        .and_then(|(_, rest)| rest.split(&format!("name=\"{name}\" value=\"")).nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} after {after:?}:\n{}", page.html))
        .to_owned()
}

#[tokio::test]
async fn a_skipped_object_is_listed_with_its_reason_and_once_exempted_reads_exempt() {
    let app = TestApp::start().await;
    app.control
        .create_user(json!({"displayName": "Zed Outsider", "mailNickname": "zed",
            "userPrincipalName": "zed@elsewhere.example", "mail": "zed@elsewhere.example",
            "proxyAddresses": ["SMTP:zed@elsewhere.example"]}))
        .await
        .expect("a directory user outside the account's domains");
    let plan = search_now(&app).await;
    let admin = &app.callers.admin;
    let skipped = app
        .page(admin, &plan_path(&app, &plan, "?category=skipped"))
        .await;
    skipped.assert_contains("elsewhere.example");
    skipped.assert_contains("Exempt from sync<span class=\"visually-hidden\">");
    let external_id = value_after(&skipped, "elsewhere.example", "external_id");

    let exempted = app
        .submit(
            admin,
            &plan_path(&app, &plan, "/exemptions"),
            &[("external_id", &external_id)],
            Csrf::Field,
        )
        .await;
    assert_eq!(
        exempted.location(),
        Some(plan_path(&app, &plan, "?category=skipped").as_str())
    );
    let plan = search_now(&app).await;
    let skipped = app
        .page(admin, &plan_path(&app, &plan, "?category=skipped"))
        .await;
    let row = skipped
        .html
        .split_once("elsewhere.example")
        .and_then(|(_, rest)| rest.split("</tr>").next())
        .expect("the exempted object's row");
    assert!(row.contains("<td>Exempt</td>"), "{row}");
    assert!(!row.contains("<button"), "{row}");
}

#[tokio::test]
async fn a_category_the_how_to_sync_switches_leave_out_is_marked_not_applied() {
    let app = TestApp::start().await;
    change_settings(&app, json!({"actions": ["update-users", "add-groups"]})).await;
    let plan = search_now(&app).await;
    let page = app
        .page(&app.callers.admin, &plan_path(&app, &plan, ""))
        .await;
    let tab = |title: &str| {
        page.html
            .split(&format!(">{title}</"))
            .nth(1)
            .and_then(|rest| rest.split("</li>").next())
            .unwrap_or_else(|| panic!("no tab {title}:\n{}", page.html))
            .to_owned()
    };
    assert!(tab("Users to add").contains("not applied by your settings"));
    assert!(!tab("Groups to add").contains("not applied by your settings"));
}

#[tokio::test]
async fn removals_over_the_deletion_limit_are_held_unless_confirmed() {
    let app = TestApp::start().await;
    let mut leaving = Vec::new();
    for name in ["lea", "leo"] {
        let user = app
            .control
            .create_user(json!({"displayName": name, "mailNickname": name}))
            .await
            .expect("a directory user");
        leaving.push(user.id);
    }
    let plan = search_now(&app).await;
    sync_active_directory(&app, &plan, &[]).await;
    change_settings(
        &app,
        json!({"deletion_limit_percent": 10, "deletion_limit_min": 1}),
    )
    .await;
    for id in &leaving {
        app.control.hard_delete_user(id).await.expect("deleted");
    }

    let plan = search_now(&app).await;
    let page = app
        .page(
            &app.callers.admin,
            &plan_path(&app, &plan, "?category=users_to_remove"),
        )
        .await;
    page.assert_contains(
        "This plan removes 2 users and 0 groups, more than the deletion limit allows.",
    );
    page.assert_contains(
        "<label for=\"confirm_removals\">Apply the removals over the deletion limit</label>",
    );
    let held = sync_active_directory(&app, &plan, &[]).await;
    assert_eq!(
        held.field("counts")["users_to_remove"]["applied"],
        0,
        "{}",
        held.body
    );

    let plan = search_now(&app).await;
    let confirmed = sync_active_directory(&app, &plan, &[("confirm_removals", "yes")]).await;
    assert_eq!(
        confirmed.field("counts")["users_to_remove"]["applied"],
        2,
        "{}",
        confirmed.body
    );
}

#[tokio::test]
async fn a_plan_no_longer_current_says_so_and_offers_search_now_again() {
    let app = TestApp::start().await;
    let older = search_now(&app).await;
    search_now(&app).await;
    let page = app
        .page(&app.callers.admin, &plan_path(&app, &older, ""))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains("This plan is no longer current");
    page.assert_contains(&format!(
        "action=\"/accounts/{}/import/azure/search\"",
        app.account.id
    ));
    assert!(
        !page.html.contains(">Sync Active Directory</button>"),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn an_alias_left_out_says_its_user_syncs_and_the_result_says_what_was_not_applied() {
    let app = TestApp::start().await;
    app.control
        .create_user(json!({"displayName": "Ann Alias", "mailNickname": "ann",
            "userPrincipalName": "ann@contoso.com", "mail": "ann@contoso.com",
            "proxyAddresses": ["SMTP:ann@contoso.com", "smtp:ann@elsewhere.example"]}))
        .await
        .expect("a directory user with an alias outside the account's domains");
    let plan = search_now(&app).await;
    let admin = &app.callers.admin;

    // Only the alias is left out: the user is among those to add, and there is nothing to exempt.
    let skipped = app
        .page(admin, &plan_path(&app, &plan, "?category=skipped"))
        .await;
    let row = skipped
        .html
        .split_once("ann@elsewhere.example")
        .and_then(|(_, rest)| rest.split("</tr>").next())
        .expect("the dropped alias's row");
    assert!(row.contains("Syncs without this alias"), "{row}");
    assert!(!row.contains("<button"), "{row}");

    // One change unchecked: the result says it was not applied, and links what the plan skipped.
    let page = category_page(&app, &plan, 1).await;
    let shown = boxes(&page);
    let unchecked = shown[0].0.clone();
    let mut fields = shown_boxes(&shown, &unchecked);
    fields.push(("category", "users_to_add"));
    let run = sync_active_directory(&app, &plan, &fields).await;
    let run_id = run.field("id").as_str().unwrap().to_owned();
    let result = app
        .page(
            admin,
            &format!("/accounts/{}/runs/{run_id}", app.account.id),
        )
        .await;
    let planned = shown.len();
    result.assert_contains(&format!(
        "<td>Users to add</td><td>{planned}</td><td>{}</td><td>1</td>",
        planned - 1
    ));
    result.assert_contains(&format!(
        "<a href=\"{}\">Skipped by the plan: 1</a>",
        plan_path(&app, &plan, "?category=skipped")
    ));
}
