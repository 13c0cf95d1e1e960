-- Roster's schema on SQLite. Ids are 16-byte UUID blobs, times RFC 3339 text, booleans 0/1.
-- The constraints below are the deployment's invariants; the code checks them first only to
-- give better errors. PostgreSQL has the same tables and constraint names (migrations/postgres).

CREATE TABLE accounts (
    id                 BLOB PRIMARY KEY NOT NULL,
    name               TEXT NOT NULL,
    tech_contact_name  TEXT,
    tech_contact_email TEXT,
    created_at         TEXT NOT NULL,
    CONSTRAINT accounts_name_unique UNIQUE (name),
    CONSTRAINT accounts_tech_contact_complete
        CHECK ((tech_contact_name IS NULL) = (tech_contact_email IS NULL))
);

-- A domain belongs to at most one account: the domain is the primary key.
CREATE TABLE domains (
    domain     TEXT PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The target of the addresses' (domain, account_id) foreign key.
    CONSTRAINT domains_domain_account UNIQUE (domain, account_id)
);
CREATE INDEX domains_account ON domains (account_id);

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    account_id    BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    first_name    TEXT,
    last_name     TEXT,
    display_name  TEXT,
    role          TEXT NOT NULL CHECK (role IN ('organization_admin', 'end_user', 'silent_user')),
    digests       INTEGER NOT NULL CHECK (digests IN (0, 1)),
    source        TEXT NOT NULL CHECK (source IN ('manual', 'directory')),
    external_id   TEXT,
    password_hash TEXT,
    version       INTEGER NOT NULL,
    CONSTRAINT users_id_account UNIQUE (id, account_id),
    CONSTRAINT users_external_id_unique UNIQUE (account_id, external_id),
    CONSTRAINT users_directory_source_has_external_id
        CHECK ((source = 'directory') = (external_id IS NOT NULL))
);

CREATE TABLE groups (
    id          BLOB PRIMARY KEY NOT NULL,
    account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL
        CHECK (kind IN ('distribution', 'mail_enabled_security', 'security', 'microsoft_365')),
    source      TEXT NOT NULL CHECK (source IN ('manual', 'directory')),
    external_id TEXT,
    version     INTEGER NOT NULL,
    CONSTRAINT groups_id_account UNIQUE (id, account_id),
    CONSTRAINT groups_external_id_unique UNIQUE (account_id, external_id),
    CONSTRAINT groups_directory_source_has_external_id
        CHECK ((source = 'directory') = (external_id IS NOT NULL))
);

-- Every address of every object, keyed by the address: an address routes to one object in the
-- whole deployment. The composite keys tie it to its owner's account and to a domain of that
-- same account, so an address outside the account's domains cannot be stored and a domain in
-- use cannot be removed.
CREATE TABLE addresses (
    address    TEXT PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL,
    domain     TEXT NOT NULL,
    user_id    BLOB,
    group_id   BLOB,
    is_primary INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
    CONSTRAINT addresses_domain_is_the_address_domain
        CHECK (domain = substr(address, instr(address, '@') + 1)),
    CONSTRAINT addresses_exactly_one_owner CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    CONSTRAINT addresses_domain_of_account
        FOREIGN KEY (domain, account_id) REFERENCES domains (domain, account_id),
    CONSTRAINT addresses_user FOREIGN KEY (user_id, account_id)
        REFERENCES users (id, account_id) ON DELETE CASCADE,
    CONSTRAINT addresses_group FOREIGN KEY (group_id, account_id)
        REFERENCES groups (id, account_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX addresses_domain_account ON addresses (domain, account_id);
CREATE INDEX addresses_user_id ON addresses (user_id, account_id) WHERE user_id IS NOT NULL;
CREATE INDEX addresses_group_id ON addresses (group_id, account_id) WHERE group_id IS NOT NULL;
CREATE UNIQUE INDEX addresses_one_primary_per_user ON addresses (user_id) WHERE is_primary = 1 AND user_id IS NOT NULL;
CREATE UNIQUE INDEX addresses_one_primary_per_group ON addresses (group_id) WHERE is_primary = 1 AND group_id IS NOT NULL;

CREATE TABLE group_user_members (
    group_id BLOB NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_user_members_user ON group_user_members (user_id);

CREATE TABLE group_group_members (
    group_id        BLOB NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_group_id BLOB NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_group_id)
) WITHOUT ROWID;
CREATE INDEX group_group_members_member ON group_group_members (member_group_id);

-- At most one directory connection per account: the account is the primary key.
CREATE TABLE connections (
    account_id        BLOB PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    settings          TEXT NOT NULL,
    secret_ciphertext BLOB NOT NULL,
    secret_nonce      BLOB NOT NULL,
    secret_key_id     TEXT NOT NULL,
    secret_set_at     TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

-- The directory mirror: one row per directory object, its record as compact JSON.
CREATE TABLE mirror_users (
    account_id  BLOB NOT NULL REFERENCES connections (account_id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    record      BLOB NOT NULL,
    PRIMARY KEY (account_id, external_id)
);

CREATE TABLE mirror_groups (
    account_id  BLOB NOT NULL REFERENCES connections (account_id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    record      BLOB NOT NULL,
    PRIMARY KEY (account_id, external_id)
);

CREATE TABLE delta_links (
    account_id      BLOB PRIMARY KEY NOT NULL REFERENCES connections (account_id) ON DELETE CASCADE,
    users_link      TEXT,
    users_saved_at  TEXT,
    groups_link     TEXT,
    groups_saved_at TEXT
);

CREATE TABLE exemptions (
    account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (account_id, external_id)
);

CREATE TABLE plans (
    id         BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    applied_at TEXT
);

CREATE TABLE runs (
    id             BLOB PRIMARY KEY NOT NULL,
    account_id     BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    trigger_kind   TEXT NOT NULL CHECK (trigger_kind IN ('preview', 'apply', 'automatic')),
    actor          TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'held', 'failed')),
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    heartbeat_at   TEXT NOT NULL,
    plan_id        BLOB,
    counts         TEXT NOT NULL,
    skipped        INTEGER NOT NULL,
    failures       TEXT NOT NULL,
    graph_requests INTEGER NOT NULL,
    error          TEXT,
    CONSTRAINT runs_finished_iff_not_running CHECK ((status = 'running') = (finished_at IS NULL))
);
-- At most one running sync per account (and so per connection), across all processes.
CREATE UNIQUE INDEX runs_one_running_per_account ON runs (account_id) WHERE status = 'running';
CREATE INDEX runs_history ON runs (account_id, id);
