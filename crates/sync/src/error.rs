//! Why a sync did not run, in the admin's terms.
//!
//! Each variant's message is complete on its own; none also exposes the error it wraps as its
//! `source`, so a caller printing the chain (`{:#}` in anyhow) does not say the same thing twice.

use roster_domain::{AccountId, ErrorKind, FieldProblem, OnlySigningCertificate, PlanId};
use roster_graph::GraphError;
use roster_plan::PlanError;
use roster_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Reading the directory failed; the message includes what the admin should do.
    #[error("{error} — {fix}", fix = .error.fix())]
    Graph { error: GraphError },

    #[error(transparent)]
    Plan(#[from] PlanError),

    /// Settings that cannot be saved, each problem named by its field.
    #[error("{}", problems.iter().map(|p| format!("{}: {}", p.field, p.error)).collect::<Vec<_>>().join("; "))]
    InvalidSettings { problems: Vec<FieldProblem> },

    #[error("the account has no directory connection; save the connection settings first")]
    NoConnection(AccountId),

    #[error(transparent)]
    OnlySigningCertificate(#[from] OnlySigningCertificate),

    #[error("the plan {plan_id} has no change with the id {change_id}")]
    UnknownChange { plan_id: PlanId, change_id: String },

    /// The process is shutting down under the sync.
    #[error("Roster is shutting down; the sync did not start, start it again shortly")]
    SchedulerStopped,
}

impl SyncError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(error) => error.kind(),
            Self::Graph { .. } => ErrorKind::Upstream,
            // The read looked failed: Graph answered, but with nothing Roster can trust.
            Self::Plan(_) => ErrorKind::Upstream,
            Self::NoConnection(_) => ErrorKind::NotFound,
            Self::OnlySigningCertificate(_) => ErrorKind::Conflict,
            Self::UnknownChange { .. } | Self::InvalidSettings { .. } => ErrorKind::Invalid,
            Self::SchedulerStopped => ErrorKind::Unavailable,
        }
    }
}

impl From<GraphError> for SyncError {
    fn from(error: GraphError) -> Self {
        Self::Graph { error }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn no_variant_repeats_its_cause_as_a_source() {
        let store = SyncError::from(StoreError::AccountNeedsDomain);
        let plan = SyncError::from(PlanError::NoActiveUsersRead { synced_users: 3 });
        let graph = SyncError::from(GraphError::InvalidSecret {
            client_id: "6731de76-14a6-49ae-97bc-6eba6914391e".parse().unwrap(),
        });
        for error in [store, plan, graph] {
            let said_again = error
                .source()
                .is_some_and(|source| error.to_string().contains(&source.to_string()));
            assert!(!said_again, "{error}");
        }
    }
}
