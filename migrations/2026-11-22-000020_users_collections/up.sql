-- Users and their kit collections (issue 5).
--
-- A user's API token is never stored: only its SHA-256 (32 bytes), so a
-- leaked database does not leak working credentials. Tokens are 256-bit
-- random values, so an unsalted hash is enough (there is nothing to guess).

CREATE TABLE users (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username varchar(50) NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{3,50}$'),
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE collection_entries (
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kit_id integer NOT NULL REFERENCES kits (id) ON DELETE CASCADE,
    size varchar(10) CHECK (size IN ('XS', 'S', 'M', 'L', 'XL', 'XXL', 'XXXL')),
    condition varchar(20) CHECK (condition IN ('new', 'excellent', 'good', 'fair', 'poor')),
    notes varchar(500),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kit_id)
);

CREATE INDEX collection_entries_kit_id_idx ON collection_entries (kit_id);
-- The collection page order (newest first).
CREATE INDEX collection_entries_user_added_idx ON collection_entries (user_id, added_at DESC, kit_id);

-- Out-of-band invalidation, as in the change_notifications migration: a
-- change to a collection row (including the cascade when a kit or user is
-- deleted) notifies `collection_entries|<user ids>|`, which `fkapi serve`
-- maps to the users' collection scopes.
CREATE FUNCTION fkapi_notify_collections() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids int[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT user_id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT user_id) INTO ids
        FROM (SELECT user_id FROM new_rows UNION SELECT user_id FROM old_rows) changed;
    ELSE
        SELECT array_agg(DISTINCT user_id) INTO ids FROM old_rows;
    END IF;
    PERFORM fkapi_notify_ids('collection_entries', ids, NULL);
    RETURN NULL;
END;
$$;

CREATE TRIGGER fkapi_collection_entries_ins AFTER INSERT ON collection_entries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fkapi_notify_collections();
CREATE TRIGGER fkapi_collection_entries_upd AFTER UPDATE ON collection_entries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fkapi_notify_collections();
CREATE TRIGGER fkapi_collection_entries_del AFTER DELETE ON collection_entries
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fkapi_notify_collections();
CREATE TRIGGER fkapi_collection_entries_trunc AFTER TRUNCATE ON collection_entries
    FOR EACH STATEMENT EXECUTE FUNCTION fkapi_notify_truncate();
