//! Master key rotation: every sealed value re-sealed under a new key, in one transaction.

use roster_domain::AccountId;
use uuid::Uuid;

use crate::db::sql;
use crate::secret::{Binding, MasterKey, SealedSecret};
use crate::{Store, StoreError};

/// What a rotation re-sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRotation {
    pub client_secrets: u64,
    pub private_keys: u64,
    /// Values already sealed under the new key (a rotation run again after a crash).
    pub already_rotated: u64,
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    account_id: Uuid,
    secret_ciphertext: Vec<u8>,
    secret_nonce: Vec<u8>,
    secret_key_id: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    account_id: Uuid,
    thumbprint: String,
    key_ciphertext: Vec<u8>,
    key_nonce: Vec<u8>,
    key_key_id: String,
}

/// What to do with one sealed value.
enum Step {
    Reseal(SealedSecret),
    AlreadyRotated,
}

impl Store {
    /// Re-seals every client secret and certificate private key, sealed under this store's
    /// key, under `new`, in one transaction: either all are rotated or none is. The key id
    /// stored beside each value says which key sealed it; a value under a third key aborts
    /// the rotation. Afterwards this store's key opens none of them: the caller restarts with
    /// `new`.
    pub async fn rotate_master_key(&self, new: &MasterKey) -> Result<KeyRotation, StoreError> {
        let mut report = KeyRotation {
            client_secrets: 0,
            private_keys: 0,
            already_rotated: 0,
        };
        let reseal = |sealed: SealedSecret, binding: &Binding| -> Result<Step, StoreError> {
            if sealed.key_id == new.id() {
                return Ok(Step::AlreadyRotated);
            }
            if sealed.key_id != self.key.id() {
                return Err(StoreError::RotationKeyMismatch {
                    found: sealed.key_id,
                    current: self.key.id().to_owned(),
                });
            }
            let plain = self.key.open(&sealed, binding)?;
            Ok(Step::Reseal(new.seal(&plain, binding)))
        };
        let mut tx = self.db.begin_write().await?;
        let secrets: Vec<SecretRow> = sql(
            "SELECT account_id, secret_ciphertext, secret_nonce, secret_key_id FROM connections",
        )
        .fetch_all(&mut tx.conn())
        .await?;
        for row in secrets {
            let account_id = AccountId::from_uuid(row.account_id);
            let sealed = SealedSecret {
                ciphertext: row.secret_ciphertext,
                nonce: row.secret_nonce,
                key_id: row.secret_key_id,
            };
            match reseal(sealed, &Binding::client_secret(account_id))? {
                Step::AlreadyRotated => report.already_rotated += 1,
                Step::Reseal(sealed) => {
                    sql(
                        "UPDATE connections SET secret_ciphertext = $2, secret_nonce = $3, \
                         secret_key_id = $4 WHERE account_id = $1",
                    )
                    .bind(row.account_id)
                    .bind(sealed.ciphertext)
                    .bind(sealed.nonce)
                    .bind(sealed.key_id)
                    .execute(&mut tx.conn())
                    .await?;
                    report.client_secrets += 1;
                }
            }
        }
        let keys: Vec<KeyRow> = sql(
            "SELECT account_id, thumbprint, key_ciphertext, key_nonce, key_key_id \
             FROM connection_certificates",
        )
        .fetch_all(&mut tx.conn())
        .await?;
        for row in keys {
            let account_id = AccountId::from_uuid(row.account_id);
            let sealed = SealedSecret {
                ciphertext: row.key_ciphertext,
                nonce: row.key_nonce,
                key_id: row.key_key_id,
            };
            match reseal(
                sealed,
                &Binding::certificate_key(account_id, &row.thumbprint),
            )? {
                Step::AlreadyRotated => report.already_rotated += 1,
                Step::Reseal(sealed) => {
                    sql(
                        "UPDATE connection_certificates SET key_ciphertext = $3, key_nonce = $4, \
                         key_key_id = $5 WHERE account_id = $1 AND thumbprint = $2",
                    )
                    .bind(row.account_id)
                    .bind(row.thumbprint)
                    .bind(sealed.ciphertext)
                    .bind(sealed.nonce)
                    .bind(sealed.key_id)
                    .execute(&mut tx.conn())
                    .await?;
                    report.private_keys += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}
