-- Sequences with their parameters and the column that owns them, if any: deptype 'a'
-- for OWNED BY (a serial), 'i' for an identity column's sequence. 1259 is pg_class.
-- A scoped inspection asks for an identity sequence together with its table.
SELECT c.oid,
       n.nspname::text AS nspname,
       c.relname::text AS relname,
       format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart,
       s.seqincrement,
       s.seqmin,
       s.seqmax,
       s.seqcache,
       s.seqcycle,
       d.refobjid AS owned_by_relid,
       d.refobjsubid::int4 AS owned_by_attnum,
       d.deptype::text AS dependency_type,
       dn.nspname::text AS owned_by_schema,
       dc.relname::text AS owned_by_table,
       da.attname::text AS owned_by_column,
       pg_get_userbyid(c.relowner)::text AS owner,
       c.relacl::text[] AS acl
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend d ON d.classid = 1259 AND d.objid = c.oid
  AND d.refclassid = 1259 AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class dc ON dc.oid = d.refobjid
LEFT JOIN pg_namespace dn ON dn.oid = dc.relnamespace
LEFT JOIN pg_attribute da ON da.attrelid = d.refobjid AND da.attnum = d.refobjsubid
WHERE {ns_filter}
  AND {not_extension_member}{only_relations}
