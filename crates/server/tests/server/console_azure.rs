//! Import & Sync › Azure Active Directory in the console, as an admin without JavaScript uses
//! it: the guide's Step 2 saved, inline errors that keep every field but the key, Test
//! connection's checklist, Search Now, certificates, banners and Administration › Notifications.

use std::collections::BTreeMap;

use roster_domain::notice::ExpiryWarning;
use roster_domain::plan::Category;
use roster_domain::run::{CategoryCount, RunStatus, Trigger};
use roster_domain::{AccountEventKind, CredentialKind, Frequency, NewUserRole, Notice};
use roster_store::NewRun;
use time::{Duration, OffsetDateTime};

use axum::http::StatusCode;

use crate::support::{Csrf, Page, TestApp};

const PAGE: &str = "/accounts/contoso/import/azure";

/// The guide's Step 2 as an admin fills it in, with `key` pasted.
fn guide_fields<'a>(app: &'a TestApp, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("default_role", "silent_user"),
        ("tenant", &app.tenant.tenant),
        ("client_id", &app.tenant.client_id),
        ("key", key),
        ("sync", "users"),
        ("sync", "security-groups"),
        ("sync", "m365-groups"),
        ("actions", "add-users"),
        ("actions", "update-users"),
        ("actions", "add-groups"),
        ("actions", "update-groups"),
        ("actions", "remove-users"),
        ("frequency", "6h"),
        ("deletion_limit_percent", "20"),
        ("deletion_limit_min", "5"),
        ("key_expires_on", "2030-06-30"),
    ]
}

async fn save(app: &TestApp, fields: &[(&str, &str)]) -> Page {
    post(app, "", fields).await
}

/// A form of the page posted by contoso's admin, with its CSRF token; `tail` after the page.
async fn post(app: &TestApp, tail: &str, fields: &[(&str, &str)]) -> Page {
    app.submit(
        &app.callers.admin,
        &format!("{PAGE}{tail}"),
        fields,
        Csrf::Field,
    )
    .await
}

#[tokio::test]
async fn save_stores_the_guides_fields_and_confirms_after_a_redirect() {
    let app = TestApp::start().await;
    let secret = app.tenant.client_secret.clone();
    let saved = save(&app, &guide_fields(&app, &secret)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let target = saved.location().unwrap().to_owned();
    let page = app.page(&app.callers.admin, &target).await;
    page.assert_contains("The settings have been saved.");
    assert!(!page.html.contains(&secret), "the key is never shown");
    for label in [
        "<label for=\"default_role\">Default New User Role</label>",
        "<label for=\"tenant\">Primary Domain</label>",
        "<label for=\"client_id\">Client ID</label>",
        "<label for=\"key\">Key</label>",
        "<label for=\"frequency\">Sync Frequency</label>",
        "<legend>What to Sync</legend>",
        "<legend>How to Sync</legend>",
        "Microsoft 365 Groups",
        "Remove Deleted Groups",
        "Replace",
        &app_redirect_uri(),
    ] {
        page.assert_contains(label);
    }

    let connection = app.store.connection(app.account.id).await.unwrap().unwrap();
    let settings = &connection.settings;
    assert_eq!(settings.default_role, NewUserRole::SilentUser);
    assert_eq!(settings.frequency, Frequency::Hours(6));
    assert!(settings.scope.users && settings.scope.m365_groups);
    assert!(
        !settings.scope.distribution_groups,
        "an unchecked box is off"
    );
    assert!(settings.actions.remove_users && !settings.actions.remove_groups);
    assert_eq!(
        (
            settings.deletion_limit.percent,
            settings.deletion_limit.min_objects
        ),
        (20, 5)
    );
    assert_eq!(
        settings.key_expires_on.map(|d| d.to_string()),
        Some("2030-06-30".into())
    );
    assert_eq!(
        settings.cloud.name(),
        "custom",
        "the operator's endpoints stay"
    );
}

fn app_redirect_uri() -> String {
    roster_server::Config::default().public_url.to_string()
}

#[tokio::test]
async fn inline_errors_keep_the_other_fields_but_never_the_key() {
    let app = TestApp::start().await;
    let mut fields = guide_fields(&app, "a-new-key-value~that-must-not-echo");
    fields.retain(|(name, _)| !matches!(*name, "tenant" | "frequency" | "deletion_limit_percent"));
    fields.extend([
        ("tenant", "not a tenant!"),
        ("frequency", "2h"),
        ("deletion_limit_percent", "lots"),
    ]);
    let page = save(&app, &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !page.html.contains("a-new-key-value~that-must-not-echo"),
        "the key is not echoed back after a validation error"
    );
    page.assert_contains("value=\"not a tenant!\"");
    page.assert_contains("id=\"tenant-error\"");
    page.assert_contains("tenant-hint tenant-error");
    page.assert_contains("id=\"deletion_limit-error\"");
    page.assert_contains("Enter the key again");
    page.assert_contains("value=\"2030-06-30\"");
    let connection = app.store.connection(app.account.id).await.unwrap().unwrap();
    assert_eq!(
        connection.settings.frequency,
        Frequency::Never,
        "nothing was saved"
    );
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_saves_nothing() {
    let app = TestApp::start().await;
    let secret = app.tenant.client_secret.clone();
    let page = app
        .submit(
            &app.callers.admin,
            PAGE,
            &guide_fields(&app, &secret),
            Csrf::Missing,
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let connection = app.store.connection(app.account.id).await.unwrap().unwrap();
    assert_eq!(connection.settings.frequency, Frequency::Never);
}

#[tokio::test]
async fn another_accounts_pages_answer_404() {
    let app = TestApp::start().await;
    for path in [
        "/accounts/fabrikam/import/azure",
        "/accounts/fabrikam/notifications",
    ] {
        let page = app.page(&app.callers.admin, path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    let search = app
        .submit(
            &app.callers.admin,
            "/accounts/fabrikam/import/azure/search",
            &[],
            Csrf::Field,
        )
        .await;
    assert_eq!(search.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn search_now_needs_saved_settings_and_then_follows_its_run() {
    let app = TestApp::start().await;
    // fabrikam has no connection: an operator sees Search Now disabled, and a post is refused.
    let unsaved = app
        .page(&app.callers.operator, "/accounts/fabrikam/import/azure")
        .await;
    unsaved.assert_contains("There are no saved settings yet");
    assert!(!unsaved.html.contains("data-unsaved-guard"));
    let refused = app
        .submit(
            &app.callers.operator,
            "/accounts/fabrikam/import/azure/search",
            &[],
            Csrf::Field,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    refused.assert_contains("Ensure that all your settings are saved first");

    let page = app.page(&app.callers.admin, PAGE).await;
    page.assert_contains("data-unsaved-guard=\"search-now\"");
    page.assert_contains("id=\"search-now-unsaved\" hidden");
    page.assert_contains("with the <strong>saved</strong> settings");
    let started = post(&app, "/search", &[]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let run_path = started.location().unwrap();
    let prefix = format!("/accounts/{}/runs/", app.account.id);
    assert!(run_path.starts_with(&prefix), "{run_path}");
    let run_id = &run_path[prefix.len()..];
    let run = app.finished_run(&app.callers.admin, run_id).await;
    assert_eq!(run.field("trigger"), "preview");
}

#[tokio::test]
async fn a_secret_id_pasted_as_the_key_is_explained_by_test_connection() {
    let app = TestApp::start().await;
    let secret_id = "8f6b1a2c-3d4e-4f5a-9b6c-7d8e9f0a1b2c";
    let saved = save(&app, &guide_fields(&app, secret_id)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    // Test connection changes nothing: a GET, so the browser can reload or go back.
    let page = app.page(&app.callers.admin, &format!("{PAGE}/test")).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains("The connection does not work yet");
    page.assert_contains("AADSTS7000215");
    page.assert_contains("not its Secret ID");
    assert!(!page.html.contains(secret_id));

    let secret = app.tenant.client_secret.clone();
    save(&app, &guide_fields(&app, &secret)).await;
    let passed = app.page(&app.callers.admin, &format!("{PAGE}/test")).await;
    passed.assert_contains("<strong>Authentication</strong>: passed.");
}

#[tokio::test]
async fn a_certificate_is_generated_downloaded_and_signed_in_with() {
    let app = TestApp::start().await;
    let refused = post(&app, "/credential", &[("credential", "certificate")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("no valid certificate");

    let generated = post(&app, "/certificates", &[("valid_days", "30")]).await;
    assert_eq!(
        generated.status,
        StatusCode::SEE_OTHER,
        "{}",
        generated.html
    );
    let connection = app.store.connection(app.account.id).await.unwrap().unwrap();
    let thumbprint = connection.certificates[0].thumbprint.clone();
    let page = app.page(&app.callers.admin, PAGE).await;
    page.assert_contains(&thumbprint);
    page.assert_contains("tried first");

    let cer = app
        .page(
            &app.callers.admin,
            &format!("{PAGE}/certificates/{thumbprint}.cer"),
        )
        .await;
    assert_eq!(cer.status, StatusCode::OK);
    assert_eq!(cer.headers["content-type"], "application/pkix-cert");
    let pem = app
        .page(
            &app.callers.admin,
            &format!("{PAGE}/certificates/{thumbprint}.pem"),
        )
        .await;
    pem.assert_contains("-----BEGIN CERTIFICATE-----");
    assert!(
        pem.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );

    let switched = post(&app, "/credential", &[("credential", "certificate")]).await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER, "{}", switched.html);
    let connection = app.store.connection(app.account.id).await.unwrap().unwrap();
    assert_eq!(connection.settings.credential, CredentialKind::Certificate);
    // A 30-day certificate is inside the warning window.
    app.page(&app.callers.admin, PAGE)
        .await
        .assert_contains("The certificate of the Azure Active Directory connection expires in");

    // The only certificate it signs in with stays, with the way out explained.
    let remove = [("thumbprint", thumbprint.as_str())];
    let refused = post(&app, "/certificates/remove", &remove).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    refused.assert_contains("switch the connection to its key first");
    refused.assert_contains("generate another certificate");
    assert_eq!(
        app.store
            .connection(app.account.id)
            .await
            .unwrap()
            .unwrap()
            .certificates
            .len(),
        1
    );

    // Once a newer one is there, the old one goes.
    let generated = post(&app, "/certificates", &[("valid_days", "60")]).await;
    assert_eq!(generated.status, StatusCode::SEE_OTHER);
    let page = app.page(&app.callers.admin, PAGE).await;
    page.assert_contains(&format!(
        "aria-label=\"Remove the certificate {thumbprint}\""
    ));
    let removed = post(&app, "/certificates/remove", &remove).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.html);
    let page = app
        .page(&app.callers.admin, removed.location().unwrap())
        .await;
    page.assert_contains("The certificate was removed from Roster");
    assert!(!page.html.contains(&thumbprint), "{}", page.html);

    // A form without its CSRF token is refused.
    let forged = app
        .submit(
            &app.callers.admin,
            &format!("{PAGE}/certificates/remove"),
            &[("thumbprint", "AB")],
            Csrf::Missing,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn banners_appear_for_each_condition() {
    let app = TestApp::start().await;
    let quiet = app.page(&app.callers.admin, PAGE).await;
    assert!(!quiet.html.contains("class=\"banner"), "{}", quiet.html);

    // The key expiring, and automatic sync on without a tech contact.
    let soon = (OffsetDateTime::now_utc() + Duration::days(10))
        .date()
        .to_string();
    let mut fields = guide_fields(&app, "");
    fields.retain(|(name, _)| *name != "key_expires_on" && *name != "key");
    fields.push(("key_expires_on", &soon));
    assert_eq!(save(&app, &fields).await.status, StatusCode::SEE_OTHER);
    app.store
        .set_tech_contact(app.account.id, None)
        .await
        .unwrap();
    let page = app.page(&app.callers.admin, PAGE).await;
    page.assert_contains("expires in 10 days");
    page.assert_contains("the Sync Frequency will revert to Never on");

    // Removals held by the deletion limit.
    let mut held = app
        .store
        .start_run(NewRun {
            account_id: app.account.id,
            trigger: Trigger::Automatic,
            actor: "scheduler".into(),
        })
        .await
        .unwrap();
    held.status = RunStatus::Held;
    held.counts = BTreeMap::from([(
        Category::UsersToRemove,
        CategoryCount {
            planned: 12,
            applied: 0,
        },
    )]);
    app.store.update_run(&held).await.unwrap();
    let page = app
        .page(&app.callers.admin, "/accounts/contoso/notifications")
        .await;
    page.assert_contains("held 12 user and 0 group removal(s)");
    page.assert_contains(&format!("/runs/{}\">Review the held removals", held.id));

    // The connection failing: a wrong key, then Search Now.
    save(&app, &[("key", "8f6b1a2c-3d4e-4f5a-9b6c-7d8e9f0a1b2c")]).await;
    let started = post(&app, "/search", &[]).await;
    let run_path = started.location().unwrap().to_owned();
    let run_id = run_path.rsplit('/').next().unwrap();
    let run = app.finished_run(&app.callers.admin, run_id).await;
    assert_eq!(run.field("status"), "failed");
    let page = app.page(&app.callers.admin, PAGE).await;
    page.assert_contains("The connection to Azure Active Directory is failing");
    page.assert_contains("not its Secret ID");
}

#[tokio::test]
async fn notifications_list_what_was_sent_waits_or_failed() {
    let app = TestApp::start().await;
    let empty = app
        .page(&app.callers.admin, "/accounts/contoso/notifications")
        .await;
    empty.assert_contains("No message has been sent or queued");
    let expires = (OffsetDateTime::now_utc() + Duration::days(5)).date();
    app.store
        .queue_key_expiry(
            app.account.id,
            CredentialKind::Secret,
            expires,
            ExpiryWarning::In7Days,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let page = app
        .page(&app.callers.admin, "/accounts/contoso/notifications")
        .await;
    page.assert_contains("key expires within 7 days");
    page.assert_contains("it@contoso.com");
    page.assert_contains("waiting");
    page.assert_contains("[Roster] The Entra ID key of contoso expires in 5 days");
    page.assert_contains("Certificates &#38; secrets › New client secret");

    // The text is shown as text: what came from an error message is never markup.
    app.store
        .record_event(
            app.account.id,
            AccountEventKind::AutomaticRunFailed,
            "Graph answered <script>alert(1)</script> & gave up",
            None,
        )
        .await
        .unwrap();
    let page = app
        .page(&app.callers.admin, "/accounts/contoso/notifications")
        .await;
    page.assert_contains("[Roster] Automatic sync failed for contoso");
    page.assert_contains("Graph answered &#60;script&#62;alert(1)&#60;/script&#62; &#38; gave up");
    assert!(!page.html.contains("<script>alert"), "{}", page.html);
    page.assert_contains(&format!(
        "{}accounts/{}/import/azure",
        app_redirect_uri(),
        app.account.id
    ));
}

#[tokio::test]
async fn every_link_a_mailed_notice_carries_opens_a_console_page() {
    let app = TestApp::start().await;
    let public_url = "https://roster.example.net";
    let links = roster_notify::Links::new(public_url).unwrap();
    let run = app
        .store
        .start_run(NewRun {
            account_id: app.account.id,
            trigger: Trigger::Automatic,
            actor: "scheduler".into(),
        })
        .await
        .unwrap();
    let notices = [
        Notice::AutomaticRunFailed {
            run_id: Some(run.id),
            message: "Graph is unavailable".into(),
            failing_since: None,
        },
        Notice::AutomaticRunHeld {
            run_id: Some(run.id),
            message: "held 12 removals".into(),
            held: BTreeMap::from([(Category::UsersToRemove, 12)]),
            held_since: None,
        },
        Notice::AutomaticSyncTurnedOff {
            message: "no tech contact".into(),
        },
        Notice::KeyExpiry {
            expires_on: (OffsetDateTime::now_utc() + Duration::days(7)).date(),
            warning: ExpiryWarning::In7Days,
            credential: CredentialKind::Certificate,
        },
    ];
    let mut opened = 0;
    for notice in &notices {
        let mail = roster_notify::compose(notice, &app.account, &links, OffsetDateTime::now_utc());
        for line in mail.text.lines() {
            let Some(path) = line.strip_prefix(public_url) else {
                continue;
            };
            let page = app.page(&app.callers.admin, path).await;
            assert_eq!(
                page.status,
                StatusCode::OK,
                "{:?} links to {path}, which the console does not serve",
                mail.subject
            );
            opened += 1;
        }
    }
    assert!(opened >= notices.len(), "each notice carries a link");
}

#[tokio::test]
async fn a_key_replaced_without_a_new_date_loses_the_old_keys_date() {
    let app = TestApp::start().await;
    let secret = app.tenant.client_secret.clone();
    assert_eq!(
        save(&app, &guide_fields(&app, &secret)).await.status,
        StatusCode::SEE_OTHER
    );
    let expiry = || async {
        let connection = app.store.connection(app.account.id).await.unwrap().unwrap();
        connection.settings.key_expires_on.map(|d| d.to_string())
    };
    assert_eq!(expiry().await.as_deref(), Some("2030-06-30"));

    // The form as the page shows it: the date field still holds the old key's date.
    let replaced = save(&app, &guide_fields(&app, "a-new-secret-value")).await;
    assert_eq!(replaced.status, StatusCode::SEE_OTHER, "{}", replaced.html);
    assert_eq!(expiry().await, None, "no warnings about the old key's date");

    let mut dated = guide_fields(&app, &secret);
    dated.retain(|(name, _)| *name != "key_expires_on");
    dated.push(("key_expires_on", "2031-01-31"));
    assert_eq!(save(&app, &dated).await.status, StatusCode::SEE_OTHER);
    assert_eq!(expiry().await.as_deref(), Some("2031-01-31"));
}

#[tokio::test]
async fn test_connection_words_its_fixes_with_the_forms_labels_not_the_clis_flags() {
    let app = TestApp::start().await;
    app.control
        .expire_secret()
        .await
        .expect("the secret expires");
    let page = app.page(&app.callers.admin, &format!("{PAGE}/test")).await;
    page.assert_contains("<strong>Authentication</strong>: failed.");
    page.assert_contains("paste its value as the Key with its new expiry date as Key expires on");
    let checklist = page
        .html
        .split("id=\"checklist\"")
        .nth(1)
        .and_then(|rest| rest.split("</div>").next())
        .expect("the checklist");
    for cli in ["--", "roster connection", "usgov"] {
        assert!(!checklist.contains(cli), "{cli} is shown:\n{checklist}");
    }
}

#[tokio::test]
async fn without_a_tech_contact_at_never_the_banner_does_not_claim_a_revert() {
    let app = TestApp::start().await;
    app.store
        .set_tech_contact(app.account.id, None)
        .await
        .expect("the tech contact is cleared");
    let page = app.page(&app.callers.admin, PAGE).await;
    page.assert_contains("Set one before choosing a Sync Frequency other than Never");
    assert!(
        !page
            .html
            .contains("and the Sync Frequency is set back to Never"),
        "{}",
        page.html
    );
}
