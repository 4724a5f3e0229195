-- Foreign servers are not in a schema: the schema filters do not apply.
SELECT s.oid,
       s.srvname::text AS srvname,
       w.fdwname::text AS fdwname,
       s.srvtype,
       s.srvversion,
       coalesce(s.srvoptions, '{}')::text[] AS options,
       pg_get_userbyid(s.srvowner)::text AS owner
FROM pg_foreign_server s
JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
WHERE {not_extension_member}
