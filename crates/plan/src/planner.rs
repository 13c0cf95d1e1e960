//! The planner: the difference between what the mirror says the account should contain and what
//! it contains (product.md §2, §3 and §5).

use std::borrow::Cow;

use roster_domain::plan::{
    AttributeValue, Category, Change, ChangeAction, DeletionCheck, GroupFields, GroupMembers,
    InactiveCounts, MemberChanges, Plan, SkipReason, Skipped, UserFields,
};
use roster_domain::{
    DeletionLimit, DirectoryGroup, DirectoryUser, EmailAddress, ExternalId, Group, GroupId,
    MemberType, Role, User, UserId,
};

use crate::account::{AccountIndex, Holder, group_label};
use crate::allocation::{self, Candidate, DirectoryObject};
use crate::changes::{AttributeDiff, WantedGroup, WantedUser, change_id, group_diff, user_diff};
use crate::directory::{self, DirectoryAddresses, Inactivity};
use crate::input::{MirrorRead, PlanInput};
use crate::outcome::{Held, HeldObject, MemberDiff, Wanted};
use crate::{HashMap, HashSet};

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the directory read returned no active users, but the account holds {synced_users} synced users; \
         Roster treats this as a failed read and removes nobody. Check that the app registration still has \
         Directory.Read.All with admin consent, then run Search Now again"
    )]
    NoActiveUsersRead { synced_users: usize },
}

/// Plans the changes that bring the account in step with the mirror.
///
/// One bad directory object never fails the plan: it is reported under *Skipped*. The only error
/// is a read that looks failed (no active users while the account holds synced ones), since
/// planning from it would remove everyone.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    let mut planner = Planner {
        input: *input,
        account: AccountIndex::new(input.users, input.groups),
        skipped: Vec::new(),
        inactive: InactiveCounts::default(),
        active_users_read: 0,
    };
    let mut candidates = Vec::new();
    let mut verdicts = HashMap::default();
    planner.interpret_all(
        input.mirror.users,
        |account, user| account.synced_users.get(&user.id).map(|&i| Holder::User(i)),
        Planner::interpret_user,
        &mut candidates,
        &mut verdicts,
    );
    planner.interpret_all(
        input.mirror.groups,
        |account, group| {
            account
                .synced_groups
                .get(&group.id)
                .map(|&i| Holder::Group(i))
        },
        Planner::interpret_group,
        &mut candidates,
        &mut verdicts,
    );
    if !matches!(input.mirror.read, MirrorRead::Part(_))
        && input.settings.scope.users
        && planner.active_users_read == 0
        && !planner.account.synced_users.is_empty()
    {
        return Err(PlanError::NoActiveUsersRead {
            synced_users: planner.account.synced_users.len(),
        });
    }
    allocation::resolve_duplicates(&mut candidates, &planner.account, &mut planner.skipped);
    allocation::link_manual_objects(&mut candidates, &planner.account);
    let removals = planner.removals(&verdicts);
    // The objects whose addresses this plan frees: those it removes and those it rewrites. Every
    // other object of the account keeps its addresses, and no directory claim may take them.
    let mut released: HashSet<Holder> = removals
        .iter()
        .filter(|r| r.allowed)
        .map(|r| r.holder)
        .collect();
    released.extend(
        candidates
            .iter()
            .filter(|c| !c.skipped && planner.applies(c))
            .filter_map(|c| c.current),
    );
    allocation::settle_with_account(
        &mut candidates,
        &planner.account,
        &mut released,
        &mut planner.skipped,
    );
    Ok(planner.finish(&candidates, &removals))
}

struct Planner<'a> {
    input: PlanInput<'a>,
    account: AccountIndex<'a>,
    skipped: Vec<Skipped>,
    inactive: InactiveCounts,
    /// Active users in the whole read, in any domain or scope: the failed-read check.
    active_users_read: usize,
}

/// What the mirror says about one directory record: a candidate, or why it is none.
type Interpreted<'a> = Result<Candidate<'a>, Verdict>;

/// What the mirror says about one directory object.
enum Verdict {
    /// The account should hold it: a candidate for adding, linking or updating.
    Candidate,
    /// The account should not hold it.
    Absent(Absence),
    /// Its addresses are in question (invalid, or another account's): the account keeps
    /// whatever it holds until the directory is corrected.
    Unresolved,
    Exempt,
}

/// Why the account should not hold an object: the reason shown on its removal.
#[derive(Clone)]
enum Absence {
    Deleted,
    Inactive(Inactivity),
    OutOfScope(String),
}

impl Absence {
    fn reason(&self) -> String {
        match self {
            Self::Deleted => "deleted in the directory".to_owned(),
            Self::Inactive(Inactivity::Guest) => "now a guest".to_owned(),
            Self::Inactive(Inactivity::SignInBlocked) => {
                "sign-in blocked in the directory".to_owned()
            }
            Self::Inactive(Inactivity::NoMailbox) => "no longer has a mailbox".to_owned(),
            Self::OutOfScope(why) => format!("out of scope: {why}"),
        }
    }
}

struct Removal<'r> {
    holder: Holder,
    external_id: &'r ExternalId,
    absence: Absence,
    allowed: bool,
}

impl<'a> Planner<'a> {
    /// Reads every record of one kind, collecting the candidates and what the mirror says about
    /// each synced object of the account (`synced` finds a record's). Only those verdicts are
    /// kept: removals need no others.
    fn interpret_all<T>(
        &mut self,
        records: &'a [T],
        synced: fn(&AccountIndex<'a>, &T) -> Option<Holder>,
        interpret: fn(&mut Self, &'a T, Option<Holder>) -> Interpreted<'a>,
        candidates: &mut Vec<Candidate<'a>>,
        verdicts: &mut HashMap<Holder, Verdict>,
    ) {
        for record in records {
            let held = synced(&self.account, record);
            let verdict = match interpret(self, record, held) {
                Ok(candidate) => {
                    candidates.push(candidate);
                    Verdict::Candidate
                }
                Err(verdict) => verdict,
            };
            if let Some(holder) = held {
                verdicts.insert(holder, verdict);
            }
        }
    }

    fn interpret_user(&mut self, user: &'a DirectoryUser, held: Option<Holder>) -> Interpreted<'a> {
        let addresses = DirectoryAddresses::of_user(user);
        let include_blocked = self.input.settings.include_sign_in_blocked;
        if let Some(inactivity) =
            directory::inactivity(user, addresses.primary.is_some(), include_blocked)
        {
            if held.is_none() {
                self.count_inactive(inactivity);
            }
            return Err(Verdict::Absent(Absence::Inactive(inactivity)));
        }
        self.active_users_read += 1;
        let display_name = user.display_name.as_deref();
        let label = || directory::object_label(display_name, addresses.primary_text(), &user.id);
        if self.exempt(&user.id, label) {
            return Err(Verdict::Exempt);
        }
        if !self.input.settings.scope.users {
            return Err(Verdict::Absent(Absence::OutOfScope(
                "users are not selected in What to Sync".to_owned(),
            )));
        }
        let (primary, aliases) = self.screen(addresses, &user.id, display_name)?;
        let Some(primary) = primary else {
            return Err(Verdict::Absent(Absence::Inactive(Inactivity::NoMailbox)));
        };
        let object = DirectoryObject::User { user, primary };
        Ok(Candidate::new(object, aliases, held))
    }

    fn interpret_group(
        &mut self,
        group: &'a DirectoryGroup,
        held: Option<Holder>,
    ) -> Interpreted<'a> {
        let addresses = DirectoryAddresses::of_group(group);
        let display_name = group.display_name.as_deref();
        let label = || directory::object_label(display_name, addresses.primary_text(), &group.id);
        if self.exempt(&group.id, label) {
            return Err(Verdict::Exempt);
        }
        let Some(kind) = directory::group_kind(group) else {
            let why = "the group is neither mail-enabled nor security-enabled";
            self.skip(
                &group.id,
                &label(),
                SkipReason::UnknownGroupKind,
                format!("{why}, so Roster cannot hold it"),
            );
            return Err(Verdict::Absent(Absence::OutOfScope(why.to_owned())));
        };
        if let Some(why) = directory::unselected_group_kind(&self.input.settings.scope, kind) {
            return Err(Verdict::Absent(Absence::OutOfScope(why.to_owned())));
        }
        let (address, aliases) = self.screen(addresses, &group.id, display_name)?;
        let object = DirectoryObject::Group {
            group,
            kind,
            address,
        };
        Ok(Candidate::new(object, aliases, held))
    }

    /// Whether the object is exempt from sync. An exempt object is listed in *Skipped*, named by
    /// `label`.
    fn exempt(&mut self, id: &ExternalId, label: impl FnOnce() -> String) -> bool {
        if !self.input.exemptions.contains(id) {
            return false;
        }
        let detail = "exempt from sync: no change is proposed".to_owned();
        self.skip(id, &label(), SkipReason::Exempted, detail);
        true
    }

    /// Keeps the addresses the account may hold: valid, in its domains, owned by no other
    /// account. A problem with an alias drops the alias; one with the primary settles the object.
    fn screen(
        &mut self,
        addresses: DirectoryAddresses,
        id: &ExternalId,
        display_name: Option<&str>,
    ) -> Result<(Option<EmailAddress>, Vec<EmailAddress>), Verdict> {
        // The object's name in *Skipped*, by the primary address as the directory wrote it.
        let label = |address: Option<&str>| directory::object_label(display_name, address, id);
        let primary = match addresses.primary {
            None => None,
            Some(Err(invalid)) => {
                let detail = format!(
                    "primary address {:?} is not a valid address: {}",
                    invalid.value, invalid.why
                );
                let label = label(Some(&invalid.value));
                self.skip(id, &label, SkipReason::InvalidAddress, detail);
                return Err(Verdict::Unresolved);
            }
            Some(Ok(primary)) => {
                if !self.input.account.owns_address(&primary) {
                    let detail =
                        format!("primary address {primary} is in none of the account's domains");
                    let label = label(Some(primary.as_str()));
                    self.skip(id, &label, SkipReason::OutOfDomain, detail);
                    let why =
                        format!("its primary address {primary} is outside the account's domains");
                    return Err(Verdict::Absent(Absence::OutOfScope(why)));
                }
                if let Some(owner) = self.input.held_by_other_accounts.get(&primary) {
                    let detail =
                        format!("primary address {primary} belongs to the account {owner}");
                    let label = label(Some(primary.as_str()));
                    self.skip(id, &label, SkipReason::OwnedByAnotherAccount, detail);
                    return Err(Verdict::Unresolved);
                }
                Some(primary)
            }
        };
        let primary_text = primary.as_ref().map(EmailAddress::as_str);
        for invalid in &addresses.invalid_aliases {
            let detail = format!(
                "alias {:?} is not a valid address ({}); it is dropped",
                invalid.value, invalid.why
            );
            self.skip(id, &label(primary_text), SkipReason::InvalidAddress, detail);
        }
        let mut aliases = addresses.aliases;
        aliases.retain(|alias| {
            let problem = if !self.input.account.owns_address(alias) {
                Some((
                    SkipReason::AliasOutOfDomain,
                    format!("alias {alias} is in none of the account's domains"),
                ))
            } else {
                self.input.held_by_other_accounts.get(alias).map(|owner| {
                    (
                        SkipReason::OwnedByAnotherAccount,
                        format!("alias {alias} belongs to the account {owner}"),
                    )
                })
            };
            let Some((reason, detail)) = problem else {
                return true;
            };
            self.skip(
                id,
                &label(primary_text),
                reason,
                format!("{detail}; it is dropped"),
            );
            false
        });
        Ok((primary, aliases))
    }

    fn count_inactive(&mut self, inactivity: Inactivity) {
        let count = match inactivity {
            Inactivity::Guest => &mut self.inactive.guests,
            Inactivity::SignInBlocked => &mut self.inactive.sign_in_blocked,
            Inactivity::NoMailbox => &mut self.inactive.without_mailbox,
        };
        *count += 1;
    }

    fn skip(&mut self, id: &ExternalId, label: &str, reason: SkipReason, detail: String) {
        self.skipped.push(Skipped {
            external_id: id.clone(),
            summary: label.to_owned(),
            reason,
            detail,
        });
    }

    /// The synced objects the account should no longer hold, except those sync never removes:
    /// exempt objects, organization admins and the tech contact. A partial read removes nothing.
    fn removals(&mut self, verdicts: &HashMap<Holder, Verdict>) -> Vec<Removal<'a>> {
        let synced_users = self
            .account
            .synced_users
            .iter()
            .map(|(&id, &i)| (id, Holder::User(i)));
        let synced_groups = self
            .account
            .synced_groups
            .iter()
            .map(|(&id, &i)| (id, Holder::Group(i)));
        let synced: Vec<_> = synced_users.chain(synced_groups).collect();
        let mut removals = Vec::new();
        for (external_id, holder) in synced {
            let absence = match verdicts.get(&holder) {
                None => Absence::Deleted,
                Some(Verdict::Absent(absence)) => absence.clone(),
                Some(Verdict::Candidate | Verdict::Unresolved | Verdict::Exempt) => continue,
            };
            let kept = if self.input.exemptions.contains(external_id) {
                Some((SkipReason::Exempted, "it is exempt from sync"))
            } else {
                self.protection(holder)
                    .map(|why| (SkipReason::ProtectedFromRemoval, why))
            };
            if let Some((reason, why)) = kept {
                let detail = format!("{}, but it is kept: {why}", absence.reason());
                self.skip(external_id, &self.account.label(holder), reason, detail);
                continue;
            }
            if self.input.mirror.read == MirrorRead::Incomplete {
                continue;
            }
            let category = match holder {
                Holder::User(_) => Category::UsersToRemove,
                Holder::Group(_) => Category::GroupsToRemove,
            };
            let allowed = self.allowed(category);
            // Once removed, the user is one more the account does not hold for being inactive.
            if let (true, Absence::Inactive(inactivity)) = (allowed, &absence) {
                self.count_inactive(*inactivity);
            }
            removals.push(Removal {
                holder,
                external_id,
                absence,
                allowed,
            });
        }
        removals
    }

    /// Why sync may never remove this object, if it may not.
    fn protection(&self, holder: Holder) -> Option<&'static str> {
        let user = self.account.user(holder)?;
        if user.role == Role::OrganizationAdmin {
            return Some("sync never removes an organization admin");
        }
        let contact = self.input.account.tech_contact.as_ref()?;
        let is_contact = self
            .account
            .addresses(holder)
            .any(|address| *address == contact.email);
        is_contact.then_some("sync never removes the account's tech contact")
    }

    fn allowed(&self, category: Category) -> bool {
        self.input.settings.actions.allows(category)
    }

    /// Whether the candidate's change, if it has one, would be applied under the settings.
    fn applies(&self, candidate: &Candidate) -> bool {
        self.allowed(candidate_category(candidate))
    }

    fn finish(mut self, candidates: &[Candidate], removals: &[Removal]) -> Plan {
        let outcome = self.outcome(candidates, removals);
        let changes: Vec<(Cow<str>, Change)> = candidates
            .iter()
            .filter(|candidate| !candidate.skipped)
            .filter_map(|candidate| self.candidate_change(candidate, &outcome))
            .chain(removals.iter().map(|removal| self.removal_change(removal)))
            .collect();
        let changes = sorted(changes);
        let allowed_count = |category| {
            changes
                .iter()
                .filter(|c| c.category == category && c.allowed_by_settings)
                .count()
        };
        let limit = self.input.settings.deletion_limit;
        let deletion_check = deletion_check(
            limit,
            [
                allowed_count(Category::UsersToRemove),
                self.account.synced_users.len(),
            ],
            [
                allowed_count(Category::GroupsToRemove),
                self.account.synced_groups.len(),
            ],
        );
        sort_skipped(&mut self.skipped);
        Plan {
            id: self.input.plan_id,
            account_id: self.input.account.id,
            run_id: self.input.run_id,
            created_at: self.input.created_at,
            changes,
            skipped: self.skipped,
            deletion_check,
            inactive_not_imported: self.inactive,
        }
    }

    /// The synced users and groups the account will hold once the plan's allowed changes are
    /// applied, with the names they will have: a group's members are those of its directory
    /// members that are among them.
    fn outcome<'o>(&self, candidates: &'o [Candidate<'a>], removals: &[Removal]) -> Outcome<'o>
    where
        'a: 'o,
    {
        // The directory ids the plan removes: neither kind holds an object with one of them.
        let removed: HashSet<&ExternalId> = (removals.iter())
            .filter(|removal| removal.allowed)
            .map(|removal| removal.external_id)
            .collect();
        let users = self.input.users;
        let mut held_users: Vec<HeldObject<UserId>> = (self.account.synced_users.iter())
            .filter(|(id, _)| !removed.contains(*id))
            .map(|(&external_id, &i)| HeldObject {
                external_id,
                account_id: Some(users[i].id),
                label: Cow::Borrowed(users[i].primary_address.as_str()),
            })
            .collect();
        let mut held_groups: Vec<HeldObject<GroupId>> = (self.account.synced_groups.iter())
            .filter(|(id, _)| !removed.contains(*id))
            .map(|(&external_id, &i)| HeldObject {
                external_id,
                account_id: Some(self.input.groups[i].id),
                label: Cow::Owned(self.account.label(Holder::Group(i))),
            })
            .collect();
        // The synced objects outside a planned part are held as they are; listed before the
        // part's own objects, they never stand in for one of them.
        if let MirrorRead::Part(bystanders) = self.input.mirror.read {
            held_users.extend(bystanders.users.iter().map(|user| HeldObject {
                external_id: &user.external_id,
                account_id: Some(user.id),
                label: Cow::Borrowed(user.primary_address.as_str()),
            }));
            held_groups.extend(bystanders.groups.iter().map(|group| HeldObject {
                external_id: &group.external_id,
                account_id: Some(group.id),
                label: Cow::Owned(group_label(&group.name, group.address.as_ref())),
            }));
        }
        for candidate in candidates.iter().filter(|c| !c.skipped && self.applies(c)) {
            match &candidate.object {
                DirectoryObject::User { user, primary } => held_users.push(HeldObject {
                    external_id: &user.id,
                    account_id: (candidate.current)
                        .and_then(|h| self.account.user(h))
                        .map(|u| u.id),
                    label: Cow::Borrowed(primary.as_str()),
                }),
                DirectoryObject::Group { group, address, .. } => {
                    let name = group_name(group, address.as_ref());
                    held_groups.push(HeldObject {
                        external_id: &group.id,
                        account_id: (candidate.current)
                            .and_then(|h| self.account.group(h))
                            .map(|g| g.id),
                        label: Cow::Owned(group_label(&name, address.as_ref())),
                    });
                }
            }
        }
        Outcome {
            users: Held::new(held_users),
            groups: Held::new(held_groups),
        }
    }
}

impl Planner<'_> {
    /// The change a candidate asks for, with the key it sorts by within its category: `None`
    /// when the account's object is already in step.
    fn candidate_change<'o>(
        &self,
        candidate: &'o Candidate,
        outcome: &Outcome,
    ) -> Option<(Cow<'o, str>, Change)> {
        match &candidate.object {
            DirectoryObject::User { user, primary } => {
                let wanted = WantedUser {
                    primary_address: primary,
                    aliases: &candidate.aliases,
                    first_name: directory::clean_name(user.given_name.as_deref()),
                    last_name: directory::clean_name(user.surname.as_deref()),
                    display_name: directory::clean_name(user.display_name.as_deref()),
                };
                let current = candidate
                    .current
                    .and_then(|holder| self.account.user(holder));
                let mut diff = user_diff(current, &wanted);
                let role = self.input.settings.default_role;
                if current.is_none() {
                    diff.push(
                        "role",
                        AttributeValue::None,
                        AttributeValue::Text(Role::from(role).to_string()),
                    );
                }
                let added = |fields: UserFields| {
                    let name = (wanted.display_name)
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    let action = ChangeAction::AddUser {
                        external_id: user.id.clone(),
                        fields,
                        role,
                    };
                    (format!("Add user {primary}{name}"), action)
                };
                let fields = || wanted.to_fields();
                let change = self.object_change(candidate, current, diff, fields, fields, added)?;
                Some((Cow::Borrowed(primary.as_str()), change))
            }
            DirectoryObject::Group {
                group,
                kind,
                address,
            } => {
                let name = group_name(group, address.as_ref());
                let wanted = WantedGroup {
                    name: &name,
                    kind: *kind,
                    address: address.as_ref(),
                    aliases: &candidate.aliases,
                };
                let members = Members {
                    users: outcome.users.wanted(&group.members, MemberType::User),
                    groups: outcome.groups.wanted(&group.members, MemberType::Group),
                };
                let current = candidate
                    .current
                    .and_then(|holder| self.account.group(holder));
                let mut diff = group_diff(current, &wanted);
                let users =
                    (outcome.users).diff(current.map_or(&[], |g| &g.member_users), &members.users);
                let groups = (outcome.groups)
                    .diff(current.map_or(&[], |g| &g.member_groups), &members.groups);
                if !users.is_empty() || !groups.is_empty() {
                    let names = self.member_names(&users, &groups, outcome);
                    diff.members(names.joining, names.leaving);
                }
                let label = group_label(&name, address.as_ref());
                let whole = || {
                    let members = GroupMembers {
                        users: members.users.external_ids(),
                        groups: members.groups.external_ids(),
                    };
                    (wanted.to_fields(), members)
                };
                let changed = || {
                    let changes = MemberChanges {
                        joining_users: users.joining_ids(),
                        joining_groups: groups.joining_ids(),
                        leaving_users: users.leaving_ids(),
                        leaving_groups: groups.leaving_ids(),
                    };
                    (wanted.to_fields(), changes)
                };
                let added = |(fields, members)| {
                    let action = ChangeAction::AddGroup {
                        external_id: group.id.clone(),
                        fields,
                        members,
                    };
                    (format!("Add group {label}"), action)
                };
                let change = self.object_change(candidate, current, diff, whole, changed, added)?;
                Some((Cow::Owned(label), change))
            }
        }
    }

    /// The change that makes the account's object (`current`, none for a new one) what the
    /// candidate says, or `None` when it already is. `added` words and builds the change of a
    /// new object. `whole` builds what an added or linked object gets, `update` what an
    /// updated one changes. Both are built only for a change: most objects of a re-sync have
    /// not changed, and theirs would be copied for nothing.
    fn object_change<O: AccountObject>(
        &self,
        candidate: &Candidate,
        current: Option<&O>,
        mut diff: AttributeDiff,
        whole: impl FnOnce() -> O::Whole,
        update: impl FnOnce() -> O::Update,
        added: impl FnOnce(O::Whole) -> (String, ChangeAction),
    ) -> Option<Change> {
        let external_id = candidate.external_id();
        let (summary, reason, action) = match current {
            None => {
                let (summary, action) = added(whole());
                (summary, "new in the directory".to_owned(), action)
            }
            Some(object) if candidate.linked => {
                push_link(&mut diff);
                let summary = format!(
                    "Link existing {} {} to the directory",
                    O::NOUN,
                    object.label()
                );
                let action = object.link(external_id.clone(), whole());
                (summary, LINK_REASON.to_owned(), action)
            }
            Some(_) if diff.is_empty() => return None,
            Some(object) => {
                let summary = format!("Update {} {}", O::NOUN, object.label());
                (summary, update_reason(&diff), object.update(update()))
            }
        };
        let category = candidate_category(candidate);
        let change = self.change(category, external_id.clone(), summary, reason, diff, action);
        Some(change)
    }

    /// The names of the members that join and of those that leave. Only the difference is
    /// listed: a group of thousands that gains one member shows that one member.
    fn member_names(
        &self,
        users: &MemberDiff<UserId>,
        groups: &MemberDiff<GroupId>,
        outcome: &Outcome,
    ) -> MemberNames {
        let unheld_user = |id: UserId| match self.account.user_by_id(id) {
            Some(user) => user.primary_address.to_string(),
            None => format!("user {id}"),
        };
        let unheld_group = |id: GroupId| match self.account.group_by_id(id) {
            Some(group) => group_member_label(&group_label(&group.name, group.address.as_ref())),
            None => format!("group {id}"),
        };
        let (users_joining, groups_joining) = (users.joining_numbers(), groups.joining_numbers());
        let (users_leaving, groups_leaving) = (users.leaving_numbers(), groups.leaving_numbers());
        let mut joining: Vec<String> = (outcome.users.labels(&users_joining).map(str::to_owned))
            .chain(
                outcome
                    .groups
                    .labels(&groups_joining)
                    .map(group_member_label),
            )
            .collect();
        let mut leaving: Vec<String> = (outcome.users.labels(&users_leaving).map(str::to_owned))
            .chain(users.leaving_not_held.iter().copied().map(unheld_user))
            .chain(
                outcome
                    .groups
                    .labels(&groups_leaving)
                    .map(group_member_label),
            )
            .chain(groups.leaving_not_held.iter().copied().map(unheld_group))
            .collect();
        joining.sort_unstable();
        leaving.sort_unstable();
        MemberNames { joining, leaving }
    }

    fn removal_change(&self, removal: &Removal) -> (Cow<'static, str>, Change) {
        let label = self.account.label(removal.holder);
        let (category, noun, action) = match removal.holder {
            Holder::User(i) => {
                let user = &self.input.users[i];
                let action = ChangeAction::RemoveUser {
                    user_id: user.id,
                    expected_version: user.version,
                };
                (Category::UsersToRemove, "user", action)
            }
            Holder::Group(i) => {
                let group = &self.input.groups[i];
                let action = ChangeAction::RemoveGroup {
                    group_id: group.id,
                    expected_version: group.version,
                };
                (Category::GroupsToRemove, "group", action)
            }
        };
        let mut diff = AttributeDiff::default();
        diff.push(
            noun,
            AttributeValue::Text(label.clone()),
            AttributeValue::None,
        );
        let summary = format!("Remove {noun} {label}");
        let change = self.change(
            category,
            removal.external_id.clone(),
            summary,
            removal.absence.reason(),
            diff,
            action,
        );
        (Cow::Owned(label), change)
    }

    fn change(
        &self,
        category: Category,
        external_id: ExternalId,
        summary: String,
        reason: String,
        diff: AttributeDiff,
        action: ChangeAction,
    ) -> Change {
        Change {
            id: change_id(self.input.plan_id, category, &external_id),
            category,
            external_id,
            summary,
            reason,
            attributes: diff.into_changes(),
            action,
            allowed_by_settings: self.allowed(category),
        }
    }
}

/// The deletion limit's verdict on removing `[removals, synced]` users and groups.
pub(crate) fn deletion_check(
    limit: DeletionLimit,
    [user_removals, synced_users]: [usize; 2],
    [group_removals, synced_groups]: [usize; 2],
) -> DeletionCheck {
    DeletionCheck {
        user_removals,
        synced_users,
        group_removals,
        synced_groups,
        exceeded: limit.exceeded(user_removals, synced_users)
            || limit.exceeded(group_removals, synced_groups),
    }
}

/// The order *Skipped* is shown in: by object name, then directory id, then detail.
pub(crate) fn sort_skipped(skipped: &mut [Skipped]) {
    skipped.sort_by(|a, b| {
        (&a.summary, &a.external_id, &a.detail).cmp(&(&b.summary, &b.external_id, &b.detail))
    });
}

const LINK_REASON: &str = "a manual object of the account holds this address; it is linked to the directory object rather than duplicated";

/// Shows that linking hands the object to sync.
fn push_link(diff: &mut AttributeDiff) {
    diff.push(
        "source",
        AttributeValue::Text("manual".to_owned()),
        AttributeValue::Text("directory".to_owned()),
    );
}

fn update_reason(diff: &AttributeDiff) -> String {
    format!("changed in the directory: {}", diff.names().join(", "))
}

/// Orders changes by category, then by the object's address or name. A change is large and a
/// full sync has a hundred thousand: the order is worked out on indices, then each change is
/// moved into place within the same vector, never into a second one.
fn sorted(mut keyed: Vec<(Cow<str>, Change)>) -> Vec<Change> {
    let mut order: Vec<usize> = (0..keyed.len()).collect();
    order.sort_unstable_by_key(|&i| (keyed[i].1.category, &keyed[i].0, &keyed[i].1.external_id));
    // Position `i` is to receive the change now at `order[i]`. Following each cycle of that
    // permutation puts every change in place with one swap; a done position points at itself.
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != start {
            let next = order[at];
            keyed.swap(at, next);
            order[at] = at;
            at = next;
        }
        order[at] = at;
    }
    keyed.into_iter().map(|(_, change)| change).collect()
}

/// How a nested group shows in a list of members.
fn group_member_label(label: &str) -> String {
    format!("group {label}")
}

/// The names of the members that join a group and of those that leave it.
struct MemberNames {
    joining: Vec<String>,
    leaving: Vec<String>,
}

/// A group's wanted members, by their numbers in the [`Outcome`].
struct Members<'m> {
    users: Wanted<'m>,
    groups: Wanted<'m>,
}

/// The account's synced objects after the plan.
struct Outcome<'o> {
    users: Held<'o, UserId>,
    groups: Held<'o, GroupId>,
}

/// The account's objects a candidate can become, as its change names and sets them.
trait AccountObject {
    /// What an added or linked object is set to.
    type Whole;
    /// What an update changes.
    type Update;
    /// The kind, as a change's summary names it.
    const NOUN: &'static str;
    fn label(&self) -> Cow<'_, str>;
    fn link(&self, external_id: ExternalId, whole: Self::Whole) -> ChangeAction;
    fn update(&self, update: Self::Update) -> ChangeAction;
}

impl AccountObject for User {
    type Whole = UserFields;
    type Update = UserFields;
    const NOUN: &'static str = "user";

    fn label(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.primary_address.as_str())
    }

    fn link(&self, external_id: ExternalId, fields: UserFields) -> ChangeAction {
        ChangeAction::LinkUser {
            user_id: self.id,
            expected_version: self.version,
            external_id,
            fields,
        }
    }

    fn update(&self, fields: UserFields) -> ChangeAction {
        ChangeAction::UpdateUser {
            user_id: self.id,
            expected_version: self.version,
            fields,
        }
    }
}

impl AccountObject for Group {
    type Whole = (GroupFields, GroupMembers);
    type Update = (GroupFields, MemberChanges);
    const NOUN: &'static str = "group";

    fn label(&self) -> Cow<'_, str> {
        Cow::Owned(group_label(&self.name, self.address.as_ref()))
    }

    fn link(&self, external_id: ExternalId, (fields, members): Self::Whole) -> ChangeAction {
        ChangeAction::LinkGroup {
            group_id: self.id,
            expected_version: self.version,
            external_id,
            fields,
            members,
        }
    }

    fn update(&self, (fields, members): Self::Update) -> ChangeAction {
        ChangeAction::UpdateGroup {
            group_id: self.id,
            expected_version: self.version,
            fields,
            members,
        }
    }
}

fn candidate_category(candidate: &Candidate) -> Category {
    match (&candidate.object, candidate.current) {
        (DirectoryObject::User { .. }, None) => Category::UsersToAdd,
        (DirectoryObject::User { .. }, Some(_)) => Category::UsersToUpdate,
        (DirectoryObject::Group { .. }, None) => Category::GroupsToAdd,
        (DirectoryObject::Group { .. }, Some(_)) => Category::GroupsToUpdate,
    }
}

/// A group's name: its display name, else its address, else its directory id.
fn group_name<'g>(group: &'g DirectoryGroup, address: Option<&EmailAddress>) -> Cow<'g, str> {
    match directory::clean_name(group.display_name.as_deref()) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(address.map_or_else(|| group.id.to_string(), ToString::to_string)),
    }
}
