//! The planner: what Search Now proposes, computed from the directory mirror, the account and the
//! connection's settings (product.md §2, §3 and §5).
//!
//! Everything here is pure: no I/O, no clock, no randomness. Ids and times are inputs, and the
//! same input always gives the same plan, in the same order.
//!
//! The caller lists the mirror's [`candidate_addresses`], looks up which of them other accounts
//! own, and calls [`plan`] with a [`PlanInput`]. After a delta round, [`plan_delta`] makes the
//! same plan from the part of the account the round reached. [`apply_to_snapshot`] applies a plan's changes
//! to an in-memory copy of the account, and [`Recipients`] expands a group into the users mail
//! to it reaches.

mod account;
mod allocation;
mod apply;
mod changes;
mod delta;
mod directory;
mod input;
mod outcome;
mod planner;
mod recipients;

/// The planner's maps and sets. Their keys (directory ids, addresses) are hashed millions of times
/// on a large tenant, and foldhash does it several times faster than std's SipHash. The seed is
/// fixed rather than drawn, since the planner reads no clock and draws no randomness; no plan
/// depends on the order of a map either way.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;

pub use apply::{AccountSnapshot, ApplyError, apply_to_snapshot};
pub use delta::{DeltaInput, NeedsWholePlan, Part, plan_delta};
pub use input::{Bystanders, Mirror, MirrorRead, PlanInput, candidate_addresses};
pub use planner::{PlanError, plan};
pub use recipients::Recipients;
