-- A plan's changes, one row each. The first sync of a large tenant plans hundreds of thousands
-- of changes, over a hundred megabytes of JSON: kept in `plans.body` as one value, the driver
-- and the database each copied it whole while storing it, and marking the plan applied
-- rewrote it. `plans.body` now holds the plan without its changes; plans stored before this
-- table existed keep theirs there.
CREATE TABLE plan_changes (
    plan_id  BLOB NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (plan_id, position)
) WITHOUT ROWID;
