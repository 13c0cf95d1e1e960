//! The simulated tenant, driven over plain HTTP as Microsoft's clients would drive Entra ID and
//! Graph. Each module specifies one surface.

#[path = "sim/support.rs"]
mod support;

#[path = "sim/assertions.rs"]
mod assertions;
#[path = "sim/batch.rs"]
mod batch;
#[path = "sim/control.rs"]
mod control;
#[path = "sim/delta.rs"]
mod delta;
#[path = "sim/errors.rs"]
mod errors;
#[path = "sim/listing.rs"]
mod listing;
#[path = "sim/members.rs"]
mod members;
#[path = "sim/realism.rs"]
mod realism;
#[path = "sim/samples.rs"]
mod samples;
#[path = "sim/tenants.rs"]
mod tenants;
#[path = "sim/token.rs"]
mod token;
