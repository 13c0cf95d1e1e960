//! The `roster` binary, run as a user runs it: each test on a data directory of its own, the
//! sync commands against `roster sim` in a child process on 127.0.0.1.

#[path = "cli/connection.rs"]
mod connection;
#[path = "cli/crash.rs"]
mod crash;
#[path = "cli/credentials.rs"]
mod credentials;
#[path = "cli/demo.rs"]
mod demo;
#[path = "cli/directory.rs"]
mod directory;
#[path = "cli/hardening.rs"]
mod hardening;
#[path = "cli/notify.rs"]
mod notify;
#[path = "cli/postfix.rs"]
mod postfix;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/sync.rs"]
mod sync;
#[path = "cli/workers.rs"]
mod workers;
