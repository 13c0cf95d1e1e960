//! Every attempt, retry and throttle is counted with the `metrics` crate, labelled.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use wiremock::ResponseTemplate;

use crate::support::{Tenant, read_all};

/// Counters by name and sorted labels, e.g. `roster_graph_requests_total{endpoint=users_delta,status=429}`.
#[derive(Default)]
struct Counters(Mutex<BTreeMap<String, Arc<Count>>>);

#[derive(Default)]
struct Count(AtomicU64);

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl Counters {
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |count| count.0.load(Ordering::Relaxed))
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        Counter::from_arc(Arc::clone(self.0.lock().unwrap().entry(name).or_default()))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

// The default test runtime runs on this thread only, so a thread-local recorder sees every
// count the client makes.
#[tokio::test]
async fn attempts_retries_and_throttles_are_counted_by_endpoint_status_and_reason() {
    let counters = Counters::default();
    let _recording = metrics::set_default_local_recorder(&counters);
    let tenant = Tenant::start().await;
    tenant
        .once(
            "GET",
            "/users/delta",
            ResponseTemplate::new(429).insert_header("Retry-After", "0.01"),
        )
        .await;
    tenant
        .once("GET", "/groups/delta", ResponseTemplate::new(503))
        .await;
    tenant.quiet_delta_rounds().await;
    read_all(
        tenant
            .client()
            .read_changes(&tenant.delta_links("u0", "g0")),
    )
    .await
    .unwrap();

    assert_eq!(
        counters.get("roster_graph_requests_total{endpoint=token,status=200}"),
        1
    );
    assert_eq!(
        counters.get("roster_graph_requests_total{endpoint=users_delta,status=429}"),
        1
    );
    assert_eq!(
        counters.get("roster_graph_requests_total{endpoint=users_delta,status=200}"),
        1
    );
    assert_eq!(
        counters.get("roster_graph_requests_total{endpoint=groups_delta,status=503}"),
        1
    );
    assert_eq!(
        counters.get("roster_graph_throttled_total{endpoint=users_delta}"),
        1
    );
    assert_eq!(
        counters.get("roster_graph_retries_total{endpoint=users_delta,reason=throttled}"),
        1
    );
    assert_eq!(
        counters.get("roster_graph_retries_total{endpoint=groups_delta,reason=server_error}"),
        1
    );
}
