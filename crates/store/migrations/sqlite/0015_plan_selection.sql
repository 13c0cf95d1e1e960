-- The plan page reads one category's changes a page at a time, and the admin's choices name
-- changes by id: both were fields inside each change's JSON, found by parsing every change of
-- the plan. They become columns (filled in for the plans stored before), each with its index.
ALTER TABLE plan_changes ADD COLUMN change_id TEXT;
ALTER TABLE plan_changes ADD COLUMN category TEXT;
UPDATE plan_changes SET change_id = json_extract(body, '$.id'), category = json_extract(body, '$.category');
CREATE UNIQUE INDEX plan_changes_by_id ON plan_changes (plan_id, change_id);
CREATE INDEX plan_changes_by_category ON plan_changes (plan_id, category, position);

-- What the admin checked on a plan before applying it: Sync Active Directory applies the
-- checked changes. A category is all checked unless its select all / none chose otherwise; a
-- change's own box, when recorded, wins over its category's choice, and choosing for a whole
-- category clears the boxes recorded in it. Kept on the server, so that paging, filtering and
-- forms without JavaScript lose no choice, and select all means the whole category.
CREATE TABLE plan_category_choices (
    plan_id  BLOB NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    checked  INTEGER NOT NULL CHECK (checked IN (0, 1)),
    PRIMARY KEY (plan_id, category)
) WITHOUT ROWID;

CREATE TABLE plan_change_choices (
    plan_id   BLOB NOT NULL,
    change_id TEXT NOT NULL,
    checked   INTEGER NOT NULL CHECK (checked IN (0, 1)),
    PRIMARY KEY (plan_id, change_id),
    FOREIGN KEY (plan_id, change_id) REFERENCES plan_changes (plan_id, change_id) ON DELETE CASCADE
) WITHOUT ROWID;
