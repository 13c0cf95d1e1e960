//! The account's connection as every shell edits and reads it: saving the settings with every
//! rule checked, generating and removing certificates, the step-by-step test, the banners, and why automatic
//! sync is off when the schedule turned it off.

use std::num::NonZeroU16;

use roster_domain::{
    Account, AccountEvent, AccountEventKind, AccountId, Banner, BannerFacts, DirectoryConnection,
    Frequency, PublicCertificate, SettingsChange, banners,
};
use roster_graph::diagnostics::{Checklist, test_connection};
use roster_graph::{Priority, generate_certificate};
use roster_store::NewCertificate;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use crate::{SyncEngine, SyncError};

/// How long a generated certificate is valid unless the admin says otherwise: a year.
pub const CERTIFICATE_VALID_DAYS: NonZeroU16 = NonZeroU16::new(365).expect("365 is not zero");

/// How many recent events are searched for the one that turned automatic sync off.
const EVENTS_SEARCHED: u32 = 20;

impl SyncEngine {
    /// Saves the settings of the guide's Step 2 as entered, with the key when one was entered:
    /// fields left out keep their saved values, and every problem is named by its field
    /// ([`SyncError::InvalidSettings`]), nothing saved.
    pub async fn save_connection(
        &self,
        account_id: AccountId,
        change: &SettingsChange,
        key: Option<&SecretString>,
    ) -> Result<DirectoryConnection, SyncError> {
        let saved = self.store().connection(account_id).await?;
        let save = change
            .check_save(key, saved.as_ref(), OffsetDateTime::now_utc())
            .map_err(|problems| SyncError::InvalidSettings { problems })?;
        Ok(self
            .store()
            .set_connection(account_id, save.settings, save.key)
            .await?)
    }

    /// The banners of the account's pages now; `tech_contact_grace` is how long automatic
    /// sync keeps running without a tech contact.
    pub async fn banners(
        &self,
        account: &Account,
        tech_contact_grace: Duration,
    ) -> Result<Vec<Banner>, SyncError> {
        let connection = self.store().connection(account.id).await?;
        let tech_contact_missing_since =
            self.store().tech_contact_missing_since(account.id).await?;
        let last_runs = self.store().last_finished_runs(account.id).await?;
        Ok(banners(
            &BannerFacts {
                account,
                connection: connection.as_ref(),
                tech_contact_missing_since,
                tech_contact_grace,
                last_runs: &last_runs,
            },
            OffsetDateTime::now_utc(),
        ))
    }

    /// Tests the account's saved connection step by step (token, permissions, domains), as the
    /// guide's *Test connection* does.
    pub async fn test_connection(&self, account: &Account) -> Result<Checklist, SyncError> {
        let (_, client) = self.graph_client(account.id, Priority::High).await?;
        Ok(test_connection(&client, &account.domains).await)
    }

    /// The event that turned the connection's automatic sync off, when the schedule did so
    /// after the settings were last saved (a frequency the admin chose is not explained).
    pub async fn why_automatic_sync_is_off(
        &self,
        connection: &DirectoryConnection,
    ) -> Result<Option<AccountEvent>, SyncError> {
        if connection.settings.frequency != Frequency::Never {
            return Ok(None);
        }
        let events = self
            .store()
            .list_events(connection.account_id, EVENTS_SEARCHED)
            .await?;
        Ok(events.into_iter().find(|e| {
            e.kind == AccountEventKind::AutomaticSyncTurnedOff
                && e.created_at >= connection.updated_at
        }))
    }

    /// Makes a key pair and a self-signed certificate for the account's connection, valid for
    /// `valid_days` from now, and keeps it with its private key sealed. Returns the public
    /// certificate, to upload to the app registration; the private key never leaves the store.
    pub async fn generate_certificate(
        &self,
        account_id: AccountId,
        valid_days: NonZeroU16,
    ) -> Result<PublicCertificate, SyncError> {
        let connection = self
            .store()
            .connection(account_id)
            .await?
            .ok_or(SyncError::NoConnection(account_id))?;
        let made = generate_certificate(
            connection.settings.client_id,
            OffsetDateTime::now_utc(),
            Duration::days(i64::from(valid_days.get())),
        )?;
        let der = made.certificate_der.clone();
        let info = self
            .store()
            .add_certificate(
                account_id,
                NewCertificate {
                    thumbprint: made.thumbprint,
                    sha256_thumbprint: made.sha256_thumbprint,
                    not_before: made.not_before,
                    not_after: made.not_after,
                    certificate_der: made.certificate_der,
                    private_key_pem: made.private_key_pem,
                },
            )
            .await?;
        Ok(PublicCertificate { info, der })
    }

    /// Forgets one of the connection's certificates (`thumbprint`: its SHA-1 thumbprint in hex
    /// or its SHA-256 thumbprint), unless the connection signs in with it alone
    /// ([`SyncError::OnlySigningCertificate`]).
    pub async fn remove_certificate(
        &self,
        account_id: AccountId,
        thumbprint: &str,
    ) -> Result<(), SyncError> {
        let connection = self
            .store()
            .connection(account_id)
            .await?
            .ok_or(SyncError::NoConnection(account_id))?;
        connection.check_certificate_removal(thumbprint, OffsetDateTime::now_utc())?;
        Ok(self
            .store()
            .remove_certificate(account_id, thumbprint)
            .await?)
    }
}
