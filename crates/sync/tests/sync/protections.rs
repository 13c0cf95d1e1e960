//! What sync takes over, leaves alone and never removes (product.md §1 and §3).

use roster_domain::plan::{Category, SkipReason};
use roster_domain::{Role, Source};
use roster_store::{NewAdmin, NewUser};
use secrecy::SecretString;
use serde_json::json;

use crate::support::{TestApp, change_to, described, skipped};

#[tokio::test]
async fn a_manual_user_holding_a_directory_users_address_is_linked_not_duplicated() {
    let app = TestApp::unsynced().await;
    let manual = app
        .store
        .add_user(
            app.account.id,
            NewUser {
                primary_address: "grace@contoso.com".parse().unwrap(),
                aliases: Vec::new(),
                first_name: None,
                last_name: None,
                display_name: None,
                role: Role::SilentUser,
                digests: Some(true),
            },
        )
        .await
        .unwrap();

    let plan = app.preview().await;

    let link = change_to(&plan, &app.directory.grace);
    assert_eq!(
        (link.category, link.summary.as_str()),
        (
            Category::UsersToUpdate,
            "Link existing user grace@contoso.com to the directory"
        )
    );
    assert!(
        link.reason
            .contains("linked to the directory object rather than duplicated"),
        "{}",
        link.reason
    );
    assert!(described(&plan).iter().any(|line| line.ends_with(
        "[first_name: — → Grace; last_name: — → Hopper; display_name: — → Grace Hopper; source: manual → directory]"
    )), "{:#?}", described(&plan));
    app.apply(&plan).await;
    let linked = app
        .user(&app.directory.grace)
        .await
        .expect("the manual user now carries the directory id");
    assert_eq!(linked.id, manual.id);
    assert_eq!(
        (linked.source, linked.role, linked.digests),
        (Source::Directory, Role::SilentUser, true),
        "role and digests are kept"
    );
    assert_eq!(app.users().await.len(), 3);
}

#[tokio::test]
async fn sync_never_demotes_or_removes_an_organization_admin() {
    let app = TestApp::unsynced().await;
    let admin = NewAdmin {
        address: "ada@contoso.com".parse().unwrap(),
        display_name: None,
        password: SecretString::from("a long admin password"),
    };
    app.store.create_admin(app.account.id, admin).await.unwrap();
    app.sync().await;
    let ada = app
        .user(&app.directory.ada)
        .await
        .expect("the admin is linked to Ada's directory object");
    assert_eq!(ada.role, Role::OrganizationAdmin);

    app.control.disable_user(&app.directory.ada).await.unwrap();
    let plan = app.preview().await;

    assert!(
        plan.in_category(Category::UsersToRemove).next().is_none(),
        "{:#?}",
        described(&plan)
    );
    assert!(skipped(&plan).contains(&format!(
        "{} protected_from_removal: sign-in blocked in the directory, but it is kept: sync never removes an organization admin",
        app.directory.ada
    )));
}

#[tokio::test]
async fn sync_never_removes_the_accounts_tech_contact() {
    let app = TestApp::synced().await;
    let contact = app
        .create_user(json!({"displayName": "IT", "mailNickname": "it"}))
        .await;
    app.sync().await;
    app.control.hard_delete_user(&contact).await.unwrap();

    let plan = app.preview().await;

    assert!(plan.is_empty(), "{:#?}", described(&plan));
    assert_eq!(
        skipped(&plan),
        [format!(
            "{contact} protected_from_removal: deleted in the directory, but it is kept: sync never removes the account's tech contact"
        )]
    );
}

#[tokio::test]
async fn an_address_two_directory_users_claim_stays_with_the_user_holding_it() {
    let app = TestApp::synced().await;
    let copycat = app
        .create_user(json!({
            "displayName": "Copycat", "mailNickname": "copycat",
            "proxyAddresses": ["SMTP:copycat@contoso.com", "smtp:grace@contoso.com"],
        }))
        .await;

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [format!(
            "users_to_add {copycat}: new in the directory [primary_address: — → copycat@contoso.com; display_name: — → Copycat; role: — → end_user]"
        )]
    );
    let duplicate = plan
        .skipped
        .iter()
        .find(|s| s.external_id.as_str() == copycat)
        .expect("the lost alias is reported");
    assert_eq!(duplicate.reason, SkipReason::DuplicateInTenant);
    assert!(
        duplicate
            .detail
            .contains("alias grace@contoso.com is also claimed by Grace Hopper"),
        "{}",
        duplicate.detail
    );
}

#[tokio::test]
async fn a_change_whose_how_to_sync_switch_is_off_is_listed_but_never_applied() {
    let app = TestApp::synced().await;
    app.change_settings(|s| s.actions.remove_users = false)
        .await;
    app.control.disable_user(&app.directory.alan).await.unwrap();

    let plan = app.preview().await;
    let outcome = app.run_automatic().await;

    let removal = change_to(&plan, &app.directory.alan);
    assert_eq!(
        (removal.category, removal.allowed_by_settings),
        (Category::UsersToRemove, false)
    );
    assert_eq!(outcome.not_allowed, 1);
    assert!(app.user(&app.directory.alan).await.is_some());
    assert_eq!(outcome.run.counts[&Category::UsersToRemove].applied, 0);
}
