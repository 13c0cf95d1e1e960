//! The control API: what it changes is what Graph then serves.

use reqwest::StatusCode;
use roster_sim::{ControlError, Lifecycle, ObjectKind};
use serde_json::json;

use crate::support::Harness;

#[tokio::test]
async fn a_created_user_gets_mailbox_defaults_in_the_default_domain() {
    let harness = Harness::small().await;
    let domain = harness.tenant().tenant.clone();
    let user = harness
        .control()
        .create_user(json!({"displayName": "Ada Lovelace", "mailNickname": "ada"}))
        .await
        .unwrap();
    assert_eq!((user.kind, user.state), (ObjectKind::User, Lifecycle::Live));
    assert_eq!(
        user.property("userPrincipalName"),
        &json!(format!("ada@{domain}"))
    );
    assert_eq!(user.property("mail"), &json!(format!("ada@{domain}")));
    assert_eq!(
        user.property("proxyAddresses"),
        &json!([format!("SMTP:ada@{domain}")])
    );
    assert_eq!(user.property("accountEnabled"), &json!(true));

    let seen = harness
        .get(&format!(
            "/users/{}?$select=id,mail,proxyAddresses,accountEnabled,userType",
            user.id
        ))
        .await;
    assert_eq!(seen.body["userType"], "Member");
    assert_eq!(seen.body["mail"], json!(format!("ada@{domain}")));

    let mailless = harness
        .control()
        .create_user(json!({"displayName": "No Mailbox", "mail": null}))
        .await
        .unwrap();
    assert!(mailless.property("mail").is_null());
    assert_eq!(mailless.property("proxyAddresses"), &json!([]));
}

#[tokio::test]
async fn updates_disable_delete_and_restore_show_in_graph() {
    let harness = Harness::small().await;
    let control = harness.control();
    let user = control
        .create_user(json!({"displayName": "Bob"}))
        .await
        .unwrap();
    control
        .set_proxy_addresses(
            &user.id,
            &["SMTP:bob@contoso.com", "smtp:robert@contoso.com"],
        )
        .await
        .unwrap();
    control.rename_user(&user.id, "Robert").await.unwrap();
    control.disable_user(&user.id).await.unwrap();
    let seen = harness
        .get(&format!(
            "/users/{}?$select=displayName,proxyAddresses,accountEnabled",
            user.id
        ))
        .await;
    assert_eq!(seen.body["displayName"], "Robert");
    assert_eq!(
        seen.body["proxyAddresses"],
        json!(["SMTP:bob@contoso.com", "smtp:robert@contoso.com"])
    );
    assert_eq!(seen.body["accountEnabled"], false);

    control.soft_delete_user(&user.id).await.unwrap();
    assert_eq!(
        harness.get(&format!("/users/{}", user.id)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        control.user(&user.id).await.unwrap().state,
        Lifecycle::SoftDeleted
    );
    control.restore_user(&user.id).await.unwrap();
    assert_eq!(
        harness.get(&format!("/users/{}", user.id)).await.status,
        StatusCode::OK
    );
    control.hard_delete_user(&user.id).await.unwrap();
    assert!(matches!(
        control.user(&user.id).await,
        Err(ControlError::Refused {
            status: StatusCode::NOT_FOUND,
            ..
        })
    ));
}

#[tokio::test]
async fn group_memberships_change_through_the_control_api() {
    let harness = Harness::small().await;
    let control = harness.control();
    let alice = control
        .create_user(json!({"displayName": "Alice"}))
        .await
        .unwrap();
    let group = control
        .create_group(json!({"displayName": "Readers", "members": [alice.id]}))
        .await
        .unwrap();
    assert_eq!(group.property("mailEnabled"), &json!(true));
    assert_eq!(group.property("securityEnabled"), &json!(false));
    let bob = control
        .create_user(json!({"displayName": "Bob"}))
        .await
        .unwrap();
    let after = control.add_members(&group.id, &[&bob.id]).await.unwrap();
    assert_eq!(after.members, [alice.id.clone(), bob.id.clone()]);
    control
        .remove_members(&group.id, &[&alice.id])
        .await
        .unwrap();
    let listed = harness
        .all(&format!("/groups/{}/members?$select=id", group.id))
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], bob.id);
}

#[tokio::test]
async fn the_control_api_explains_what_is_wrong() {
    let harness = Harness::small().await;
    let control = harness.control();
    fn refused<T: std::fmt::Debug>(result: Result<T, ControlError>) -> (StatusCode, String) {
        match result {
            Err(ControlError::Refused {
                status, message, ..
            }) => (status, message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let (status, message) = refused(control.create_user(json!({"shoeSize": 44})).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("shoeSize") && message.contains("proxyAddresses"),
        "{message}"
    );
    let (status, _) = refused(
        control
            .update_user("no-such-id", json!({"displayName": "x"}))
            .await,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    let user = control
        .create_user(json!({"displayName": "Live"}))
        .await
        .unwrap();
    let (status, _) = refused(control.restore_user(&user.id).await);
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, message) = refused(
        control
            .update_user(&user.id, json!({"proxyAddresses": null}))
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("never null"), "{message}");
    let (status, _) = refused(control.set_fault_rate(1.5).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_summary_describes_the_tenant() {
    let harness = Harness::small().await;
    let summary = harness.control().summary().await.unwrap();
    assert_eq!(summary.tenant_id, harness.tenant().tenant_id);
    assert_eq!(summary.default_domain, harness.tenant().tenant);
    assert_eq!(summary.client_id, harness.tenant().client_id);
    assert_eq!(summary.roles, ["Directory.Read.All"]);
    assert!(
        summary
            .verified_domains
            .iter()
            .any(|d| d.ends_with(".onmicrosoft.com"))
    );
    assert_eq!(summary.unverified_domains.len(), 1);
    assert_eq!(summary.groups, 12);
}

#[tokio::test]
async fn a_hard_deleted_users_name_can_be_taken_again_and_a_soft_deleted_ones_cannot() {
    let harness = Harness::small().await;
    let control = harness.control();
    let grace = control
        .create_user(json!({"displayName": "Grace", "mailNickname": "grace"}))
        .await
        .unwrap();
    let ada = control
        .create_user(json!({"displayName": "Ada", "mailNickname": "ada"}))
        .await
        .unwrap();
    control.hard_delete_user(&grace.id).await.unwrap();
    control.soft_delete_user(&ada.id).await.unwrap();

    let successor = control
        .create_user(json!({"displayName": "Grace again", "mailNickname": "grace"}))
        .await;
    let ada_again = control
        .create_user(json!({"displayName": "Ada again", "mailNickname": "ada"}))
        .await;

    let successor = successor.expect("a purged user's userPrincipalName is free");
    assert_ne!(successor.id, grace.id);
    assert_eq!(
        successor.property("userPrincipalName"),
        grace.property("userPrincipalName")
    );
    assert!(
        matches!(
            ada_again,
            Err(ControlError::Refused {
                status: StatusCode::CONFLICT,
                ..
            })
        ),
        "a soft-deleted user can be restored, so its name stays taken: {ada_again:?}"
    );
}
