//! Planning after a delta round from the part of the account it reached: the plan is the whole
//! account's, and the part is refused whenever it cannot stand for the whole.

use roster_domain::plan::{Plan, SkipReason, Skipped};
use roster_domain::{DirectoryUser, GroupKind, MemberType, SyncedUser, User};
use roster_plan::{
    Bystanders, DeltaInput, Mirror, MirrorRead, NeedsWholePlan, Part, PlanInput, plan_delta,
};

use crate::support::*;

/// Contoso in step with its directory: users ann, bob and cara, and Engineering (ann and bob).
/// Returns the world and the plan that brought it in step.
fn in_step() -> (World, Plan) {
    let mut world = World::contoso();
    for (id, address) in [
        ("u-ann", "ann@contoso.com"),
        ("u-bob", "bob@contoso.com"),
        ("u-cara", "cara@contoso.com"),
    ] {
        world.directory_users.push(entra_user(id, address));
    }
    let engineering = entra_group(
        "g-eng",
        "Engineering",
        GroupKind::Distribution,
        Some("eng@contoso.com"),
    );
    let members = [("u-ann", MemberType::User), ("u-bob", MemberType::User)];
    world
        .directory_groups
        .push(with_members(engineering, &members));
    let brought_in_step = world.plan();
    world.apply(&brought_in_step.changes);
    assert_eq!(world.plan().changes, [], "the account is in step");
    (world, brought_in_step)
}

fn synced<'w>(world: &'w World, id: &str) -> &'w User {
    world
        .users
        .iter()
        .find(|u| u.external_id.as_ref().is_some_and(|e| e.as_str() == id))
        .unwrap()
}

/// The part of `world` a round reaches, as the sync engine gathers it, with the bystanders its
/// groups name.
struct Reached {
    part: Part,
    bystanders: Vec<SyncedUser>,
}

impl Reached {
    /// The input planning the part, with the world's ids, so that its plan compares equal to the
    /// world's.
    fn input<'a>(&'a self, world: &'a World, in_step: &'a Plan) -> DeltaInput<'a> {
        let whole = world.input();
        let part = &self.part;
        let bystanders = Bystanders {
            users: &self.bystanders,
            groups: &[],
        };
        let planned = PlanInput {
            users: &part.users,
            groups: &part.groups,
            mirror: Mirror {
                users: &part.users_now,
                groups: &part.groups_now,
                read: MirrorRead::Part(bystanders),
            },
            ..whole
        };
        let synced_users = world
            .users
            .iter()
            .filter(|u| u.external_id.is_some())
            .count();
        let synced_groups = world
            .groups
            .iter()
            .filter(|g| g.external_id.is_some())
            .count();
        DeltaInput {
            part: planned,
            users_before: &part.users_before,
            groups_before: &part.groups_before,
            in_step,
            synced_users,
            synced_groups,
        }
    }
}

/// Bob's sign-in is blocked: the part is bob, and Engineering with only bob as its member.
fn bob_blocked(world: &mut World) -> Reached {
    let before = world
        .directory_users
        .iter()
        .find(|u| u.id.as_str() == "u-bob")
        .unwrap()
        .clone();
    let now = DirectoryUser {
        account_enabled: Some(false),
        ..before.clone()
    };
    *world
        .directory_users
        .iter_mut()
        .find(|u| u.id.as_str() == "u-bob")
        .unwrap() = now.clone();
    let bob = synced(world, "u-bob").clone();
    let mut engineering = world.groups[0].clone();
    engineering.member_users = vec![bob.id];
    let mut engineering_record = world.directory_groups[0].clone();
    engineering_record
        .members
        .retain(|m| m.id.as_str() == "u-bob");
    let part = Part {
        users: vec![bob],
        groups: vec![engineering],
        users_now: vec![now],
        groups_now: vec![engineering_record.clone()],
        users_before: vec![before],
        groups_before: vec![engineering_record],
    };
    Reached {
        part,
        bystanders: Vec::new(),
    }
}

#[test]
fn a_part_standing_for_the_account_gives_the_whole_accounts_plan() {
    let (mut world, brought_in_step) = in_step();
    let reached = bob_blocked(&mut world);
    let whole = world.plan();
    assert_eq!(
        summaries(&whole, roster_domain::plan::Category::UsersToRemove),
        ["Remove user bob@contoso.com"],
        "the scenario removes bob"
    );
    assert_eq!(
        plan_delta(&reached.input(&world, &brought_in_step)),
        Ok(whole)
    );
}

#[test]
fn a_group_named_only_as_a_bystander_keeps_its_members() {
    let (mut world, brought_in_step) = in_step();
    let mut reached = bob_blocked(&mut world);
    // Engineering whole, with ann outside the part, named as a bystander.
    reached.part.groups = vec![world.groups[0].clone()];
    reached.part.groups_now = vec![world.directory_groups[0].clone()];
    reached.part.groups_before = reached.part.groups_now.clone();
    let ann = synced(&world, "u-ann");
    reached.bystanders = vec![SyncedUser {
        external_id: ext("u-ann"),
        id: ann.id,
        primary_address: ann.primary_address.clone(),
    }];
    assert_eq!(
        plan_delta(&reached.input(&world, &brought_in_step)),
        Ok(world.plan())
    );
}

#[test]
fn a_part_not_in_step_before_the_round_is_refused() {
    let (mut world, brought_in_step) = in_step();
    let mut reached = bob_blocked(&mut world);
    reached.part.users_before[0] = with_aliases(
        reached.part.users_before[0].clone(),
        &["robert@contoso.com"],
    );
    assert_eq!(
        plan_delta(&reached.input(&world, &brought_in_step)),
        Err(NeedsWholePlan(
            "the changed objects were not in step with the directory before the round"
        ))
    );
}

#[test]
fn an_address_settled_outside_the_part_is_refused() {
    let (mut world, mut brought_in_step) = in_step();
    let reached = bob_blocked(&mut world);
    brought_in_step.skipped.push(Skipped {
        external_id: ext("u-cara"),
        summary: "cara".to_owned(),
        reason: SkipReason::DuplicateInTenant,
        detail: "alias team@contoso.com is also claimed by ann".to_owned(),
    });
    assert_eq!(
        plan_delta(&reached.input(&world, &brought_in_step)),
        Err(NeedsWholePlan(
            "the in-step plan settled an address of an object outside the part"
        ))
    );
}

#[test]
fn a_part_holding_every_active_synced_user_is_refused_since_the_read_may_have_failed() {
    let (mut world, mut brought_in_step) = in_step();
    let reached = bob_blocked(&mut world);
    // Ann and cara are kept by the in-step plan though inactive: nobody outside the part is
    // known to be active.
    for id in ["u-ann", "u-cara"] {
        brought_in_step.skipped.push(Skipped {
            external_id: ext(id),
            summary: id.to_owned(),
            reason: SkipReason::ProtectedFromRemoval,
            detail: "sign-in blocked in the directory, but it is kept: sync never removes an organization admin".to_owned(),
        });
    }
    assert_eq!(
        plan_delta(&reached.input(&world, &brought_in_step)),
        Err(NeedsWholePlan(
            "only the whole directory shows whether the read returned any active user"
        ))
    );
}
