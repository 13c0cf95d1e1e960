//! A run's progress as server-sent events, for the API and the console alike: a `progress`
//! event whenever the run's recorded progress changes, then one `finished` event with the run
//! (its status and report), and the stream ends. The run is read from the store, so a run of any
//! process (a worker's, another server's) is followed the same way.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use roster_api::RunView;
use roster_domain::run::RunStatus;
use roster_domain::{AccountId, RunId};
use roster_store::{RunProgress, Store, StoreError};

/// How often the stream reads the run again. Progress is recorded about once a second.
const POLL: Duration = Duration::from_millis(500);

/// Where the stream is.
enum Watch {
    /// Reading the run, having sent `sent` (none before the first event).
    Following {
        sent: Option<RunProgress>,
    },
    Done,
}

/// An event named `name` carrying `data` as JSON; none (ending the stream) if it cannot be
/// serialized.
fn json_event(name: &'static str, data: &impl serde::Serialize) -> Option<Event> {
    Event::default()
        .event(name)
        .json_data(data)
        .inspect_err(
            |e| tracing::warn!(event = name, error = %e, "a run event could not be written"),
        )
        .ok()
}

/// The events of one of the account's runs. The run is read once first, so that a run of
/// another account, or none, answers 404 rather than an empty stream.
pub async fn run_events(
    store: Store,
    account_id: AccountId,
    run_id: RunId,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, StoreError> {
    store.account_run(account_id, run_id).await?;
    let events = futures_util::stream::unfold(Watch::Following { sent: None }, move |watch| {
        let store = store.clone();
        async move {
            let Watch::Following { mut sent } = watch else {
                return None;
            };
            loop {
                if sent.is_some() {
                    tokio::time::sleep(POLL).await;
                }
                let (run, progress) = match store.account_run(account_id, run_id).await {
                    Ok(read) => read,
                    Err(e) => {
                        tracing::warn!(run = %run_id, error = %e, "a run's event stream could not read it");
                        return None;
                    }
                };
                if run.status != RunStatus::Running {
                    let event = json_event("finished", &RunView::from(&run))?;
                    return Some((Ok(event), Watch::Done));
                }
                if sent.as_ref() != Some(&progress) {
                    let event = json_event("progress", &progress)?;
                    return Some((
                        Ok(event),
                        Watch::Following {
                            sent: Some(progress),
                        },
                    ));
                }
                sent = Some(progress);
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
