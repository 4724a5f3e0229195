//! Reading the catalog: one snapshot, a fixed set of set-based queries, assembled in memory.
//!
//! Every query reads one kind of object for *all* included schemas at once and is filtered
//! by namespace in SQL ($1 = schemas to include, empty for all; $2 = schemas to exclude).
//! Rows are joined to their parents in Rust through `HashMap`s keyed by OID, so the cost
//! is linear in the number of objects and the number of round trips does not grow with
//! the schema. The queries are independent, so they are issued together and pipelined
//! by tokio-postgres on the one connection.

use std::collections::{HashMap, HashSet};

use futures_util::future::try_join_all;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, Row, SimpleQueryMessage, Statement};

use super::model::*;
use super::render::qualified_collation;
use super::{CatalogError, InspectOptions};
use crate::sql::{quote_ident, quote_literal};

// Catalog OIDs of the system catalogs, fixed since forever (they are bootstrap OIDs); used
// for pg_depend.classid and pg_description.classoid without a regclass lookup per row.
const PG_CLASS: u32 = 1259;
const PG_TYPE: u32 = 1247;
const PG_PROC: u32 = 1255;
const PG_NAMESPACE: u32 = 2615;
const PG_CONSTRAINT: u32 = 2606;
const PG_TRIGGER: u32 = 2620;
const PG_POLICY: u32 = 3256;
const PG_REWRITE: u32 = 2618;
const PG_EXTENSION: u32 = 3079;
const PG_EVENT_TRIGGER: u32 = 3466;
const PG_COLLATION: u32 = 3456;
const PG_CAST: u32 = 2605;
const PG_STATISTIC_EXT: u32 = 3381;
const PG_FOREIGN_DATA_WRAPPER: u32 = 2328;
const PG_FOREIGN_SERVER: u32 = 1417;
const PG_PUBLICATION: u32 = 6104;

/// Schemas that are never user schema. `pg_toast%` also covers `pg_toast_temp_N`.
pub(super) const NS_FILTER: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     AND (cardinality($1::text[]) = 0 OR n.nspname = ANY ($1::text[])) \
     AND NOT (n.nspname = ANY ($2::text[]))";

/// Excludes objects that belong to an extension: they are recreated by CREATE EXTENSION.
/// `NOT IN` a subquery becomes one hashed scan of the (few) extension members, where a
/// correlated `NOT EXISTS` probes pg_depend once per object: 5,000 probes per kind on a
/// 5,000-table schema, each reading freshly written pages in a just-loaded database.
fn not_extension_member(classid: u32, objid: &str) -> String {
    format!(
        "{objid} NOT IN (SELECT dep.objid FROM pg_depend dep WHERE dep.classid = {classid} \
         AND dep.deptype = 'e')"
    )
}

/// [`not_extension_member`] for a query that reads a few objects: one index probe of
/// pg_depend each, where the hashed form reads every extension member first.
fn not_extension_member_probe(classid: u32, objid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = {classid} \
         AND dep.objid = {objid} AND dep.deptype = 'e')"
    )
}

/// The parameters a catalog query takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Params {
    None,
    /// $1, $2: the schemas to include and to exclude (`text[]`).
    Namespaces,
    /// As `Namespaces`, and $3: the relations to read (`oid[]`).
    Scoped,
    /// $1: relations (`oid[]`).
    Relations,
    /// $1: the transaction horizon of the previous stamp (`text`, an xid, or NULL).
    Horizon,
}

impl Params {
    fn types(self) -> &'static [Type] {
        match self {
            Params::None => &[],
            Params::Namespaces => &[Type::TEXT_ARRAY, Type::TEXT_ARRAY],
            Params::Scoped => &[Type::TEXT_ARRAY, Type::TEXT_ARRAY, Type::OID_ARRAY],
            Params::Relations => &[Type::OID_ARRAY],
            Params::Horizon => &[Type::TEXT],
        }
    }
}

/// The values bound to [`Params`].
#[derive(Debug, Clone, Default)]
pub(super) struct Bindings {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub relations: Vec<u32>,
    pub horizon: Option<String>,
}

impl Bindings {
    pub fn for_options(options: &InspectOptions) -> Bindings {
        Bindings {
            include: options.schemas.clone(),
            exclude: options.exclude_schemas.clone(),
            ..Bindings::default()
        }
    }

    fn values(&self, params: Params) -> Vec<&(dyn ToSql + Sync)> {
        match params {
            Params::None => Vec::new(),
            Params::Namespaces => vec![&self.include, &self.exclude],
            Params::Scoped => vec![&self.include, &self.exclude, &self.relations],
            Params::Relations => vec![&self.relations],
            Params::Horizon => vec![&self.horizon],
        }
    }
}

/// One catalog query, named for errors and for finding its rows.
pub(super) struct Query {
    pub name: &'static str,
    pub sql: String,
    pub params: Params,
}

/// The catalog queries. `scoped`: only the queries of relation-level objects (tables,
/// views, sequences and what hangs off them), each limited to the relations in $3 —
/// what an incremental inspection reads again (see `super::incremental`).
pub(super) fn queries(version: i32, scoped: bool) -> Vec<Query> {
    let q = |name: &'static str, sql: String| Query {
        name,
        sql,
        params: if scoped {
            Params::Scoped
        } else {
            Params::Namespaces
        },
    };
    // Scoped queries read a few relations: probe for extension membership per object.
    let not_member = |classid: u32, objid: &str| {
        if scoped {
            not_extension_member_probe(classid, objid)
        } else {
            not_extension_member(classid, objid)
        }
    };
    // The relation filter of the scoped queries.
    let only = |column: &str| {
        if scoped {
            format!(" AND {column} = ANY ($3::oid[])")
        } else {
            String::new()
        }
    };
    // Cloned partition triggers carry tgparentid since 13. A clone is shown only when its
    // enabled state differs from the parent trigger's (`ALTER TABLE partition DISABLE
    // TRIGGER ...`), as pg_dump does. Before 15 clones are internal (tgisinternal), like
    // the clones of foreign-key triggers (which have a constraint), never shown.
    let (trigger_filter, trigger_cloned) = if version >= 130000 {
        (
            "((t.tgparentid = 0 AND NOT t.tgisinternal) \
              OR (t.tgparentid <> 0 AND NOT (t.tgisinternal AND t.tgconstraint <> 0) \
                  AND t.tgenabled <> (SELECT pt.tgenabled FROM pg_trigger pt WHERE pt.oid = t.tgparentid)))",
            "t.tgparentid <> 0",
        )
    } else {
        ("NOT t.tgisinternal", "false")
    };
    // The ICU/builtin locale moved from colliculocale (15, 16) to colllocale (17); before
    // 15 an ICU collation kept its locale in collcollate.
    let collation_locale = if version >= 170000 {
        "c.colllocale"
    } else if version >= 150000 {
        "c.colliculocale"
    } else {
        "CASE WHEN c.collprovider = 'i' THEN c.collcollate::text END"
    };
    let collation_rules = if version >= 160000 {
        "c.collicurules"
    } else {
        "NULL::text"
    };
    let pub_via_root = if version >= 130000 {
        "p.pubviaroot"
    } else {
        "false"
    };
    // Row filters and column lists (15+).
    let pub_table = if version >= 150000 {
        "format('%I.%I', tn.nspname, tc.relname) \
         || CASE WHEN pr.prattrs IS NOT NULL THEN ' (' || (SELECT string_agg(quote_ident(a.attname), ', ' \
           ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = pr.prrelid \
           AND a.attnum = ANY (pr.prattrs)) || ')' ELSE '' END \
         || CASE WHEN pr.prqual IS NOT NULL THEN ' WHERE (' || pg_get_expr(pr.prqual, pr.prrelid) || ')' \
           ELSE '' END"
    } else {
        "format('%I.%I', tn.nspname, tc.relname)"
    };
    let (pub_schemas, pub_schema_filter) = if version >= 150000 {
        (
            "ARRAY(SELECT pn.nspname::text FROM pg_publication_namespace pnn \
             JOIN pg_namespace pn ON pn.oid = pnn.pnnspid WHERE pnn.pnpubid = p.oid)",
            format!(
                "OR EXISTS (SELECT 1 FROM pg_publication_namespace pnn \
                 JOIN pg_namespace n ON n.oid = pnn.pnnspid WHERE pnn.pnpubid = p.oid AND {NS_FILTER})"
            ),
        )
    } else {
        ("'{}'::text[]", String::new())
    };
    // 18 keeps NOT NULL as a pg_constraint row (contype 'n') with a name and flags. Its
    // name counts only when it is not the default and the constraint is the column's own
    // (an inherited one is named after the parent's, whichever way the child was made).
    let (not_null_join, not_null_columns) = if version >= 180000 {
        (
            "LEFT JOIN pg_constraint nn ON nn.conrelid = a.attrelid AND nn.contype = 'n' \
             AND nn.conkey[1] = a.attnum",
            "CASE WHEN nn.conislocal AND nn.conname <> c.relname || '_' || a.attname || '_not_null' \
               THEN nn.conname::text END, coalesce(nn.connoinherit, false), \
             NOT coalesce(nn.convalidated, true)",
        )
    } else {
        ("", "NULL::text, false, false")
    };
    let mut all = vec![
        q(
            "schemas",
            format!(
                "SELECT n.oid, n.nspname::text, pg_get_userbyid(n.nspowner)::text, n.nspacl::text[] \
                 FROM pg_namespace n WHERE {NS_FILTER} AND {}",
                not_extension_member(PG_NAMESPACE, "n.oid")
            ),
        ),
        q(
            "extensions",
            format!(
                "SELECT e.oid, e.extname::text, e.extversion, n.nspname::text \
                 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE {NS_FILTER}"
            ),
        ),
        q(
            "types",
            format!(
                "SELECT t.oid, n.nspname::text, t.typname::text, t.typtype::text, t.typrelid, \
                   CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e \
                     WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END, \
                   CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END, \
                   t.typnotnull, pg_get_expr(t.typdefaultbin, 0), \
                   dco.collname::text, dcn.nspname::text, \
                   format_type(r.rngsubtype, NULL), \
                   CASE WHEN NOT opc.opcdefault THEN opc.opcname::text END, opcn.nspname::text, \
                   rco.collname::text, rcn.nspname::text, \
                   nullif(r.rngcanonical::oid, 0)::regproc::text, \
                   nullif(r.rngsubdiff::oid, 0)::regproc::text, \
                   pg_get_userbyid(t.typowner)::text, t.typacl::text[] \
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 LEFT JOIN pg_type bt ON bt.oid = t.typbasetype \
                 LEFT JOIN pg_collation dco ON dco.oid = t.typcollation AND t.typtype = 'd' \
                   AND t.typcollation <> bt.typcollation \
                 LEFT JOIN pg_namespace dcn ON dcn.oid = dco.collnamespace \
                 LEFT JOIN pg_range r ON r.rngtypid = t.oid \
                 LEFT JOIN pg_type st ON st.oid = r.rngsubtype \
                 LEFT JOIN pg_opclass opc ON opc.oid = r.rngsubopc \
                 LEFT JOIN pg_namespace opcn ON opcn.oid = opc.opcnamespace \
                 LEFT JOIN pg_collation rco ON rco.oid = r.rngcollation \
                   AND r.rngcollation <> st.typcollation \
                 LEFT JOIN pg_namespace rcn ON rcn.oid = rco.collnamespace \
                 WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND EXISTS \
                   (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))) \
                   AND {NS_FILTER} AND {}",
                not_extension_member(PG_TYPE, "t.oid")
            ),
        ),
        q(
            "sequences",
            format!(
                "SELECT c.oid, n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL), \
                   s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
                   d.refobjid, d.refobjsubid::int4, d.deptype::text, \
                   dn.nspname::text, dc.relname::text, da.attname::text, \
                   pg_get_userbyid(c.relowner)::text, c.relacl::text[] \
                 FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_depend d ON d.classid = {PG_CLASS} AND d.objid = c.oid \
                   AND d.refclassid = {PG_CLASS} AND d.deptype IN ('a', 'i') \
                 LEFT JOIN pg_class dc ON dc.oid = d.refobjid \
                 LEFT JOIN pg_namespace dn ON dn.oid = dc.relnamespace \
                 LEFT JOIN pg_attribute da ON da.attrelid = d.refobjid AND da.attnum = d.refobjsubid \
                 WHERE {NS_FILTER} AND {}{}",
                not_member(PG_CLASS, "c.oid"),
                // An identity sequence is in $3 with its table (see `super::incremental`).
                only("c.oid")
            ),
        ),
        q(
            "relations",
            format!(
                "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, \
                   c.relpersistence::text, c.relrowsecurity, c.relforcerowsecurity, \
                   coalesce(c.reloptions, '{{}}')::text[], \
                   CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, \
                   CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END, \
                   CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END, \
                   ARRAY(SELECT pn.nspname::text FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent \
                     JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid ORDER BY i.inhseqno), \
                   ARRAY(SELECT pc.relname::text FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent \
                     WHERE i.inhrelid = c.oid ORDER BY i.inhseqno), \
                   c.relispartition, am.amname::text, \
                   pg_get_userbyid(c.relowner)::text, c.relacl::text[], c.relreplident::text, \
                   CASE WHEN c.relreplident = 'i' THEN (SELECT ric.relname::text FROM pg_index ri \
                     JOIN pg_class ric ON ric.oid = ri.indexrelid \
                     WHERE ri.indrelid = c.oid AND ri.indisreplident) END, \
                   (SELECT cic.relname::text FROM pg_index ci JOIN pg_class cic ON cic.oid = ci.indexrelid \
                     WHERE ci.indrelid = c.oid AND ci.indisclustered LIMIT 1), \
                   fs.srvname::text, coalesce(ft.ftoptions, '{{}}')::text[] \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_am am ON am.oid = c.relam \
                 LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid \
                 LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {NS_FILTER} AND {}{}",
                not_member(PG_CLASS, "c.oid"),
                only("c.oid")
            ),
        ),
        // pg_get_expr with a relation builds a deparse context for it (opening the
        // relation); only generation expressions can hold column references, so defaults
        // pass 0. That halves the cost of this query on 5,000 fresh tables.
        q(
            "columns",
            format!(
                "SELECT a.attrelid, a.attnum::int4, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                   a.attnotnull, a.attidentity::text, a.attgenerated::text, \
                   pg_get_expr(ad.adbin, CASE WHEN a.attgenerated <> '' THEN ad.adrelid ELSE 0 END), \
                   co.collname::text, cn.nspname::text, \
                   a.attacl::text[], \
                   CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int4 END, \
                   CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END, \
                   {not_null_columns} \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_type t ON t.oid = a.atttypid \
                 LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
                 LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> t.typcollation \
                 LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace \
                 {not_null_join} \
                 WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f') \
                   AND {NS_FILTER}{}",
                only("a.attrelid")
            ),
        ),
        q(
            "constraints",
            format!(
                "SELECT co.oid, co.conrelid, co.contypid, co.conname::text, co.contype::text, \
                   pg_get_constraintdef(co.oid), co.condeferrable, co.condeferred, co.convalidated, \
                   co.conislocal, co.conparentid <> 0 \
                 FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace \
                 WHERE co.contype IN ('p', 'u', 'f', 'c', 'x') AND {NS_FILTER}{}",
                only("co.conrelid")
            ),
        ),
        q(
            "indexes",
            format!(
                "SELECT i.indexrelid, i.indrelid, ic.relname::text, am.amname::text, i.indisunique, \
                   pg_get_indexdef(i.indexrelid), \
                   CASE WHEN i.indpred IS NOT NULL THEN pg_get_expr(i.indpred, i.indrelid) END \
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
                 JOIN pg_namespace n ON n.oid = ic.relnamespace \
                 JOIN pg_am am ON am.oid = ic.relam \
                 WHERE NOT ic.relispartition AND NOT EXISTS (SELECT 1 FROM pg_constraint co \
                   WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid \
                   AND co.contype IN ('p', 'u', 'x')) AND {NS_FILTER}{}",
                only("i.indrelid")
            ),
        ),
        // Routines with an internal dependency (range and multirange constructors) are
        // created by their type, not by the user.
        q(
            "functions",
            format!(
                "SELECT p.oid, n.nspname::text, p.proname::text, \
                   pg_get_function_identity_arguments(p.oid), p.prokind::text, \
                   CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) \
                     ELSE pg_get_function_arguments(p.oid) END, \
                   pg_get_userbyid(p.proowner)::text, p.proacl::text[], \
                   a.aggkind::text, a.aggtransfn::text, format_type(a.aggtranstype, NULL), \
                   a.aggtransspace, nullif(a.aggfinalfn::oid, 0)::regproc::text, a.aggfinalextra, \
                   a.aggfinalmodify::text, nullif(a.aggcombinefn::oid, 0)::regproc::text, \
                   nullif(a.aggserialfn::oid, 0)::regproc::text, \
                   nullif(a.aggdeserialfn::oid, 0)::regproc::text, a.agginitval, \
                   nullif(a.aggmtransfn::oid, 0)::regproc::text, \
                   nullif(a.aggminvtransfn::oid, 0)::regproc::text, \
                   CASE WHEN a.aggmtranstype <> 0 THEN format_type(a.aggmtranstype, NULL) END, \
                   a.aggmtransspace, nullif(a.aggmfinalfn::oid, 0)::regproc::text, a.aggmfinalextra, \
                   a.aggmfinalmodify::text, a.aggminitval, \
                   op.oprname::text, opn.nspname::text, p.proparallel::text \
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid \
                 LEFT JOIN pg_operator op ON op.oid = a.aggsortop \
                 LEFT JOIN pg_namespace opn ON opn.oid = op.oprnamespace \
                 WHERE {NS_FILTER} AND {} \
                   AND NOT EXISTS (SELECT 1 FROM pg_depend idep WHERE idep.classid = {PG_PROC} \
                     AND idep.objid = p.oid AND idep.deptype = 'i')",
                not_extension_member(PG_PROC, "p.oid")
            ),
        ),
        q(
            "triggers",
            format!(
                "SELECT t.oid, t.tgrelid, t.tgname::text, pg_get_triggerdef(t.oid, false), \
                   t.tgenabled::text, {trigger_cloned} \
                 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE {trigger_filter} AND {NS_FILTER}{}",
                only("t.tgrelid")
            ),
        ),
        q(
            "policies",
            format!(
                "SELECT p.oid, p.polrelid, p.polname::text, p.polpermissive, p.polcmd::text, \
                   ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END \
                     FROM unnest(p.polroles) AS r), \
                   pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) \
                 FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {NS_FILTER}{}",
                only("p.polrelid")
            ),
        ),
        q(
            "rules",
            format!(
                "SELECT r.oid, r.ev_class, r.rulename::text, pg_get_ruledef(r.oid), r.ev_enabled::text \
                 FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE r.rulename <> '_RETURN' AND {NS_FILTER}{}",
                only("r.ev_class")
            ),
        ),
        q(
            "event triggers",
            format!(
                "SELECT e.oid, e.evtname::text, e.evtevent::text, n.nspname::text, p.proname::text, \
                   e.evtenabled::text, coalesce(e.evttags, '{{}}')::text[], \
                   pg_get_userbyid(e.evtowner)::text \
                 FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid \
                 JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {NS_FILTER} AND {}",
                not_extension_member(PG_EVENT_TRIGGER, "e.oid")
            ),
        ),
        q(
            "collations",
            format!(
                "SELECT c.oid, n.nspname::text, c.collname::text, c.collprovider::text, \
                   {collation_locale}, c.collcollate::text, c.collctype::text, {collation_rules}, \
                   c.collisdeterministic, pg_get_userbyid(c.collowner)::text \
                 FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace \
                 WHERE {NS_FILTER} AND {}",
                not_extension_member(PG_COLLATION, "c.oid")
            ),
        ),
        // Casts are not in a schema: one is read when its function or one of its types is
        // in a dumped schema. Built-in casts have OIDs below 16384; range-to-multirange
        // casts come with the range type (their function is internal to it).
        q(
            "casts",
            format!(
                "SELECT c.oid, format_type(c.castsource, NULL), format_type(c.casttarget, NULL), \
                   c.castmethod::text, \
                   CASE WHEN c.castfunc <> 0 THEN c.castfunc::regprocedure::text END, \
                   c.castcontext::text \
                 FROM pg_cast c JOIN pg_type st ON st.oid = c.castsource \
                 JOIN pg_type tt ON tt.oid = c.casttarget \
                 LEFT JOIN pg_proc p ON p.oid = c.castfunc \
                 WHERE c.oid >= 16384 AND {} AND EXISTS (SELECT 1 FROM pg_namespace n \
                   WHERE n.oid IN (st.typnamespace, tt.typnamespace, p.pronamespace) \
                   AND {NS_FILTER}) \
                   AND NOT EXISTS (SELECT 1 FROM pg_depend idep WHERE idep.classid = {PG_PROC} \
                     AND idep.objid = c.castfunc AND idep.deptype = 'i')",
                not_extension_member(PG_CAST, "c.oid")
            ),
        ),
        q(
            "statistics",
            format!(
                "SELECT s.oid, s.stxrelid, n.nspname::text, s.stxname::text, \
                   pg_get_statisticsobjdef(s.oid), \
                   CASE WHEN s.stxstattarget >= 0 THEN s.stxstattarget::int4 END, \
                   pg_get_userbyid(s.stxowner)::text \
                 FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace \
                 WHERE {NS_FILTER} AND {}{}",
                not_member(PG_STATISTIC_EXT, "s.oid"),
                only("s.stxrelid")
            ),
        ),
        // Wrappers and servers are not in a schema; the filters do not apply to them.
        Query {
            name: "foreign data wrappers",
            sql: format!(
                "SELECT w.oid, w.fdwname::text, nullif(w.fdwhandler::oid, 0)::regproc::text, \
                   nullif(w.fdwvalidator::oid, 0)::regproc::text, \
                   coalesce(w.fdwoptions, '{{}}')::text[], pg_get_userbyid(w.fdwowner)::text \
                 FROM pg_foreign_data_wrapper w WHERE {}",
                not_extension_member(PG_FOREIGN_DATA_WRAPPER, "w.oid")
            ),
            params: Params::None,
        },
        Query {
            name: "foreign servers",
            sql: format!(
                "SELECT s.oid, s.srvname::text, w.fdwname::text, s.srvtype, s.srvversion, \
                   coalesce(s.srvoptions, '{{}}')::text[], pg_get_userbyid(s.srvowner)::text \
                 FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw \
                 WHERE {}",
                not_extension_member(PG_FOREIGN_SERVER, "s.oid")
            ),
            params: Params::None,
        },
        // A publication is read when no schema filter is given, or when one of its
        // tables or schemas is in a dumped schema.
        q(
            "publications",
            format!(
                "SELECT p.oid, p.pubname::text, p.puballtables, p.pubinsert, p.pubupdate, \
                   p.pubdelete, p.pubtruncate, {pub_via_root}, \
                   ARRAY(SELECT {pub_table} FROM pg_publication_rel pr \
                     JOIN pg_class tc ON tc.oid = pr.prrelid \
                     JOIN pg_namespace tn ON tn.oid = tc.relnamespace WHERE pr.prpubid = p.oid), \
                   {pub_schemas}, pg_get_userbyid(p.pubowner)::text \
                 FROM pg_publication p \
                 WHERE {} AND ((cardinality($1::text[]) = 0 AND cardinality($2::text[]) = 0) \
                   OR EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_class c ON c.oid = pr.prrelid \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE pr.prpubid = p.oid AND {NS_FILTER}) {pub_schema_filter})",
                not_extension_member(PG_PUBLICATION, "p.oid")
            ),
        ),
        // Comments on user objects only (built-in objects have OIDs below 16384); rows
        // for objects that are not in the model are simply never looked up.
        Query {
            name: "comments",
            sql: "SELECT d.classoid, d.objoid, d.objsubid, d.description \
                  FROM pg_description d WHERE d.objoid >= 16384"
                .to_string(),
            params: Params::None,
        },
    ];
    if scoped {
        all.retain(|query| RELATION_LEVEL.contains(&query.name));
    }
    all
}

/// The queries of relation-level objects: all an incremental inspection reads again.
const RELATION_LEVEL: &[&str] = &[
    "sequences",
    "relations",
    "columns",
    "constraints",
    "indexes",
    "triggers",
    "policies",
    "rules",
    "statistics",
    "comments",
];

pub(super) fn query_error(query: &'static str, source: tokio_postgres::Error) -> CatalogError {
    let message = match source.as_db_error() {
        Some(db) => db.message().to_string(),
        None => source.to_string(),
    };
    CatalogError::Query {
        query,
        message,
        source,
    }
}

/// Reads column `idx` of a row; a type mismatch is an error naming the query.
fn get<'a, T: FromSql<'a>>(
    query: &'static str,
    row: &'a Row,
    idx: usize,
) -> Result<T, CatalogError> {
    row.try_get(idx)
        .map_err(|source| query_error(query, source))
}

/// Runs `query` with its parameters from `bindings`, as text or as the statement it
/// was prepared as (repeated inspections skip parsing and planning).
pub(super) async fn run(
    client: &Client,
    query: &Query,
    prepared: Option<&Statement>,
    bindings: &Bindings,
) -> Result<Vec<Row>, CatalogError> {
    let values = bindings.values(query.params);
    let result = match prepared {
        Some(statement) => client.query(statement, &values).await,
        None => {
            // query_typed skips the separate prepare round trip: the types are given.
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = values
                .iter()
                .copied()
                .zip(query.params.types().iter().cloned())
                .collect();
            client.query_typed(&query.sql, &typed).await
        }
    };
    result.map_err(|e| query_error(query.name, e))
}

/// Prepares `queries` on `client` (one pipelined round of PREPAREs).
pub(super) async fn prepare(
    client: &Client,
    queries: &[Query],
) -> Result<Vec<Statement>, CatalogError> {
    try_join_all(queries.iter().map(|q| async move {
        client
            .prepare_typed(&q.sql, q.params.types())
            .await
            .map_err(|e| query_error(q.name, e))
    }))
    .await
}

/// One REPEATABLE READ snapshot makes all queries see the same catalog state even while
/// DDL runs concurrently. search_path = pg_catalog makes format_type, regproc and the
/// pg_get_* functions qualify every name outside pg_catalog, so the text does not
/// depend on the caller's search_path. Generic plans would read every catalog row for
/// the `= ANY ($3)` filters of scoped queries; custom plans use the indexes.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                              SET LOCAL search_path = pg_catalog; \
                              SET LOCAL quote_all_identifiers = off; \
                              SET LOCAL plan_cache_mode = force_custom_plan; \
                              SELECT current_setting('server_version_num')";

/// Opens the snapshot; returns the server version.
pub(super) async fn begin_snapshot(client: &Client) -> Result<i32, CatalogError> {
    let messages = client
        .simple_query(BEGIN_SNAPSHOT)
        .await
        .map_err(|e| query_error("begin snapshot", e))?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse::<i32>().ok()),
            _ => None,
        })
        .ok_or(CatalogError::Version)
}

/// Ends the snapshot whatever `result` is, and returns `result` (its error first).
pub(super) async fn end_snapshot<T>(
    client: &Client,
    result: Result<T, CatalogError>,
) -> Result<T, CatalogError> {
    // Read-only: COMMIT and ROLLBACK are equivalent; ROLLBACK also ends a failed one.
    let end = client
        .batch_execute("ROLLBACK")
        .await
        .map_err(|e| query_error("end snapshot", e));
    let value = result?;
    end?;
    Ok(value)
}

/// Entry point behind `catalog::inspect`: opens the snapshot, reads, closes it.
pub(super) async fn inspect(
    client: &Client,
    options: &InspectOptions,
) -> Result<(Schema, i32), CatalogError> {
    inspect_shared(client, &[], options).await
}

/// Reads over `client` and every client in `more` (connections to the same database) at
/// once, sharing one snapshot (see [`shared_snapshot`]).
pub(super) async fn inspect_shared(
    first: &Client,
    others: &[&Client],
    options: &InspectOptions,
) -> Result<(Schema, i32), CatalogError> {
    let (read, version) = shared_snapshot(first, others, |version, clients| async move {
        let queries = queries(version, false);
        let mut rows = run_all(&clients, &queries, None, &Bindings::for_options(options)).await?;
        assemble(&mut rows, options)
    })
    .await?;
    let mut schema = read.schema;
    schema.server_major = ServerMajor::from_version_num(version);
    Ok((schema, version))
}

/// Runs `work` in a snapshot opened on `first` and shared with every client in `others`:
/// `first` exports its snapshot and the others import it, as `pg_dump --jobs` does, so
/// all queries see one catalog state while the server runs them on several backends. On
/// a just-loaded 5,000-table schema one backend spends about 550 ms in the catalog
/// queries; two backends on two cores finish in little more than half that.
pub(super) async fn shared_snapshot<'c, T, F, Fut>(
    first: &'c Client,
    others: &[&'c Client],
    work: F,
) -> Result<(T, i32), CatalogError>
where
    F: FnOnce(i32, Vec<&'c Client>) -> Fut,
    Fut: std::future::Future<Output = Result<T, CatalogError>>,
{
    let version = begin_snapshot(first).await?;
    let mut joined = Vec::new();
    let result = async {
        check_version(version)?;
        if !others.is_empty() {
            let snapshot: String = first
                .query_one("SELECT pg_export_snapshot()", &[])
                .await
                .map_err(|e| query_error("export snapshot", e))?
                .get(0);
            for &other in others {
                // Recorded before the attempt: a failed BEGIN leaves nothing open, a
                // failed SET TRANSACTION SNAPSHOT an aborted transaction to roll back.
                joined.push(other);
                import_snapshot(other, &snapshot).await?;
            }
        }
        let all: Vec<&Client> = std::iter::once(first)
            .chain(joined.iter().copied())
            .collect();
        work(version, all).await
    }
    .await;
    let mut result = result;
    for &other in &joined {
        result = end_snapshot(other, result).await;
    }
    Ok((end_snapshot(first, result).await?, version))
}

/// Joins the transaction snapshot `snapshot` exported by another session.
async fn import_snapshot(client: &Client, snapshot: &str) -> Result<(), CatalogError> {
    // SET TRANSACTION SNAPSHOT must come before any query of the transaction.
    let sql = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
         SET TRANSACTION SNAPSHOT {}; \
         SET LOCAL search_path = pg_catalog; \
         SET LOCAL quote_all_identifiers = off",
        quote_literal(snapshot)
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| query_error("import snapshot", e))
}

pub(super) fn check_version(version: i32) -> Result<(), CatalogError> {
    if version < 120000 {
        return Err(CatalogError::Unsupported(version));
    }
    Ok(())
}

/// Which client runs each query: heaviest first, each to the least loaded client
/// (longest-processing-time scheduling), by [`cost`].
fn assign(queries: &[Query], clients: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(queries[i].name)));
    let mut load = vec![0u32; clients.max(1)];
    let mut owner = vec![0; queries.len()];
    for i in order {
        let least = (0..load.len()).min_by_key(|&c| load[c]).unwrap_or(0);
        owner[i] = least;
        load[least] += cost(queries[i].name);
    }
    owner
}

/// Relative server time of each query: milliseconds measured on a just-loaded
/// 5,000-table schema (one index, constraint and sequence or two per table).
fn cost(name: &str) -> u32 {
    match name {
        "constraints" => 150,
        "indexes" => 145,
        "columns" => 80,
        "relations" => 70,
        "sequences" => 55,
        "stamp more" => 35,
        "stamp" => 25,
        "stamp global" => 10,
        "triggers" => 30,
        "members" => 25,
        "types" => 20,
        _ => 1,
    }
}

/// Runs `queries` spread over `clients` (each pipelines its share in order; the clients
/// run side by side); `prepared`, when given, holds one statement per query, prepared
/// on the first client (the others send the text). The rows come back by query name.
pub(super) async fn run_all(
    clients: &[&Client],
    queries: &[Query],
    prepared: Option<&[Statement]>,
    bindings: &Bindings,
) -> Result<HashMap<&'static str, Vec<Row>>, CatalogError> {
    let owner = assign(queries, clients.len());
    let results = try_join_all(queries.iter().enumerate().map(|(i, query)| {
        let statement = prepared
            .filter(|_| owner[i] == 0)
            .map(|statements| &statements[i]);
        run(clients[owner[i]], query, statement, bindings)
    }))
    .await?;
    Ok(queries.iter().map(|q| q.name).zip(results).collect())
}

/// A schema as read, with the OID of every relation and sequence in it (the incremental
/// inspection keeps them to know which objects to replace).
pub(super) struct Read {
    pub schema: Schema,
    pub relations: Vec<(u32, QualifiedName)>,
}

/// Assembles the rows of the catalog queries (taken out of `rows` by name; a query not
/// run reads as no rows) into the model.
pub(super) fn assemble(
    rows: &mut HashMap<&'static str, Vec<Row>>,
    options: &InspectOptions,
) -> Result<Read, CatalogError> {
    let mut take = |name: &'static str| rows.remove(name).unwrap_or_default();
    let rows = RawRows {
        schemas: take("schemas"),
        extensions: take("extensions"),
        types: take("types"),
        sequences: take("sequences"),
        relations: take("relations"),
        columns: take("columns"),
        constraints: take("constraints"),
        indexes: take("indexes"),
        functions: take("functions"),
        triggers: take("triggers"),
        policies: take("policies"),
        rules: take("rules"),
        event_triggers: take("event triggers"),
        collations: take("collations"),
        casts: take("casts"),
        statistics: take("statistics"),
        foreign_data_wrappers: take("foreign data wrappers"),
        foreign_servers: take("foreign servers"),
        publications: take("publications"),
        comments: take("comments"),
    };
    assemble_rows(rows, options)
}

struct RawRows {
    schemas: Vec<Row>,
    extensions: Vec<Row>,
    types: Vec<Row>,
    sequences: Vec<Row>,
    relations: Vec<Row>,
    columns: Vec<Row>,
    constraints: Vec<Row>,
    indexes: Vec<Row>,
    functions: Vec<Row>,
    triggers: Vec<Row>,
    policies: Vec<Row>,
    rules: Vec<Row>,
    event_triggers: Vec<Row>,
    collations: Vec<Row>,
    casts: Vec<Row>,
    statistics: Vec<Row>,
    foreign_data_wrappers: Vec<Row>,
    foreign_servers: Vec<Row>,
    publications: Vec<Row>,
    comments: Vec<Row>,
}

/// `pg_description`, keyed by (catalog, object, sub-object).
struct Comments(HashMap<(u32, u32, i32), String>);

impl Comments {
    fn take(&mut self, class: u32, oid: u32, sub: i32) -> Option<String> {
        self.0.remove(&(class, oid, sub))
    }
}

/// Which optional parts the options ask for.
struct Extras {
    owners: bool,
    grants: bool,
}

impl Extras {
    fn owner(&self, owner: Option<String>) -> Option<String> {
        if self.owners {
            owner
        } else {
            None
        }
    }
    fn acl(&self, acl: Option<Vec<String>>) -> Vec<String> {
        if !self.grants {
            return Vec::new();
        }
        let mut acl = acl.unwrap_or_default();
        // aclitem order reflects the order of GRANTs: not part of the schema.
        acl.sort();
        acl
    }
}

/// A relation being assembled, before it is split into tables and views.
struct Rel {
    name: QualifiedName,
    kind: String,
    unlogged: bool,
    row_security: bool,
    force_row_security: bool,
    options: Vec<String>,
    partition_key: Option<String>,
    partition_bound: Option<String>,
    view_definition: Option<String>,
    parents: Vec<QualifiedName>,
    is_partition: bool,
    access_method: Option<String>,
    replica_identity: Option<String>,
    cluster_on: Option<String>,
    /// Foreign tables: the server and the options.
    server: Option<String>,
    foreign_options: Vec<String>,
    owner: Option<String>,
    acl: Vec<String>,
    columns: Vec<(i32, Column)>,
    constraints: Vec<Constraint>,
    comment: Option<String>,
}

fn sequence_options(
    q: &'static str,
    row: &Row,
    first: usize,
) -> Result<SequenceOptions, CatalogError> {
    Ok(SequenceOptions {
        data_type: get(q, row, first)?,
        start: get(q, row, first + 1)?,
        increment: get(q, row, first + 2)?,
        min: get(q, row, first + 3)?,
        max: get(q, row, first + 4)?,
        cache: get(q, row, first + 5)?,
        cycle: get(q, row, first + 6)?,
    })
}

fn constraint_kind(contype: &str) -> Option<ConstraintKind> {
    Some(match contype {
        "p" => ConstraintKind::PrimaryKey,
        "u" => ConstraintKind::Unique,
        "f" => ConstraintKind::ForeignKey,
        "c" => ConstraintKind::Check,
        "x" => ConstraintKind::Exclusion,
        _ => return None,
    })
}

fn enabled_state(code: &str) -> String {
    match code {
        "D" => "disabled",
        "R" => "replica",
        "A" => "always",
        _ => "origin",
    }
    .to_string()
}

fn collation(schema: Option<String>, name: Option<String>) -> Option<String> {
    match (schema, name) {
        (Some(schema), Some(name)) => Some(qualified_collation(&schema, &name)),
        _ => None,
    }
}

fn assemble_rows(rows: RawRows, options: &InspectOptions) -> Result<Read, CatalogError> {
    let extras = Extras {
        owners: options.owners,
        grants: options.grants,
    };
    let excluded: HashSet<(&str, &str)> = options
        .exclude_tables
        .iter()
        .map(|(s, t)| (s.as_str(), t.as_str()))
        .collect();

    let mut comments = {
        let q = "comments";
        let mut map = HashMap::with_capacity(rows.comments.len());
        for row in &rows.comments {
            let class: u32 = get(q, row, 0)?;
            let oid: u32 = get(q, row, 1)?;
            let sub: i32 = get(q, row, 2)?;
            map.insert((class, oid, sub), get::<String>(q, row, 3)?);
        }
        Comments(map)
    };

    let mut schema = Schema::default();
    let mut relations = Vec::new();

    let q = "schemas";
    for row in &rows.schemas {
        let oid: u32 = get(q, row, 0)?;
        schema.schemas.push(SchemaDef {
            name: get(q, row, 1)?,
            comment: comments.take(PG_NAMESPACE, oid, 0),
            owner: extras.owner(get(q, row, 2)?),
            acl: extras.acl(get(q, row, 3)?),
        });
    }

    let q = "extensions";
    for row in &rows.extensions {
        let oid: u32 = get(q, row, 0)?;
        schema.extensions.push(Extension {
            name: get(q, row, 1)?,
            version: get(q, row, 2)?,
            schema: get(q, row, 3)?,
            comment: comments.take(PG_EXTENSION, oid, 0),
        });
    }

    // Sequences: identity sequences become column properties, the others objects.
    let q = "sequences";
    let mut identities: HashMap<(u32, i32), (QualifiedName, SequenceOptions)> = HashMap::new();
    for row in &rows.sequences {
        let oid: u32 = get(q, row, 0)?;
        let name = QualifiedName::new(get::<String>(q, row, 1)?, get::<String>(q, row, 2)?);
        let opts = sequence_options(q, row, 3)?;
        let owner_rel: Option<u32> = get(q, row, 10)?;
        let owner_att: Option<i32> = get(q, row, 11)?;
        let deptype: Option<String> = get(q, row, 12)?;
        let owner_schema: Option<String> = get(q, row, 13)?;
        let owner_table: Option<String> = get(q, row, 14)?;
        let owner_column: Option<String> = get(q, row, 15)?;
        if let (Some(rel), Some(att), Some("i")) = (owner_rel, owner_att, deptype.as_deref()) {
            identities.insert((rel, att), (name, opts));
            continue;
        }
        let owned_by = match (owner_schema, owner_table, owner_column) {
            (Some(s), Some(t), Some(c)) => Some((QualifiedName::new(s, t), c)),
            _ => None,
        };
        // A sequence owned by an excluded table (retort_history's serial) goes with it.
        if let Some((table, _)) = &owned_by {
            if excluded.contains(&(table.schema.as_str(), table.name.as_str())) {
                continue;
            }
        }
        relations.push((oid, name.clone()));
        schema.sequences.push(Sequence {
            name,
            options: opts,
            owned_by,
            comment: comments.take(PG_CLASS, oid, 0),
            owner: extras.owner(get(q, row, 16)?),
            acl: extras.acl(get(q, row, 17)?),
        });
    }

    // Relations, keyed by OID so columns, constraints, indexes... can find them.
    let q = "relations";
    let mut rels: HashMap<u32, Rel> = HashMap::with_capacity(rows.relations.len());
    for row in &rows.relations {
        let oid: u32 = get(q, row, 0)?;
        let name = QualifiedName::new(get::<String>(q, row, 1)?, get::<String>(q, row, 2)?);
        if excluded.contains(&(name.schema.as_str(), name.name.as_str())) {
            continue;
        }
        let parent_schemas: Vec<String> = get(q, row, 11)?;
        let parent_names: Vec<String> = get(q, row, 12)?;
        let mut options: Vec<String> = get(q, row, 7)?;
        options.sort();
        let kind: String = get(q, row, 3)?;
        let access_method: Option<String> = get(q, row, 14)?;
        // Replica identity: 'd' (the primary key) is the default and not printed.
        let replica_identity = match get::<String>(q, row, 17)?.as_str() {
            "f" => Some("FULL".to_string()),
            "n" => Some("NOTHING".to_string()),
            "i" => get::<Option<String>>(q, row, 18)?
                .map(|index| format!("USING INDEX {}", quote_ident(&index))),
            _ => None,
        };
        rels.insert(
            oid,
            Rel {
                name,
                unlogged: get::<String>(q, row, 4)? == "u",
                row_security: get(q, row, 5)?,
                force_row_security: get(q, row, 6)?,
                options,
                partition_key: get(q, row, 8)?,
                partition_bound: get(q, row, 9)?,
                view_definition: get(q, row, 10)?,
                parents: parent_schemas
                    .into_iter()
                    .zip(parent_names)
                    .map(|(s, n)| QualifiedName::new(s, n))
                    .collect(),
                is_partition: get(q, row, 13)?,
                // Only tables have a meaningful access method; heap is the default.
                access_method: access_method
                    .filter(|am| am != "heap" && (kind == "r" || kind == "m")),
                kind,
                replica_identity,
                cluster_on: get(q, row, 19)?,
                server: get(q, row, 20)?,
                foreign_options: sorted(get(q, row, 21)?),
                owner: extras.owner(get(q, row, 15)?),
                acl: extras.acl(get(q, row, 16)?),
                columns: Vec::new(),
                constraints: Vec::new(),
                comment: comments.take(PG_CLASS, oid, 0),
            },
        );
    }

    // Types. Composite attributes come from the columns query (relkind 'c').
    let q = "types";
    let mut domains: HashMap<u32, Domain> = HashMap::new();
    let mut composites: HashMap<u32, (CompositeType, Vec<(i32, Column)>)> = HashMap::new();
    for row in &rows.types {
        let oid: u32 = get(q, row, 0)?;
        let name = QualifiedName::new(get::<String>(q, row, 1)?, get::<String>(q, row, 2)?);
        let typtype: String = get(q, row, 3)?;
        let comment = comments.take(PG_TYPE, oid, 0);
        let owner = extras.owner(get(q, row, 18)?);
        let acl = extras.acl(get(q, row, 19)?);
        match typtype.as_str() {
            "e" => schema.enums.push(EnumType {
                name,
                labels: get::<Option<Vec<String>>>(q, row, 5)?.unwrap_or_default(),
                comment,
                owner,
                acl,
            }),
            "d" => {
                domains.insert(
                    oid,
                    Domain {
                        name,
                        base_type: get::<Option<String>>(q, row, 6)?.unwrap_or_default(),
                        not_null: get(q, row, 7)?,
                        default: get(q, row, 8)?,
                        collation: collation(get(q, row, 10)?, get(q, row, 9)?),
                        checks: Vec::new(),
                        comment,
                        owner,
                        acl,
                    },
                );
            }
            "r" => {
                let opclass = match (
                    get::<Option<String>>(q, row, 13)?,
                    get::<Option<String>>(q, row, 12)?,
                ) {
                    (Some(schema), Some(name)) => Some(qualified_name_text(&schema, &name)),
                    _ => None,
                };
                schema.ranges.push(RangeType {
                    name,
                    subtype: get::<Option<String>>(q, row, 11)?.unwrap_or_default(),
                    subtype_opclass: opclass,
                    collation: collation(get(q, row, 15)?, get(q, row, 14)?),
                    canonical: get(q, row, 16)?,
                    subtype_diff: get(q, row, 17)?,
                    comment,
                    owner,
                    acl,
                })
            }
            _ => {
                let relid: u32 = get(q, row, 4)?;
                composites.insert(
                    relid,
                    (
                        CompositeType {
                            name,
                            attributes: Vec::new(),
                            comment,
                            owner,
                            acl,
                        },
                        Vec::new(),
                    ),
                );
            }
        }
    }

    // Columns, attached to relations and composite types by OID.
    let q = "columns";
    for row in &rows.columns {
        let relid: u32 = get(q, row, 0)?;
        let attnum: i32 = get(q, row, 1)?;
        let in_rel = rels.contains_key(&relid);
        if !in_rel && !composites.contains_key(&relid) {
            continue;
        }
        let identity_code: String = get(q, row, 5)?;
        let generated_code: String = get(q, row, 6)?;
        let expr: Option<String> = get(q, row, 7)?;
        let identity = if identity_code.is_empty() {
            None
        } else {
            identities
                .remove(&(relid, attnum))
                .map(|(sequence, options)| Identity {
                    always: identity_code == "a",
                    sequence,
                    options,
                })
        };
        // 's' stored, 'v' virtual (18): the expression is the generation, not a default.
        let (default, generated) = if generated_code.is_empty() {
            (expr, None)
        } else {
            (None, expr)
        };
        let not_null_name: Option<String> = get(q, row, 13)?;
        let no_inherit: bool = get(q, row, 14)?;
        let not_valid: bool = get(q, row, 15)?;
        let not_null_constraint =
            (not_null_name.is_some() || no_inherit || not_valid).then_some(NotNullConstraint {
                name: not_null_name,
                no_inherit,
                not_valid,
            });
        let column = Column {
            name: get(q, row, 2)?,
            data_type: get(q, row, 3)?,
            collation: collation(get(q, row, 9)?, get(q, row, 8)?),
            not_null: get(q, row, 4)?,
            not_null_constraint,
            default,
            identity,
            generated,
            generated_virtual: generated_code == "v",
            comment: comments.take(PG_CLASS, relid, attnum),
            acl: extras.acl(get(q, row, 10)?),
            statistics: get(q, row, 11)?,
            storage: get::<Option<String>>(q, row, 12)?.map(|code| storage_name(&code)),
        };
        if let Some(rel) = rels.get_mut(&relid) {
            rel.columns.push((attnum, column));
        } else if let Some((_, attrs)) = composites.get_mut(&relid) {
            attrs.push((attnum, column));
        }
    }

    // Constraints: table constraints (local ones only) and domain checks.
    let q = "constraints";
    for row in &rows.constraints {
        let oid: u32 = get(q, row, 0)?;
        let relid: u32 = get(q, row, 1)?;
        let typid: u32 = get(q, row, 2)?;
        let contype: String = get(q, row, 4)?;
        let Some(kind) = constraint_kind(&contype) else {
            continue;
        };
        let is_local: bool = get(q, row, 9)?;
        let has_parent: bool = get(q, row, 10)?;
        // Inherited constraints and those cloned onto partitions are the parent's.
        if relid != 0 && (!is_local || has_parent) {
            continue;
        }
        let target_rel = rels.contains_key(&relid);
        let target_domain = domains.contains_key(&typid);
        if !target_rel && !target_domain {
            continue;
        }
        let constraint = Constraint {
            name: get(q, row, 3)?,
            kind,
            definition: get(q, row, 5)?,
            deferrable: get(q, row, 6)?,
            initially_deferred: get(q, row, 7)?,
            validated: get(q, row, 8)?,
            comment: comments.take(PG_CONSTRAINT, oid, 0),
        };
        if let Some(rel) = rels.get_mut(&relid) {
            rel.constraints.push(constraint);
        } else if let Some(domain) = domains.get_mut(&typid) {
            domain.checks.push(constraint);
        }
    }

    let q = "indexes";
    for row in &rows.indexes {
        let oid: u32 = get(q, row, 0)?;
        let relid: u32 = get(q, row, 1)?;
        let Some(rel) = rels.get(&relid) else {
            continue;
        };
        schema.indexes.push(Index {
            name: QualifiedName::new(rel.name.schema.clone(), get::<String>(q, row, 2)?),
            table: rel.name.clone(),
            method: get(q, row, 3)?,
            unique: get(q, row, 4)?,
            definition: get(q, row, 5)?,
            predicate: get(q, row, 6)?,
            comment: comments.take(PG_CLASS, oid, 0),
        });
    }

    let q = "functions";
    for row in &rows.functions {
        let oid: u32 = get(q, row, 0)?;
        let name = QualifiedName::new(get::<String>(q, row, 1)?, get::<String>(q, row, 2)?);
        let arguments: String = get(q, row, 3)?;
        let prokind: String = get(q, row, 4)?;
        let text: String = get::<Option<String>>(q, row, 5)?.unwrap_or_default();
        let (kind, definition) = match prokind.as_str() {
            "a" => (
                FunctionKind::Aggregate,
                aggregate_definition(row, &name, &text)?,
            ),
            "p" => (FunctionKind::Procedure, text.trim_end().to_string()),
            "w" => (FunctionKind::Window, text.trim_end().to_string()),
            _ => (FunctionKind::Function, text.trim_end().to_string()),
        };
        schema.functions.push(Function {
            name,
            arguments,
            kind,
            definition,
            comment: comments.take(PG_PROC, oid, 0),
            owner: extras.owner(get(q, row, 6)?),
            acl: extras.acl(get(q, row, 7)?),
        });
    }

    let q = "triggers";
    for row in &rows.triggers {
        let oid: u32 = get(q, row, 0)?;
        let relid: u32 = get(q, row, 1)?;
        let Some(rel) = rels.get(&relid) else {
            continue;
        };
        schema.triggers.push(Trigger {
            table: rel.name.clone(),
            name: get(q, row, 2)?,
            definition: get(q, row, 3)?,
            enabled: enabled_state(&get::<String>(q, row, 4)?),
            cloned: get(q, row, 5)?,
            comment: comments.take(PG_TRIGGER, oid, 0),
        });
    }

    let q = "policies";
    for row in &rows.policies {
        let oid: u32 = get(q, row, 0)?;
        let relid: u32 = get(q, row, 1)?;
        let Some(rel) = rels.get(&relid) else {
            continue;
        };
        let mut roles: Vec<String> = get(q, row, 5)?;
        roles.sort();
        let command = match get::<String>(q, row, 4)?.as_str() {
            "r" => "SELECT",
            "a" => "INSERT",
            "w" => "UPDATE",
            "d" => "DELETE",
            _ => "ALL",
        };
        schema.policies.push(Policy {
            table: rel.name.clone(),
            name: get(q, row, 2)?,
            permissive: get(q, row, 3)?,
            command: command.to_string(),
            roles,
            using: get(q, row, 6)?,
            with_check: get(q, row, 7)?,
            comment: comments.take(PG_POLICY, oid, 0),
        });
    }

    let q = "rules";
    for row in &rows.rules {
        let oid: u32 = get(q, row, 0)?;
        let relid: u32 = get(q, row, 1)?;
        let Some(rel) = rels.get(&relid) else {
            continue;
        };
        let definition: String = get(q, row, 3)?;
        schema.rules.push(Rule {
            table: rel.name.clone(),
            name: get(q, row, 2)?,
            definition: strip_semicolon(&definition),
            enabled: enabled_state(&get::<String>(q, row, 4)?),
            comment: comments.take(PG_REWRITE, oid, 0),
        });
    }

    let q = "event triggers";
    for row in &rows.event_triggers {
        let oid: u32 = get(q, row, 0)?;
        let mut tags: Vec<String> = get(q, row, 6)?;
        tags.sort();
        schema.event_triggers.push(EventTrigger {
            name: get(q, row, 1)?,
            event: get(q, row, 2)?,
            function: QualifiedName::new(get::<String>(q, row, 3)?, get::<String>(q, row, 4)?),
            enabled: enabled_state(&get::<String>(q, row, 5)?),
            tags,
            comment: comments.take(PG_EVENT_TRIGGER, oid, 0),
            owner: extras.owner(get(q, row, 7)?),
        });
    }

    let q = "collations";
    for row in &rows.collations {
        let oid: u32 = get(q, row, 0)?;
        let provider = match get::<String>(q, row, 3)?.as_str() {
            "i" => "icu",
            "b" => "builtin",
            _ => "libc",
        }
        .to_string();
        let libc = provider == "libc";
        let (lc_collate, lc_ctype) = if libc {
            (get(q, row, 5)?, get(q, row, 6)?)
        } else {
            (None, None)
        };
        schema.collations.push(Collation {
            name: QualifiedName::new(get::<String>(q, row, 1)?, get::<String>(q, row, 2)?),
            locale: if libc { None } else { get(q, row, 4)? },
            provider,
            lc_collate,
            lc_ctype,
            rules: get(q, row, 7)?,
            deterministic: get(q, row, 8)?,
            comment: comments.take(PG_COLLATION, oid, 0),
            owner: extras.owner(get(q, row, 9)?),
        });
    }

    let q = "casts";
    for row in &rows.casts {
        let oid: u32 = get(q, row, 0)?;
        let method = match get::<String>(q, row, 3)?.as_str() {
            "b" => "binary",
            "i" => "inout",
            _ => "function",
        };
        let context = match get::<String>(q, row, 5)?.as_str() {
            "a" => "assignment",
            "i" => "implicit",
            _ => "explicit",
        };
        schema.casts.push(Cast {
            source: get(q, row, 1)?,
            target: get(q, row, 2)?,
            method: method.to_string(),
            function: get(q, row, 4)?,
            context: context.to_string(),
            comment: comments.take(PG_CAST, oid, 0),
        });
    }

    let q = "statistics";
    for row in &rows.statistics {
        let oid: u32 = get(q, row, 0)?;
        let relid: u32 = get(q, row, 1)?;
        // Statistics on an excluded table go with it.
        let Some(rel) = rels.get(&relid) else {
            continue;
        };
        schema.statistics.push(Statistics {
            name: QualifiedName::new(get::<String>(q, row, 2)?, get::<String>(q, row, 3)?),
            table: rel.name.clone(),
            definition: get::<Option<String>>(q, row, 4)?.unwrap_or_default(),
            target: get(q, row, 5)?,
            comment: comments.take(PG_STATISTIC_EXT, oid, 0),
            owner: extras.owner(get(q, row, 6)?),
        });
    }

    let q = "foreign data wrappers";
    for row in &rows.foreign_data_wrappers {
        let oid: u32 = get(q, row, 0)?;
        schema.foreign_data_wrappers.push(ForeignDataWrapper {
            name: get(q, row, 1)?,
            handler: get(q, row, 2)?,
            validator: get(q, row, 3)?,
            options: sorted(get(q, row, 4)?),
            comment: comments.take(PG_FOREIGN_DATA_WRAPPER, oid, 0),
            owner: extras.owner(get(q, row, 5)?),
        });
    }

    let q = "foreign servers";
    for row in &rows.foreign_servers {
        let oid: u32 = get(q, row, 0)?;
        schema.foreign_servers.push(ForeignServer {
            name: get(q, row, 1)?,
            wrapper: get(q, row, 2)?,
            server_type: get(q, row, 3)?,
            version: get(q, row, 4)?,
            options: sorted(get(q, row, 5)?),
            comment: comments.take(PG_FOREIGN_SERVER, oid, 0),
            owner: extras.owner(get(q, row, 6)?),
        });
    }

    let q = "publications";
    for row in &rows.publications {
        let oid: u32 = get(q, row, 0)?;
        let mut publish = Vec::new();
        for (idx, action) in [(3, "insert"), (4, "update"), (5, "delete"), (6, "truncate")] {
            if get::<bool>(q, row, idx)? {
                publish.push(action.to_string());
            }
        }
        schema.publications.push(Publication {
            name: get(q, row, 1)?,
            all_tables: get(q, row, 2)?,
            tables: sorted(get(q, row, 8)?),
            schemas: sorted(get(q, row, 9)?),
            publish,
            via_root: get(q, row, 7)?,
            comment: comments.take(PG_PUBLICATION, oid, 0),
            owner: extras.owner(get(q, row, 10)?),
        });
    }

    // Split the relations into their kinds now that children are attached.
    for (oid, mut rel) in rels {
        relations.push((oid, rel.name.clone()));
        rel.columns.sort_by_key(|(attnum, _)| *attnum);
        let columns: Vec<Column> = rel.columns.into_iter().map(|(_, c)| c).collect();
        rel.constraints.sort_by(|a, b| a.name.cmp(&b.name));
        match rel.kind.as_str() {
            "v" | "m" => {
                let view = View {
                    name: rel.name,
                    definition: strip_semicolon(&rel.view_definition.unwrap_or_default()),
                    options: rel.options,
                    columns,
                    comment: rel.comment,
                    owner: rel.owner,
                    acl: rel.acl,
                };
                if rel.kind == "m" {
                    schema.materialized_views.push(view);
                } else {
                    schema.views.push(view);
                }
            }
            "f" => schema.foreign_tables.push(ForeignTable {
                name: rel.name,
                server: rel.server.unwrap_or_default(),
                options: rel.foreign_options,
                inherits: if rel.is_partition {
                    Vec::new()
                } else {
                    rel.parents.clone()
                },
                partition_of: if rel.is_partition {
                    rel.parents.first().map(|parent| PartitionOf {
                        parent: parent.clone(),
                        bound: rel.partition_bound.clone().unwrap_or_default(),
                    })
                } else {
                    None
                },
                columns,
                constraints: rel.constraints,
                comment: rel.comment,
                owner: rel.owner,
                acl: rel.acl,
            }),
            _ => {
                // A partition's single pg_inherits parent is its partitioned table.
                let (partition_of, inherits) = if rel.is_partition {
                    let mut parents = rel.parents.into_iter();
                    let parent = parents.next();
                    (
                        parent.map(|parent| PartitionOf {
                            parent,
                            bound: rel.partition_bound.unwrap_or_default(),
                        }),
                        parents.collect(),
                    )
                } else {
                    (None, rel.parents)
                };
                schema.tables.push(Table {
                    name: rel.name,
                    unlogged: rel.unlogged,
                    partition_key: rel.partition_key,
                    partition_of,
                    inherits,
                    access_method: rel.access_method,
                    replica_identity: rel.replica_identity,
                    cluster_on: rel.cluster_on,
                    options: rel.options,
                    row_security: rel.row_security,
                    force_row_security: rel.force_row_security,
                    columns,
                    constraints: rel.constraints,
                    comment: rel.comment,
                    owner: rel.owner,
                    acl: rel.acl,
                });
            }
        }
    }
    for (_, mut domain) in domains {
        domain.checks.sort_by(|a, b| a.name.cmp(&b.name));
        schema.domains.push(domain);
    }
    for (_, (mut composite, mut attrs)) in composites {
        attrs.sort_by_key(|(attnum, _)| *attnum);
        composite.attributes = attrs.into_iter().map(|(_, c)| c).collect();
        schema.composites.push(composite);
    }

    sort(&mut schema);
    Ok(Read { schema, relations })
}

/// Puts every list in its canonical order (byte order of names, never the server's).
pub(super) fn sort(schema: &mut Schema) {
    schema.schemas.sort_by(|a, b| a.name.cmp(&b.name));
    schema.extensions.sort_by(|a, b| a.name.cmp(&b.name));
    schema.enums.sort_by(|a, b| a.name.cmp(&b.name));
    schema.domains.sort_by(|a, b| a.name.cmp(&b.name));
    schema.composites.sort_by(|a, b| a.name.cmp(&b.name));
    schema.ranges.sort_by(|a, b| a.name.cmp(&b.name));
    schema.sequences.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .functions
        .sort_by(|a, b| (&a.name, &a.arguments).cmp(&(&b.name, &b.arguments)));
    schema.tables.sort_by(|a, b| a.name.cmp(&b.name));
    schema.views.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .materialized_views
        .sort_by(|a, b| a.name.cmp(&b.name));
    schema.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .triggers
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    schema
        .policies
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    schema
        .rules
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    schema.event_triggers.sort_by(|a, b| a.name.cmp(&b.name));
    schema.collations.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .casts
        .sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
    schema.statistics.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .foreign_data_wrappers
        .sort_by(|a, b| a.name.cmp(&b.name));
    schema.foreign_servers.sort_by(|a, b| a.name.cmp(&b.name));
    schema.foreign_tables.sort_by(|a, b| a.name.cmp(&b.name));
    schema.publications.sort_by(|a, b| a.name.cmp(&b.name));
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

fn strip_semicolon(text: &str) -> String {
    text.trim_end().trim_end_matches(';').trim_end().to_string()
}

fn qualified_name_text(schema: &str, name: &str) -> String {
    if schema == "pg_catalog" {
        quote_ident(name)
    } else {
        format!("{}.{}", quote_ident(schema), quote_ident(name))
    }
}

/// `CREATE AGGREGATE` from the pg_aggregate columns of a functions row (pg_dump's way:
/// PostgreSQL has no pg_get_aggregatedef). Options equal to their defaults are omitted,
/// so equivalent declarations print the same.
fn aggregate_definition(
    row: &Row,
    name: &QualifiedName,
    arguments: &str,
) -> Result<String, CatalogError> {
    let q = "functions";
    let aggkind: String = get::<Option<String>>(q, row, 8)?.unwrap_or_default();
    let mut opts: Vec<String> = Vec::new();
    let sfunc: Option<String> = get(q, row, 9)?;
    opts.push(format!("SFUNC = {}", sfunc.unwrap_or_default()));
    let stype: Option<String> = get(q, row, 10)?;
    opts.push(format!("STYPE = {}", stype.unwrap_or_default()));
    let sspace: Option<i32> = get(q, row, 11)?;
    if let Some(space) = sspace.filter(|s| *s != 0) {
        opts.push(format!("SSPACE = {space}"));
    }
    // Ordered-set aggregates default to READ_WRITE final functions, others to READ_ONLY.
    let default_modify = if aggkind == "n" { "r" } else { "w" };
    let modify = |code: Option<String>| -> Option<&'static str> {
        match code.as_deref() {
            Some(c) if c != default_modify => Some(match c {
                "s" => "SHAREABLE",
                "w" => "READ_WRITE",
                _ => "READ_ONLY",
            }),
            _ => None,
        }
    };
    if let Some(f) = get::<Option<String>>(q, row, 12)? {
        opts.push(format!("FINALFUNC = {f}"));
        if get::<Option<bool>>(q, row, 13)?.unwrap_or(false) {
            opts.push("FINALFUNC_EXTRA".to_string());
        }
        if let Some(m) = modify(get(q, row, 14)?) {
            opts.push(format!("FINALFUNC_MODIFY = {m}"));
        }
    }
    for (idx, key) in [
        (15, "COMBINEFUNC"),
        (16, "SERIALFUNC"),
        (17, "DESERIALFUNC"),
    ] {
        if let Some(f) = get::<Option<String>>(q, row, idx)? {
            opts.push(format!("{key} = {f}"));
        }
    }
    if let Some(init) = get::<Option<String>>(q, row, 18)? {
        opts.push(format!("INITCOND = {}", quote_literal(&init)));
    }
    if let Some(f) = get::<Option<String>>(q, row, 19)? {
        opts.push(format!("MSFUNC = {f}"));
        if let Some(f) = get::<Option<String>>(q, row, 20)? {
            opts.push(format!("MINVFUNC = {f}"));
        }
        if let Some(t) = get::<Option<String>>(q, row, 21)? {
            opts.push(format!("MSTYPE = {t}"));
        }
        if let Some(space) = get::<Option<i32>>(q, row, 22)?.filter(|s| *s != 0) {
            opts.push(format!("MSSPACE = {space}"));
        }
        if let Some(f) = get::<Option<String>>(q, row, 23)? {
            opts.push(format!("MFINALFUNC = {f}"));
            if get::<Option<bool>>(q, row, 24)?.unwrap_or(false) {
                opts.push("MFINALFUNC_EXTRA".to_string());
            }
            if let Some(m) = modify(get(q, row, 25)?) {
                opts.push(format!("MFINALFUNC_MODIFY = {m}"));
            }
        }
        if let Some(init) = get::<Option<String>>(q, row, 26)? {
            opts.push(format!("MINITCOND = {}", quote_literal(&init)));
        }
    }
    if let (Some(op), Some(op_schema)) = (
        get::<Option<String>>(q, row, 27)?,
        get::<Option<String>>(q, row, 28)?,
    ) {
        if op_schema == "pg_catalog" {
            opts.push(format!("SORTOP = {op}"));
        } else {
            opts.push(format!(
                "SORTOP = OPERATOR({}.{op})",
                quote_ident(&op_schema)
            ));
        }
    }
    match get::<String>(q, row, 29)?.as_str() {
        "s" => opts.push("PARALLEL = SAFE".to_string()),
        "r" => opts.push("PARALLEL = RESTRICTED".to_string()),
        _ => {}
    }
    if aggkind == "h" {
        opts.push("HYPOTHETICAL".to_string());
    }
    Ok(format!(
        "CREATE AGGREGATE {}.{}({arguments}) (\n    {}\n)",
        quote_ident(&name.schema),
        quote_ident(&name.name),
        opts.join(",\n    ")
    ))
}

/// `attstorage` codes as `ALTER COLUMN ... SET STORAGE` spells them.
fn storage_name(code: &str) -> String {
    match code {
        "p" => "PLAIN",
        "e" => "EXTERNAL",
        "m" => "MAIN",
        "x" => "EXTENDED",
        other => other,
    }
    .to_owned()
}
