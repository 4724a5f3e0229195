-- Collations. Where the ICU or builtin locale and the ICU rules live depends on the
-- major: see `collation_locale` in inspect/queries.rs.
SELECT c.oid,
       n.nspname::text AS nspname,
       c.collname::text AS collname,
       c.collprovider::text AS collprovider,
       {collation_locale} AS locale,
       c.collcollate::text AS collcollate,
       c.collctype::text AS collctype,
       {collation_rules} AS rules,
       c.collisdeterministic,
       pg_get_userbyid(c.collowner)::text AS owner
FROM pg_collation c
JOIN pg_namespace n ON n.oid = c.collnamespace
WHERE {ns_filter}
  AND {not_extension_member}
