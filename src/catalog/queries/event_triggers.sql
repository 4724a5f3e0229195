-- Event triggers are not in a schema: one is read when its function is.
SELECT e.oid,
       e.evtname::text AS evtname,
       e.evtevent::text AS evtevent,
       n.nspname::text AS function_schema,
       p.proname::text AS function_name,
       e.evtenabled::text AS evtenabled,
       coalesce(e.evttags, '{}')::text[] AS tags,
       pg_get_userbyid(e.evtowner)::text AS owner
FROM pg_event_trigger e
JOIN pg_proc p ON p.oid = e.evtfoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {ns_filter}
  AND {not_extension_member}
