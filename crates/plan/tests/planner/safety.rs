//! §5: safety. Mass removals are flagged for the deletion limit; a failed or partial read never
//! removes anything.

use roster_domain::plan::Category;
use roster_domain::{DeletionLimit, GroupKind};
use roster_plan::{MirrorRead, PlanError};

use crate::support::*;

/// An account holding `synced` synced users of which the directory still has `remaining`.
fn account_losing_users(synced: usize, remaining: usize) -> World {
    let mut world = World::contoso();
    for n in 0..synced {
        let (id, address) = (format!("u{n}"), format!("user{n}@contoso.com"));
        world.users.push(synced_user(&id, &address));
        if n < remaining {
            world.directory_users.push(entra_user(&id, &address));
        }
    }
    world
}

#[test]
fn removing_more_than_the_limit_of_synced_users_exceeds_the_deletion_limit() {
    let plan = account_losing_users(100, 89).plan();
    let check = plan.deletion_check;
    assert_eq!((check.user_removals, check.synced_users), (11, 100));
    assert!(check.exceeded);
}

#[test]
fn removals_within_the_limit_or_below_its_minimum_count_do_not_exceed_it() {
    assert!(
        !account_losing_users(100, 90).plan().deletion_check.exceeded,
        "exactly 10%"
    );
    assert!(
        !account_losing_users(20, 11).plan().deletion_check.exceeded,
        "45% but only 9 objects"
    );
}

#[test]
fn group_removals_alone_can_exceed_the_deletion_limit() {
    let mut world = account_losing_users(5, 5);
    for n in 0..20 {
        world.groups.push(synced_group(
            &format!("g{n}"),
            &format!("Group {n}"),
            GroupKind::Security,
            None,
        ));
    }
    world.settings.deletion_limit = DeletionLimit::new(25, 5).unwrap();
    let check = world.plan().deletion_check;
    assert_eq!(
        (
            check.user_removals,
            check.group_removals,
            check.synced_groups
        ),
        (0, 20, 20)
    );
    assert!(check.exceeded);
}

#[test]
fn removals_the_settings_do_not_allow_do_not_count_toward_the_limit() {
    let mut world = account_losing_users(100, 50);
    world.settings.actions.remove_users = false;
    let plan = world.plan();
    assert_eq!(plan.in_category(Category::UsersToRemove).count(), 50);
    assert!(!plan.deletion_check.exceeded);
}

#[test]
fn an_incomplete_read_produces_no_removals() {
    let mut world = account_losing_users(10, 5);
    world
        .directory_users
        .push(entra_user("new", "new@contoso.com"));
    world.read = MirrorRead::Incomplete;
    let plan = world.plan();
    assert_eq!(plan.in_category(Category::UsersToRemove).count(), 0);
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user new@contoso.com (new)"]
    );
}

#[test]
fn a_read_with_no_active_users_fails_when_the_account_has_synced_users() {
    let mut world = account_losing_users(3, 0);
    world.directory_users.push(roster_domain::DirectoryUser {
        user_type: Some("Guest".to_owned()),
        ..entra_user("guest", "guest@fabrikam.com")
    });
    let error = world.try_plan().unwrap_err();
    assert_eq!(error, PlanError::NoActiveUsersRead { synced_users: 3 });
    assert!(error.to_string().contains("removes nobody"), "{error}");
}

#[test]
fn an_empty_read_is_a_plan_for_an_account_without_synced_users() {
    let mut world = World::contoso();
    world.users.push(manual_user("jane@contoso.com"));
    assert!(world.plan().is_empty());
}
