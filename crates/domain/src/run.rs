//! Runs: one execution of a sync, kept as history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, ExternalId, PlanId, RunId, plan::Category};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Search Now: refresh and plan, nothing applied.
    Preview,
    /// Sync Active Directory: apply checked changes of a stored plan.
    Apply,
    /// Automatic: refresh, plan and apply without review (the schedule or `sync run`).
    Automatic,
}

impl Trigger {
    /// Its name as serde, the database and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preview => "preview",
            Self::Apply => "apply",
            Self::Automatic => "automatic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    /// Some changes failed or were stale; the others applied.
    Partial,
    /// Automatic sync held removals over the deletion limit and applied the rest.
    Held,
    Failed,
}

impl RunStatus {
    /// Its name as serde, the database and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Partial => "partial",
            Self::Held => "held",
            Self::Failed => "failed",
        }
    }
}

/// A change that did not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunFailure {
    pub external_id: Option<ExternalId>,
    pub object: String,
    pub reason: String,
}

/// Planned and applied changes in one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryCount {
    pub planned: usize,
    pub applied: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub account_id: AccountId,
    pub trigger: Trigger,
    /// Who started it: an admin's address, "cli", or "scheduler".
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub status: RunStatus,
    pub plan_id: Option<PlanId>,
    pub counts: BTreeMap<Category, CategoryCount>,
    pub skipped: usize,
    pub failures: Vec<RunFailure>,
    pub graph_requests: u64,
    /// Why the run failed as a whole, in the admin's terms.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for trigger in [Trigger::Preview, Trigger::Apply, Trigger::Automatic] {
            assert_eq!(
                serde_json::to_string(&trigger).unwrap(),
                format!("\"{}\"", trigger.as_str())
            );
        }
        for status in [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Partial,
            RunStatus::Held,
            RunStatus::Failed,
        ] {
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
    }
}
