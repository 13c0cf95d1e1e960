//! Nested groups added by one large apply: every group holds its member groups after the
//! apply, whatever order the groups were written in.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn groups_nested_across_apply_batches_hold_their_member_groups_after_one_apply() {
    let app = TestApp::unsynced().await;
    // Enough groups that the first and the last are written in different store batches; the
    // first nests the last, which does not exist yet when the first is written.
    let mut ids = Vec::new();
    for n in 0..700 {
        let group = json!({"displayName": format!("Team {n:03}"), "mailEnabled": false, "securityEnabled": true});
        ids.push(app.control.create_group(group).await.unwrap().id);
    }
    app.control
        .add_members(&ids[0], &[ids[699].as_str()])
        .await
        .unwrap();
    app.control
        .add_members(&ids[699], &[ids[0].as_str()])
        .await
        .unwrap();

    let outcome = app.sync().await;
    assert!(
        outcome.run.failures.is_empty(),
        "{:?}",
        outcome.run.failures
    );

    let first = app.group(&ids[0]).await.expect("the first group is synced");
    let last = app
        .group(&ids[699])
        .await
        .expect("the last group is synced");
    assert_eq!(
        first.member_groups,
        vec![last.id],
        "the first group holds the group added after it"
    );
    assert_eq!(last.member_groups, vec![first.id]);
    let plan = app.preview().await;
    assert!(
        plan.changes.is_empty(),
        "one apply converges: {:?}",
        plan.changes.iter().map(|c| &c.summary).collect::<Vec<_>>()
    );
}
