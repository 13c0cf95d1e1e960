//! Roster's Microsoft Graph client: client-credentials tokens, full and delta reads of users,
//! groups and memberships, batching, throttling and retries, and errors in the admin's terms.
//!
//! Built to Microsoft's documentation (see `shared/docs/graph-protocol.md`), not to any one
//! server: every response is parsed as hostile, links are followed only on the Graph host,
//! and a read hands its caller one page at a time.
//!
//! ```no_run
//! # async fn example(settings: roster_domain::ConnectionSettings, secret: secrecy::SecretString)
//! # -> Result<(), roster_graph::GraphError> {
//! # fn apply_to_mirror(_: roster_graph::DirectoryEvent) {}
//! use roster_graph::{ClientOptions, GraphClient, Priority, ReadStep};
//!
//! let client = GraphClient::new(&settings, secret, ClientOptions::new(Priority::High))?;
//! let mut read = client.read_full();
//! let links = loop {
//!     match read.next().await? {
//!         ReadStep::Page(events) => events.into_iter().for_each(apply_to_mirror),
//!         ReadStep::Finished(links) => break links,
//!     }
//! };
//! // The next sync reads only the changes; if `error.needs_full_read()`, it reads in full again.
//! let changes = client.read_changes(&links);
//! println!("{} Graph requests so far", client.stats().graph_requests);
//! # drop(changes);
//! # Ok(()) }
//! ```

mod certificate;
mod client;
pub mod diagnostics;
mod error;
mod events;
mod members;
mod pace;
pub mod parse;
mod read;
mod token;

pub use certificate::{
    ClientCertificate, GeneratedCertificate, certificate_pem, generate_certificate,
    sha1_thumbprint, sha256_thumbprint,
};
pub use client::{ClientOptions, GraphClient, Priority, RequestStats, RetryPolicy};
pub use error::{FixSetting, GraphError, RECOMMENDED_PERMISSION};
pub use events::{DirectoryEvent, GroupPatch, Patch, Removal, RemovalReason, UserPatch};
pub use read::{DeltaLink, DeltaLinks, DirectoryRead, ReadStep};
pub use token::ClientCredential;
