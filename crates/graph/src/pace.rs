//! How fast one client sends once Graph has throttled it.
//!
//! Graph throttles each app and tenant by a budget of resource units that refills over time
//! (8,000 units per 10 seconds for a tenant of more than 500 users, graph-protocol.md §5), and
//! it keeps charging requests while it refuses them. A client that retried each throttled
//! request on its own while its other requests went on would keep the budget in debt until
//! some request ran out of attempts: a first sync of 100,000 users did, against the simulated
//! tenant's budget. The budget itself is not visible, only its 429s. So after a 429 the whole
//! client stops until the `Retry-After` has passed, and from then on spaces its requests: twice
//! as far apart at each 429 to a request sent at the current pace, and half as far for every
//! [`HALF_LIFE`] without one. The pace settles near what the budget refills.
//!
//! A request's spacing comes before it: a `$batch` of twenty items is charged item by item at
//! once, and a `Retry-After` covers only the request it answers, so the first batch after a
//! pause waits until the budget has refilled for all its items. And a request that was waiting
//! for its turn when a 429 came takes a new turn behind the pause.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The widest spacing between two request units: ten a second, far below the smallest
/// tenant's budget (350 units a second, two to a member page).
const MAX_GAP: Duration = Duration::from_millis(100);

/// How long the spacing takes to halve without a new 429.
const HALF_LIFE: Duration = Duration::from_secs(2);

/// The pace of one client and its clones.
#[derive(Debug)]
pub(crate) struct Pace {
    /// The spacing at the first 429: twice that of the client's own request budget.
    first_gap: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// No request starts before this: the end of the latest `Retry-After`.
    resume_at: Instant,
    /// When the last request started.
    last_start: Instant,
    /// The spacing set at the last 429 and when: it halves every [`HALF_LIFE`] after. `None`
    /// until Graph first throttles the client.
    widened: Option<(Duration, Instant)>,
    /// How many 429s the client has met: a request that waited through one takes a new turn.
    throttles: u64,
}

impl State {
    /// The spacing between request units at `now`.
    fn gap(&self, now: Instant) -> Duration {
        let Some((gap, at)) = self.widened else {
            return Duration::ZERO;
        };
        let halvings = now.saturating_duration_since(at).as_secs_f64() / HALF_LIFE.as_secs_f64();
        gap.mul_f64(0.5f64.powf(halvings))
    }
}

impl Pace {
    /// The pace of a client whose own budget allows `units_per_second`.
    pub(crate) fn new(units_per_second: u32) -> Self {
        let now = Instant::now();
        Self {
            first_gap: Duration::from_secs(2) / units_per_second.max(1),
            state: Mutex::new(State {
                resume_at: now,
                last_start: now,
                widened: None,
                throttles: 0,
            }),
        }
    }

    /// Waits until a request of `units` may start: after any pause, and its units' spacing after
    /// the request before it. Returns when it starts.
    pub(crate) async fn wait(&self, units: u32) -> Instant {
        loop {
            let (start, throttles) = {
                let mut state = self.state();
                let now = Instant::now();
                let spacing = state.gap(now) * units;
                let start = now
                    .max(state.resume_at + spacing)
                    .max(state.last_start + spacing);
                state.last_start = start;
                (start, state.throttles)
            };
            if start > Instant::now() {
                tokio::time::sleep_until(start).await;
            }
            if self.state().throttles == throttles {
                return start;
            }
        }
    }

    /// Graph refused a request sent at `sent_at` with 429: nothing starts before `retry_after`
    /// has passed, and the spacing doubles unless the request went out before it last did.
    pub(crate) fn throttled(&self, sent_at: Instant, retry_after: Duration) {
        let mut state = self.state();
        let now = Instant::now();
        state.throttles += 1;
        state.resume_at = state.resume_at.max(now + retry_after);
        if state.widened.is_none_or(|(_, at)| sent_at > at) {
            let gap = (state.gap(now) * 2).clamp(self.first_gap, MAX_GAP);
            state.widened = Some((gap, now));
            tracing::debug!(
                ?gap,
                ?retry_after,
                "Graph throttled the client: pausing, then spacing requests wider"
            );
        }
    }

    /// The spacing kept between two request units now.
    #[cfg(test)]
    fn gap(&self) -> Duration {
        self.state().gap(Instant::now())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the state whole, so a panic elsewhere leaves it usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_go_at_once_until_graph_throttles() {
        let pace = Pace::new(2000);
        let started = Instant::now();
        for _ in 0..100 {
            pace.wait(20).await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(pace.gap(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_nothing_starts_before_its_retry_after_and_each_request_after_its_spacing()
    {
        let pace = Pace::new(1000);
        let sent = pace.wait(1).await;
        pace.throttled(sent, Duration::from_secs(2));
        assert_eq!(
            pace.gap(),
            Duration::from_millis(2),
            "twice the client's own spacing"
        );
        let resumed = pace.wait(10).await;
        assert_eq!(
            resumed - sent,
            Duration::from_millis(2020),
            "the Retry-After, then ten units' spacing"
        );
        let next = pace.wait(1).await;
        assert!(
            next - resumed <= Duration::from_millis(2),
            "one unit's spacing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_429s_of_requests_sent_at_the_old_pace_widen_the_spacing_once() {
        let pace = Pace::new(1000);
        let in_flight = [
            pace.wait(20).await,
            pace.wait(20).await,
            pace.wait(20).await,
        ];
        tokio::time::advance(Duration::from_millis(1)).await;
        for sent in in_flight {
            pace.throttled(sent, Duration::from_millis(10));
        }
        assert!(pace.gap() <= Duration::from_millis(2) && pace.gap() > Duration::from_micros(1990));
        let sent_after = pace.wait(1).await;
        pace.throttled(sent_after, Duration::from_millis(10));
        assert!(
            pace.gap() > Duration::from_micros(3900),
            "a 429 at the new pace widens it again: {:?}",
            pace.gap()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waiting_its_turn_when_graph_throttles_waits_out_the_pause() {
        let pace = std::sync::Arc::new(Pace::new(1000));
        let first = pace.wait(1).await;
        pace.throttled(first, Duration::ZERO);
        let waiting = tokio::spawn({
            let pace = pace.clone();
            async move { pace.wait(1000).await }
        });
        tokio::time::advance(Duration::from_millis(100)).await;
        pace.throttled(first, Duration::from_secs(5));
        let started = waiting.await.unwrap();
        assert!(
            started - first > Duration::from_secs(5),
            "it started {:?} after the first",
            started - first
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_spacing_halves_every_half_life_and_never_passes_its_widest() {
        let pace = Pace::new(1000);
        for _ in 0..20 {
            let sent = pace.wait(1).await;
            tokio::time::advance(Duration::from_millis(1)).await;
            pace.throttled(sent, Duration::ZERO);
        }
        let widest = pace.gap();
        assert!(
            widest <= MAX_GAP && widest > MAX_GAP.mul_f64(0.99),
            "{widest:?}"
        );
        tokio::time::advance(HALF_LIFE).await;
        let halved = pace.gap().as_secs_f64() / widest.as_secs_f64();
        assert!(
            (halved - 0.5).abs() < 0.01,
            "after one half-life the spacing is {halved} of what it was"
        );
    }
}
