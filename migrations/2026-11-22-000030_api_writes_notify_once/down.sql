CREATE OR REPLACE FUNCTION fkapi_notify_ids(tbl text, ids int[], clubs int[]) RETURNS void
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
