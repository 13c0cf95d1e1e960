-- The change feed of mail-flow lookups: what of an account's recipients changed since a
-- revision, so that a lookup view reads only that instead of the whole account.
--
-- Each user and group carries the revision at which its mail (its addresses; a group's members
-- too) last changed. Triggers mark the object *pending* (9223372036854775807, above every
-- revision) whenever one of its addresses or memberships is written, whatever the write path;
-- `revision::bump` stamps the account's pending objects with the revision it moves to, in the
-- same transaction. "Changed after R" is then `mail_revision > R`, pending included, however a
-- writer orders its statements around its bump. Deleted users and groups leave a tombstone in
-- `mail_removals`, stamped the same way; tombstones older than the feed keeps are pruned, and
-- `accounts.mail_removals_from` says from which revision on they are all there.
--
-- The triggers run once per statement over its transition table: a full sync writes a million
-- memberships in a few statements, and a trigger per row would cost more than the writes.
-- A change of revision is also announced on the channel `roster_revisions` (payload: the
-- account's id), delivered when its transaction commits, so that lookup views need not wait
-- for their next poll.
ALTER TABLE users ADD COLUMN mail_revision BIGINT NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE groups ADD COLUMN mail_revision BIGINT NOT NULL DEFAULT 9223372036854775807;
-- Every object as it stands now is in any view read after this migration.
UPDATE users SET mail_revision = 0;
UPDATE groups SET mail_revision = 0;
CREATE INDEX users_mail_revision ON users (account_id, mail_revision);
CREATE INDEX groups_mail_revision ON groups (account_id, mail_revision);

ALTER TABLE accounts ADD COLUMN mail_removals_from BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET mail_removals_from = revision;

CREATE TABLE mail_removals (
    object_id  UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    revision   BIGINT NOT NULL DEFAULT 9223372036854775807
);
CREATE INDEX mail_removals_revision ON mail_removals (account_id, revision);

CREATE FUNCTION mail_mark_address_owners() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET mail_revision = 9223372036854775807
        WHERE id IN (SELECT user_id FROM written WHERE user_id IS NOT NULL)
        AND mail_revision <> 9223372036854775807;
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id IN (SELECT group_id FROM written WHERE group_id IS NOT NULL)
        AND mail_revision <> 9223372036854775807;
    RETURN NULL;
END $$;

CREATE FUNCTION mail_mark_groups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id IN (SELECT group_id FROM written)
        AND mail_revision <> 9223372036854775807;
    RETURN NULL;
END $$;

CREATE TRIGGER addresses_mark_inserted AFTER INSERT ON addresses
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_address_owners();
CREATE TRIGGER addresses_mark_deleted AFTER DELETE ON addresses
    REFERENCING OLD TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_address_owners();
CREATE TRIGGER addresses_mark_updated_from AFTER UPDATE ON addresses
    REFERENCING OLD TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_address_owners();
CREATE TRIGGER addresses_mark_updated_to AFTER UPDATE ON addresses
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_address_owners();

CREATE TRIGGER group_user_members_mark_inserted AFTER INSERT ON group_user_members
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_groups();
CREATE TRIGGER group_user_members_mark_deleted AFTER DELETE ON group_user_members
    REFERENCING OLD TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_groups();
CREATE TRIGGER group_user_members_mark_updated_from AFTER UPDATE ON group_user_members
    REFERENCING OLD TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_groups();
CREATE TRIGGER group_user_members_mark_updated_to AFTER UPDATE ON group_user_members
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_groups();
CREATE TRIGGER group_group_members_mark_inserted AFTER INSERT ON group_group_members
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_groups();
CREATE TRIGGER group_group_members_mark_deleted AFTER DELETE ON group_group_members
    REFERENCING OLD TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_groups();
CREATE TRIGGER group_group_members_mark_updated_from AFTER UPDATE ON group_group_members
    REFERENCING OLD TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_groups();
CREATE TRIGGER group_group_members_mark_updated_to AFTER UPDATE ON group_group_members
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION mail_mark_groups();

CREATE FUNCTION mail_record_removals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mail_removals (object_id, account_id, kind)
        SELECT r.id, r.account_id, TG_ARGV[0] FROM removed r;
    RETURN NULL;
END $$;

CREATE TRIGGER users_mail_removal AFTER DELETE ON users
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION mail_record_removals('user');
CREATE TRIGGER groups_mail_removal AFTER DELETE ON groups
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION mail_record_removals('group');

CREATE FUNCTION notify_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('roster_revisions', OLD.id::text);
    ELSE
        PERFORM pg_notify('roster_revisions', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_notify_revision AFTER INSERT OR DELETE OR UPDATE OF revision ON accounts
    FOR EACH ROW EXECUTE FUNCTION notify_revision();
