//! §2: a group's full recipient list is its transitive expansion; cycles are tolerated.

use std::collections::BTreeSet;

use roster_domain::{GroupId, GroupKind, UserId};
use roster_plan::Recipients;

use crate::support::*;

#[test]
fn a_groups_recipients_include_the_members_of_its_nested_groups_at_any_depth() {
    let users: Vec<_> = ["a", "b", "c"]
        .map(|name| manual_user(&format!("{name}@contoso.com")))
        .into();
    let mut inner = manual_group("Inner", GroupKind::Security, None);
    inner.member_users = vec![users[2].id];
    let mut middle = manual_group("Middle", GroupKind::Security, None);
    middle.member_users = vec![users[1].id];
    middle.member_groups = vec![inner.id];
    let mut outer = manual_group("Outer", GroupKind::Distribution, Some("all@contoso.com"));
    outer.member_users = vec![users[0].id, users[1].id];
    outer.member_groups = vec![middle.id];
    let groups = [outer.clone(), middle.clone(), inner.clone()];
    let recipients = Recipients::new(&groups);
    let expected: BTreeSet<UserId> = users.iter().map(|u| u.id).collect();
    assert_eq!(recipients.of(outer.id), expected);
    assert_eq!(recipients.of(inner.id), BTreeSet::from([users[2].id]));
}

#[test]
fn a_cycle_of_groups_expands_once() {
    let jane = manual_user("jane@contoso.com");
    let bob = manual_user("bob@contoso.com");
    let mut a = manual_group("A", GroupKind::Security, None);
    let mut b = manual_group("B", GroupKind::Security, None);
    a.member_users = vec![jane.id];
    a.member_groups = vec![b.id, a.id];
    b.member_users = vec![bob.id];
    b.member_groups = vec![a.id];
    let groups = [a.clone(), b.clone()];
    let recipients = Recipients::new(&groups);
    assert_eq!(recipients.of(a.id), BTreeSet::from([jane.id, bob.id]));
    assert_eq!(recipients.of(b.id), BTreeSet::from([jane.id, bob.id]));
}

#[test]
fn a_group_the_account_does_not_hold_reaches_nobody() {
    let recipients = Recipients::new(&[]);
    assert_eq!(recipients.of(GroupId::new()), BTreeSet::new());
}
