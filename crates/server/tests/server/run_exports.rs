//! A run followed as server-sent events until it ends, and a plan and a run's report exported
//! as CSV that a spreadsheet reads back field for field.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures_util::StreamExt as _;
use roster_domain::run::Trigger;
use roster_store::NewRun;
use serde_json::{Value as Json, json};
use tower::ServiceExt as _;

use super::support::{As, Reply, TestApp};

/// A GET as `caller` (an API token) asking for `accept`.
async fn get(app: &TestApp, caller: &As, path: &str, accept: &str) -> Reply {
    let As::Bearer(token) = caller else {
        panic!("these requests are made with an API token");
    };
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

/// Starts Search Now and answers with its run's id.
async fn start_search_now(app: &TestApp) -> String {
    let started = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path("/sync/preview"),
            None,
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    started.field("run_id").as_str().unwrap().to_owned()
}

/// The events of a `text/event-stream` body: (name, data) in order.
fn events(body: &str) -> Vec<(String, Json)> {
    body.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(name).map(str::trim).map(str::to_owned))
            };
            Some((
                field("event:")?,
                serde_json::from_str(&field("data:")?).ok()?,
            ))
        })
        .collect()
}

/// Reads CSV as RFC 4180 writes it: quoted fields may hold commas, doubled quotes and line
/// breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

#[tokio::test]
async fn a_runs_event_stream_sends_progress_then_ends_with_the_final_status() {
    let app = TestApp::start().await;
    let run_id = start_search_now(&app).await;
    let path = app.path(&format!("/runs/{run_id}/events"));

    let reply = get(&app, &app.callers.token, &path, "text/event-stream").await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/event-stream",
        "{:?}",
        reply.headers
    );
    let body = reply.body.as_str().expect("an event stream").to_owned();
    let events = events(&body);
    let (last, run) = events.last().expect("at least the final event");
    assert_eq!(last, "finished", "{body}");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["id"], run_id.as_str());
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|(name, data)| name == "progress" && data.get("objects_read").is_some()),
        "only progress before the end: {body}"
    );

    let foreign = get(&app, &app.callers.other_token, &path, "text/event-stream").await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let unknown = app.path(&format!("/runs/{}/events", uuid::Uuid::new_v4()));
    let unknown = get(&app, &app.callers.token, &unknown, "text/event-stream").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_event_stream_ends_when_the_server_begins_to_shut_down() {
    let app = TestApp::start().await;
    // A run another process holds: its stream would follow it for as long as it runs.
    let run = app
        .store
        .start_run(NewRun {
            account_id: app.account.id,
            trigger: Trigger::Preview,
            actor: "another server".to_owned(),
        })
        .await
        .unwrap();
    let As::Bearer(token) = &app.callers.token else {
        panic!("an API token");
    };
    let request = Request::builder()
        .uri(app.path(&format!("/runs/{}/events", run.id)))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.into_body().into_data_stream();
    let first = stream.next().await.expect("a first event").unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("event: progress"),
        "{first:?}"
    );

    app.state.begin_shutdown();

    // Only a guard against hanging the test run: the stream ends at once.
    let rest = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        stream.collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ends when shutdown begins");
    assert!(
        rest.iter()
            .all(|chunk| !String::from_utf8_lossy(chunk.as_ref().unwrap()).contains("finished")),
        "the run did not finish; the stream only stopped following it: {rest:?}"
    );
}

#[tokio::test]
async fn a_plan_and_its_report_export_as_csv_read_back_field_for_field() {
    let app = TestApp::start().await;
    let awkward = "Doe, \"Jane\"\nSales";
    app.control
        .create_user(json!({"displayName": awkward, "mailNickname": "jane"}))
        .await
        .expect("a directory user");
    let run_id = start_search_now(&app).await;
    let run = app.finished_run(&app.callers.token, &run_id).await;
    let plan_id = run.field("plan_id").as_str().expect("a plan").to_owned();

    let reply = get(
        &app,
        &app.callers.token,
        &app.path(&format!("/plans/{plan_id}/changes?category=users_to_add")),
        "text/csv",
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    let rows = parse_csv(reply.body.as_str().expect("CSV text"));
    assert_eq!(
        rows[0],
        [
            "category",
            "change_id",
            "external_id",
            "summary",
            "reason",
            "before_after",
            "allowed_by_settings",
            "checked"
        ]
    );
    assert_eq!(
        rows.len(),
        1 + 4,
        "a header and four users to add: {rows:?}"
    );
    assert!(
        rows[1..]
            .iter()
            .all(|row| row.len() == 8 && row[0] == "Users to add")
    );
    let jane = rows
        .iter()
        .find(|row| row[3].contains("jane@contoso.com"))
        .expect("Jane's addition");
    assert_eq!(jane[3], format!("Add user jane@contoso.com ({awkward})"));
    assert_eq!(jane[7], "yes", "every change is checked by default");

    let report = get(
        &app,
        &app.callers.token,
        &app.path(&format!("/runs/{run_id}")),
        "text/csv",
    )
    .await;
    assert_eq!(report.status, StatusCode::OK);
    let rows = parse_csv(report.body.as_str().expect("CSV text"));
    assert_eq!(
        rows[0],
        [
            "kind",
            "category",
            "planned",
            "applied",
            "object",
            "external_id",
            "reason"
        ]
    );
    let json = app.finished_run(&app.callers.token, &run_id).await;
    assert_eq!(
        json.field("status"),
        "succeeded",
        "JSON unless CSV is asked for"
    );
}

#[tokio::test]
async fn the_csv_paths_answer_what_accept_text_csv_does_for_a_link_without_headers() {
    let app = TestApp::start().await;
    let run_id = start_search_now(&app).await;
    let run = app.finished_run(&app.callers.token, &run_id).await;
    let plan_id = run.field("plan_id").as_str().expect("a plan").to_owned();
    let token = &app.callers.read_only_token;

    for (negotiated, suffixed) in [
        (
            format!("/plans/{plan_id}/changes?category=users_to_add"),
            format!("/plans/{plan_id}/changes.csv?category=users_to_add"),
        ),
        (
            format!("/runs/{run_id}"),
            format!("/runs/{run_id}/report.csv"),
        ),
    ] {
        let asked = get(&app, token, &app.path(&negotiated), "text/csv").await;
        let linked = get(&app, token, &app.path(&suffixed), "*/*").await;
        assert_eq!(linked.status, StatusCode::OK, "{suffixed}: {}", linked.body);
        assert_eq!(
            linked.headers[header::CONTENT_TYPE],
            "text/csv; charset=utf-8"
        );
        assert!(
            linked.headers[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment"),
            "{suffixed} downloads as a file"
        );
        assert_eq!(linked.body, asked.body, "{suffixed} is {negotiated} as CSV");
        assert!(linked.body.as_str().unwrap().lines().count() > 1);
    }

    let foreign = get(
        &app,
        &app.callers.other_token,
        &app.path(&format!("/runs/{run_id}/report.csv")),
        "*/*",
    )
    .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}
