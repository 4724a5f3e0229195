-- Installed extensions, by the schema they were installed in.
SELECT e.oid,
       e.extname::text AS extname,
       e.extversion,
       n.nspname::text AS nspname
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE {ns_filter}
