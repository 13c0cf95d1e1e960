//! What the tenant returned: the records of the directory mirror.
//!
//! These hold Graph's values as Graph gave them (addresses unparsed, flags possibly missing), so
//! that the mirror is a faithful copy and the rules of product.md §2 live in one place: the
//! planner.

use serde::{Deserialize, Serialize};

use crate::ExternalId;

/// A user object as the mirror holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: ExternalId,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    /// `SMTP:` marks the primary address, `smtp:` the aliases; other prefixes are not mail.
    pub proxy_addresses: Vec<String>,
    pub account_enabled: Option<bool>,
    pub user_type: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
}

/// A group object as the mirror holds it, with its direct members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryGroup {
    pub id: ExternalId,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub mail_enabled: Option<bool>,
    pub security_enabled: Option<bool>,
    pub group_types: Vec<String>,
    pub proxy_addresses: Vec<String>,
    /// Direct members only; nesting is resolved by Roster, not by Graph.
    pub members: Vec<DirectoryMember>,
}

/// One direct member of a group, as `members@delta` or `/members` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DirectoryMember {
    pub id: ExternalId,
    pub kind: MemberType,
}

/// The `@odata.type` of a member. Only users and groups can be Roster objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberType {
    User,
    Group,
    OrgContact,
    Device,
    ServicePrincipal,
    Other,
}

impl MemberType {
    /// Maps an `@odata.type` value such as `#microsoft.graph.user`.
    pub fn from_odata_type(odata_type: &str) -> Self {
        match odata_type
            .trim_start_matches('#')
            .strip_prefix("microsoft.graph.")
        {
            Some("user") => Self::User,
            Some("group") => Self::Group,
            Some("orgContact") => Self::OrgContact,
            Some("device") => Self::Device,
            Some("servicePrincipal") => Self::ServicePrincipal,
            _ => Self::Other,
        }
    }
}
