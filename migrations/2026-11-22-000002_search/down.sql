DROP INDEX IF EXISTS kits_name_unaccent_trgm_idx;
DROP INDEX IF EXISTS competitions_name_unaccent_trgm_idx;
DROP INDEX IF EXISTS brands_name_unaccent_trgm_idx;
DROP INDEX IF EXISTS clubs_name_unaccent_trgm_idx;
DROP FUNCTION IF EXISTS f_unaccent(text);
DROP EXTENSION IF EXISTS unaccent;
