//! The v2.0 token endpoint (client credentials) and the discovery document.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Harness, JsonBody, Reply, jwt_payload, read};

fn credentials_form<'a>(
    client_id: &'a str,
    secret: &'a str,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", scope),
        ("grant_type", "client_credentials"),
    ]
}

/// Entra's error body: the OAuth error, AADSTS code first in the description, ids at the end.
fn assert_aad_error(reply: &Reply, status: StatusCode, error: &str, code: u64) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"], error);
    assert_eq!(reply.body["error_codes"], serde_json::json!([code]));
    let description = reply.body["error_description"]
        .as_str()
        .expect("a description");
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    let trace_id = reply.body["trace_id"].as_str().expect("trace_id");
    let correlation_id = reply.body["correlation_id"]
        .as_str()
        .expect("correlation_id");
    let timestamp = reply.body["timestamp"].as_str().expect("timestamp");
    assert!(
        description.ends_with(&format!(
            "\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        )),
        "{description}"
    );
    assert_eq!(
        reply.body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
}

#[tokio::test]
async fn issues_a_signed_bearer_token_carrying_the_consented_roles() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let scope = harness.scope();
    let reply = harness
        .token_request(
            &tenant.tenant,
            &credentials_form(&tenant.client_id, &tenant.client_secret, &scope),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 3599);
    assert_eq!(reply.body["ext_expires_in"], 3599);
    let token = reply.body["access_token"].as_str().expect("a token");
    assert_eq!(token.split('.').count(), 3, "header.payload.signature");
    let claims = jwt_payload(token);
    assert_eq!(claims["aud"], tenant.graph_url);
    assert_eq!(claims["tid"], tenant.tenant_id);
    assert_eq!(claims["appid"], tenant.client_id);
    assert!(
        claims["iss"]
            .as_str()
            .is_some_and(|iss| iss.contains(&tenant.tenant_id))
    );
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3599));
    assert_eq!(claims["roles"], serde_json::json!(["Directory.Read.All"]));
}

#[tokio::test]
async fn accepts_the_tenant_guid_and_http_basic_client_authentication() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        tenant.login_url, tenant.tenant_id
    );
    let response = harness
        .http
        .post(url)
        .basic_auth(&tenant.client_id, Some(&tenant.client_secret))
        .form(&[
            ("scope", harness.scope().as_str()),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_secret_is_aadsts7000215_asking_for_the_secret_value_not_its_id() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let scope = harness.scope();
    let app = harness.control().app().await.unwrap();
    let secret_id = app.secrets[0].secret_id.clone();
    let reply = harness
        .token_request(
            &tenant.tenant,
            &credentials_form(&tenant.client_id, &secret_id, &scope),
        )
        .await;
    assert_aad_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains("client secret value, not the client secret ID")
    );
}

#[tokio::test]
async fn an_expired_secret_is_aadsts7000222_and_a_rotated_one_replaces_it() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let scope = harness.scope();
    harness.control().expire_secret().await.unwrap();
    let reply = harness
        .token_request(
            &tenant.tenant,
            &credentials_form(&tenant.client_id, &tenant.client_secret, &scope),
        )
        .await;
    assert_aad_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 7000222);

    let issued = harness.control().rotate_secret().await.unwrap();
    let fresh = harness
        .token_request(
            &tenant.tenant,
            &credentials_form(&tenant.client_id, &issued.client_secret, &scope),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
    let old = harness
        .token_request(
            &tenant.tenant,
            &credentials_form(&tenant.client_id, &tenant.client_secret, &scope),
        )
        .await;
    assert_aad_error(&old, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);
}

#[tokio::test]
async fn a_missing_secret_is_aadsts7000218() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let scope = harness.scope();
    let form = [
        ("client_id", tenant.client_id.as_str()),
        ("scope", &scope),
        ("grant_type", "client_credentials"),
    ];
    let reply = harness.token_request(&tenant.tenant, &form).await;
    assert_aad_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 7000218);
}

#[tokio::test]
async fn an_unknown_application_is_aadsts700016_unauthorized_client() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let scope = harness.scope();
    let other_app = "11111111-2222-3333-4444-555555555555";
    let reply = harness
        .token_request(
            &tenant.tenant,
            &credentials_form(other_app, &tenant.client_secret, &scope),
        )
        .await;
    assert_aad_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    );
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains(other_app)
    );
}

#[tokio::test]
async fn tenant_names_are_checked_for_existence_shape_and_multi_tenant_aliases() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let scope = harness.scope();
    let form = credentials_form(&tenant.client_id, &tenant.client_secret, &scope);

    let unknown = harness
        .token_request("nosuchtenant.onmicrosoft.com", &form)
        .await;
    assert_aad_error(&unknown, StatusCode::BAD_REQUEST, "invalid_tenant", 90002);
    let unknown_guid = harness
        .token_request("6babcaad-604b-40ac-a9d7-9fd97c0b779f", &form)
        .await;
    assert_aad_error(
        &unknown_guid,
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        90002,
    );
    let malformed = harness.token_request("not a tenant!", &form).await;
    assert_aad_error(
        &malformed,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900023,
    );
    for alias in ["common", "organizations"] {
        let reply = harness.token_request(alias, &form).await;
        assert_aad_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 9001023);
    }
}

#[tokio::test]
async fn the_scope_must_be_graphs_dot_default() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let other_resource = format!(
        "https://graph.microsoft.com/.default {}/.default",
        tenant.graph_url
    );
    for scope in [
        "https://graph.microsoft.com/User.Read",
        "openid",
        &format!("{}/User.Read.All", tenant.graph_url),
        "https://management.azure.com/.default",
        &other_resource,
    ] {
        let reply = harness
            .token_request(
                &tenant.tenant,
                &credentials_form(&tenant.client_id, &tenant.client_secret, scope),
            )
            .await;
        assert_aad_error(&reply, StatusCode::BAD_REQUEST, "invalid_scope", 70011);
    }
    for scope in [
        "https://graph.microsoft.com/.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ] {
        let reply = harness
            .token_request(
                &tenant.tenant,
                &credentials_form(&tenant.client_id, &tenant.client_secret, scope),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "Graph's well-known identifiers name the simulated Graph too"
        );
        assert_eq!(
            jwt_payload(reply.body["access_token"].as_str().unwrap())["aud"],
            tenant.graph_url
        );
    }
}

#[tokio::test]
async fn without_admin_consent_the_token_has_no_roles_and_graph_answers_403() {
    let mut harness = Harness::small().await;
    harness.control().set_roles(&[]).await.unwrap();
    harness.token = harness.fresh_token().await;
    assert!(
        jwt_payload(&harness.token).get("roles").is_none(),
        "no roles claim at all"
    );
    let reply = harness.get("/users").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "Authorization_RequestDenied");
    assert_eq!(
        reply.body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
}

#[tokio::test]
async fn user_read_all_covers_users_but_not_groups_and_group_member_read_all_covers_groups() {
    let mut harness = Harness::small().await;
    harness
        .control()
        .set_roles(&["User.Read.All"])
        .await
        .unwrap();
    harness.token = harness.fresh_token().await;
    assert_eq!(harness.get("/users").await.status, StatusCode::OK);
    assert_eq!(harness.get("/groups").await.status, StatusCode::FORBIDDEN);

    harness
        .control()
        .grant_role("GroupMember.Read.All")
        .await
        .unwrap();
    harness
        .control()
        .revoke_role("User.Read.All")
        .await
        .unwrap();
    harness.token = harness.fresh_token().await;
    assert_eq!(harness.get("/groups/delta").await.status, StatusCode::OK);
    assert_eq!(
        harness.get("/users/delta").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_openid_configuration_points_at_the_simulator() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    for name in [&tenant.tenant, &tenant.tenant_id] {
        let url = format!(
            "{}/{name}/v2.0/.well-known/openid-configuration",
            tenant.login_url
        );
        let document: Value = harness.http.get(url).json_body().await;
        assert_eq!(
            document["token_endpoint"],
            format!(
                "{}/{}/oauth2/v2.0/token",
                tenant.login_url, tenant.tenant_id
            )
        );
        assert_eq!(
            document["issuer"],
            format!("{}/{}/v2.0", tenant.login_url, tenant.tenant_id)
        );
        assert!(
            document["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&"client_secret_basic".into())
        );
    }
}

/// MSAL reads the discovery document before its first token request, so a client configured
/// with `/common` must get the document (issuer templated, as at Entra) and then AADSTS9001023
/// from the token endpoint.
#[tokio::test]
async fn multi_tenant_aliases_have_discovery_documents_but_issue_no_tokens() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    for alias in ["common", "organizations", "Consumers"] {
        let canonical = alias.to_ascii_lowercase();
        let url = format!(
            "{}/{alias}/v2.0/.well-known/openid-configuration",
            tenant.login_url
        );
        let document: Value = harness.http.get(url).json_body().await;
        assert_eq!(
            document["token_endpoint"],
            format!("{}/{canonical}/oauth2/v2.0/token", tenant.login_url)
        );
        assert_eq!(
            document["issuer"],
            format!("{}/{{tenantid}}/v2.0", tenant.login_url)
        );
        assert_eq!(document["tenant_region_scope"], Value::Null);

        let scope = harness.scope();
        let form = credentials_form(&tenant.client_id, &tenant.client_secret, &scope);
        let reply = harness.token_request(alias, &form).await;
        assert_aad_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 9001023);
    }
}

/// MSAL Python validates a non-Microsoft authority through instance discovery and sends the
/// authority's host without its port; the tenant comes from the path, as at Entra.
#[tokio::test]
async fn instance_discovery_takes_the_tenant_from_the_path_and_refuses_other_hosts() {
    let harness = Harness::small().await;
    let tenant = harness.tenant().clone();
    let discovery = format!("{}/common/discovery/instance", tenant.login_url);
    let without_port = tenant.login_url.rsplit_once(':').unwrap().0;
    for authority in [&tenant.login_url, &without_port.to_owned()] {
        let endpoint = format!("{authority}/{}/oauth2/v2.0/authorize", tenant.tenant_id);
        let response = harness
            .http
            .get(&discovery)
            .query(&[
                ("api-version", "1.0"),
                ("authorization_endpoint", &endpoint),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let document: Value = response.json().await.unwrap();
        assert_eq!(
            document["tenant_discovery_endpoint"],
            format!(
                "{}/{}/v2.0/.well-known/openid-configuration",
                tenant.login_url, tenant.tenant_id
            )
        );
    }

    let elsewhere = format!(
        "https://login.example.net/{}/oauth2/v2.0/authorize",
        tenant.tenant_id
    );
    let response = harness
        .http
        .get(&discovery)
        .query(&[
            ("api-version", "1.0"),
            ("authorization_endpoint", &elsewhere),
        ])
        .send()
        .await
        .unwrap();
    let reply = read(response).await;
    assert_aad_error(&reply, StatusCode::BAD_REQUEST, "invalid_instance", 50049);
}
