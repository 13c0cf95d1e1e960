//! The sync engine end to end: a store on SQLite and a simulated Entra ID tenant over HTTP on
//! 127.0.0.1. Each scenario changes the directory through the simulator's control API, then
//! asserts the exact plan Search Now builds and the account after Sync Active Directory.

#[path = "sync/credentials.rs"]
mod credentials;
#[path = "sync/delta_planning.rs"]
mod delta_planning;
#[path = "sync/groups.rs"]
mod groups;
#[path = "sync/in_step.rs"]
mod in_step;
#[path = "sync/nesting.rs"]
mod nesting;
#[path = "sync/protections.rs"]
mod protections;
#[path = "sync/review.rs"]
mod review;
#[path = "sync/runs.rs"]
mod runs;
#[path = "sync/safety.rs"]
mod safety;
#[path = "sync/schedule.rs"]
mod schedule;
#[path = "sync/stale_plans.rs"]
mod stale_plans;
#[path = "sync/support.rs"]
mod support;
#[path = "sync/users.rs"]
mod users;
