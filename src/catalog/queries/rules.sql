-- Rewrite rules; a view's _RETURN rule is its definition, read with the view.
SELECT r.oid,
       r.ev_class,
       r.rulename::text AS rulename,
       pg_get_ruledef(r.oid) AS definition,
       r.ev_enabled::text AS ev_enabled
FROM pg_rewrite r
JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN'
  AND {ns_filter}{only_relations}
