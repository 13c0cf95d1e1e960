//! The planner: what Search Now proposes, computed from the directory mirror, the account and the
//! connection's settings (product.md §2, §3 and §5).
//!
//! Everything here is pure: no I/O, no clock, no randomness. Ids and times are inputs, and the
//! same input always gives the same plan, in the same order.

mod account;
mod allocation;
mod apply;
mod changes;
mod directory;
mod input;
mod outcome;
mod planner;
mod recipients;

pub use apply::{AccountSnapshot, ApplyError, apply_to_snapshot};
pub use input::{Mirror, MirrorRead, PlanInput, candidate_addresses};
pub use planner::{PlanError, plan};
pub use recipients::Recipients;
