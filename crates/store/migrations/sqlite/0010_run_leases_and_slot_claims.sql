-- A running run is owned by one store instance (a random id per process) for as long as its
-- lease lasts; the owner renews it while the run lives, and only an expired lease is taken over.
-- Milliseconds since the Unix epoch, so that both backends compare it as a number.
ALTER TABLE runs ADD COLUMN lease_expires_ms BIGINT;
UPDATE runs SET lease_expires_ms = 0 WHERE status = 'running';
-- A run whose owner stopped before it finished: recorded as failed, but not the slot's run, so
-- its account is due again at once.
ALTER TABLE runs ADD COLUMN abandoned INTEGER NOT NULL DEFAULT 0;

-- The latest schedule slot a worker claimed for the connection, in seconds since the Unix epoch:
-- claiming is a conditional update of this column, so each slot runs once across all workers.
ALTER TABLE connections ADD COLUMN claimed_slot BIGINT;
