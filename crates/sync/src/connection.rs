//! What the engine tells about a saved connection: the step-by-step test, and why automatic
//! sync is off when the schedule turned it off.

use roster_domain::{Account, AccountEvent, AccountEventKind, DirectoryConnection, Frequency};
use roster_graph::Priority;
use roster_graph::diagnostics::{Checklist, test_connection};

use crate::{SyncEngine, SyncError};

/// How many recent events are searched for the one that turned automatic sync off.
const EVENTS_SEARCHED: u32 = 20;

impl SyncEngine {
    /// Tests the account's saved connection step by step (token, permissions, domains), as the
    /// guide's *Test connection* does.
    pub async fn test_connection(&self, account: &Account) -> Result<Checklist, SyncError> {
        let (_, client) = self.graph_client(account.id, Priority::High).await?;
        Ok(test_connection(&client, &account.domains).await)
    }

    /// The event that turned the connection's automatic sync off, when the schedule did so
    /// after the settings were last saved (a frequency the admin chose is not explained).
    pub async fn why_automatic_sync_is_off(
        &self,
        connection: &DirectoryConnection,
    ) -> Result<Option<AccountEvent>, SyncError> {
        if connection.settings.frequency != Frequency::Never {
            return Ok(None);
        }
        let events = self
            .store()
            .list_events(connection.account_id, EVENTS_SEARCHED)
            .await?;
        Ok(events.into_iter().find(|e| {
            e.kind == AccountEventKind::AutomaticSyncTurnedOff
                && e.created_at >= connection.updated_at
        }))
    }
}
