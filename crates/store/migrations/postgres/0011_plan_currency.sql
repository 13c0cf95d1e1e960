-- A plan is current only while it is its account's newest plan and the directory mirror has not
-- changed since it was built; applying a plan that is not current is refused as a whole.
-- `mirror_version` moves only when the mirror's content changes (a delta round that brought
-- nothing, or only objects as they already were, leaves it), unlike `revision`, which every
-- write to the account moves. Plans stored before this migration have no mirror version, and
-- are not current.
ALTER TABLE accounts ADD COLUMN mirror_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN newest_plan_id UUID REFERENCES plans (id) ON DELETE SET NULL;
ALTER TABLE plans ADD COLUMN mirror_version BIGINT;
