//! The verbatim Graph and Entra samples and the simulator's answers deserialize into the same
//! strict structs (unknown fields refused), so their shapes are the same.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::support::{Harness, Reply};

fn sample<T: DeserializeOwned>(name: &str) -> T {
    let path = format!(
        "{}/../../testdata/graph-samples/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} does not fit the shape: {e}"))
}

fn answer<T: DeserializeOwned>(reply: &Reply) -> T {
    serde_json::from_value(reply.body.clone()).unwrap_or_else(|e| {
        panic!(
            "the simulator's answer does not fit the shape: {e}\n{}",
            reply.body
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page<T> {
    #[serde(rename = "@odata.context")]
    context: Option<String>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
    #[serde(rename = "@odata.count")]
    count: Option<u64>,
    value: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(
    dead_code,
    reason = "the fields prove the shape; not every test reads every one"
)]
struct User {
    id: Option<String>,
    business_phones: Option<Vec<String>>,
    display_name: Option<String>,
    given_name: Option<String>,
    job_title: Option<String>,
    mail: Option<String>,
    mobile_phone: Option<String>,
    office_location: Option<String>,
    preferred_language: Option<String>,
    surname: Option<String>,
    user_principal_name: Option<String>,
    account_enabled: Option<bool>,
    user_type: Option<String>,
    proxy_addresses: Option<Vec<String>>,
    mail_nickname: Option<String>,
    other_mails: Option<Vec<String>>,
    assigned_licenses: Option<Vec<Value>>,
    #[serde(rename = "@removed")]
    removed: Option<Removed>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Removed {
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(
    dead_code,
    reason = "the fields prove the shape; not every test reads every one"
)]
struct Group {
    id: Option<String>,
    deleted_date_time: Option<String>,
    classification: Option<String>,
    created_date_time: Option<String>,
    description: Option<String>,
    display_name: Option<String>,
    expiration_date_time: Option<String>,
    group_types: Option<Vec<String>>,
    is_assignable_to_role: Option<bool>,
    mail: Option<String>,
    mail_enabled: Option<bool>,
    mail_nickname: Option<String>,
    membership_rule: Option<String>,
    membership_rule_processing_state: Option<String>,
    on_premises_last_sync_date_time: Option<String>,
    on_premises_security_identifier: Option<String>,
    on_premises_sync_enabled: Option<bool>,
    preferred_data_location: Option<String>,
    preferred_language: Option<String>,
    proxy_addresses: Option<Vec<String>>,
    renewed_date_time: Option<String>,
    resource_behavior_options: Option<Vec<String>>,
    resource_provisioning_options: Option<Vec<String>>,
    security_enabled: Option<bool>,
    theme: Option<String>,
    visibility: Option<String>,
    on_premises_provisioning_errors: Option<Vec<Value>>,
    #[serde(rename = "members@delta")]
    members_delta: Option<Vec<MemberLink>>,
    #[serde(rename = "@removed")]
    removed: Option<Removed>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberLink {
    #[serde(rename = "@odata.type")]
    odata_type: String,
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<Removed>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(
    dead_code,
    reason = "the fields prove the shape; not every test reads every one"
)]
struct Member {
    #[serde(rename = "@odata.type")]
    odata_type: Option<String>,
    id: String,
    mail: Option<String>,
    display_name: Option<String>,
    user_principal_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphError {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(rename = "innerError")]
    inner_error: InnerError,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the fields prove the shape; not every test reads every one"
)]
struct InnerError {
    date: String,
    #[serde(rename = "request-id")]
    request_id: String,
    #[serde(rename = "client-request-id")]
    client_request_id: Option<String>,
    code: Option<String>,
    message: Option<String>,
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchResponse {
    responses: Vec<BatchItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchItem {
    id: String,
    status: u16,
    headers: BTreeMap<String, String>,
    body: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the fields prove the shape; not every test reads every one"
)]
struct TokenSuccess {
    token_type: String,
    expires_in: u64,
    ext_expires_in: Option<u64>,
    access_token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the fields prove the shape; not every test reads every one"
)]
struct TokenError {
    error: String,
    error_description: String,
    error_codes: Vec<u32>,
    timestamp: String,
    trace_id: String,
    correlation_id: String,
    error_uri: Option<String>,
}

#[tokio::test]
async fn user_listings_have_the_samples_shape() {
    let harness = Harness::small().await;
    for name in [
        "users-list-example1-guest-proxyaddresses",
        "users-list-filter-startswith-count",
        "users-list-select-assignedlicenses",
    ] {
        sample::<Page<User>>(name);
    }
    let listing: Page<User> = answer(&harness.get("/users?$select=displayName,mail,mailNickname,otherMails,proxyAddresses,userPrincipalName").await);
    assert!(
        listing.context.is_some() && listing.next_link.is_some() && listing.delta_link.is_none()
    );
    let counted: Page<User> = answer(
        &harness
            .get_with(
                "/users?$filter=startswith(displayName,'a')&$count=true",
                &[("ConsistencyLevel", "eventual")],
            )
            .await,
    );
    assert!(counted.count.is_some());
    let defaults: Page<User> = answer(&harness.get("/users").await);
    assert!(
        defaults
            .value
            .iter()
            .all(|u| u.id.is_some() && u.account_enabled.is_none())
    );
}

#[tokio::test]
async fn group_listings_have_the_samples_shape_and_its_default_properties() {
    let harness = Harness::small().await;
    let expected: Page<Group> = sample("groups-list-unified-and-distribution");
    let served: Page<Group> = answer(&harness.get("/groups").await);
    assert!(
        expected.value[0].group_types.is_some()
            && served.value.iter().all(|g| g.group_types.is_some())
    );
    let sample_keys: Value = sample("groups-list-unified-and-distribution");
    let served_keys = harness.get("/groups?$top=1").await.values()[0].clone();
    let sample_keys: Vec<&String> = sample_keys["value"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    for key in served_keys.as_object().unwrap().keys() {
        assert!(
            sample_keys.contains(&key),
            "{key} is a default group property in the sample"
        );
    }
}

#[tokio::test]
async fn member_listings_have_the_samples_shape() {
    let harness = Harness::small().await;
    sample::<Page<Member>>("group-members-direct");
    sample::<Page<Member>>("group-transitivemembers");
    let group = harness.get("/groups?$top=1&$select=id").await.values()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/groups/{group}/members?$select=id,mail"),
        format!("/groups/{group}/transitiveMembers?$select=id,mail"),
    ] {
        let members: Page<Member> = answer(&harness.get(&path).await);
        assert!(members.value.iter().all(|m| m.odata_type.is_some()));
    }
}

#[tokio::test]
async fn delta_pages_have_the_samples_shape() {
    let harness = Harness::small().await;
    for name in [
        "users-delta-initial-page-nextlink",
        "users-delta-middle-page-nextlink",
        "users-delta-final-page-deltalink",
        "users-delta-deltalink-no-changes",
        "users-delta-deltalink-changes-with-removed",
    ] {
        sample::<Page<User>>(name);
    }
    let changes: Page<User> = sample("users-delta-deltalink-changes-with-removed");
    assert_eq!(
        changes.value[1].removed,
        Some(Removed {
            reason: "changed".to_owned()
        })
    );
    for name in [
        "groups-delta-initial-with-members-delta",
        "groups-delta-middle-page-nextlink",
        "groups-delta-final-page-deltalink",
        "groups-delta-deltalink-no-changes",
        "groups-delta-deltalink-member-removed-and-added",
        "groups-delta-default-properties-members-delta",
    ] {
        sample::<Page<Group>>(name);
    }

    let first: Page<User> = answer(
        &harness
            .get_with(
                "/users/delta?$select=displayName,givenName,surname",
                &[("Prefer", "odata.maxpagesize=40")],
            )
            .await,
    );
    assert!(first.next_link.is_some() && first.delta_link.is_none());
    let pages = harness
        .pages("/users/delta?$select=displayName,givenName,surname", &[])
        .await;
    let last: Page<User> = answer(pages.last().unwrap());
    let link = last.delta_link.expect("a delta link");
    let quiet: Page<User> = answer(&harness.get(&link).await);
    assert!(quiet.value.is_empty());
    let user = harness
        .control()
        .create_user(json!({"displayName": "Gone"}))
        .await
        .unwrap();
    harness.control().soft_delete_user(&user.id).await.unwrap();
    let removed: Page<User> = answer(&harness.get(&quiet.delta_link.unwrap()).await);
    assert!(removed.value.iter().any(|u| u.removed.is_some()));

    let groups = harness
        .pages("/groups/delta?$select=displayName,description,members", &[])
        .await;
    let groups_link = groups.last().unwrap().body["@odata.deltaLink"]
        .as_str()
        .unwrap()
        .to_owned();
    for page in &groups {
        let page: Page<Group> = answer(page);
        assert!(page.value.iter().any(|g| g.members_delta.is_some()));
    }
    let group = groups[0].values()[0]["id"].as_str().unwrap().to_owned();
    let member = groups[0].values()[0]["members@delta"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    harness
        .control()
        .remove_members(&group, &[&member])
        .await
        .unwrap();
    let changed: Page<Group> = answer(&harness.get(&groups_link).await);
    let links = changed.value[0].members_delta.as_ref().unwrap();
    assert_eq!(
        links[0].removed,
        Some(Removed {
            reason: "deleted".to_owned()
        })
    );
    assert_eq!(links[0].odata_type, "#microsoft.graph.user");
    assert_eq!(links[0].id, member);
}

#[tokio::test]
async fn errors_have_the_samples_shape_and_messages() {
    let harness = Harness::small().await;
    let pairs = [
        (
            "error-400-request-badrequest-count-unsupported",
            harness.get("/users/$count").await,
        ),
        (
            "error-400-request-unsupportedquery-endswith",
            harness.get("/users?$filter=endswith(mail,'a.com')").await,
        ),
        (
            "error-400-request-unsupportedquery-search",
            harness.get("/users?$search=\"displayName:x\"").await,
        ),
    ];
    for (name, reply) in pairs {
        let expected: GraphError = sample(name);
        let served: GraphError = answer(&reply);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            (served.error.code, served.error.message),
            (expected.error.code, expected.error.message),
            "{name}"
        );
    }
    let expected: GraphError = sample("error-501-notimplemented-select-skills");
    let skills = harness.get("/users?$select=skills").await;
    assert_eq!(skills.status, StatusCode::NOT_IMPLEMENTED);
    let served: GraphError = answer(&skills);
    assert_eq!(
        (served.error.code, served.error.message),
        (expected.error.code, expected.error.message)
    );

    let mut denied = Harness::small().await;
    denied.control().set_roles(&[]).await.unwrap();
    denied.token = denied.fresh_token().await;
    let expected: GraphError = sample("error-403-authorization-requestdenied");
    let served: GraphError = answer(&denied.get("/groups").await);
    assert_eq!(
        (served.error.code, served.error.message),
        (expected.error.code, expected.error.message)
    );

    let expected: GraphError = sample("error-429-throttled");
    harness.control().set_fault_rate(1.0).await.unwrap();
    let throttled = loop {
        let reply = harness.get("/users").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            break reply;
        }
    };
    let served: GraphError = answer(&throttled);
    assert_eq!(
        (served.error.code, served.error.message),
        (expected.error.code, expected.error.message)
    );
    assert_eq!(
        served.error.inner_error.status,
        expected.error.inner_error.status
    );
}

#[tokio::test]
async fn batch_responses_have_the_samples_shape() {
    let harness = Harness::small().await;
    let expected: BatchResponse = sample("batch-response-mixed-statuses");
    assert_eq!(expected.responses.len(), 5);
    let reply = harness
        .post_batch(&json!({"requests": [
            {"id": "1", "method": "GET", "url": "/users?$top=1"},
            {"id": "4", "method": "PATCH", "url": "/users"},
        ]}))
        .await;
    let served: BatchResponse = answer(&reply);
    let items: BTreeMap<&str, &BatchItem> = served
        .responses
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    assert_eq!(items["1"].status, 200);
    assert!(items["1"].headers.contains_key("Content-Type") && items["1"].body.is_some());
    let error: GraphError = serde_json::from_value(items["4"].body.clone().unwrap()).unwrap();
    let sample_error: GraphError =
        serde_json::from_value(expected.responses[3].body.clone().unwrap()).unwrap();
    assert_eq!(
        (items["4"].status, error.error.message),
        (expected.responses[3].status, sample_error.error.message)
    );
}

#[tokio::test]
async fn token_responses_have_the_samples_shape() {
    let harness = Harness::small().await;
    sample::<TokenSuccess>("token-success-client-credentials");
    sample::<TokenError>("token-error-invalid-scope");
    sample::<TokenError>("token-error-sample-with-error-uri");
    let tenant = harness.tenant().clone();
    let request = |scope: String| {
        let tenant = tenant.clone();
        let harness = &harness;
        async move {
            let form = [
                ("client_id", tenant.client_id.as_str()),
                ("client_secret", &tenant.client_secret),
                ("scope", &scope),
                ("grant_type", "client_credentials"),
            ];
            harness.token_request(&tenant.tenant, &form).await
        }
    };
    let success: TokenSuccess = answer(&request(harness.scope()).await);
    assert_eq!(success.token_type, "Bearer");
    let bad = request("https://foo.microsoft.com/.default".to_owned()).await;
    let error: TokenError = answer(&bad);
    let expected: TokenError = sample("token-error-invalid-scope");
    assert_eq!(
        (error.error, error.error_codes),
        (expected.error, expected.error_codes)
    );
}
