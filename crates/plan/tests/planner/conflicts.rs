//! §1 and §3: an address routes to exactly one object, so addresses the directory claims are
//! settled against other accounts, other directory objects and the account's own objects.

use roster_domain::plan::{Category, SkipReason};
use roster_domain::{GroupKind, Role};

use crate::support::*;

#[test]
fn an_address_owned_by_another_account_is_skipped_naming_the_account() {
    let mut world = World::contoso();
    world
        .other_accounts
        .insert(addr("jane@contoso.com"), "Fabrikam".to_owned());
    world
        .directory_users
        .push(entra_user("u1", "jane@contoso.com"));
    let plan = world.plan();
    assert!(plan.is_empty());
    assert_eq!(
        skip_reasons(&plan, "u1"),
        [SkipReason::OwnedByAnotherAccount]
    );
    assert_eq!(
        skip_details(&plan, "u1"),
        ["primary address jane@contoso.com belongs to the account Fabrikam"]
    );
}

#[test]
fn an_alias_owned_by_another_account_is_only_dropped() {
    let mut world = World::contoso();
    world
        .other_accounts
        .insert(addr("shared@contoso.com"), "Fabrikam".to_owned());
    world.directory_users.push(with_aliases(
        entra_user("u1", "jane@contoso.com"),
        &["shared@contoso.com"],
    ));
    let plan = world.plan();
    let fields = added_user(&plan, "u1");
    assert_eq!(fields.aliases, []);
    assert_eq!(
        skip_reasons(&plan, "u1"),
        [SkipReason::OwnedByAnotherAccount]
    );
}

#[test]
fn a_synced_user_whose_new_primary_another_account_owns_is_kept_as_it_is() {
    let mut world = World::contoso();
    world
        .other_accounts
        .insert(addr("new@contoso.com"), "Fabrikam".to_owned());
    world.users.push(synced_user("u1", "old@contoso.com"));
    world
        .directory_users
        .push(entra_user("u1", "new@contoso.com"));
    let plan = world.plan();
    assert!(
        plan.is_empty(),
        "neither updated nor removed: {:?}",
        plan.changes
    );
    assert_eq!(
        skip_reasons(&plan, "u1"),
        [SkipReason::OwnedByAnotherAccount]
    );
}

#[test]
fn two_new_directory_objects_claiming_one_primary_are_both_skipped() {
    let mut world = World::contoso();
    world
        .directory_users
        .push(entra_user("u1", "info@contoso.com"));
    world.directory_groups.push(entra_group(
        "g1",
        "Info",
        GroupKind::Distribution,
        Some("info@contoso.com"),
    ));
    world
        .directory_users
        .push(entra_user("u2", "bob@contoso.com"));
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user bob@contoso.com (bob)"]
    );
    assert_eq!(summaries(&plan, Category::GroupsToAdd), [""; 0]);
    assert_eq!(skip_reasons(&plan, "u1"), [SkipReason::DuplicateInTenant]);
    assert_eq!(skip_reasons(&plan, "g1"), [SkipReason::DuplicateInTenant]);
    assert_eq!(
        skip_details(&plan, "u1"),
        [
            "primary address info@contoso.com is also claimed by Info <info@contoso.com>; \
          no object gets it until the directory is corrected, and the object is skipped"
        ]
    );
}

#[test]
fn a_contested_address_stays_with_the_object_that_holds_it_today() {
    let mut world = World::contoso();
    world.users.push(synced_user("u1", "info@contoso.com"));
    world.directory_users.push(roster_domain::DirectoryUser {
        display_name: Some("Info desk".to_owned()),
        ..entra_user("u1", "info@contoso.com")
    });
    world
        .directory_users
        .push(entra_user("u2", "info@contoso.com"));
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToUpdate),
        ["Update user info@contoso.com"]
    );
    assert_eq!(summaries(&plan, Category::UsersToAdd), [""; 0]);
    assert_eq!(skip_reasons(&plan, "u2"), [SkipReason::DuplicateInTenant]);
}

#[test]
fn an_alias_collision_only_drops_the_alias() {
    let mut world = World::contoso();
    let with_alias = |id: &str, primary: &str| roster_domain::DirectoryUser {
        proxy_addresses: vec![
            format!("SMTP:{primary}"),
            "smtp:team@contoso.com".to_owned(),
        ],
        ..entra_user(id, primary)
    };
    world
        .directory_users
        .push(with_alias("u1", "jane@contoso.com"));
    world
        .directory_users
        .push(with_alias("u2", "bob@contoso.com"));
    world
        .directory_users
        .push(entra_user("u3", "support@contoso.com"));
    world.directory_users.push(with_aliases(
        entra_user("u4", "mia@contoso.com"),
        &["support@contoso.com"],
    ));
    let plan = world.plan();
    assert_eq!(plan.in_category(Category::UsersToAdd).count(), 4);
    let aliases = |id: &str| added_user(&plan, id).aliases;
    assert_eq!(
        (aliases("u1"), aliases("u2"), aliases("u4")),
        (vec![], vec![], vec![])
    );
    assert_eq!(
        skip_reasons(&plan, "u4"),
        [SkipReason::DuplicateInTenant],
        "a primary beats an alias"
    );
    assert_eq!(skip_reasons(&plan, "u3"), []);
}

#[test]
fn an_address_held_as_an_alias_by_a_different_manual_user_is_dropped_as_a_conflict() {
    let mut world = World::contoso();
    world.users.push(roster_domain::User {
        aliases: vec![addr("sales@contoso.com")],
        ..manual_user("mia@contoso.com")
    });
    world.directory_users.push(with_aliases(
        entra_user("u1", "jane@contoso.com"),
        &["sales@contoso.com"],
    ));
    let plan = world.plan();
    let fields = added_user(&plan, "u1");
    assert_eq!(fields.aliases, []);
    assert_eq!(
        skip_reasons(&plan, "u1"),
        [SkipReason::ConflictsWithExisting]
    );
    assert_eq!(
        skip_details(&plan, "u1"),
        ["alias sales@contoso.com is held by the manual user mia@contoso.com and is dropped"]
    );
}

#[test]
fn a_user_whose_primary_a_manual_group_holds_is_skipped_as_a_conflict() {
    let mut world = World::contoso();
    world.groups.push(manual_group(
        "Sales",
        GroupKind::Distribution,
        Some("sales@contoso.com"),
    ));
    world
        .directory_users
        .push(entra_user("u1", "sales@contoso.com"));
    let plan = world.plan();
    assert!(plan.is_empty());
    assert_eq!(
        skip_details(&plan, "u1"),
        ["primary address sales@contoso.com is held by the manual group Sales (sales@contoso.com)"]
    );
}

#[test]
fn an_address_freed_by_a_removal_in_the_same_plan_can_be_taken() {
    let mut world = World::contoso();
    world.users.push(synced_user("old", "desk@contoso.com"));
    world
        .directory_users
        .push(entra_user("new", "desk@contoso.com"));
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user desk@contoso.com (desk)"]
    );
    assert_eq!(
        summaries(&plan, Category::UsersToRemove),
        ["Remove user desk@contoso.com"]
    );
    world.apply(&plan.changes);
    assert!(world.plan().is_empty());
}

#[test]
fn an_address_kept_by_an_object_sync_may_not_remove_cannot_be_taken() {
    let mut world = World::contoso();
    world.users.push(roster_domain::User {
        role: Role::OrganizationAdmin,
        ..synced_user("old", "desk@contoso.com")
    });
    world
        .directory_users
        .push(entra_user("new", "desk@contoso.com"));
    let plan = world.plan();
    assert!(plan.is_empty());
    assert_eq!(
        skip_reasons(&plan, "new"),
        [SkipReason::ConflictsWithExisting]
    );
    assert_eq!(
        skip_reasons(&plan, "old"),
        [SkipReason::ProtectedFromRemoval]
    );
}

#[test]
fn an_address_kept_because_removals_are_switched_off_cannot_be_taken() {
    let mut world = World::contoso();
    world.settings.actions.remove_users = false;
    world.users.push(synced_user("old", "desk@contoso.com"));
    world
        .directory_users
        .push(entra_user("new", "desk@contoso.com"));
    let plan = world.plan();
    assert_eq!(summaries(&plan, Category::UsersToAdd), [""; 0]);
    assert!(!change_for(&plan, "old").allowed_by_settings);
    assert_eq!(
        skip_reasons(&plan, "new"),
        [SkipReason::ConflictsWithExisting]
    );
}

#[test]
fn a_kept_object_keeps_its_aliases_from_other_claimants() {
    let mut world = World::contoso();
    world
        .other_accounts
        .insert(addr("jane.new@contoso.com"), "Fabrikam".to_owned());
    world.users.push(roster_domain::User {
        aliases: vec![addr("desk@contoso.com")],
        ..synced_user("u1", "jane@contoso.com")
    });
    world
        .directory_users
        .push(entra_user("u1", "jane.new@contoso.com"));
    world.directory_users.push(with_aliases(
        entra_user("u2", "bob@contoso.com"),
        &["desk@contoso.com"],
    ));
    world
        .directory_users
        .push(entra_user("u3", "jane@contoso.com"));
    let plan = world.plan();
    let fields = added_user(&plan, "u2");
    assert_eq!(fields.aliases, [], "desk@ stays with the kept user");
    assert_eq!(
        skip_reasons(&plan, "u3"),
        [SkipReason::ConflictsWithExisting]
    );
    assert_eq!(plan.changes.len(), 1);
}

#[test]
fn a_synced_object_kept_over_a_conflict_keeps_its_old_addresses_from_other_claimants() {
    let mut world = World::contoso();
    world.users.push(manual_user("mia@contoso.com"));
    world.users.push(roster_domain::User {
        aliases: vec![addr("desk@contoso.com")],
        ..synced_user("u1", "jane@contoso.com")
    });
    world
        .directory_users
        .push(entra_user("u1", "mia@contoso.com"));
    world.directory_users.push(with_aliases(
        entra_user("u2", "bob@contoso.com"),
        &["desk@contoso.com"],
    ));
    let plan = world.plan();
    assert_eq!(
        skip_details(&plan, "u1"),
        ["primary address mia@contoso.com is held by the manual user mia@contoso.com"]
    );
    assert_eq!(
        skip_details(&plan, "u2"),
        ["alias desk@contoso.com is held by the synced user jane@contoso.com and is dropped"]
    );
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user bob@contoso.com (bob)"]
    );
    assert_eq!(plan.changes.len(), 1);
}
