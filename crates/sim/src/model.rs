//! The simulated directory: objects, their properties and the change log that delta rounds replay.
//!
//! Every object kind has a static schema (its Graph property names, types and whether Graph returns
//! the property without `$select`). Objects store their values by schema position, so listing,
//! `$select`, `$filter`, delta tracking and control-API updates are one generic code path.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The directory object types that can appear in this tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectKind {
    User,
    Group,
    OrgContact,
    Device,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 4] = [Self::User, Self::Group, Self::OrgContact, Self::Device];

    pub fn schema(self) -> &'static Schema {
        match self {
            Self::User => &USER_SCHEMA,
            Self::Group => &GROUP_SCHEMA,
            Self::OrgContact => &CONTACT_SCHEMA,
            Self::Device => &DEVICE_SCHEMA,
        }
    }

    /// The `@odata.type` annotation Graph puts on directory objects in mixed collections.
    pub fn odata_type(self) -> &'static str {
        match self {
            Self::User => "#microsoft.graph.user",
            Self::Group => "#microsoft.graph.group",
            Self::OrgContact => "#microsoft.graph.orgContact",
            Self::Device => "#microsoft.graph.device",
        }
    }

    /// The entity-set name used in `@odata.context` and in error messages.
    pub fn entity_set(self) -> &'static str {
        match self {
            Self::User => "users",
            Self::Group => "groups",
            Self::OrgContact => "contacts",
            Self::Device => "devices",
        }
    }

    pub fn type_name(self) -> &'static str {
        match self {
            Self::User => "microsoft.graph.user",
            Self::Group => "microsoft.graph.group",
            Self::OrgContact => "microsoft.graph.orgContact",
            Self::Device => "microsoft.graph.device",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Bool,
    TextList,
}

/// Whether a property can be used in `$filter` without an advanced query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filterable {
    No,
    Yes,
}

#[derive(Debug)]
pub struct PropertyDef {
    pub name: &'static str,
    pub value_type: ValueType,
    /// Returned without `$select` (Graph's "default property set").
    pub default: bool,
    pub filterable: Filterable,
}

/// The properties of one object kind, in the order Graph writes them by default.
#[derive(Debug)]
pub struct Schema {
    pub kind_name: &'static str,
    pub properties: &'static [PropertyDef],
    /// Users print `id` after their default properties, groups before them (as the samples do).
    pub id_first: bool,
}

impl Schema {
    pub fn position(&self, name: &str) -> Option<usize> {
        self.properties.iter().position(|p| p.name == name)
    }

    pub fn position_ignore_case(&self, name: &str) -> Option<usize> {
        self.properties
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The position of a property this crate names itself (never a name from a request); a
    /// misspelt name is a programming error that every test run would reveal.
    pub fn required(&self, name: &str) -> usize {
        self.position(name)
            .unwrap_or_else(|| panic!("schema {} has no property {name}", self.kind_name))
    }
}

const fn prop(
    name: &'static str,
    value_type: ValueType,
    default: bool,
    filterable: bool,
) -> PropertyDef {
    PropertyDef {
        name,
        value_type,
        default,
        filterable: if filterable {
            Filterable::Yes
        } else {
            Filterable::No
        },
    }
}

use ValueType::{Bool, Text, TextList};

pub static USER_SCHEMA: Schema = Schema {
    kind_name: "User",
    id_first: false,
    properties: &[
        prop("businessPhones", TextList, true, false),
        prop("displayName", Text, true, true),
        prop("givenName", Text, true, true),
        prop("jobTitle", Text, true, true),
        prop("mail", Text, true, true),
        prop("mobilePhone", Text, true, false),
        prop("officeLocation", Text, true, false),
        prop("preferredLanguage", Text, true, false),
        prop("surname", Text, true, true),
        prop("userPrincipalName", Text, true, true),
        prop("accountEnabled", Bool, false, true),
        prop("userType", Text, false, true),
        prop("proxyAddresses", TextList, false, true),
        prop("mailNickname", Text, false, true),
        prop("otherMails", TextList, false, true),
        prop("onPremisesSyncEnabled", Bool, false, true),
        prop("createdDateTime", Text, false, true),
        prop("department", Text, false, true),
        prop("companyName", Text, false, true),
    ],
};

pub static GROUP_SCHEMA: Schema = Schema {
    kind_name: "Group",
    id_first: true,
    properties: &[
        prop("deletedDateTime", Text, true, false),
        prop("classification", Text, true, true),
        prop("createdDateTime", Text, true, true),
        prop("description", Text, true, true),
        prop("displayName", Text, true, true),
        prop("expirationDateTime", Text, true, true),
        prop("groupTypes", TextList, true, true),
        prop("isAssignableToRole", Bool, true, true),
        prop("mail", Text, true, true),
        prop("mailEnabled", Bool, true, true),
        prop("mailNickname", Text, true, true),
        prop("membershipRule", Text, true, false),
        prop("membershipRuleProcessingState", Text, true, false),
        prop("onPremisesLastSyncDateTime", Text, true, true),
        prop("onPremisesSecurityIdentifier", Text, true, true),
        prop("onPremisesSyncEnabled", Bool, true, true),
        prop("preferredDataLocation", Text, true, false),
        prop("preferredLanguage", Text, true, false),
        prop("proxyAddresses", TextList, true, true),
        prop("renewedDateTime", Text, true, true),
        prop("resourceBehaviorOptions", TextList, true, false),
        prop("resourceProvisioningOptions", TextList, true, true),
        prop("securityEnabled", Bool, true, true),
        prop("theme", Text, true, false),
        prop("visibility", Text, true, false),
    ],
};

pub static CONTACT_SCHEMA: Schema = Schema {
    kind_name: "OrgContact",
    id_first: true,
    properties: &[
        prop("companyName", Text, true, true),
        prop("displayName", Text, true, true),
        prop("givenName", Text, true, true),
        prop("mail", Text, true, true),
        prop("mailNickname", Text, true, true),
        prop("proxyAddresses", TextList, true, true),
        prop("surname", Text, true, true),
    ],
};

pub static DEVICE_SCHEMA: Schema = Schema {
    kind_name: "Device",
    id_first: true,
    properties: &[
        prop("accountEnabled", Bool, true, true),
        prop("deviceId", Text, true, true),
        prop("displayName", Text, true, true),
        prop("operatingSystem", Text, true, true),
        prop("operatingSystemVersion", Text, true, true),
    ],
};

/// One property value. Absent optional values are `Null`; collections are never null.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    Text(String),
    TextList(Vec<String>),
}

impl Value {
    pub fn text(s: impl Into<String>) -> Self {
        Value::Text(s.into())
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn empty_for(value_type: ValueType) -> Self {
        match value_type {
            ValueType::TextList => Value::TextList(Vec::new()),
            ValueType::Text | ValueType::Bool => Value::Null,
        }
    }
}

/// Where an object is in its lifecycle. Purged objects keep their slot (and id) so positions in
/// listings and the change log stay stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Lifecycle {
    Live,
    SoftDeleted,
    Purged,
}

/// A reference to an object: its kind and its slot in that kind's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    pub slot: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectoryObject {
    pub id: String,
    pub values: Vec<Value>,
    pub lifecycle: Lifecycle,
    /// Direct members (groups only), in the order they were added.
    pub members: Vec<ObjectRef>,
}

impl DirectoryObject {
    pub fn new(kind: ObjectKind, id: String) -> Self {
        let values = kind
            .schema()
            .properties
            .iter()
            .map(|p| Value::empty_for(p.value_type))
            .collect();
        Self {
            id,
            values,
            lifecycle: Lifecycle::Live,
            members: Vec::new(),
        }
    }

    pub fn is_live(&self) -> bool {
        self.lifecycle == Lifecycle::Live
    }
}

/// A bit per schema position: which properties a change touched or a query selected.
pub type PropertyMask = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    Created,
    Updated(PropertyMask),
    SoftDeleted,
    Restored,
    Purged,
    MemberAdded(ObjectRef),
    MemberRemoved(ObjectRef),
}

/// One entry of the change log; its position in the log is its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub target: ObjectRef,
    pub kind: ChangeKind,
}

/// The objects of one tenant and every change made to them since it was generated.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Directory {
    pub users: Vec<DirectoryObject>,
    pub groups: Vec<DirectoryObject>,
    pub contacts: Vec<DirectoryObject>,
    pub devices: Vec<DirectoryObject>,
    pub changes: Vec<Change>,
    #[serde(skip)]
    by_id: HashMap<String, ObjectRef>,
    #[serde(skip)]
    users_by_upn: HashMap<String, u32>,
}

impl Directory {
    pub fn table(&self, kind: ObjectKind) -> &[DirectoryObject] {
        match kind {
            ObjectKind::User => &self.users,
            ObjectKind::Group => &self.groups,
            ObjectKind::OrgContact => &self.contacts,
            ObjectKind::Device => &self.devices,
        }
    }

    fn table_mut(&mut self, kind: ObjectKind) -> &mut Vec<DirectoryObject> {
        match kind {
            ObjectKind::User => &mut self.users,
            ObjectKind::Group => &mut self.groups,
            ObjectKind::OrgContact => &mut self.contacts,
            ObjectKind::Device => &mut self.devices,
        }
    }

    pub fn get(&self, at: ObjectRef) -> &DirectoryObject {
        &self.table(at.kind)[at.slot as usize]
    }

    pub fn get_mut(&mut self, at: ObjectRef) -> &mut DirectoryObject {
        &mut self.table_mut(at.kind)[at.slot as usize]
    }

    /// Rebuilds the lookup indexes (after generation or after loading a saved state).
    pub fn reindex(&mut self) {
        let mut by_id = HashMap::new();
        let mut users_by_upn = HashMap::new();
        let upn = USER_SCHEMA.required("userPrincipalName");
        for kind in ObjectKind::ALL {
            for (slot, object) in self.table(kind).iter().enumerate() {
                let at = ObjectRef {
                    kind,
                    slot: slot as u32,
                };
                by_id.insert(object.id.to_ascii_lowercase(), at);
                if kind == ObjectKind::User
                    && let Some(name) = object.values[upn].as_text()
                {
                    users_by_upn.insert(name.to_ascii_lowercase(), slot as u32);
                }
            }
        }
        self.by_id = by_id;
        self.users_by_upn = users_by_upn;
    }

    /// Finds an object by id (any kind, any lifecycle state). Ids compare case-insensitively.
    pub fn find(&self, id: &str) -> Option<ObjectRef> {
        self.by_id.get(&id.to_ascii_lowercase()).copied()
    }

    /// Finds a user by id or by userPrincipalName, as `/users/{id | userPrincipalName}` does.
    pub fn find_user(&self, key: &str) -> Option<ObjectRef> {
        let key = key.to_ascii_lowercase();
        if let Some(&slot) = self.users_by_upn.get(&key) {
            return Some(ObjectRef {
                kind: ObjectKind::User,
                slot,
            });
        }
        self.by_id
            .get(&key)
            .copied()
            .filter(|at| at.kind == ObjectKind::User)
    }

    /// Adds an object without logging it (tenant generation: the initial state is not a change).
    pub fn insert(&mut self, kind: ObjectKind, object: DirectoryObject) -> ObjectRef {
        let table = self.table_mut(kind);
        let at = ObjectRef {
            kind,
            slot: table.len() as u32,
        };
        table.push(object);
        self.index_object(at);
        at
    }

    fn index_object(&mut self, at: ObjectRef) {
        let object = self.get(at);
        let id = object.id.to_ascii_lowercase();
        let upn = (at.kind == ObjectKind::User)
            .then(|| {
                object.values[USER_SCHEMA.required("userPrincipalName")]
                    .as_text()
                    .map(str::to_ascii_lowercase)
            })
            .flatten();
        self.by_id.insert(id, at);
        if let Some(upn) = upn {
            self.users_by_upn.insert(upn, at.slot);
        }
    }

    pub fn log(&mut self, target: ObjectRef, kind: ChangeKind) {
        self.changes.push(Change { target, kind });
    }

    /// Adds an object and records its creation.
    pub fn create(&mut self, kind: ObjectKind, object: DirectoryObject) -> ObjectRef {
        let at = self.insert(kind, object);
        self.log(at, ChangeKind::Created);
        at
    }

    /// Sets property values and records which ones actually changed.
    pub fn update(&mut self, at: ObjectRef, values: Vec<(usize, Value)>) {
        let upn_position = USER_SCHEMA.required("userPrincipalName");
        let object = self.get_mut(at);
        let mut changed: PropertyMask = 0;
        let mut old_upn = None;
        for (position, value) in values {
            if object.values[position] != value {
                if at.kind == ObjectKind::User && position == upn_position {
                    old_upn = object.values[position]
                        .as_text()
                        .map(str::to_ascii_lowercase);
                }
                object.values[position] = value;
                changed |= 1 << position;
            }
        }
        if let Some(old) = old_upn {
            self.users_by_upn.remove(&old);
            self.index_object(at);
        }
        if changed != 0 {
            self.log(at, ChangeKind::Updated(changed));
        }
    }

    pub fn set_lifecycle(&mut self, at: ObjectRef, lifecycle: Lifecycle) {
        let object = self.get_mut(at);
        if object.lifecycle == lifecycle {
            return;
        }
        object.lifecycle = lifecycle;
        let change = match lifecycle {
            Lifecycle::Live => ChangeKind::Restored,
            Lifecycle::SoftDeleted => ChangeKind::SoftDeleted,
            Lifecycle::Purged => ChangeKind::Purged,
        };
        self.log(at, change);
    }

    /// Permanently deletes an object: it leaves every group it belonged to (each departure is
    /// logged, so group delta rounds report the member as removed) and, if it is a group, its own
    /// member list is dropped.
    pub fn purge(&mut self, at: ObjectRef) {
        let containing: Vec<u32> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.lifecycle != Lifecycle::Purged && g.members.contains(&at))
            .map(|(slot, _)| slot as u32)
            .collect();
        for slot in containing {
            self.remove_member(
                ObjectRef {
                    kind: ObjectKind::Group,
                    slot,
                },
                at,
            );
        }
        self.get_mut(at).members.clear();
        self.set_lifecycle(at, Lifecycle::Purged);
    }

    /// Adds a direct member; returns false when it was already one.
    pub fn add_member(&mut self, group: ObjectRef, member: ObjectRef) -> bool {
        let members = &mut self.get_mut(group).members;
        if members.contains(&member) {
            return false;
        }
        members.push(member);
        self.log(group, ChangeKind::MemberAdded(member));
        true
    }

    /// Removes a direct member; returns false when it was not one.
    pub fn remove_member(&mut self, group: ObjectRef, member: ObjectRef) -> bool {
        let members = &mut self.get_mut(group).members;
        let Some(position) = members.iter().position(|m| *m == member) else {
            return false;
        };
        members.remove(position);
        self.log(group, ChangeKind::MemberRemoved(member));
        true
    }

    /// The live direct members of a group. Soft-deleted members keep their membership (so a
    /// restore brings it back) but are not listed, as in Entra ID.
    pub fn live_members(&self, group: ObjectRef) -> impl Iterator<Item = ObjectRef> + '_ {
        self.get(group)
            .members
            .iter()
            .copied()
            .filter(|m| self.get(*m).is_live())
    }

    /// Every live object reachable through nested groups, each once, breadth first. Cycles are
    /// tolerated: a group already visited is not expanded again.
    pub fn transitive_members(&self, group: ObjectRef) -> Vec<ObjectRef> {
        let mut seen = std::collections::HashSet::from([group]);
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([group]);
        while let Some(next) = queue.pop_front() {
            for member in self.live_members(next) {
                if seen.insert(member) {
                    out.push(member);
                    if member.kind == ObjectKind::Group {
                        queue.push_back(member);
                    }
                }
            }
        }
        out
    }

    pub fn live_count(&self, kind: ObjectKind) -> usize {
        self.table(kind).iter().filter(|o| o.is_live()).count()
    }
}
