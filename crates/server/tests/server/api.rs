//! The REST API's routes, one behaviour at a time.

use axum::http::{Method, StatusCode, header};
use roster_store::NewAdmin;
use secrecy::SecretString;
use serde_json::json;

use super::support::{As, PASSWORD, TestApp, directory_group, directory_user};

async fn add_users(app: &TestApp, count: usize) {
    for i in 0..count {
        let reply = app
            .call(
                &app.callers.token,
                Method::POST,
                &app.path("/users"),
                Some(json!({"primary_address": format!("user{i:02}@contoso.com"), "first_name": "User", "last_name": format!("{i:02}")})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
}

#[tokio::test]
async fn users_are_paged_by_cursor_and_filtered_by_search_role_and_source() {
    let app = TestApp::start().await;
    add_users(&app, 7).await;
    // admin@, eve@ and user00..user06@: nine users.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/users?limit=4&cursor={c}"),
            None => "/users?limit=4".to_owned(),
        };
        let page = app
            .call(&app.callers.admin, Method::GET, &app.path(&query), None)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for user in page.field("items").as_array().unwrap() {
            seen.push(user["primary_address"].as_str().unwrap().to_owned());
        }
        match page.field("next_cursor").as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 9, "{seen:?}");

    let search = app
        .call(
            &app.callers.admin,
            Method::GET,
            &app.path("/users?q=USER0&role=end_user&source=manual"),
            None,
        )
        .await;
    assert_eq!(search.field("items").as_array().unwrap().len(), 7);
    let admins = app
        .call(
            &app.callers.admin,
            Method::GET,
            &app.path("/users?role=organization_admin"),
            None,
        )
        .await;
    let admins = admins.field("items").as_array().unwrap().clone();
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0]["primary_address"], "admin@contoso.com");
    let bad = app
        .call(
            &app.callers.admin,
            Method::GET,
            &app.path("/users?limit=0"),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.field("errors")[0]["field"], "limit");
}

#[tokio::test]
async fn a_bad_user_gets_problem_details_naming_each_field() {
    let app = TestApp::start().await;
    let reply = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path("/users"),
            Some(json!({"primary_address": "not an address", "aliases": ["ok@contoso.com", "@@"], "role": "organization_admin"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let fields: Vec<&str> = reply
        .field("errors")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["primary_address", "aliases[1]", "role"]);
    let outside = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path("/users"),
            Some(json!({"primary_address": "bob@fabrikam.com"})),
        )
        .await;
    assert_eq!(
        outside.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        outside.body
    );
    let taken = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path("/users"),
            Some(json!({"primary_address": "eve@contoso.com"})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    let unknown_field = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path("/users"),
            Some(json!({"primary_address": "x@contoso.com", "colour": "red"})),
        )
        .await;
    assert_eq!(
        unknown_field.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown_field.body
    );
}

#[tokio::test]
async fn a_user_is_updated_between_end_user_and_silent_user_and_deleted() {
    let app = TestApp::start().await;
    let path = app.path(&format!("/users/{}", app.callers.end_user_id));
    let silent = app
        .call(
            &app.callers.admin,
            Method::PATCH,
            &path,
            Some(json!({"role": "silent_user", "digests": true, "last_name": "Example"})),
        )
        .await;
    assert_eq!(silent.status, StatusCode::OK, "{}", silent.body);
    assert_eq!(silent.field("role"), "silent_user");
    assert_eq!(silent.field("digests"), true);
    assert_eq!(silent.field("last_name"), "Example");
    // A silent user never signs in: Eve's session ended with the change.
    let eve = app
        .call(&app.callers.end_user, Method::GET, "/api/v1/session", None)
        .await;
    assert_eq!(eve.status, StatusCode::UNAUTHORIZED);
    let promote = app
        .call(
            &app.callers.admin,
            Method::PATCH,
            &path,
            Some(json!({"role": "organization_admin"})),
        )
        .await;
    assert_eq!(promote.status, StatusCode::UNPROCESSABLE_ENTITY);
    let deleted = app
        .call(&app.callers.admin, Method::DELETE, &path, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app.call(&app.callers.admin, Method::GET, &path, None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn nobody_removes_their_own_login_nor_the_accounts_last_organization_admin() {
    let app = TestApp::start().await;
    let admins = app
        .call(
            &app.callers.token,
            Method::GET,
            &app.path("/users?role=organization_admin"),
            None,
        )
        .await;
    let admin_id = admins.field("items")[0]["id"].as_str().unwrap().to_owned();
    let admin_path = app.path(&format!("/users/{admin_id}"));

    let own = app
        .call(&app.callers.admin, Method::DELETE, &admin_path, None)
        .await;
    assert_eq!(own.status, StatusCode::CONFLICT, "{}", own.body);
    assert!(
        own.field("detail")
            .as_str()
            .unwrap()
            .contains("your own login"),
        "{}",
        own.body
    );
    let last = app
        .call(&app.callers.token, Method::DELETE, &admin_path, None)
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert!(
        last.field("detail")
            .as_str()
            .unwrap()
            .contains("last organization admin"),
        "{}",
        last.body
    );

    app.store
        .create_admin(
            app.account.id,
            NewAdmin {
                address: "second@contoso.com".parse().unwrap(),
                display_name: None,
                password: SecretString::from(PASSWORD),
            },
        )
        .await
        .unwrap();
    let removed = app
        .call(&app.callers.token, Method::DELETE, &admin_path, None)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
}

#[tokio::test]
async fn a_group_shows_its_nested_groups_and_pages_its_members_and_expanded_recipients() {
    let app = TestApp::start().await;
    app.store
        .apply_changes(
            app.account.id,
            &[
                directory_user("u-ann", "ann@contoso.com"),
                directory_user("u-bob", "bob@contoso.com"),
                directory_user("u-cy", "cy@contoso.com"),
                directory_group("g-all", "All", &["u-ann"], &["g-team"]),
                // A cycle back to All: each recipient still counts once.
                directory_group("g-team", "Team", &["u-bob", "u-cy"], &["g-all"]),
            ],
        )
        .await
        .unwrap();
    let token = &app.callers.read_only_token;
    let groups = app
        .call(token, Method::GET, &app.path("/groups"), None)
        .await;
    let all = groups
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "All")
        .expect("the group All");
    let base = app.path(&format!("/groups/{}", all["id"].as_str().unwrap()));

    let detail = app.call(token, Method::GET, &base, None).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.field("address"), "all@contoso.com");
    assert_eq!(detail.field("member_user_count"), 1);
    assert_eq!(detail.field("member_groups")[0]["name"], "Team");
    assert_eq!(detail.field("recipient_count"), 3);

    let members = app
        .call(token, Method::GET, &format!("{base}/members"), None)
        .await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    let addresses = |page: &super::support::Reply| -> Vec<String> {
        page.field("items")
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["primary_address"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(addresses(&members), ["ann@contoso.com"]);
    assert_eq!(members.field("next_cursor"), &json!(null));

    let mut recipients = Vec::new();
    let mut path = format!("{base}/recipients?limit=2");
    loop {
        let page = app.call(token, Method::GET, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        recipients.extend(addresses(&page));
        let Some(cursor) = page.field("next_cursor").as_str() else {
            break;
        };
        path = format!("{base}/recipients?limit=2&cursor={cursor}");
    }
    assert_eq!(
        recipients,
        ["ann@contoso.com", "bob@contoso.com", "cy@contoso.com"]
    );

    for tail in ["", "/members", "/recipients"] {
        let foreign = app
            .call(
                &app.callers.other_token,
                Method::GET,
                &app.path(&format!("/groups/{}{tail}", all["id"].as_str().unwrap()))
                    .replace(&app.account.name, &app.other.name),
                None,
            )
            .await;
        assert_eq!(
            foreign.status,
            StatusCode::NOT_FOUND,
            "{tail}: {}",
            foreign.body
        );
    }
}

#[tokio::test]
async fn an_end_user_sees_and_edits_only_their_own_record() {
    let app = TestApp::start().await;
    let own = app.path(&format!("/users/{}", app.callers.end_user_id));
    let me = app
        .call(&app.callers.end_user, Method::GET, &own, None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    let digests = app
        .call(
            &app.callers.end_user,
            Method::PATCH,
            &own,
            Some(json!({"digests": false})),
        )
        .await;
    assert_eq!(digests.status, StatusCode::OK, "{}", digests.body);
    let role = app
        .call(
            &app.callers.end_user,
            Method::PATCH,
            &own,
            Some(json!({"role": "silent_user"})),
        )
        .await;
    assert_eq!(role.status, StatusCode::FORBIDDEN);
    let users = app.store.list_users(app.account.id).await.unwrap();
    let admin = users
        .iter()
        .find(|u| u.primary_address.as_str() == "admin@contoso.com")
        .unwrap();
    let other = app
        .call(
            &app.callers.end_user,
            Method::GET,
            &app.path(&format!("/users/{}", admin.id)),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_accounts_object_is_not_found_even_through_ones_own_account() {
    let app = TestApp::start().await;
    let fabrikam_user = app
        .call(
            &app.callers.other_token,
            Method::POST,
            &format!("/api/v1/accounts/{}/users", app.other.id),
            Some(json!({"primary_address": "zoe@fabrikam.com"})),
        )
        .await;
    assert_eq!(
        fabrikam_user.status,
        StatusCode::CREATED,
        "{}",
        fabrikam_user.body
    );
    let id = fabrikam_user.field("id").as_str().unwrap();
    // Contoso's admin names Fabrikam's user under Contoso's own account.
    let reply = app
        .call(
            &app.callers.admin,
            Method::GET,
            &app.path(&format!("/users/{id}")),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let deleted = app
        .call(
            &app.callers.admin,
            Method::DELETE,
            &app.path(&format!("/users/{id}")),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    assert_eq!(app.store.list_users(app.other.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn operators_create_and_list_accounts_and_manage_domains() {
    let app = TestApp::start().await;
    let operator = &app.callers.operator;
    let created = app
        .call(
            operator,
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"name": "northwind", "domains": ["northwind.example"], "tech_contact": {"name": "Nat", "email": "nat@northwind.example"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let bad = app
        .call(
            operator,
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"name": " ", "domains": ["not a domain"]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = bad
        .field("errors")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["domains[0]", "name"]);
    let listed = app
        .call(operator, Method::GET, "/api/v1/accounts", None)
        .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 3);
    let added = app
        .call(
            operator,
            Method::POST,
            "/api/v1/accounts/northwind/domains",
            Some(json!({"domain": "northwind.test"})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.field("domains").as_array().unwrap().len(), 2);
    let removed = app
        .call(
            operator,
            Method::DELETE,
            "/api/v1/accounts/northwind/domains/northwind.test",
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
}

#[tokio::test]
async fn the_tech_contact_is_validated_set_and_cleared() {
    let app = TestApp::start().await;
    let path = app.path("/tech-contact");
    let bad = app
        .call(
            &app.callers.admin,
            Method::PUT,
            &path,
            Some(json!({"name": "", "email": "it@contoso.com"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let set = app
        .call(
            &app.callers.admin,
            Method::PUT,
            &path,
            Some(json!({"name": "Ina", "email": "ina@contoso.com"})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.field("tech_contact")["email"], "ina@contoso.com");
    let cleared = app
        .call(&app.callers.admin, Method::DELETE, &path, None)
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    let account = app
        .call(&app.callers.admin, Method::GET, &app.path(""), None)
        .await;
    assert!(account.field("tech_contact").is_null());
}

#[tokio::test]
async fn a_caller_without_credentials_gets_401_with_problem_details() {
    let app = TestApp::start().await;
    let reply = app
        .call(&As::Nobody, Method::GET, &app.path("/users"), None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.field("status"), 401);
    assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn the_connection_is_shown_without_its_key_and_saved_with_every_field_checked() {
    let app = TestApp::start().await;
    let path = app.path("/connection");
    let shown = app.call(&app.callers.admin, Method::GET, &path, None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(
        shown
            .field("client_secret")
            .as_str()
            .unwrap()
            .starts_with("set on ")
    );
    assert!(
        !shown.body.to_string().contains("secret-value"),
        "{}",
        shown.body
    );

    let bad = app
        .call(
            &app.callers.admin,
            Method::PUT,
            &path,
            Some(json!({"client_id": "not-a-guid", "frequency": "5h", "sync": ["users", "printers"], "key": " "})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let mut fields: Vec<&str> = bad
        .field("errors")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["client_id", "frequency", "key", "sync"]);

    let saved = app
        .call(
            &app.callers.admin,
            Method::PUT,
            &path,
            Some(json!({"frequency": "24h", "default_role": "silent_user"})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.field("frequency"), "24h");
    assert_eq!(
        saved.field("login_url"),
        shown.field("login_url"),
        "left-out fields keep their values"
    );
}

#[tokio::test]
async fn only_operators_point_a_connection_at_custom_endpoints() {
    let app = TestApp::start().await;
    let path = app.path("/connection");
    let endpoints = json!({"login_url": "http://127.0.0.1:9/", "graph_url": "http://127.0.0.1:9/"});
    let admin = app
        .call(
            &app.callers.admin,
            Method::PUT,
            &path,
            Some(endpoints.clone()),
        )
        .await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN, "{}", admin.body);
    let token = app
        .call(
            &app.callers.token,
            Method::PUT,
            &path,
            Some(endpoints.clone()),
        )
        .await;
    assert_eq!(token.status, StatusCode::FORBIDDEN, "{}", token.body);
    let operator = app
        .call(&app.callers.operator, Method::PUT, &path, Some(endpoints))
        .await;
    assert_eq!(operator.status, StatusCode::OK, "{}", operator.body);
    assert_eq!(operator.field("login_url"), "http://127.0.0.1:9/");
}

#[tokio::test]
async fn the_connection_test_is_a_checklist_that_passes_against_the_simulated_tenant() {
    let app = TestApp::start().await;
    let reply = app
        .call(
            &app.callers.admin,
            Method::POST,
            &app.path("/connection/test"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.field("passed"), true, "{}", reply.body);
    assert!(!reply.field("steps").as_array().unwrap().is_empty());
}
