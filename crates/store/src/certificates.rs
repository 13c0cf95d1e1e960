//! The certificates of a connection's client assertions: the public certificate in the clear,
//! its private key sealed like the client secret.

use std::fmt;

use roster_domain::{AccountId, CertificateInfo, PublicCertificate};
use secrecy::SecretString;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{Conn, sql};
use crate::rows::now;
use crate::secret::{Binding, SealedSecret};
use crate::{Store, StoreError};

/// A certificate to keep for a connection: made by the caller, sealed here.
pub struct NewCertificate {
    /// The SHA-1 thumbprint in upper-case hex, the certificate's key in the store.
    pub thumbprint: String,
    /// The base64url SHA-256 thumbprint (`x5t#S256`).
    pub sha256_thumbprint: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The certificate's DER encoding.
    pub certificate_der: Vec<u8>,
    /// The private key as PKCS#8 PEM.
    pub private_key_pem: SecretString,
}

/// A certificate with its private key opened, for the Graph client only.
pub struct SigningCertificate {
    pub info: CertificateInfo,
    pub certificate_der: Vec<u8>,
    pub private_key_pem: SecretString,
}

impl fmt::Debug for SigningCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningCertificate")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    thumbprint: String,
    sha256_thumbprint: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    created_at: OffsetDateTime,
}

impl From<InfoRow> for CertificateInfo {
    fn from(row: InfoRow) -> Self {
        Self {
            thumbprint: row.thumbprint,
            sha256_thumbprint: row.sha256_thumbprint,
            not_before: row.not_before,
            not_after: row.not_after,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    #[sqlx(flatten)]
    info: InfoRow,
    certificate: Vec<u8>,
    key_ciphertext: Vec<u8>,
    key_nonce: Vec<u8>,
    key_key_id: String,
}

/// The account's certificates, newest (the one expiring last) first.
pub(crate) async fn infos(
    conn: &mut Conn<'_>,
    account_id: AccountId,
) -> Result<Vec<CertificateInfo>, StoreError> {
    let rows: Vec<InfoRow> = sql(
        "SELECT thumbprint, sha256_thumbprint, not_before, not_after, created_at \
         FROM connection_certificates WHERE account_id = $1 ORDER BY not_after DESC, created_at DESC, thumbprint",
    )
    .bind(account_id.as_uuid())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(CertificateInfo::from).collect())
}

impl Store {
    /// Keeps a new certificate for the account's connection, its private key sealed.
    pub async fn add_certificate(
        &self,
        account_id: AccountId,
        certificate: NewCertificate,
    ) -> Result<CertificateInfo, StoreError> {
        let thumbprint = certificate.thumbprint.to_ascii_uppercase();
        let SealedSecret {
            ciphertext,
            nonce,
            key_id,
        } = self.key.seal(
            &certificate.private_key_pem,
            &Binding::certificate_key(account_id, &thumbprint),
        );
        let created_at = now();
        let mut tx = self.db.begin_write().await?;
        let connected: Option<(Uuid,)> =
            sql("SELECT account_id FROM connections WHERE account_id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(&mut tx.conn())
                .await?;
        if connected.is_none() {
            return Err(StoreError::ConnectionNotFound(account_id));
        }
        let inserted = sql(
            "INSERT INTO connection_certificates (account_id, thumbprint, sha256_thumbprint, certificate, \
             key_ciphertext, key_nonce, key_key_id, not_before, not_after, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(account_id.as_uuid())
        .bind(thumbprint.clone())
        .bind(certificate.sha256_thumbprint.clone())
        .bind(certificate.certificate_der)
        .bind(ciphertext)
        .bind(nonce)
        .bind(key_id)
        .bind(certificate.not_before)
        .bind(certificate.not_after)
        .bind(created_at)
        .execute(&mut tx.conn())
        .await?;
        if inserted == 0 {
            return Err(StoreError::CertificateExists(thumbprint));
        }
        tx.commit().await?;
        Ok(CertificateInfo {
            thumbprint,
            sha256_thumbprint: certificate.sha256_thumbprint,
            not_before: certificate.not_before,
            not_after: certificate.not_after,
            created_at,
        })
    }

    /// Forgets a certificate (after it was removed from the app registration, or expired).
    /// `thumbprint` is its SHA-1 thumbprint in hex or its base64url SHA-256 thumbprint.
    pub async fn remove_certificate(
        &self,
        account_id: AccountId,
        thumbprint: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let deleted = sql("DELETE FROM connection_certificates WHERE account_id = $1 \
             AND (thumbprint = $2 OR sha256_thumbprint = $3)")
        .bind(account_id.as_uuid())
        .bind(thumbprint.to_ascii_uppercase())
        .bind(thumbprint.to_owned())
        .execute(&mut tx.conn())
        .await?;
        if deleted == 0 {
            return Err(StoreError::CertificateNotFound(thumbprint.to_owned()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// One of the account's certificates without its private key: what to upload to the app
    /// registration. `thumbprint` is its SHA-1 thumbprint in hex or its SHA-256 thumbprint;
    /// another account's certificate is not found.
    pub async fn certificate(
        &self,
        account_id: AccountId,
        thumbprint: &str,
    ) -> Result<PublicCertificate, StoreError> {
        #[derive(sqlx::FromRow)]
        struct PublicRow {
            #[sqlx(flatten)]
            info: InfoRow,
            certificate: Vec<u8>,
        }
        let mut tx = self.db.begin_read().await?;
        let row: PublicRow = sql(
            "SELECT thumbprint, sha256_thumbprint, not_before, not_after, created_at, certificate \
             FROM connection_certificates WHERE account_id = $1 AND (thumbprint = $2 OR sha256_thumbprint = $3)",
        )
        .bind(account_id.as_uuid())
        .bind(thumbprint.to_ascii_uppercase())
        .bind(thumbprint.to_owned())
        .fetch_optional(&mut tx.conn())
        .await?
        .ok_or_else(|| StoreError::CertificateNotFound(thumbprint.to_owned()))?;
        Ok(PublicCertificate {
            info: row.info.into(),
            der: row.certificate,
        })
    }

    /// The account's certificates with their private keys opened, newest first, for the
    /// Graph client only.
    pub async fn signing_certificates(
        &self,
        account_id: AccountId,
    ) -> Result<Vec<SigningCertificate>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows: Vec<KeyRow> = sql(
            "SELECT thumbprint, sha256_thumbprint, not_before, not_after, created_at, certificate, \
             key_ciphertext, key_nonce, key_key_id FROM connection_certificates WHERE account_id = $1 \
             ORDER BY not_after DESC, created_at DESC, thumbprint",
        )
        .bind(account_id.as_uuid())
        .fetch_all(&mut tx.conn())
        .await?;
        rows.into_iter()
            .map(|row| {
                let sealed = SealedSecret {
                    ciphertext: row.key_ciphertext,
                    nonce: row.key_nonce,
                    key_id: row.key_key_id,
                };
                let private_key_pem = self.key.open(
                    &sealed,
                    &Binding::certificate_key(account_id, &row.info.thumbprint),
                )?;
                Ok(SigningCertificate {
                    info: row.info.into(),
                    certificate_der: row.certificate,
                    private_key_pem,
                })
            })
            .collect()
    }
}
