-- SQLite's instr() for byte strings, so that one statement text serves both backends: the
-- mirror's group records are searched for a member's quoted directory id.
CREATE FUNCTION instr(haystack BYTEA, needle BYTEA) RETURNS INTEGER
    LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT position(needle IN haystack) $$;
