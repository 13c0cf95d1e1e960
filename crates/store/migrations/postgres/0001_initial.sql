-- Roster's schema on PostgreSQL: the same tables and constraint names as migrations/sqlite.
-- The constraints below are the deployment's invariants; the code checks them first only to
-- give better errors.

CREATE TABLE accounts (
    id                 UUID PRIMARY KEY,
    name               TEXT NOT NULL,
    tech_contact_name  TEXT,
    tech_contact_email TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT accounts_name_unique UNIQUE (name),
    CONSTRAINT accounts_tech_contact_complete
        CHECK ((tech_contact_name IS NULL) = (tech_contact_email IS NULL))
);

-- A domain belongs to at most one account: the domain is the primary key.
CREATE TABLE domains (
    domain     TEXT PRIMARY KEY NOT NULL,
    account_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The target of the addresses' (domain, account_id) foreign key.
    CONSTRAINT domains_domain_account UNIQUE (domain, account_id)
);
CREATE INDEX domains_account ON domains (account_id);

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    account_id    UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    first_name    TEXT,
    last_name     TEXT,
    display_name  TEXT,
    role          TEXT NOT NULL CHECK (role IN ('organization_admin', 'end_user', 'silent_user')),
    digests       BOOLEAN NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('manual', 'directory')),
    external_id   TEXT,
    password_hash TEXT,
    version       BIGINT NOT NULL,
    CONSTRAINT users_id_account UNIQUE (id, account_id),
    CONSTRAINT users_external_id_unique UNIQUE (account_id, external_id),
    CONSTRAINT users_directory_source_has_external_id
        CHECK ((source = 'directory') = (external_id IS NOT NULL))
);

CREATE TABLE groups (
    id          UUID PRIMARY KEY,
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL
        CHECK (kind IN ('distribution', 'mail_enabled_security', 'security', 'microsoft_365')),
    source      TEXT NOT NULL CHECK (source IN ('manual', 'directory')),
    external_id TEXT,
    version     BIGINT NOT NULL,
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
    account_id UUID NOT NULL,
    domain     TEXT NOT NULL,
    user_id    UUID,
    group_id   UUID,
    is_primary BOOLEAN NOT NULL,
    CONSTRAINT addresses_domain_is_the_address_domain
        CHECK (domain = substr(address, strpos(address, '@') + 1)),
    CONSTRAINT addresses_exactly_one_owner CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    CONSTRAINT addresses_domain_of_account
        FOREIGN KEY (domain, account_id) REFERENCES domains (domain, account_id),
    CONSTRAINT addresses_user FOREIGN KEY (user_id, account_id)
        REFERENCES users (id, account_id) ON DELETE CASCADE,
    CONSTRAINT addresses_group FOREIGN KEY (group_id, account_id)
        REFERENCES groups (id, account_id) ON DELETE CASCADE
);
CREATE INDEX addresses_domain_account ON addresses (domain, account_id);
CREATE INDEX addresses_user_id ON addresses (user_id, account_id) WHERE user_id IS NOT NULL;
CREATE INDEX addresses_group_id ON addresses (group_id, account_id) WHERE group_id IS NOT NULL;
CREATE UNIQUE INDEX addresses_one_primary_per_user ON addresses (user_id) WHERE is_primary AND user_id IS NOT NULL;
CREATE UNIQUE INDEX addresses_one_primary_per_group ON addresses (group_id) WHERE is_primary AND group_id IS NOT NULL;

CREATE TABLE group_user_members (
    group_id UUID NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_user_members_user ON group_user_members (user_id);

CREATE TABLE group_group_members (
    group_id        UUID NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_group_id UUID NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_group_id)
);
CREATE INDEX group_group_members_member ON group_group_members (member_group_id);

-- At most one directory connection per account: the account is the primary key.
CREATE TABLE connections (
    account_id        UUID PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    settings          TEXT NOT NULL,
    secret_ciphertext BYTEA NOT NULL,
    secret_nonce      BYTEA NOT NULL,
    secret_key_id     TEXT NOT NULL,
    secret_set_at     TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

-- The directory mirror: one row per directory object, its record as compact JSON.
CREATE TABLE mirror_users (
    account_id  UUID NOT NULL REFERENCES connections (account_id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    record      BYTEA NOT NULL,
    PRIMARY KEY (account_id, external_id)
);

CREATE TABLE mirror_groups (
    account_id  UUID NOT NULL REFERENCES connections (account_id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    record      BYTEA NOT NULL,
    PRIMARY KEY (account_id, external_id)
);

CREATE TABLE delta_links (
    account_id      UUID PRIMARY KEY REFERENCES connections (account_id) ON DELETE CASCADE,
    users_link      TEXT,
    users_saved_at  TIMESTAMPTZ,
    groups_link     TEXT,
    groups_saved_at TIMESTAMPTZ
);

CREATE TABLE exemptions (
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, external_id)
);

CREATE TABLE plans (
    id         UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    applied_at TIMESTAMPTZ
);

CREATE TABLE runs (
    id             UUID PRIMARY KEY,
    account_id     UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    trigger_kind   TEXT NOT NULL CHECK (trigger_kind IN ('preview', 'apply', 'automatic')),
    actor          TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'held', 'failed')),
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ,
    heartbeat_at   TIMESTAMPTZ NOT NULL,
    plan_id        UUID,
    counts         TEXT NOT NULL,
    skipped        BIGINT NOT NULL,
    failures       TEXT NOT NULL,
    graph_requests BIGINT NOT NULL,
    error          TEXT,
    CONSTRAINT runs_finished_iff_not_running CHECK ((status = 'running') = (finished_at IS NULL))
);
-- At most one running sync per account (and so per connection), across all processes.
CREATE UNIQUE INDEX runs_one_running_per_account ON runs (account_id) WHERE status = 'running';
CREATE INDEX runs_history ON runs (account_id, id);
