-- Foreign-data wrappers are not in a schema: the schema filters do not apply.
SELECT w.oid,
       w.fdwname::text AS fdwname,
       nullif(w.fdwhandler::oid, 0)::regproc::text AS handler,
       nullif(w.fdwvalidator::oid, 0)::regproc::text AS validator,
       coalesce(w.fdwoptions, '{}')::text[] AS options,
       pg_get_userbyid(w.fdwowner)::text AS owner
FROM pg_foreign_data_wrapper w
WHERE {not_extension_member}
