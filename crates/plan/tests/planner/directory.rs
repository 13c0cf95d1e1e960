//! §2: what the directory contributes.

use roster_domain::plan::{Category, SkipReason};
use roster_domain::{GroupKind, MemberType};

use crate::support::*;

#[test]
fn an_enabled_member_with_a_mailbox_is_an_active_user_and_is_added() {
    let mut world = World::contoso();
    world
        .directory_users
        .push(entra_user("u1", "jane@contoso.com"));
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user jane@contoso.com (jane)"]
    );
    assert_eq!(change_for(&plan, "u1").reason, "new in the directory");
}

#[test]
fn the_upper_case_smtp_entry_is_the_primary_and_lower_case_smtp_entries_are_aliases() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        mail: Some("other@contoso.com".to_owned()),
        proxy_addresses: vec![
            "smtp:j.doe@contoso.com".to_owned(),
            "SMTP:Jane@Contoso.com".to_owned(),
            "X500:/o=ExchangeLabs/ou=Exchange/cn=Recipients/cn=jane".to_owned(),
            "SIP:jane@contoso.com".to_owned(),
            "SPO:SPO_1234@SPO_5678".to_owned(),
            "Smtp:jd@contoso.org".to_owned(),
        ],
        ..entra_user("u1", "ignored@contoso.com")
    });
    let fields = added_user(&world.plan(), "u1");
    assert_eq!(fields.primary_address, addr("jane@contoso.com"));
    assert_eq!(
        fields.aliases,
        [addr("j.doe@contoso.com"), addr("jd@contoso.org")]
    );
}

#[test]
fn without_an_smtp_entry_the_mail_property_is_the_primary() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        mail: Some("Jane@contoso.com".to_owned()),
        proxy_addresses: vec!["smtp:jd@contoso.com".to_owned()],
        ..entra_user("u1", "jane@contoso.com")
    });
    let fields = added_user(&world.plan(), "u1");
    assert_eq!(fields.primary_address, addr("jane@contoso.com"));
    assert_eq!(fields.aliases, [addr("jd@contoso.com")]);
}

#[test]
fn addresses_are_trimmed_after_the_prefix_lowercased_and_never_repeated() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        proxy_addresses: vec![
            "SMTP: Bob@Contoso.com".to_owned(),
            "smtp: bob@sales.contoso.com ".to_owned(),
            "smtp:BOB@contoso.com".to_owned(),
            "smtp:b@contoso.com".to_owned(),
            "smtp:B@Contoso.com".to_owned(),
        ],
        ..entra_user("u1", "bob@contoso.com")
    });
    world
        .account
        .domains
        .push("sales.contoso.com".parse().unwrap());
    let fields = added_user(&world.plan(), "u1");
    assert_eq!(fields.primary_address, addr("bob@contoso.com"));
    assert_eq!(
        fields.aliases,
        [addr("b@contoso.com"), addr("bob@sales.contoso.com")]
    );
}

#[test]
fn guests_are_not_active_whatever_the_case_of_user_type() {
    let mut world = World::contoso();
    for (id, user_type) in [("u1", "Guest"), ("u2", "guest"), ("u3", " GUEST ")] {
        let address = format!("{id}@contoso.com");
        world.directory_users.push(roster_domain::DirectoryUser {
            user_type: Some(user_type.to_owned()),
            ..entra_user(id, &address)
        });
    }
    world
        .directory_users
        .push(entra_user("member", "member@contoso.com"));
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user member@contoso.com (member)"]
    );
    assert_eq!(plan.inactive_not_imported.guests, 3);
}

#[test]
fn a_missing_or_unknown_user_type_counts_as_a_member() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        user_type: None,
        ..entra_user("u1", "a@contoso.com")
    });
    world.directory_users.push(roster_domain::DirectoryUser {
        user_type: Some("Contractor".to_owned()),
        ..entra_user("u2", "b@contoso.com")
    });
    assert_eq!(world.plan().in_category(Category::UsersToAdd).count(), 2);
}

#[test]
fn sign_in_blocked_users_are_not_active_by_default() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        account_enabled: Some(false),
        ..entra_user("room", "room@contoso.com")
    });
    let plan = world.plan();
    assert!(plan.is_empty());
    assert_eq!(plan.inactive_not_imported.sign_in_blocked, 1);
}

#[test]
fn with_the_option_on_sign_in_blocked_users_with_a_mailbox_are_active() {
    let mut world = World::contoso();
    world.settings.include_sign_in_blocked = true;
    world.directory_users.push(roster_domain::DirectoryUser {
        account_enabled: Some(false),
        ..entra_user("room", "room@contoso.com")
    });
    world.directory_users.push(roster_domain::DirectoryUser {
        account_enabled: Some(false),
        mail: None,
        proxy_addresses: vec![],
        ..entra_user("blocked-no-mailbox", "x@contoso.com")
    });
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user room@contoso.com (room)"]
    );
    assert_eq!(plan.inactive_not_imported.without_mailbox, 1);
}

#[test]
fn users_without_a_mailbox_address_are_not_active() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        mail: None,
        proxy_addresses: vec![
            "SIP:jane@contoso.com".to_owned(),
            "smtp:jane@contoso.com".to_owned(),
        ],
        ..entra_user("u1", "jane@contoso.com")
    });
    let plan = world.plan();
    assert!(plan.is_empty());
    assert_eq!(plan.inactive_not_imported.without_mailbox, 1);
}

#[test]
fn inactive_users_roster_does_not_hold_are_counted_not_listed_as_skipped() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        user_type: Some("Guest".to_owned()),
        ..entra_user("guest", "guest@fabrikam.com")
    });
    world.directory_users.push(roster_domain::DirectoryUser {
        account_enabled: Some(false),
        ..entra_user("blocked", "blocked@contoso.com")
    });
    world
        .directory_users
        .push(entra_user("active", "active@contoso.com"));
    let plan = world.plan();
    assert_eq!(plan.skipped, []);
    let counts = plan.inactive_not_imported;
    assert_eq!(
        (
            counts.guests,
            counts.sign_in_blocked,
            counts.without_mailbox
        ),
        (1, 1, 0)
    );
}

#[test]
fn an_invalid_primary_skips_the_object_and_an_invalid_alias_is_only_dropped() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        proxy_addresses: vec!["SMTP:not an address".to_owned()],
        ..entra_user("bad", "bad@contoso.com")
    });
    world.directory_users.push(with_aliases(
        entra_user("good", "jane@contoso.com"),
        &["jane@@contoso.com"],
    ));
    let plan = world.plan();
    assert_eq!(skip_reasons(&plan, "bad"), [SkipReason::InvalidAddress]);
    assert_eq!(skip_reasons(&plan, "good"), [SkipReason::InvalidAddress]);
    assert!(skip_details(&plan, "good")[0].contains("jane@@contoso.com"));
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user jane@contoso.com (jane)"]
    );
}

#[test]
fn an_alias_outside_the_accounts_domains_is_dropped_and_reported() {
    let mut world = World::contoso();
    world.directory_users.push(with_aliases(
        entra_user("u1", "jane@contoso.com"),
        &["jane@contoso.onmicrosoft.com"],
    ));
    let plan = world.plan();
    assert_eq!(added_user(&world.plan(), "u1").aliases, []);
    assert_eq!(skip_reasons(&plan, "u1"), [SkipReason::AliasOutOfDomain]);
    assert!(skip_details(&plan, "u1")[0].contains("jane@contoso.onmicrosoft.com"));
}

#[test]
fn an_object_whose_primary_is_outside_the_domains_is_skipped() {
    let mut world = World::contoso();
    world
        .directory_users
        .push(entra_user("u1", "jane@fabrikam.com"));
    world.directory_groups.push(entra_group(
        "g1",
        "Partners",
        GroupKind::Distribution,
        Some("partners@fabrikam.com"),
    ));
    let plan = world.plan();
    assert!(plan.is_empty());
    assert_eq!(skip_reasons(&plan, "u1"), [SkipReason::OutOfDomain]);
    assert_eq!(skip_reasons(&plan, "g1"), [SkipReason::OutOfDomain]);
}

#[test]
fn one_bad_object_never_fails_the_plan() {
    let mut world = World::contoso();
    world.directory_users.push(roster_domain::DirectoryUser {
        proxy_addresses: vec![
            "SMTP:".to_owned(),
            "smtp:@".to_owned(),
            ":".to_owned(),
            "SMTP".to_owned(),
        ],
        mail: Some("@@".to_owned()),
        display_name: None,
        given_name: Some("   ".to_owned()),
        ..entra_user("weird", "x@contoso.com")
    });
    world.directory_groups.push(roster_domain::DirectoryGroup {
        display_name: None,
        mail_enabled: None,
        security_enabled: None,
        ..entra_group("g-weird", "", GroupKind::Distribution, None)
    });
    world
        .directory_users
        .push(entra_user("fine", "fine@contoso.com"));
    let plan = world.plan();
    assert_eq!(
        summaries(&plan, Category::UsersToAdd),
        ["Add user fine@contoso.com (fine)"]
    );
    assert_eq!(skip_reasons(&plan, "weird"), [SkipReason::InvalidAddress]);
    assert_eq!(
        skip_reasons(&plan, "g-weird"),
        [SkipReason::UnknownGroupKind]
    );
}

#[test]
fn groups_are_classified_by_unified_then_by_mail_and_security_flags() {
    let mut world = World::contoso();
    world.settings.scope.m365_groups = true;
    let flagged =
        |id: &str, mail: bool, security: bool, types: &[&str]| roster_domain::DirectoryGroup {
            mail_enabled: Some(mail),
            security_enabled: Some(security),
            group_types: types.iter().map(|t| t.to_string()).collect(),
            ..entra_group(id, id, GroupKind::Distribution, None)
        };
    world.directory_groups.extend([
        flagged("m365", true, false, &["Unified", "DynamicMembership"]),
        flagged("m365-security", false, true, &["Unified"]),
        flagged("distribution", true, false, &[]),
        flagged("mail-security", true, true, &["DynamicMembership"]),
        flagged("security", false, true, &[]),
        flagged("neither", false, false, &[]),
    ]);
    let plan = world.plan();
    let kind = |id: &str| added_group(&plan, id).0.kind;
    assert_eq!(kind("m365"), GroupKind::Microsoft365);
    assert_eq!(kind("m365-security"), GroupKind::Microsoft365);
    assert_eq!(kind("distribution"), GroupKind::Distribution);
    assert_eq!(kind("mail-security"), GroupKind::MailEnabledSecurity);
    assert_eq!(kind("security"), GroupKind::Security);
    assert_eq!(
        skip_reasons(&plan, "neither"),
        [SkipReason::UnknownGroupKind]
    );
}

#[test]
fn what_to_sync_selects_users_and_each_group_kind() {
    let mut world = World::contoso();
    world
        .directory_users
        .push(entra_user("u1", "jane@contoso.com"));
    world.directory_groups.extend([
        entra_group(
            "dist",
            "Sales",
            GroupKind::Distribution,
            Some("sales@contoso.com"),
        ),
        entra_group("sec", "Admins", GroupKind::Security, None),
        entra_group(
            "mail-sec",
            "Finance",
            GroupKind::MailEnabledSecurity,
            Some("finance@contoso.com"),
        ),
        entra_group(
            "m365",
            "Team",
            GroupKind::Microsoft365,
            Some("team@contoso.com"),
        ),
    ]);
    let added = |world: &World| {
        let plan = world.plan();
        let mut ids: Vec<String> = plan
            .changes
            .iter()
            .map(|c| c.external_id.to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        added(&world),
        ["dist", "mail-sec", "sec", "u1"],
        "Microsoft 365 groups are off by default"
    );
    world.settings.scope = "distribution-groups".parse().unwrap();
    assert_eq!(added(&world), ["dist"]);
    world.settings.scope = "security-groups".parse().unwrap();
    assert_eq!(
        added(&world),
        ["mail-sec", "sec"],
        "security groups selects both security kinds"
    );
    world.settings.scope = "m365-groups,users".parse().unwrap();
    assert_eq!(added(&world), ["m365", "u1"]);
}

#[test]
fn a_security_group_without_an_address_is_held_without_one() {
    let mut world = World::contoso();
    world
        .directory_groups
        .push(entra_group("sec", "Admins", GroupKind::Security, None));
    let plan = world.plan();
    let (fields, _) = added_group(&plan, "sec");
    assert_eq!(
        (fields.name.as_str(), fields.address.as_ref()),
        ("Admins", None)
    );
}

#[test]
fn a_groups_members_are_its_direct_members_that_roster_holds_after_the_plan() {
    let mut world = World::contoso();
    world
        .directory_users
        .push(entra_user("jane", "jane@contoso.com"));
    world.directory_users.push(roster_domain::DirectoryUser {
        user_type: Some("Guest".to_owned()),
        ..entra_user("guest", "guest@fabrikam.com")
    });
    world.with_synced_user("bob", "bob@contoso.com");
    world
        .directory_groups
        .push(entra_group("inner", "Inner", GroupKind::Security, None));
    world.directory_groups.push(with_members(
        entra_group(
            "sales",
            "Sales",
            GroupKind::Distribution,
            Some("sales@contoso.com"),
        ),
        &[
            ("jane", MemberType::User),
            ("bob", MemberType::User),
            ("guest", MemberType::User),
            ("laptop", MemberType::Device),
            ("inner", MemberType::Group),
            ("jane", MemberType::User),
        ],
    ));
    let plan = world.plan();
    let (_, members) = added_group(&plan, "sales");
    assert_eq!(members.users, [ext("bob"), ext("jane")]);
    assert_eq!(members.groups, [ext("inner")]);
    let members = attribute(change_for(&plan, "sales"), "members_added").unwrap();
    assert_eq!(
        members.1,
        "[bob@contoso.com, group Inner, jane@contoso.com]"
    );
}

#[test]
fn nested_groups_that_form_a_cycle_are_planned_and_kept() {
    let mut world = World::contoso();
    let nesting = |id: &str, inner: &str| roster_domain::DirectoryGroup {
        members: vec![member(inner, MemberType::Group)],
        ..entra_group(id, id, GroupKind::Security, None)
    };
    world
        .directory_groups
        .extend([nesting("a", "b"), nesting("b", "a")]);
    let plan = world.plan();
    for (id, inner) in [("a", "b"), ("b", "a")] {
        let (_, members) = added_group(&plan, id);
        assert_eq!(members.groups, [ext(inner)]);
    }
    world.apply(&plan.changes);
    assert!(world.plan().is_empty());
}
