-- Functions, procedures and aggregates. PostgreSQL has no pg_get_aggregatedef: an
-- aggregate's definition is rebuilt from its pg_aggregate columns, so `definition` holds
-- its argument list instead. Routines with an internal dependency (range and multirange
-- constructors) are created by their type, not by the user. 1255 is pg_proc.
SELECT p.oid,
       n.nspname::text AS nspname,
       p.proname::text AS proname,
       pg_get_function_identity_arguments(p.oid) AS identity_arguments,
       p.prokind::text AS prokind,
       CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid)
         ELSE pg_get_function_arguments(p.oid) END AS definition,
       pg_get_userbyid(p.proowner)::text AS owner,
       p.proacl::text[] AS acl,
       a.aggkind::text AS aggkind,
       a.aggtransfn::text AS transfn,
       format_type(a.aggtranstype, NULL) AS transtype,
       a.aggtransspace,
       nullif(a.aggfinalfn::oid, 0)::regproc::text AS finalfn,
       a.aggfinalextra,
       a.aggfinalmodify::text AS finalmodify,
       nullif(a.aggcombinefn::oid, 0)::regproc::text AS combinefn,
       nullif(a.aggserialfn::oid, 0)::regproc::text AS serialfn,
       nullif(a.aggdeserialfn::oid, 0)::regproc::text AS deserialfn,
       a.agginitval,
       nullif(a.aggmtransfn::oid, 0)::regproc::text AS mtransfn,
       nullif(a.aggminvtransfn::oid, 0)::regproc::text AS minvtransfn,
       CASE WHEN a.aggmtranstype <> 0 THEN format_type(a.aggmtranstype, NULL) END AS mtranstype,
       a.aggmtransspace,
       nullif(a.aggmfinalfn::oid, 0)::regproc::text AS mfinalfn,
       a.aggmfinalextra,
       a.aggmfinalmodify::text AS mfinalmodify,
       a.aggminitval,
       op.oprname::text AS sortop,
       opn.nspname::text AS sortop_schema,
       p.proparallel::text AS proparallel
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
LEFT JOIN pg_operator op ON op.oid = a.aggsortop
LEFT JOIN pg_namespace opn ON opn.oid = op.oprnamespace
WHERE {ns_filter}
  AND {not_extension_member}
  AND NOT EXISTS (SELECT 1 FROM pg_depend idep WHERE idep.classid = 1255
    AND idep.objid = p.oid AND idep.deptype = 'i')
