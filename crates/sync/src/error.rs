//! Why a sync did not run, in the admin's terms.

use roster_domain::{AccountId, PlanId};
use roster_graph::GraphError;
use roster_plan::PlanError;
use roster_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Store(#[from] StoreError),

    /// Reading the directory failed; the message includes what the admin should do.
    #[error("{error} — {fix}", fix = .error.fix())]
    Graph {
        #[from]
        error: GraphError,
    },

    #[error("{0}")]
    Plan(#[from] PlanError),

    #[error("the account has no directory connection; save the connection settings first (`roster connection set`)")]
    NoConnection(AccountId),

    #[error("the plan {plan_id} belongs to another account")]
    PlanOfAnotherAccount { plan_id: PlanId },

    #[error("the plan {plan_id} has no change with the id {change_id}")]
    UnknownChange { plan_id: PlanId, change_id: String },
}
