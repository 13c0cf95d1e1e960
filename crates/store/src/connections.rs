//! The directory connection of an account, with its sealed client secret.

use roster_domain::{AccountId, CertificateInfo, ConnectionSettings, DirectoryConnection};
use secrecy::SecretString;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::require_account;
use crate::certificates;
use crate::db::{Conn, lock_account_runs, sql};
use crate::revision;
use crate::rows::{now, stored_json, to_json};
use crate::runs::require_no_running_run;
use crate::secret::{Binding, SealedSecret};
use crate::{Store, StoreError};

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    account_id: Uuid,
    settings: String,
    secret_set_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl ConnectionRow {
    fn into_connection(
        self,
        certificates: Vec<CertificateInfo>,
    ) -> Result<DirectoryConnection, StoreError> {
        Ok(DirectoryConnection {
            account_id: AccountId::from_uuid(self.account_id),
            settings: stored_json("connection settings", self.settings.as_bytes())?,
            secret_set_at: self.secret_set_at,
            updated_at: self.updated_at,
            certificates,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    secret_ciphertext: Vec<u8>,
    secret_nonce: Vec<u8>,
    secret_key_id: String,
}

async fn load(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<Option<DirectoryConnection>, StoreError> {
    let row: Option<ConnectionRow> =
        sql("SELECT account_id, settings, secret_set_at, updated_at FROM connections WHERE account_id = $1")
            .bind(account_id.as_uuid())
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let certificates = certificates::infos(conn, account_id).await?;
            row.into_connection(certificates).map(Some)
        }
    }
}

impl Store {
    /// Saves the account's one directory connection, replacing its settings. A new connection
    /// needs `secret`; afterwards `None` keeps the stored one. Pointing the connection at another
    /// tenant or cloud discards the mirror and delta links, which describe the old tenant; that is
    /// refused with [`StoreError::ConnectionBusy`] while a sync of the account runs.
    pub async fn set_connection(
        &self,
        account_id: AccountId,
        settings: ConnectionSettings,
        secret: Option<SecretString>,
    ) -> Result<DirectoryConnection, StoreError> {
        let now = now();
        let sealed = secret.map(|s| self.key.seal(&s, &Binding::client_secret(account_id)));
        let mut tx = self.db.begin_write().await?;
        require_account(&mut tx.conn(), account_id).await?;
        let previous = load(&mut tx.conn(), account_id).await?;
        let discards_mirror = previous.as_ref().is_some_and(|p| {
            p.settings.tenant != settings.tenant || p.settings.cloud != settings.cloud
        });
        if discards_mirror {
            // The mirror a running sync is writing may not vanish under it: take the run lock.
            lock_account_runs(&mut tx.conn(), account_id).await?;
            require_no_running_run(&mut tx.conn(), account_id, now)
                .await
                .map_err(|e| match e {
                    StoreError::SyncAlreadyRunning { running } => {
                        StoreError::ConnectionBusy { running }
                    }
                    e => e,
                })?;
        }
        match (&previous, sealed) {
            (None, None) => return Err(StoreError::SecretRequired),
            (
                _,
                Some(SealedSecret {
                    ciphertext,
                    nonce,
                    key_id,
                }),
            ) => {
                sql("INSERT INTO connections (account_id, settings, secret_ciphertext, secret_nonce, secret_key_id, \
                     secret_set_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                     ON CONFLICT (account_id) DO UPDATE SET settings = excluded.settings, \
                     secret_ciphertext = excluded.secret_ciphertext, secret_nonce = excluded.secret_nonce, \
                     secret_key_id = excluded.secret_key_id, secret_set_at = excluded.secret_set_at, \
                     updated_at = excluded.updated_at")
                .bind(account_id.as_uuid())
                .bind(to_json(&settings))
                .bind(ciphertext)
                .bind(nonce)
                .bind(key_id)
                .bind(now)
                .execute(&mut tx.conn())
                .await?;
            }
            (Some(_), None) => {
                sql("UPDATE connections SET settings = $2, updated_at = $3 WHERE account_id = $1")
                    .bind(account_id.as_uuid())
                    .bind(to_json(&settings))
                    .bind(now)
                    .execute(&mut tx.conn())
                    .await?;
            }
        }
        if discards_mirror {
            for statement in [
                "DELETE FROM mirror_users WHERE account_id = $1",
                "DELETE FROM mirror_groups WHERE account_id = $1",
                "DELETE FROM delta_links WHERE account_id = $1",
            ] {
                sql(statement)
                    .bind(account_id.as_uuid())
                    .execute(&mut tx.conn())
                    .await?;
            }
            revision::bump_mirror_version(&mut tx.conn(), account_id).await?;
        }
        let saved = load(&mut tx.conn(), account_id)
            .await?
            .ok_or(StoreError::ConnectionNotFound(account_id))?;
        // A new client secret alone changes no plan; new settings may.
        if previous
            .as_ref()
            .is_none_or(|p| p.settings != saved.settings)
        {
            revision::bump(&mut tx.conn(), account_id).await?;
        }
        tx.commit().await?;
        Ok(saved)
    }

    /// The account's directory connection, without its secret.
    pub async fn connection(
        &self,
        account_id: AccountId,
    ) -> Result<Option<DirectoryConnection>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        load(&mut tx.conn(), account_id).await
    }

    /// Every directory connection.
    pub async fn list_connections(&self) -> Result<Vec<DirectoryConnection>, StoreError> {
        self.each_connection()
            .await?
            .into_iter()
            .map(|(_, connection)| connection)
            .collect()
    }

    /// Every directory connection, each read on its own, for the scheduler: one whose stored
    /// settings cannot be read is that account's problem, not every account's.
    pub async fn each_connection(
        &self,
    ) -> Result<Vec<(AccountId, Result<DirectoryConnection, StoreError>)>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<ConnectionRow> =
            sql("SELECT account_id, settings, secret_set_at, updated_at FROM connections ORDER BY account_id")
                .fetch_all(&mut tx.conn())
                .await?;
        let mut connections = Vec::with_capacity(rows.len());
        for row in rows {
            let account_id = AccountId::from_uuid(row.account_id);
            let certificates = certificates::infos(&mut tx.conn(), account_id).await?;
            connections.push((account_id, row.into_connection(certificates)));
        }
        Ok(connections)
    }

    /// The decrypted client secret, for the Graph client only.
    pub async fn connection_secret(
        &self,
        account_id: AccountId,
    ) -> Result<SecretString, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row: SecretRow =
            sql("SELECT secret_ciphertext, secret_nonce, secret_key_id FROM connections WHERE account_id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?
                .ok_or(StoreError::ConnectionNotFound(account_id))?;
        let sealed = SealedSecret {
            ciphertext: row.secret_ciphertext,
            nonce: row.secret_nonce,
            key_id: row.secret_key_id,
        };
        Ok(self
            .key
            .open(&sealed, &Binding::client_secret(account_id))?)
    }

    /// Deletes the connection with its mirror and delta links. Users and groups stay.
    pub async fn delete_connection(&self, account_id: AccountId) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let deleted = sql("DELETE FROM connections WHERE account_id = $1")
            .bind(account_id.as_uuid())
            .execute(&mut tx.conn())
            .await?;
        if deleted == 0 {
            return Err(StoreError::ConnectionNotFound(account_id));
        }
        // The mirror went with the connection.
        revision::bump_mirror_version(&mut tx.conn(), account_id).await?;
        revision::bump(&mut tx.conn(), account_id).await?;
        tx.commit().await?;
        Ok(())
    }
}
