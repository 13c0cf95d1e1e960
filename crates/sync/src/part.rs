//! Planning after a delta round from the part of the account the round reached, rather than from
//! the whole account and mirror (see `roster_plan::plan_delta` for why that is the same plan).
//!
//! The part is gathered from the store in three steps:
//! 1. the objects the round touched, and those whose addresses the in-step plan settled (an
//!    address two objects claim), with the account's objects holding their directory ids;
//! 2. everything sharing an address with those, until no new address turns up: an address is
//!    settled between all its claimants, so they are planned together;
//! 3. the groups naming a member that leaves the account or newly joins it: each loses or gains
//!    that member. Such a group is planned with only those members, in the account and in its
//!    record, since its other members stay as they are.
//!
//! The other synced objects its groups name are read by name only, as bystanders.

use std::collections::{BTreeSet, HashMap, HashSet};

use roster_domain::plan::{ChangeAction, Plan};
use roster_domain::{
    Account, AccountId, ConnectionSettings, DirectoryGroup, EmailAddress, ExternalId, Group,
    GroupId, MemberType, PlanId, RunId, SyncedGroup, SyncedUser, User, UserId,
};
use roster_plan::{Bystanders, DeltaInput, Mirror, MirrorRead, NeedsWholePlan, Part, PlanInput};
use roster_store::{MemberKeys, Membership, ObjectKeys, OwnedBy, Store};
use time::OffsetDateTime;

use crate::SyncError;
use crate::refresh::DeltaChanges;

/// What a plan of a part is made for.
pub(crate) struct PartOf<'a> {
    pub run_id: RunId,
    pub account: &'a Account,
    pub settings: &'a ConnectionSettings,
    /// The plan that left the account in step just before the round.
    pub in_step: PlanId,
}

/// What every plan of the part shares.
struct Common<'a> {
    plan_id: PlanId,
    run_id: RunId,
    created_at: OffsetDateTime,
    account: &'a Account,
    settings: &'a ConnectionSettings,
    exemptions: &'a HashSet<ExternalId>,
    held_by_other_accounts: &'a HashMap<EmailAddress, String>,
}

impl<'a> Common<'a> {
    fn input<'p>(
        &self,
        part: &'p Part,
        users: &'p [SyncedUser],
        groups: &'p [SyncedGroup],
    ) -> PlanInput<'p>
    where
        'a: 'p,
    {
        PlanInput {
            plan_id: self.plan_id,
            run_id: self.run_id,
            created_at: self.created_at,
            account: self.account,
            users: &part.users,
            groups: &part.groups,
            mirror: Mirror {
                users: &part.users_now,
                groups: &part.groups_now,
                read: MirrorRead::Part(Bystanders { users, groups }),
            },
            settings: self.settings,
            exemptions: self.exemptions,
            held_by_other_accounts: self.held_by_other_accounts,
        }
    }
}

/// Plans the whole account from the part the round reached. `Ok(Err(..))` says why the part
/// cannot stand for the whole account; the caller then plans the whole account.
pub(crate) async fn plan_part(
    store: &Store,
    of: PartOf<'_>,
    delta: &DeltaChanges,
) -> Result<Result<Plan, NeedsWholePlan>, SyncError> {
    let account_id = of.account.id;
    let in_step = store.plan_without_changes(account_id, of.in_step).await?;
    let settled: BTreeSet<ExternalId> = in_step
        .skipped
        .iter()
        .filter(|s| s.reason.settles_an_address())
        .map(|s| s.external_id.clone())
        .collect();
    let mut part = touched_and_neighbours(store, of.account, delta, settled).await?;
    let exemptions: HashSet<ExternalId> = store
        .list_exemptions(account_id)
        .await?
        .into_iter()
        .map(|e| e.external_id)
        .collect();
    let claimed: Vec<EmailAddress> =
        roster_plan::candidate_addresses(of.account, &part.users_now, &part.groups_now)
            .into_iter()
            .chain(roster_plan::candidate_addresses(
                of.account,
                &part.users_before,
                &part.groups_before,
            ))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
    let held: HashMap<_, _> = store
        .addresses_owned_elsewhere(account_id, &claimed)
        .await?
        .into_iter()
        .collect();
    let common = Common {
        plan_id: PlanId::new(),
        run_id: of.run_id,
        created_at: OffsetDateTime::now_utc(),
        account: of.account,
        settings: of.settings,
        exemptions: &exemptions,
        held_by_other_accounts: &held,
    };
    let moving = moving_members(&common, &part)?;
    if moving.joining.len() > MAX_JOINING {
        return Ok(Err(NeedsWholePlan(
            "the round brings more new objects than searching the mirror for their groups is worth",
        )));
    }
    add_groups_with_moving_members(store, account_id, &mut part, &moving).await?;
    let (synced_users, synced_groups) = store.synced_counts(account_id).await?;
    let Some((bystander_users, bystander_groups)) =
        bystanders(store, account_id, &part, synced_users).await?
    else {
        return Ok(Err(NeedsWholePlan(
            "a group of the changed objects has members that sync does not manage",
        )));
    };
    let delta_input = DeltaInput {
        part: common.input(&part, &bystander_users, &bystander_groups),
        users_before: &part.users_before,
        groups_before: &part.groups_before,
        in_step: &in_step,
        synced_users,
        synced_groups,
    };
    Ok(roster_plan::plan_delta(&delta_input))
}

/// The members that leave the account and those that newly join it, from a first plan of the
/// part. Which objects the account holds does not depend on any group's members, so that plan
/// is made with the members left out: it then needs no names for them.
fn moving_members(common: &Common, part: &Part) -> Result<MovingMembers, SyncError> {
    let without_members = Part {
        users: part.users.clone(),
        groups: part
            .groups
            .iter()
            .map(|g| Group {
                member_users: Vec::new(),
                member_groups: Vec::new(),
                ..g.clone()
            })
            .collect(),
        users_now: part.users_now.clone(),
        groups_now: part
            .groups_now
            .iter()
            .map(|g| DirectoryGroup {
                members: Vec::new(),
                ..g.clone()
            })
            .collect(),
        ..Part::default()
    };
    let first = roster_plan::plan(&common.input(&without_members, &[], &[]))?;
    let mut moving = MovingMembers::default();
    for change in first.changes.iter().filter(|c| c.allowed_by_settings) {
        match &change.action {
            ChangeAction::RemoveUser { user_id, .. } => moving.leaving_users.push(*user_id),
            ChangeAction::RemoveGroup { group_id, .. } => moving.leaving_groups.push(*group_id),
            ChangeAction::AddUser { .. } | ChangeAction::LinkUser { .. } => moving
                .joining
                .push((change.external_id.clone(), MemberType::User)),
            ChangeAction::AddGroup { .. } | ChangeAction::LinkGroup { .. } => moving
                .joining
                .push((change.external_id.clone(), MemberType::Group)),
            ChangeAction::UpdateUser { .. } | ChangeAction::UpdateGroup { .. } => {}
        }
    }
    Ok(moving)
}

/// The most objects newly joining the account that the mirror's group records are searched for.
/// On 100,000 users and 10,000 groups a search costs about 0.15 s plus 0.13 s per id (SQLite),
/// and planning the whole account about 3.5 s: past this many, the whole account costs less.
const MAX_JOINING: usize = 16;

/// The objects whose place in the account the plan changes.
#[derive(Default)]
struct MovingMembers {
    leaving_users: Vec<UserId>,
    leaving_groups: Vec<GroupId>,
    /// By directory id: the account does not hold them yet.
    joining: Vec<(ExternalId, MemberType)>,
}

/// Steps 1 and 2: the touched objects and everything sharing an address with them.
async fn touched_and_neighbours(
    store: &Store,
    account: &Account,
    delta: &DeltaChanges,
    settled: BTreeSet<ExternalId>,
) -> Result<Part, SyncError> {
    let mut part = Part {
        users_now: delta.written.upsert_users.clone(),
        groups_now: delta.written.upsert_groups.clone(),
        users_before: delta.users_before.clone(),
        groups_before: delta.groups_before.clone(),
        ..Part::default()
    };
    let mut touched_users: BTreeSet<ExternalId> = (delta
        .written
        .upsert_users
        .iter()
        .chain(&delta.users_before)
        .map(|u| u.id.clone()))
    .chain(delta.written.remove_users.iter().cloned())
    .collect();
    let mut touched_groups: BTreeSet<ExternalId> = (delta
        .written
        .upsert_groups
        .iter()
        .chain(&delta.groups_before)
        .map(|g| g.id.clone()))
    .chain(delta.written.remove_groups.iter().cloned())
    .collect();
    // The objects of settled addresses that the round did not touch keep their records; which
    // kind each is, the mirror tells.
    let untouched: Vec<ExternalId> = settled
        .into_iter()
        .filter(|id| !touched_users.contains(id) && !touched_groups.contains(id))
        .collect();
    let (users, groups) = store
        .mirror_objects(account.id, &untouched, &untouched)
        .await?;
    touched_users.extend(users.iter().map(|u| u.id.clone()));
    touched_groups.extend(groups.iter().map(|g| g.id.clone()));
    part.users_before.extend(users.iter().cloned());
    part.groups_before.extend(groups.iter().cloned());
    part.users_now.extend(users);
    part.groups_now.extend(groups);
    let mut asked: HashSet<EmailAddress> = HashSet::new();
    let mut users_by_id: HashMap<UserId, User> = HashMap::new();
    let mut groups_by_id: HashMap<GroupId, Group> = HashMap::new();
    let mut recorded: HashSet<ExternalId> = touched_users
        .iter()
        .chain(&touched_groups)
        .cloned()
        .collect();
    let mut addresses: Vec<EmailAddress> =
        roster_plan::candidate_addresses(account, &part.users_now, &part.groups_now)
            .into_iter()
            .chain(roster_plan::candidate_addresses(
                account,
                &part.users_before,
                &part.groups_before,
            ))
            .collect();
    let mut keys_users: Vec<ExternalId> = touched_users.into_iter().collect();
    let mut keys_groups: Vec<ExternalId> = touched_groups.into_iter().collect();
    // Each pass reads the objects holding addresses not yet asked about; the objects found may
    // hold more. In an account in step, every address is claimed by the object holding it, so
    // this ends after a pass or two.
    loop {
        addresses.retain(|a| asked.insert(a.clone()));
        if addresses.is_empty() && keys_users.is_empty() && keys_groups.is_empty() {
            break;
        }
        let keys = ObjectKeys {
            user_external_ids: &keys_users,
            group_external_ids: &keys_groups,
            addresses: &addresses,
        };
        let (users, groups) = store.objects(account.id, &keys).await?;
        let (mut unrecorded_users, mut unrecorded_groups) = (Vec::new(), Vec::new());
        let mut next_addresses = Vec::new();
        for user in users {
            if users_by_id.contains_key(&user.id) {
                continue;
            }
            next_addresses.extend(
                std::iter::once(user.primary_address.clone()).chain(user.aliases.iter().cloned()),
            );
            if let Some(id) = user
                .external_id
                .as_ref()
                .filter(|id| recorded.insert((*id).clone()))
            {
                unrecorded_users.push(id.clone());
            }
            users_by_id.insert(user.id, user);
        }
        for group in groups {
            if groups_by_id.contains_key(&group.id) {
                continue;
            }
            next_addresses.extend(group.address.iter().chain(&group.aliases).cloned());
            if let Some(id) = group
                .external_id
                .as_ref()
                .filter(|id| recorded.insert((*id).clone()))
            {
                unrecorded_groups.push(id.clone());
            }
            groups_by_id.insert(group.id, group);
        }
        // An untouched neighbour's record is the same before and after the round.
        let (users, groups) = store
            .mirror_objects(account.id, &unrecorded_users, &unrecorded_groups)
            .await?;
        next_addresses.extend(roster_plan::candidate_addresses(account, &users, &groups));
        part.users_before.extend(users.iter().cloned());
        part.groups_before.extend(groups.iter().cloned());
        part.users_now.extend(users);
        part.groups_now.extend(groups);
        addresses = next_addresses;
        keys_users = Vec::new();
        keys_groups = Vec::new();
    }
    part.users = users_by_id.into_values().collect();
    part.users
        .sort_by(|a, b| a.primary_address.cmp(&b.primary_address));
    part.groups = groups_by_id.into_values().collect();
    part.groups
        .sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    Ok(part)
}

/// The synced objects outside the part that its groups name, in their records or in the
/// account. `None` if a group holds a member that is neither in the part nor synced.
async fn bystanders(
    store: &Store,
    account_id: AccountId,
    part: &Part,
    synced_users: usize,
) -> Result<Option<(Vec<SyncedUser>, Vec<SyncedGroup>)>, SyncError> {
    let inside = part.external_ids();
    let part_users: HashSet<UserId> = part.users.iter().map(|u| u.id).collect();
    let part_groups: HashSet<GroupId> = part.groups.iter().map(|g| g.id).collect();
    let records = || part.groups_now.iter().chain(&part.groups_before);
    let named = |kind: MemberType| -> Vec<ExternalId> {
        let named: HashSet<&ExternalId> = records()
            .flat_map(|g| &g.members)
            .filter(|m| m.kind == kind && !inside.contains(&m.id))
            .map(|m| &m.id)
            .collect();
        named.into_iter().cloned().collect()
    };
    let member_groups: BTreeSet<GroupId> = part
        .groups
        .iter()
        .flat_map(|g| &g.member_groups)
        .copied()
        .filter(|id| !part_groups.contains(id))
        .collect();
    let member_groups: Vec<GroupId> = member_groups.into_iter().collect();
    let named_groups = named(MemberType::Group);
    let mut member_users: Vec<UserId> = part
        .groups
        .iter()
        .flat_map(|g| &g.member_users)
        .copied()
        .filter(|id| !part_users.contains(id))
        .collect();
    member_users.sort_unstable();
    member_users.dedup();
    // The records' members counted with repeats: an upper bound, known before any set is built.
    let user_mentions = member_users.len()
        + records()
            .flat_map(|g| &g.members)
            .filter(|m| m.kind == MemberType::User)
            .count();
    let (mut users, mut groups) = if user_mentions * KEYED_SHARE < synced_users {
        let named_users = named(MemberType::User);
        let keys = MemberKeys {
            user_external_ids: &named_users,
            user_ids: &member_users,
            group_external_ids: &named_groups,
            group_ids: &member_groups,
        };
        store.synced_members(account_id, &keys).await?
    } else {
        let keys = MemberKeys {
            group_external_ids: &named_groups,
            group_ids: &member_groups,
            ..MemberKeys::default()
        };
        let (_, groups) = store.synced_members(account_id, &keys).await?;
        (store.synced_users(account_id).await?, groups)
    };
    users.retain(|u| !inside.contains(&u.external_id));
    groups.retain(|g| !inside.contains(&g.external_id));
    let found_users: HashSet<UserId> = users.iter().map(|u| u.id).collect();
    let found_groups: HashSet<GroupId> = groups.iter().map(|g| g.id).collect();
    // A member of the account's groups that is not synced, outside the part: only a group out
    // of step holds one, and only the whole account names it.
    let all_found = member_users.iter().all(|id| found_users.contains(id))
        && member_groups.iter().all(|id| found_groups.contains(id));
    Ok(all_found.then_some((users, groups)))
}

/// Looking up a synced user by key costs about ten times its share of reading every synced user
/// at once (measured on 100,000 users: 3 s for 77,000 look-ups, 0.3 s of SQL for all 82,000), so
/// members are looked up by key only while they are fewer than a tenth of the synced users.
const KEYED_SHARE: usize = 10;

/// Step 3: the groups outside the part that name a moving member, each with only its moving
/// members: in the account, those it holds (leaving ones); in its record, those it lists.
async fn add_groups_with_moving_members(
    store: &Store,
    account_id: AccountId,
    part: &mut Part,
    moving: &MovingMembers,
) -> Result<(), SyncError> {
    let in_part: HashSet<GroupId> = part.groups.iter().map(|g| g.id).collect();
    let recorded: HashSet<ExternalId> = part.groups_now.iter().map(|g| g.id.clone()).collect();
    let memberships = store
        .synced_groups_holding(account_id, &moving.leaving_users, &moving.leaving_groups)
        .await?;
    let mut holding: HashMap<GroupId, Vec<OwnedBy>> = HashMap::new();
    for Membership { group, member } in memberships
        .into_iter()
        .filter(|m| !in_part.contains(&m.group))
    {
        holding.entry(group).or_default().push(member);
    }
    let joining_ids: Vec<ExternalId> = moving.joining.iter().map(|(id, _)| id.clone()).collect();
    let mut records: Vec<DirectoryGroup> =
        store.mirror_groups_naming(account_id, &joining_ids).await?;
    records.retain(|r| !recorded.contains(&r.id));
    let holding_ids: Vec<GroupId> = holding.keys().copied().collect();
    let naming_ids: Vec<ExternalId> = records.iter().map(|r| r.id.clone()).collect();
    let mut groups = store
        .groups_without_members(account_id, &holding_ids, &naming_ids)
        .await?;
    groups.retain(|g| !in_part.contains(&g.id));
    // The records of the groups that hold a leaving member and were not found by name.
    let unread: Vec<ExternalId> = groups
        .iter()
        .filter_map(|g| g.external_id.clone())
        .filter(|id| !naming_ids.contains(id) && !recorded.contains(id))
        .collect();
    records.extend(store.mirror_objects(account_id, &[], &unread).await?.1);

    let user_external: HashMap<UserId, &ExternalId> = part
        .users
        .iter()
        .filter_map(|u| Some((u.id, u.external_id.as_ref()?)))
        .collect();
    let group_external: HashMap<GroupId, &ExternalId> = part
        .groups
        .iter()
        .filter_map(|g| Some((g.id, g.external_id.as_ref()?)))
        .collect();
    let mut moving_external: HashSet<(ExternalId, MemberType)> =
        moving.joining.iter().cloned().collect();
    moving_external.extend(
        moving
            .leaving_users
            .iter()
            .filter_map(|id| Some(((*user_external.get(id)?).clone(), MemberType::User))),
    );
    moving_external.extend(
        moving
            .leaving_groups
            .iter()
            .filter_map(|id| Some(((*group_external.get(id)?).clone(), MemberType::Group))),
    );
    for group in &mut groups {
        for member in holding.get(&group.id).into_iter().flatten() {
            match *member {
                OwnedBy::User(id) => group.member_users.push(id),
                OwnedBy::Group(id) => group.member_groups.push(id),
            }
        }
        group.member_users.sort_unstable();
        group.member_groups.sort_unstable();
    }
    for record in &mut records {
        record
            .members
            .retain(|m| moving_external.contains(&(m.id.clone(), m.kind)));
    }
    part.groups_before.extend(records.iter().cloned());
    part.groups_now.extend(records);
    part.groups.extend(groups);
    Ok(())
}
