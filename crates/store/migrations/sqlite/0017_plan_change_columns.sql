-- A plan's change pages are searched by summary. Read out of each change's JSON, a search
-- parsed every row it passed. The column holds the summary in lower case (Rust's
-- `to_lowercase`, written with the change; changes stored before this migration are lowered
-- by SQLite's `lower`, which folds ASCII letters only). The category filter and the counts use
-- the columns and the index of 0015.
ALTER TABLE plan_changes ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE plan_changes SET search_text = lower(json_extract(body, '$.summary'));
