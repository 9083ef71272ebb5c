CREATE OR REPLACE FUNCTION fkapi_notify_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fkapi_changes', TG_TABLE_NAME || '|*|');
    RETURN NULL;
END;
$$;
CREATE OR REPLACE FUNCTION fkapi_notify_ids(tbl text, ids int[], clubs int[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    chunk constant int := 500;
    n int := coalesce(array_length(ids, 1), 0);
    i int := 1;
BEGIN
    IF current_setting('application_name', true) = 'fkapi' THEN
        RETURN;
    END IF;
    IF n = 0 AND coalesce(array_length(clubs, 1), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_notify('fkapi_changes',
        tbl || '|' || coalesce(array_to_string(ids[1:chunk], ','), '') || '|' || coalesce(array_to_string(clubs[1:400], ','), ''));
    i := chunk + 1;
    WHILE i <= n LOOP
        PERFORM pg_notify('fkapi_changes', tbl || '|' || array_to_string(ids[i:i + chunk - 1], ',') || '|');
        i := i + chunk;
    END LOOP;
    IF coalesce(array_length(clubs, 1), 0) > 400 THEN
        PERFORM pg_notify('fkapi_changes', 'clubs|*|');
    END IF;
END;
$$;
DROP FUNCTION fkapi_record_change(text, int[], int[]);
DROP TABLE fkapi_feed_consumers;
DROP TABLE fkapi_feed_pruned;
DROP TABLE fkapi_feed;
