//! Builders for plain test values: an account at Contoso, its users and groups, and the
//! directory records Graph would return.

use std::collections::{HashMap, HashSet};

use roster_domain::plan::{
    Category, Change, ChangeAction, GroupFields, GroupMembers, MemberChanges, Plan, SkipReason,
    UserFields,
};
use roster_domain::{
    Account, AccountId, Cloud, ConnectionSettings, DeletionLimit, DirectoryGroup, DirectoryMember,
    DirectoryUser, EmailAddress, ExternalId, Frequency, Group, GroupId, GroupKind, MemberType,
    NewUserRole, PlanId, Role, RunId, Source, SyncActions, SyncScope, TechContact, User, UserId,
};
use roster_plan::{
    AccountSnapshot, Mirror, MirrorRead, PlanError, PlanInput, apply_to_snapshot, plan,
};
use time::macros::datetime;
use uuid::Uuid;

pub fn addr(text: &str) -> EmailAddress {
    text.parse().expect("test addresses are valid")
}

pub fn ext(text: &str) -> ExternalId {
    text.parse().expect("test directory ids are valid")
}

/// Everything one plan is made from, with Contoso's account as the starting point: domains
/// contoso.com and contoso.org, tech contact it@contoso.com, default settings.
#[derive(Debug, Clone)]
pub struct World {
    pub account: Account,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub directory_users: Vec<DirectoryUser>,
    pub directory_groups: Vec<DirectoryGroup>,
    pub settings: ConnectionSettings,
    pub exemptions: HashSet<ExternalId>,
    pub other_accounts: HashMap<EmailAddress, String>,
    pub read: MirrorRead<'static>,
}

impl World {
    pub fn contoso() -> Self {
        Self {
            account: Account {
                id: AccountId::from_uuid(Uuid::from_u128(1)),
                name: "Contoso".to_owned(),
                domains: vec![
                    "contoso.com".parse().unwrap(),
                    "contoso.org".parse().unwrap(),
                ],
                tech_contact: Some(TechContact {
                    name: "IT desk".to_owned(),
                    email: addr("it@contoso.com"),
                }),
                created_at: datetime!(2026-01-01 00:00 UTC),
            },
            users: Vec::new(),
            groups: Vec::new(),
            directory_users: Vec::new(),
            directory_groups: Vec::new(),
            settings: ConnectionSettings {
                tenant: "contoso.com".parse().unwrap(),
                client_id: "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".parse().unwrap(),
                cloud: Cloud::Global,
                default_role: NewUserRole::EndUser,
                scope: SyncScope::default(),
                actions: SyncActions::default(),
                frequency: Frequency::Never,
                deletion_limit: DeletionLimit::default(),
                include_sign_in_blocked: false,
                key_expires_on: None,
            },
            exemptions: HashSet::new(),
            other_accounts: HashMap::new(),
            read: MirrorRead::Complete,
        }
    }

    /// Adds a user that sync already holds and that the directory still has, unchanged.
    pub fn with_synced_user(&mut self, id: &str, address: &str) {
        self.users.push(synced_user(id, address));
        self.directory_users.push(entra_user(id, address));
    }

    pub fn try_plan(&self) -> Result<Plan, PlanError> {
        plan(&self.input())
    }

    /// The planner's input for this world.
    pub fn input(&self) -> PlanInput<'_> {
        PlanInput {
            plan_id: PlanId::from_uuid(Uuid::from_u128(7)),
            run_id: RunId::from_uuid(Uuid::from_u128(8)),
            created_at: datetime!(2026-03-01 12:00 UTC),
            account: &self.account,
            users: &self.users,
            groups: &self.groups,
            mirror: Mirror {
                users: &self.directory_users,
                groups: &self.directory_groups,
                read: self.read,
            },
            settings: &self.settings,
            exemptions: &self.exemptions,
            held_by_other_accounts: &self.other_accounts,
        }
    }

    pub fn plan(&self) -> Plan {
        self.try_plan().expect("the plan is made")
    }

    /// Applies the given changes of `plan` to the account, as apply would; none may fail.
    pub fn apply<'c>(&mut self, changes: impl IntoIterator<Item = &'c Change>) {
        let mut snapshot = AccountSnapshot {
            account_id: self.account.id,
            users: std::mem::take(&mut self.users),
            groups: std::mem::take(&mut self.groups),
        };
        let failures = apply_to_snapshot(&mut snapshot, changes);
        assert_eq!(failures, [], "every change applies");
        self.users = snapshot.users;
        self.groups = snapshot.groups;
    }
}

/// An enabled member with a mailbox: `SMTP:` primary, `mail` set, names from the local part.
pub fn entra_user(id: &str, address: &str) -> DirectoryUser {
    let local = address.split('@').next().unwrap_or(address);
    DirectoryUser {
        id: ext(id),
        user_principal_name: Some(address.to_owned()),
        mail: Some(address.to_owned()),
        proxy_addresses: vec![format!("SMTP:{address}")],
        account_enabled: Some(true),
        user_type: Some("Member".to_owned()),
        display_name: Some(local.to_owned()),
        given_name: Some(local.to_owned()),
        surname: None,
    }
}

/// `user` with `aliases` added as `smtp:` proxy addresses.
pub fn with_aliases(mut user: DirectoryUser, aliases: &[&str]) -> DirectoryUser {
    user.proxy_addresses
        .extend(aliases.iter().map(|alias| format!("smtp:{alias}")));
    user
}

/// `group` with these direct members.
pub fn with_members(group: DirectoryGroup, members: &[(&str, MemberType)]) -> DirectoryGroup {
    let members = members.iter().map(|&(id, kind)| member(id, kind)).collect();
    DirectoryGroup { members, ..group }
}

/// A group of `kind`, flagged the way Graph flags that kind, without members.
pub fn entra_group(id: &str, name: &str, kind: GroupKind, address: Option<&str>) -> DirectoryGroup {
    let (mail_enabled, security_enabled, group_types) = match kind {
        GroupKind::Distribution => (true, false, vec![]),
        GroupKind::MailEnabledSecurity => (true, true, vec![]),
        GroupKind::Security => (false, true, vec![]),
        GroupKind::Microsoft365 => (true, false, vec!["Unified".to_owned()]),
    };
    DirectoryGroup {
        id: ext(id),
        display_name: Some(name.to_owned()),
        mail: address.map(str::to_owned),
        mail_enabled: Some(mail_enabled),
        security_enabled: Some(security_enabled),
        group_types,
        proxy_addresses: address.map(|a| format!("SMTP:{a}")).into_iter().collect(),
        members: Vec::new(),
    }
}

pub fn member(id: &str, kind: MemberType) -> DirectoryMember {
    DirectoryMember { id: ext(id), kind }
}

/// A user created by hand in the console.
pub fn manual_user(address: &str) -> User {
    User {
        id: UserId::new(),
        account_id: AccountId::from_uuid(Uuid::from_u128(1)),
        primary_address: addr(address),
        aliases: Vec::new(),
        first_name: None,
        last_name: None,
        display_name: None,
        role: Role::EndUser,
        digests: true,
        source: Source::Manual,
        external_id: None,
        version: 3,
    }
}

/// The user sync made of `entra_user(id, address)`: planning it again changes nothing.
pub fn synced_user(id: &str, address: &str) -> User {
    let local = address.split('@').next().unwrap_or(address).to_owned();
    User {
        first_name: Some(local.clone()),
        display_name: Some(local),
        source: Source::Directory,
        external_id: Some(ext(id)),
        ..manual_user(address)
    }
}

/// A group created by hand in the console, without members.
pub fn manual_group(name: &str, kind: GroupKind, address: Option<&str>) -> Group {
    Group {
        id: GroupId::new(),
        account_id: AccountId::from_uuid(Uuid::from_u128(1)),
        name: name.to_owned(),
        kind,
        address: address.map(addr),
        aliases: Vec::new(),
        source: Source::Manual,
        external_id: None,
        member_users: Vec::new(),
        member_groups: Vec::new(),
        version: 2,
    }
}

/// The group sync made of `entra_group(id, name, kind, address)`.
pub fn synced_group(id: &str, name: &str, kind: GroupKind, address: Option<&str>) -> Group {
    Group {
        source: Source::Directory,
        external_id: Some(ext(id)),
        ..manual_group(name, kind, address)
    }
}

/// The summaries of one category, in plan order.
pub fn summaries(plan: &Plan, category: Category) -> Vec<&str> {
    plan.in_category(category)
        .map(|change| change.summary.as_str())
        .collect()
}

/// The one change the plan proposes for a directory object.
pub fn change_for<'p>(plan: &'p Plan, id: &str) -> &'p Change {
    let mut changes = plan
        .changes
        .iter()
        .filter(|change| change.external_id.as_str() == id);
    let change = changes
        .next()
        .unwrap_or_else(|| panic!("no change for {id} in {:#?}", plan.changes));
    assert!(changes.next().is_none(), "one change per object");
    change
}

/// The fields of the user the plan adds for a directory object.
pub fn added_user(plan: &Plan, id: &str) -> UserFields {
    match &change_for(plan, id).action {
        ChangeAction::AddUser { fields, .. } => fields.clone(),
        other => panic!("expected {id} to be added as a user, got {other:?}"),
    }
}

/// The fields and members of the group the plan adds for a directory object.
pub fn added_group(plan: &Plan, id: &str) -> (GroupFields, GroupMembers) {
    match &change_for(plan, id).action {
        ChangeAction::AddGroup {
            fields, members, ..
        } => (fields.clone(), members.clone()),
        other => panic!("expected {id} to be added as a group, got {other:?}"),
    }
}

/// How the plan changes the members of a group the account holds.
pub fn member_changes(plan: &Plan, id: &str) -> MemberChanges {
    match &change_for(plan, id).action {
        ChangeAction::UpdateGroup { members, .. } => members.clone(),
        other => panic!("expected {id} to be updated as a group, got {other:?}"),
    }
}

/// The reasons the plan lists a directory object under *Skipped*.
pub fn skip_reasons(plan: &Plan, id: &str) -> Vec<SkipReason> {
    plan.skipped
        .iter()
        .filter(|s| s.external_id.as_str() == id)
        .map(|s| s.reason)
        .collect()
}

/// The details of the *Skipped* entries for a directory object.
pub fn skip_details<'p>(plan: &'p Plan, id: &str) -> Vec<&'p str> {
    plan.skipped
        .iter()
        .filter(|s| s.external_id.as_str() == id)
        .map(|s| s.detail.as_str())
        .collect()
}

/// An attribute's before → after values on a change, as plain text.
pub fn attribute(change: &Change, name: &str) -> Option<(String, String)> {
    use roster_domain::plan::AttributeValue;
    let show = |value: &AttributeValue| match value {
        AttributeValue::None => "-".to_owned(),
        AttributeValue::Text(text) => text.clone(),
        AttributeValue::List(items) => format!("[{}]", items.join(", ")),
    };
    change
        .attributes
        .iter()
        .find(|a| a.attribute == name)
        .map(|a| (show(&a.before), show(&a.after)))
}
