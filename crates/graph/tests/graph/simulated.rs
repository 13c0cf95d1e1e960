//! Against the simulated tenant (roster-sim): whole reads, delta rounds, expiry, faults, and
//! every error class the simulator can produce.

use std::collections::BTreeSet;
use std::time::Duration;

use roster_domain::{ConnectionSettings, DomainName};
use roster_graph::diagnostics::{StepStatus, test_connection};
use roster_graph::{
    ClientOptions, DeltaLinks, DirectoryEvent, GraphClient, GraphError, Priority, ReadStep,
    RetryPolicy,
};
use roster_sim::{RunningSim, SimConfig, Simulator, TenantCredentials};
use secrecy::SecretString;
use serde_json::json;

use crate::support::{Mirror, connection_settings, read_all};

async fn simulator(users: usize, groups: usize) -> RunningSim {
    Simulator::start(SimConfig {
        users,
        groups,
        seed: 11,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

fn settings(tenant: &TenantCredentials) -> ConnectionSettings {
    connection_settings(
        &tenant.tenant,
        &tenant.client_id,
        &tenant.login_url,
        &tenant.graph_url,
    )
}

/// Retries patient enough for the simulator's faults (Retry-After up to one second).
fn patient() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts: 10,
            max_total: Duration::from_secs(60),
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(2),
        },
        ..ClientOptions::new(Priority::High)
    }
}

fn client(sim: &RunningSim) -> GraphClient {
    client_with(settings(sim.tenant()), &sim.tenant().client_secret)
}

fn client_with(settings: ConnectionSettings, secret: &str) -> GraphClient {
    GraphClient::new(&settings, SecretString::from(secret), patient()).expect("the client builds")
}

async fn full_mirror(client: &GraphClient) -> (Mirror, DeltaLinks) {
    let (events, links) = read_all(client.read_full()).await.expect("a full read");
    let mut mirror = Mirror::default();
    mirror.apply(events);
    (mirror, links)
}

fn member_ids(mirror: &Mirror, group: &str) -> BTreeSet<String> {
    mirror.groups[&crate::support::id(group)]
        .members
        .iter()
        .map(|m| m.id.to_string())
        .collect()
}

#[tokio::test]
async fn full_read_mirrors_every_user_group_and_membership_of_the_tenant() {
    let sim = simulator(300, 30).await;
    let control = sim.control();
    let (mirror, _) = full_mirror(&client(&sim)).await;
    let summary = control.summary().await.unwrap();
    assert_eq!(mirror.users.len(), summary.users);
    assert_eq!(mirror.groups.len(), summary.groups);
    for (id, group) in &mirror.groups {
        let view = control.group(id.as_str()).await.unwrap();
        let expected: BTreeSet<String> = view.members.into_iter().collect();
        let read: BTreeSet<String> = group.members.iter().map(|m| m.id.to_string()).collect();
        assert_eq!(read, expected, "members of {id}");
    }
}

#[tokio::test]
async fn delta_round_follows_empty_pages_merges_split_groups_and_applies_every_change() {
    let sim = simulator(800, 10).await;
    let control = sim.control();
    let client = client(&sim);
    let (mut mirror, links) = full_mirror(&client).await;
    let user_ids: Vec<String> = mirror.users.keys().map(|id| id.to_string()).collect();
    let group = mirror.groups.keys().next().unwrap().to_string();

    // 600 members exceed a delta page's 500 links, so the group is split across pages; 250
    // user changes before the group changes fill windows the groups round sees as empty pages.
    for user in &user_ids[..250] {
        control.rename_user(user, "Renamed").await.unwrap();
    }
    let newcomers: Vec<&str> = user_ids[100..700].iter().map(String::as_str).collect();
    control.add_members(&group, &newcomers).await.unwrap();
    control.disable_user(&user_ids[0]).await.unwrap();
    control.soft_delete_user(&user_ids[1]).await.unwrap();
    control.hard_delete_user(&user_ids[2]).await.unwrap();
    control
        .update_user(&user_ids[3], json!({"mail": null}))
        .await
        .unwrap();
    let created = control
        .create_group(
            json!({"displayName": "New", "mailEnabled": true, "securityEnabled": false,
        "mail": "new@contoso.example", "groupTypes": []}),
        )
        .await
        .unwrap();

    let mut read = client.read_changes(&links);
    let (mut empty_pages, mut pages_with_group) = (0, 0);
    let next_links = loop {
        match read.next().await.unwrap() {
            ReadStep::Page(events) => {
                empty_pages += usize::from(events.is_empty());
                pages_with_group += usize::from(
                    events
                        .iter()
                        .any(|e| matches!(e, DirectoryEvent::Group(g) if g.id.as_str() == group)),
                );
                mirror.apply(events);
            }
            ReadStep::Finished(next) => break next,
        }
    };
    assert!(
        empty_pages >= 1,
        "the round was meant to include an empty page"
    );
    assert!(
        pages_with_group >= 2,
        "the group was meant to be split across pages"
    );

    let expected: BTreeSet<String> = control
        .group(&group)
        .await
        .unwrap()
        .members
        .into_iter()
        .collect();
    assert_eq!(member_ids(&mirror, &group), expected);
    assert_eq!(
        mirror.users[&crate::support::id(&user_ids[5])]
            .display_name
            .as_deref(),
        Some("Renamed")
    );
    assert_eq!(
        mirror.users[&crate::support::id(&user_ids[0])].account_enabled,
        Some(false)
    );
    assert!(
        !mirror.users.contains_key(&crate::support::id(&user_ids[1])),
        "soft-deleted"
    );
    assert!(
        !mirror.users.contains_key(&crate::support::id(&user_ids[2])),
        "hard-deleted"
    );
    assert_eq!(
        mirror.users[&crate::support::id(&user_ids[3])].mail,
        None,
        "null clears"
    );
    assert_eq!(
        mirror.groups[&crate::support::id(&created.id)]
            .display_name
            .as_deref(),
        Some("New")
    );
    assert_ne!(next_links, links, "a round always ends with new links");
}

#[tokio::test]
async fn an_expired_delta_link_is_reported_and_a_full_read_recovers() {
    let sim = simulator(50, 5).await;
    let control = sim.control();
    let client = client(&sim);
    let (_, links) = full_mirror(&client).await;
    control.expire_delta_tokens().await.unwrap();
    let error = read_all(client.read_changes(&links)).await.unwrap_err();
    assert!(error.needs_full_read(), "{error:?}");
    let (mirror, fresh) = full_mirror(&client).await;
    assert_eq!(mirror.users.len(), control.summary().await.unwrap().users);
    read_all(client.read_changes(&fresh))
        .await
        .expect("the fresh links work");
}

#[tokio::test]
async fn a_full_read_past_the_tenants_resource_unit_budget_paces_itself_and_completes() {
    // Forty users make a small tenant, with 3,500 units per 10 seconds; the member pages of its
    // 3,000 groups cost two units each, so the read must wait for the budget to refill. Only a
    // read slower than seven seconds would stay within it, whatever the machine. A client that
    // only retried each refused page on its own gave up here on a page refused eight times.
    const GROUPS: usize = 3_000;
    let config = SimConfig {
        users: 40,
        groups: GROUPS,
        seed: 11,
        throttle: true,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config)
        .await
        .expect("the simulator starts");
    let control = sim.control();
    let defaults = ClientOptions::new(Priority::Low);
    let client = GraphClient::new(
        &settings(sim.tenant()),
        SecretString::from(sim.tenant().client_secret.as_str()),
        defaults,
    )
    .unwrap();

    let (paced, _) = full_mirror(&client).await;

    let throttled = client.stats().throttled;
    control.set_throttle(false).await.unwrap();
    let (unthrottled, _) = full_mirror(&client_with(
        settings(sim.tenant()),
        &sim.tenant().client_secret,
    ))
    .await;
    assert_eq!(paced.groups.len(), control.summary().await.unwrap().groups);
    assert!(
        paced.users == unthrottled.users,
        "the paced read's users differ from an unthrottled read's"
    );
    assert!(
        paced.groups == unthrottled.groups,
        "the paced read's groups differ from an unthrottled read's"
    );
    assert!(
        throttled > 0,
        "the read stayed within the budget, so it shows nothing"
    );
    assert!(
        throttled < GROUPS as u64 / 10,
        "{throttled} requests throttled, one in ten pages: the client kept sending into a spent budget"
    );
}

#[tokio::test]
async fn reads_under_a_fault_rate_of_one_in_five_lose_and_duplicate_nothing() {
    let sim = simulator(1500, 60).await;
    let control = sim.control();
    let (reference, links) = full_mirror(&client(&sim)).await;
    control
        .rename_user(reference.users.keys().next().unwrap().as_str(), "Changed")
        .await
        .unwrap();
    control.set_fault_rate(0.2).await.unwrap();

    let faulty = client(&sim);
    let (events, _) = read_all(faulty.read_full())
        .await
        .expect("a full read under faults");
    let user_events = events
        .iter()
        .filter(|e| matches!(e, DirectoryEvent::User(_)))
        .count();
    assert_eq!(
        user_events,
        reference.users.len(),
        "each user listed exactly once"
    );
    let mut mirror = Mirror::default();
    mirror.apply(events);
    assert_eq!(
        mirror.users.keys().collect::<Vec<_>>(),
        reference.users.keys().collect::<Vec<_>>()
    );
    for (id, group) in &reference.groups {
        assert_eq!(mirror.groups[id].members, group.members, "members of {id}");
    }
    assert!(
        faulty.stats().retries > 0,
        "the fault rate produced no retry"
    );

    let (changes, _) = read_all(faulty.read_changes(&links))
        .await
        .expect("a delta round under faults");
    assert!(changes.iter().any(|e| matches!(e, DirectoryEvent::User(u) if u.display_name == roster_graph::Patch::Set("Changed".into()))));
}

#[tokio::test]
async fn a_healthy_simulated_connection_passes_the_checklist() {
    let sim = simulator(20, 2).await;
    let domain: DomainName = sim.tenant().tenant.parse().unwrap();
    let checklist = test_connection(&client(&sim), &[domain]).await;
    assert!(checklist.passed, "{checklist:#?}");
    let foreign: DomainName = "fabrikam.example".parse().unwrap();
    let checklist = test_connection(&client(&sim), &[foreign]).await;
    assert_eq!(checklist.steps[5].status, StepStatus::Failed);
    assert!(checklist.steps[5].detail.contains("fabrikam.example"));
}

/// The error a full read against the simulator ends with.
async fn read_error(client: &GraphClient) -> GraphError {
    let error = read_all(client.read_full()).await.unwrap_err();
    let shown = format!("{error} {error:?} {}", error.fix());
    assert!(!shown.contains("eyJ"), "a token leaked: {shown}");
    error
}

#[tokio::test]
async fn simulated_sign_in_errors_name_their_fixes() {
    let sim = simulator(10, 1).await;
    let tenant = sim.tenant();

    let unknown = ConnectionSettings {
        tenant: "nowhere.example".parse().unwrap(),
        ..settings(tenant)
    };
    let error = read_error(&client_with(unknown, &tenant.client_secret)).await;
    assert!(
        matches!(error, GraphError::TenantNotFound { .. }),
        "{error:?}"
    );
    assert!(error.fix().contains("Tenant ID"));

    let error = read_error(&client_with(
        settings(tenant),
        "the-secret-id-not-its-value",
    ))
    .await;
    assert!(
        matches!(error, GraphError::InvalidSecret { .. }),
        "{error:?}"
    );
    assert!(
        error.fix().contains("VALUE")
            && !format!("{error:?}").contains("the-secret-id-not-its-value")
    );

    let stranger = ConnectionSettings {
        client_id: "0f0e0d0c-0b0a-4909-8807-060504030201".parse().unwrap(),
        ..settings(tenant)
    };
    let error = read_error(&client_with(stranger, &tenant.client_secret)).await;
    assert!(
        matches!(error, GraphError::ApplicationNotFound { .. }),
        "{error:?}"
    );
    assert!(error.fix().contains("Application (client) ID"));

    sim.control().expire_secret().await.unwrap();
    let error = read_error(&client(&sim)).await;
    assert!(
        matches!(error, GraphError::SecretExpired { .. }),
        "{error:?}"
    );
    assert!(error.fix().contains("Create a new client secret"));
}

#[tokio::test]
async fn simulated_permission_errors_name_the_missing_permission_and_consent() {
    let sim = simulator(10, 1).await;
    let control = sim.control();

    control.set_roles(&["User.Read.All"]).await.unwrap();
    let error = read_error(&client(&sim)).await;
    assert!(
        matches!(&error, GraphError::MissingPermissions { missing, .. } if missing == &["Group.Read.All"]),
        "{error:?}"
    );
    assert!(
        error.fix().contains("Directory.Read.All (Application)")
            && error.fix().contains("Grant admin consent")
    );

    control.set_roles(&[]).await.unwrap();
    let error = read_error(&client(&sim)).await;
    assert!(
        matches!(error, GraphError::AdminConsentNotGranted),
        "{error:?}"
    );
    assert!(error.fix().contains("Grant admin consent"));
}

#[tokio::test]
async fn a_simulated_graph_that_always_fails_is_reported_as_transient_with_its_fix() {
    let sim = simulator(10, 1).await;
    sim.control().set_fault_rate(1.0).await.unwrap();
    let options = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            ..patient().retry
        },
        ..patient()
    };
    let client = GraphClient::new(
        &settings(sim.tenant()),
        SecretString::from(sim.tenant().client_secret.as_str()),
        options,
    )
    .unwrap();
    let error = read_error(&client).await;
    assert!(
        matches!(
            error,
            GraphError::Throttled { .. }
                | GraphError::Unavailable { .. }
                | GraphError::Network { .. }
        ),
        "{error:?}"
    );
    assert!(!error.fix().is_empty());
    assert_eq!(
        client.stats().graph_requests,
        3,
        "bounded by the retry policy"
    );
}

#[tokio::test]
async fn a_stopped_simulator_is_a_network_error_naming_the_host() {
    let sim = simulator(10, 1).await;
    let settings = settings(sim.tenant());
    let secret = sim.tenant().client_secret.clone();
    drop(sim);
    let error = read_error(&client_with(settings, &secret)).await;
    assert!(
        matches!(&error, GraphError::Network { host, .. } if host == "127.0.0.1"),
        "{error:?}"
    );
}

#[tokio::test]
async fn over_https_the_client_trusts_an_extra_root_certificate_and_refuses_an_unknown_one() {
    let sim = Simulator::start(SimConfig {
        users: 20,
        groups: 3,
        seed: 11,
        tls: true,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts with TLS");
    let tenant = sim.tenant();
    assert!(
        tenant.login_url.starts_with("https://"),
        "{}",
        tenant.login_url
    );

    let untrusted = client_with(settings(tenant), &tenant.client_secret);
    let error = read_all(untrusted.read_full())
        .await
        .expect_err("an unknown certificate is refused");
    assert!(
        matches!(&error, GraphError::Certificate { problem, .. } if problem.contains("unknown issuer")),
        "{error:?}"
    );

    let certificate = sim.certificate_pem().expect("generated at start-up");
    let options = ClientOptions {
        extra_root_certificates_pem: certificate.as_bytes().to_vec(),
        ..patient()
    };
    let trusting = GraphClient::new(
        &settings(tenant),
        SecretString::from(tenant.client_secret.as_str()),
        options,
    )
    .unwrap();
    let (mirror, _) = full_mirror(&trusting).await;
    assert_eq!(
        mirror.users.len(),
        sim.control().summary().await.unwrap().users
    );
}

#[test]
fn extra_root_certificates_that_are_not_pem_are_a_setup_error() {
    let settings = connection_settings(
        "contoso.com",
        "8a5b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
        "https://127.0.0.1:1",
        "https://127.0.0.1:2",
    );
    let options = ClientOptions {
        extra_root_certificates_pem:
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".to_vec(),
        ..patient()
    };
    let Err(error) = GraphClient::new(&settings, SecretString::from("s"), options) else {
        panic!("a bundle that is not PEM is refused");
    };
    assert!(error.to_string().contains("not valid PEM"), "{error}");
}

/// The first group of the simulated tenant that has members, and their ids.
async fn a_group_with_members(sim: &RunningSim) -> (String, BTreeSet<String>) {
    let (mirror, _) = full_mirror(&client(sim)).await;
    let (id, group) = mirror
        .groups
        .iter()
        .find(|(_, group)| !group.members.is_empty())
        .expect("the tenant has a group with members");
    let members = group.members.iter().map(|m| m.id.to_string()).collect();
    (id.to_string(), members)
}

#[tokio::test]
async fn a_404_on_a_listed_groups_members_is_retried_and_the_group_read_whole() {
    let sim = simulator(30, 4).await;
    let (group, members) = a_group_with_members(&sim).await;
    sim.control()
        .members_not_found(&group, Some(3))
        .await
        .unwrap();

    let client = client(&sim);
    let (events, _) = read_all(client.read_full()).await.expect("a full read");
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, DirectoryEvent::GroupRemoved(_))),
        "a full read removes nothing: {events:?}"
    );
    let mut mirror = Mirror::default();
    mirror.apply(events);
    assert_eq!(member_ids(&mirror, &group), members);
    assert!(client.stats().retries >= 3, "{:?}", client.stats());
}

#[tokio::test]
async fn a_404_on_a_listed_groups_members_that_persists_fails_the_read_naming_the_group() {
    let sim = simulator(30, 4).await;
    let (group, _) = a_group_with_members(&sim).await;
    sim.control().members_not_found(&group, None).await.unwrap();

    let client = client(&sim);
    let error = read_error(&client).await;
    match &error {
        GraphError::GroupMembersNotFound {
            group: named,
            attempts,
            ..
        } => {
            assert_eq!(named, &group);
            assert_eq!(*attempts, patient().retry.max_attempts, "{error}");
        }
        other => panic!("the read fails for the group's members, not with {other:?}"),
    }
    assert!(error.to_string().contains("nothing was removed"), "{error}");
    assert!(error.fix().contains("next sync"), "{}", error.fix());
}
