DROP TRIGGER fkapi_collection_entries_trunc ON collection_entries;
DROP TRIGGER fkapi_collection_entries_del ON collection_entries;
DROP TRIGGER fkapi_collection_entries_upd ON collection_entries;
DROP TRIGGER fkapi_collection_entries_ins ON collection_entries;
DROP FUNCTION fkapi_notify_collections();
DROP TABLE collection_entries;
DROP TABLE users;
