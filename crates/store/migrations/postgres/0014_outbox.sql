-- The outbox: one row per message to mail (product.md §12). A notice about an account event is
-- queued in the same transaction as the event, so that it is neither lost nor queued twice;
-- `dedup_key` is unique so that one notice (a day of a failing streak, one expiry warning for
-- one expiry date) is queued once, however many runs, passes or workers reach it. Senders claim
-- due rows with a lease (`lease_owner`, `lease_until`) and finish them only while they hold it.
-- The times senders compare in SQL (`due_at`, `lease_until`) are milliseconds since the epoch:
-- SQLite compares stored timestamps as text, which orders fractional seconds wrongly.
CREATE TABLE outbox (
    id          UUID PRIMARY KEY,
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    event_id    UUID REFERENCES account_events (id) ON DELETE CASCADE,
    dedup_key   TEXT NOT NULL,
    notice      TEXT NOT NULL,
    recipients  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    sent_at     TIMESTAMPTZ,
    CONSTRAINT outbox_dedup_key UNIQUE (dedup_key)
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE status = 'pending';
CREATE INDEX outbox_history ON outbox (account_id, id);
