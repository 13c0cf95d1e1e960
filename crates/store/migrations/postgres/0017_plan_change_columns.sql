-- A plan's change pages are filtered by category and searched by summary. Read out of each
-- change's JSON, a filter parsed every row it passed and could not use an index: a page of a
-- rare category of a 100,000-change plan read the whole plan. The columns hold what the pages
-- filter on, written with the change; the index serves a category's page in plan order and
-- the counts per category.
ALTER TABLE plan_changes ADD COLUMN change_id TEXT;
ALTER TABLE plan_changes ADD COLUMN category TEXT;
-- The summary in lower case (Rust's `to_lowercase`; changes stored before this migration are
-- lowered by PostgreSQL's `lower`).
ALTER TABLE plan_changes ADD COLUMN search_text TEXT;
UPDATE plan_changes SET
    change_id = body::json ->> 'id',
    category = body::json ->> 'category',
    search_text = lower(body::json ->> 'summary');
ALTER TABLE plan_changes
    ALTER COLUMN change_id SET NOT NULL,
    ALTER COLUMN category SET NOT NULL,
    ALTER COLUMN search_text SET NOT NULL;
CREATE INDEX plan_changes_by_category ON plan_changes (plan_id, category, position);
