//! Measures how fast the simulator generates a large tenant and serves it.
//!
//! ```text
//! cargo run --release -p roster-sim --example throughput -- [users] [groups] [memberships]
//! ```
//!
//! Defaults to the benchmark's tenant: 100,000 users, 10,000 groups, 1,000,000 memberships.
//! It reads the whole `/users?$top=999` listing (default and selected properties), the initial
//! `/users/delta` round and the initial `/groups/delta` round with members, and reports requests,
//! bytes and MB/s for each.

use std::time::{Duration, Instant};

use roster_sim::{SimConfig, Simulator};

/// Only what paging needs; the objects are skipped without being built, so the measurement is
/// about the simulator rather than the reader.
#[derive(serde::Deserialize)]
struct Page {
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    value: Vec<serde::de::IgnoredAny>,
}

struct Reading {
    requests: usize,
    bytes: usize,
    objects: usize,
    elapsed: Duration,
}

async fn read_all(
    http: &reqwest::Client,
    token: &str,
    first: String,
) -> Result<Reading, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut reading = Reading {
        requests: 0,
        bytes: 0,
        objects: 0,
        elapsed: Duration::ZERO,
    };
    let mut next = Some(first);
    while let Some(url) = next.take() {
        let body = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        reading.requests += 1;
        reading.bytes += body.len();
        let page: Page = serde_json::from_slice(&body)?;
        reading.objects += page.value.len();
        next = page.next_link;
    }
    reading.elapsed = started.elapsed();
    Ok(reading)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let users = args.next().transpose()?.unwrap_or(100_000);
    let groups = args.next().transpose()?.unwrap_or(10_000);
    let memberships = args.next().transpose()?.unwrap_or(1_000_000);

    let started = Instant::now();
    let sim = Simulator::start(SimConfig {
        users,
        groups,
        memberships: Some(memberships),
        seed: 7,
        ..SimConfig::default()
    })
    .await?;
    println!(
        "generated and started a tenant of {users} users, {groups} groups, {memberships} memberships in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let tenant = sim.tenant();
    let http = reqwest::Client::new();
    let form = [
        ("client_id", tenant.client_id.as_str()),
        ("client_secret", &tenant.client_secret),
        ("scope", &format!("{}/.default", tenant.graph_url)),
        ("grant_type", "client_credentials"),
    ];
    let token_url = format!("{}/{}/oauth2/v2.0/token", tenant.login_url, tenant.tenant);
    let token: serde_json::Value = http
        .post(token_url)
        .form(&form)
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned();

    let graph = &tenant.graph_url;
    let runs = [
        (
            "GET /users?$top=999 (default properties)",
            format!("{graph}/v1.0/users?$top=999"),
        ),
        (
            "GET /users?$top=999&$select=<sync properties>",
            format!(
                "{graph}/v1.0/users?$top=999&$select=id,userPrincipalName,mail,proxyAddresses,accountEnabled,userType,displayName,givenName,surname"
            ),
        ),
        (
            "GET /users/delta (initial round)",
            format!(
                "{graph}/v1.0/users/delta?$select=id,mail,proxyAddresses,accountEnabled,userType,displayName"
            ),
        ),
        (
            "GET /groups/delta (initial round, members)",
            format!(
                "{graph}/v1.0/groups/delta?$select=displayName,mail,proxyAddresses,mailEnabled,securityEnabled,groupTypes,members"
            ),
        ),
    ];
    for (name, url) in runs {
        let reading = read_all(&http, &token, url).await?;
        let seconds = reading.elapsed.as_secs_f64();
        println!(
            "{name}: {} objects in {} requests, {:.1} MB in {:.2} s = {:.0} MB/s",
            reading.objects,
            reading.requests,
            reading.bytes as f64 / 1e6,
            seconds,
            reading.bytes as f64 / 1e6 / seconds
        );
    }
    sim.shutdown().await?;
    Ok(())
}
