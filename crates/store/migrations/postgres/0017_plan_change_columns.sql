-- A plan's change pages are searched by summary. Read out of each change's JSON, a search
-- parsed every row it passed. The column holds the summary in lower case (Rust's
-- `to_lowercase`, written with the change; changes stored before this migration are lowered
-- by PostgreSQL's `lower`). The category filter and the counts use the columns and the index of
-- 0015, which every change now fills.
ALTER TABLE plan_changes ADD COLUMN search_text TEXT;
UPDATE plan_changes SET search_text = lower(body::json ->> 'summary');
ALTER TABLE plan_changes
    ALTER COLUMN change_id SET NOT NULL,
    ALTER COLUMN category SET NOT NULL,
    ALTER COLUMN search_text SET NOT NULL;
