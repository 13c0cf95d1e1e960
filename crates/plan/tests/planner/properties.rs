//! Rules about every input, checked on generated worlds: small pools of ids and addresses, so
//! that collisions, conflicts, links and removals are common.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use proptest::sample::select;
use roster_domain::plan::{Change, ChangeAction};
use roster_domain::{
    DirectoryGroup, DirectoryMember, DirectoryUser, EmailAddress, GroupKind, MemberType,
    NewUserRole, Role, SyncActions, SyncScope, TechContact,
};
use roster_plan::{AccountSnapshot, MirrorRead, apply_to_snapshot};

use crate::support::*;

const LOCALS: [&str; 3] = ["ann", "bob", "info"];
const DOMAINS: [&str; 3] = ["contoso.com", "contoso.org", "fabrikam.com"];
const USER_IDS: usize = 7;
const GROUP_IDS: usize = 4;

fn address() -> impl Strategy<Value = String> {
    (select(&LOCALS[..]), select(&DOMAINS[..]))
        .prop_map(|(local, domain)| format!("{local}@{domain}"))
}

fn proxy_address() -> impl Strategy<Value = String> {
    let prefix = select(&["SMTP", "smtp", "Smtp", "SIP", "X500"][..]);
    let text = prop_oneof![4 => address(), 1 => Just("not an address".to_owned())];
    (prefix, text).prop_map(|(prefix, text)| format!("{prefix}:{text}"))
}

fn directory_user() -> impl Strategy<Value = DirectoryUser> {
    let user_type = select(&[None, Some("Member"), Some("Member"), Some("Guest")][..]);
    let enabled = select(&[Some(true), Some(true), Some(true), Some(false), None][..]);
    let name = select(&[None, Some("Ann"), Some("Bob")][..]);
    (
        proptest::collection::vec(proxy_address(), 0..4),
        proptest::option::of(address()),
        enabled,
        user_type,
        name,
    )
        .prop_map(
            |(proxy_addresses, mail, account_enabled, user_type, name)| DirectoryUser {
                proxy_addresses,
                mail,
                account_enabled,
                user_type: user_type.map(str::to_owned),
                display_name: name.map(str::to_owned),
                given_name: name.map(str::to_owned),
                ..entra_user("placeholder", "placeholder@contoso.com")
            },
        )
}

fn directory_member() -> impl Strategy<Value = DirectoryMember> {
    prop_oneof![
        (0..USER_IDS).prop_map(|n| member(&format!("u{n}"), MemberType::User)),
        (0..GROUP_IDS).prop_map(|n| member(&format!("g{n}"), MemberType::Group)),
        Just(member("device", MemberType::Device)),
    ]
}

fn directory_group() -> impl Strategy<Value = DirectoryGroup> {
    let flags = select(&[Some(true), Some(false), None][..]);
    (
        proptest::collection::vec(proxy_address(), 0..3),
        flags.clone(),
        flags,
        any::<bool>(),
        proptest::collection::vec(directory_member(), 0..5),
    )
        .prop_map(
            |(proxy_addresses, mail_enabled, security_enabled, unified, members)| DirectoryGroup {
                proxy_addresses,
                mail_enabled,
                security_enabled,
                group_types: if unified {
                    vec!["Unified".to_owned()]
                } else {
                    vec![]
                },
                members,
                ..entra_group("placeholder", "Group", GroupKind::Distribution, None)
            },
        )
}

/// One of the account's objects before uniqueness is enforced: directory id index (for a
/// synced object), primary address, aliases.
type RawObject = (Option<usize>, String, Vec<String>);

fn raw_object() -> impl Strategy<Value = RawObject> {
    (
        proptest::option::weighted(0.7, 0..USER_IDS.max(GROUP_IDS) + 1),
        address(),
        proptest::collection::vec(address(), 0..2),
    )
}

prop_compose! {
    fn world()(
        directory_users in proptest::collection::vec(directory_user(), 1..USER_IDS),
        directory_groups in proptest::collection::vec(directory_group(), 0..GROUP_IDS),
        raw_users in proptest::collection::vec((raw_object(), proptest::bool::weighted(0.2)), 0..6),
        raw_groups in proptest::collection::vec((raw_object(), select(&[GroupKind::Distribution, GroupKind::Security][..])), 0..3),
        memberships in proptest::collection::vec((0..5usize, 0..3usize, any::<bool>()), 0..6),
        scope in (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        actions in proptest::collection::vec(any::<bool>(), 6),
        include_sign_in_blocked in any::<bool>(),
        default_role in select(&[NewUserRole::EndUser, NewUserRole::SilentUser][..]),
        tech_contact in proptest::option::of(address()),
        exempt in proptest::collection::vec(select((0..USER_IDS).map(|n| format!("u{n}")).chain((0..GROUP_IDS).map(|n| format!("g{n}"))).collect::<Vec<_>>()), 0..3),
        others in proptest::collection::vec(address(), 0..3),
        incomplete in proptest::bool::weighted(0.2),
    ) -> World {
        let mut world = World::contoso();
        for (n, user) in directory_users.into_iter().enumerate() {
            world.directory_users.push(DirectoryUser { id: ext(&format!("u{n}")), ..user });
        }
        for (n, group) in directory_groups.into_iter().enumerate() {
            world.directory_groups.push(DirectoryGroup { id: ext(&format!("g{n}")), display_name: Some(format!("Group {n}")), ..group });
        }
        let mut taken = HashSet::new();
        let mut claim = |address: &str| {
            let address = addr(address);
            let owned = world.account.owns_address(&address);
            (owned && taken.insert(address.clone())).then_some(address)
        };
        let mut synced_ids = HashSet::new();
        for ((synced, primary, aliases), admin) in raw_users {
            let Some(primary) = claim(&primary) else { continue };
            let mut user = manual_user(primary.as_str());
            user.aliases = aliases.iter().filter_map(|alias| claim(alias)).collect();
            if let Some(n) = synced.filter(|n| synced_ids.insert(format!("u{n}"))) {
                user = roster_domain::User { aliases: user.aliases, ..synced_user(&format!("u{n}"), primary.as_str()) };
            }
            if admin {
                user.role = Role::OrganizationAdmin;
            }
            world.users.push(user);
        }
        for (n, ((synced, address, aliases), kind)) in raw_groups.into_iter().enumerate() {
            let address = claim(&address);
            let aliases = aliases.iter().filter_map(|alias| claim(alias)).collect();
            let name = format!("Group {n}");
            let mut group = match synced.filter(|n| synced_ids.insert(format!("g{n}"))) {
                Some(id) => synced_group(&format!("g{id}"), &name, kind, None),
                None => manual_group(&name, kind, None),
            };
            group.address = address;
            group.aliases = aliases;
            world.groups.push(group);
        }
        for (user, group, nested) in memberships {
            if nested && !world.groups.is_empty() {
                let inner = world.groups[user % world.groups.len()].id;
                if let Some(group) = world.groups.get_mut(group) { group.member_groups.push(inner) }
            } else if let (Some(member), Some(group)) = (world.users.get(user).map(|u| u.id), world.groups.get_mut(group)) {
                group.member_users.push(member);
            }
        }
        world.settings.scope = SyncScope { users: scope.0, distribution_groups: scope.1, security_groups: scope.2, m365_groups: scope.3 };
        world.settings.actions = SyncActions {
            add_users: actions[0], update_users: actions[1], remove_users: actions[2],
            add_groups: actions[3], update_groups: actions[4], remove_groups: actions[5],
        };
        world.settings.include_sign_in_blocked = include_sign_in_blocked;
        world.settings.default_role = default_role;
        world.account.tech_contact = tech_contact.map(|email| TechContact { name: "IT".to_owned(), email: addr(&email) });
        world.exemptions = exempt.iter().map(|id| ext(id)).collect();
        world.other_accounts = others
            .iter()
            .map(|address| addr(address))
            .filter(|address| !taken.contains(address))
            .map(|address| (address, "Fabrikam".to_owned()))
            .collect();
        world.read = if incomplete { MirrorRead::Incomplete } else { MirrorRead::Complete };
        world
    }
}

/// Applies `changes` to a copy of the world's account; every change must apply.
fn applied<'c>(world: &World, changes: impl IntoIterator<Item = &'c Change>) -> AccountSnapshot {
    let mut snapshot = AccountSnapshot {
        account_id: world.account.id,
        users: world.users.clone(),
        groups: world.groups.clone(),
    };
    let failures = apply_to_snapshot(&mut snapshot, changes);
    assert_eq!(failures, [], "every change applies");
    snapshot
}

fn every_address(snapshot: &AccountSnapshot) -> Vec<&EmailAddress> {
    let users = snapshot
        .users
        .iter()
        .flat_map(|u| std::iter::once(&u.primary_address).chain(&u.aliases));
    let groups = snapshot
        .groups
        .iter()
        .flat_map(|g| g.address.iter().chain(&g.aliases));
    users.chain(groups).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn applying_every_change_then_planning_again_proposes_nothing(mut world in world()) {
        world.settings.actions = SyncActions::default();
        world.read = MirrorRead::Complete;
        let Ok(plan) = world.try_plan() else { return Ok(()) };
        let snapshot = applied(&world, &plan.changes);
        world.users = snapshot.users;
        world.groups = snapshot.groups;
        let again = world.plan();
        prop_assert!(again.is_empty(), "{:#?}", again.changes);
    }

    /// What lets a sync skip planning an account in step with its mirror: the plan it would
    /// compute, once a whole plan has been applied, skips and counts what that plan did.
    /// Addresses held by other accounts are left out: they may be released at any time.
    #[test]
    fn once_a_whole_plan_is_applied_planning_again_skips_and_counts_what_it_did(mut world in world()) {
        world.settings.actions = SyncActions::default();
        world.read = MirrorRead::Complete;
        world.other_accounts.clear();
        let Ok(plan) = world.try_plan() else { return Ok(()) };
        let snapshot = applied(&world, &plan.changes);
        world.users = snapshot.users;
        world.groups = snapshot.groups;
        let again = world.plan();
        prop_assert_eq!(&again.skipped, &plan.skipped);
        prop_assert_eq!(again.inactive_not_imported, plan.inactive_not_imported);
    }

    #[test]
    fn applying_the_allowed_changes_never_gives_one_address_to_two_objects(world in world()) {
        let Ok(plan) = world.try_plan() else { return Ok(()) };
        let snapshot = applied(&world, plan.changes.iter().filter(|c| c.allowed_by_settings));
        let addresses = every_address(&snapshot);
        let unique: HashSet<_> = addresses.iter().collect();
        prop_assert_eq!(unique.len(), addresses.len(), "{:#?}", plan.changes);
        prop_assert!(addresses.iter().all(|a| world.account.owns_address(a) && !world.other_accounts.contains_key(*a)));
    }

    #[test]
    fn no_removal_touches_a_manual_object_an_admin_the_tech_contact_or_an_exempted_object(world in world()) {
        let Ok(plan) = world.try_plan() else { return Ok(()) };
        let users: HashMap<_, _> = world.users.iter().map(|u| (u.id, u)).collect();
        let groups: HashMap<_, _> = world.groups.iter().map(|g| (g.id, g)).collect();
        let contact = world.account.tech_contact.as_ref().map(|c| &c.email);
        for change in &plan.changes {
            prop_assert!(!world.exemptions.contains(&change.external_id), "{change:#?}");
            match &change.action {
                ChangeAction::RemoveUser { user_id, .. } => {
                    let user = users[user_id];
                    prop_assert_eq!(user.source, roster_domain::Source::Directory);
                    prop_assert_ne!(user.role, Role::OrganizationAdmin);
                    prop_assert!(contact.is_none_or(|c| *c != user.primary_address && !user.aliases.contains(c)));
                }
                ChangeAction::RemoveGroup { group_id, .. } => {
                    prop_assert_eq!(groups[group_id].source, roster_domain::Source::Directory);
                }
                _ => {}
            }
            prop_assert!(!(world.read == MirrorRead::Incomplete && change.category.is_removal()));
        }
    }

    #[test]
    fn every_change_and_every_skipped_entry_says_why(world in world()) {
        let Ok(plan) = world.try_plan() else { return Ok(()) };
        for change in &plan.changes {
            prop_assert!(!change.reason.trim().is_empty() && !change.summary.trim().is_empty(), "{change:#?}");
        }
        for skipped in &plan.skipped {
            prop_assert!(!skipped.detail.trim().is_empty() && !skipped.summary.trim().is_empty(), "{skipped:#?}");
        }
    }

    #[test]
    fn planning_is_deterministic_whatever_the_order_of_the_input(world in world()) {
        let mut reversed = world.clone();
        reversed.users.reverse();
        reversed.groups.reverse();
        reversed.directory_users.reverse();
        reversed.directory_groups.reverse();
        prop_assert_eq!(world.try_plan(), world.try_plan());
        prop_assert_eq!(world.try_plan(), reversed.try_plan());
    }
}
