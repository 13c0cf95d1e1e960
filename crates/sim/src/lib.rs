//! A simulated Microsoft Entra ID tenant: the v2.0 token endpoint, Microsoft Graph v1.0 (users,
//! groups, members, delta, `$batch`, domains) and a control API to change the tenant while a
//! client syncs it. It follows `docs/graph-protocol.md` and the verbatim samples, so a client that
//! works here meets the same shapes, paging, errors and quirks as against real Graph.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use roster_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig { users: 200, groups: 20, seed: 1, ..SimConfig::default() }).await?;
//! let tenant = sim.tenant(); // login_url, graph_url, tenant, tenant_id, client_id, client_secret
//! let control = sim.control();
//! let summary = control.summary().await?;
//! assert_eq!(summary.default_domain, tenant.tenant);
//! # Ok(()) }
//! ```
//!
//! This crate shares no code with the Graph client (`roster-graph`) on purpose: the simulator is
//! an independent reading of Microsoft's documentation.

mod assertion;
pub mod cli;
mod client;
mod clock;
mod control;
mod generate;
mod graph;
mod json;
mod model;
mod server;
mod tenant;
mod tls;
mod token;

pub use client::{ControlClient, ControlError};
pub use control::{
    AppRegistration, CertificateUpload, IssuedSecret, MembershipChange, ObjectView, RequestCounts,
    SecretInfo, SettingsPatch, TenantSummary, UploadedThumbprint,
};
pub use model::{Lifecycle, ObjectKind};
pub use server::{RunningSim, SimConfig, SimError, Simulator, TenantCredentials};
pub use tenant::Settings;
