//! What changed in the catalog since the last inspection, read cheaply.
//!
//! A stamp counts, for every relation, the catalog rows that describe it (its `pg_class`
//! row, columns, defaults, constraints, index rows, triggers, policies, rules, extended
//! statistics, inheritance, sequence parameters, dependencies and comments), and notes
//! whether any of them was written by a transaction that had not committed when the
//! previous stamp was taken (`xmin` at or past that stamp's horizon). Every DDL statement
//! inserts, updates or deletes catalog rows: an insert or update leaves a new `xmin`, a
//! delete a lower count. So a relation whose count and `xmin`s are unchanged is described
//! exactly as before, without reading any of its definitions. The non-relation catalogs
//! (schemas, types, functions, collations, casts, extensions, publications, foreign
//! servers, event triggers, roles) are stamped as one whole: a change there means a
//! whole inspection.
//!
//! A changed relation is re-read with everything that renders it: its indexes and
//! identity sequences (its *members*), and the relations whose definitions name it (a
//! view over it, a foreign key to it, a default using its sequence: its *dependents*,
//! from `pg_depend`). A dependent that is not relation-level (a function returning its
//! row type, a publication listing it) also means a whole inspection.
//!
//! In-place catalog updates (`VACUUM` and `ANALYZE` writing `relpages`, `reltuples`)
//! leave `xmin` alone, and touch nothing the model holds.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Row;

use super::inspect::{Params, Query};
use super::CatalogError;

const PG_CLASS: u32 = 1259;

/// The snapshot the stamp was taken in: rows written by a transaction it did not see
/// (one not yet started, or in progress then) are new to the next stamp.
const HORIZON_SQL: &str = "SELECT txid_current_snapshot()::text";

/// Whether a row's `xmin` was invisible to the previous stamp's snapshot ($1): at or past
/// its xmax (`age` compares 32-bit xids modulo wraparound), or in progress then. `age`
/// of a frozen xmin is the largest value, so frozen rows are never new; without a
/// previous snapshot nothing is. Exact, so a long transaction elsewhere on the server
/// does not make every row look new.
const NEW_ROWS: &str = "WITH h AS (SELECT \
      CASE WHEN $1::text IS NULL THEN -1 \
        ELSE age((txid_snapshot_xmax($1::text::txid_snapshot) % 4294967296)::text::xid) END AS a, \
      CASE WHEN $1::text IS NULL THEN '{}'::xid[] \
        ELSE ARRAY(SELECT (t % 4294967296)::text::xid \
          FROM txid_snapshot_xip($1::text::txid_snapshot) AS t) END AS xip)";

/// The test of [`NEW_ROWS`] on a row whose xmin is `x`.
const IS_NEW: &str =
    "(age(x) <= (SELECT a FROM h) OR x = ANY (CAST((SELECT xip FROM h) AS xid[])))";

/// The rows describing each relation, by relation OID (16384 and up: user objects), in
/// two halves of about equal cost so that two connections can share the work.
const RELATIONS_SQL: &str = "\
    SELECT relid, count(*)::int8, bool_or({IS_NEW}) FROM ( \
      SELECT c.oid AS relid, c.xmin AS x FROM pg_class c WHERE c.oid >= 16384 \
      UNION ALL SELECT attrelid, xmin FROM pg_attribute WHERE attrelid >= 16384 AND attnum > 0 \
    ) items GROUP BY relid";

/// The other half of [`RELATIONS_SQL`].
const RELATIONS_MORE_SQL: &str = "\
    SELECT relid, count(*)::int8, bool_or({IS_NEW}) FROM ( \
      SELECT indexrelid AS relid, xmin AS x FROM pg_index WHERE indexrelid >= 16384 \
      UNION ALL SELECT adrelid, xmin FROM pg_attrdef WHERE adrelid >= 16384 \
      UNION ALL SELECT conrelid, xmin FROM pg_constraint WHERE conrelid >= 16384 \
      UNION ALL SELECT tgrelid, xmin FROM pg_trigger WHERE tgrelid >= 16384 \
      UNION ALL SELECT polrelid, xmin FROM pg_policy \
      UNION ALL SELECT ev_class, xmin FROM pg_rewrite WHERE ev_class >= 16384 \
      UNION ALL SELECT stxrelid, xmin FROM pg_statistic_ext \
      UNION ALL SELECT inhrelid, xmin FROM pg_inherits \
      UNION ALL SELECT seqrelid, xmin FROM pg_sequence WHERE seqrelid >= 16384 \
      UNION ALL SELECT ftrelid, xmin FROM pg_foreign_table \
      UNION ALL SELECT objid, xmin FROM pg_depend WHERE classid = 1259 AND objid >= 16384 \
      UNION ALL SELECT objoid, xmin FROM pg_description WHERE classoid = 1259 AND objoid >= 16384 \
      UNION ALL SELECT co.conrelid, d.xmin FROM pg_description d \
        JOIN pg_constraint co ON co.oid = d.objoid WHERE d.classoid = 2606 AND co.conrelid <> 0 \
      UNION ALL SELECT t.tgrelid, d.xmin FROM pg_description d \
        JOIN pg_trigger t ON t.oid = d.objoid WHERE d.classoid = 2620 \
      UNION ALL SELECT p.polrelid, d.xmin FROM pg_description d \
        JOIN pg_policy p ON p.oid = d.objoid WHERE d.classoid = 3256 \
      UNION ALL SELECT r.ev_class, d.xmin FROM pg_description d \
        JOIN pg_rewrite r ON r.oid = d.objoid WHERE d.classoid = 2618 \
      UNION ALL SELECT s.stxrelid, d.xmin FROM pg_description d \
        JOIN pg_statistic_ext s ON s.oid = d.objoid WHERE d.classoid = 3381 \
    ) items GROUP BY relid";

/// Each relation of the included schemas with its kind and the relation it belongs to:
/// an index to its table, an identity sequence to its column's table, anything else to
/// itself.
fn members_sql(scoped: bool) -> String {
    format!(
        "SELECT c.oid, c.relkind::text, coalesce(i.indrelid, d.refobjid, c.oid) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         LEFT JOIN pg_depend d ON c.relkind = 'S' AND d.classid = {PG_CLASS} AND d.objid = c.oid \
           AND d.refclassid = {PG_CLASS} AND d.deptype = 'i' \
         WHERE c.oid >= 16384 AND {}{}",
        super::inspect::NS_FILTER,
        if scoped {
            " AND c.oid = ANY ($3::oid[])"
        } else {
            ""
        }
    )
}

/// The non-relation catalogs as one: row count, whether any row is new, and the roles
/// (their names appear in policies and owners, and live outside the database).
fn global_sql(version: i32) -> String {
    let publication_schemas = if version >= 150000 {
        "UNION ALL SELECT xmin FROM pg_publication_namespace"
    } else {
        ""
    };
    format!(
        "SELECT count(*)::int8, coalesce(bool_or({IS_NEW}), false), \
           (SELECT coalesce(sum(hashtext(r.oid::text || ':' || r.rolname)), 0)::int8 FROM pg_roles r) \
         FROM ( \
           SELECT xmin AS x FROM pg_namespace \
           UNION ALL SELECT xmin FROM pg_extension \
           UNION ALL SELECT t.xmin FROM pg_type t WHERE t.oid >= 16384 AND t.typrelid = 0 \
             AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.oid = t.typelem AND e.typrelid <> 0) \
           UNION ALL SELECT xmin FROM pg_enum WHERE oid >= 16384 \
           UNION ALL SELECT xmin FROM pg_range WHERE rngtypid >= 16384 \
           UNION ALL SELECT xmin FROM pg_proc WHERE oid >= 16384 \
           UNION ALL SELECT xmin FROM pg_aggregate WHERE aggfnoid >= 16384 \
           UNION ALL SELECT xmin FROM pg_collation WHERE oid >= 16384 \
           UNION ALL SELECT xmin FROM pg_cast WHERE oid >= 16384 \
           UNION ALL SELECT xmin FROM pg_opclass WHERE oid >= 16384 \
           UNION ALL SELECT xmin FROM pg_operator WHERE oid >= 16384 \
           UNION ALL SELECT xmin FROM pg_event_trigger \
           UNION ALL SELECT xmin FROM pg_foreign_data_wrapper \
           UNION ALL SELECT xmin FROM pg_foreign_server \
           UNION ALL SELECT xmin FROM pg_publication \
           UNION ALL SELECT xmin FROM pg_publication_rel \
           {publication_schemas} \
           UNION ALL SELECT xmin FROM pg_constraint WHERE contypid <> 0 \
           UNION ALL SELECT xmin FROM pg_depend WHERE classid <> {PG_CLASS} AND deptype = 'e' \
           UNION ALL SELECT d.xmin FROM pg_description d WHERE d.objoid >= 16384 \
             AND d.classoid NOT IN (1259, 2606, 2620, 3256, 2618, 3381) \
           UNION ALL SELECT d.xmin FROM pg_description d JOIN pg_constraint co ON co.oid = d.objoid \
             WHERE d.classoid = 2606 AND co.conrelid = 0 \
         ) items"
    )
}

/// The objects that depend on the relations in $1 or on anything of theirs (constraints,
/// triggers, rules, defaults, policies, statistics, row types), each with the relation
/// it belongs to, or NULL when it belongs to none (a function, a publication...).
const DEPENDENTS_SQL: &str = "\
    WITH seeds(classid, objid) AS ( \
      SELECT 1259::oid, m FROM unnest($1::oid[]) AS m \
      UNION ALL SELECT 2606::oid, oid FROM pg_constraint WHERE conrelid = ANY ($1::oid[]) \
      UNION ALL SELECT 2620::oid, oid FROM pg_trigger WHERE tgrelid = ANY ($1::oid[]) \
      UNION ALL SELECT 2618::oid, oid FROM pg_rewrite WHERE ev_class = ANY ($1::oid[]) \
      UNION ALL SELECT 2604::oid, oid FROM pg_attrdef WHERE adrelid = ANY ($1::oid[]) \
      UNION ALL SELECT 3256::oid, oid FROM pg_policy WHERE polrelid = ANY ($1::oid[]) \
      UNION ALL SELECT 3381::oid, oid FROM pg_statistic_ext WHERE stxrelid = ANY ($1::oid[]) \
      UNION ALL SELECT 1247::oid, reltype FROM pg_class WHERE oid = ANY ($1::oid[]) AND reltype <> 0 \
      UNION ALL SELECT 1247::oid, t.typarray FROM pg_class c JOIN pg_type t ON t.oid = c.reltype \
        WHERE c.oid = ANY ($1::oid[]) AND t.typarray <> 0 \
    ) \
    SELECT DISTINCT d.classid, d.objid, CASE d.classid \
        WHEN 1259 THEN d.objid \
        WHEN 2606 THEN (SELECT nullif(co.conrelid, 0) FROM pg_constraint co WHERE co.oid = d.objid) \
        WHEN 2620 THEN (SELECT t.tgrelid FROM pg_trigger t WHERE t.oid = d.objid) \
        WHEN 2618 THEN (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid) \
        WHEN 2604 THEN (SELECT a.adrelid FROM pg_attrdef a WHERE a.oid = d.objid) \
        WHEN 3256 THEN (SELECT p.polrelid FROM pg_policy p WHERE p.oid = d.objid) \
        WHEN 3381 THEN (SELECT s.stxrelid FROM pg_statistic_ext s WHERE s.oid = d.objid) \
        WHEN 1247 THEN (SELECT coalesce(nullif(t.typrelid, 0), e.typrelid) FROM pg_type t \
          LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' WHERE t.oid = d.objid) \
      END \
    FROM seeds s, LATERAL (SELECT dep.classid, dep.objid FROM pg_depend dep \
      WHERE dep.refclassid = s.classid AND dep.refobjid = s.objid) d";

/// The queries a stamp runs, in the snapshot of the inspection it goes with.
pub(super) fn stamp_queries(version: i32) -> Vec<Query> {
    vec![
        Query {
            name: "horizon",
            sql: HORIZON_SQL.to_string(),
            params: Params::None,
        },
        Query {
            name: "stamp",
            sql: format!("{NEW_ROWS} {}", RELATIONS_SQL.replace("{IS_NEW}", IS_NEW)),
            params: Params::Horizon,
        },
        Query {
            name: "stamp more",
            sql: format!(
                "{NEW_ROWS} {}",
                RELATIONS_MORE_SQL.replace("{IS_NEW}", IS_NEW)
            ),
            params: Params::Horizon,
        },
        Query {
            name: "stamp global",
            sql: format!("{NEW_ROWS} {}", global_sql(version)),
            params: Params::Horizon,
        },
    ]
}

/// The query mapping every relation to its group (`scoped`: only those in $3).
pub(super) fn members_query(scoped: bool) -> Query {
    Query {
        name: "members",
        sql: members_sql(scoped),
        params: if scoped {
            Params::Scoped
        } else {
            Params::Namespaces
        },
    }
}

/// The dependents query (see [`DEPENDENTS_SQL`]).
pub(super) fn dependents_query() -> Query {
    Query {
        name: "dependents",
        sql: DEPENDENTS_SQL.to_string(),
        params: Params::Relations,
    }
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    query: &'static str,
    row: &'a Row,
    idx: usize,
) -> Result<T, CatalogError> {
    row.try_get(idx)
        .map_err(|source| super::inspect::query_error(query, source))
}

/// The catalog's state as one stamp saw it.
#[derive(Debug, Clone, Default)]
pub(super) struct Stamp {
    /// Passed to the next stamp: rows written from this transaction on are new to it.
    pub horizon: Option<String>,
    /// Catalog rows per relation.
    pub counts: HashMap<u32, i64>,
    /// Relations with a row written since the previous stamp's horizon.
    pub touched: HashSet<u32>,
    /// Row count of the non-relation catalogs, and their roles' signature.
    pub global: (i64, i64),
    /// Whether a non-relation catalog row is new since the previous stamp's horizon.
    pub global_touched: bool,
}

impl Stamp {
    /// Reads a stamp from the rows of [`stamp_queries`].
    pub fn from_rows(rows: &mut HashMap<&'static str, Vec<Row>>) -> Result<Stamp, CatalogError> {
        let mut stamp = Stamp::default();
        if let Some(row) = rows.remove("horizon").unwrap_or_default().first() {
            stamp.horizon = get("horizon", row, 0)?;
        }
        for name in ["stamp", "stamp more"] {
            for row in rows.remove(name).unwrap_or_default() {
                let relid: u32 = get(name, &row, 0)?;
                *stamp.counts.entry(relid).or_default() += get::<i64>(name, &row, 1)?;
                if get::<Option<bool>>(name, &row, 2)? == Some(true) {
                    stamp.touched.insert(relid);
                }
            }
        }
        if let Some(row) = rows.remove("stamp global").unwrap_or_default().first() {
            stamp.global = (get("stamp global", row, 0)?, get("stamp global", row, 2)?);
            stamp.global_touched = get("stamp global", row, 1)?;
        }
        Ok(stamp)
    }

    /// The relations whose description changed since `previous` (new, gone, touched
    /// or with another row count), or `None` when a non-relation catalog changed.
    pub fn changed_since(&self, previous: &Stamp) -> Option<HashSet<u32>> {
        if self.global_touched || self.global != previous.global {
            return None;
        }
        let mut changed: HashSet<u32> = self.touched.clone();
        for (relid, count) in &self.counts {
            if previous.counts.get(relid) != Some(count) {
                changed.insert(*relid);
            }
        }
        for relid in previous.counts.keys() {
            if !self.counts.contains_key(relid) {
                changed.insert(*relid);
            }
        }
        Some(changed)
    }
}

/// Which relation-level object a relation's changes belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Member {
    /// A table, view, materialized view, foreign table or sequence (itself), or an
    /// index or identity sequence (its table).
    Of(u32),
    /// A composite type's relation: not relation-level in the model.
    Global,
    /// Not in the inspected schemas (system catalogs, TOAST tables, other schemas).
    Outside,
}

/// Reads `members` rows into `map`; every relation of `asked` without a row is outside
/// the inspected schemas.
pub(super) fn read_members(
    rows: Vec<Row>,
    asked: &[u32],
    map: &mut HashMap<u32, Member>,
) -> Result<(), CatalogError> {
    for &relid in asked {
        map.insert(relid, Member::Outside);
    }
    for row in rows {
        let relid: u32 = get("members", &row, 0)?;
        let kind: String = get("members", &row, 1)?;
        let owner: u32 = get("members", &row, 2)?;
        let member = if kind == "c" {
            Member::Global
        } else {
            Member::Of(owner)
        };
        map.insert(relid, member);
    }
    Ok(())
}

/// Reads `dependents` rows: the relation each dependent belongs to, `None` for an
/// object that belongs to no relation.
pub(super) fn read_dependents(rows: Vec<Row>) -> Result<Vec<Option<u32>>, CatalogError> {
    rows.iter().map(|row| get("dependents", row, 2)).collect()
}
