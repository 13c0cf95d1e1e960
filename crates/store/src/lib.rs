//! Roster's storage: accounts, users, groups, directory connections, the directory mirror,
//! plans and runs, on SQLite (the default: one file) or PostgreSQL (for several processes).
//!
//! # One interface, two backends
//!
//! [`Store`] is a cheaply cloneable handle (a pool and the master key behind `Arc`s). It holds an
//! enum over the two backends rather than a trait object: the backends differ only in how they
//! connect, start transactions, bind values and report constraint violations, so the SQL is
//! written once in the dialect both accept and every operation is written once. The differences
//! live in one private module (`db`) and in the two migration directories,
//! `migrations/sqlite` and `migrations/postgres`, which create the same tables with the same
//! constraint names. The contract test suite (`tests/contract.rs`) runs every test on both.
//!
//! # The schema enforces the rules
//!
//! The code checks each rule first, inside the same write transaction, only to name the
//! conflicting object in its error; the schema is what guarantees it, across processes:
//!
//! - A domain belongs to one account: the domain is the primary key of `domains`.
//! - An address routes to one object in the whole deployment: every address (a user's primary
//!   and aliases, a group's address and aliases) is a row of one table, `addresses`, keyed by the
//!   address. Keeping the kinds in one table is what makes "a user's alias equals another
//!   account's group address" a primary-key conflict rather than a cross-table race.
//! - An address is in one of its own account's domains: `addresses (domain, account_id)`
//!   references `domains (domain, account_id)`, and a check ties `domain` to the address text.
//!   The same key refuses removing a domain that addresses still use.
//! - One directory connection per account: the account id is the key of `connections`.
//! - One running sync per account: a partial unique index on running runs.
//!
//! Violations are mapped by constraint to [`StoreError`] variants at this boundary; no database
//! driver type appears in the public API.
//!
//! # Atomicity
//!
//! Every write runs in one transaction (`BEGIN IMMEDIATE` on SQLite, so writers queue instead of
//! failing). A mirror refresh writes its upserts, removals and delta links in one transaction, so
//! a failed refresh changes nothing. [`Store::apply_changes`] works in batches of a few hundred
//! changes: one transaction loads the rows a batch touches, checks each change in order against
//! them in memory (rejecting stale changes and address conflicts one by one), writes the accepted
//! ones with multi-row statements and commits. A crash loses whole uncommitted batches, never part
//! of a change, and applying again converges because re-applied changes are recognised as stale.
//! Should the database still refuse a batch (another process wrote the same rows meanwhile), the
//! batch is retried change by change so that only the conflicting change fails. Nothing holds a
//! transaction across network I/O: callers read Graph first and then commit what they read.
//!
//! # The mirror
//!
//! The directory mirror keeps each directory object as one row holding its record as JSON, a
//! group's direct members inside the group's row: the planner always reads the whole mirror, and
//! reading one row per object (rather than a million membership rows) keeps that near a second
//! for 100,000 users and 10,000 groups.
//!
//! # Secrets
//!
//! Client secrets are sealed with AES-256-GCM under a [`MasterKey`] kept outside the database
//! (see [`secret`]); admin passwords are stored as Argon2 hashes. Neither is ever returned by a
//! listing, and every type holding one has a redacted `Debug`.

mod access;
mod accounts;
mod addresses;
mod apply;
mod connections;
mod db;
mod error;
mod events;
mod exemptions;
mod groups;
mod mirror;
mod plans;
mod revision;
mod rows;
mod runs;
mod scope;
pub mod secret;
mod users;
mod views;

use std::sync::Arc;

pub use access::{INVITATION_VALID_FOR, NewApiToken, NewOperator, NewSession, SessionLifetime};
pub use accounts::{AccountRef, NewAccount};
pub use addresses::{AddressOwner, OwnedBy};
pub use apply::{Applier, ChangeFailure, ChangeOutcome};
pub use db::Backend;
pub use error::StoreError;
pub use mirror::{DeltaCommitted, DeltaLink, DeltaLinks, Mirror, MirrorRefresh};
pub use plans::StoredPlan;
pub use revision::Revision;
pub use runs::{NewRun, RUN_ABANDONED_AFTER};
pub use scope::{MemberKeys, Membership, ObjectKeys};
pub use secret::{MasterKey, MasterKeyError};
pub use users::{MIN_PASSWORD_LEN, NewAdmin, NewUser, UserUpdate};
pub use views::{ChangePage, ChangeQuery, PlanSummary, RunProgress, UserQuery};

/// The store: a handle to the database and the master key. Clone it freely; clones share the
/// connection pool.
#[derive(Clone)]
pub struct Store {
    db: db::Db,
    key: Arc<MasterKey>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.db.backend())
            .field("key", &self.key)
            .finish()
    }
}

impl Store {
    /// Connects to `url`: `postgres://…` or `postgresql://…` for PostgreSQL; `sqlite:…` or a
    /// file path for SQLite (the file is created when absent). Call [`Store::migrate`] before
    /// first use.
    pub async fn connect(url: &str, key: MasterKey) -> Result<Self, StoreError> {
        Ok(Self {
            db: db::Db::connect(url).await?,
            key: Arc::new(key),
        })
    }

    /// Brings the schema up to date with the migrations embedded for this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.db.migrate().await
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }
}
