//! The tenant changes of the delta scenario: 1% of users and 1% of groups, changed through the
//! simulator's control API the way admins change a directory.

use std::collections::{HashMap, HashSet};

use futures_util::StreamExt;
use roster_domain::{ExternalId, UserId};
use roster_sim::{ControlClient, ControlError, MembershipChange};
use serde_json::json;

use crate::database::{FreshDatabase, account_id, open_store};
use crate::sim::{SimProcess, TenantSize};

/// Control requests in flight at once.
const CONCURRENT_CHANGES: usize = 16;

/// One change to the tenant.
enum TenantChange {
    RenameUser {
        id: String,
        display_name: String,
    },
    /// Sets the user's proxy addresses to its current ones plus a new alias.
    AddAlias {
        id: String,
        proxy_addresses: Vec<String>,
    },
    /// Blocks sign-in: the user leaves the account.
    DisableUser {
        id: String,
    },
    /// Deletes the user for good: it leaves the account and its groups.
    DeleteUser {
        id: String,
    },
    RenameGroup {
        id: String,
        display_name: String,
    },
    /// Adds a member and removes another.
    ChangeMembers {
        id: String,
        change: MembershipChange,
    },
}

impl TenantChange {
    async fn apply(self, control: &ControlClient) -> Result<(), ControlError> {
        match self {
            Self::RenameUser { id, display_name } => {
                control.rename_user(&id, &display_name).await?
            }
            Self::AddAlias {
                id,
                proxy_addresses,
            } => {
                let proxies: Vec<&str> = proxy_addresses.iter().map(String::as_str).collect();
                control.set_proxy_addresses(&id, &proxies).await?
            }
            Self::DisableUser { id } => control.disable_user(&id).await?,
            Self::DeleteUser { id } => control.hard_delete_user(&id).await?,
            Self::RenameGroup { id, display_name } => {
                control
                    .update_group(&id, json!({ "displayName": display_name }))
                    .await?
            }
            Self::ChangeMembers { id, change } => control.change_members(&id, &change).await?,
        };
        Ok(())
    }
}

/// `count` items spread evenly over `items`.
fn spread<T>(items: &[T], count: usize) -> impl Iterator<Item = &T> {
    let count = count.min(items.len());
    (0..count).map(move |i| &items[i * items.len() / count])
}

/// Changes 1% of the tenant's users and 1% of its groups, chosen among those the account
/// holds (as synced into `database`), so that every change reaches the plan. Returns the users
/// the changes take out of the account (disabled or deleted).
pub async fn change_one_percent(
    database: &FreshDatabase,
    sim: &SimProcess,
    size: TenantSize,
) -> anyhow::Result<Vec<UserId>> {
    let store = open_store(&database.url).await?;
    let account_id = account_id(&store).await?;
    let users: Vec<_> = store
        .list_users(account_id)
        .await?
        .into_iter()
        .filter(|u| u.external_id.is_some())
        .collect();
    let groups: Vec<_> = store
        .list_groups(account_id)
        .await?
        .into_iter()
        .filter(|g| g.external_id.is_some())
        .collect();
    let directory_id =
        |id: &Option<ExternalId>| id.as_ref().map(ToString::to_string).unwrap_or_default();
    let user_ids: HashMap<UserId, String> = users
        .iter()
        .map(|u| (u.id, directory_id(&u.external_id)))
        .collect();

    let changed_users: Vec<_> = spread(&users, size.users / 100).collect();
    // Members join from the users left alone: a user deleted in the same round could be gone
    // before the group change reaches it.
    let changed_ids: HashSet<UserId> = changed_users.iter().map(|user| user.id).collect();
    let joining: Vec<_> = users
        .iter()
        .filter(|user| !changed_ids.contains(&user.id))
        .collect();

    let mut changes = Vec::new();
    let mut leaving = Vec::new();
    for (i, user) in changed_users.into_iter().enumerate() {
        if i % 4 >= 2 {
            leaving.push(user.id);
        }
        let id = directory_id(&user.external_id);
        changes.push(match i % 4 {
            0 => TenantChange::RenameUser {
                id,
                display_name: format!(
                    "{} (renamed)",
                    user.display_name.as_deref().unwrap_or("User")
                ),
            },
            1 => {
                let mut proxy_addresses = vec![format!("SMTP:{}", user.primary_address)];
                proxy_addresses.extend(user.aliases.iter().map(|alias| format!("smtp:{alias}")));
                proxy_addresses.push(format!("smtp:alias.{}", user.primary_address));
                TenantChange::AddAlias {
                    id,
                    proxy_addresses,
                }
            }
            2 => TenantChange::DisableUser { id },
            _ => TenantChange::DeleteUser { id },
        });
    }
    for (i, group) in spread(&groups, size.groups / 100).enumerate() {
        let id = directory_id(&group.external_id);
        changes.push(if i % 2 == 0 {
            TenantChange::RenameGroup {
                id,
                display_name: format!("{} (renamed)", group.name),
            }
        } else {
            let add = joining
                .get((i * 7919) % joining.len().max(1))
                .map(|user| directory_id(&user.external_id))
                .into_iter()
                .collect();
            let remove = group
                .member_users
                .iter()
                .find(|member| !changed_ids.contains(member))
                .and_then(|member| user_ids.get(member))
                .cloned()
                .into_iter()
                .collect();
            TenantChange::ChangeMembers {
                id,
                change: MembershipChange { add, remove },
            }
        });
    }

    let control = sim.control();
    let total = changes.len();
    let outcomes: Vec<_> = futures_util::stream::iter(changes)
        .map(|change| change.apply(&control))
        .buffer_unordered(CONCURRENT_CHANGES)
        .collect()
        .await;
    outcomes.into_iter().collect::<Result<(), _>>()?;
    eprintln!("changed the tenant: {total} users and groups");
    Ok(leaving)
}
