//! What the planner is given.

use std::collections::{BTreeSet, HashMap, HashSet};

use roster_domain::{
    Account, ConnectionSettings, DirectoryGroup, DirectoryUser, EmailAddress, ExternalId, Group,
    PlanId, RunId, SyncedGroup, SyncedUser, User,
};
use time::OffsetDateTime;

use crate::directory::DirectoryAddresses;

/// Everything a plan is computed from. The planner reads no clock and makes no ids: the plan's
/// id and time come from here, so the same input always gives the same plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub plan_id: PlanId,
    pub run_id: RunId,
    pub created_at: OffsetDateTime,
    pub account: &'a Account,
    /// The account's users and groups as they are now, manual and synced.
    pub users: &'a [User],
    pub groups: &'a [Group],
    pub mirror: Mirror<'a>,
    pub settings: &'a ConnectionSettings,
    /// Directory objects exempt from sync: no change is proposed for them.
    pub exemptions: &'a HashSet<ExternalId>,
    /// Addresses that belong to other accounts, with the owning account's name. The caller looks
    /// up [`candidate_addresses`] in storage; addresses not listed are taken to be free.
    pub held_by_other_accounts: &'a HashMap<EmailAddress, String>,
}

/// The directory mirror as read for this plan.
#[derive(Debug, Clone, Copy)]
pub struct Mirror<'a> {
    pub users: &'a [DirectoryUser],
    pub groups: &'a [DirectoryGroup],
    pub read: MirrorRead<'a>,
}

/// Whether the last read of the directory returned everything. A partial read never removes
/// anything: an object missing from it may simply not have been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorRead<'a> {
    Complete,
    Incomplete,
    /// Part of a complete read: the records of some objects, with the account's objects that
    /// hold their directory ids or share their addresses. Objects of that part missing from the
    /// records are gone from the directory. The synced objects outside it stay as they are, and
    /// are named only as members of the part's groups. Whether the read as a whole looks failed
    /// cannot be told from a part: [`crate::plan_delta`] tells it.
    Part(Bystanders<'a>),
}

/// The synced objects outside the planned part that its groups' members may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bystanders<'a> {
    pub users: &'a [SyncedUser],
    pub groups: &'a [SyncedGroup],
}

/// Every valid address the mirror's objects carry in the account's domains: the addresses whose
/// owners in other accounts the caller must look up for [`PlanInput::held_by_other_accounts`].
pub fn candidate_addresses(
    account: &Account,
    users: &[DirectoryUser],
    groups: &[DirectoryGroup],
) -> BTreeSet<EmailAddress> {
    let read = users
        .iter()
        .map(DirectoryAddresses::of_user)
        .chain(groups.iter().map(DirectoryAddresses::of_group));
    read.flat_map(|addresses| {
        let primary = addresses.primary.and_then(Result::ok);
        primary.into_iter().chain(addresses.aliases)
    })
    .filter(|address| account.owns_address(address))
    .collect()
}
