//! The one error type of the store. Every variant says what is wrong in the caller's terms and,
//! where there is one, the fix; no variant carries a database driver's type.

use roster_domain::{
    AccountId, ApiTokenId, ChangeId, DomainName, EmailAddress, ErrorKind, ExternalId, GroupId,
    OperatorId, ParseError, PlanId, Role, RunId, UserId,
};
use time::OffsetDateTime;

use crate::AddressOwner;
use crate::plans::NotCurrent;
use crate::secret::MasterKeyError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database URL is not valid: {reason}; give a path, a sqlite: URL or a postgres:// URL"
    )]
    InvalidDatabaseUrl { reason: String },

    #[error("cannot open the database: {reason}")]
    Unavailable { reason: String },

    #[error("the database schema could not be brought up to date: {reason}")]
    Migration { reason: String },

    #[error("the database failed: {reason}")]
    Database { reason: String },

    /// A constraint the store did not anticipate was violated: a bug, or a concurrent writer
    /// outside Roster. Retrying after reloading usually succeeds.
    #[error(
        "the database refused the write because it would break the rule that {rule}; reload and retry"
    )]
    Integrity { rule: String },

    #[error(
        "a stored {what} could not be read ({reason}); the row was written by an incompatible version or edited by hand"
    )]
    Corrupt { what: &'static str, reason: String },

    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),

    #[error(transparent)]
    Invalid(#[from] ParseError),

    #[error(
        "no account is named or has the id {0:?}; list the accounts to see their names and ids"
    )]
    AccountNotFound(String),

    #[error("an account named {0:?} already exists; choose another name")]
    AccountNameTaken(String),

    #[error("an account needs at least one domain; give the domain its users' addresses are in")]
    AccountNeedsDomain,

    #[error(
        "the domain {domain} already belongs to the account {owner:?}; a domain belongs to one account only"
    )]
    DomainTaken { domain: DomainName, owner: String },

    #[error("the domain {0} does not belong to this account")]
    DomainNotFound(DomainName),

    #[error(
        "the domain {domain} is still used by {addresses} address(es); remove or change those users and groups first"
    )]
    DomainInUse { domain: DomainName, addresses: u64 },

    #[error("the domain {0} is the account's last one; add another domain before removing it")]
    LastDomain(DomainName),

    #[error(
        "the address {address} is already used by {owner}; an address routes to one user or group only"
    )]
    AddressTaken {
        address: EmailAddress,
        owner: AddressOwner,
    },

    #[error(
        "another process claimed one of the addresses {addresses}, or removed its domain, at the same moment; retry"
    )]
    ConcurrentClaim { addresses: String },

    #[error(
        "the address {address} is not in any of the account's domains; add its domain to the account first"
    )]
    AddressOutsideDomains { address: EmailAddress },

    #[error("no user has the id {0}")]
    UserNotFound(UserId),

    #[error("no group has the id {0}")]
    GroupNotFound(GroupId),

    #[error("the password could not be hashed or checked: {reason}")]
    PasswordHashing { reason: String },

    #[error("a password needs at least {min} characters; choose a longer one")]
    PasswordTooShort { min: usize },

    #[error("the account {0} has no directory connection; save the connection settings first")]
    ConnectionNotFound(AccountId),

    #[error(
        "a new directory connection needs its client secret (the key); give the secret's value"
    )]
    SecretRequired,

    #[error(
        "the connection already has the certificate {0}; generate a new one instead of adding it twice"
    )]
    CertificateExists(String),

    #[error(
        "the connection has no certificate with the thumbprint {0}; the connection's certificate list shows the thumbprints it has"
    )]
    CertificateNotFound(String),

    #[error(
        "a stored secret is sealed under a master key (id {found}) that is neither the current key ({current}) nor the new one; nothing was re-encrypted. Supply the key that sealed it as the current key"
    )]
    RotationKeyMismatch { found: String, current: String },

    #[error("the directory object {0} is already exempt from sync")]
    AlreadyExempt(ExternalId),

    #[error("no plan has the id {0}; run Search Now to build a new one")]
    PlanNotFound(PlanId),

    #[error(
        "the plan {plan_id} has no change with the id {change_id}; reload the plan and choose again"
    )]
    ChangeNotFound {
        plan_id: PlanId,
        change_id: ChangeId,
    },

    #[error(
        "the plan {plan_id} was already applied at {applied_at}; run Search Now to build a new plan"
    )]
    PlanAlreadyApplied {
        plan_id: PlanId,
        applied_at: OffsetDateTime,
    },

    /// The plan is no longer the account's newest, or the directory changed since it was built:
    /// nothing of it is applied.
    #[error(
        "the plan {plan_id} is no longer current: {why}; run Search Now again and apply its plan"
    )]
    PlanNotCurrent { plan_id: PlanId, why: NotCurrent },

    /// Plans are previews: one stored by an earlier version of Roster, whose changes this one
    /// reads differently, is planned again rather than converted.
    #[error(
        "the plan {plan_id} cannot be read ({reason}): it was made by an earlier version of Roster; run Search Now to build a new plan"
    )]
    PlanFromEarlierVersion { plan_id: PlanId, reason: String },

    #[error("a sync of this account is already running (run {running}); wait for it to finish")]
    SyncAlreadyRunning { running: RunId },

    #[error("no run has the id {0}")]
    RunNotFound(RunId),

    #[error("an operator with the address {0} already exists")]
    OperatorExists(EmailAddress),

    #[error("no operator has the id {0}")]
    OperatorNotFound(OperatorId),

    #[error("no API token has the id {0}")]
    ApiTokenNotFound(ApiTokenId),

    #[error(
        "the user {user_id} is a {role} and cannot be invited; only end users are invited to set a password"
    )]
    NotInvitable { user_id: UserId, role: Role },

    #[error(
        "the user {user_id} cannot change from {from} to {to}: only end users and silent users swap roles; organization admins are created with a password"
    )]
    RoleNotChangeable {
        user_id: UserId,
        from: Role,
        to: Role,
    },

    #[error(
        "the user {0} is the account's last organization admin and stays: without one, nobody of the organization could manage the account; create another organization admin first"
    )]
    LastOrganizationAdmin(UserId),

    #[error("the user {0} was changed by someone else at the same moment; reload and retry")]
    ConcurrentUpdate(UserId),

    #[error(
        "this invitation link is unknown, used or expired; ask your organization admin for a new one"
    )]
    InvitationInvalid,

    #[error("the run {0} has already finished; a finished run is history and cannot change")]
    RunFinished(RunId),

    /// The fencing refusal: the run's lease lapsed and another process took it over (or it was
    /// handed back), so this process may no longer write for it.
    #[error(
        "the run {0} is no longer owned by this process (its lease lapsed and it was taken over or released); its write was refused and the run stops"
    )]
    RunTakenOver(RunId),

    #[error(
        "the schedule slot of {slot} was already claimed for this account by another worker; it runs once"
    )]
    SlotAlreadyClaimed { slot: OffsetDateTime },

    #[error(
        "a sync of this account is running (run {running}); changing the tenant or cloud discards the mirror it is writing — wait for the sync to finish, then save again"
    )]
    ConnectionBusy { running: RunId },
}

impl StoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unavailable { .. } | Self::ConcurrentClaim { .. } => ErrorKind::Unavailable,
            Self::InvalidDatabaseUrl { .. }
            | Self::Migration { .. }
            | Self::Database { .. }
            | Self::Integrity { .. }
            | Self::Corrupt { .. }
            | Self::MasterKey(_)
            | Self::PasswordHashing { .. } => ErrorKind::Internal,
            Self::Invalid(_)
            | Self::AccountNeedsDomain
            | Self::AddressOutsideDomains { .. }
            | Self::PasswordTooShort { .. }
            | Self::SecretRequired
            | Self::NotInvitable { .. }
            | Self::InvitationInvalid
            | Self::RoleNotChangeable { .. }
            | Self::RotationKeyMismatch { .. }
            | Self::ChangeNotFound { .. } => ErrorKind::Invalid,
            Self::AccountNotFound(_)
            | Self::DomainNotFound(_)
            | Self::UserNotFound(_)
            | Self::GroupNotFound(_)
            | Self::ConnectionNotFound(_)
            | Self::PlanNotFound(_)
            | Self::RunNotFound(_)
            | Self::OperatorNotFound(_)
            | Self::ApiTokenNotFound(_)
            | Self::CertificateNotFound(_) => ErrorKind::NotFound,
            Self::AccountNameTaken(_)
            | Self::DomainTaken { .. }
            | Self::DomainInUse { .. }
            | Self::LastDomain(_)
            | Self::AddressTaken { .. }
            | Self::AlreadyExempt(_)
            | Self::PlanAlreadyApplied { .. }
            | Self::PlanFromEarlierVersion { .. }
            | Self::SyncAlreadyRunning { .. }
            | Self::RunFinished(_)
            | Self::OperatorExists(_)
            | Self::ConcurrentUpdate(_)
            | Self::LastOrganizationAdmin(_)
            | Self::CertificateExists(_)
            | Self::PlanNotCurrent { .. }
            | Self::RunTakenOver(_)
            | Self::SlotAlreadyClaimed { .. }
            | Self::ConnectionBusy { .. } => ErrorKind::Conflict,
        }
    }
}
