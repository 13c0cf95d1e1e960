//! Directory users changing, each followed by Search Now (the exact plan) and Sync Active
//! Directory (the account afterwards).

use roster_domain::run::RunStatus;
use roster_domain::{NewUserRole, Role, Source};
use serde_json::json;

use crate::support::{TestApp, described, skipped};

#[tokio::test]
async fn the_first_sync_adds_every_active_user_and_group_with_its_addresses_and_members() {
    let app = TestApp::unsynced().await;
    let d = &app.directory;

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [
            format!(
                "users_to_add {}: new in the directory [primary_address: — → ada@contoso.com; aliases: [] → [countess@contoso.com]; first_name: — → Ada; last_name: — → Lovelace; display_name: — → Ada Lovelace; role: — → end_user]",
                d.ada
            ),
            format!(
                "users_to_add {}: new in the directory [primary_address: — → alan@contoso-europe.com; first_name: — → Alan; last_name: — → Turing; display_name: — → Alan Turing; role: — → end_user]",
                d.alan
            ),
            format!(
                "users_to_add {}: new in the directory [primary_address: — → grace@contoso.com; first_name: — → Grace; last_name: — → Hopper; display_name: — → Grace Hopper; role: — → end_user]",
                d.grace
            ),
            format!(
                "groups_to_add {}: new in the directory [name: — → Engineering; kind: — → distribution; address: — → engineering@contoso.com; members_added: — → [ada@contoso.com, grace@contoso.com]]",
                d.engineering
            ),
            format!(
                "groups_to_add {}: new in the directory [name: — → Staff; kind: — → security; members_added: — → [alan@contoso-europe.com, group Engineering (engineering@contoso.com)]]",
                d.staff
            ),
        ]
    );
    assert_eq!(skipped(&plan), Vec::<String>::new());

    let outcome = app.apply(&plan).await;

    assert_eq!(outcome.run.status, RunStatus::Succeeded);
    let ada = app.user(&d.ada).await.expect("Ada is added");
    assert_eq!(ada.primary_address.as_str(), "ada@contoso.com");
    assert_eq!(
        ada.aliases.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        ["countess@contoso.com"]
    );
    assert_eq!(
        (ada.role, ada.source, ada.digests),
        (Role::EndUser, Source::Directory, true)
    );
    let engineering = app
        .group(&d.engineering)
        .await
        .expect("Engineering is added");
    let grace = app.user(&d.grace).await.unwrap();
    assert_eq!(engineering.member_users.len(), 2);
    assert!(
        engineering.member_users.contains(&ada.id) && engineering.member_users.contains(&grace.id)
    );
    let staff = app.group(&d.staff).await.expect("Staff is added");
    assert_eq!(staff.member_groups, [engineering.id], "nesting is kept");
    assert_eq!(staff.member_users, [app.user(&d.alan).await.unwrap().id]);
    assert!(
        app.preview().await.is_empty(),
        "once applied, the next plan proposes nothing"
    );
}

#[tokio::test]
async fn a_new_directory_user_is_added_with_the_connections_default_role() {
    let app = TestApp::synced().await;
    app.change_settings(|s| s.default_role = NewUserRole::SilentUser)
        .await;
    let katherine = app
        .create_user(json!({"displayName": "Katherine Johnson", "givenName": "Katherine", "surname": "Johnson", "mailNickname": "katherine"}))
        .await;

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [format!(
            "users_to_add {katherine}: new in the directory [primary_address: — → katherine@contoso.com; first_name: — → Katherine; last_name: — → Johnson; display_name: — → Katherine Johnson; role: — → silent_user]"
        )]
    );
    app.apply(&plan).await;
    let added = app.user(&katherine).await.expect("Katherine is added");
    assert_eq!(
        (added.role, added.digests, added.source),
        (Role::SilentUser, false, Source::Directory)
    );
}

#[tokio::test]
async fn a_renamed_primary_address_is_an_update_and_the_old_address_can_stay_as_an_alias() {
    let app = TestApp::synced().await;
    let ada = &app.directory.ada;
    app.control
        .set_proxy_addresses(
            ada,
            &[
                "SMTP:ada.lovelace@contoso.com",
                "smtp:ada@contoso.com",
                "smtp:countess@contoso.com",
            ],
        )
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [format!(
            "users_to_update {ada}: changed in the directory: primary_address, aliases [primary_address: ada@contoso.com → ada.lovelace@contoso.com; aliases: [countess@contoso.com] → [ada@contoso.com, countess@contoso.com]]"
        )]
    );
    app.apply(&plan).await;
    let user = app.user(ada).await.unwrap();
    assert_eq!(user.primary_address.as_str(), "ada.lovelace@contoso.com");
    assert_eq!(
        user.aliases.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        ["ada@contoso.com", "countess@contoso.com"]
    );
    assert!(app.preview().await.is_empty());
}

#[tokio::test]
async fn an_added_alias_is_an_update_of_the_aliases() {
    let app = TestApp::synced().await;
    let grace = &app.directory.grace;
    app.control
        .set_proxy_addresses(
            grace,
            &[
                "SMTP:grace@contoso.com",
                "smtp:amazing.grace@contoso-europe.com",
            ],
        )
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [format!(
            "users_to_update {grace}: changed in the directory: aliases [aliases: [] → [amazing.grace@contoso-europe.com]]"
        )]
    );
    app.apply(&plan).await;
    let user = app.user(grace).await.unwrap();
    assert_eq!(
        user.aliases.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        ["amazing.grace@contoso-europe.com"]
    );
}

#[tokio::test]
async fn an_alias_outside_the_accounts_domains_is_dropped_and_reported_under_skipped() {
    let app = TestApp::synced().await;
    let grace = &app.directory.grace;
    app.control
        .set_proxy_addresses(
            grace,
            &[
                "SMTP:grace@contoso.com",
                "smtp:grace@contoso.onmicrosoft.com",
            ],
        )
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        Vec::<String>::new(),
        "the user itself has not changed"
    );
    assert_eq!(
        skipped(&plan),
        [format!(
            "{grace} alias_out_of_domain: alias grace@contoso.onmicrosoft.com is in none of the account's domains; it is dropped"
        )]
    );
}

#[tokio::test]
async fn a_user_whose_primary_address_is_outside_the_accounts_domains_is_skipped_not_added() {
    let app = TestApp::synced().await;
    let outsider = app.create_user(json!({"displayName": "Outsider", "userPrincipalName": "outsider@contoso.onmicrosoft.com"})).await;

    let plan = app.preview().await;

    assert!(plan.is_empty(), "{:#?}", described(&plan));
    assert_eq!(
        skipped(&plan),
        [format!(
            "{outsider} out_of_domain: primary address outsider@contoso.onmicrosoft.com is in none of the account's domains"
        )]
    );
}

#[tokio::test]
async fn a_sign_in_blocked_user_is_removed_with_that_reason_and_leaves_its_groups() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    app.control.disable_user(&d.alan).await.unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [
            format!(
                "users_to_remove {}: sign-in blocked in the directory [user: alan@contoso-europe.com → —]",
                d.alan
            ),
            format!(
                "groups_to_update {}: changed in the directory: members_removed [members_removed: [alan@contoso-europe.com] → —]",
                d.staff
            ),
        ]
    );
    assert_eq!(app.apply(&plan).await.run.status, RunStatus::Succeeded);
    assert!(app.user(&d.alan).await.is_none());
    assert!(app.group(&d.staff).await.unwrap().member_users.is_empty());
}

#[tokio::test]
async fn a_soft_deleted_user_is_removed_as_deleted_and_added_again_when_restored() {
    let app = TestApp::synced().await;
    let grace = &app.directory.grace;
    let engineering = &app.directory.engineering;
    app.control.soft_delete_user(grace).await.unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [
            format!(
                "users_to_remove {grace}: deleted in the directory [user: grace@contoso.com → —]"
            ),
            format!(
                "groups_to_update {engineering}: changed in the directory: members_removed [members_removed: [grace@contoso.com] → —]"
            ),
        ]
    );
    app.apply(&plan).await;
    assert!(app.user(grace).await.is_none());

    app.control.restore_user(grace).await.unwrap();
    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [
            format!(
                "users_to_add {grace}: new in the directory [primary_address: — → grace@contoso.com; first_name: — → Grace; last_name: — → Hopper; display_name: — → Grace Hopper; role: — → end_user]"
            ),
            format!(
                "groups_to_update {engineering}: changed in the directory: members_added [members_added: — → [grace@contoso.com]]"
            ),
        ]
    );
    app.apply(&plan).await;
    assert!(app.user(grace).await.is_some());
    assert!(app.preview().await.is_empty());
}

#[tokio::test]
async fn a_hard_deleted_user_is_removed_as_deleted() {
    let app = TestApp::synced().await;
    let ada = &app.directory.ada;
    app.control.hard_delete_user(ada).await.unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [
            format!("users_to_remove {ada}: deleted in the directory [user: ada@contoso.com → —]"),
            format!(
                "groups_to_update {}: changed in the directory: members_removed [members_removed: [ada@contoso.com] → —]",
                app.directory.engineering
            ),
        ]
    );
    app.apply(&plan).await;
    assert!(app.user(ada).await.is_none());
    let addresses: Vec<String> = app
        .users()
        .await
        .iter()
        .map(|u| u.primary_address.to_string())
        .collect();
    assert_eq!(addresses.len(), 2, "{addresses:?}");
}

#[tokio::test]
async fn a_guest_is_not_imported_and_is_counted_as_inactive() {
    let app = TestApp::synced().await;
    app.create_user(json!({
        "displayName": "Partner", "userType": "Guest", "mail": "partner@contoso.com",
        "userPrincipalName": "partner_contoso.com#EXT#@contoso.onmicrosoft.com",
    }))
    .await;

    let plan = app.preview().await;

    assert!(plan.is_empty(), "{:#?}", described(&plan));
    assert_eq!(plan.inactive_not_imported.guests, 1);
}

#[tokio::test]
async fn a_synced_user_who_becomes_a_guest_is_removed_as_now_a_guest() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    app.control
        .update_user(&d.alan, json!({"userType": "Guest"}))
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan)[0],
        format!(
            "users_to_remove {}: now a guest [user: alan@contoso-europe.com → —]",
            d.alan
        )
    );
}

#[tokio::test]
async fn a_user_without_a_mailbox_is_not_imported_and_one_who_loses_it_is_removed() {
    let app = TestApp::synced().await;
    app.create_user(json!({"displayName": "Service Account", "mailNickname": "svc", "mail": null}))
        .await;
    let d = &app.directory;
    app.control
        .update_user(&d.alan, json!({"mail": null, "proxyAddresses": []}))
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        plan.inactive_not_imported.without_mailbox, 2,
        "the service account is counted, not listed; Alan, once removed, is counted too"
    );
    assert_eq!(
        described(&plan)[0],
        format!(
            "users_to_remove {}: no longer has a mailbox [user: alan@contoso-europe.com → —]",
            d.alan
        )
    );
    assert_eq!(
        plan.changes.len(),
        2,
        "Alan also leaves Staff: {:#?}",
        described(&plan)
    );
}

#[tokio::test]
async fn the_sign_in_blocked_mailbox_option_imports_blocked_mailboxes() {
    let app = TestApp::synced().await;
    let room = app
        .create_user(json!({"displayName": "Board Room", "mailNickname": "board.room"}))
        .await;
    app.control.disable_user(&room).await.unwrap();

    let without_option = app.preview().await;
    assert!(
        without_option.is_empty(),
        "{:#?}",
        described(&without_option)
    );
    assert_eq!(without_option.inactive_not_imported.sign_in_blocked, 1);

    app.change_settings(|s| s.include_sign_in_blocked = true)
        .await;
    let with_option = app.preview().await;

    assert_eq!(
        described(&with_option),
        [format!(
            "users_to_add {room}: new in the directory [primary_address: — → board.room@contoso.com; display_name: — → Board Room; role: — → end_user]"
        )]
    );
    app.apply(&with_option).await;
    assert!(app.user(&room).await.is_some());
}

#[tokio::test]
async fn an_alias_moving_from_one_user_to_another_moves_in_one_sync() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    // Ada sorts before Grace: moving the alias back to Ada, her claim comes before Grace's release.
    app.control
        .set_proxy_addresses(&d.ada, &["SMTP:ada@contoso.com"])
        .await
        .unwrap();
    app.control
        .set_proxy_addresses(
            &d.grace,
            &["SMTP:grace@contoso.com", "smtp:countess@contoso.com"],
        )
        .await
        .unwrap();
    let moved = app.preview().await;
    app.control
        .set_proxy_addresses(&d.grace, &["SMTP:grace@contoso.com"])
        .await
        .unwrap();
    app.control
        .set_proxy_addresses(
            &d.ada,
            &["SMTP:ada@contoso.com", "smtp:countess@contoso.com"],
        )
        .await
        .unwrap();
    app.apply(&moved).await;

    let back = app.preview().await;

    assert_eq!(
        described(&back),
        [
            format!(
                "users_to_update {}: changed in the directory: aliases [aliases: [] → [countess@contoso.com]]",
                d.ada
            ),
            format!(
                "users_to_update {}: changed in the directory: aliases [aliases: [countess@contoso.com] → []]",
                d.grace
            ),
        ]
    );
    let outcome = app.apply(&back).await;
    assert_eq!(
        outcome.run.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.run.failures
    );
    assert_eq!(
        app.user(&d.ada)
            .await
            .unwrap()
            .aliases
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["countess@contoso.com"]
    );
    assert!(app.user(&d.grace).await.unwrap().aliases.is_empty());
}

#[tokio::test]
async fn a_deleted_users_address_taken_by_a_new_user_moves_in_one_sync() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    app.control.hard_delete_user(&d.grace).await.unwrap();
    let successor = app
        .create_user(json!({"displayName": "Grace Successor", "userPrincipalName": "successor@contoso.com", "mail": "grace@contoso.com"}))
        .await;

    let plan = app.preview().await;

    assert_eq!(
        &described(&plan)[..2],
        [
            format!(
                "users_to_add {successor}: new in the directory [primary_address: — → grace@contoso.com; display_name: — → Grace Successor; role: — → end_user]"
            ),
            format!(
                "users_to_remove {}: deleted in the directory [user: grace@contoso.com → —]",
                d.grace
            ),
        ]
    );
    let outcome = app.apply(&plan).await;
    assert_eq!(
        outcome.run.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.run.failures
    );
    assert_eq!(
        app.user(&successor).await.unwrap().primary_address.as_str(),
        "grace@contoso.com"
    );
    assert!(app.user(&d.grace).await.is_none());
}

#[tokio::test]
async fn one_bad_directory_object_is_skipped_and_never_fails_the_sync() {
    let app = TestApp::synced().await;
    let broken = app
        .create_user(json!({"displayName": "Broken", "mailNickname": "broken", "proxyAddresses": ["SMTP:broken@@contoso.com"]}))
        .await;
    let katherine = app
        .create_user(json!({"displayName": "Katherine Johnson", "mailNickname": "katherine"}))
        .await;

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [format!(
            "users_to_add {katherine}: new in the directory [primary_address: — → katherine@contoso.com; display_name: — → Katherine Johnson; role: — → end_user]"
        )]
    );
    let skipped = skipped(&plan);
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert!(skipped[0].starts_with(&format!("{broken} invalid_address: primary address \"broken@@contoso.com\" is not a valid address")), "{}", skipped[0]);
    assert_eq!(app.apply(&plan).await.run.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn two_users_swapping_primary_addresses_swap_in_one_sync() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    app.control
        .set_proxy_addresses(
            &d.ada,
            &["SMTP:grace@contoso.com", "smtp:countess@contoso.com"],
        )
        .await
        .unwrap();
    app.control
        .set_proxy_addresses(&d.grace, &["SMTP:ada@contoso.com"])
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [
            format!(
                "users_to_update {}: changed in the directory: primary_address [primary_address: grace@contoso.com → ada@contoso.com]",
                d.grace
            ),
            format!(
                "users_to_update {}: changed in the directory: primary_address [primary_address: ada@contoso.com → grace@contoso.com]",
                d.ada
            ),
        ]
    );
    let outcome = app.apply(&plan).await;
    assert_eq!(
        outcome.run.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.run.failures
    );
    assert_eq!(
        app.user(&d.ada).await.unwrap().primary_address.as_str(),
        "grace@contoso.com"
    );
    assert_eq!(
        app.user(&d.grace).await.unwrap().primary_address.as_str(),
        "ada@contoso.com"
    );
}
