//! Every error class an administrator can meet, each naming its fix and never the secret.

use roster_graph::{FixSetting, GraphError};
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::support::{Tenant, assert_no_secret, jwt, ok, read_all, token_body};

/// The error a full read ends with when the token endpoint answers `status` with `body`.
async fn sign_in_error(status: u16, error: &str, code: u32, description: &str) -> GraphError {
    let tenant = Tenant::without_token().await;
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description}\r\nTrace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2024-01-01 00:00:00Z"),
        "error_codes": [code],
        "timestamp": "2024-01-01 00:00:00Z",
        "trace_id": "0000",
        "correlation_id": "1111",
    });
    tenant
        .token_response(ResponseTemplate::new(status).set_body_json(body))
        .await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert_no_secret(&error);
    error
}

#[tokio::test]
async fn unknown_tenant_says_to_check_the_primary_domain_and_cloud() {
    let error = sign_in_error(
        400,
        "invalid_tenant",
        90002,
        "Tenant 'contoso.com' not found.",
    )
    .await;
    assert!(
        matches!(error, GraphError::TenantNotFound { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("contoso.com"));
    assert!(
        error.fix().contains("Tenant ID") && error.fix().contains("cloud"),
        "{}",
        error.fix()
    );
}

#[tokio::test]
async fn malformed_tenant_says_what_a_tenant_looks_like() {
    let error = sign_in_error(
        400,
        "invalid_request",
        900023,
        "Specified tenant identifier is neither a valid DNS name",
    )
    .await;
    assert!(
        matches!(error, GraphError::TenantMalformed { .. }),
        "{error:?}"
    );
    assert!(error.fix().contains("GUID") && error.fix().contains("verified domain"));
}

#[tokio::test]
async fn invalid_secret_says_the_value_is_needed_not_the_id() {
    let error = sign_in_error(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided.",
    )
    .await;
    assert!(
        matches!(error, GraphError::InvalidSecret { .. }),
        "{error:?}"
    );
    assert!(
        error.fix().contains("VALUE") && error.fix().contains("not its Secret ID"),
        "{}",
        error.fix()
    );
}

#[tokio::test]
async fn expired_secret_says_to_create_a_new_one_and_paste_its_value() {
    let error = sign_in_error(
        401,
        "invalid_client",
        7000222,
        "The provided client secret keys are expired.",
    )
    .await;
    assert!(
        matches!(error, GraphError::SecretExpired { .. }),
        "{error:?}"
    );
    // The settings are named as the console's form labels them, never by a CLI flag or
    // command: the CLI prints its own for the setting the fix names.
    let fix = error.fix();
    assert!(
        fix.contains("Create a new client secret")
            && fix.contains("paste its value as the Key")
            && fix.contains("Key expires on"),
        "{fix}"
    );
    assert!(
        !fix.contains("--") && !fix.contains("roster connection"),
        "{fix}"
    );
    assert_eq!(error.fix_setting(), Some(FixSetting::Key));
}

#[tokio::test]
async fn unknown_application_says_to_check_the_client_id() {
    let error = sign_in_error(
        400,
        "unauthorized_client",
        700016,
        "Application with identifier was not found",
    )
    .await;
    assert!(
        matches!(error, GraphError::ApplicationNotFound { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(crate::support::CLIENT_ID));
    assert!(error.fix().contains("Application (client) ID"));
}

#[tokio::test]
async fn tenant_of_another_cloud_says_to_change_the_cloud() {
    let error = sign_in_error(
        400,
        "invalid_request",
        90038,
        "NationalCloudTenantRedirection",
    )
    .await;
    assert!(
        matches!(error, GraphError::WrongCloud { code: 90038, .. }),
        "{error:?}"
    );
    // The clouds by the names the console's Microsoft cloud list shows, not the CLI's values.
    let fix = error.fix();
    assert!(
        fix.contains("Microsoft cloud setting") && fix.contains("US Government (GCC High)"),
        "{fix}"
    );
    assert!(!fix.contains("usgov"), "{fix}");
    assert_eq!(error.fix_setting(), Some(FixSetting::Cloud));
}

#[tokio::test]
async fn other_sign_in_refusals_name_their_aadsts_code() {
    let error = sign_in_error(
        400,
        "invalid_scope",
        70011,
        "The provided value for the input parameter 'scope' is not valid.",
    )
    .await;
    assert!(
        matches!(error, GraphError::SignInRefused { code: 70011, .. }),
        "{error:?}"
    );
    assert!(error.fix().contains("AADSTS70011"));
}

/// A tenant whose token carries `roles` and whose Graph refuses every read with 403.
async fn denied_tenant(roles: Option<&[&str]>) -> GraphError {
    let tenant = Tenant::without_token().await;
    tenant.token_response(ok(token_body(&jwt(roles)))).await;
    tenant.latest_links().await;
    let denied = json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}});
    // Users and groups are read at once; either refusal may arrive first.
    for collection in ["/users", "/groups"] {
        tenant
            .get(
                collection,
                &[],
                ResponseTemplate::new(403).set_body_json(denied.clone()),
            )
            .await;
    }
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert_no_secret(&error);
    error
}

#[tokio::test]
async fn missing_permission_is_named_from_the_tokens_roles() {
    let error = denied_tenant(Some(&["User.Read.All"])).await;
    match &error {
        GraphError::MissingPermissions { missing, granted } => {
            assert_eq!(missing, &["Group.Read.All"]);
            assert_eq!(granted, &["User.Read.All"]);
        }
        other => panic!("expected missing permissions, got {other:?}"),
    }
    assert!(error.to_string().contains("Group.Read.All"));
    assert!(
        error.fix().contains("Directory.Read.All (Application)")
            && error.fix().contains("Grant admin consent")
    );
}

#[tokio::test]
async fn token_without_roles_means_admin_consent_was_not_granted() {
    let error = denied_tenant(Some(&[])).await;
    assert!(
        matches!(error, GraphError::AdminConsentNotGranted),
        "{error:?}"
    );
    let no_claim = denied_tenant(None).await;
    assert!(
        matches!(no_claim, GraphError::AdminConsentNotGranted),
        "{no_claim:?}"
    );
    assert!(error.fix().contains("Grant admin consent"));
}

#[tokio::test]
async fn request_denied_with_every_role_present_says_consent_may_still_be_applying() {
    let error = denied_tenant(Some(&["Directory.Read.All"])).await;
    assert!(
        matches!(error, GraphError::AccessDenied { .. }),
        "{error:?}"
    );
    // Users and groups are read at once: the refusal names whichever arrived first.
    let message = error.to_string();
    assert!(
        message.contains("/v1.0/users") || message.contains("/v1.0/groups"),
        "the refusal names the request Graph refused: {message}"
    );
    assert!(error.fix().contains("wait and test again"));
}

#[tokio::test]
async fn identity_not_found_means_admin_consent_was_not_granted() {
    let tenant = Tenant::start().await;
    let body = json!({"error": {"code": "Authorization_IdentityNotFound", "message": "The identity of the calling application could not be established."}});
    tenant
        .get(
            "/users/delta",
            &[],
            ResponseTemplate::new(401).set_body_json(body),
        )
        .await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert!(
        matches!(error, GraphError::AdminConsentNotGranted),
        "{error:?}"
    );
}

#[tokio::test]
async fn endless_throttling_is_reported_after_the_retry_budget() {
    let tenant = Tenant::start().await;
    let throttled = ResponseTemplate::new(429)
        .insert_header("Retry-After", "0.01")
        .set_body_string(crate::support::sample("error-429-throttled"));
    tenant.get("/users/delta", &[], throttled).await;
    let client = tenant.client();
    let error = read_all(client.read_full()).await.unwrap_err();
    match &error {
        GraphError::Throttled { attempts, .. } => assert_eq!(attempts, &5),
        other => panic!("expected throttled, got {other:?}"),
    }
    assert_eq!(client.stats().throttled, 5);
    assert_eq!(client.stats().retries, 4);
    assert!(error.fix().contains("limiting requests"));
}

#[tokio::test]
async fn endless_server_errors_report_graph_unavailable() {
    let tenant = Tenant::start().await;
    tenant
        .get("/users/delta", &[], ResponseTemplate::new(503))
        .await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert!(
        matches!(
            error,
            GraphError::Unavailable {
                status: 503,
                attempts: 5,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.fix().contains("service health"));
}

#[tokio::test]
async fn unreachable_host_is_a_network_error_naming_the_host() {
    let tenant = Tenant::without_token().await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("http://127.0.0.1:{closed_port}");
    let settings = roster_domain::ConnectionSettings {
        cloud: roster_domain::Cloud::custom(&nowhere, &nowhere).unwrap(),
        ..tenant.settings()
    };
    let client = roster_graph::GraphClient::new(
        &settings,
        crate::support::SECRET.into(),
        crate::support::options(),
    )
    .unwrap();
    let error = read_all(client.read_full()).await.unwrap_err();
    match &error {
        GraphError::Network { host, .. } => assert_eq!(host, "127.0.0.1"),
        other => panic!("expected a network error, got {other:?}"),
    }
    assert!(error.fix().contains("firewall"));
    assert_no_secret(&error);
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_then_reported() {
    let tenant = Tenant::start().await;
    let expired = json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}});
    tenant
        .get(
            "/users/delta",
            &[],
            ResponseTemplate::new(401).set_body_json(expired),
        )
        .await;
    let client = tenant.client();
    let error = read_all(client.read_full()).await.unwrap_err();
    assert!(
        matches!(error, GraphError::TokenRejected { .. }),
        "{error:?}"
    );
    assert_eq!(
        client.stats().token_requests,
        2,
        "one fresh token, then give up"
    );
    assert_eq!(client.stats().graph_requests, 2);
    assert!(error.fix().contains("cloud setting"));
}

#[tokio::test]
async fn unexpected_graph_errors_carry_the_request_id_for_support() {
    let tenant = Tenant::start().await;
    let body = crate::support::sample("error-400-request-badrequest-count-unsupported");
    tenant
        .get(
            "/users/delta",
            &[],
            ResponseTemplate::new(400).set_body_string(body),
        )
        .await;
    let error = read_all(tenant.client().read_full()).await.unwrap_err();
    assert!(
        matches!(error, GraphError::Rejected { status: 400, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("Request_BadRequest"));
    assert!(error.fix().contains("d9bbd4d8-bb2d-44e6-99a1-71a9516da744"));
}

#[tokio::test]
async fn the_token_request_is_a_client_credentials_form_for_the_graph_scope() {
    let tenant = Tenant::without_token().await;
    let scope = format!(
        "scope={}",
        url_encoded(&format!("{}/.default", tenant.server.uri()))
    );
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(format!(
            "/{}/oauth2/v2.0/token",
            crate::support::TENANT
        )))
        .and(wiremock::matchers::header(
            "content-type",
            "application/x-www-form-urlencoded",
        ))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=client_credentials",
        ))
        .and(wiremock::matchers::body_string_contains(format!(
            "client_id={}",
            crate::support::CLIENT_ID
        )))
        .and(wiremock::matchers::body_string_contains(format!(
            "client_secret={}",
            url_encoded(crate::support::SECRET)
        )))
        .and(wiremock::matchers::body_string_contains(scope))
        .respond_with(ok(token_body(&crate::support::granted_token())))
        .mount(&tenant.server)
        .await;
    tenant.quiet_delta_rounds().await;
    let client = tenant.client();
    read_all(client.read_changes(&tenant.delta_links("u0", "g0")))
        .await
        .unwrap();
    assert!(
        !format!("{client:?}").contains(crate::support::SECRET),
        "Debug shows the secret"
    );
}

fn url_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_token_is_reused_until_shortly_before_it_expires() {
    let tenant = Tenant::without_token().await;
    let short_lived = json!({"token_type": "Bearer", "expires_in": 1, "access_token": crate::support::granted_token()});
    tenant.token_response(ok(short_lived)).await;
    tenant.quiet_delta_rounds().await;
    let client = tenant.client();
    let links = tenant.delta_links("u0", "g0");
    read_all(client.read_changes(&links)).await.unwrap();
    read_all(client.read_changes(&links)).await.unwrap();
    assert_eq!(client.stats().token_requests, 1, "a fresh token is reused");
    // A one-second token is refreshed halfway through its life.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    read_all(client.read_changes(&links)).await.unwrap();
    assert_eq!(client.stats().token_requests, 2);
}
