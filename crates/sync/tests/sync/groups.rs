//! Directory groups changing: names, members, nesting and deletion.

use serde_json::json;

use crate::support::{TestApp, described};

#[tokio::test]
async fn a_renamed_group_is_an_update_of_its_name_only() {
    let app = TestApp::synced().await;
    let engineering = &app.directory.engineering;
    app.control
        .update_group(engineering, json!({"displayName": "Engineering Team"}))
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [format!(
            "groups_to_update {engineering}: changed in the directory: name [name: Engineering → Engineering Team]"
        )]
    );
    app.apply(&plan).await;
    assert_eq!(
        app.group(engineering).await.unwrap().name,
        "Engineering Team"
    );
    assert!(app.preview().await.is_empty());
}

#[tokio::test]
async fn members_added_and_removed_in_the_directory_are_one_member_update() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    app.control
        .add_members(&d.engineering, &[d.alan.as_str()])
        .await
        .unwrap();
    app.control
        .remove_members(&d.engineering, &[d.grace.as_str()])
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [format!(
            "groups_to_update {}: changed in the directory: members_added, members_removed [members_added: — → [alan@contoso-europe.com]; members_removed: [grace@contoso.com] → —]",
            d.engineering
        )]
    );
    app.apply(&plan).await;
    let group = app.group(&d.engineering).await.unwrap();
    let ada = app.user(&d.ada).await.unwrap();
    let alan = app.user(&d.alan).await.unwrap();
    let mut expected = vec![ada.id, alan.id];
    expected.sort();
    let mut members = group.member_users.clone();
    members.sort();
    assert_eq!(members, expected);
}

#[tokio::test]
async fn a_nested_group_is_kept_as_a_member_group_and_a_cycle_is_tolerated() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    let all_hands = app
        .control
        .create_group(
            json!({"displayName": "All Hands", "mailNickname": "all-hands", "members": [d.staff]}),
        )
        .await
        .unwrap()
        .id;
    app.control
        .add_members(&d.staff, &[all_hands.as_str()])
        .await
        .unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [
            format!(
                "groups_to_add {all_hands}: new in the directory [name: — → All Hands; kind: — → distribution; address: — → all-hands@contoso.com; members_added: — → [group Staff]]"
            ),
            format!(
                "groups_to_update {}: changed in the directory: members_added [members_added: — → [group All Hands (all-hands@contoso.com)]]",
                d.staff
            ),
        ]
    );
    app.apply(&plan).await;
    let staff = app.group(&d.staff).await.unwrap();
    let added = app.group(&all_hands).await.expect("All Hands is added");
    assert_eq!(added.member_groups, [staff.id]);
    assert!(staff.member_groups.contains(&added.id), "the cycle is kept");
    assert!(app.preview().await.is_empty());
}

#[tokio::test]
async fn a_deleted_group_is_removed_and_leaves_the_groups_it_was_nested_in() {
    let app = TestApp::synced().await;
    let d = &app.directory;
    app.control.hard_delete_group(&d.engineering).await.unwrap();

    let plan = app.preview().await;

    assert_eq!(
        described(&plan),
        [
            format!(
                "groups_to_update {}: changed in the directory: members_removed [members_removed: [group Engineering (engineering@contoso.com)] → —]",
                d.staff
            ),
            format!(
                "groups_to_remove {}: deleted in the directory [group: Engineering (engineering@contoso.com) → —]",
                d.engineering
            ),
        ]
    );
    app.apply(&plan).await;
    assert!(app.group(&d.engineering).await.is_none());
    assert!(app.group(&d.staff).await.unwrap().member_groups.is_empty());
    assert!(app.user(&d.ada).await.is_some(), "its members stay");
}
