-- Accent-insensitive search: "Malaga" finds "Málaga", "Munchen" finds
-- "München". Names are compared as lower(f_unaccent(name)), and the trigram
-- GIN indexes below have exactly that expression, so exact, prefix,
-- contains (LIKE) and fuzzy (word_similarity, <%) matching all use them.
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is only STABLE (it finds its dictionary through search_path),
-- so it cannot appear in an index. This wrapper names both the function and
-- the dictionary with the schema the extension actually lives in, which
-- makes it safe to declare IMMUTABLE and independent of any session's
-- search_path (autovacuum and restores run with a restricted one).
DO $$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO STRICT ext_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'unaccent';
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION f_unaccent(text) RETURNS text '
        'LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS %L',
        format('SELECT %I.unaccent(%L::regdictionary, $1)', ext_schema, quote_ident(ext_schema) || '.unaccent')
    );
END
$$;

CREATE INDEX clubs_name_unaccent_trgm_idx ON clubs USING gin (lower(f_unaccent(name)) gin_trgm_ops);
CREATE INDEX brands_name_unaccent_trgm_idx ON brands USING gin (lower(f_unaccent(name)) gin_trgm_ops);
CREATE INDEX competitions_name_unaccent_trgm_idx ON competitions USING gin (lower(f_unaccent(name)) gin_trgm_ops);
CREATE INDEX kits_name_unaccent_trgm_idx ON kits USING gin (lower(f_unaccent(name)) gin_trgm_ops);
