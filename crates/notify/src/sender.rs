//! The sender: queues the expiry warnings that are due, then claims due messages from the outbox
//! and mails them, recording each outcome. Several senders may share one database.

use std::sync::Arc;
use std::time::Duration;

use roster_domain::notice::expiry_warning_due;
use roster_store::{AccountRef, OutboxMessage, SendFailure, Store, StoreError};
use time::OffsetDateTime;

use crate::{Links, Mailer, SMTP_TIMEOUT, compose};

/// How long a claimed message is this sender's. A sender claims a message right before sending
/// it and gives up the send after [`SMTP_TIMEOUT`], so the lease outlasts the whole send with
/// minutes to spare: a second sender takes a message over only when the first has stopped.
pub const LEASE: Duration = Duration::from_secs(5 * 60);

const _: () = assert!(
    LEASE.as_secs() >= 3 * SMTP_TIMEOUT.as_secs(),
    "a message's lease must outlast its send with margin"
);

/// Attempts after which a message that keeps failing is given up (marked failed): with the
/// delays of [`retry_delay`], about a day of trying.
pub const MAX_ATTEMPTS: u32 = 24;

/// The wait before the next attempt after `attempts` failed ones: a minute, doubling, at most
/// an hour; `None` once [`MAX_ATTEMPTS`] were made.
pub fn retry_delay(attempts: u32) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = attempts.saturating_sub(1).min(6);
    Some(Duration::from_secs(60 << doublings).min(Duration::from_secs(3600)))
}

/// The time the sender works at; tests move it.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Expiry warnings newly queued.
    pub queued: usize,
    pub sent: usize,
    /// Sends that failed and will be retried.
    pub retrying: usize,
    /// Messages given up on.
    pub failed: usize,
}

/// Drains the outbox. Without a mailer it only queues the expiry warnings: messages then wait
/// in the outbox (the demo, and a deployment with no mail server yet).
#[derive(Clone)]
pub struct Sender {
    store: Store,
    mailer: Option<Mailer>,
    links: Links,
    clock: Clock,
    /// This sender's lease name: random per sender, so two processes never share one.
    owner: String,
}

impl Sender {
    pub fn new(store: Store, mailer: Option<Mailer>, links: Links) -> Self {
        Self {
            store,
            mailer,
            links,
            clock: Arc::new(OffsetDateTime::now_utc),
            owner: format!("sender-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Works at the times `clock` gives (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn sends_mail(&self) -> bool {
        self.mailer.is_some()
    }

    /// One pass: queue due expiry warnings, then send what is due until nothing is.
    pub async fn pass(&self) -> Result<PassReport, StoreError> {
        let mut report = PassReport {
            queued: self.queue_expiry_warnings().await?,
            ..PassReport::default()
        };
        let Some(mailer) = &self.mailer else {
            return Ok(report);
        };
        while let Some(message) = self
            .store
            .claim_outbox(&self.owner, (self.clock)(), LEASE)
            .await?
        {
            self.send(mailer, message, &mut report).await?;
        }
        Ok(report)
    }

    /// Runs a pass every `every` until `stop` resolves. A pass that fails (the database is
    /// unreachable) is logged and tried again at the next tick.
    pub async fn run(&self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            match self.pass().await {
                Ok(report) if report != PassReport::default() => {
                    tracing::info!(?report, "outbox pass")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "outbox pass failed; trying again later"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = &mut stop => return,
            }
        }
    }

    async fn queue_expiry_warnings(&self) -> Result<usize, StoreError> {
        let at = (self.clock)();
        let mut queued = 0;
        for (account_id, credential, expires_on) in self.store.key_expiry_dates(at).await? {
            if let Some(warning) = expiry_warning_due(expires_on, at)
                && self
                    .store
                    .queue_key_expiry(account_id, credential, expires_on, warning, at)
                    .await?
            {
                queued += 1;
            }
        }
        Ok(queued)
    }

    async fn send(
        &self,
        mailer: &Mailer,
        message: OutboxMessage,
        report: &mut PassReport,
    ) -> Result<(), StoreError> {
        let account = match self
            .store
            .account(&AccountRef::Id(message.account_id))
            .await
        {
            Ok(account) => account,
            // The account was deleted since: its messages went with it.
            Err(StoreError::AccountNotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let at = (self.clock)();
        let mail = compose(&message.notice, &account, &self.links, at);
        match mailer.send(message.id, &message.recipients, &mail).await {
            Ok(()) => {
                report.sent += 1;
                if !self
                    .store
                    .outbox_sent(message.id, &self.owner, (self.clock)())
                    .await?
                {
                    tracing::warn!(message = %message.id, "sent after this sender's lease ran out");
                }
                tracing::info!(message = %message.id, account = %account.id, subject = %mail.subject, "mailed");
            }
            Err(error) => {
                let then = match retry_delay(message.attempts) {
                    Some(delay) if !error.permanent => {
                        report.retrying += 1;
                        SendFailure::RetryAt((self.clock)() + delay)
                    }
                    _ => {
                        report.failed += 1;
                        SendFailure::GiveUp
                    }
                };
                tracing::warn!(message = %message.id, attempts = message.attempts, %error, ?then, "mail not sent");
                self.store
                    .outbox_failed(message.id, &self.owner, &error.to_string(), then)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_a_minute_to_an_hour_then_stop() {
        let minutes = |attempts| retry_delay(attempts).map(|d| d.as_secs() / 60);
        assert_eq!(minutes(1), Some(1));
        assert_eq!(minutes(2), Some(2));
        assert_eq!(minutes(3), Some(4));
        assert_eq!(minutes(6), Some(32));
        assert_eq!(minutes(7), Some(60));
        assert_eq!(minutes(MAX_ATTEMPTS - 1), Some(60));
        assert_eq!(minutes(MAX_ATTEMPTS), None);
        let total: u64 = (1..MAX_ATTEMPTS)
            .filter_map(retry_delay)
            .map(|d| d.as_secs())
            .sum();
        assert!(
            (16 * 3600..=26 * 3600).contains(&total),
            "about a day: {total} s"
        );
    }
}
