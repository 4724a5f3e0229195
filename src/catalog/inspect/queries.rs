//! The catalog queries: one `.sql` file per kind of object (`src/catalog/queries/`),
//! completed here with the schema filter, the extension-member filter, the relation
//! filter of scoped queries and the fragments that differ between PostgreSQL majors.
//!
//! Every `{placeholder}` is filled from a fixed set of fragments written in this file
//! and chosen by server version and scope; nothing from the user reaches the SQL text
//! (schema names and relation OIDs are bound as parameters).

use super::{Params, Query};

// Catalog OIDs of the system catalogs, fixed since forever (they are bootstrap OIDs); used
// for pg_depend.classid and pg_description.classoid without a regclass lookup per row. The
// .sql files write the few they need as numbers, with the catalog's name in a comment.
pub(super) const PG_CLASS: u32 = 1259;
pub(super) const PG_TYPE: u32 = 1247;
pub(super) const PG_PROC: u32 = 1255;
pub(super) const PG_NAMESPACE: u32 = 2615;
pub(super) const PG_CONSTRAINT: u32 = 2606;
pub(super) const PG_TRIGGER: u32 = 2620;
pub(super) const PG_POLICY: u32 = 3256;
pub(super) const PG_REWRITE: u32 = 2618;
pub(super) const PG_EXTENSION: u32 = 3079;
pub(super) const PG_EVENT_TRIGGER: u32 = 3466;
pub(super) const PG_COLLATION: u32 = 3456;
pub(super) const PG_CAST: u32 = 2605;
pub(super) const PG_STATISTIC_EXT: u32 = 3381;
pub(super) const PG_FOREIGN_DATA_WRAPPER: u32 = 2328;
pub(super) const PG_FOREIGN_SERVER: u32 = 1417;
pub(super) const PG_PUBLICATION: u32 = 6104;

/// Schemas that are never user schema. `pg_toast%` also covers `pg_toast_temp_N`.
pub(in crate::catalog) const NS_FILTER: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     AND (cardinality($1::text[]) = 0 OR n.nspname = ANY ($1::text[])) \
     AND NOT (n.nspname = ANY ($2::text[]))";

/// What a query is filtered by.
#[derive(Clone, Copy)]
enum Filter {
    /// $1, $2: objects in the inspected schemas.
    Namespaces,
    /// As `Namespaces`, and in a scoped query `{only_relations}`: this relation column
    /// in $3.
    Relations(&'static str),
    /// No parameters: objects outside any schema, or all of one catalog.
    Nothing,
}

/// One `.sql` file and what completes it.
struct Template {
    name: &'static str,
    sql: &'static str,
    filter: Filter,
    /// `{not_extension_member}`: the catalog of the object (pg_depend.classid) and the
    /// column holding its OID.
    member_of: Option<(u32, &'static str)>,
}

/// The catalog queries, in the order they are issued.
const TEMPLATES: &[Template] = &[
    Template {
        name: "schemas",
        sql: include_str!("../queries/schemas.sql"),
        filter: Filter::Namespaces,
        member_of: Some((PG_NAMESPACE, "n.oid")),
    },
    Template {
        name: "extensions",
        sql: include_str!("../queries/extensions.sql"),
        filter: Filter::Namespaces,
        member_of: None,
    },
    Template {
        name: "types",
        sql: include_str!("../queries/types.sql"),
        filter: Filter::Namespaces,
        member_of: Some((PG_TYPE, "t.oid")),
    },
    Template {
        name: "sequences",
        sql: include_str!("../queries/sequences.sql"),
        filter: Filter::Relations("c.oid"),
        member_of: Some((PG_CLASS, "c.oid")),
    },
    Template {
        name: "relations",
        sql: include_str!("../queries/relations.sql"),
        filter: Filter::Relations("c.oid"),
        member_of: Some((PG_CLASS, "c.oid")),
    },
    Template {
        name: "columns",
        sql: include_str!("../queries/columns.sql"),
        filter: Filter::Relations("a.attrelid"),
        member_of: None,
    },
    Template {
        name: "constraints",
        sql: include_str!("../queries/constraints.sql"),
        filter: Filter::Relations("co.conrelid"),
        member_of: None,
    },
    Template {
        name: "indexes",
        sql: include_str!("../queries/indexes.sql"),
        filter: Filter::Relations("i.indrelid"),
        member_of: None,
    },
    Template {
        name: "functions",
        sql: include_str!("../queries/functions.sql"),
        filter: Filter::Namespaces,
        member_of: Some((PG_PROC, "p.oid")),
    },
    Template {
        name: "triggers",
        sql: include_str!("../queries/triggers.sql"),
        filter: Filter::Relations("t.tgrelid"),
        member_of: None,
    },
    Template {
        name: "policies",
        sql: include_str!("../queries/policies.sql"),
        filter: Filter::Relations("p.polrelid"),
        member_of: None,
    },
    Template {
        name: "rules",
        sql: include_str!("../queries/rules.sql"),
        filter: Filter::Relations("r.ev_class"),
        member_of: None,
    },
    Template {
        name: "event triggers",
        sql: include_str!("../queries/event_triggers.sql"),
        filter: Filter::Namespaces,
        member_of: Some((PG_EVENT_TRIGGER, "e.oid")),
    },
    Template {
        name: "collations",
        sql: include_str!("../queries/collations.sql"),
        filter: Filter::Namespaces,
        member_of: Some((PG_COLLATION, "c.oid")),
    },
    Template {
        name: "casts",
        sql: include_str!("../queries/casts.sql"),
        filter: Filter::Namespaces,
        member_of: Some((PG_CAST, "c.oid")),
    },
    Template {
        name: "statistics",
        sql: include_str!("../queries/statistics.sql"),
        filter: Filter::Relations("s.stxrelid"),
        member_of: Some((PG_STATISTIC_EXT, "s.oid")),
    },
    Template {
        name: "foreign data wrappers",
        sql: include_str!("../queries/foreign_data_wrappers.sql"),
        filter: Filter::Nothing,
        member_of: Some((PG_FOREIGN_DATA_WRAPPER, "w.oid")),
    },
    Template {
        name: "foreign servers",
        sql: include_str!("../queries/foreign_servers.sql"),
        filter: Filter::Nothing,
        member_of: Some((PG_FOREIGN_SERVER, "s.oid")),
    },
    Template {
        name: "publications",
        sql: include_str!("../queries/publications.sql"),
        filter: Filter::Namespaces,
        member_of: Some((PG_PUBLICATION, "p.oid")),
    },
    Template {
        name: "comments",
        sql: include_str!("../queries/comments.sql"),
        filter: Filter::Nothing,
        member_of: None,
    },
];

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

/// The fragments of the queries that differ between PostgreSQL majors.
struct Fragments {
    trigger_filter: &'static str,
    trigger_cloned: &'static str,
    collation_locale: &'static str,
    collation_rules: &'static str,
    pub_via_root: &'static str,
    pub_table: &'static str,
    pub_schemas: &'static str,
    pub_schema_filter: String,
    not_null_join: &'static str,
    not_null_name: &'static str,
    not_null_no_inherit: &'static str,
    not_null_not_valid: &'static str,
}

impl Fragments {
    fn for_version(version: i32) -> Fragments {
        // Cloned partition triggers carry tgparentid since 13. A clone is shown only when
        // its enabled state differs from the parent trigger's (`ALTER TABLE partition
        // DISABLE TRIGGER ...`), as pg_dump does. Before 15 clones are internal
        // (tgisinternal), like the clones of foreign-key triggers (which have a
        // constraint), never shown.
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
        // The ICU/builtin locale moved from colliculocale (15, 16) to colllocale (17);
        // before 15 an ICU collation kept its locale in collcollate.
        let collation_locale = if version >= 170000 {
            "c.colllocale"
        } else if version >= 150000 {
            "c.colliculocale"
        } else {
            "CASE WHEN c.collprovider = 'i' THEN c.collcollate::text END"
        };
        // ICU tailoring rules (collicurules) came in 16.
        let collation_rules = if version >= 160000 {
            "c.collicurules"
        } else {
            "NULL::text"
        };
        // publish_via_partition_root came in 13.
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
        // FOR TABLES IN SCHEMA (pg_publication_namespace) came in 15.
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
        // 18 keeps NOT NULL as a pg_constraint row (contype 'n') with a name and flags.
        // Its name counts only when it is not the default and the constraint is the
        // column's own (an inherited one is named after the parent's, whichever way the
        // child was made).
        let (not_null_join, not_null_name, not_null_no_inherit, not_null_not_valid) =
            if version >= 180000 {
                (
                    "LEFT JOIN pg_constraint nn ON nn.conrelid = a.attrelid AND nn.contype = 'n' \
                     AND nn.conkey[1] = a.attnum",
                    "CASE WHEN nn.conislocal \
                       AND nn.conname <> c.relname || '_' || a.attname || '_not_null' \
                       THEN nn.conname::text END",
                    "coalesce(nn.connoinherit, false)",
                    "NOT coalesce(nn.convalidated, true)",
                )
            } else {
                ("", "NULL::text", "false", "false")
            };
        Fragments {
            trigger_filter,
            trigger_cloned,
            collation_locale,
            collation_rules,
            pub_via_root,
            pub_table,
            pub_schemas,
            pub_schema_filter,
            not_null_join,
            not_null_name,
            not_null_no_inherit,
            not_null_not_valid,
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        Some(match key {
            "trigger_filter" => self.trigger_filter,
            "trigger_cloned" => self.trigger_cloned,
            "collation_locale" => self.collation_locale,
            "collation_rules" => self.collation_rules,
            "pub_via_root" => self.pub_via_root,
            "pub_table" => self.pub_table,
            "pub_schemas" => self.pub_schemas,
            "pub_schema_filter" => &self.pub_schema_filter,
            "not_null_join" => self.not_null_join,
            "not_null_name" => self.not_null_name,
            "not_null_no_inherit" => self.not_null_no_inherit,
            "not_null_not_valid" => self.not_null_not_valid,
            _ => return None,
        })
    }
}

/// The catalog queries. `scoped`: only the queries of relation-level objects (tables,
/// views, sequences and what hangs off them), each limited to the relations in $3 —
/// what an incremental inspection reads again (see `catalog::incremental`).
pub(in crate::catalog) fn queries(version: i32, scoped: bool) -> Vec<Query> {
    let fragments = Fragments::for_version(version);
    TEMPLATES
        .iter()
        .filter(|t| !scoped || RELATION_LEVEL.contains(&t.name))
        .map(|t| Query {
            name: t.name,
            sql: complete(t, &fragments, scoped),
            params: match t.filter {
                Filter::Nothing => Params::None,
                Filter::Namespaces | Filter::Relations(_) if scoped => Params::Scoped,
                Filter::Namespaces | Filter::Relations(_) => Params::Namespaces,
            },
        })
        .collect()
}

/// `template`'s SQL with every placeholder filled.
fn complete(template: &Template, fragments: &Fragments, scoped: bool) -> String {
    fill(template.sql.trim_end(), |key| match key {
        "ns_filter" => Some(NS_FILTER.to_string()),
        "not_extension_member" => template.member_of.map(|(classid, objid)| {
            // Scoped queries read a few relations: probe for membership per object.
            if scoped {
                not_extension_member_probe(classid, objid)
            } else {
                not_extension_member(classid, objid)
            }
        }),
        "only_relations" => match template.filter {
            Filter::Relations(column) if scoped => Some(format!(" AND {column} = ANY ($3::oid[])")),
            Filter::Relations(_) => Some(String::new()),
            _ => None,
        },
        other => fragments.get(other).map(str::to_string),
    })
}

/// Replaces each `{key}` in `sql` (a lower-case word) by `value(key)`, in one pass: a
/// value is never searched for placeholders. Other braces, such as the `'{}'` of array
/// literals, and keys without a value are left as they are (the tests check that none
/// is left).
fn fill(sql: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(sql.len() + 512);
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let key = after.find('}').map(|close| &after[..close]).filter(|key| {
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
        match key.and_then(|key| value(key).map(|v| (key, v))) {
            Some((key, v)) => {
                out.push_str(&v);
                rest = &after[key.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A placeholder left unfilled would only fail on a server of that major.
    #[test]
    fn every_placeholder_is_filled_on_every_major() {
        for version in [120000, 130000, 140000, 150000, 160000, 170000, 180000] {
            for scoped in [false, true] {
                for query in queries(version, scoped) {
                    let leftover = fill(&query.sql, |key| Some(format!("<{key}>")));
                    assert_eq!(
                        leftover, query.sql,
                        "{} ({version}, scoped: {scoped}) has an unfilled placeholder",
                        query.name
                    );
                    assert!(!query.sql.contains("$3") || scoped, "{}", query.name);
                }
            }
        }
    }

    #[test]
    fn scoped_queries_are_the_relation_level_ones() {
        let names: Vec<&str> = queries(180000, true).iter().map(|q| q.name).collect();
        assert_eq!(names, RELATION_LEVEL);
        assert_eq!(queries(180000, false).len(), TEMPLATES.len());
    }

    #[test]
    fn fill_keeps_array_literals_and_unknown_keys() {
        let filled = fill("'{}' {a} {b_c} {Upper} {", |key| {
            (key == "a").then(|| "{b_c}".to_string())
        });
        assert_eq!(filled, "'{}' {b_c} {b_c} {Upper} {");
    }
}
