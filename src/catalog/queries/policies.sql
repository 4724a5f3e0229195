-- Row-level security policies; role 0 in polroles is PUBLIC.
SELECT p.oid,
       p.polrelid,
       p.polname::text AS polname,
       p.polpermissive,
       p.polcmd::text AS polcmd,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
         FROM unnest(p.polroles) AS r) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using_expression,
       pg_get_expr(p.polwithcheck, p.polrelid) AS with_check_expression
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {ns_filter}{only_relations}
