-- Enums, domains, ranges and stand-alone composite types (relkind 'c'; the composite
-- attributes come from the columns query). A domain's or range's collation is read only
-- when it differs from its base type's, so the default is never printed.
SELECT t.oid,
       n.nspname::text AS nspname,
       t.typname::text AS typname,
       t.typtype::text AS typtype,
       t.typrelid,
       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e
         WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS enum_labels,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS domain_base_type,
       t.typnotnull,
       pg_get_expr(t.typdefaultbin, 0) AS domain_default,
       dco.collname::text AS domain_collation,
       dcn.nspname::text AS domain_collation_schema,
       format_type(r.rngsubtype, NULL) AS range_subtype,
       CASE WHEN NOT opc.opcdefault THEN opc.opcname::text END AS range_opclass,
       opcn.nspname::text AS range_opclass_schema,
       rco.collname::text AS range_collation,
       rcn.nspname::text AS range_collation_schema,
       nullif(r.rngcanonical::oid, 0)::regproc::text AS range_canonical,
       nullif(r.rngsubdiff::oid, 0)::regproc::text AS range_subtype_diff,
       pg_get_userbyid(t.typowner)::text AS owner,
       t.typacl::text[] AS acl
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_collation dco ON dco.oid = t.typcollation AND t.typtype = 'd'
  AND t.typcollation <> bt.typcollation
LEFT JOIN pg_namespace dcn ON dcn.oid = dco.collnamespace
LEFT JOIN pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_type st ON st.oid = r.rngsubtype
LEFT JOIN pg_opclass opc ON opc.oid = r.rngsubopc
LEFT JOIN pg_namespace opcn ON opcn.oid = opc.opcnamespace
LEFT JOIN pg_collation rco ON rco.oid = r.rngcollation
  AND r.rngcollation <> st.typcollation
LEFT JOIN pg_namespace rcn ON rcn.oid = rco.collnamespace
WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND EXISTS
    (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
  AND {ns_filter}
  AND {not_extension_member}
