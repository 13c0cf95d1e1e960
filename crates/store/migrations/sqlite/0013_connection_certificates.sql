-- Certificates Roster generated for a connection's client assertions. The certificate itself is
-- public (the admin uploads it to the app registration); its private key is sealed like the
-- client secret: AES-256-GCM under the master key, with the sealing key's id beside it. A
-- connection may hold several at once, so a new one can be uploaded before the old one expires.
-- Whether a connection signs in with its secret or a certificate, and the key's expiry date,
-- are connection settings (the settings JSON).
CREATE TABLE connection_certificates (
    account_id        BLOB NOT NULL REFERENCES connections (account_id) ON DELETE CASCADE,
    thumbprint        TEXT NOT NULL,
    sha256_thumbprint TEXT NOT NULL,
    certificate       BLOB NOT NULL,
    key_ciphertext    BLOB NOT NULL,
    key_nonce         BLOB NOT NULL,
    key_key_id        TEXT NOT NULL,
    not_before        TEXT NOT NULL,
    not_after         TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (account_id, thumbprint)
);
