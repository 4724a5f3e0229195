-- Table constraints (conrelid set) and domain checks (contypid set); NOT NULL
-- constraints (contype 'n', 18) are read with their columns.
SELECT co.oid,
       co.conrelid,
       co.contypid,
       co.conname::text AS conname,
       co.contype::text AS contype,
       pg_get_constraintdef(co.oid) AS definition,
       co.condeferrable,
       co.condeferred,
       co.convalidated,
       co.conislocal,
       co.conparentid <> 0 AS has_parent
FROM pg_constraint co
JOIN pg_namespace n ON n.oid = co.connamespace
WHERE co.contype IN ('p', 'u', 'f', 'c', 'x')
  AND {ns_filter}{only_relations}
