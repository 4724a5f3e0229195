-- Extended statistics objects; a negative stxstattarget is the default target.
SELECT s.oid,
       s.stxrelid,
       n.nspname::text AS nspname,
       s.stxname::text AS stxname,
       pg_get_statisticsobjdef(s.oid) AS definition,
       CASE WHEN s.stxstattarget >= 0 THEN s.stxstattarget::int4 END AS target,
       pg_get_userbyid(s.stxowner)::text AS owner
FROM pg_statistic_ext s
JOIN pg_namespace n ON n.oid = s.stxnamespace
WHERE {ns_filter}
  AND {not_extension_member}{only_relations}
