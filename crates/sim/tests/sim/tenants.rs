//! Several tenants in one process, saved state, and the `roster sim` arguments.

use clap::Parser;
use reqwest::StatusCode;
use roster_sim::cli::SimArgs;
use roster_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::support::{Harness, JsonBody, config, ids, token_for};

#[tokio::test]
async fn each_tenant_has_its_own_domains_application_and_content() {
    let sim = Simulator::start(SimConfig {
        tenants: 3,
        ..config(40, 4, 17)
    })
    .await
    .unwrap();
    let announcement = sim.announcement();
    assert_eq!(
        announcement["tenant_id"],
        sim.tenant().tenant_id,
        "tenant 0 stays at the top level"
    );
    let tenants = announcement["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 3);
    for field in [
        "login_url",
        "graph_url",
        "control_url",
        "tenant",
        "tenant_id",
        "client_id",
        "client_secret",
    ] {
        assert!(tenants.iter().all(|t| t[field].is_string()), "{field}");
    }
    let distinct = |field: &str| {
        tenants
            .iter()
            .map(|t| t[field].as_str().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert_eq!(
        (
            distinct("tenant"),
            distinct("tenant_id"),
            distinct("client_id")
        ),
        (3, 3, 3)
    );

    let http = reqwest::Client::new();
    let domains = |token: String| {
        let http = http.clone();
        let url = format!("{}/v1.0/domains", sim.graph_url());
        async move {
            let body: serde_json::Value = http.get(url).bearer_auth(token).json_body().await;
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let first = domains(token_for(&http, &sim.tenants()[0]).await).await;
    let second = domains(token_for(&http, &sim.tenants()[1]).await).await;
    assert!(
        first.iter().all(|d| !second.contains(d)),
        "{first:?} / {second:?}"
    );

    let wrong_tenant = format!(
        "{}/{}/oauth2/v2.0/token",
        sim.login_url(),
        sim.tenants()[1].tenant
    );
    let form = [
        ("client_id", sim.tenants()[0].client_id.as_str()),
        ("client_secret", &sim.tenants()[0].client_secret),
        ("scope", &format!("{}/.default", sim.graph_url())),
        ("grant_type", "client_credentials"),
    ];
    let refused = http.post(wrong_tenant).form(&form).send().await.unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::BAD_REQUEST,
        "tenant 0's app is not in tenant 1"
    );
    let user = sim
        .control_for(2)
        .unwrap()
        .create_user(json!({"displayName": "Only in two"}))
        .await
        .unwrap();
    assert!(sim.control().user(&user.id).await.is_err());
}

#[tokio::test]
async fn saved_state_brings_back_the_tenant_and_its_delta_links() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tenant.json");
    let configured = || SimConfig {
        state_file: Some(path.clone()),
        ..config(80, 6, 23)
    };
    let harness = Harness::start(configured()).await;
    let link = harness
        .pages("/users/delta?$select=displayName", &[])
        .await
        .last()
        .unwrap()
        .body["@odata.deltaLink"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = harness
        .control()
        .create_user(json!({"displayName": "Persisted"}))
        .await
        .unwrap();
    harness.control().save_state().await.unwrap();
    let credentials = harness.tenant().clone();
    harness.sim.shutdown().await.unwrap();

    let restarted = Harness::start(configured()).await;
    assert_eq!(restarted.tenant().tenant_id, credentials.tenant_id);
    assert_eq!(
        restarted
            .control()
            .user(&user.id)
            .await
            .unwrap()
            .property("displayName"),
        &json!("Persisted")
    );
    let relative = link.replace(&credentials.graph_url, &restarted.tenant().graph_url);
    let changes = restarted.all(&relative).await;
    assert_eq!(
        ids(&changes),
        [user.id],
        "a delta link from before the restart still works"
    );
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

#[test]
fn roster_sim_arguments_map_onto_the_configuration() {
    let cli = Cli::parse_from([
        "roster",
        "--listen",
        "127.0.0.1:0",
        "--users",
        "100000",
        "--groups",
        "10000",
        "--memberships",
        "1000000",
        "--seed",
        "7",
        "--tenants",
        "2",
        "--latency-ms",
        "25",
        "--fault-rate",
        "0.1",
        "--throttle",
        "--state",
        "t.json",
    ]);
    let config = SimConfig::from(&cli.sim);
    assert_eq!(
        (config.users, config.groups, config.memberships, config.seed),
        (100_000, 10_000, Some(1_000_000), 7)
    );
    assert_eq!(
        (config.tenants, config.latency.as_millis(), config.throttle),
        (2, 25, true)
    );
    assert_eq!(config.fault_rate, 0.1);
    assert_eq!(
        config.state_file.as_deref(),
        Some(std::path::Path::new("t.json"))
    );
    let defaults = SimConfig::from(&Cli::parse_from(["roster"]).sim);
    assert_eq!(
        (
            defaults.users,
            defaults.groups,
            defaults.seed,
            defaults.tenants
        ),
        (500, 40, 7, 1)
    );
    let tls = Cli::parse_from(["roster", "--tls", "--cert-out", "sim.pem"]).sim;
    assert!(SimConfig::from(&tls).tls);
    assert_eq!(
        tls.cert_out.as_deref(),
        Some(std::path::Path::new("sim.pem"))
    );
    assert!(
        Cli::try_parse_from(["roster", "--cert-out", "sim.pem"]).is_err(),
        "a certificate is written only with --tls"
    );
}

#[tokio::test]
async fn with_tls_login_and_graph_are_served_over_https_with_a_certificate_generated_at_start_up() {
    let sim = Simulator::start(SimConfig {
        tls: true,
        ..config(30, 3, 2)
    })
    .await
    .unwrap();
    let tenant = sim.tenant().clone();
    assert!(
        tenant.login_url.starts_with("https://127.0.0.1:")
            && tenant.graph_url.starts_with("https://")
    );
    assert!(
        tenant.control_url.starts_with("http://"),
        "the control API stays plain HTTP"
    );
    let pem = sim
        .certificate_pem()
        .expect("a TLS simulator has a certificate");
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE-----") && !pem.contains("PRIVATE KEY"),
        "{pem}"
    );
    let trusting = |pem: &str| {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
            .build()
            .unwrap()
    };
    let http = trusting(pem);
    let discovery: serde_json::Value = http
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            tenant.login_url, tenant.tenant
        ))
        .json_body()
        .await;
    assert_eq!(
        discovery["token_endpoint"],
        format!(
            "{}/{}/oauth2/v2.0/token",
            tenant.login_url, tenant.tenant_id
        )
    );
    let token = token_for(&http, &tenant).await;
    let users = http
        .get(format!("{}/v1.0/users?$top=5", tenant.graph_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK);
    assert!(
        reqwest::Client::new()
            .get(format!("{}/v1.0/users", tenant.graph_url))
            .send()
            .await
            .is_err(),
        "untrusted without the certificate"
    );
    assert!(sim.control().summary().await.is_ok());

    let other = Simulator::start(SimConfig {
        tls: true,
        ..config(5, 1, 2)
    })
    .await
    .unwrap();
    assert_ne!(
        other.certificate_pem(),
        Some(pem),
        "each start has its own key"
    );
    assert!(
        trusting(pem)
            .get(format!("{}/v1.0/users", other.tenant().graph_url))
            .send()
            .await
            .is_err(),
        "one simulator's certificate does not vouch for another"
    );
    let plain = Simulator::start(config(5, 1, 2)).await.unwrap();
    assert_eq!(plain.certificate_pem(), None);
}
