//! The in-memory apply that the sync engine and these tests share.

use roster_domain::plan::Category;
use roster_domain::{GroupKind, MemberType};
use roster_plan::{AccountSnapshot, ApplyError, apply_to_snapshot};

use crate::support::*;

#[test]
fn applying_a_plan_and_planning_again_proposes_nothing() {
    let mut world = World::contoso();
    world.users.push(manual_user("jane@contoso.com"));
    world.users.push(synced_user("gone", "gone@contoso.com"));
    world.users.push(synced_user("bob", "robert@contoso.com"));
    world.directory_users.extend([
        entra_user("jane", "jane@contoso.com"),
        entra_user("bob", "bob@contoso.com"),
        entra_user("mia", "mia@contoso.com"),
    ]);
    world.directory_groups.push(with_members(
        entra_group(
            "sales",
            "Sales",
            GroupKind::Distribution,
            Some("sales@contoso.com"),
        ),
        &[
            ("jane", MemberType::User),
            ("mia", MemberType::User),
            ("sec", MemberType::Group),
        ],
    ));
    world
        .directory_groups
        .push(entra_group("sec", "Security", GroupKind::Security, None));
    let plan = world.plan();
    assert_eq!(plan.changes.len(), 6, "{:#?}", plan.changes);
    world.apply(&plan.changes);
    assert!(world.plan().is_empty(), "{:#?}", world.plan().changes);
}

#[test]
fn a_change_whose_object_moved_on_since_planning_is_rejected_as_stale() {
    let mut world = World::contoso();
    world.users.push(synced_user("u1", "jane@contoso.com"));
    world
        .directory_users
        .push(entra_user("u1", "jane.doe@contoso.com"));
    let plan = world.plan();
    world.users[0].version += 1;
    let mut snapshot = AccountSnapshot {
        account_id: world.account.id,
        users: world.users.clone(),
        groups: vec![],
    };
    let failures = apply_to_snapshot(&mut snapshot, &plan.changes);
    assert!(
        matches!(
            failures[..],
            [ApplyError::Stale {
                expected: 3,
                found: 4,
                ..
            }]
        ),
        "{failures:?}"
    );
    assert_eq!(
        snapshot.users, world.users,
        "a stale change changes nothing"
    );
}

#[test]
fn a_member_whose_addition_was_not_applied_is_left_out_as_the_store_leaves_it_and_proposed_again() {
    let mut world = World::contoso();
    world
        .directory_users
        .push(entra_user("jane", "jane@contoso.com"));
    world.directory_groups.push(with_members(
        entra_group(
            "sales",
            "Sales",
            GroupKind::Distribution,
            Some("sales@contoso.com"),
        ),
        &[("jane", MemberType::User)],
    ));
    let plan = world.plan();

    world.apply(plan.in_category(Category::GroupsToAdd));

    assert_eq!(world.groups.len(), 1);
    assert_eq!(world.groups[0].member_users, [], "jane is not held yet");
    let next = world.plan();
    let categories: Vec<Category> = next.changes.iter().map(|c| c.category).collect();
    assert_eq!(
        categories,
        [Category::UsersToAdd, Category::GroupsToUpdate],
        "{:#?}",
        next.changes
    );
    world.apply(&next.changes);
    let jane = world
        .users
        .iter()
        .find(|u| u.external_id == Some(ext("jane")));
    assert_eq!(
        world.groups[0].member_users,
        [jane.expect("jane is added").id]
    );
    assert!(world.plan().is_empty(), "{:#?}", world.plan().changes);
}
