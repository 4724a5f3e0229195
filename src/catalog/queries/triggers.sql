-- Triggers the user created, and partition clones whose enabled state differs from
-- their parent's. Which rows those are depends on the major: see `trigger_filter` in
-- inspect/queries.rs.
SELECT t.oid,
       t.tgrelid,
       t.tgname::text AS tgname,
       pg_get_triggerdef(t.oid, false) AS definition,
       t.tgenabled::text AS tgenabled,
       {trigger_cloned} AS cloned
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {trigger_filter}
  AND {ns_filter}{only_relations}
