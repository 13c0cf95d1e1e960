//! Test connection: an ordered checklist that an administrator reads top to bottom, each
//! step passed, failed (with the fix) or not run (with the reason).

use std::collections::BTreeSet;

use roster_domain::DomainName;
use serde::Serialize;

use crate::client::{Call, GraphClient};
use crate::error::{FixSetting, GraphError};
use crate::parse::{self, WireError};
use crate::read::wire_error;

/// The checks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Check {
    TenantResolves,
    Authentication,
    Permissions,
    UsersReadable,
    GroupsReadable,
    Domains,
}

impl Check {
    pub fn title(self) -> &'static str {
        match self {
            Self::TenantResolves => "Tenant resolves",
            Self::Authentication => "Authentication",
            Self::Permissions => "Permissions present",
            Self::UsersReadable => "Users readable",
            Self::GroupsReadable => "Groups readable",
            Self::Domains => "Verified domains match the account's domains",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Passed,
    Failed,
    NotRun,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    pub check: Check,
    pub title: &'static str,
    pub status: StepStatus,
    /// What was found, or why the step did not run.
    pub detail: String,
    /// What to do, for a failed step.
    pub fix: Option<String>,
    /// The setting the fix changes, for a surface to name its own control for it.
    #[serde(skip)]
    pub fix_setting: Option<FixSetting>,
}

impl Step {
    fn passed(check: Check, detail: impl Into<String>) -> Self {
        Self {
            check,
            title: check.title(),
            status: StepStatus::Passed,
            detail: detail.into(),
            fix: None,
            fix_setting: None,
        }
    }

    fn failed(check: Check, error: &GraphError) -> Self {
        Self {
            check,
            title: check.title(),
            status: StepStatus::Failed,
            detail: error.to_string(),
            fix: Some(error.fix()),
            fix_setting: error.fix_setting(),
        }
    }

    fn not_run(check: Check, why: impl Into<String>) -> Self {
        Self {
            check,
            title: check.title(),
            status: StepStatus::NotRun,
            detail: why.into(),
            fix: None,
            fix_setting: None,
        }
    }
}

/// The outcome of a connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checklist {
    /// True when no step failed.
    pub passed: bool,
    pub steps: Vec<Step>,
}

/// Runs the checks against the tenant of `client`, comparing its verified domains with
/// `account_domains`.
pub async fn test_connection(client: &GraphClient, account_domains: &[DomainName]) -> Checklist {
    let mut steps = Vec::new();
    let token = match client.token().await {
        Ok(token) => token,
        Err(error) => {
            let tenant_failed = matches!(
                error,
                GraphError::TenantNotFound { .. }
                    | GraphError::TenantMalformed { .. }
                    | GraphError::WrongCloud { .. }
                    | GraphError::Network { .. }
                    | GraphError::Unavailable { .. }
                    | GraphError::Throttled { .. }
                    | GraphError::Protocol { .. }
            );
            if tenant_failed {
                steps.push(Step::failed(Check::TenantResolves, &error));
                steps.push(Step::not_run(
                    Check::Authentication,
                    "needs the tenant to resolve",
                ));
            } else {
                steps.push(Step::passed(
                    Check::TenantResolves,
                    "the sign-in service knows the tenant",
                ));
                steps.push(Step::failed(Check::Authentication, &error));
            }
            for check in [
                Check::Permissions,
                Check::UsersReadable,
                Check::GroupsReadable,
                Check::Domains,
            ] {
                steps.push(Step::not_run(check, "needs authentication to pass"));
            }
            return Checklist::from(steps);
        }
    };
    steps.push(Step::passed(
        Check::TenantResolves,
        "the sign-in service knows the tenant",
    ));
    steps.push(Step::passed(
        Check::Authentication,
        token.obtained_with.clone(),
    ));
    steps.push(match &token.roles {
        None => Step::not_run(
            Check::Permissions,
            "the access token's roles cannot be read; the read checks below test access directly",
        ),
        Some(roles) if roles.is_empty() => {
            Step::failed(Check::Permissions, &GraphError::AdminConsentNotGranted)
        }
        Some(roles) => match crate::token::missing_permissions(roles) {
            missing if missing.is_empty() => {
                Step::passed(Check::Permissions, format!("granted: {}", roles.join(", ")))
            }
            missing => Step::failed(
                Check::Permissions,
                &GraphError::MissingPermissions {
                    missing,
                    granted: roles.clone(),
                },
            ),
        },
    });
    steps.push(
        match read_one(
            client,
            "users",
            "/users?$select=id&$top=1",
            parse::user_page,
        )
        .await
        {
            Ok(()) => Step::passed(Check::UsersReadable, "GET /users succeeded"),
            Err(error) => Step::failed(Check::UsersReadable, &error),
        },
    );
    steps.push(
        match read_one(
            client,
            "groups",
            "/groups?$select=id&$top=1",
            parse::group_page,
        )
        .await
        {
            Ok(()) => Step::passed(Check::GroupsReadable, "GET /groups succeeded"),
            Err(error) => Step::failed(Check::GroupsReadable, &error),
        },
    );
    steps.push(match verified_domains(client).await {
        Ok(verified) => compare_domains(account_domains, &verified),
        Err(error) => Step::failed(Check::Domains, &error),
    });
    Checklist::from(steps)
}

impl From<Vec<Step>> for Checklist {
    fn from(steps: Vec<Step>) -> Self {
        Self {
            passed: steps.iter().all(|step| step.status != StepStatus::Failed),
            steps,
        }
    }
}

async fn read_one<T>(
    client: &GraphClient,
    endpoint: &'static str,
    path: &str,
    parse: fn(&[u8]) -> Result<T, WireError>,
) -> Result<(), GraphError> {
    let url = client.api_url(path);
    let reply = client.send(endpoint, Call::Get(&url)).await?;
    parse(&reply.body)
        .map(drop)
        .map_err(|e| wire_error(url.path(), e))
}

/// The tenant's verified domains, lowercased, across every page of `/domains`.
async fn verified_domains(client: &GraphClient) -> Result<BTreeSet<String>, GraphError> {
    let mut verified = BTreeSet::new();
    let mut next = Some(client.api_url("/domains"));
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > client.options().max_pages_per_round {
            return Err(GraphError::protocol(
                url.path(),
                "@odata.nextLink",
                "the list of domains does not end",
            ));
        }
        let reply = client.send("domains", Call::Get(&url)).await?;
        let page = parse::domain_page(&reply.body).map_err(|e| wire_error(url.path(), e))?;
        verified.extend(
            page.items
                .into_iter()
                .filter(|domain| domain.verified)
                .map(|domain| domain.name),
        );
        next = page
            .next_link
            .map(|link| client.own_link(&link, url.path(), "@odata.nextLink"))
            .transpose()?;
    }
    Ok(verified)
}

fn compare_domains(account_domains: &[DomainName], verified: &BTreeSet<String>) -> Step {
    let check = Check::Domains;
    if account_domains.is_empty() {
        return Step {
            check,
            title: check.title(),
            status: StepStatus::Failed,
            detail: "the account has no domains, so no address can be imported".into(),
            fix: Some("Add the account's mail domains under Administration › Account Management › Domains.".into()),
            fix_setting: None,
        };
    }
    let unverified: Vec<String> = account_domains
        .iter()
        .map(|domain| domain.to_string().to_ascii_lowercase())
        .filter(|domain| !verified.contains(domain))
        .collect();
    if unverified.is_empty() {
        return Step::passed(
            check,
            format!(
                "every account domain is verified in the tenant ({})",
                join(verified.iter())
            ),
        );
    }
    Step {
        check,
        title: check.title(),
        status: StepStatus::Failed,
        detail: format!(
            "{} not verified in this tenant (its verified domains: {})",
            unverified.join(", "),
            if verified.is_empty() { "none".to_owned() } else { join(verified.iter()) }
        ),
        fix: Some(
            "Check that the connection points at the tenant that owns these domains, or add and verify them in the \
             Entra admin center › Settings › Domain names; users of an unverified domain cannot be imported."
                .into(),
        ),
        fix_setting: None,
    }
}

fn join<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items.map(String::as_str).collect::<Vec<_>>().join(", ")
}
