DO $$
DECLARE
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['clubs', 'seasons', 'brands', 'competitions', 'kit_types', 'colors', 'kits',
                               'kit_competitions', 'kit_secondary_colors'] LOOP
        EXECUTE format('DROP TRIGGER fkapi_%1$s_ins ON %1$I', tbl);
        EXECUTE format('DROP TRIGGER fkapi_%1$s_upd ON %1$I', tbl);
        EXECUTE format('DROP TRIGGER fkapi_%1$s_del ON %1$I', tbl);
        EXECUTE format('DROP TRIGGER fkapi_%1$s_trunc ON %1$I', tbl);
    END LOOP;
END;
$$;
DROP FUNCTION fkapi_notify_truncate();
DROP FUNCTION fkapi_notify_kit_links();
DROP FUNCTION fkapi_notify_kits();
DROP FUNCTION fkapi_notify_rows();
DROP FUNCTION fkapi_notify_ids(text, int[], int[]);
