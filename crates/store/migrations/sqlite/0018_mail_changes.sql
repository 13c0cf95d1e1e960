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
ALTER TABLE users ADD COLUMN mail_revision INTEGER NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE groups ADD COLUMN mail_revision INTEGER NOT NULL DEFAULT 9223372036854775807;
-- Every object as it stands now is in any view read after this migration.
UPDATE users SET mail_revision = 0;
UPDATE groups SET mail_revision = 0;
CREATE INDEX users_mail_revision ON users (account_id, mail_revision);
CREATE INDEX groups_mail_revision ON groups (account_id, mail_revision);

ALTER TABLE accounts ADD COLUMN mail_removals_from INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET mail_removals_from = revision;

CREATE TABLE mail_removals (
    object_id  BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    revision   INTEGER NOT NULL DEFAULT 9223372036854775807
);
CREATE INDEX mail_removals_revision ON mail_removals (account_id, revision);

CREATE TRIGGER addresses_mark_inserted AFTER INSERT ON addresses BEGIN
    UPDATE users SET mail_revision = 9223372036854775807
        WHERE id = NEW.user_id AND mail_revision <> 9223372036854775807;
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id = NEW.group_id AND mail_revision <> 9223372036854775807;
END;
CREATE TRIGGER addresses_mark_deleted AFTER DELETE ON addresses BEGIN
    UPDATE users SET mail_revision = 9223372036854775807
        WHERE id = OLD.user_id AND mail_revision <> 9223372036854775807;
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id = OLD.group_id AND mail_revision <> 9223372036854775807;
END;
CREATE TRIGGER addresses_mark_updated AFTER UPDATE ON addresses BEGIN
    UPDATE users SET mail_revision = 9223372036854775807
        WHERE id IN (OLD.user_id, NEW.user_id) AND mail_revision <> 9223372036854775807;
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id IN (OLD.group_id, NEW.group_id) AND mail_revision <> 9223372036854775807;
END;

CREATE TRIGGER group_user_members_mark_inserted AFTER INSERT ON group_user_members BEGIN
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id = NEW.group_id AND mail_revision <> 9223372036854775807;
END;
CREATE TRIGGER group_user_members_mark_deleted AFTER DELETE ON group_user_members BEGIN
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id = OLD.group_id AND mail_revision <> 9223372036854775807;
END;
CREATE TRIGGER group_user_members_mark_updated AFTER UPDATE ON group_user_members BEGIN
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id IN (OLD.group_id, NEW.group_id) AND mail_revision <> 9223372036854775807;
END;
CREATE TRIGGER group_group_members_mark_inserted AFTER INSERT ON group_group_members BEGIN
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id = NEW.group_id AND mail_revision <> 9223372036854775807;
END;
CREATE TRIGGER group_group_members_mark_deleted AFTER DELETE ON group_group_members BEGIN
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id = OLD.group_id AND mail_revision <> 9223372036854775807;
END;
CREATE TRIGGER group_group_members_mark_updated AFTER UPDATE ON group_group_members BEGIN
    UPDATE groups SET mail_revision = 9223372036854775807
        WHERE id IN (OLD.group_id, NEW.group_id) AND mail_revision <> 9223372036854775807;
END;

CREATE TRIGGER users_mail_removal AFTER DELETE ON users BEGIN
    INSERT INTO mail_removals (object_id, account_id, kind) VALUES (OLD.id, OLD.account_id, 'user');
END;
CREATE TRIGGER groups_mail_removal AFTER DELETE ON groups BEGIN
    INSERT INTO mail_removals (object_id, account_id, kind) VALUES (OLD.id, OLD.account_id, 'group');
END;
