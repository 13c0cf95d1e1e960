//! Planning after a delta round from the part of the account the round reached.
//!
//! An account *in step* with its mirror (its last plan applied whole, nothing written since)
//! plans to nothing. A delta round then changes a few records, and the plan of the whole
//! account differs from that nothing only in the part the round reached: the objects it
//! touched, the objects that share an address with them, and the groups whose members they are.
//! Planning that part, and taking everything else (skipped entries, inactive users) from the
//! plan that brought the account in step, gives the whole account's plan without reading the
//! whole account.
//!
//! The caller gathers the part (see [`crate::MirrorRead::Part`]). Two checks guard the shortcut: the
//! part, planned at its records from before the round, must propose nothing and skip exactly
//! what the in-step plan skipped for it. Anything else means the account was not in step as
//! assumed, and the caller plans the whole account instead.

use roster_domain::plan::{Category, InactiveCounts, Plan, SkipReason};
use roster_domain::{DirectoryGroup, DirectoryUser, ExternalId, Group, Source, User};

use crate::HashSet;
use crate::input::{Mirror, PlanInput};
use crate::planner::{deletion_check, plan, sort_skipped};

/// The part of an account a delta round reached: the account's objects in it, and their
/// mirror records as they are now and as they were before the round.
#[derive(Debug, Clone, Default)]
pub struct Part {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub users_now: Vec<DirectoryUser>,
    pub groups_now: Vec<DirectoryGroup>,
    pub users_before: Vec<DirectoryUser>,
    pub groups_before: Vec<DirectoryGroup>,
}

impl Part {
    /// The directory ids the part covers, in its records and its synced objects.
    pub fn external_ids(&self) -> HashSet<&ExternalId> {
        directory_ids(
            (&self.users, &self.groups),
            [
                (&self.users_now, &self.groups_now),
                (&self.users_before, &self.groups_before),
            ],
        )
    }
}

/// The directory ids of a part: those its synced objects hold, and those of its records.
fn directory_ids<'a>(
    (users, groups): (&'a [User], &'a [Group]),
    records: [(&'a [DirectoryUser], &'a [DirectoryGroup]); 2],
) -> HashSet<&'a ExternalId> {
    let synced = (users.iter().filter_map(|u| u.external_id.as_ref()))
        .chain(groups.iter().filter_map(|g| g.external_id.as_ref()));
    let records = records.into_iter().flat_map(|(users, groups)| {
        (users.iter().map(|u| &u.id)).chain(groups.iter().map(|g| &g.id))
    });
    synced.chain(records).collect()
}

/// The part of an account a delta round reached, and what the rest of the account is known by.
#[derive(Debug, Clone, Copy)]
pub struct DeltaInput<'a> {
    /// The part with its records as they are now; `part.mirror.read` is
    /// [`crate::MirrorRead::Part`].
    pub part: PlanInput<'a>,
    /// The same part's records as they were before the round.
    pub users_before: &'a [DirectoryUser],
    pub groups_before: &'a [DirectoryGroup],
    /// The plan that brought the account in step, before the round: what it skipped and
    /// counted (its changes are not needed).
    pub in_step: &'a Plan,
    /// The synced users and groups of the whole account.
    pub synced_users: usize,
    pub synced_groups: usize,
}

/// Why the part cannot stand for the whole account; the caller plans the whole account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NeedsWholePlan(pub &'static str);

/// The whole account's plan, from the plan of the part the delta round reached. The part must
/// hold every object whose address the in-step plan settled (see
/// [`SkipReason::settles_an_address`]): freeing or taking such an address may change the
/// outcome for the other claimant.
pub fn plan_delta(input: &DeltaInput) -> Result<Plan, NeedsWholePlan> {
    let in_step = input.in_step;
    let part = &input.part;
    let part_ids = part_ids(input);
    let settled_outside = (in_step.skipped.iter())
        .any(|s| s.reason.settles_an_address() && !part_ids.contains(&s.external_id));
    if settled_outside {
        return Err(NeedsWholePlan(
            "the in-step plan settled an address of an object outside the part",
        ));
    }
    // Another account's address can be freed without this account's revision moving, so an
    // account whose plan names one is never recorded in step; this guards the rule here too.
    if (in_step.skipped.iter()).any(|s| s.reason == SkipReason::OwnedByAnotherAccount) {
        return Err(NeedsWholePlan(
            "the in-step plan left out an address another account holds",
        ));
    }
    let mirror_before = Mirror {
        users: input.users_before,
        groups: input.groups_before,
        read: part.mirror.read,
    };
    let before = plan(&PlanInput {
        mirror: mirror_before,
        ..*part
    })
    .map_err(|_| NeedsWholePlan("the changed objects could not be planned as they were"))?;
    let mut skipped_before: Vec<_> = (in_step.skipped.iter())
        .filter(|s| part_ids.contains(&s.external_id))
        .cloned()
        .collect();
    sort_skipped(&mut skipped_before);
    if !before.changes.is_empty() || before.skipped != skipped_before {
        return Err(NeedsWholePlan(
            "the changed objects were not in step with the directory before the round",
        ));
    }
    if part.settings.scope.users && !active_user_outside(input, &part_ids) {
        return Err(NeedsWholePlan(
            "only the whole directory shows whether the read returned any active user",
        ));
    }
    let now = plan(part).map_err(|_| NeedsWholePlan("the changed objects could not be planned"))?;
    let mut skipped: Vec<_> = (in_step.skipped.iter())
        .filter(|s| !part_ids.contains(&s.external_id))
        .cloned()
        .chain(now.skipped)
        .collect();
    sort_skipped(&mut skipped);
    let inactive = recount(
        in_step.inactive_not_imported,
        before.inactive_not_imported,
        now.inactive_not_imported,
    )
    .ok_or(NeedsWholePlan(
        "the in-step plan counted fewer inactive users than the changed objects had",
    ))?;
    let removals = |category| {
        (now.changes.iter())
            .filter(|c| c.category == category && c.allowed_by_settings)
            .count()
    };
    let deletion_check = deletion_check(
        part.settings.deletion_limit,
        [removals(Category::UsersToRemove), input.synced_users],
        [removals(Category::GroupsToRemove), input.synced_groups],
    );
    Ok(Plan {
        changes: now.changes,
        skipped,
        deletion_check,
        inactive_not_imported: inactive,
        ..now
    })
}

/// The directory ids of the part: its records, before and now, and its synced objects.
fn part_ids<'a>(input: &DeltaInput<'a>) -> HashSet<&'a ExternalId> {
    let part = &input.part;
    directory_ids(
        (part.users, part.groups),
        [
            (part.mirror.users, part.mirror.groups),
            (input.users_before, input.groups_before),
        ],
    )
}

/// Whether the account holds, outside the part, a synced user that the read returned active.
/// A synced user outside the part kept its record through the round, and was active in the
/// in-step plan unless that plan kept it while inactive (an admin, the tech contact, an exempt
/// user), which it lists in *Skipped*. So there is one when the synced users outside the part
/// outnumber those entries.
fn active_user_outside(input: &DeltaInput, part_ids: &HashSet<&ExternalId>) -> bool {
    if input.synced_users == 0 {
        return true;
    }
    let part_synced = (input.part.users.iter())
        .filter(|u| u.external_id.is_some() && u.source == Source::Directory)
        .count();
    let kept_outside = (input.in_step.skipped.iter())
        .filter(|s| {
            matches!(
                s.reason,
                SkipReason::ProtectedFromRemoval | SkipReason::Exempted
            )
        })
        .filter(|s| !part_ids.contains(&s.external_id))
        .count();
    input.synced_users.saturating_sub(part_synced) > kept_outside
}

/// The whole account's inactive counts: the in-step plan's, with the part's replaced.
fn recount(
    whole: InactiveCounts,
    before: InactiveCounts,
    now: InactiveCounts,
) -> Option<InactiveCounts> {
    let one = |whole: usize, before: usize, now: usize| whole.checked_sub(before).map(|n| n + now);
    Some(InactiveCounts {
        guests: one(whole.guests, before.guests, now.guests)?,
        sign_in_blocked: one(
            whole.sign_in_blocked,
            before.sign_in_blocked,
            now.sign_in_blocked,
        )?,
        without_mailbox: one(
            whole.without_mailbox,
            before.without_mailbox,
            now.without_mailbox,
        )?,
    })
}
