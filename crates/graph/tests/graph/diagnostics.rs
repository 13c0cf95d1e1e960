//! Test connection: the checklist an administrator reads, step by step.

use roster_domain::DomainName;
use roster_graph::diagnostics::{Check, Checklist, StepStatus, test_connection};
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::support::{Tenant, jwt, ok, token_body};

fn domains(names: &[&str]) -> Vec<DomainName> {
    names
        .iter()
        .map(|name| name.parse().expect("a domain"))
        .collect()
}

fn statuses(checklist: &Checklist) -> Vec<(Check, StepStatus)> {
    checklist
        .steps
        .iter()
        .map(|step| (step.check, step.status))
        .collect()
}

/// A tenant that answers every check: users, groups and its domains.
async fn readable_tenant(access_token: &str) -> Tenant {
    let tenant = Tenant::without_token().await;
    tenant.token_response(ok(token_body(access_token))).await;
    tenant.get("/users", &[("$top", "1")], ok(json!({"value": [{"id": "u1"}], "@odata.nextLink": tenant.link("/users?$skiptoken=x")}))).await;
    tenant
        .get("/groups", &[("$top", "1")], ok(json!({"value": []})))
        .await;
    tenant
        .get(
            "/domains",
            &[],
            ok(json!({"value": [
                {"id": "contoso.com", "isVerified": true, "isDefault": true},
                {"id": "Contoso.onmicrosoft.com", "isVerified": true},
                {"id": "pending.example", "isVerified": false}
            ]})),
        )
        .await;
    tenant
}

#[tokio::test]
async fn a_healthy_connection_passes_every_step_in_order() {
    let tenant = readable_tenant(&crate::support::granted_token()).await;
    let checklist = test_connection(&tenant.client(), &domains(&["contoso.com"])).await;
    assert!(checklist.passed, "{checklist:#?}");
    assert_eq!(
        statuses(&checklist),
        [
            (Check::TenantResolves, StepStatus::Passed),
            (Check::Authentication, StepStatus::Passed),
            (Check::Permissions, StepStatus::Passed),
            (Check::UsersReadable, StepStatus::Passed),
            (Check::GroupsReadable, StepStatus::Passed),
            (Check::Domains, StepStatus::Passed),
        ]
    );
    assert!(checklist.steps[2].detail.contains("Directory.Read.All"));
}

#[tokio::test]
async fn an_unknown_tenant_fails_the_first_step_and_runs_no_other() {
    let tenant = Tenant::without_token().await;
    let body = json!({"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant 'contoso.com' not found.", "error_codes": [90002]});
    tenant
        .token_response(ResponseTemplate::new(400).set_body_json(body))
        .await;
    let checklist = test_connection(&tenant.client(), &domains(&["contoso.com"])).await;
    assert!(!checklist.passed);
    let first = &checklist.steps[0];
    assert_eq!(
        (first.check, first.status),
        (Check::TenantResolves, StepStatus::Failed)
    );
    assert!(first.fix.as_deref().unwrap().contains("Tenant ID"));
    assert!(
        checklist.steps[1..]
            .iter()
            .all(|step| step.status == StepStatus::NotRun && step.fix.is_none())
    );
}

#[tokio::test]
async fn a_wrong_secret_fails_authentication_with_the_secret_value_fix() {
    let tenant = Tenant::without_token().await;
    let body = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]});
    tenant
        .token_response(ResponseTemplate::new(401).set_body_json(body))
        .await;
    let checklist = test_connection(&tenant.client(), &domains(&["contoso.com"])).await;
    assert_eq!(checklist.steps[0].status, StepStatus::Passed);
    assert_eq!(checklist.steps[1].status, StepStatus::Failed);
    assert!(checklist.steps[1].fix.as_deref().unwrap().contains("VALUE"));
    assert_eq!(checklist.steps[2].detail, "needs authentication to pass");
}

#[tokio::test]
async fn a_token_without_roles_fails_the_permission_step_with_the_consent_fix() {
    let tenant = Tenant::without_token().await;
    tenant.token_response(ok(token_body(&jwt(None)))).await;
    let denied = json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}});
    for graph_path in ["/users", "/groups", "/domains"] {
        tenant
            .get(
                graph_path,
                &[],
                ResponseTemplate::new(403).set_body_json(&denied),
            )
            .await;
    }
    let checklist = test_connection(&tenant.client(), &domains(&["contoso.com"])).await;
    let permissions = &checklist.steps[2];
    assert_eq!(permissions.status, StepStatus::Failed);
    assert!(
        permissions
            .fix
            .as_deref()
            .unwrap()
            .contains("Directory.Read.All (Application)")
    );
    assert!(
        permissions
            .fix
            .as_deref()
            .unwrap()
            .contains("Grant admin consent")
    );
    assert_eq!(checklist.steps[3].status, StepStatus::Failed);
}

#[tokio::test]
async fn a_partial_grant_names_the_missing_permission() {
    let tenant = readable_tenant(&jwt(Some(&["User.Read.All"]))).await;
    let checklist = test_connection(&tenant.client(), &domains(&["contoso.com"])).await;
    let permissions = &checklist.steps[2];
    assert_eq!(permissions.status, StepStatus::Failed);
    assert!(
        permissions.detail.contains("Group.Read.All"),
        "{}",
        permissions.detail
    );
}

#[tokio::test]
async fn an_unreadable_token_leaves_permissions_to_the_read_steps() {
    let tenant = readable_tenant("opaque-token-not-a-jwt").await;
    let checklist = test_connection(&tenant.client(), &domains(&["contoso.com"])).await;
    assert_eq!(checklist.steps[2].status, StepStatus::NotRun);
    assert!(checklist.passed);
}

#[tokio::test]
async fn account_domains_not_verified_in_the_tenant_are_named() {
    let tenant = readable_tenant(&crate::support::granted_token()).await;
    let checklist = test_connection(
        &tenant.client(),
        &domains(&["contoso.com", "pending.example", "fabrikam.com"]),
    )
    .await;
    let step = &checklist.steps[5];
    assert_eq!(step.status, StepStatus::Failed);
    assert!(
        step.detail
            .starts_with("pending.example, fabrikam.com not verified"),
        "{}",
        step.detail
    );
    assert!(
        step.detail.contains("contoso.onmicrosoft.com"),
        "verified domains are listed lowercased"
    );
    assert!(!checklist.passed);
}

#[tokio::test]
async fn the_checklist_serializes_for_json_output() {
    let tenant = readable_tenant(&crate::support::granted_token()).await;
    let checklist = test_connection(&tenant.client(), &[]).await;
    let value = serde_json::to_value(&checklist).unwrap();
    assert_eq!(value["passed"], false);
    assert_eq!(value["steps"][0]["check"], "tenant_resolves");
    assert_eq!(value["steps"][5]["status"], "failed");
    assert!(
        value["steps"][5]["fix"]
            .as_str()
            .unwrap()
            .contains("Domains")
    );
}
