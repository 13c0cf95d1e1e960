//! Applying a plan's changes to an account.

use roster_domain::plan::ChangeAction;
use roster_domain::{AccountId, EmailAddress};

use crate::{AddressOwner, Store, StoreError};

/// Why one change was not applied. The others still apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeFailure {
    /// The object moved on since the plan was built: its version differs, it is gone, or (for
    /// an add) the directory object is already present. Search Now again to re-plan.
    #[error("stale: {reason}; run Search Now again to see the current differences")]
    Stale { reason: String },

    #[error("the address {address} is already used by {owner}")]
    AddressTaken { address: EmailAddress, owner: AddressOwner },

    #[error("the address {address} is not in any of the account's domains")]
    AddressOutsideDomains { address: EmailAddress },
}

/// The result of one change, in the order the changes were given.
pub type ChangeOutcome = Result<(), ChangeFailure>;

impl Store {
    /// Applies `changes` to the account, each atomically, and reports each one's outcome.
    pub async fn apply_changes(&self, account_id: AccountId, changes: &[ChangeAction]) -> Result<Vec<ChangeOutcome>, StoreError> {
        let _ = (account_id, changes);
        todo!("being filled in")
    }
}
