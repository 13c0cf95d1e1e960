//! Roster's Microsoft Graph client: client-credentials tokens, full and delta reads of users,
//! groups and memberships, batching, throttling and retries, and errors in the admin's terms.
//!
//! Built to Microsoft's documentation (see `shared/docs/graph-protocol.md`), not to any one
//! server: every response is parsed as hostile, links are followed only on the Graph host,
//! and a read hands its caller one page at a time.

mod client;
pub mod diagnostics;
mod error;
mod events;
mod members;
pub mod parse;
mod read;
mod token;

pub use client::{ClientOptions, GraphClient, Priority, RequestStats, RetryPolicy};
pub use error::{GraphError, RECOMMENDED_PERMISSION};
pub use events::{DirectoryEvent, GroupPatch, Patch, Removal, RemovalReason, UserPatch};
pub use read::{DeltaLink, DeltaLinks, DirectoryRead, ReadStep};
