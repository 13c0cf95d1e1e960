//! §3: the plan and its categories.

use roster_domain::plan::{Category, ChangeAction, SkipReason};
use roster_domain::{GroupKind, MemberType, NewUserRole, Role, Source};

use crate::support::*;

#[test]
fn a_new_user_gets_the_connections_default_role() {
    let mut world = World::contoso();
    world.settings.default_role = NewUserRole::SilentUser;
    world
        .directory_users
        .push(entra_user("u1", "jane@contoso.com"));
    let plan = world.plan();
    let change = change_for(&plan, "u1");
    assert!(matches!(
        change.action,
        ChangeAction::AddUser {
            role: NewUserRole::SilentUser,
            ..
        }
    ));
    assert_eq!(
        attribute(change, "role"),
        Some(("-".to_owned(), "silent_user".to_owned()))
    );
    world.apply(&plan.changes);
    assert_eq!(
        (world.users[0].role, world.users[0].digests),
        (Role::SilentUser, false)
    );
}

#[test]
fn a_manual_user_with_the_same_address_is_linked_not_duplicated() {
    let mut world = World::contoso();
    world.users.push(manual_user("jane@contoso.com"));
    world
        .directory_users
        .push(entra_user("u1", "Jane@contoso.com"));
    let plan = world.plan();
    assert_eq!(summaries(&plan, Category::UsersToAdd), [""; 0]);
    assert_eq!(
        summaries(&plan, Category::UsersToUpdate),
        ["Link existing user jane@contoso.com to the directory"]
    );
    let change = change_for(&plan, "u1");
    assert!(matches!(
        change.action,
        ChangeAction::LinkUser {
            expected_version: 3,
            ..
        }
    ));
    assert_eq!(
        attribute(change, "source"),
        Some(("manual".to_owned(), "directory".to_owned()))
    );
    assert_eq!(
        attribute(change, "first_name"),
        Some(("-".to_owned(), "Jane".to_owned()))
    );
    world.apply(&plan.changes);
    assert_eq!(world.users.len(), 1);
    assert_eq!(
        (world.users[0].source, world.users[0].external_id.clone()),
        (Source::Directory, Some(ext("u1")))
    );
}

#[test]
fn a_manual_user_holding_the_directory_primary_as_an_alias_is_linked() {
    let mut world = World::contoso();
    world.users.push(roster_domain::User {
        aliases: vec![addr("jane@contoso.com")],
        ..manual_user("jd@contoso.com")
    });
    world
        .directory_users
        .push(entra_user("u1", "jane@contoso.com"));
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToUpdate),
        ["Link existing user jd@contoso.com to the directory"]
    );
    let change = change_for(&plan, "u1");
    assert_eq!(
        attribute(change, "primary_address"),
        Some(("jd@contoso.com".to_owned(), "jane@contoso.com".to_owned()))
    );
    assert_eq!(
        attribute(change, "aliases"),
        Some(("[jane@contoso.com]".to_owned(), "[]".to_owned()))
    );
}

#[test]
fn a_manual_group_with_the_same_address_is_linked() {
    let mut world = World::contoso();
    world.groups.push(manual_group(
        "Sales team",
        GroupKind::Distribution,
        Some("sales@contoso.com"),
    ));
    world.directory_groups.push(entra_group(
        "g1",
        "Sales",
        GroupKind::Distribution,
        Some("sales@contoso.com"),
    ));
    let plan = world.plan();
    assert_eq!(summaries(&plan, Category::GroupsToAdd), [""; 0]);
    assert_eq!(
        summaries(&plan, Category::GroupsToUpdate),
        ["Link existing group Sales team (sales@contoso.com) to the directory"]
    );
    assert!(matches!(
        change_for(&plan, "g1").action,
        ChangeAction::LinkGroup {
            expected_version: 2,
            ..
        }
    ));
}

#[test]
fn changed_addresses_and_names_are_updates_with_before_and_after_values() {
    let mut world = World::contoso();
    world.users.push(synced_user("u1", "jane@contoso.com"));
    world.directory_users.push(roster_domain::DirectoryUser {
        proxy_addresses: vec![
            "SMTP:jane.doe@contoso.com".to_owned(),
            "smtp:jane@contoso.com".to_owned(),
        ],
        given_name: Some("Jane".to_owned()),
        surname: Some("Doe".to_owned()),
        display_name: Some("Jane Doe".to_owned()),
        ..entra_user("u1", "jane.doe@contoso.com")
    });
    let plan = world.plan();
    let change = change_for(&plan, "u1");
    assert_eq!(change.summary, "Update user jane@contoso.com");
    assert_eq!(
        change.reason,
        "changed in the directory: primary_address, aliases, first_name, last_name, display_name"
    );
    let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
    assert_eq!(
        attribute(change, "primary_address"),
        pair("jane@contoso.com", "jane.doe@contoso.com")
    );
    assert_eq!(
        attribute(change, "aliases"),
        pair("[]", "[jane@contoso.com]")
    );
    assert_eq!(attribute(change, "first_name"), pair("jane", "Jane"));
    assert_eq!(attribute(change, "last_name"), pair("-", "Doe"));
    assert_eq!(attribute(change, "display_name"), pair("jane", "Jane Doe"));
}

#[test]
fn an_unchanged_synced_object_produces_no_change() {
    let mut world = World::contoso();
    world.with_synced_user("u1", "jane@contoso.com");
    world.groups.push(synced_group(
        "g1",
        "Sales",
        GroupKind::Distribution,
        Some("sales@contoso.com"),
    ));
    world.directory_groups.push(entra_group(
        "g1",
        "Sales",
        GroupKind::Distribution,
        Some("sales@contoso.com"),
    ));
    assert!(world.plan().is_empty());
}

#[test]
fn the_role_never_changes_when_sync_updates_or_links_a_user() {
    let mut world = World::contoso();
    world.users.push(roster_domain::User {
        role: Role::OrganizationAdmin,
        ..synced_user("admin", "boss@contoso.com")
    });
    world.users.push(roster_domain::User {
        role: Role::SilentUser,
        digests: true,
        ..manual_user("quiet@contoso.com")
    });
    world.directory_users.push(roster_domain::DirectoryUser {
        display_name: Some("The Boss".to_owned()),
        ..entra_user("admin", "boss@contoso.com")
    });
    world
        .directory_users
        .push(entra_user("quiet", "quiet@contoso.com"));
    let plan = world.plan();
    assert!(plan.changes.iter().all(|c| attribute(c, "role").is_none()));
    world.apply(&plan.changes);
    let roles: Vec<(Role, bool)> = world.users.iter().map(|u| (u.role, u.digests)).collect();
    assert_eq!(
        roles,
        [(Role::OrganizationAdmin, true), (Role::SilentUser, true)]
    );
}

#[test]
fn group_name_kind_address_aliases_and_members_are_updated() {
    let mut world = World::contoso();
    world.users.push(synced_user("jane", "jane@contoso.com"));
    world.users.push(synced_user("bob", "bob@contoso.com"));
    world.directory_users.extend([
        entra_user("jane", "jane@contoso.com"),
        entra_user("bob", "bob@contoso.com"),
    ]);
    let mut group = synced_group(
        "g1",
        "Sales",
        GroupKind::Distribution,
        Some("sales@contoso.com"),
    );
    group.member_users = vec![world.users[0].id];
    world.groups.push(group);
    world.directory_groups.push(roster_domain::DirectoryGroup {
        proxy_addresses: vec![
            "SMTP:sales-team@contoso.com".to_owned(),
            "smtp:sales@contoso.com".to_owned(),
        ],
        members: vec![member("bob", MemberType::User)],
        ..entra_group(
            "g1",
            "Sales team",
            GroupKind::MailEnabledSecurity,
            Some("sales-team@contoso.com"),
        )
    });
    let plan = world.plan();
    let change = change_for(&plan, "g1");
    assert_eq!(change.summary, "Update group Sales (sales@contoso.com)");
    assert_eq!(
        change.reason,
        "changed in the directory: name, kind, address, aliases, members_added, members_removed"
    );
    let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
    assert_eq!(
        attribute(change, "kind"),
        pair("distribution", "mail_enabled_security")
    );
    assert_eq!(
        attribute(change, "address"),
        pair("sales@contoso.com", "sales-team@contoso.com")
    );
    assert_eq!(
        attribute(change, "members_added"),
        pair("-", "[bob@contoso.com]")
    );
    assert_eq!(
        attribute(change, "members_removed"),
        pair("[jane@contoso.com]", "-")
    );
}

#[test]
fn a_group_update_carries_only_the_members_that_join_and_leave() {
    let mut world = World::contoso();
    let names = ["ann", "bob", "cat", "dan"];
    for name in names {
        let address = format!("{name}@contoso.com");
        world.users.push(synced_user(name, &address));
        world.directory_users.push(entra_user(name, &address));
    }
    let mut group = synced_group("g1", "Sales", GroupKind::Security, None);
    // Ann and Bob stay, Cat leaves, Dan joins.
    group.member_users = world.users[..3].iter().map(|user| user.id).collect();
    let cat = world.users[2].id;
    world.groups.push(group);
    world.directory_groups.push(roster_domain::DirectoryGroup {
        members: ["ann", "bob", "dan"]
            .map(|name| member(name, MemberType::User))
            .to_vec(),
        ..entra_group("g1", "Sales", GroupKind::Security, None)
    });
    let plan = world.plan();
    let changes = member_changes(&plan, "g1");
    assert_eq!(changes.joining_users, [ext("dan")]);
    assert_eq!(changes.leaving_users, [cat]);
    assert!(changes.joining_groups.is_empty() && changes.leaving_groups.is_empty());
    world.apply(&plan.changes);
    assert!(
        world.plan().is_empty(),
        "applied, the change leaves the group in step"
    );
}

#[test]
fn a_synced_user_deleted_in_the_directory_is_removed() {
    let mut world = World::contoso();
    world.users.push(synced_user("u1", "jane@contoso.com"));
    world
        .directory_users
        .push(entra_user("u2", "bob@contoso.com"));
    let plan = world.plan();
    let change = change_for(&plan, "u1");
    assert_eq!(
        (change.summary.as_str(), change.reason.as_str()),
        ("Remove user jane@contoso.com", "deleted in the directory")
    );
    assert_eq!(change.category, Category::UsersToRemove);
}

#[test]
fn a_removal_says_why_the_directory_no_longer_contributes_the_object() {
    let mut world = World::contoso();
    let cases = [
        (
            "blocked",
            roster_domain::DirectoryUser {
                account_enabled: Some(false),
                ..entra_user("blocked", "a@contoso.com")
            },
        ),
        (
            "guest",
            roster_domain::DirectoryUser {
                user_type: Some("Guest".to_owned()),
                ..entra_user("guest", "b@contoso.com")
            },
        ),
        (
            "no-mailbox",
            roster_domain::DirectoryUser {
                mail: None,
                proxy_addresses: vec![],
                ..entra_user("no-mailbox", "c@contoso.com")
            },
        ),
        ("moved", entra_user("moved", "d@fabrikam.com")),
    ];
    for (id, directory_user) in cases {
        world
            .users
            .push(synced_user(id, &format!("{id}@contoso.com")));
        world.directory_users.push(directory_user);
    }
    world
        .directory_users
        .push(entra_user("stays", "stays@contoso.com"));
    world
        .groups
        .push(synced_group("g1", "Admins", GroupKind::Security, None));
    world
        .directory_groups
        .push(entra_group("g1", "Admins", GroupKind::Security, None));
    world.settings.scope.security_groups = false;
    let plan = world.plan();
    let reason = |id: &str| change_for(&plan, id).reason.clone();
    assert_eq!(reason("blocked"), "sign-in blocked in the directory");
    assert_eq!(reason("guest"), "now a guest");
    assert_eq!(reason("no-mailbox"), "no longer has a mailbox");
    assert_eq!(
        reason("moved"),
        "out of scope: its primary address d@fabrikam.com is outside the account's domains"
    );
    assert_eq!(
        reason("g1"),
        "out of scope: security groups are not selected in What to Sync"
    );
}

#[test]
fn users_are_out_of_scope_when_what_to_sync_drops_them() {
    let mut world = World::contoso();
    world.with_synced_user("u1", "jane@contoso.com");
    world.settings.scope.users = false;
    assert_eq!(
        change_for(&world.plan(), "u1").reason,
        "out of scope: users are not selected in What to Sync"
    );
}

#[test]
fn manual_objects_are_never_removed() {
    let mut world = World::contoso();
    world.users.push(manual_user("jane@contoso.com"));
    world.groups.push(manual_group(
        "Sales",
        GroupKind::Distribution,
        Some("sales@contoso.com"),
    ));
    world.with_synced_user("u1", "bob@contoso.com");
    assert!(world.plan().is_empty());
}

#[test]
fn organization_admins_are_never_removed_and_the_plan_says_why() {
    let mut world = World::contoso();
    world.users.push(roster_domain::User {
        role: Role::OrganizationAdmin,
        ..synced_user("admin", "boss@contoso.com")
    });
    world.with_synced_user("u1", "bob@contoso.com");
    let plan = world.plan();
    assert!(plan.is_empty());
    assert_eq!(
        skip_reasons(&plan, "admin"),
        [SkipReason::ProtectedFromRemoval]
    );
    assert_eq!(
        skip_details(&plan, "admin"),
        ["deleted in the directory, but it is kept: sync never removes an organization admin"]
    );
}

#[test]
fn the_tech_contacts_user_is_never_removed() {
    let mut world = World::contoso();
    world.users.push(roster_domain::User {
        aliases: vec![addr("it@contoso.com")],
        ..synced_user("it", "helpdesk@contoso.com")
    });
    world.with_synced_user("u1", "bob@contoso.com");
    let plan = world.plan();
    assert!(plan.is_empty());
    assert_eq!(
        skip_reasons(&plan, "it"),
        [SkipReason::ProtectedFromRemoval]
    );
}

#[test]
fn exempted_objects_get_no_change_and_are_listed_as_skipped() {
    let mut world = World::contoso();
    world.users.push(synced_user("gone", "gone@contoso.com"));
    world.users.push(synced_user("renamed", "old@contoso.com"));
    world
        .directory_users
        .push(entra_user("renamed", "new@contoso.com"));
    world
        .directory_users
        .push(entra_user("new", "new-hire@contoso.com"));
    world
        .directory_users
        .push(entra_user("u1", "bob@contoso.com"));
    world
        .exemptions
        .extend([ext("gone"), ext("renamed"), ext("new")]);
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user bob@contoso.com (bob)"]
    );
    assert_eq!(plan.changes.len(), 1);
    for id in ["gone", "renamed", "new"] {
        assert_eq!(skip_reasons(&plan, id), [SkipReason::Exempted], "{id}");
    }
}

#[test]
fn categories_whose_switch_is_off_are_listed_as_not_applied_by_the_settings() {
    let mut world = World::contoso();
    world.settings.actions = "add-users,update-groups".parse().unwrap();
    world.users.push(synced_user("gone", "gone@contoso.com"));
    world.users.push(synced_user("renamed", "old@contoso.com"));
    world
        .directory_users
        .push(entra_user("renamed", "new@contoso.com"));
    world
        .directory_users
        .push(entra_user("new", "hire@contoso.com"));
    world.directory_groups.push(entra_group(
        "g1",
        "Sales",
        GroupKind::Distribution,
        Some("sales@contoso.com"),
    ));
    let plan = world.plan();
    let allowed: Vec<(Category, bool)> = plan
        .changes
        .iter()
        .map(|c| (c.category, c.allowed_by_settings))
        .collect();
    assert_eq!(
        allowed,
        [
            (Category::UsersToAdd, true),
            (Category::UsersToUpdate, false),
            (Category::UsersToRemove, false),
            (Category::GroupsToAdd, false),
        ]
    );
}

#[test]
fn changes_are_sorted_by_category_then_address_or_name() {
    let mut world = World::contoso();
    for (id, address) in [
        ("z", "zoe@contoso.com"),
        ("a", "adam@contoso.com"),
        ("m", "mia@contoso.org"),
    ] {
        world.directory_users.push(entra_user(id, address));
    }
    world.users.push(synced_user("gone", "bea@contoso.com"));
    world
        .directory_groups
        .push(entra_group("g2", "Beta", GroupKind::Security, None));
    world
        .directory_groups
        .push(entra_group("g1", "Alpha", GroupKind::Security, None));
    let plan = world.plan();
    let order: Vec<&str> = plan.changes.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(
        order,
        [
            "Add user adam@contoso.com (adam)",
            "Add user mia@contoso.org (mia)",
            "Add user zoe@contoso.com (zoe)",
            "Remove user bea@contoso.com",
            "Add group Alpha",
            "Add group Beta",
        ]
    );
}

#[test]
fn change_ids_derive_from_the_plan_and_the_object() {
    let mut world = World::contoso();
    world
        .directory_users
        .push(entra_user("u1", "jane@contoso.com"));
    world
        .directory_users
        .push(entra_user("u2", "bob@contoso.com"));
    let plan = world.plan();
    let again = world.plan();
    assert_eq!(plan.changes[0].id, again.changes[0].id);
    assert_ne!(plan.changes[0].id, plan.changes[1].id);
}
