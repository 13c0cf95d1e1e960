//! The JSON shapes Roster shows to the outside: the REST API's bodies and the CLI's `--json`
//! output, one set for both. The domain types' own serde shape is the database format and may
//! change with it; these are the stable, public field names.
//!
//! No HTTP and no I/O here, so the CLI can use them without depending on the server.

pub mod csv;

use std::collections::BTreeMap;

use roster_domain::connection::iso_date;
use roster_domain::plan::{
    AttributeValue, Category, Change, DeletionCheck, InactiveCounts, Plan, SkipReason, Skipped,
};
use roster_domain::run::{CategoryCount, Run, RunFailure, RunStatus, Trigger};
use roster_domain::{
    Account, AccountEvent, AccountId, ApiToken, ApiTokenId, ChangeId, ClientId, CredentialKind,
    DeletionLimit, DirectoryConnection, DomainName, EmailAddress, ExternalId, Frequency, Group,
    GroupId, GroupKind, NewUserRole, PlanId, Role, RunId, Source, TechContact, TenantRef, User,
    UserId, credential_expiry,
};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// An account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    pub id: AccountId,
    pub name: String,
    pub domains: Vec<DomainName>,
    pub tech_contact: Option<TechContact>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&Account> for AccountView {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id,
            name: account.name.clone(),
            domains: account.domains.clone(),
            tech_contact: account.tech_contact.clone(),
            created_at: account.created_at,
        }
    }
}

/// A user of an account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub primary_address: EmailAddress,
    pub aliases: Vec<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
    pub digests: bool,
    pub source: Source,
    pub external_id: Option<ExternalId>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            primary_address: user.primary_address.clone(),
            aliases: user.aliases.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            display_name: user.display_name.clone(),
            role: user.role,
            digests: user.digests,
            source: user.source,
            external_id: user.external_id.clone(),
        }
    }
}

/// A group of an account; `members` lists member users' and member groups' ids.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupView {
    pub id: GroupId,
    pub name: String,
    pub kind: GroupKind,
    pub address: Option<EmailAddress>,
    pub aliases: Vec<EmailAddress>,
    pub source: Source,
    pub external_id: Option<ExternalId>,
    pub members: Vec<String>,
}

impl From<&Group> for GroupView {
    fn from(group: &Group) -> Self {
        let members = group
            .member_users
            .iter()
            .map(ToString::to_string)
            .chain(group.member_groups.iter().map(ToString::to_string))
            .collect();
        Self {
            id: group.id,
            name: group.name.clone(),
            kind: group.kind,
            address: group.address.clone(),
            aliases: group.aliases.clone(),
            source: group.source,
            external_id: group.external_id.clone(),
            members,
        }
    }
}

/// A group that is a member of another.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NestedGroupView {
    pub id: GroupId,
    pub name: String,
    pub address: Option<EmailAddress>,
}

/// One group: how many users are its members and how many mail to it reaches. The user lists
/// themselves may hold a hundred thousand and are read page by page (`…/members`,
/// `…/recipients`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupDetailView {
    pub id: GroupId,
    pub name: String,
    pub kind: GroupKind,
    pub address: Option<EmailAddress>,
    pub aliases: Vec<EmailAddress>,
    pub source: Source,
    pub external_id: Option<ExternalId>,
    /// Users that are direct members.
    pub member_user_count: u64,
    /// Groups that are direct members, by name.
    pub member_groups: Vec<NestedGroupView>,
    /// Users mail to the group reaches: its members and, through nested groups at any depth,
    /// theirs, each once.
    pub recipient_count: u64,
}

/// An API token as listed: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: ApiTokenId,
    pub name: String,
    pub read_only: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<&ApiToken> for TokenView {
    fn from(token: &ApiToken) -> Self {
        Self {
            id: token.id,
            name: token.name.clone(),
            read_only: token.read_only,
            created_at: token.created_at,
            last_used_at: token.last_used_at,
            revoked_at: token.revoked_at,
        }
    }
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedTokenView {
    #[serde(flatten)]
    pub token: TokenView,
    pub secret: String,
}

/// A run: its status, and its report once it finished.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub id: RunId,
    pub trigger: Trigger,
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    pub status: RunStatus,
    pub plan_id: Option<PlanId>,
    pub counts: BTreeMap<String, CategoryCount>,
    pub skipped: usize,
    pub failures: Vec<RunFailure>,
    pub graph_requests: u64,
    pub error: Option<String>,
}

impl From<&Run> for RunView {
    fn from(run: &Run) -> Self {
        Self {
            id: run.id,
            trigger: run.trigger,
            actor: run.actor.clone(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            status: run.status,
            plan_id: run.plan_id,
            counts: run
                .counts
                .iter()
                .map(|(category, count)| (category.as_str().to_owned(), *count))
                .collect(),
            skipped: run.skipped,
            failures: run.failures.clone(),
            graph_requests: run.graph_requests,
            error: run.error.clone(),
        }
    }
}

/// One attribute's value before and after a change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BeforeAfter {
    pub before: AttributeValue,
    pub after: AttributeValue,
}

/// One change of a plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeView {
    pub id: ChangeId,
    #[schema(value_type = Category)]
    pub category: &'static str,
    pub external_id: ExternalId,
    pub summary: String,
    pub reason: String,
    pub changes: BTreeMap<String, BeforeAfter>,
    pub allowed_by_settings: bool,
}

impl From<&Change> for ChangeView {
    fn from(change: &Change) -> Self {
        Self {
            id: change.id,
            category: change.category.as_str(),
            external_id: change.external_id.clone(),
            summary: change.summary.clone(),
            reason: change.reason.clone(),
            changes: change
                .attributes
                .iter()
                .map(|a| {
                    (
                        a.attribute.clone(),
                        BeforeAfter {
                            before: a.before.clone(),
                            after: a.after.clone(),
                        },
                    )
                })
                .collect(),
            allowed_by_settings: change.allowed_by_settings,
        }
    }
}

/// A directory object the plan leaves out, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkippedView {
    pub external_id: ExternalId,
    pub summary: String,
    pub reason: String,
    pub reason_code: SkipReason,
}

impl From<&Skipped> for SkippedView {
    fn from(skipped: &Skipped) -> Self {
        Self {
            external_id: skipped.external_id.clone(),
            summary: skipped.summary.clone(),
            reason: skipped.detail.clone(),
            reason_code: skipped.reason,
        }
    }
}

/// A plan's summary: counts per category, what it skipped, the deletion check. Its changes
/// are read page by page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanSummaryView {
    pub plan_id: PlanId,
    pub run_id: RunId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub applied_at: Option<OffsetDateTime>,
    pub deletion_check: DeletionCheck,
    pub inactive_not_imported: InactiveCounts,
    pub counts: BTreeMap<&'static str, usize>,
    pub skipped: Vec<SkippedView>,
}

impl PlanSummaryView {
    /// The summary of `plan`, whose changes are counted in `counts` (the plan itself may hold
    /// none of them: a summary is read without its changes).
    pub fn new(
        plan: &Plan,
        applied_at: Option<OffsetDateTime>,
        counts: BTreeMap<&'static str, usize>,
    ) -> Self {
        Self {
            plan_id: plan.id,
            run_id: plan.run_id,
            created_at: plan.created_at,
            applied_at,
            deletion_check: plan.deletion_check,
            inactive_not_imported: plan.inactive_not_imported,
            counts,
            skipped: plan.skipped.iter().map(SkippedView::from).collect(),
        }
    }
}

/// One page of a listing and where the next one starts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A directory connection's settings: never the key itself, only when it was set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionView {
    pub account_id: AccountId,
    pub tenant: TenantRef,
    pub client_id: ClientId,
    pub cloud: &'static str,
    pub login_url: String,
    pub graph_url: String,
    pub default_role: NewUserRole,
    pub sync: Vec<&'static str>,
    pub actions: Vec<&'static str>,
    pub frequency: Frequency,
    pub deletion_limit: DeletionLimit,
    pub include_sign_in_blocked: bool,
    /// "set on <date>".
    pub client_secret: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub secret_set_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Why automatic sync is off, when the schedule turned it off.
    pub frequency_turned_off: Option<String>,
    /// What sign-in proves the app's identity with: `secret` or `certificate`.
    pub credential: CredentialKind,
    /// The key's expiry date as the admin entered it (`YYYY-MM-DD`).
    pub key_expires_on: Option<String>,
    /// When the credential in use stops working, if known (`YYYY-MM-DD`).
    pub credential_expires_on: Option<String>,
    /// The certificates Roster generated for the connection, newest first.
    pub certificates: Vec<CertificateView>,
}

/// The public half of a certificate Roster generated; its private key is never shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateView {
    /// SHA-1, hex: the Thumbprint column of the Entra admin center.
    pub thumbprint: String,
    pub sha256_thumbprint: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// What the certificate is to sign-in now ([`certificate_use`]).
    #[serde(rename = "use")]
    pub usage: &'static str,
}

impl CertificateView {
    /// The connection's certificates, newest first, as they are to sign-in at `now`.
    pub fn all(connection: &DirectoryConnection, now: OffsetDateTime) -> Vec<Self> {
        (connection.certificates.iter().enumerate())
            .map(|(index, c)| Self {
                thumbprint: c.thumbprint.clone(),
                sha256_thumbprint: c.sha256_thumbprint.clone(),
                not_before: c.not_before,
                not_after: c.not_after,
                created_at: c.created_at,
                usage: certificate_use(connection, index, now),
            })
            .collect()
    }
}

/// A certificate with its public certificate as PEM, to upload to the app registration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateWithPem {
    #[serde(flatten)]
    pub certificate: CertificateView,
    pub certificate_pem: String,
}

/// What the connection's certificate at `index` is to sign-in at `now`.
pub fn certificate_use(
    connection: &DirectoryConnection,
    index: usize,
    now: OffsetDateTime,
) -> &'static str {
    let certificate = &connection.certificates[index];
    if now >= certificate.not_after {
        return "expired";
    }
    if now < certificate.not_before {
        return "not valid yet";
    }
    match connection.signing_certificates(now).first() {
        Some(first) if first.thumbprint == certificate.thumbprint => "tried first",
        _ => "fallback if the newer one is not uploaded",
    }
}

impl ConnectionView {
    pub fn new(connection: &DirectoryConnection, turned_off: Option<&AccountEvent>) -> Self {
        let settings = &connection.settings;
        let now = OffsetDateTime::now_utc();
        Self {
            account_id: connection.account_id,
            tenant: settings.tenant.clone(),
            client_id: settings.client_id,
            cloud: settings.cloud.name(),
            login_url: settings.cloud.login_url().to_string(),
            graph_url: settings.cloud.graph_url().to_string(),
            default_role: settings.default_role,
            sync: settings.scope.names(),
            actions: settings.actions.names(),
            frequency: settings.frequency,
            deletion_limit: settings.deletion_limit,
            include_sign_in_blocked: settings.include_sign_in_blocked,
            client_secret: format!("set on {}", connection.secret_set_at.date()),
            secret_set_at: connection.secret_set_at,
            updated_at: connection.updated_at,
            frequency_turned_off: turned_off.map(|e| e.message.clone()),
            credential: settings.credential,
            key_expires_on: settings.key_expires_on.map(iso_date::format),
            credential_expires_on: credential_expiry(connection, now).map(iso_date::format),
            certificates: CertificateView::all(connection, now),
        }
    }
}
