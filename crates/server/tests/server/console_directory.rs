//! The console's directory and administration pages: users (search, filters, paging, the
//! digests switch, exemptions, invitations), groups, the profile, domains, API tokens, an end
//! user's own profile and the operator's account list, as a browser without JavaScript uses
//! them.

use axum::http::StatusCode;
use roster_domain::{Role, UserId};
use roster_store::NewUser;

use crate::support::{Csrf, Page, TestApp, directory_group, directory_user};

fn manual(primary: &str, role: Role) -> NewUser {
    NewUser {
        primary_address: primary.parse().unwrap(),
        aliases: Vec::new(),
        first_name: None,
        last_name: None,
        display_name: None,
        role,
        digests: None,
    }
}

/// The first link on the page whose text is `label`.
fn link(page: &Page, label: &str) -> String {
    let before = page
        .html
        .split(&format!("\">{label}</a>"))
        .next()
        .filter(|head| head.len() < page.html.len())
        .unwrap_or_else(|| panic!("no link {label:?} on:\n{}", page.html));
    let href = before.rsplit("href=\"").next().unwrap();
    href.replace("&amp;", "&").replace("&#38;", "&")
}

/// The test account with 55 silent users `user00@` to `user54@`: more than a page of 50.
async fn with_55_silent_users() -> TestApp {
    let app = TestApp::start().await;
    for n in 0..55 {
        app.store
            .add_user(
                app.account.id,
                manual(&format!("user{n:02}@contoso.com"), Role::SilentUser),
            )
            .await
            .unwrap();
    }
    app
}

#[tokio::test]
async fn users_are_searched_filtered_by_role_and_source_and_paged_without_javascript() {
    let app = with_55_silent_users().await;
    let admin = &app.callers.admin;
    let users = format!("/accounts/{}/users", app.account.id);

    let first = app
        .page(admin, &format!("{users}?role=silent_user&source=manual"))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.html);
    first.assert_contains("user00@contoso.com");
    first.assert_contains("user49@contoso.com");
    assert!(
        !first.html.contains("user50@contoso.com"),
        "fifty users a page"
    );
    assert!(
        !first.html.contains("eve@contoso.com"),
        "eve is an end user"
    );
    let second = app.page(admin, &link(&first, "Next page")).await;
    second.assert_contains("user54@contoso.com");
    assert!(!second.html.contains("user49@contoso.com"));
    assert!(
        !second.html.contains("Next page"),
        "the last page has no next"
    );
    second.assert_contains("First page");

    let found = app.page(admin, &format!("{users}?q=USER07")).await;
    found.assert_contains("user07@contoso.com");
    assert!(!found.html.contains("user08@contoso.com"));
    let synced = app.page(admin, &format!("{users}?source=directory")).await;
    synced.assert_contains("No users match");

    let wrong = app.page(admin, &format!("{users}?role=boss")).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    wrong.assert_contains("The role in the page");
    wrong.assert_contains("is not one Roster knows. Choose it from the list instead.");
}

#[tokio::test]
async fn previous_page_leads_back_from_the_next_page_to_the_first_page_of_the_same_filter() {
    let app = with_55_silent_users().await;
    let admin = &app.callers.admin;
    let users = format!("/accounts/{}/users?role=silent_user", app.account.id);

    let first = app.page(admin, &users).await;
    assert!(
        !first.html.contains("Previous page"),
        "nothing comes before the first page"
    );
    let second = app.page(admin, &link(&first, "Next page")).await;
    let previous = link(&second, "Previous page");
    assert!(
        previous.contains("role=silent_user") && previous.contains("before=user50%40contoso.com"),
        "Previous page keeps the filter and ends before this page's first user: {previous}"
    );

    let back = app.page(admin, &previous).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.html);
    for n in 0..50 {
        back.assert_contains(&format!("user{n:02}@contoso.com"));
    }
    assert!(
        !back.html.contains("user50@contoso.com"),
        "fifty users a page"
    );
    assert!(!back.html.contains("eve@contoso.com"), "eve is an end user");
    assert!(
        !back.html.contains("Previous page"),
        "back on the first page, there is no previous one"
    );
    assert_eq!(
        link(&back, "Next page"),
        link(&first, "Next page"),
        "Next page leads on to the same second page"
    );
}

#[tokio::test]
async fn the_digests_switch_is_a_form_post_that_comes_back_to_the_list() {
    let app = TestApp::start().await;
    let eve = app.callers.end_user_id;
    let admin = &app.callers.admin;
    let list = format!("/accounts/{}/users?role=end_user", app.account.id);
    let switch = format!("/accounts/{}/users/{eve}/digests", app.account.id);

    let page = app
        .submit(
            admin,
            &switch,
            &[("digests", "off"), ("return_to", &list)],
            Csrf::Field,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(page.location(), Some(list.as_str()));
    let eve_now = app.store.user(app.account.id, eve).await.unwrap();
    assert!(!eve_now.digests);
    let list_page = app.page(admin, &list).await;
    list_page
        .assert_contains("Turn on<span class=\"visually-hidden\"> digests for eve@contoso.com");

    let elsewhere = app
        .submit(
            admin,
            &switch,
            &[("digests", "on"), ("return_to", "https://evil.example/")],
            Csrf::Field,
        )
        .await;
    assert_eq!(
        elsewhere.location(),
        Some(format!("/accounts/{}/users", app.account.id).as_str()),
        "a form never sends the browser off the account's users pages"
    );
    assert!(app.store.user(app.account.id, eve).await.unwrap().digests);
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    let eve = app.callers.end_user_id;
    let admin = &app.callers.admin;
    let account = app.account.id;
    for (path, fields) in [
        (
            format!("/accounts/{account}/users/{eve}/digests"),
            vec![("digests", "off")],
        ),
        (
            format!("/accounts/{account}/tokens"),
            vec![("name", "forged")],
        ),
        (format!("/accounts/{account}/profile/clear"), vec![]),
    ] {
        let page = app.submit(admin, &path, &fields, Csrf::Missing).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(app.store.user(account, eve).await.unwrap().digests);
    let tokens = app.store.list_api_tokens(account).await.unwrap();
    assert!(tokens.iter().all(|t| t.name != "forged"));
    let contoso = app.store.account(&account.into()).await.unwrap();
    assert!(contoso.tech_contact.is_some());
}

#[tokio::test]
async fn a_new_api_tokens_secret_is_shown_on_the_answer_and_never_again() {
    let app = TestApp::start().await;
    let admin = &app.callers.admin;
    let tokens = format!("/accounts/{}/tokens", app.account.id);

    let refused = app
        .submit(admin, &tokens, &[("name", "  ")], Csrf::Field)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("id=\"token-name-error\"");

    let created = app
        .submit(
            admin,
            &tokens,
            &[("name", "nightly export"), ("read_only", "on")],
            Csrf::Field,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    let secret = created
        .html
        .split("id=\"token-secret\" type=\"text\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the secret is on the page")
        .to_owned();
    assert!(secret.starts_with("roster_"), "{secret}");
    let listed = app.page(admin, &tokens).await;
    listed.assert_contains("nightly export");
    listed.assert_contains("Read-only");
    assert!(!listed.html.contains(&secret), "the secret is shown once");

    let token = app.store.list_api_tokens(app.account.id).await.unwrap();
    let token = token.iter().find(|t| t.name == "nightly export").unwrap();
    let revoked = app
        .submit(
            admin,
            &format!("{tokens}/{}/revoke", token.id),
            &[],
            Csrf::Field,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(app.store.use_api_token(&secret).await.unwrap().is_none());
}

#[tokio::test]
async fn an_end_user_sees_only_their_own_profile_and_digests() {
    let app = TestApp::start().await;
    let eve = &app.callers.end_user;
    let me = app.page(eve, "/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.html);
    me.assert_contains("eve@contoso.com");
    me.assert_contains("Turn digests off");
    assert!(
        !me.html.contains("User Management"),
        "no administration in the navigation"
    );

    let switched = app
        .submit(eve, "/me/digests", &[("digests", "off")], Csrf::Field)
        .await;
    assert_eq!(switched.location(), Some("/me?done=digests"));
    let eve_now = app
        .store
        .user(app.account.id, app.callers.end_user_id)
        .await
        .unwrap();
    assert!(!eve_now.digests);

    for tail in ["/users", "/groups", "/tokens", "/profile", "/domains"] {
        let own = app
            .page(eve, &format!("/accounts/{}{tail}", app.account.id))
            .await;
        assert_eq!(own.status, StatusCode::FORBIDDEN, "{tail}");
        let other = app
            .page(eve, &format!("/accounts/{}{tail}", app.other.id))
            .await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{tail}");
    }
    assert_eq!(
        app.page(eve, "/accounts").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_admin_of_one_account_finds_none_of_anothers_pages() {
    let app = TestApp::start().await;
    let admin = &app.callers.admin;
    let stranger = app
        .store
        .add_user(app.other.id, manual("joe@fabrikam.com", Role::EndUser))
        .await
        .unwrap();
    let other = app.other.id;
    for path in [
        format!("/accounts/{other}/users"),
        format!("/accounts/{other}/users/{}", stranger.id),
        format!("/accounts/{other}/groups"),
        format!("/accounts/{other}/profile"),
        format!("/accounts/{other}/domains"),
        format!("/accounts/{other}/tokens"),
        format!("/accounts/{}/users/{}", app.account.id, stranger.id),
    ] {
        let page = app.page(admin, &path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.html.contains("joe@fabrikam.com"), "{path}");
    }
    let switched = app
        .submit(
            admin,
            &format!("/accounts/{other}/users/{}/digests", stranger.id),
            &[("digests", "off")],
            Csrf::Field,
        )
        .await;
    assert_eq!(switched.status, StatusCode::NOT_FOUND);
    assert!(app.store.user(other, stranger.id).await.unwrap().digests);
    assert_eq!(
        app.page(admin, "/accounts").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_group_page_lists_its_members_and_its_expanded_recipients_and_a_user_can_be_exempted() {
    let app = TestApp::start().await;
    app.store
        .apply_changes(
            app.account.id,
            &[
                directory_user("u-ann", "ann@contoso.com"),
                directory_user("u-bob", "bob@contoso.com"),
                directory_group("g-all", "All", &["u-ann"], &["g-team"]),
                directory_group("g-team", "Team", &["u-bob"], &["g-all"]),
            ],
        )
        .await
        .unwrap();
    let admin = &app.callers.admin;
    let groups = app
        .page(admin, &format!("/accounts/{}/groups", app.account.id))
        .await;
    groups.assert_contains("all@contoso.com");
    let all = app.page(admin, &link(&groups, "All")).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.html);
    let (members, recipients) = all.html.split_once("Expanded recipients").unwrap();
    assert!(members.contains("ann@contoso.com") && !members.contains("bob@contoso.com"));
    assert!(
        members.contains(">Team</a>"),
        "the nested group is a member"
    );
    assert!(recipients.contains("ann@contoso.com") && recipients.contains("bob@contoso.com"));
    all.assert_contains("Mail to this group reaches 2 user(s)");

    let ann_page = app.page(admin, &link(&all, "ann@contoso.com")).await;
    ann_page.assert_contains(">All</a>");
    let ann: UserId = link(&all, "ann@contoso.com")
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ann_path = format!("/accounts/{}/users/{ann}", app.account.id);
    let exempted = app
        .submit(
            admin,
            &format!("{ann_path}/exemption"),
            &[("action", "exempt"), ("return_to", &ann_path)],
            Csrf::Field,
        )
        .await;
    assert_eq!(exempted.status, StatusCode::SEE_OTHER, "{}", exempted.html);
    let exempt = app.store.list_exemptions(app.account.id).await.unwrap();
    assert_eq!(exempt.len(), 1);
    assert_eq!(exempt[0].external_id.as_str(), "u-ann");
    let ann_page = app.page(admin, exempted.location().unwrap()).await;
    ann_page.assert_contains("Lift the exemption");
}

#[tokio::test]
async fn an_admin_adds_a_manual_user_changes_its_role_and_invites_an_end_user_once() {
    let app = TestApp::start().await;
    let admin = &app.callers.admin;
    let users = format!("/accounts/{}/users", app.account.id);

    let refused = app
        .submit(
            admin,
            &users,
            &[
                ("primary_address", "sam@fabrikam.com"),
                ("aliases", "not an address"),
            ],
            Csrf::Field,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("id=\"aliases-error\"");
    refused.assert_contains("value=\"sam@fabrikam.com\"");

    let added = app
        .submit(
            admin,
            &users,
            &[
                ("primary_address", "sam@contoso.com"),
                ("first_name", "Sam"),
                ("last_name", "Lee"),
                ("role", "end_user"),
            ],
            Csrf::Field,
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let list = app.page(admin, added.location().unwrap()).await;
    list.assert_contains("The user sam@contoso.com has been added.");
    let sam_path = link(&list, "sam@contoso.com");

    let invited = app
        .submit(admin, &format!("{sam_path}/invite"), &[], Csrf::Field)
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.html);
    invited.assert_contains("/invitations/accept?token=");
    let again = app.page(admin, &sam_path).await;
    assert!(
        !again.html.contains("/invitations/accept?token="),
        "the link is shown once"
    );

    let silenced = app
        .submit(
            admin,
            &format!("{sam_path}/role"),
            &[("role", "silent_user")],
            Csrf::Field,
        )
        .await;
    assert_eq!(silenced.status, StatusCode::SEE_OTHER);
    let sam = app.page(admin, silenced.location().unwrap()).await;
    sam.assert_contains("The role has been changed.");
    assert!(
        !sam.html.contains("Create an invitation link"),
        "silent users are not invited"
    );
}

#[tokio::test]
async fn the_profile_sets_and_clears_the_tech_contact_and_says_what_clearing_does() {
    let app = TestApp::start().await;
    let admin = &app.callers.admin;
    let profile = format!("/accounts/{}/profile", app.account.id);

    let wrong = app
        .submit(
            admin,
            &profile,
            &[("name", "Ada"), ("email", "not-an-address")],
            Csrf::Field,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    wrong.assert_contains("id=\"email-error\"");
    wrong.assert_contains("value=\"not-an-address\"");

    let saved = app
        .submit(
            admin,
            &profile,
            &[("name", "Ada"), ("email", "ada@contoso.com")],
            Csrf::Field,
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let cleared = app
        .submit(admin, &format!("{profile}/clear"), &[], Csrf::Field)
        .await;
    assert_eq!(cleared.status, StatusCode::SEE_OTHER);
    let page = app.page(admin, cleared.location().unwrap()).await;
    page.assert_contains("The tech contact has been cleared.");
    page.assert_contains("switches the automatic Sync Frequency back to Never after 7 days");
}

#[tokio::test]
async fn operators_list_and_create_accounts_and_alone_add_domains() {
    let app = TestApp::start().await;
    let operator = &app.callers.operator;
    let accounts = app.page(operator, "/accounts").await;
    assert_eq!(accounts.status, StatusCode::OK, "{}", accounts.html);
    accounts.assert_contains(&format!("href=\"/accounts/{}\"", app.account.id));

    let taken = app
        .submit(
            operator,
            "/accounts",
            &[("name", "northwind"), ("domains", "contoso.com")],
            Csrf::Field,
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    taken.assert_contains("id=\"domains-error\"");
    let created = app
        .submit(
            operator,
            "/accounts",
            &[
                ("name", "northwind"),
                ("domains", "northwind.com, northwind.org"),
            ],
            Csrf::Field,
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let northwind = app
        .store
        .account(&"northwind".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(northwind.domains.len(), 2);

    let domains = format!("/accounts/{}/domains", app.account.id);
    let admin_view = app.page(&app.callers.admin, &domains).await;
    admin_view.assert_contains("contoso.com");
    assert!(
        !admin_view.html.contains("Add domain"),
        "admins read the domains"
    );
    let refused = app
        .submit(
            &app.callers.admin,
            &domains,
            &[("domain", "contoso.net")],
            Csrf::Field,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let added = app
        .submit(
            operator,
            &domains,
            &[("domain", "contoso.net")],
            Csrf::Field,
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let contoso = app.store.account(&app.account.id.into()).await.unwrap();
    assert!(contoso.domains.iter().any(|d| d.as_str() == "contoso.net"));
}

#[tokio::test]
async fn with_htmx_the_digests_switch_answers_with_the_row_alone() {
    use axum::body::Body;
    use axum::http::{Method, Request, header};

    let app = TestApp::start().await;
    let crate::support::As::Session { cookie, csrf } = app.callers.admin.clone() else {
        panic!("the admin signs in with a session");
    };
    let path = format!(
        "/accounts/{}/users/{}/digests",
        app.account.id, app.callers.end_user_id
    );
    let request = Request::builder()
        .method(Method::POST)
        .uri(&path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("hx-request", "true")
        .header("x-csrf-token", csrf)
        .body(Body::from("digests=off"))
        .unwrap();
    let row = app.browse(request).await;
    assert_eq!(row.status, StatusCode::OK, "{}", row.html);
    assert!(row.html.trim_start().starts_with("<tr"), "{}", row.html);
    assert!(!row.html.contains("<html"));
    row.assert_contains("Turn on<span class=\"visually-hidden\"> digests for eve@contoso.com");
}
