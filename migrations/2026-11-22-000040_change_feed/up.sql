-- A durable change feed (issue 10). The change triggers (see the
-- change_notifications migration) now record each statement's change in
-- `fkapi_feed`, in the writing transaction, instead of sending it as a
-- NOTIFY that is lost while nobody listens. `fkapi serve` reads the table
-- in commit order by transaction visibility from a position saved per cache
-- namespace (crates/feed); NOTIFY remains only as a wake-up.
--
-- One row per statement: a 10,000-row UPDATE is one row with 10,000 ids.
-- `ids` NULL means every row of the table (TRUNCATE). `related_ids` are ids
-- in another table the change touches, whose meaning is the table's (for
-- kits: the clubs before and after). `xid` is the writing transaction, the
-- key by which readers decide what they have seen.
CREATE TABLE fkapi_feed (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    table_name  text NOT NULL,
    ids         integer[],
    related_ids integer[] NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX fkapi_feed_xid_idx ON fkapi_feed (xid, id);

-- Records of transactions below `below` may have been pruned: a position
-- whose snapshot xmin is lower cannot be resumed.
CREATE TABLE fkapi_feed_pruned (
    single boolean PRIMARY KEY DEFAULT true CHECK (single),
    below  xid8 NOT NULL DEFAULT '0'
);
INSERT INTO fkapi_feed_pruned DEFAULT VALUES;

-- The xmin each namespace's consumer has applied, so pruning can drop what
-- every active consumer has seen (the position itself lives in Redis, with
-- the cache it describes).
CREATE TABLE fkapi_feed_consumers (
    namespace    text PRIMARY KEY,
    applied_xmin xid8 NOT NULL,
    owner        text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Records one change and wakes the consumers at commit.
CREATE FUNCTION fkapi_record_change(tbl text, ids int[], related int[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fkapi_feed (table_name, ids, related_ids) VALUES (tbl, ids, coalesce(related, '{}'));
    PERFORM pg_notify('fkapi_changes', tbl);
END;
$$;

CREATE OR REPLACE FUNCTION fkapi_notify_ids(tbl text, ids int[], clubs int[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- The API invalidates its own writes before it answers (and instances
    -- share the generation counters in Redis); a second invalidation from
    -- the feed would only cost a hit.
    IF current_setting('application_name', true) = 'fkapi' THEN
        RETURN;
    END IF;
    IF coalesce(array_length(ids, 1), 0) = 0 AND coalesce(array_length(clubs, 1), 0) = 0 THEN
        RETURN;
    END IF;
    -- Never NULL here: NULL ids mean "the whole table".
    PERFORM fkapi_record_change(tbl, coalesce(ids, '{}'), clubs);
END;
$$;

CREATE OR REPLACE FUNCTION fkapi_notify_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fkapi_record_change(TG_TABLE_NAME, NULL, NULL);
    RETURN NULL;
END;
$$;
