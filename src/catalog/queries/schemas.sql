-- Schemas (pg_namespace) that are not system schemas and not created by an extension.
SELECT n.oid,
       n.nspname::text AS nspname,
       pg_get_userbyid(n.nspowner)::text AS owner,
       n.nspacl::text[] AS acl
FROM pg_namespace n
WHERE {ns_filter}
  AND {not_extension_member}
