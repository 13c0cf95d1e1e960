-- Who logs in and how: platform operators (no account), console sessions, per-account API
-- tokens and end-user invitations (product.md §8). Secrets (session tokens, API tokens,
-- invitation tokens) are stored only as SHA-256 digests, hex-encoded: each is 32 random bytes,
-- so a fast hash is enough and a lookup is one index probe.

CREATE TABLE operators (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    CONSTRAINT operators_email_unique UNIQUE (email)
);

-- A session belongs to an operator or to a user of an account, never both.
CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY NOT NULL,
    operator_id  BLOB REFERENCES operators (id) ON DELETE CASCADE,
    user_id      BLOB REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    CONSTRAINT sessions_one_principal CHECK ((operator_id IS NULL) <> (user_id IS NULL))
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_digest TEXT NOT NULL,
    read_only    INTEGER NOT NULL CHECK (read_only IN (0, 1)),
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT,
    CONSTRAINT api_tokens_digest_unique UNIQUE (token_digest)
);
CREATE INDEX api_tokens_account ON api_tokens (account_id, created_at);

-- A one-time link an admin sends an end user to set a password; used once, valid 7 days.
CREATE TABLE invitations (
    token_digest TEXT PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at   TEXT NOT NULL
) WITHOUT ROWID;

-- A running sync's progress, written at most about once a second so that an API client or the
-- console can follow it; apart from the run's report columns so neither overwrites the other.
ALTER TABLE runs ADD COLUMN progress_phase TEXT;
ALTER TABLE runs ADD COLUMN progress_objects_read INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN progress_changes_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN progress_changes_applied INTEGER NOT NULL DEFAULT 0;
