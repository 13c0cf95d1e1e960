-- Every change to what an account's plan is computed from (its users, groups and addresses, its
-- domains and tech contact, its exemptions, its connection's settings and its directory mirror)
-- bumps the account's revision. An apply that carried out a whole plan and met no other writer
-- records the revision it left behind, with that plan: while the revision stays there, the
-- account is in step with its mirror, and the next sync knows its plan is empty without loading
-- and planning the whole tenant.
ALTER TABLE accounts ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN in_step_revision BIGINT;
ALTER TABLE accounts ADD COLUMN in_step_plan_id UUID REFERENCES plans (id) ON DELETE SET NULL;

-- The revision a plan was computed at: applying the whole plan brings the account in step only
-- if nothing else changed it since.
ALTER TABLE plans ADD COLUMN planned_at_revision BIGINT;
