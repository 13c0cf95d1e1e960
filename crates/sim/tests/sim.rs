//! The simulated tenant, driven over plain HTTP as Microsoft's clients would drive Entra ID and
//! Graph. Each module specifies one surface.

#[path = "sim/support.rs"]
mod support;

#[path = "sim/delta.rs"]
mod delta;
#[path = "sim/listing.rs"]
mod listing;
#[path = "sim/members.rs"]
mod members;
#[path = "sim/token.rs"]
mod token;
