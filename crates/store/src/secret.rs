//! Secrets at rest: the master key and the sealing of client secrets and certificates' private
//! keys with AES-256-GCM.
//!
//! A sealed secret is stored as ciphertext, a random 96-bit nonce and the id of the key that
//! sealed it. The associated data names the account and the column, so a ciphertext copied into
//! another account's row fails to open instead of lending that account a secret. The key id is
//! a fingerprint of the key: a secret sealed under another key is recognised as such before any
//! decryption is tried, and the error says so instead of returning garbage.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;
use roster_domain::AccountId;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The environment variable holding the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "ROSTER_MASTER_KEY";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Why the master key could not be loaded or could not open a secret.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error(
        "the master key is not valid: {0}; it must be the base64 encoding of 32 random bytes (`openssl rand -base64 32`)"
    )]
    Malformed(&'static str),

    #[error("cannot read or create the master key file {path}: {reason}")]
    File { path: String, reason: String },

    #[error(
        "the master key file {path} is open to other users (mode {mode:04o}), so anyone on this machine who can read it can decrypt every client secret; restrict it to its owner with `chmod 600 {path}` and start again"
    )]
    Exposed { path: String, mode: u32 },

    #[error(
        "the master key does not match the one this secret was encrypted with; set {MASTER_KEY_ENV} (or the key file) to the key that sealed it — after `roster key rotate`, the new key — or set the connection's secret again"
    )]
    WrongKey,

    #[error(
        "the stored secret is damaged or was moved from another row; set the connection's secret again"
    )]
    Tampered,
}

/// Refuses a key file that its group or others may read or write, as ssh refuses such a
/// private key: the key opens every client secret in the database.
fn refuse_if_exposed(path: &Path) -> Result<(), MasterKeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| MasterKeyError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o077 != 0 {
            return Err(MasterKeyError::Exposed {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The key that seals every secret the store keeps. It lives outside the database.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        if bytes.len() != KEY_LEN {
            return Err(MasterKeyError::Malformed(
                "it does not decode to exactly 32 bytes",
            ));
        }
        let cipher = Aes256Gcm::new_from_slice(bytes)
            .map_err(|_| MasterKeyError::Malformed("wrong length"))?;
        // The fingerprint is domain-separated so it reveals nothing usable about the key.
        let digest = Sha256::new()
            .chain_update(b"roster master key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { cipher, id })
    }

    /// Parses the base64 text of a 32-byte key.
    pub fn from_base64(text: &SecretString) -> Result<Self, MasterKeyError> {
        let bytes = BASE64
            .decode(text.expose_secret().trim())
            .map_err(|_| MasterKeyError::Malformed("it is not base64"))?;
        Self::from_bytes(&bytes)
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(&bytes).expect("32 bytes make a valid key")
    }

    /// The key from `ROSTER_MASTER_KEY` when it is set; otherwise from the key file at `path`,
    /// which is created with a new random key (readable by its owner only) when absent.
    pub fn from_env_or_file(path: &Path) -> Result<Self, MasterKeyError> {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(text) => Self::from_base64(&SecretString::from(text)),
            Err(_) => Self::from_file(path),
        }
    }

    /// The key in the file at `path`, which is created with a new random key (readable by
    /// its owner only) when absent.
    pub fn from_file(path: &Path) -> Result<Self, MasterKeyError> {
        let file_error = |e: std::io::Error| MasterKeyError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                refuse_if_exposed(path)?;
                Self::from_base64(&SecretString::from(text))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; KEY_LEN];
                rand::rng().fill_bytes(&mut bytes);
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(file_error)?;
                }
                let mut options = std::fs::OpenOptions::new();
                // `create_new` refuses to overwrite a key another process wrote meanwhile.
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(file_error)?;
                file.write_all(BASE64.encode(bytes).as_bytes())
                    .map_err(file_error)?;
                file.sync_all().map_err(file_error)?;
                Self::from_bytes(&bytes)
            }
            Err(e) => Err(file_error(e)),
        }
    }

    /// The key's fingerprint, stored beside each secret it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn seal(&self, secret: &SecretString, binding: &Binding) -> SealedSecret {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = binding.associated_data();
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any secret shorter than 64 GiB");
        SealedSecret {
            ciphertext,
            nonce: nonce.to_vec(),
            key_id: self.id.clone(),
        }
    }

    pub(crate) fn open(
        &self,
        sealed: &SealedSecret,
        binding: &Binding,
    ) -> Result<SecretString, MasterKeyError> {
        if sealed.key_id != self.id {
            return Err(MasterKeyError::WrongKey);
        }
        let nonce: [u8; NONCE_LEN] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| MasterKeyError::Tampered)?;
        let aad = binding.associated_data();
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| MasterKeyError::Tampered)?;
        let text = String::from_utf8(plain).map_err(|_| MasterKeyError::Tampered)?;
        Ok(SecretString::from(text))
    }
}

/// Where a sealed secret lives; it becomes the associated data of the encryption.
pub(crate) struct Binding {
    pub(crate) account_id: AccountId,
    pub(crate) column: &'static str,
    /// The rest of the row's key, where an account has several rows of the column.
    pub(crate) row: Option<String>,
}

impl Binding {
    pub(crate) fn client_secret(account_id: AccountId) -> Self {
        Self {
            account_id,
            column: "connections.secret_ciphertext",
            row: None,
        }
    }

    /// The private key of the certificate with this SHA-1 `thumbprint`: bound to its row, so
    /// one certificate's key cannot be moved beside another certificate.
    pub(crate) fn certificate_key(account_id: AccountId, thumbprint: &str) -> Self {
        Self {
            account_id,
            column: "connection_certificates.key_ciphertext",
            row: Some(thumbprint.to_owned()),
        }
    }

    fn associated_data(&self) -> String {
        match &self.row {
            None => format!("roster/v1/{}/{}", self.account_id, self.column),
            Some(row) => format!("roster/v1/{}/{}/{row}", self.account_id, self.column),
        }
    }
}

/// A secret as stored: ciphertext, nonce and the sealing key's id.
pub(crate) struct SealedSecret {
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) nonce: Vec<u8>,
    pub(crate) key_id: String,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_binding() {
        let key = MasterKey::generate();
        let account = AccountId::new();
        let sealed = key.seal(
            &SecretString::from("s3cret~value"),
            &Binding::client_secret(account),
        );
        assert_eq!(
            key.open(&sealed, &Binding::client_secret(account))
                .unwrap()
                .expose_secret(),
            "s3cret~value"
        );
        assert!(matches!(
            key.open(&sealed, &Binding::client_secret(AccountId::new())),
            Err(MasterKeyError::Tampered)
        ));
        assert!(matches!(
            MasterKey::generate().open(&sealed, &Binding::client_secret(account)),
            Err(MasterKeyError::WrongKey)
        ));
        let key_of_one = key.seal(
            &SecretString::from("-----BEGIN PRIVATE KEY-----"),
            &Binding::certificate_key(account, "AB01"),
        );
        assert!(matches!(
            key.open(&key_of_one, &Binding::certificate_key(account, "CD02")),
            Err(MasterKeyError::Tampered)
        ));
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("master.key");
        let created = MasterKey::from_file(&path).unwrap();
        assert_eq!(MasterKey::from_file(&path).unwrap().id(), created.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn malformed_keys_say_how_to_make_one() {
        let err = MasterKey::from_base64(&SecretString::from("c2hvcnQ="))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("32 bytes") && err.contains("openssl rand"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let key = MasterKey::generate();
        assert_eq!(
            format!("{key:?}"),
            format!("MasterKey {{ id: {:?}, .. }}", key.id())
        );
    }
}
