//! Ordering by references where a fixed phase list is not enough: which routines must
//! wait for the relations they read (or go before them), and a stable sort of one phase's
//! changes so that each follows the changes defining the names its text mentions.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::function_header;
use super::*;
pub(super) use crate::catalog::reference_order;
use crate::catalog::{qn, render_composite, render_domain, render_range, Block};
pub(super) use crate::sql::words::words;

/// Whether a routine has a SQL-standard body (`BEGIN ATOMIC`): PostgreSQL parses it at
/// creation, so what it reads must exist then, and records what it uses in pg_depend.
pub(super) fn atomic_body(f: &Function) -> bool {
    f.definition.lines().any(|l| l.trim() == "BEGIN ATOMIC")
}

/// Whether a routine is `LANGUAGE sql` with a string body: PostgreSQL parses that body
/// at creation only when `check_function_bodies` is on, and records no dependency for
/// it, so it may name a table created later in the same script.
pub(super) fn unchecked_sql_body(f: &Function) -> bool {
    !atomic_body(f) && f.definition.lines().any(|l| l.trim() == "LANGUAGE sql")
}

/// The `BEGIN ATOMIC` routines of `schema` that read one of its relations (and so wait
/// for them in `AddAtomicFunctions`, or go before them in `DropAtomicFunctions`), and
/// those calling such a routine, unless a column, constraint, index or domain of the
/// schema names them: those need the routine before them. (Views are ordered with these
/// routines by [`reference_order`].)
pub(super) fn atomic_readers(schema: &Schema) -> BTreeSet<(QualifiedName, String)> {
    let atomic: Vec<&Function> = schema.functions.iter().filter(|f| atomic_body(f)).collect();
    if atomic.is_empty() {
        return BTreeSet::new();
    }
    let relations: BTreeSet<&str> = schema
        .tables
        .iter()
        .map(|t| t.name.name.as_str())
        .chain(schema.views.iter().map(|v| v.name.name.as_str()))
        .chain(
            schema
                .materialized_views
                .iter()
                .map(|v| v.name.name.as_str()),
        )
        .chain(schema.foreign_tables.iter().map(|t| t.name.name.as_str()))
        .collect();
    let user_words = routine_users(schema);
    let mut late: BTreeSet<&str> = BTreeSet::new();
    let bodies: Vec<(&Function, BTreeSet<String>)> =
        atomic.iter().map(|f| (*f, words(&f.definition))).collect();
    for (f, body) in &bodies {
        if relations.iter().any(|r| body.contains(*r)) {
            late.insert(f.name.name.as_str());
        }
    }
    // Callers of late routines are late too (to a fixed point).
    loop {
        let more: Vec<&str> = bodies
            .iter()
            .filter(|(f, body)| {
                !late.contains(f.name.name.as_str()) && late.iter().any(|l| body.contains(*l))
            })
            .map(|(f, _)| f.name.name.as_str())
            .collect();
        if more.is_empty() {
            break;
        }
        late.extend(more);
    }
    bodies
        .iter()
        .filter(|(f, _)| late.contains(f.name.name.as_str()) && !user_words.contains(&f.name.name))
        .map(|(f, _)| (f.name.clone(), f.arguments.clone()))
        .collect()
}

/// The words of everything in `schema` that must find a routine when it is created
/// itself: column defaults and generation expressions, constraints, indexes, domain
/// defaults and checks. A routine they name stays in `AddFunctions`.
pub(super) fn routine_users(schema: &Schema) -> BTreeSet<String> {
    let mut users: Vec<&str> = Vec::new();
    for t in &schema.tables {
        for c in &t.columns {
            users.extend(c.default.as_deref());
            users.extend(c.generated.as_deref());
        }
        users.extend(t.constraints.iter().map(|c| c.definition.as_str()));
    }
    users.extend(schema.indexes.iter().map(|i| i.definition.as_str()));
    for d in &schema.domains {
        users.extend(d.default.as_deref());
        users.extend(d.checks.iter().map(|c| c.definition.as_str()));
    }
    users.iter().flat_map(|u| words(u)).collect()
}

/// Routines whose parameters or result use the row type of a relation in `only`
/// (`RETURNS SETOF users`): PostgreSQL needs the relation first and refuses to drop it
/// while they exist. Those named by a [`routine_users`] object are left out.
pub(super) fn row_type_routines(
    schema: &Schema,
    only: &BTreeSet<&str>,
) -> BTreeSet<(QualifiedName, String)> {
    if only.is_empty() {
        return BTreeSet::new();
    }
    let blockers = routine_users(schema);
    schema
        .functions
        .iter()
        .filter(|f| {
            let (first, returns) = function_header(&f.definition);
            let header = words(&format!(
                "{}\n{}",
                first.unwrap_or_default(),
                returns.unwrap_or_default()
            ));
            only.iter().any(|r| header.contains(*r)) && !blockers.contains(&f.name.name)
        })
        .map(|f| (f.name.clone(), f.arguments.clone()))
        .collect()
}

/// Unqualified names of the tables, views and materialized views of `schema` that
/// `other` lacks.
pub(super) fn relations_missing_from<'s>(schema: &'s Schema, other: &Schema) -> BTreeSet<&'s str> {
    let names = |s: &Schema| -> BTreeSet<QualifiedName> {
        s.tables
            .iter()
            .map(|t| t.name.clone())
            .chain(s.views.iter().map(|v| v.name.clone()))
            .chain(s.materialized_views.iter().map(|v| v.name.clone()))
            .collect()
    };
    let theirs = names(other);
    schema
        .tables
        .iter()
        .map(|t| &t.name)
        .chain(schema.views.iter().map(|v| &v.name))
        .chain(schema.materialized_views.iter().map(|v| &v.name))
        .filter(|n| !theirs.contains(*n))
        .map(|n| n.name.as_str())
        .collect()
}

/// Definitions of the objects that [`created_object`] and [`dropped_object`] look up:
/// types, views and materialized views (by `qn`, as `Change::DropObject` names them,
/// with their unqualified name) and routines (by name and arguments).
pub(super) struct Definitions {
    types: BTreeMap<String, (String, String)>,
    functions: BTreeMap<(QualifiedName, String), String>,
}

pub(super) fn definitions(schema: &Schema) -> Definitions {
    let mut types = BTreeMap::new();
    let mut add = |name: &QualifiedName, block: Block| {
        types.insert(qn(name), (name.name.clone(), block.statements.join("\n")));
    };
    for d in &schema.domains {
        add(&d.name, render_domain(d));
    }
    for c in &schema.composites {
        add(&c.name, render_composite(c));
    }
    for r in &schema.ranges {
        add(&r.name, render_range(r));
    }
    for c in &schema.collations {
        types.insert(qn(&c.name), (c.name.name.clone(), String::new()));
    }
    for v in schema.views.iter().chain(&schema.materialized_views) {
        types.insert(qn(&v.name), (v.name.name.clone(), v.definition.clone()));
    }
    let functions = schema
        .functions
        .iter()
        .map(|f| ((f.name.clone(), f.arguments.clone()), f.definition.clone()))
        .collect();
    Definitions { types, functions }
}

/// The name a created change defines and the text of its definition.
pub(super) fn created_object(change: &Change, defs: &Definitions) -> (Option<String>, String) {
    match change {
        Change::AddEnum(e) => (Some(e.name.name.clone()), String::new()),
        Change::RecreateEnum { to, .. } => (Some(to.name.name.clone()), String::new()),
        Change::RecreateOverEnum { name, create, .. } => {
            (Some(name.name.clone()), create.join("\n"))
        }
        Change::CreateObject {
            name, statements, ..
        } => (
            defs.types.get(name).map(|(n, _)| n.clone()),
            statements.join("\n"),
        ),
        Change::AddSequence(s) => (Some(s.name.name.clone()), String::new()),
        Change::AddView(v) => (Some(v.name.name.clone()), v.definition.clone()),
        Change::AddFunction(f) => (Some(f.name.name.clone()), f.definition.clone()),
        _ => (None, String::new()),
    }
}

/// The name a dropped change removes and the text of its old definition.
pub(super) fn dropped_object(change: &Change, defs: &Definitions) -> (Option<String>, String) {
    match change {
        Change::DropObject { name, .. } => match defs.types.get(name) {
            Some((n, text)) => (Some(n.clone()), text.clone()),
            None => (None, String::new()),
        },
        Change::DropFunction {
            name, arguments, ..
        } => (
            Some(name.name.clone()),
            defs.functions
                .get(&(name.clone(), arguments.clone()))
                .cloned()
                .unwrap_or_default(),
        ),
        Change::DropSequence { name } => (Some(name.name.clone()), String::new()),
        Change::DropView { name } => match defs.types.get(&qn(name)) {
            Some((n, text)) => (Some(n.clone()), text.clone()),
            None => (Some(name.name.clone()), String::new()),
        },
        _ => (None, String::new()),
    }
}
