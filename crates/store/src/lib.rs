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
//! - One run per schedule slot: claiming a slot is a conditional update of the connection's
//!   last claimed slot, in the transaction that starts the slot's run.
//!
//! # Run ownership and fencing
//!
//! Each [`Store`] handle made by [`Store::connect`] has a random instance id; a run it starts is
//! owned by that id under a lease ([`RUN_LEASE`] by default) that the owner renews while the run
//! lives. Only a run whose lease expired is taken over, by whoever looks next; nothing about
//! hosts or process ids is trusted. Every mirror commit and apply batch of a run renews the lease
//! in its own transaction, conditionally on the run still being running and owned by this
//! instance (the fencing token: run id and owner): a run that was taken over cannot write, and
//! gets [`StoreError::RunTakenOver`].
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
//! ones with multi-row statements and commits. Those checks include what changed since planning
//! (exemptions, tech contact, roles, sources, *how to sync* switches), read in the same
//! transaction; a plan itself is applied only while current ([`Store::mark_plan_applied`]). A crash loses whole uncommitted batches, never part
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
//! Client secrets and certificates' private keys are sealed with AES-256-GCM under a
//! [`MasterKey`] kept outside the database (see [`secret`]); admin passwords are stored as Argon2
//! hashes. None is ever returned by a listing, and every type holding one has a redacted `Debug`.
//! [`Store::rotate_master_key`] re-seals them all under a new key in one transaction.

mod access;
mod accounts;
mod addresses;
mod apply;
mod certificates;
mod connections;
mod db;
mod error;
mod events;
mod exemptions;
mod groups;
mod key_rotation;
mod lookup;
mod memberships;
mod mirror;
mod outbox;
mod plans;
mod revision;
mod rows;
mod runs;
mod scope;
pub mod secret;
mod selection;
mod users;
mod views;

use std::sync::Arc;

pub use access::{INVITATION_VALID_FOR, NewApiToken, NewOperator, NewSession, SessionLifetime};
pub use accounts::{AccountRef, NewAccount};
pub use addresses::{AddressOwner, OwnedBy};
pub use apply::{Applier, ChangeFailure, ChangeOutcome};
pub use certificates::{NewCertificate, SigningCertificate};
pub use db::Backend;
pub use error::StoreError;
pub use key_rotation::KeyRotation;
pub use lookup::{MailChanges, MailDirectory, MailGroup, MailUser, RevisionNotices};
pub use memberships::{GroupEntry, GroupQuery, MemberQuery, Reach};
pub use mirror::{DeltaCommitted, DeltaLink, DeltaLinks, Mirror, MirrorRefresh};
pub use outbox::{OutboxMessage, OutboxStatus, SendFailure};
pub use plans::{NotCurrent, StoredPlan};
pub use revision::{MirrorVersion, Revision};
pub use runs::{NewRun, RUN_LEASE};
pub use scope::{MemberKeys, Membership, ObjectKeys};
pub use secret::{MasterKey, MasterKeyError};
pub use users::{MIN_PASSWORD_LEN, NewAdmin, NewUser, UserUpdate};
pub use views::{
    CategoryPage, CategoryQuery, ChangePage, ChangeQuery, PlanSummary, RunProgress, UserQuery,
};

/// The store: a handle to the database and the master key. Clone it freely; clones share the
/// connection pool.
#[derive(Clone)]
pub struct Store {
    db: db::Db,
    key: Arc<MasterKey>,
    /// Who owns the runs this handle starts: random, shared by its clones.
    instance: Arc<str>,
    run_lease: std::time::Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.db.backend())
            .field("key", &self.key)
            .field("instance", &self.instance)
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
            instance: uuid::Uuid::new_v4().to_string().into(),
            run_lease: RUN_LEASE,
        })
    }

    /// Leases the runs this handle starts or renews for `lease` instead of [`RUN_LEASE`]
    /// (tests shorten it so that a takeover need not wait a minute).
    pub fn with_run_lease(mut self, lease: std::time::Duration) -> Self {
        self.run_lease = lease;
        self
    }

    /// How long a run's lease lasts after each renewal; the owner renews it well within that.
    pub fn run_lease(&self) -> std::time::Duration {
        self.run_lease
    }

    /// Brings the schema up to date with the migrations embedded for this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.db.migrate().await
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The id (fingerprint) of the master key this store seals with.
    pub fn master_key_id(&self) -> &str {
        self.key.id()
    }
}
