//! The server scenario: the REST API of an in-process `roster serve` on loopback, after a full
//! sync of the tenant. It measures latency (p50/p99) and requests per second of what an admin
//! reads most — a page of users, a page of a plan's changes (all, one category, a search that
//! matches nothing and so reads the whole plan), a run's status — and the time from Search Now
//! to its 202.
//!
//! The plan is one of `--plan-changes` changes (100,000 by default, whatever the tenant's size):
//! the full sync's changes again and again, each with an id of its own, saved as the account's
//! newest plan. The load generator runs in this process, on the same cores as the server: the
//! numbers are what one machine does with both.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use roster_domain::plan::{Category, Plan};
use roster_domain::{AccountId, ChangeId, PlanId, RunId};
use roster_server::{AppState, Config};
use roster_store::Store;
use roster_sync::SyncEngine;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::database::{self, ACCOUNT, FreshDatabase};
use crate::measure::{self, seconds};
use crate::sim::SimProcess;
use crate::{Bench, StoreKind};

/// How long each load runs.
const LOAD_TIME: Duration = Duration::from_secs(5);
/// Connections of the loads: one for latency, several for what the server sustains.
const CONNECTIONS: [usize; 2] = [1, 8];
/// Pages of each listing the loads cycle through, from the first on.
const PAGES: usize = 20;
const PAGE_SIZE: usize = 100;
/// Search Now requests timed, each after the previous run finished.
const SEARCHES: usize = 10;

#[derive(Debug, Serialize)]
struct ReadReport {
    scenario: &'static str,
    store: &'static str,
    users: usize,
    plan_changes: usize,
    request: &'static str,
    /// The page's query: a category, or a search that matches nothing (and so reads the
    /// whole plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
    connections: usize,
    requests: usize,
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[derive(Debug, Serialize)]
struct SearchNowReport {
    scenario: &'static str,
    store: &'static str,
    users: usize,
    request: &'static str,
    searches: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// The `q`th quantile (0–1) of sorted latencies, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
}

/// The API as one token sees it.
struct Api {
    client: reqwest::Client,
    base: String,
    token: SecretString,
}

impl Api {
    fn account_url(&self, tail: &str) -> String {
        format!("{}/api/v1/accounts/{ACCOUNT}{tail}", self.base)
    }

    async fn get(&self, url: &str) -> anyhow::Result<serde_json::Value> {
        let response = self
            .client
            .get(url)
            .bearer_auth(self.token.expose_secret())
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status.is_success(), "GET {url}: {status} {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// The URLs of the first [`PAGES`] pages of a listing, following `next_cursor`.
    async fn pages(&self, first: &str) -> anyhow::Result<Vec<String>> {
        let mut urls = vec![first.to_owned()];
        while urls.len() < PAGES {
            let page = self.get(urls.last().expect("never empty")).await?;
            let Some(cursor) = page["next_cursor"].as_str() else {
                break;
            };
            urls.push(format!("{first}&cursor={cursor}"));
        }
        Ok(urls)
    }

    /// Requests `urls` in turn from `connections` clients at once for [`LOAD_TIME`].
    async fn load(&self, urls: Vec<String>, connections: usize) -> anyhow::Result<Vec<Duration>> {
        let urls = Arc::new(urls);
        let next = Arc::new(AtomicUsize::new(0));
        let until = Instant::now() + LOAD_TIME;
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..connections {
            let (client, token) = (self.client.clone(), self.token.clone());
            let (urls, next) = (urls.clone(), next.clone());
            clients.spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let url = &urls[next.fetch_add(1, Ordering::Relaxed) % urls.len()];
                    let started = Instant::now();
                    let response = client
                        .get(url)
                        .bearer_auth(token.expose_secret())
                        .send()
                        .await?;
                    let status = response.status();
                    response.bytes().await?;
                    latencies.push(started.elapsed());
                    ensure!(status.is_success(), "GET {url}: {status}");
                }
                anyhow::Ok(latencies)
            });
        }
        let mut all = Vec::new();
        while let Some(latencies) = clients.join_next().await {
            all.extend(latencies??);
        }
        all.sort();
        Ok(all)
    }

    /// Search Now, timed to its 202; then waits (untimed) for the run to finish.
    async fn search_now(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = self
            .client
            .post(self.account_url("/sync/preview"))
            .bearer_auth(self.token.expose_secret())
            .send()
            .await?;
        let elapsed = started.elapsed();
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        ensure!(status == 202, "Search Now answered {status} {body}");
        let run = body["run_id"].as_str().context("no run_id")?.to_owned();
        loop {
            let run = self.get(&self.account_url(&format!("/runs/{run}"))).await?;
            match run["status"].as_str() {
                Some("running") => tokio::time::sleep(Duration::from_millis(20)).await,
                Some("succeeded") => return Ok(elapsed),
                _ => bail!("Search Now failed: {run}"),
            }
        }
    }
}

/// Saves a plan of `count` changes, the `model`'s again and again with ids of their own, as
/// the account's newest plan.
async fn save_large_plan(
    store: &Store,
    account_id: AccountId,
    model: &Plan,
    count: usize,
) -> anyhow::Result<Plan> {
    ensure!(!model.changes.is_empty(), "the full sync planned nothing");
    let changes = model
        .changes
        .iter()
        .cycle()
        .take(count)
        .map(|change| roster_domain::plan::Change {
            id: ChangeId::new(),
            ..change.clone()
        })
        .collect();
    let plan = Plan {
        id: PlanId::new(),
        run_id: RunId::new(),
        changes,
        ..model.clone()
    };
    store
        .save_plan(
            &plan,
            store.revision(account_id).await?,
            store.mirror_version(account_id).await?,
        )
        .await?;
    Ok(plan)
}

impl Bench {
    pub async fn server(&self, plan_changes: usize) -> anyhow::Result<()> {
        let sim =
            SimProcess::start(&self.roster, self.size, self.options.seed, self.serving(0)).await?;
        for &kind in &self.options.stores {
            let database = FreshDatabase::create(kind, &self.options.postgres, &sim).await?;
            measure::spawn(&database, &sim).await?;
            let measured = self
                .measure_server(&database, &sim, kind, plan_changes)
                .await;
            database.remove().await?;
            measured?;
        }
        sim.stop().await
    }

    async fn measure_server(
        &self,
        database: &FreshDatabase,
        sim: &SimProcess,
        kind: StoreKind,
        plan_changes: usize,
    ) -> anyhow::Result<()> {
        let store = database::open_store(&database.url).await?;
        let account_id = database::account_id(&store).await?;
        // This process's key is new: the secret is sealed again under it for Search Now.
        store
            .set_connection(
                account_id,
                measure::settings(&sim.credentials)?,
                Some(SecretString::from(sim.credentials.client_secret.clone())),
            )
            .await?;
        let full_sync = store
            .list_runs(account_id, 1)
            .await?
            .into_iter()
            .next()
            .context("the full sync left no run")?;
        let model = store
            .plan(
                account_id,
                full_sync.plan_id.context("the full sync left no plan")?,
            )
            .await?
            .plan;
        let plan = save_large_plan(&store, account_id, &model, plan_changes).await?;
        let users = store.synced_counts(account_id).await?.0;
        let token = store.create_api_token(account_id, "bench", true).await?;
        let admin_token = store.create_api_token(account_id, "bench", false).await?;

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let state = AppState::new(SyncEngine::new(store.clone()), Config::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(roster_server::serve(listener, state, false, async {
            let _ = stopped.await;
        }));
        let api = Api {
            client: reqwest::Client::new(),
            base,
            token: token.secret,
        };

        let plan_url = |query: &str| {
            api.account_url(&format!(
                "/plans/{}/changes?limit={PAGE_SIZE}{query}",
                plan.id
            ))
        };
        let category = format!("category={}", rarest_category(&plan).as_str());
        let no_match = "q=matches-no-change".to_owned();
        let reads: [(&'static str, Option<String>, Vec<String>); 5] = [
            (
                "users_page",
                None,
                api.pages(&api.account_url(&format!("/users?limit={PAGE_SIZE}")))
                    .await?,
            ),
            ("plan_changes_page", None, api.pages(&plan_url("")).await?),
            (
                "plan_changes_page",
                Some(category.clone()),
                api.pages(&plan_url(&format!("&{category}"))).await?,
            ),
            (
                "plan_changes_page",
                Some(no_match.clone()),
                vec![plan_url(&format!("&{no_match}"))],
            ),
            (
                "run_status",
                None,
                vec![api.account_url(&format!("/runs/{}", full_sync.id))],
            ),
        ];
        for (request, filter, urls) in reads {
            for connections in CONNECTIONS {
                let latencies = api.load(urls.clone(), connections).await?;
                let report = ReadReport {
                    scenario: "server",
                    store: kind.name(),
                    users,
                    plan_changes,
                    request,
                    filter: filter.clone(),
                    connections,
                    requests: latencies.len(),
                    requests_per_s: latencies.len() as f64 / seconds(LOAD_TIME),
                    p50_ms: quantile_ms(&latencies, 0.5),
                    p99_ms: quantile_ms(&latencies, 0.99),
                };
                println!("{}", serde_json::to_string(&report)?);
            }
        }

        let writer = Api {
            token: admin_token.secret,
            ..api
        };
        let mut searches = Vec::with_capacity(SEARCHES);
        for _ in 0..SEARCHES {
            searches.push(writer.search_now().await?);
        }
        searches.sort();
        let report = SearchNowReport {
            scenario: "server",
            store: kind.name(),
            users,
            request: "search_now_202",
            searches: searches.len(),
            p50_ms: quantile_ms(&searches, 0.5),
            p99_ms: quantile_ms(&searches, 0.99),
            max_ms: quantile_ms(&searches, 1.0),
        };
        println!("{}", serde_json::to_string(&report)?);

        let _ = stop.send(());
        server.await??;
        Ok(())
    }
}

/// The plan's rarest category: the filter that skips the most changes between two matches.
fn rarest_category(plan: &Plan) -> Category {
    let mut counts: HashMap<Category, usize> = HashMap::new();
    for change in &plan.changes {
        *counts.entry(change.category).or_default() += 1;
    }
    counts
        .into_iter()
        .min_by_key(|&(category, count)| (count, category.as_str()))
        .map_or(Category::UsersToAdd, |(category, _)| category)
}
