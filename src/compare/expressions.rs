//! The expressions of a schema (defaults, checks, index and view definitions, ...) and
//! grafting settled ones onto a schema.
//!
//! PostgreSQL stores an expression parsed and prints it back deparsed, and the printed
//! form does not always parse back into the same tree: `c IN ('a', 'b')` on a varchar
//! column reads back as `(c)::text = ANY ((ARRAY['a'::character varying, ...])::text[])`,
//! and that text, loaded again, as `ARRAY[('a'::character varying)::text, ...]`. So a
//! chain and a `pg_dump` of the chain's own database spell the same check differently.
//! After one more trip through the server both spell it the same way (a definition that
//! has been dumped and reloaded once is a fixed point), which is how `compare` settles
//! them: this module only names the expressions, so the two sides can be matched and the
//! settled text put in place of what each side read.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::{Column, Constraint, QualifiedName, Schema};

/// Calls `f` with a key and the text of every expression in `schema`. A key names the
/// object and the place in it, so the same expression of the same object has the same
/// key in any schema.
fn visit(schema: &mut Schema, f: &mut dyn FnMut(String, &mut String)) {
    let key = |kind: &str, name: &QualifiedName, part: &str| {
        format!("{kind}\0{}\0{}\0{part}", name.schema, name.name)
    };
    for domain in &mut schema.domains {
        if let Some(default) = &mut domain.default {
            f(key("domain", &domain.name, "default"), default);
        }
        constraints(&key("domain", &domain.name, ""), &mut domain.checks, f);
    }
    for function in &mut schema.functions {
        // SQL-standard bodies (BEGIN ATOMIC, RETURN) are stored parsed, like views.
        let part = format!("({})", function.arguments);
        f(
            key("function", &function.name, &part),
            &mut function.definition,
        );
    }
    for table in &mut schema.tables {
        let prefix = key("table", &table.name, "");
        if let Some(partition_key) = &mut table.partition_key {
            f(format!("{prefix}partition key"), partition_key);
        }
        if let Some(parent) = &mut table.partition_of {
            f(format!("{prefix}partition bound"), &mut parent.bound);
        }
        columns(&prefix, &mut table.columns, f);
        constraints(&prefix, &mut table.constraints, f);
    }
    for table in &mut schema.foreign_tables {
        let prefix = key("foreign table", &table.name, "");
        if let Some(parent) = &mut table.partition_of {
            f(format!("{prefix}partition bound"), &mut parent.bound);
        }
        columns(&prefix, &mut table.columns, f);
        constraints(&prefix, &mut table.constraints, f);
    }
    for (kind, views) in [
        ("view", &mut schema.views),
        ("materialized view", &mut schema.materialized_views),
    ] {
        for view in views {
            let prefix = key(kind, &view.name, "");
            f(format!("{prefix}definition"), &mut view.definition);
            columns(&prefix, &mut view.columns, f);
        }
    }
    for index in &mut schema.indexes {
        f(
            key("index", &index.name, "definition"),
            &mut index.definition,
        );
        if let Some(predicate) = &mut index.predicate {
            f(key("index", &index.name, "predicate"), predicate);
        }
    }
    for statistics in &mut schema.statistics {
        let name = key("statistics", &statistics.name, "");
        f(name, &mut statistics.definition);
    }
    for trigger in &mut schema.triggers {
        let name = key("trigger", &trigger.table, &trigger.name);
        f(name, &mut trigger.definition);
    }
    for policy in &mut schema.policies {
        let prefix = key("policy", &policy.table, &policy.name);
        if let Some(using) = &mut policy.using {
            f(format!("{prefix}\0using"), using);
        }
        if let Some(check) = &mut policy.with_check {
            f(format!("{prefix}\0with check"), check);
        }
    }
    for rule in &mut schema.rules {
        let name = key("rule", &rule.table, &rule.name);
        f(name, &mut rule.definition);
    }
}

fn columns(prefix: &str, columns: &mut [Column], f: &mut dyn FnMut(String, &mut String)) {
    for column in columns {
        if let Some(default) = &mut column.default {
            f(format!("{prefix}column\0{}\0default", column.name), default);
        }
        if let Some(generated) = &mut column.generated {
            f(
                format!("{prefix}column\0{}\0generated", column.name),
                generated,
            );
        }
    }
}

fn constraints(
    prefix: &str,
    constraints: &mut [Constraint],
    f: &mut dyn FnMut(String, &mut String),
) {
    for constraint in constraints {
        let name = format!("{prefix}constraint\0{}", constraint.name);
        f(name, &mut constraint.definition);
    }
}

/// Every expression of `schema` by key.
fn expressions(schema: &Schema) -> BTreeMap<String, String> {
    // The walk is over a copy because one walker serves both reading and grafting; a
    // copy of even a large schema costs far less than the loads that follow a difference.
    let mut copy = schema.clone();
    let mut found = BTreeMap::new();
    visit(&mut copy, &mut |key, text| {
        found.insert(key, std::mem::take(text));
    });
    found
}

/// The keys of the expressions that both schemas have and spell differently: what has
/// to be settled before the schemas can be compared. An object only one side has is a
/// real difference whatever its expressions say.
pub(super) fn differing(a: &Schema, b: &Schema) -> BTreeSet<String> {
    let theirs = expressions(b);
    expressions(a)
        .into_iter()
        .filter(|(key, text)| theirs.get(key).is_some_and(|other| other != text))
        .map(|(key, _)| key)
        .collect()
}

/// Replaces the expressions of `schema` named by `keys` with their text in `settled`
/// (the same schema after a trip through the server); returns how many were replaced.
/// A key `settled` lacks (an object the trip could not recreate) keeps its text.
pub(super) fn graft(schema: &mut Schema, settled: &Schema, keys: &BTreeSet<String>) -> usize {
    let mut settled = expressions(settled);
    let mut replaced = 0;
    visit(schema, &mut |key, text| {
        if keys.contains(&key) {
            if let Some(new) = settled.remove(&key) {
                *text = new;
                replaced += 1;
            }
        }
    });
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ConstraintKind, Index, Table};

    fn table(check: &str, default: &str) -> Schema {
        let item = QualifiedName::new("public", "item");
        Schema {
            tables: vec![Table {
                name: item.clone(),
                unlogged: false,
                partition_key: None,
                partition_of: None,
                inherits: Vec::new(),
                access_method: None,
                options: Vec::new(),
                row_security: false,
                force_row_security: false,
                replica_identity: None,
                cluster_on: None,
                columns: vec![Column {
                    name: "c".into(),
                    data_type: "character varying(10)".into(),
                    collation: None,
                    not_null: false,
                    not_null_constraint: None,
                    default: Some(default.into()),
                    identity: None,
                    generated: None,
                    generated_virtual: false,
                    comment: None,
                    acl: Vec::new(),
                    statistics: None,
                    storage: None,
                }],
                constraints: vec![Constraint {
                    name: "item_c_check".into(),
                    kind: ConstraintKind::Check,
                    definition: check.into(),
                    deferrable: false,
                    initially_deferred: false,
                    validated: true,
                    comment: None,
                }],
                comment: None,
                owner: None,
                acl: Vec::new(),
            }],
            indexes: vec![Index {
                name: QualifiedName::new("public", "item_idx"),
                table: item,
                method: "btree".into(),
                unique: false,
                predicate: None,
                definition: "CREATE INDEX item_idx ON public.item USING btree (lower(c))".into(),
                comment: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn only_expressions_both_sides_have_and_spell_differently_differ() {
        let chain = table("CHECK (x)", "'a'::character varying");
        let dump = table("CHECK (y)", "'a'::character varying");
        let keys = differing(&chain, &dump);
        assert_eq!(
            keys.into_iter().collect::<Vec<_>>(),
            ["table\0public\0item\0constraint\0item_c_check"]
        );
        let mut without = dump.clone();
        without.tables[0].constraints.clear();
        without.indexes.clear();
        assert!(differing(&chain, &without).is_empty());
        assert!(differing(&chain, &chain).is_empty());
    }

    #[test]
    fn grafting_replaces_only_the_named_expressions() {
        let mut chain = table("CHECK (x)", "'a'");
        let settled = table("CHECK (settled)", "'settled'");
        let keys = differing(&chain, &table("CHECK (y)", "'a'"));
        assert_eq!(graft(&mut chain, &settled, &keys), 1);
        assert_eq!(chain.tables[0].constraints[0].definition, "CHECK (settled)");
        assert_eq!(chain.tables[0].columns[0].default.as_deref(), Some("'a'"));
        // What the trip lost keeps its own text.
        assert_eq!(graft(&mut chain, &Schema::default(), &keys), 0);
        assert_eq!(chain.tables[0].constraints[0].definition, "CHECK (settled)");
    }
}
