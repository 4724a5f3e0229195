-- Tables, partitioned tables, views, materialized views and foreign tables, with their
-- parents in inheritance order (a partition's first and only parent is its partitioned
-- table).
SELECT c.oid,
       n.nspname::text AS nspname,
       c.relname::text AS relname,
       c.relkind::text AS relkind,
       c.relpersistence::text AS relpersistence,
       c.relrowsecurity,
       c.relforcerowsecurity,
       coalesce(c.reloptions, '{}')::text[] AS options,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS view_definition,
       ARRAY(SELECT pn.nspname::text FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
         JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid
         ORDER BY i.inhseqno) AS parent_schemas,
       ARRAY(SELECT pc.relname::text FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
         WHERE i.inhrelid = c.oid ORDER BY i.inhseqno) AS parent_names,
       c.relispartition,
       am.amname::text AS access_method,
       pg_get_userbyid(c.relowner)::text AS owner,
       c.relacl::text[] AS acl,
       c.relreplident::text AS relreplident,
       CASE WHEN c.relreplident = 'i' THEN (SELECT ric.relname::text FROM pg_index ri
         JOIN pg_class ric ON ric.oid = ri.indexrelid
         WHERE ri.indrelid = c.oid AND ri.indisreplident) END AS replica_identity_index,
       (SELECT cic.relname::text FROM pg_index ci JOIN pg_class cic ON cic.oid = ci.indexrelid
         WHERE ci.indrelid = c.oid AND ci.indisclustered LIMIT 1) AS cluster_on,
       fs.srvname::text AS server,
       coalesce(ft.ftoptions, '{}')::text[] AS foreign_options
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND {ns_filter}
  AND {not_extension_member}{only_relations}
