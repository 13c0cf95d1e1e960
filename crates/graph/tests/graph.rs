//! The Graph client's behaviour, against local servers playing the login and Graph hosts.

#[path = "graph/certificates.rs"]
mod certificates;
#[path = "graph/counters.rs"]
mod counters;
#[path = "graph/diagnostics.rs"]
mod diagnostics;
#[path = "graph/errors.rs"]
mod errors;
#[path = "graph/hostile.rs"]
mod hostile;
#[path = "graph/patches.rs"]
mod patches;
#[path = "graph/reads.rs"]
mod reads;
#[path = "graph/samples.rs"]
mod samples;
#[path = "graph/scale.rs"]
mod scale;
#[path = "graph/simulated.rs"]
mod simulated;
#[path = "graph/support.rs"]
mod support;
#[path = "graph/tls_certificates.rs"]
mod tls_certificates;
