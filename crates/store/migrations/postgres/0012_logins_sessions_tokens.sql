-- Who logs in and how: platform operators (no account), console sessions, per-account API
-- tokens and end-user invitations (product.md §8). Secrets (session tokens, API tokens,
-- invitation tokens) are stored only as SHA-256 digests, hex-encoded: each is 32 random bytes,
-- so a fast hash is enough and a lookup is one index probe.

CREATE TABLE operators (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT operators_email_unique UNIQUE (email)
);

-- A session belongs to an operator or to a user of an account, never both.
CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY NOT NULL,
    operator_id  UUID REFERENCES operators (id) ON DELETE CASCADE,
    user_id      UUID REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT sessions_one_principal CHECK ((operator_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    account_id   UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_digest TEXT NOT NULL,
    read_only    BOOLEAN NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    CONSTRAINT api_tokens_digest_unique UNIQUE (token_digest)
);
CREATE INDEX api_tokens_account ON api_tokens (account_id, created_at);

-- A one-time link an admin sends an end user to set a password; used once, valid 7 days.
CREATE TABLE invitations (
    token_digest TEXT PRIMARY KEY NOT NULL,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at   TIMESTAMPTZ NOT NULL
);

-- A running sync's progress, written at most about once a second so that an API client or the
-- console can follow it; apart from the run's report columns so neither overwrites the other.
ALTER TABLE runs ADD COLUMN progress_phase TEXT;
ALTER TABLE runs ADD COLUMN progress_objects_read BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN progress_changes_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN progress_changes_applied BIGINT NOT NULL DEFAULT 0;

-- SQLite's json_extract for the simple paths the store uses ('$.field'), so that one
-- statement text reads a field of a JSON column on both backends.
CREATE FUNCTION json_extract(body TEXT, path TEXT) RETURNS TEXT AS $$
    SELECT (body::jsonb) #>> string_to_array(substr(path, 3), '.')
$$ LANGUAGE SQL IMMUTABLE STRICT;
