//! The sync engine: the one place where the Graph client, the planner and the store meet.
//!
//! A sync is a pipeline — Graph → mirror → plan → apply → store — and this crate runs it:
//!
//! - [`refresh`] reads the tenant (a delta round, or a full read on the first run, after an
//!   expired or week-old delta link, or when asked) and commits the mirror together with its
//!   delta links; a read that fails commits nothing.
//! - [`SyncEngine::preview`] (*Search Now*) refreshes, plans and stores the plan: from the whole
//!   account, or after a delta round from the part of it the round reached (see [`Planned`]).
//! - [`SyncEngine::apply`] (*Sync Active Directory*) applies the checked changes of a stored plan,
//!   at most once and only while it is the account's current plan.
//! - [`SyncEngine::run_automatic`] (the schedule) does all three without review, within the
//!   *how to sync* switches, holding removals over the deletion limit.
//! - [`Scheduler`] runs the automatic syncs that are due side by side, claiming each slot so it
//!   runs once across workers; [`SyncEngine::run_due`] is one whole pass; [`decide`] is the pure
//!   rule.
//!
//! Every operation is recorded as a run; one run per account at a time, across processes, is
//! enforced by the store. A run renews its lease while it lives and stops as soon as the store
//! refuses it (taken over by another process).

mod allocator;
mod connection;
mod engine;
mod error;
mod part;
mod progress;
mod refresh;
mod schedule;

pub use allocator::use_one_allocator_arena;
pub use connection::CERTIFICATE_VALID_DAYS;
pub use engine::{ApplyOutcome, ApplyRequest, Chosen, Planned, PreviewOutcome, SyncEngine};
pub use error::SyncError;
pub use progress::{NoProgress, Progress};
pub use refresh::{ReadKind, RefreshOutcome, refresh};
pub use roster_graph::diagnostics::{Checklist, Step, StepStatus};
pub use schedule::{ScheduleDecision, SchedulePolicy, ScheduleReport, Scheduler, decide};
