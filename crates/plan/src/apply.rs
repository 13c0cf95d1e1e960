//! Applying a plan's changes to an in-memory copy of an account: what the store's apply does to
//! an account that nothing else changed since planning, without storage. The planner's tests
//! use it to show that a plan, applied, converges. It agrees with the store where the two can
//! differ: a stale change fails alone, and a group member Roster does not hold is left out.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use roster_domain::plan::{
    Change, ChangeAction, GroupFields, GroupMembers, MemberChanges, UserFields,
};
use roster_domain::{AccountId, ChangeId, ExternalId, Group, GroupId, Role, Source, User, UserId};

/// An account's users and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSnapshot {
    pub account_id: AccountId,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

/// Why one change did not apply. The others still do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "change {change}: the {object} {id} no longer exists; run Search Now again for a fresh plan"
    )]
    Missing {
        change: ChangeId,
        object: &'static str,
        id: String,
    },
    #[error(
        "change {change}: the {object} {id} changed since the plan was built (version {expected} planned, \
         {found} now); run Search Now again for a fresh plan"
    )]
    Stale {
        change: ChangeId,
        object: &'static str,
        id: String,
        expected: i64,
        found: i64,
    },
}

/// Applies `changes` in order, as apply does: each change wholly or not at all, a failing one
/// reported and the others still applied. A group's members are named by directory id and
/// resolved once every other change is in, since a member may be added by the same plan; one
/// the account does not hold then (its addition not applied, say) is left out, as the store
/// leaves it out, and the next plan proposes it again. New objects take their ids from their
/// change's id, so that applying is deterministic too.
pub fn apply_to_snapshot<'c>(
    snapshot: &mut AccountSnapshot,
    changes: impl IntoIterator<Item = &'c Change>,
) -> Vec<ApplyError> {
    let mut failures = Vec::new();
    let mut memberships = Vec::new();
    for change in changes {
        match apply_change(snapshot, change) {
            Ok(Some(membership)) => memberships.push(membership),
            Ok(None) => {}
            Err(failure) => failures.push(failure),
        }
    }
    let user_ids: HashMap<&ExternalId, UserId> = snapshot
        .users
        .iter()
        .filter_map(|user| Some((user.external_id.as_ref()?, user.id)))
        .collect();
    let group_ids: HashMap<&ExternalId, GroupId> = snapshot
        .groups
        .iter()
        .filter_map(|group| Some((group.external_id.as_ref()?, group.id)))
        .collect();
    let resolved: Vec<_> = memberships
        .into_iter()
        .map(|(group, membership)| {
            let (users, groups) = match membership {
                Membership::Whole(members) => (&members.users, &members.groups),
                Membership::Changes(changes) => (&changes.joining_users, &changes.joining_groups),
            };
            let users = resolve(users, &user_ids);
            let groups = resolve(groups, &group_ids);
            (group, membership, users, groups)
        })
        .collect();
    for (id, membership, users, groups) in resolved {
        let Some(group) = snapshot.groups.iter_mut().find(|group| group.id == id) else {
            continue;
        };
        match membership {
            Membership::Whole(_) => {
                group.member_users = users;
                group.member_groups = groups;
            }
            Membership::Changes(changes) => {
                change_members(&mut group.member_users, &changes.leaving_users, users);
                change_members(&mut group.member_groups, &changes.leaving_groups, groups);
            }
        }
    }
    failures
}

/// What a group's members become: all of them, or a change to the current ones.
#[derive(Clone, Copy)]
enum Membership<'c> {
    Whole(&'c GroupMembers),
    Changes(&'c MemberChanges),
}

/// Takes the leaving members out of `members` and adds the joining ones it lacks.
fn change_members<Id: Copy + Eq + Hash>(members: &mut Vec<Id>, leaving: &[Id], joining: Vec<Id>) {
    let leaving: HashSet<Id> = leaving.iter().copied().collect();
    members.retain(|member| !leaving.contains(member));
    let mut held: HashSet<Id> = members.iter().copied().collect();
    members.extend(joining.into_iter().filter(|member| held.insert(*member)));
}

/// The account's ids of the members a change names by directory id, leaving out those it does
/// not hold.
fn resolve<Id: Copy>(wanted: &[ExternalId], held: &HashMap<&ExternalId, Id>) -> Vec<Id> {
    wanted
        .iter()
        .filter_map(|member| held.get(member).copied())
        .collect()
}

/// Applies one change; for a group, returns the membership still to be resolved.
fn apply_change<'c>(
    snapshot: &mut AccountSnapshot,
    change: &'c Change,
) -> Result<Option<(GroupId, Membership<'c>)>, ApplyError> {
    let id = change.id;
    match &change.action {
        ChangeAction::AddUser {
            external_id,
            fields,
            role,
        } => {
            add_user(snapshot, id, external_id, fields, Role::from(*role));
            Ok(None)
        }
        ChangeAction::LinkUser {
            user_id,
            expected_version,
            external_id,
            fields,
        } => {
            let user = find(&mut snapshot.users, id, *user_id, *expected_version)?;
            link(&mut user.source, &mut user.external_id, external_id);
            set_user_fields(user, fields);
            Ok(None)
        }
        ChangeAction::UpdateUser {
            user_id,
            expected_version,
            fields,
        } => {
            let user = find(&mut snapshot.users, id, *user_id, *expected_version)?;
            set_user_fields(user, fields);
            Ok(None)
        }
        ChangeAction::RemoveUser {
            user_id,
            expected_version,
        } => {
            remove_user(snapshot, id, *user_id, *expected_version)?;
            Ok(None)
        }
        ChangeAction::AddGroup {
            external_id,
            fields,
            members,
        } => {
            let group_id = add_group(snapshot, id, external_id, fields);
            Ok(Some((group_id, Membership::Whole(members))))
        }
        ChangeAction::LinkGroup {
            group_id,
            expected_version,
            external_id,
            fields,
            members,
        } => {
            let group = find(&mut snapshot.groups, id, *group_id, *expected_version)?;
            link(&mut group.source, &mut group.external_id, external_id);
            set_group_fields(group, fields);
            Ok(Some((*group_id, Membership::Whole(members))))
        }
        ChangeAction::UpdateGroup {
            group_id,
            expected_version,
            fields,
            members,
        } => {
            let group = find(&mut snapshot.groups, id, *group_id, *expected_version)?;
            set_group_fields(group, fields);
            Ok(Some((*group_id, Membership::Changes(members))))
        }
        ChangeAction::RemoveGroup {
            group_id,
            expected_version,
        } => {
            remove_group(snapshot, id, *group_id, *expected_version)?;
            Ok(None)
        }
    }
}

/// Adds a directory user, its id taken from the change's.
fn add_user(
    snapshot: &mut AccountSnapshot,
    change: ChangeId,
    external_id: &ExternalId,
    fields: &UserFields,
    role: Role,
) {
    let mut user = User {
        id: UserId::from_uuid(change.as_uuid()),
        account_id: snapshot.account_id,
        primary_address: fields.primary_address.clone(),
        aliases: Vec::new(),
        first_name: None,
        last_name: None,
        display_name: None,
        role,
        digests: role.digests_by_default(),
        source: Source::Directory,
        external_id: Some(external_id.clone()),
        version: 1,
    };
    set_user_fields(&mut user, fields);
    snapshot.users.push(user);
}

/// Adds a directory group without members, its id taken from the change's, and returns the id.
fn add_group(
    snapshot: &mut AccountSnapshot,
    change: ChangeId,
    external_id: &ExternalId,
    fields: &GroupFields,
) -> GroupId {
    let id = GroupId::from_uuid(change.as_uuid());
    snapshot.groups.push(Group {
        id,
        account_id: snapshot.account_id,
        name: fields.name.clone(),
        kind: fields.kind,
        address: fields.address.clone(),
        aliases: fields.aliases.clone(),
        source: Source::Directory,
        external_id: Some(external_id.clone()),
        member_users: Vec::new(),
        member_groups: Vec::new(),
        version: 1,
    });
    id
}

/// Makes a manual object a directory one, linked to `external_id`.
fn link(source: &mut Source, linked: &mut Option<ExternalId>, external_id: &ExternalId) {
    *source = Source::Directory;
    *linked = Some(external_id.clone());
}

/// Removes a user and its memberships.
fn remove_user(
    snapshot: &mut AccountSnapshot,
    change: ChangeId,
    user_id: UserId,
    expected_version: i64,
) -> Result<(), ApplyError> {
    find(&mut snapshot.users, change, user_id, expected_version)?;
    snapshot.users.retain(|user| user.id != user_id);
    (snapshot.groups.iter_mut())
        .for_each(|group| group.member_users.retain(|member| *member != user_id));
    Ok(())
}

/// Removes a group and its memberships in other groups.
fn remove_group(
    snapshot: &mut AccountSnapshot,
    change: ChangeId,
    group_id: GroupId,
    expected_version: i64,
) -> Result<(), ApplyError> {
    find(&mut snapshot.groups, change, group_id, expected_version)?;
    snapshot.groups.retain(|group| group.id != group_id);
    (snapshot.groups.iter_mut())
        .for_each(|group| group.member_groups.retain(|member| *member != group_id));
    Ok(())
}

fn set_user_fields(user: &mut User, fields: &UserFields) {
    user.primary_address = fields.primary_address.clone();
    user.aliases = fields.aliases.clone();
    user.first_name = fields.first_name.clone();
    user.last_name = fields.last_name.clone();
    user.display_name = fields.display_name.clone();
    user.version += 1;
}

fn set_group_fields(group: &mut Group, fields: &GroupFields) {
    group.name = fields.name.clone();
    group.kind = fields.kind;
    group.address = fields.address.clone();
    group.aliases = fields.aliases.clone();
    group.version += 1;
}

/// An object apply can find by id and check for staleness.
trait Versioned {
    type Id: PartialEq + ToString;
    const NAME: &'static str;
    fn id(&self) -> Self::Id;
    fn version(&self) -> i64;
}

impl Versioned for User {
    type Id = UserId;
    const NAME: &'static str = "user";
    fn id(&self) -> UserId {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
}

impl Versioned for Group {
    type Id = GroupId;
    const NAME: &'static str = "group";
    fn id(&self) -> GroupId {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
}

fn find<T: Versioned>(
    objects: &mut [T],
    change: ChangeId,
    id: T::Id,
    expected: i64,
) -> Result<&mut T, ApplyError> {
    let object = objects
        .iter_mut()
        .find(|object| object.id() == id)
        .ok_or_else(|| ApplyError::Missing {
            change,
            object: T::NAME,
            id: id.to_string(),
        })?;
    if object.version() != expected {
        let found = object.version();
        return Err(ApplyError::Stale {
            change,
            object: T::NAME,
            id: id.to_string(),
            expected,
            found,
        });
    }
    Ok(object)
}
