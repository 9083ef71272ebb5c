-- Out-of-band invalidation: every change to a catalogue table, whoever
-- makes it (the API, psql, a migration, another service), notifies the
-- channel `fkapi_changes` when its transaction commits. `fkapi serve`
-- listens and bumps the cache scopes of the changed rows.
--
-- Statement-level triggers with transition tables, so a bulk UPDATE of
-- 10,000 rows costs one trigger call, not 10,000. Payload (text):
--   <table>|<ids, comma separated>|<club ids, comma separated>
-- where club ids are the clubs whose kit lists the change touches (kits and
-- kit many-to-many rows only). Ids are sent in chunks that keep each
-- payload far below PostgreSQL's 8000-byte limit. TRUNCATE sends
-- `<table>|*|` (everything in that table).

CREATE FUNCTION fkapi_notify_ids(tbl text, ids int[], clubs int[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    chunk constant int := 500;
    n int := coalesce(array_length(ids, 1), 0);
    i int := 1;
BEGIN
    IF n = 0 AND coalesce(array_length(clubs, 1), 0) = 0 THEN
        RETURN;
    END IF;
    -- Club ids ride on the first chunk; there are few of them.
    PERFORM pg_notify('fkapi_changes',
        tbl || '|' || coalesce(array_to_string(ids[1:chunk], ','), '') || '|' || coalesce(array_to_string(clubs[1:400], ','), ''));
    i := chunk + 1;
    WHILE i <= n LOOP
        PERFORM pg_notify('fkapi_changes', tbl || '|' || array_to_string(ids[i:i + chunk - 1], ',') || '|');
        i := i + chunk;
    END LOOP;
    -- More clubs than fit: name the whole clubs table instead.
    IF coalesce(array_length(clubs, 1), 0) > 400 THEN
        PERFORM pg_notify('fkapi_changes', 'clubs|*|');
    END IF;
END;
$$;

-- Rows with an `id` column (clubs, seasons, brands, competitions, kit types, colours).
CREATE FUNCTION fkapi_notify_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids int[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT id) INTO ids FROM (SELECT id FROM new_rows UNION SELECT id FROM old_rows) changed;
    ELSE
        SELECT array_agg(DISTINCT id) INTO ids FROM old_rows;
    END IF;
    PERFORM fkapi_notify_ids(TG_TABLE_NAME, ids, NULL);
    RETURN NULL;
END;
$$;

-- Kits: the kit ids, and the clubs before and after (a kit may move).
CREATE FUNCTION fkapi_notify_kits() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids int[];
    clubs int[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT id), array_agg(DISTINCT team_id) INTO ids, clubs FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT id), array_agg(DISTINCT team_id) INTO ids, clubs
        FROM (SELECT id, team_id FROM new_rows UNION SELECT id, team_id FROM old_rows) changed;
    ELSE
        SELECT array_agg(DISTINCT id), array_agg(DISTINCT team_id) INTO ids, clubs FROM old_rows;
    END IF;
    PERFORM fkapi_notify_ids('kits', ids, clubs);
    RETURN NULL;
END;
$$;

-- Kit many-to-many rows: a change is a change of the kit (and its club's lists).
CREATE FUNCTION fkapi_notify_kit_links() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids int[];
    clubs int[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT kit_id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT kit_id) INTO ids FROM (SELECT kit_id FROM new_rows UNION SELECT kit_id FROM old_rows) changed;
    ELSE
        SELECT array_agg(DISTINCT kit_id) INTO ids FROM old_rows;
    END IF;
    SELECT array_agg(DISTINCT team_id) INTO clubs FROM kits WHERE id = ANY (ids);
    PERFORM fkapi_notify_ids('kits', ids, clubs);
    RETURN NULL;
END;
$$;

CREATE FUNCTION fkapi_notify_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fkapi_changes', TG_TABLE_NAME || '|*|');
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    spec record;
BEGIN
    FOR spec IN SELECT * FROM (VALUES
        ('clubs', 'fkapi_notify_rows'), ('seasons', 'fkapi_notify_rows'), ('brands', 'fkapi_notify_rows'),
        ('competitions', 'fkapi_notify_rows'), ('kit_types', 'fkapi_notify_rows'), ('colors', 'fkapi_notify_rows'),
        ('kits', 'fkapi_notify_kits'), ('kit_competitions', 'fkapi_notify_kit_links'),
        ('kit_secondary_colors', 'fkapi_notify_kit_links')
    ) AS t(tbl, fn) LOOP
        EXECUTE format('CREATE TRIGGER fkapi_%1$s_ins AFTER INSERT ON %1$I REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %2$s()', spec.tbl, spec.fn);
        EXECUTE format('CREATE TRIGGER fkapi_%1$s_upd AFTER UPDATE ON %1$I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %2$s()', spec.tbl, spec.fn);
        EXECUTE format('CREATE TRIGGER fkapi_%1$s_del AFTER DELETE ON %1$I REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %2$s()', spec.tbl, spec.fn);
        EXECUTE format('CREATE TRIGGER fkapi_%1$s_trunc AFTER TRUNCATE ON %1$I FOR EACH STATEMENT EXECUTE FUNCTION fkapi_notify_truncate()', spec.tbl);
    END LOOP;
END;
$$;
