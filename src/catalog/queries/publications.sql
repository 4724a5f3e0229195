-- Publications are not in a schema: one is read when no schema filter is given, or when
-- one of its tables or schemas is in a dumped schema. Row filters, column lists and
-- schemas depend on the major: see `pub_table` in inspect/queries.rs.
SELECT p.oid,
       p.pubname::text AS pubname,
       p.puballtables,
       p.pubinsert,
       p.pubupdate,
       p.pubdelete,
       p.pubtruncate,
       {pub_via_root} AS via_root,
       ARRAY(SELECT {pub_table} FROM pg_publication_rel pr
         JOIN pg_class tc ON tc.oid = pr.prrelid
         JOIN pg_namespace tn ON tn.oid = tc.relnamespace WHERE pr.prpubid = p.oid) AS tables,
       {pub_schemas} AS schemas,
       pg_get_userbyid(p.pubowner)::text AS owner
FROM pg_publication p
WHERE {not_extension_member}
  AND ((cardinality($1::text[]) = 0 AND cardinality($2::text[]) = 0)
    OR EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_class c ON c.oid = pr.prrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE pr.prpubid = p.oid AND {ns_filter})
    {pub_schema_filter})
