-- SQLite's hex() for ids, so that one statement text serves both backends: a group's members
-- are read aggregated as `string_agg(hex(id), '')`, one column instead of a row per member.
CREATE FUNCTION hex(id UUID) RETURNS TEXT
    LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT encode(uuid_send(id), 'hex') $$;
