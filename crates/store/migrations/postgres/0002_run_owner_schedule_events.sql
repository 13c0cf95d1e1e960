-- Which process runs a sync, so that a run left behind by a process that died on this host is
-- taken over at once instead of blocking the account until its heartbeat goes stale.
ALTER TABLE runs ADD COLUMN owner TEXT;

-- Since when the account has had no tech contact: the schedule turns automatic sync off after
-- a grace period without one (product.md §6).
ALTER TABLE accounts ADD COLUMN tech_contact_missing_since TIMESTAMPTZ;
UPDATE accounts SET tech_contact_missing_since = created_at WHERE tech_contact_name IS NULL;

-- What happened to an account that a person should hear of: an automatic run that failed or
-- was held, automatic sync turned off. `notify` is the address told (the tech contact, if any):
-- the rows are the outbox a mail relay drains, and the history the console shows.
CREATE TABLE account_events (
    id         UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('automatic_run_failed', 'automatic_run_held', 'automatic_sync_turned_off')),
    message    TEXT NOT NULL,
    notify     TEXT,
    run_id     UUID,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX account_events_history ON account_events (account_id, id);
