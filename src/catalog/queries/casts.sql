-- Casts are not in a schema: one is read when its function or one of its types is in a
-- dumped schema. Built-in casts have OIDs below 16384; range-to-multirange casts come
-- with the range type (their function is internal to it; 1255 is pg_proc).
SELECT c.oid,
       format_type(c.castsource, NULL) AS source_type,
       format_type(c.casttarget, NULL) AS target_type,
       c.castmethod::text AS castmethod,
       CASE WHEN c.castfunc <> 0 THEN c.castfunc::regprocedure::text END AS function,
       c.castcontext::text AS castcontext
FROM pg_cast c
JOIN pg_type st ON st.oid = c.castsource
JOIN pg_type tt ON tt.oid = c.casttarget
LEFT JOIN pg_proc p ON p.oid = c.castfunc
WHERE c.oid >= 16384
  AND {not_extension_member}
  AND EXISTS (SELECT 1 FROM pg_namespace n
    WHERE n.oid IN (st.typnamespace, tt.typnamespace, p.pronamespace)
    AND {ns_filter})
  AND NOT EXISTS (SELECT 1 FROM pg_depend idep WHERE idep.classid = 1255
    AND idep.objid = c.castfunc AND idep.deptype = 'i')
