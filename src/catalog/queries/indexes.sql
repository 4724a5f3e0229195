-- Indexes that are not a constraint's (those come with the constraint) nor a partition's
-- (those come with the partitioned table's index).
SELECT i.indexrelid,
       i.indrelid,
       ic.relname::text AS index_name,
       am.amname::text AS access_method,
       i.indisunique,
       pg_get_indexdef(i.indexrelid) AS definition,
       CASE WHEN i.indpred IS NOT NULL THEN pg_get_expr(i.indpred, i.indrelid) END AS predicate
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE NOT ic.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_constraint co
    WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid
    AND co.contype IN ('p', 'u', 'x'))
  AND {ns_filter}{only_relations}
