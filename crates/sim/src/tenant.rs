//! One simulated tenant: its identity, its application registration, its directory and the
//! runtime knobs (latency, faults, throttling) the control API turns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::assertion::{SeenAssertions, UploadedCertificate};
use crate::model::{Directory, ObjectKind};

/// A domain of the tenant, as `/domains` reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Domain {
    pub name: String,
    pub is_verified: bool,
    pub is_default: bool,
    pub is_initial: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientSecret {
    /// The secret's ID (a GUID). Admins often paste this instead of the value.
    pub key_id: String,
    pub value: String,
    pub expires_at_unix: i64,
}

/// The app registration (and its service principal) that the sync uses.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Application {
    pub client_id: String,
    pub display_name: String,
    pub service_principal_id: String,
    pub secrets: Vec<ClientSecret>,
    /// Certificates uploaded for client assertions.
    #[serde(default)]
    pub certificates: Vec<UploadedCertificate>,
    /// Application permissions an admin has consented to; they become the token's `roles`.
    pub roles: BTreeSet<String>,
}

/// Runtime behaviour of the tenant's Graph endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Added to every Graph request.
    pub latency_ms: u64,
    /// Fraction of Graph requests answered with a fault (429, 503 or a dropped connection).
    pub fault_rate: f64,
    /// Apply the resource-unit budget of graph-protocol.md §5.
    pub throttle: bool,
    /// Delta tokens older than this answer 410.
    pub delta_token_max_age_secs: u64,
    /// Lifetime of access tokens issued from now on.
    pub access_token_lifetime_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            fault_rate: 0.0,
            throttle: false,
            delta_token_max_age_secs: 7 * 24 * 3600,
            access_token_lifetime_secs: 3599,
        }
    }
}

/// Everything about a tenant that `--state` saves.
#[derive(Debug, Serialize, Deserialize)]
pub struct TenantState {
    pub tenant_id: String,
    pub domains: Vec<Domain>,
    pub app: Application,
    pub settings: Settings,
    /// Delta tokens carry the generation they were issued in; expiring them on demand bumps it.
    pub delta_generation: u64,
    pub directory: Directory,
}

/// Resource-unit token bucket of one app+tenant pair.
#[derive(Debug)]
pub struct ResourceBudget {
    capacity: f64,
    available: f64,
    refill_per_second: f64,
    updated: Instant,
}

/// What the budget said about one request.
#[derive(Debug, Clone, Copy)]
pub enum BudgetVerdict {
    /// Served; `used_fraction` is how much of the budget is in use after it.
    Allowed {
        used_fraction: f64,
    },
    Throttled {
        retry_after: Duration,
    },
}

impl ResourceBudget {
    /// The app+tenant quota for a tenant of this many users, per 10 seconds (graph-protocol.md §5).
    pub fn for_tenant_size(users: usize) -> Self {
        let capacity = match users {
            0..50 => 3_500.0,
            50..=500 => 5_000.0,
            _ => 8_000.0,
        };
        Self {
            capacity,
            available: capacity,
            refill_per_second: capacity / 10.0,
            updated: Instant::now(),
        }
    }

    /// Charges `cost` units. Graph keeps counting usage while it throttles, so a throttled
    /// request is charged too (down to one budget in debt), and retrying early only prolongs it.
    pub fn charge(&mut self, cost: f64) -> BudgetVerdict {
        let now = Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.updated = now;
        self.available = (self.available + elapsed * self.refill_per_second).min(self.capacity);
        let allowed = self.available >= cost;
        self.available = (self.available - cost).max(-self.capacity);
        if allowed {
            BudgetVerdict::Allowed {
                used_fraction: 1.0 - self.available / self.capacity,
            }
        } else {
            let seconds = (cost - self.available) / self.refill_per_second;
            BudgetVerdict::Throttled {
                retry_after: Duration::from_secs_f64(seconds),
            }
        }
    }
}

/// A tenant being served.
#[derive(Debug)]
pub struct Tenant {
    pub index: usize,
    pub tenant_id: String,
    pub domains: Vec<Domain>,
    pub app: Mutex<Application>,
    pub settings: Mutex<Settings>,
    delta_generation: AtomicU64,
    directory: RwLock<Directory>,
    requests: Mutex<BTreeMap<String, u64>>,
    budget: Mutex<ResourceBudget>,
    fault_rng: Mutex<ChaCha8Rng>,
    /// Groups whose member lists answer 404 (by lowercase id): the number of times left, or
    /// `None` for every request until lifted. Graph does this briefly while it replicates.
    members_not_found: Mutex<HashMap<String, Option<u32>>>,
    /// Client assertions already used to sign in.
    pub seen_assertions: Mutex<SeenAssertions>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every value guarded
/// here stays consistent between statements, so the data is still valid.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Tenant {
    pub fn new(index: usize, seed: u64, mut state: TenantState) -> Self {
        state.directory.reindex();
        let users = state.directory.live_count(ObjectKind::User);
        Self {
            index,
            tenant_id: state.tenant_id,
            domains: state.domains,
            app: Mutex::new(state.app),
            settings: Mutex::new(state.settings),
            delta_generation: AtomicU64::new(state.delta_generation),
            directory: RwLock::new(state.directory),
            requests: Mutex::new(BTreeMap::new()),
            budget: Mutex::new(ResourceBudget::for_tenant_size(users)),
            fault_rng: Mutex::new(ChaCha8Rng::seed_from_u64(
                seed ^ 0x6661_756c_7473 ^ index as u64,
            )),
            members_not_found: Mutex::new(HashMap::new()),
            seen_assertions: Mutex::new(SeenAssertions::default()),
        }
    }

    /// A copy of everything `--state` saves.
    pub fn to_state(&self) -> TenantState {
        TenantState {
            tenant_id: self.tenant_id.clone(),
            domains: self.domains.clone(),
            app: lock(&self.app).clone(),
            settings: self.settings(),
            delta_generation: self.delta_generation(),
            directory: self.read().clone(),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Directory> {
        self.directory
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Directory> {
        self.directory
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn default_domain(&self) -> &str {
        self.domains
            .iter()
            .find(|d| d.is_default)
            .map_or("", |d| d.name.as_str())
    }

    /// True when `name` is the tenant id or one of its verified domains.
    pub fn answers_to(&self, name: &str) -> bool {
        self.tenant_id.eq_ignore_ascii_case(name)
            || self
                .domains
                .iter()
                .any(|d| d.is_verified && d.name.eq_ignore_ascii_case(name))
    }

    pub fn delta_generation(&self) -> u64 {
        self.delta_generation.load(Ordering::SeqCst)
    }

    /// Invalidates every delta and skip token issued so far.
    pub fn expire_delta_tokens(&self) {
        self.delta_generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn count_request(&self, endpoint: &str) {
        *lock(&self.requests).entry(endpoint.to_owned()).or_default() += 1;
    }

    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.requests).clone()
    }

    pub fn reset_request_counts(&self) {
        lock(&self.requests).clear();
    }

    pub fn charge(&self, cost: f64) -> BudgetVerdict {
        lock(&self.budget).charge(cost)
    }

    /// The deterministic random source of fault injection.
    pub fn fault_rng(&self) -> MutexGuard<'_, ChaCha8Rng> {
        lock(&self.fault_rng)
    }

    /// Makes the member list of `group` answer 404 the next `times` requests (`Some(0)` lifts
    /// it), or every request (`None`).
    pub fn set_members_not_found(&self, group: &str, times: Option<u32>) {
        let mut faults = lock(&self.members_not_found);
        match times {
            Some(0) => faults.remove(&group.to_ascii_lowercase()),
            times => faults.insert(group.to_ascii_lowercase(), times),
        };
    }

    /// Whether this request for `group`'s members is to answer 404, counting it if so.
    pub fn take_members_not_found(&self, group: &str) -> bool {
        let mut faults = lock(&self.members_not_found);
        let key = group.to_ascii_lowercase();
        match faults.get_mut(&key) {
            None => false,
            Some(None) => true,
            Some(Some(left)) => {
                *left -= 1;
                if *left == 0 {
                    faults.remove(&key);
                }
                true
            }
        }
    }
}
