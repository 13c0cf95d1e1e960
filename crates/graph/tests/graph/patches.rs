//! Applying patches to mirror records: absent keeps, null clears, members accumulate once.

use roster_domain::{DirectoryMember, MemberType};
use roster_graph::{DirectoryEvent, GroupPatch, Patch};
use serde_json::json;

use crate::support::id;

fn group_patch(body: serde_json::Value) -> GroupPatch {
    match roster_graph::parse::group_page(json!({ "value": [body] }).to_string().as_bytes())
        .unwrap()
        .items
        .remove(0)
    {
        DirectoryEvent::Group(patch) => patch,
        other => panic!("expected a group patch, got {other:?}"),
    }
}

fn user(member: &str) -> DirectoryMember {
    DirectoryMember {
        id: id(member),
        kind: MemberType::User,
    }
}

#[test]
fn a_new_group_takes_only_the_properties_present() {
    let group = group_patch(json!({"id": "g1", "displayName": "Sales"})).apply(None);
    assert_eq!(group.display_name.as_deref(), Some("Sales"));
    assert_eq!(group.mail, None);
    assert!(group.proxy_addresses.is_empty() && group.members.is_empty());
}

#[test]
fn null_clears_and_absence_keeps() {
    let before = group_patch(json!({"id": "g1", "displayName": "Sales", "mail": "s@contoso.com", "proxyAddresses": ["SMTP:s@contoso.com"]})).apply(None);
    let after =
        group_patch(json!({"id": "g1", "mail": null, "proxyAddresses": null})).apply(Some(before));
    assert_eq!(after.display_name.as_deref(), Some("Sales"));
    assert_eq!(after.mail, None);
    assert!(after.proxy_addresses.is_empty());
}

#[test]
fn members_arriving_twice_are_kept_once_in_arrival_order() {
    let first = group_patch(
        json!({"id": "g1", "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u2"}, {"@odata.type": "#microsoft.graph.user", "id": "u1"}]}),
    );
    let again = GroupPatch::members_only(id("g1"), vec![user("u1"), user("u3"), user("u3")]);
    let group = again.apply(Some(first.apply(None)));
    assert_eq!(group.members, [user("u2"), user("u1"), user("u3")]);
}

#[test]
fn removed_members_leave_and_others_stay() {
    let group = GroupPatch::members_only(id("g1"), vec![user("u1"), user("u2")]).apply(None);
    let removal = group_patch(
        json!({"id": "g1", "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u1", "@removed": {"reason": "deleted"}}]}),
    );
    assert_eq!(removal.members_removed, [user("u1")]);
    assert_eq!(removal.display_name, Patch::Unchanged);
    assert_eq!(removal.apply(Some(group)).members, [user("u2")]);
}
