//! `diff`: compares two schema models kind by kind and emits the changes in phase order
//! (see the module documentation of `diff` for the phases and why).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::catalog::{parents_first, qn, render_composite, render_domain, render_range, Block};
use crate::sql::quote_ident;

use super::order::*;
use crate::sql::words::mentions;

#[path = "objects.rs"]
mod objects;

/// The changes that turn `from` into `to`, in an order that can be applied as is.
pub fn diff(from: &Schema, to: &Schema) -> Vec<Change> {
    Planner::new(from, to).plan()
}

/// Phases of a migration; changes are collected per phase and concatenated in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    DropPolicies,
    DropTriggers,
    DropViews,
    DropForeignTables,
    DropForeignServers,
    DropForeignWrappers,
    DropForeignKeys,
    DropConstraints,
    DropIndexes,
    /// `BEGIN ATOMIC` functions reading a relation, and functions using a dropped
    /// relation's row type, that are dropped: PostgreSQL refuses to drop what they use.
    /// Sorted with `DropViews` by references.
    DropAtomicFunctions,
    /// Column defaults that call a function dropped in `DropReplacedFunctions`; set
    /// again in `AlterColumns`, once the function exists again.
    DropDefaults,
    /// `NO INHERIT` and `DETACH PARTITION`, before columns change on either side.
    Detach,
    DisownSequences,
    /// Functions dropped to be created again in `AddFunctions`: `CREATE OR REPLACE`
    /// cannot change their return type or parameters, or their signature uses an enum
    /// that is recreated (the rename in `AddTypes` would carry them over to the old
    /// type). After the drops of their dependents, before the types change.
    DropReplacedFunctions,
    /// Unused types and collations whose definition changes, before they are created
    /// again in `AddTypes`.
    ReplaceTypes,
    AddSchemas,
    AddExtensions,
    AddTypes,
    AddSequences,
    AddFunctions,
    AddCasts,
    AddForeignWrappers,
    AddForeignServers,
    AddTables,
    AddForeignTables,
    AlterColumns,
    AddConstraints,
    AddIndexes,
    /// After the constraints and unique indexes they may reference.
    AddForeignKeys,
    OwnSequences,
    AddViews,
    /// Indexes and statistics of materialized views, which exist only now.
    AddViewIndexes,
    /// `BEGIN ATOMIC` functions whose body reads a relation: PostgreSQL checks such a
    /// body at creation (and records what it uses), so it waits for the tables, columns
    /// and views; and functions taking or returning a new relation's row type. Sorted
    /// with `AddViews` by references (either may use the other).
    AddAtomicFunctions,
    /// Replica identity and clustering (their index exists now), `INHERIT` and
    /// `ATTACH PARTITION` (the columns match now).
    TableSettings,
    AddTriggers,
    AddPolicies,
    Comments,
    DropTables,
    DropCasts,
    DropFunctions,
    DropSequences,
    /// Domains, composite and range types (which may use enums).
    DropDerivedTypes,
    DropTypes,
    DropCollations,
    DropExtensions,
    DropSchemas,
    Unsupported,
}

struct Planner<'a> {
    from: &'a Schema,
    to: &'a Schema,
    out: BTreeMap<Phase, Vec<Change>>,
    /// Tables kept on both sides whose columns change type or disappear: views, triggers
    /// and policies on them are dropped before and recreated after.
    reshaped_tables: BTreeSet<QualifiedName>,
    /// Objects created anew (or recreated), whose comments must be set from scratch.
    fresh: BTreeSet<String>,
    /// Kept tables that lose (or change) a primary key, unique constraint or unique
    /// index: a foreign key referencing them may depend on it, so it is recreated.
    rekeyed_tables: BTreeSet<QualifiedName>,
    /// The target's tables by name: looked up for every table and index, so a linear
    /// search would make a 5,000-table diff quadratic.
    to_tables: BTreeMap<&'a QualifiedName, &'a Table>,
    /// The source's tables by name, likewise.
    from_tables: BTreeMap<&'a QualifiedName, &'a Table>,
    /// Materialized views dropped and created again: their indexes, statistics and rules
    /// go with them and are created again.
    recreated_relations: BTreeSet<QualifiedName>,
    /// Enums recreated under the same name (see [`Change::RecreateEnum`]): indexes,
    /// constraints, views and functions that name them are dropped before the rename
    /// and created again after (PostgreSQL would carry them over to the old type).
    recreated_enums: BTreeSet<QualifiedName>,
    /// Domains, composite and range types over a recreated enum recreated with it (see
    /// [`Change::RecreateOverEnum`]): their dependents are handled as the enum's.
    recreated_over_enum: BTreeSet<QualifiedName>,
    /// Functions dropped in `DropReplacedFunctions` (and created again if kept), and the
    /// `reread_functions`: their dependents (defaults, constraints, indexes, views,
    /// triggers, policies) go first.
    replaced_functions: BTreeSet<QualifiedName>,
    /// Kept `BEGIN ATOMIC` functions dropped in `DropAtomicFunctions` and created again
    /// in `AddAtomicFunctions` (see [`Planner::reread_functions`]).
    reread_functions: BTreeSet<(QualifiedName, String)>,
    /// Columns whose default is dropped before the column phase (by an enum recreation
    /// or in `DropDefaults`), with the default they have again when it starts.
    defaults_before_columns: BTreeMap<(QualifiedName, String), Option<String>>,
}

/// How one kind of table child (triggers, policies) is dropped and added.
struct ChildChanges<D, A> {
    /// The phases its drops and its additions belong to.
    phases: (Phase, Phase),
    drop: D,
    add: A,
    /// `trigger`, `policy`: names the object in the set of those created afresh.
    kind: &'static str,
}

fn by_name<T, K: Ord>(items: &[T], key: impl Fn(&T) -> K) -> BTreeMap<K, &T> {
    items.iter().map(|item| (key(item), item)).collect()
}

/// `by_name` with keys borrowed from the items (no clones on large schemas).
fn by_ref<'s, T, K: Ord + 's>(items: &'s [T], key: impl Fn(&'s T) -> K) -> BTreeMap<K, &'s T> {
    items.iter().map(|item| (key(item), item)).collect()
}

/// The multirange type PostgreSQL creates with range type `range` (14+): `multi` before
/// the first `range` in the name, or `_multirange` appended (makeMultirangeTypeName).
pub(super) fn multirange_name(range: &str) -> String {
    match range.find("range") {
        Some(at) => format!("{}multi{}", &range[..at], &range[at..]),
        None => format!("{range}_multirange"),
    }
}

/// The domains, composite and range types of `schema` built on (an array of) the type
/// named `type_name` (`qn` form), each with the catalog's rendering of it.
fn types_built_on<'s>(
    schema: &'s Schema,
    type_name: &str,
) -> Vec<(ObjectKind, &'s QualifiedName, Block)> {
    let uses = |data_type: &str| enum_use(data_type, type_name).is_some();
    let domains = schema
        .domains
        .iter()
        .filter(|d| uses(&d.base_type))
        .map(|d| (ObjectKind::Domain, &d.name, render_domain(d)));
    let composites = schema
        .composites
        .iter()
        .filter(|c| c.attributes.iter().any(|a| uses(&a.data_type)))
        .map(|c| (ObjectKind::CompositeType, &c.name, render_composite(c)));
    let ranges = schema
        .ranges
        .iter()
        .filter(|r| uses(&r.subtype))
        .map(|r| (ObjectKind::RangeType, &r.name, render_range(r)));
    domains.chain(composites).chain(ranges).collect()
}

/// A type change that keeps every value and needs no `USING`: returns (using, narrowing).
pub(super) fn type_change_kind(from: &str, to: &str) -> (bool, bool) {
    fn varchar_len(t: &str) -> Option<Option<u32>> {
        if t == "character varying" {
            return Some(None);
        }
        let n = t.strip_prefix("character varying(")?.strip_suffix(')')?;
        n.parse().ok().map(Some)
    }
    /// `numeric(p,s)` as (p, s); since PostgreSQL 15 the scale may be negative or exceed p.
    fn numeric_typmod(t: &str) -> Option<(i64, i64)> {
        let inner = t.strip_prefix("numeric(")?.strip_suffix(')')?;
        let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
        Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
    }
    if let (Some(from), Some(to)) = (from.strip_suffix("[]"), to.strip_suffix("[]")) {
        // Arrays convert element by element: they lose what their elements lose, but
        // even a binary-coercible element change is an array coercion, with its USING.
        return (true, type_change_kind(from, to).1);
    }
    if let (Some((p1, s1)), Some((p2, s2))) = (numeric_typmod(from), numeric_typmod(to)) {
        // Same scale, more precision: no rewrite. More scale and as many integer digits:
        // a rewrite that keeps every value. Anything else can reject or round values.
        if s1 == s2 && p2 >= p1 {
            return (false, false);
        }
        return (true, !(s2 >= s1 && p2 - s2 >= p1 - s1));
    }
    // Binary-coercible widenings: PostgreSQL rewrites nothing and loses nothing.
    let binary = match (varchar_len(from), varchar_len(to)) {
        (Some(_), None) if to == "text" => true,
        (Some(_), Some(None)) => true,
        (Some(Some(a)), Some(Some(b))) => b >= a,
        (None, Some(None)) => from == "text",
        _ => false,
    } || (from.starts_with("numeric(") && to == "numeric");
    if binary {
        return (false, false);
    }
    // Widenings that rewrite the table but cannot lose or reject a value.
    let widening = matches!(
        (from, to),
        ("smallint", "integer")
            | ("smallint", "bigint")
            | ("integer", "bigint")
            | ("real", "double precision")
    );
    (true, !widening)
}

/// Whether changing `old`'s labels to `new`'s needs the type recreated: `ADD VALUE`
/// works only when every old label is kept, in the same relative order.
fn recreates(old: &EnumType, new: &EnumType) -> bool {
    if old.labels == new.labels {
        return false;
    }
    let mut kept = new.labels.iter().filter(|l| old.labels.contains(l));
    let in_order = old.labels.iter().all(|l| kept.next() == Some(l)) && kept.next().is_none();
    !in_order
}

/// Words PostgreSQL's `format_type` uses for an enum column: `type` or `type[]`.
fn enum_use(data_type: &str, enum_name: &str) -> Option<bool> {
    if data_type == enum_name {
        Some(false)
    } else if data_type.strip_suffix("[]") == Some(enum_name) {
        Some(true)
    } else {
        None
    }
}

impl<'a> Planner<'a> {
    fn new(from: &'a Schema, to: &'a Schema) -> Planner<'a> {
        Planner {
            from,
            to,
            out: BTreeMap::new(),
            reshaped_tables: BTreeSet::new(),
            fresh: BTreeSet::new(),
            rekeyed_tables: BTreeSet::new(),
            to_tables: to.tables.iter().map(|t| (&t.name, t)).collect(),
            from_tables: from.tables.iter().map(|t| (&t.name, t)).collect(),
            recreated_relations: BTreeSet::new(),
            recreated_enums: BTreeSet::new(),
            recreated_over_enum: BTreeSet::new(),
            replaced_functions: BTreeSet::new(),
            reread_functions: BTreeSet::new(),
            defaults_before_columns: BTreeMap::new(),
        }
    }

    /// Whether `text` (a definition or an expression) names a function dropped and
    /// created again, or an enum recreated: the object holding it must be dropped before
    /// and created again after. Generous, like [`mentions`].
    fn uses_replaced(&self, text: &str) -> bool {
        self.calls_replaced(text)
            || self
                .recreated_types()
                .any(|name| mentions(text, &name.name))
    }

    /// Enums recreated, and the types recreated over them.
    fn recreated_types(&self) -> impl Iterator<Item = &QualifiedName> {
        self.recreated_enums.iter().chain(&self.recreated_over_enum)
    }

    /// Whether `text` names a function dropped in `DropReplacedFunctions`.
    fn calls_replaced(&self, text: &str) -> bool {
        self.replaced_functions
            .iter()
            .any(|f| mentions(text, &f.name))
    }

    fn push(&mut self, phase: Phase, change: Change) {
        self.out.entry(phase).or_default().push(change);
    }

    fn plan(mut self) -> Vec<Change> {
        // Known up front: what depends on them is decided kind by kind below.
        self.recreated_enums = self.recreated_enums();
        self.recreated_over_enum = self.recreated_over_enum();
        self.replaced_functions = self
            .replaced_functions()
            .into_iter()
            .map(|f| f.name.clone())
            .collect();
        // Their dependents (views, triggers, policies) go and come back with them.
        self.reread_functions = self.reread_functions();
        self.replaced_functions
            .extend(self.reread_functions.iter().map(|(name, _)| name.clone()));
        self.schemas();
        self.extensions();
        self.enums();
        self.sequences();
        self.functions();
        self.tables();
        // Whole kinds after tables: recreated foreign tables count as reshaped.
        self.whole_kinds();
        // Views, triggers and policies last: they depend on which tables were reshaped;
        // indexes after views, which decide which materialized views are recreated.
        self.views();
        self.indexes();
        self.relation_children();
        self.triggers();
        self.policies();
        self.comments();
        self.unsupported();
        self.order_by_references();
        self.out.into_values().flatten().collect()
    }

    /// Within the phases that create (or drop) types, sequences and functions, orders
    /// the changes by what their definitions name, so that a domain over a domain, a
    /// composite over a composite type, a domain whose check calls a function and a
    /// function taking a domain each come after what they use (and on the way down are
    /// dropped before it). Independent changes keep their phase and name order.
    fn order_by_references(&mut self) {
        let adds = [Phase::AddTypes, Phase::AddSequences, Phase::AddFunctions];
        let changes: Vec<Change> = adds
            .iter()
            .flat_map(|p| self.out.remove(p).unwrap_or_default())
            .collect();
        let to_texts = definitions(self.to);
        let sorted = reference_order(changes, |c| created_object(c, &to_texts));
        self.out.insert(Phase::AddTypes, sorted);

        // Views and `BEGIN ATOMIC` functions reading relations: either may use the other.
        let changes: Vec<Change> = [Phase::AddViews, Phase::AddAtomicFunctions]
            .iter()
            .flat_map(|p| self.out.remove(p).unwrap_or_default())
            .collect();
        let sorted = reference_order(changes, |c| created_object(c, &to_texts));
        self.out.insert(Phase::AddViews, sorted);

        let from_texts = definitions(self.from);
        for group in [
            &[Phase::DropViews, Phase::DropAtomicFunctions][..],
            &[Phase::ReplaceTypes][..],
            &[
                Phase::DropFunctions,
                Phase::DropSequences,
                Phase::DropDerivedTypes,
            ][..],
        ] {
            // Sorted as if created (in reverse of the drop order), then reversed.
            let mut changes: Vec<Change> = group
                .iter()
                .flat_map(|p| self.out.remove(p).unwrap_or_default())
                .collect();
            changes.reverse();
            let mut sorted = reference_order(changes, |c| dropped_object(c, &from_texts));
            sorted.reverse();
            self.out.insert(group[0], sorted);
        }
    }

    fn schemas(&mut self) {
        let from = by_name(&self.from.schemas, |s| s.name.clone());
        let to = by_name(&self.to.schemas, |s| s.name.clone());
        for name in to.keys().filter(|n| !from.contains_key(*n)) {
            self.fresh.insert(format!("schema {name}"));
            self.push(Phase::AddSchemas, Change::AddSchema { name: name.clone() });
        }
        // Reverse name order so that drops mirror creations.
        for name in from.keys().rev().filter(|n| !to.contains_key(*n)) {
            self.push(
                Phase::DropSchemas,
                Change::DropSchema { name: name.clone() },
            );
        }
    }

    fn extensions(&mut self) {
        let from = by_name(&self.from.extensions, |e| e.name.clone());
        let to = by_name(&self.to.extensions, |e| e.name.clone());
        for (name, new) in &to {
            match from.get(name) {
                None => self.push(Phase::AddExtensions, Change::AddExtension((*new).clone())),
                Some(old) if old.schema != new.schema => {
                    self.push(
                        Phase::Unsupported,
                        Change::Unsupported {
                            kind: "extension",
                            name: name.clone(),
                            detail: format!("moves from schema {} to {}", old.schema, new.schema),
                        },
                    );
                }
                Some(old) if old.version != new.version => self.push(
                    Phase::AddExtensions,
                    Change::AlterExtension {
                        name: name.clone(),
                        version: new.version.clone(),
                    },
                ),
                Some(_) => {}
            }
        }
        for name in from.keys().rev().filter(|n| !to.contains_key(*n)) {
            self.push(
                Phase::DropExtensions,
                Change::DropExtension { name: name.clone() },
            );
        }
    }

    fn enums(&mut self) {
        let from = by_name(&self.from.enums, |e| e.name.clone());
        let to = by_name(&self.to.enums, |e| e.name.clone());
        for (name, new) in &to {
            let Some(old) = from.get(name) else {
                self.fresh.insert(format!("type {}", qn(name)));
                self.push(Phase::AddTypes, Change::AddEnum((*new).clone()));
                continue;
            };
            if old.labels == new.labels {
                continue;
            }
            if !recreates(old, new) {
                for (i, label) in new.labels.iter().enumerate() {
                    if old.labels.contains(label) {
                        continue;
                    }
                    let position = match (i.checked_sub(1), old.labels.first()) {
                        (Some(prev), _) => EnumPosition::After(new.labels[prev].clone()),
                        (None, Some(first)) => EnumPosition::Before(first.clone()),
                        (None, None) => EnumPosition::Last,
                    };
                    self.push(
                        Phase::AddTypes,
                        Change::AddEnumValue {
                            name: name.clone(),
                            label: label.clone(),
                            position,
                        },
                    );
                }
            } else {
                self.recreate_enum(old, new);
            }
        }
        for name in from.keys().rev().filter(|n| !to.contains_key(*n)) {
            self.push(Phase::DropTypes, Change::DropEnum { name: name.clone() });
        }
    }

    /// Enums kept on both sides that [`recreates`].
    fn recreated_enums(&self) -> BTreeSet<QualifiedName> {
        let to = by_ref(&self.to.enums, |e| &e.name);
        self.from
            .enums
            .iter()
            .filter(|old| to.get(&old.name).is_some_and(|new| recreates(old, new)))
            .map(|old| old.name.clone())
            .collect()
    }

    /// The types built on a recreated enum that are recreated with it: kept on both
    /// sides with the same definition over the enum (a domain's base type, a composite's
    /// attribute names and types, a range as a whole), and for a range, no functions of
    /// its own (they would take the old enum) and no column of its multirange type
    /// (which a rename leaves behind). The others are reported as not generated.
    fn recreated_over_enum(&self) -> BTreeSet<QualifiedName> {
        let same_attributes = |a: &[Column], b: &[Column]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.name == y.name && x.data_type == y.data_type)
        };
        let follows = |kind: ObjectKind, name: &QualifiedName| match kind {
            ObjectKind::Domain => {
                let old = self.from.domains.iter().find(|d| d.name == *name);
                let new = self.to.domains.iter().find(|d| d.name == *name);
                old.zip(new)
                    .is_some_and(|(o, n)| o.base_type == n.base_type)
            }
            ObjectKind::CompositeType => {
                let old = self.from.composites.iter().find(|c| c.name == *name);
                let new = self.to.composites.iter().find(|c| c.name == *name);
                old.zip(new)
                    .is_some_and(|(o, n)| same_attributes(&o.attributes, &n.attributes))
            }
            ObjectKind::RangeType => {
                let old = self.from.ranges.iter().find(|r| r.name == *name);
                let new = self.to.ranges.iter().find(|r| r.name == *name);
                let multirange = qn(&QualifiedName::new(
                    name.schema.clone(),
                    multirange_name(&name.name),
                ));
                let multirange_column = self.from.tables.iter().any(|t| {
                    t.columns
                        .iter()
                        .any(|c| enum_use(&c.data_type, &multirange).is_some())
                });
                old.zip(new).is_some_and(|(o, n)| {
                    o == n && o.canonical.is_none() && o.subtype_diff.is_none()
                }) && !multirange_column
            }
            _ => false,
        };
        self.recreated_enums
            .iter()
            .flat_map(|e| types_built_on(self.from, &qn(e)))
            .filter(|(kind, name, _)| follows(*kind, name))
            .map(|(_, name, _)| name.clone())
            .collect()
    }

    /// Functions of `from` dropped in `DropReplacedFunctions`: kept ones whose kind or
    /// header changes (or aggregates, which have no `OR REPLACE`), and any whose
    /// signature names a recreated enum. Needs `recreated_enums`.
    fn replaced_functions(&self) -> Vec<&'a Function> {
        let to = by_ref(&self.to.functions, |f| (&f.name, &f.arguments));
        self.from
            .functions
            .iter()
            .filter(|old| {
                let (first, returns) = function_header(&old.definition);
                let signature = [Some(old.arguments.as_str()), first, returns];
                let on_recreated_enum = self.recreated_types().any(|e| {
                    signature
                        .iter()
                        .flatten()
                        .any(|text| mentions(text, &e.name))
                });
                let changed = to.get(&(&old.name, &old.arguments)).is_some_and(|new| {
                    (old.definition != new.definition || old.kind != new.kind)
                        && (old.kind == FunctionKind::Aggregate
                            || old.kind != new.kind
                            || function_header(&old.definition) != function_header(&new.definition))
                });
                on_recreated_enum || changed
            })
            .collect()
    }

    fn recreate_enum(&mut self, old: &EnumType, new: &EnumType) {
        let type_name = qn(&new.name);
        let columns = self.retyped_columns(&type_name);
        let old_name = self.unused_type_name(&new.name);
        let removed: Vec<String> = old
            .labels
            .iter()
            .filter(|l| !new.labels.contains(l))
            .cloned()
            .collect();
        self.unsupported_enum_dependents(&type_name);
        self.fresh.insert(format!("type {type_name}"));
        self.push(
            Phase::AddTypes,
            Change::RecreateEnum {
                to: new.clone(),
                old_name: old_name.clone(),
                columns,
                removed: removed.clone(),
            },
        );
        // Domains, composite and range types over the enum follow it: renamed, created
        // again over the new enum (as the target defines them), their columns retyped,
        // the old ones dropped before the old enum.
        let followers: Vec<(ObjectKind, QualifiedName, Vec<String>)> =
            types_built_on(self.to, &type_name)
                .into_iter()
                .filter(|(_, name, _)| self.recreated_over_enum.contains(*name))
                .map(|(kind, name, block)| (kind, name.clone(), block.statements))
                .collect();
        for (kind, name, create) in followers {
            let columns = self.retyped_columns(&qn(&name));
            let old_type = self.unused_type_name(&name);
            self.fresh.insert(format!("{} {}", kind.noun(), qn(&name)));
            self.push(
                Phase::AddTypes,
                Change::RecreateOverEnum {
                    kind,
                    name,
                    create,
                    old_name: old_type.clone(),
                    columns,
                    removed: removed.clone(),
                    multirange: self.from.server_major.0.is_none_or(|major| major >= 14),
                },
            );
            self.push(
                Phase::DropDerivedTypes,
                Change::DropObject {
                    kind,
                    name: qn(&old_type),
                },
            );
        }
        self.push(Phase::DropTypes, Change::DropEnum { name: old_name });
    }

    /// The kept columns of type `type_name` (or an array of it) that a recreation of the
    /// type retypes; their tables count as reshaped, their defaults are dropped first.
    fn retyped_columns(&mut self, type_name: &str) -> Vec<EnumColumn> {
        let mut columns = Vec::new();
        for table in &self.from.tables {
            let Some(to_table) = self.to_tables.get(&table.name) else {
                continue;
            };
            for column in &table.columns {
                let Some(array) = enum_use(&column.data_type, type_name) else {
                    continue;
                };
                // Only columns that keep the type; others change type in the column phase.
                let kept = to_table
                    .columns
                    .iter()
                    .find(|c| c.name == column.name && c.data_type == column.data_type);
                if let Some(kept) = kept {
                    self.reshaped_tables.insert(table.name.clone());
                    // A default calling a replaced function is gone already (dropped in
                    // `DropDefaults`) and cannot be set before the function exists again.
                    let default = column.default.clone().filter(|d| !self.calls_replaced(d));
                    let had_default = default.is_some();
                    let default = default.filter(|_| kept.default == column.default);
                    if had_default {
                        self.defaults_before_columns
                            .insert((table.name.clone(), column.name.clone()), default.clone());
                    }
                    columns.push(EnumColumn {
                        table: table.name.clone(),
                        column: column.name.clone(),
                        array,
                        had_default,
                        default,
                    });
                }
            }
        }
        columns
    }

    /// `NAME__retort_old` (with more `_` as needed): a name no type of either schema
    /// has, for the old type while the new one takes its name.
    fn unused_type_name(&self, name: &QualifiedName) -> QualifiedName {
        let mut old_name =
            QualifiedName::new(name.schema.clone(), format!("{}__retort_old", name.name));
        let taken = |candidate: &QualifiedName| {
            [self.from, self.to].iter().any(|s| {
                s.enums.iter().any(|e| e.name == *candidate)
                    || s.domains.iter().any(|d| d.name == *candidate)
                    || s.composites.iter().any(|c| c.name == *candidate)
                    || s.ranges.iter().any(|r| r.name == *candidate)
                    || s.tables.iter().any(|t| t.name == *candidate)
            })
        };
        while taken(&old_name) {
            old_name.name.push('_');
        }
        old_name
    }

    /// Types built on an enum that is created again but not recreated with it (see
    /// [`Planner::recreated_over_enum`]) keep pointing at the renamed old enum, whose
    /// `DROP TYPE` then fails. Each is reported, so the script says so instead of
    /// failing at its last statement.
    fn unsupported_enum_dependents(&mut self, type_name: &str) {
        let dependents: Vec<(ObjectKind, String)> = types_built_on(self.from, type_name)
            .into_iter()
            .filter(|(_, name, _)| !self.recreated_over_enum.contains(*name))
            .map(|(kind, name, _)| (kind, qn(name)))
            .collect();
        for (kind, name) in dependents {
            self.push(
                Phase::Unsupported,
                Change::Unsupported {
                    kind: kind.noun(),
                    name,
                    detail: format!(
                        "it is built on enum {type_name}, which is created again to remove \
                         or reorder labels, and the old enum cannot be dropped while this \
                         type uses it"
                    ),
                },
            );
        }
    }

    /// Tables and columns that disappear, for the drops they take with them.
    fn dropped_column(&self, table: &QualifiedName, column: &str) -> bool {
        match self.to_tables.get(table) {
            None => true,
            Some(t) => !t.columns.iter().any(|c| c.name == column),
        }
    }

    /// Whether a column default other than the owner column's uses `sequence`.
    fn used_by_default(&self, sequence: &QualifiedName, owner: &(QualifiedName, String)) -> bool {
        self.from.tables.iter().any(|t| {
            t.columns.iter().any(|c| {
                (t.name != owner.0 || c.name != owner.1)
                    && c.default
                        .as_deref()
                        .is_some_and(|d| mentions(d, &sequence.name))
            })
        })
    }

    fn sequences(&mut self) {
        let from = by_name(&self.from.sequences, |s| s.name.clone());
        let to = by_name(&self.to.sequences, |s| s.name.clone());
        for (name, new) in &to {
            match from.get(name) {
                None => {
                    self.fresh.insert(format!("sequence {}", qn(name)));
                    let mut created = (*new).clone();
                    // Ownership needs the table; it is set once the tables exist.
                    created.owned_by = None;
                    self.push(Phase::AddSequences, Change::AddSequence(created));
                    if new.owned_by.is_some() {
                        self.push(
                            Phase::OwnSequences,
                            Change::SetSequenceOwner {
                                name: name.clone(),
                                owned_by: new.owned_by.clone(),
                            },
                        );
                    }
                }
                Some(old) => {
                    if old.options != new.options {
                        self.push(
                            Phase::AddSequences,
                            Change::AlterSequence {
                                name: name.clone(),
                                from: old.options.clone(),
                                to: new.options.clone(),
                            },
                        );
                    }
                    if old.owned_by != new.owned_by {
                        self.move_sequence_owner(name, old, new);
                    }
                }
            }
        }
        for (name, old) in from.iter().rev() {
            if to.contains_key(name) {
                continue;
            }
            // A sequence owned by a dropped column or table goes with it, unless another
            // column's default uses it: that default may go later than the owner (or in
            // another table), so the sequence is disowned first and dropped last.
            let owner = old
                .owned_by
                .as_ref()
                .filter(|(table, column)| self.dropped_column(table, column));
            let used_elsewhere = owner.is_some_and(|owner| self.used_by_default(name, owner));
            if used_elsewhere {
                self.push(
                    Phase::DisownSequences,
                    Change::SetSequenceOwner {
                        name: name.clone(),
                        owned_by: None,
                    },
                );
            }
            if owner.is_none() || used_elsewhere {
                self.push(
                    Phase::DropSequences,
                    Change::DropSequence { name: name.clone() },
                );
            }
        }
    }

    /// `OWNED BY` changes. Disowning comes first: dropping the old owner column (or
    /// table) would drop the sequence with it. A new owner is set once it exists, so a
    /// move off a dropped owner is done in two steps unless the new owner exists on
    /// both sides already.
    fn move_sequence_owner(&mut self, name: &QualifiedName, old: &Sequence, new: &Sequence) {
        let set = |owned_by: Option<(QualifiedName, String)>| Change::SetSequenceOwner {
            name: name.clone(),
            owned_by,
        };
        let old_owner_dropped = old
            .owned_by
            .as_ref()
            .is_some_and(|(table, column)| self.dropped_column(table, column));
        let Some((table, column)) = &new.owned_by else {
            self.push(Phase::DisownSequences, set(None));
            return;
        };
        if !old_owner_dropped {
            self.push(Phase::OwnSequences, set(new.owned_by.clone()));
            return;
        }
        let exists_before = self
            .from
            .tables
            .iter()
            .any(|t| &t.name == table && t.columns.iter().any(|c| &c.name == column));
        if exists_before {
            self.push(Phase::DisownSequences, set(new.owned_by.clone()));
        } else {
            self.push(Phase::DisownSequences, set(None));
            self.push(Phase::OwnSequences, set(new.owned_by.clone()));
        }
    }

    fn functions(&mut self) {
        let key = |f: &Function| (f.name.clone(), f.arguments.clone());
        let from = by_name(&self.from.functions, key);
        let to = by_name(&self.to.functions, key);
        let replaced: BTreeSet<(QualifiedName, String)> =
            self.replaced_functions().into_iter().map(key).collect();
        let drop = |f: &Function| Change::DropFunction {
            name: f.name.clone(),
            arguments: f.arguments.clone(),
            kind: f.kind,
        };
        let mut late = atomic_readers(self.to);
        late.extend(row_type_routines(
            self.to,
            &relations_missing_from(self.to, self.from),
        ));
        let mut early = atomic_readers(self.from);
        early.extend(row_type_routines(
            self.from,
            &relations_missing_from(self.from, self.to),
        ));
        let rereads = self.reread_functions.clone();
        for (k, new) in &to {
            let fresh = format!("function {}({})", qn(&k.0), k.1);
            let phase = if late.contains(k) {
                Phase::AddAtomicFunctions
            } else {
                Phase::AddFunctions
            };
            match from.get(k) {
                None => {
                    self.fresh.insert(fresh);
                    self.push(phase, Change::AddFunction((*new).clone()));
                }
                // Dropped early (see `replaced_functions` and `rereads`), created again.
                Some(_) if replaced.contains(k) || rereads.contains(k) => {
                    self.fresh.insert(fresh);
                    self.push(phase, Change::AddFunction((*new).clone()));
                }
                Some(old) if old.definition != new.definition || old.kind != new.kind => {
                    self.push(phase, Change::AddFunction((*new).clone()));
                }
                Some(_) => {}
            }
        }
        for (k, old) in from.iter().rev() {
            if replaced.contains(k) {
                self.push(Phase::DropReplacedFunctions, drop(old));
            } else if rereads.contains(k) {
                self.push(Phase::DropAtomicFunctions, drop(old));
            } else if !to.contains_key(k) {
                let phase = if early.contains(k) {
                    Phase::DropAtomicFunctions
                } else {
                    Phase::DropFunctions
                };
                self.push(phase, drop(old));
            }
        }
    }

    /// Kept tables with a column that changes type (or collation) or is dropped, known
    /// before `tables` runs (which fills `reshaped_tables` with more reasons).
    /// Kept `BEGIN ATOMIC` functions reading a table whose columns change type or go:
    /// PostgreSQL refuses that change while the body depends on the column, so they
    /// are dropped first and created again after, like views (and what calls them).
    fn reread_functions(&self) -> BTreeSet<(QualifiedName, String)> {
        let to = by_ref(&self.to.functions, |f| (&f.name, &f.arguments));
        let reshaped = self.reshaped_upfront();
        let from = by_ref(&self.from.functions, |f| (&f.name, &f.arguments));
        atomic_readers(self.from)
            .into_iter()
            .filter(|(name, args)| to.contains_key(&(name, args)))
            .filter(|(name, args)| {
                from.get(&(name, args)).is_some_and(|f| {
                    let body = words(&f.definition);
                    reshaped.iter().any(|t| body.contains(&t.name))
                })
            })
            .collect()
    }

    fn reshaped_upfront(&self) -> Vec<&'a QualifiedName> {
        self.from
            .tables
            .iter()
            .filter(|old| {
                self.to_tables.get(&old.name).is_some_and(|new| {
                    old.columns.iter().any(|c| {
                        !new.columns.iter().any(|n| {
                            n.name == c.name
                                && n.data_type == c.data_type
                                && n.collation == c.collation
                        })
                    })
                })
            })
            .map(|t| &t.name)
            .collect()
    }

    fn tables(&mut self) {
        let from = by_name(&self.from.tables, |t| t.name.clone());
        let to = by_name(&self.to.tables, |t| t.name.clone());
        self.rekeyed_tables = self.rekeyed_tables();
        // Defaults calling a replaced function, on any table (even one dropped later):
        // DROP FUNCTION fails while they exist.
        for table in &self.from.tables {
            let mut drops = Vec::new();
            for column in &table.columns {
                if column
                    .default
                    .as_deref()
                    .is_some_and(|d| self.calls_replaced(d))
                {
                    self.defaults_before_columns
                        .insert((table.name.clone(), column.name.clone()), None);
                    drops.push(TableChange::AlterColumn {
                        name: column.name.clone(),
                        change: ColumnChange::DropDefault,
                    });
                }
            }
            self.push_alter(Phase::DropDefaults, &table.name, drops);
        }
        // Parents first: a partition or inheritance child is created after its parent.
        let to_list: Vec<&Table> = to.values().copied().collect();
        for new in parents_first(&to_list) {
            match from.get(&new.name) {
                None => self.add_table(new),
                Some(old) => self.alter_table(old, new),
            }
        }
        let reused = relation_names(self.to);
        // Children first, in reverse: an inheritance parent cannot be dropped before them.
        let from_list: Vec<&Table> = from.values().copied().collect();
        for old in parents_first(&from_list).into_iter().rev() {
            let name = &old.name;
            if to.contains_key(name) {
                continue;
            }
            // Foreign keys of a dropped table are dropped first: the table it references
            // may be dropped too, in any order.
            let fks: Vec<TableChange> = old
                .constraints
                .iter()
                .filter(|c| c.kind == ConstraintKind::ForeignKey)
                .map(|c| TableChange::DropConstraint {
                    name: c.name.clone(),
                    kind: c.kind,
                })
                .collect();
            if !fks.is_empty() {
                self.push(
                    Phase::DropForeignKeys,
                    Change::AlterTable {
                        name: name.clone(),
                        changes: fks,
                    },
                );
            }
            // A key's index would still hold its name when a new relation takes it; a
            // constraint calling a replaced function would block its drop.
            let keys: Vec<TableChange> = old
                .constraints
                .iter()
                .filter(|c| {
                    (has_index(c.kind)
                        && reused
                            .contains(&QualifiedName::new(name.schema.clone(), c.name.clone())))
                        || (c.kind != ConstraintKind::ForeignKey
                            && self.calls_replaced(&c.definition))
                })
                .map(|c| TableChange::DropConstraint {
                    name: c.name.clone(),
                    kind: c.kind,
                })
                .collect();
            self.push_alter(Phase::DropConstraints, name, keys);
            // A partition of a dropped table goes with it (a kept partition is detached
            // first, in `table_settings`): a DROP of its own would find it gone.
            let goes_with_parent = old
                .partition_of
                .as_ref()
                .is_some_and(|p| !to.contains_key(&p.parent));
            // A partition of a kept table goes before partitions are added: a new one
            // may take its bounds.
            let phase = if old.partition_of.is_some() {
                Phase::Detach
            } else {
                Phase::DropTables
            };
            if !goes_with_parent {
                self.push(phase, Change::DropTable { name: name.clone() });
            }
        }
    }

    /// Kept tables whose keys a foreign key may depend on change (see `rekeyed_tables`).
    fn rekeyed_tables(&self) -> BTreeSet<QualifiedName> {
        let mut out = BTreeSet::new();
        let to_indexes = by_ref(&self.to.indexes, |i| &i.name);
        // Tables with a unique index that is gone or changed, in one pass over indexes.
        let lost_index: BTreeSet<&QualifiedName> = self
            .from
            .indexes
            .iter()
            .filter(|i| {
                i.unique
                    && to_indexes
                        .get(&i.name)
                        .is_none_or(|n| n.definition != i.definition)
            })
            .map(|i| &i.table)
            .collect();
        for old in &self.from.tables {
            let Some(new) = self.to_tables.get(&old.name) else {
                continue;
            };
            let lost_key = old.constraints.iter().any(|c| {
                matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
                    && !new.constraints.iter().any(|n| same_constraint(c, n))
            });
            if lost_key || lost_index.contains(&old.name) {
                out.insert(old.name.clone());
            }
        }
        out
    }

    fn add_table(&mut self, table: &Table) {
        self.fresh.insert(format!("table {}", qn(&table.name)));
        let mut created = table.clone();
        let (fks, others): (Vec<Constraint>, Vec<Constraint>) = created
            .constraints
            .drain(..)
            .partition(|c| c.kind == ConstraintKind::ForeignKey);
        created.constraints = others;
        let parent = table
            .partition_of
            .as_ref()
            .and_then(|p| self.to_tables.get(&p.parent));
        let change = match parent {
            Some(parent) => Change::AddPartition {
                table: created,
                parent_columns: parent.columns.clone(),
            },
            None => Change::AddTable(created),
        };
        self.push(Phase::AddTables, change);
        let mut security = Vec::new();
        if table.row_security {
            security.push(TableChange::SetRowSecurity(true));
        }
        if table.force_row_security {
            security.push(TableChange::SetForceRowSecurity(true));
        }
        self.push_alter(Phase::AlterColumns, &table.name, security);
        let fks = fks.into_iter().map(TableChange::AddConstraint).collect();
        self.push_alter(Phase::AddForeignKeys, &table.name, fks);
    }

    fn push_alter(&mut self, phase: Phase, name: &QualifiedName, changes: Vec<TableChange>) {
        if !changes.is_empty() {
            self.push(
                phase,
                Change::AlterTable {
                    name: name.clone(),
                    changes,
                },
            );
        }
    }

    /// A partition as it will be once its parent's own column changes have recursed
    /// into it: PostgreSQL applies `ADD`/`DROP COLUMN`, `TYPE`, `SET`/`DROP DEFAULT` and
    /// `SET`/`DROP NOT NULL` on a partitioned table to every partition (and refuses
    /// most of them on a partition), so the partition's own changes are only what is
    /// left. `None` unless the table stays a partition of the same, kept parent.
    fn after_parent_changes(&self, old: &Table, new: &Table) -> Option<Table> {
        let parent = &old.partition_of.as_ref()?.parent;
        if new.partition_of.as_ref().map(|p| &p.parent) != Some(parent) {
            return None;
        }
        let (was, now) = (self.from_tables.get(parent)?, self.to_tables.get(parent)?);
        let mut adjusted = old.clone();
        adjusted.columns.retain(|c| {
            !was.columns.iter().any(|p| p.name == c.name)
                || now.columns.iter().any(|p| p.name == c.name)
        });
        for column in &now.columns {
            let Some(before) = was.columns.iter().find(|p| p.name == column.name) else {
                if !adjusted.columns.iter().any(|c| c.name == column.name) {
                    adjusted.columns.push(column.clone());
                }
                continue;
            };
            let Some(mine) = adjusted.columns.iter_mut().find(|c| c.name == column.name) else {
                continue;
            };
            if before.default != column.default {
                mine.default = column.default.clone();
            }
            if before.not_null != column.not_null {
                mine.not_null = column.not_null;
            }
            if before.data_type != column.data_type || before.collation != column.collation {
                mine.data_type = column.data_type.clone();
                mine.collation = column.collation.clone();
            }
        }
        Some(adjusted)
    }

    fn alter_table(&mut self, old: &Table, new: &Table) {
        let adjusted = self.after_parent_changes(old, new);
        let old = adjusted.as_ref().unwrap_or(old);
        let name = &new.name;
        let unsupported = [
            ("partition key", old.partition_key != new.partition_key),
            ("owner", old.owner != new.owner),
            ("privileges", old.acl != new.acl),
        ];
        for (what, differs) in unsupported {
            if differs {
                self.push(
                    Phase::Unsupported,
                    Change::Unsupported {
                        kind: "table",
                        name: qn(name),
                        detail: format!("{what} differs"),
                    },
                );
            }
        }
        self.table_settings(old, new);

        // Columns: drops, then additions, then alterations.
        let mut columns = Vec::new();
        for column in &old.columns {
            if !new.columns.iter().any(|c| c.name == column.name) {
                self.reshaped_tables.insert(name.clone());
                columns.push(TableChange::DropColumn {
                    name: column.name.clone(),
                });
            }
        }
        for column in &new.columns {
            if !old.columns.iter().any(|c| c.name == column.name) {
                columns.push(TableChange::AddColumn(column.clone()));
            }
        }
        for column in &new.columns {
            if let Some(prev) = old.columns.iter().find(|c| c.name == column.name) {
                let changes = self.alter_column(name, prev, column);
                columns.extend(changes.into_iter().map(|change| TableChange::AlterColumn {
                    name: column.name.clone(),
                    change,
                }));
            }
        }
        if old.row_security != new.row_security {
            columns.push(TableChange::SetRowSecurity(new.row_security));
        }
        if old.force_row_security != new.force_row_security {
            columns.push(TableChange::SetForceRowSecurity(new.force_row_security));
        }
        self.push_alter(Phase::AlterColumns, name, columns);

        // Constraints: a changed one is dropped and added again.
        let mut drop_fks = Vec::new();
        let mut drop_others = Vec::new();
        let mut add_fks = Vec::new();
        let mut add_others = Vec::new();
        // A foreign key on a table whose key changes may depend on the dropped key.
        let rekeyed = |c: &Constraint| {
            c.kind == ConstraintKind::ForeignKey
                && self
                    .rekeyed_tables
                    .iter()
                    .any(|t| c.definition.contains(&format!("REFERENCES {}(", qn(t))))
        };
        // A constraint naming a replaced function or a recreated enum (a CHECK, an
        // exclusion's expression or predicate) is dropped before they change.
        let forced: BTreeSet<&str> = old
            .constraints
            .iter()
            .chain(&new.constraints)
            .filter(|c| c.kind != ConstraintKind::ForeignKey && self.uses_replaced(&c.definition))
            .map(|c| c.name.as_str())
            .collect();
        let uses_replaced = |c: &Constraint| forced.contains(c.name.as_str());
        for c in &old.constraints {
            let same = new.constraints.iter().any(|n| same_constraint(c, n))
                && !rekeyed(c)
                && !uses_replaced(c);
            if !same {
                let change = TableChange::DropConstraint {
                    name: c.name.clone(),
                    kind: c.kind,
                };
                if c.kind == ConstraintKind::ForeignKey {
                    drop_fks.push(change);
                } else {
                    drop_others.push(change);
                }
            }
        }
        for c in &new.constraints {
            let same = old.constraints.iter().any(|o| same_constraint(o, c))
                && !rekeyed(c)
                && !uses_replaced(c);
            if !same {
                self.fresh.insert(format!(
                    "constraint {} on {}",
                    quote_ident(&c.name),
                    qn(name)
                ));
                let change = TableChange::AddConstraint(c.clone());
                if c.kind == ConstraintKind::ForeignKey {
                    add_fks.push(change);
                } else {
                    add_others.push(change);
                }
            }
        }
        self.push_alter(Phase::DropForeignKeys, name, drop_fks);
        self.push_alter(Phase::DropConstraints, name, drop_others);
        self.push_alter(Phase::AddConstraints, name, add_others);
        self.push_alter(Phase::AddForeignKeys, name, add_fks);
    }

    /// Persistence, storage parameters, access method, replica identity, clustering,
    /// inheritance and partition membership.
    fn table_settings(&mut self, old: &Table, new: &Table) {
        let name = &new.name;
        let mut early = Vec::new();
        let mut settings = Vec::new();
        let mut late = Vec::new();
        if old.unlogged != new.unlogged {
            settings.push(TableChange::SetLogged(!new.unlogged));
        }
        let key = |o: &String| o.split_once('=').map_or(o.clone(), |(k, _)| k.to_string());
        let set: Vec<String> = new
            .options
            .iter()
            .filter(|o| !old.options.contains(o))
            .cloned()
            .collect();
        let reset: Vec<String> = old
            .options
            .iter()
            .map(key)
            .filter(|k| !new.options.iter().any(|o| &key(o) == k))
            .collect();
        if !set.is_empty() || !reset.is_empty() {
            settings.push(TableChange::SetOptions { set, reset });
        }
        if old.access_method != new.access_method {
            let method = new.access_method.clone().unwrap_or_else(|| "heap".into());
            settings.push(TableChange::SetAccessMethod(method));
        }
        if old.replica_identity != new.replica_identity {
            late.push(TableChange::SetReplicaIdentity(
                new.replica_identity.clone(),
            ));
        }
        if old.cluster_on != new.cluster_on {
            late.push(TableChange::SetClusterOn(new.cluster_on.clone()));
        }
        for parent in old.inherits.iter().filter(|p| !new.inherits.contains(p)) {
            early.push(TableChange::NoInherit(parent.clone()));
        }
        for parent in new.inherits.iter().filter(|p| !old.inherits.contains(p)) {
            late.push(TableChange::Inherit(parent.clone()));
        }
        self.push_alter(Phase::Detach, name, early);
        self.push_alter(Phase::AlterColumns, name, settings);
        self.push_alter(Phase::TableSettings, name, late);
        // Partition membership is changed on the parent.
        if old.partition_of != new.partition_of {
            // Even from a parent about to be dropped: dropping it would take this table.
            if let Some(was) = &old.partition_of {
                let detach = vec![TableChange::DetachPartition {
                    partition: name.clone(),
                }];
                self.push_alter(Phase::Detach, &was.parent, detach);
                let keep_indexes = self
                    .from
                    .indexes
                    .iter()
                    .filter(|i| &i.table == name)
                    .map(|i| i.name.name.clone())
                    .chain(
                        old.constraints
                            .iter()
                            .filter(|c| has_index(c.kind))
                            .map(|c| c.name.clone()),
                    )
                    .collect();
                let clones = vec![TableChange::DropDetachedClones {
                    keep_constraints: old.constraints.iter().map(|c| c.name.clone()).collect(),
                    keep_indexes,
                }];
                self.push_alter(Phase::Detach, name, clones);
            }
            if let Some(now) = &new.partition_of {
                let attach = vec![TableChange::AttachPartition {
                    partition: name.clone(),
                    bound: now.bound.clone(),
                }];
                self.push_alter(Phase::TableSettings, &now.parent, attach);
            }
        }
    }

    fn alter_column(
        &mut self,
        table: &QualifiedName,
        old: &Column,
        new: &Column,
    ) -> Vec<ColumnChange> {
        let mut changes = Vec::new();
        let retype = old.data_type != new.data_type || old.collation != new.collation;
        if old.generated != new.generated || old.generated_virtual != new.generated_virtual {
            self.push(
                Phase::Unsupported,
                Change::Unsupported {
                    kind: "column",
                    name: format!("{}.{}", qn(table), quote_ident(&new.name)),
                    detail: "generation expression differs".to_string(),
                },
            );
        }
        // Back to the type's default storage needs the type's default, which the model
        // does not hold (`SET STORAGE DEFAULT` is PostgreSQL 16+): known for common types.
        let storage_back = old.storage.is_some()
            && new.storage.is_none()
            && default_storage(&new.data_type).is_none();
        if storage_back || old.acl != new.acl {
            self.push(
                Phase::Unsupported,
                Change::Unsupported {
                    kind: "column",
                    name: format!("{}.{}", qn(table), quote_ident(&new.name)),
                    detail: if storage_back {
                        "storage goes back to the type's default".to_string()
                    } else {
                        "privileges differ".to_string()
                    },
                },
            );
        }
        // Identity removal first: a column cannot have both identity and default.
        if old.identity.is_some() && new.identity.is_none() {
            changes.push(ColumnChange::DropIdentity);
        }
        // The default when this phase starts: an enum recreation or `DropDefaults` may
        // have dropped it already (and set it again).
        let old_default = match self
            .defaults_before_columns
            .get(&(table.clone(), old.name.clone()))
        {
            Some(default) => default.clone(),
            None => old.default.clone(),
        };
        // The old default may not cast to the new type: drop it around the type change.
        let default_changes = old_default != new.default || (retype && old_default.is_some());
        if default_changes && old_default.is_some() {
            changes.push(ColumnChange::DropDefault);
        }
        if retype {
            self.reshaped_tables.insert(table.clone());
            let (mut using, mut narrowing) = if old.data_type == new.data_type {
                (false, false)
            } else {
                type_change_kind(&old.data_type, &new.data_type)
            };
            let conversion =
                super::cast::conversion(&old.data_type, &new.data_type, &[self.from, self.to]);
            // Where the cast module knows every value survives, that wins over the
            // widening rules. A detour or a manual step always needs its USING; a
            // manual step's own hazard says everything.
            match conversion.path {
                CastPath::Direct => narrowing &= !conversion.lossless,
                CastPath::Via { .. } => {
                    using = true;
                    narrowing &= !conversion.lossless;
                }
                CastPath::Manual { .. } => (using, narrowing) = (true, false),
            }
            changes.push(ColumnChange::SetType {
                from: old.data_type.clone(),
                to: new.data_type.clone(),
                collation: new.collation.clone(),
                using,
                narrowing,
                path: conversion.path,
            });
        }
        if default_changes {
            if let Some(default) = &new.default {
                changes.push(ColumnChange::SetDefault(default.clone()));
            }
        }
        match (old.not_null, new.not_null) {
            (false, true) => changes.push(match &new.not_null_constraint {
                None => ColumnChange::SetNotNull,
                Some(constraint) => ColumnChange::AddNotNull(constraint.clone()),
            }),
            (true, false) => changes.push(ColumnChange::DropNotNull),
            (true, true) if old.not_null_constraint != new.not_null_constraint => {
                changes.push(ColumnChange::AlterNotNull {
                    from: old.not_null_constraint.clone(),
                    to: new.not_null_constraint.clone(),
                })
            }
            _ => {}
        }
        match (&old.identity, &new.identity) {
            (None, Some(identity)) => changes.push(ColumnChange::AddIdentity(identity.clone())),
            (Some(a), Some(b)) => {
                if a.always != b.always {
                    changes.push(ColumnChange::SetGenerated { always: b.always });
                }
                let mut from = a.options.clone();
                // The identity sequence follows the column's type by itself.
                from.data_type = b.options.data_type.clone();
                if from != b.options {
                    changes.push(ColumnChange::SetIdentityOptions {
                        from,
                        to: b.options.clone(),
                    });
                }
                if a.sequence != b.sequence {
                    self.push(
                        Phase::Unsupported,
                        Change::Unsupported {
                            kind: "column",
                            name: format!("{}.{}", qn(table), quote_ident(&new.name)),
                            detail: "identity sequence name differs".to_string(),
                        },
                    );
                }
            }
            _ => {}
        }
        if old.statistics != new.statistics {
            changes.push(ColumnChange::SetStatistics(new.statistics));
        }
        if old.storage != new.storage {
            let storage = new
                .storage
                .as_deref()
                .or_else(|| default_storage(&new.data_type));
            if let Some(storage) = storage {
                changes.push(ColumnChange::SetStorage(storage.to_string()));
            }
        }
        changes
    }

    fn indexes(&mut self) {
        let from = by_name(&self.from.indexes, |i| i.name.clone());
        let to = by_name(&self.to.indexes, |i| i.name.clone());
        // An index goes with its relation when that is dropped or created again.
        let goes_with_relation = |index: &Index| {
            self.recreated_relations.contains(&index.table)
                || !(self.to_tables.contains_key(&index.table)
                    || self
                        .to
                        .materialized_views
                        .iter()
                        .any(|v| v.name == index.table))
        };
        let on_view: BTreeSet<&QualifiedName> =
            self.to.materialized_views.iter().map(|v| &v.name).collect();
        // Expressions or predicates naming a replaced function or a recreated enum.
        let forced: BTreeSet<&QualifiedName> = from
            .iter()
            .filter(|(_, i)| self.uses_replaced(&i.definition))
            .map(|(name, _)| name)
            .collect();
        let mut changes = Vec::new();
        for (name, new) in &to {
            let old = from.get(name);
            let recreated = self.recreated_relations.contains(&new.table);
            if !recreated
                && !forced.contains(name)
                && old.is_some_and(|old| old.definition == new.definition)
            {
                continue;
            }
            // Even on a dropped table: the name is needed before the table goes.
            if old.is_some_and(|old| !self.recreated_relations.contains(&old.table)) {
                changes.push((Phase::DropIndexes, Change::DropIndex { name: name.clone() }));
            }
            self.fresh.insert(format!("index {}", qn(name)));
            let phase = if on_view.contains(&new.table) {
                Phase::AddViewIndexes
            } else {
                Phase::AddIndexes
            };
            changes.push((phase, Change::AddIndex((*new).clone())));
        }
        let reused = relation_names(self.to);
        for (name, old) in from.iter().rev() {
            // Indexes of dropped relations go with them, unless a new relation (a key
            // constraint's index, say) takes the name before the table is dropped.
            // Nor can one calling a replaced function wait for its table's drop.
            let early = reused.contains(name) || self.calls_replaced(&old.definition);
            if !to.contains_key(name)
                && (!goes_with_relation(old)
                    || (early && !self.recreated_relations.contains(&old.table)))
            {
                changes.push((Phase::DropIndexes, Change::DropIndex { name: name.clone() }));
            }
        }
        for (phase, change) in changes {
            self.push(phase, change);
        }
    }

    fn views(&mut self) {
        let entries = |s: &'a Schema| -> BTreeMap<QualifiedName, (&'a View, bool)> {
            let plain = s.views.iter().map(|v| (v.name.clone(), (v, false)));
            let materialized = s
                .materialized_views
                .iter()
                .map(|v| (v.name.clone(), (v, true)));
            plain.chain(materialized).collect()
        };
        let from = entries(self.from);
        let to = entries(self.to);
        let (from_m, to_m) = (
            Planner::materialized(self.from),
            Planner::materialized(self.to),
        );
        // Kept views that must be recreated: changed, or reading a reshaped table, or
        // (transitively) reading a view that is recreated or dropped.
        let mut recreate: BTreeSet<QualifiedName> = BTreeSet::new();
        for (name, (old, old_m)) in &from {
            if let Some((new, new_m)) = to.get(name) {
                let changed = if *old_m || *new_m {
                    old_m != new_m
                        || from_m[&qn(name)].block.definition()
                            != to_m[&qn(name)].block.definition()
                } else {
                    old.definition != new.definition
                        || old.options != new.options
                        || old.columns != new.columns
                };
                let reads_reshaped = self
                    .reshaped_tables
                    .iter()
                    .any(|t| mentions(&old.definition, &t.name))
                    || self.uses_replaced(&old.definition);
                if changed || reads_reshaped {
                    recreate.insert(name.clone());
                }
            }
        }
        loop {
            let gone: Vec<&QualifiedName> = from
                .keys()
                .filter(|n| recreate.contains(*n) || !to.contains_key(*n))
                .collect();
            let more: Vec<QualifiedName> = from
                .iter()
                .filter(|(n, (v, _))| {
                    to.contains_key(*n)
                        && !recreate.contains(*n)
                        && gone.iter().any(|g| mentions(&v.definition, &g.name))
                })
                .map(|(n, _)| n.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            recreate.extend(more);
        }
        let drops: Vec<&View> = from
            .values()
            .filter(|(v, _)| recreate.contains(&v.name) || !to.contains_key(&v.name))
            .map(|(v, _)| *v)
            .collect();
        for view in dependency_order(&drops).into_iter().rev() {
            let change = if from[&view.name].1 {
                Change::DropObject {
                    kind: ObjectKind::MaterializedView,
                    name: qn(&view.name),
                }
            } else {
                Change::DropView {
                    name: view.name.clone(),
                }
            };
            self.push(Phase::DropViews, change);
        }
        let adds: Vec<&View> = to
            .values()
            .filter(|(v, _)| recreate.contains(&v.name) || !from.contains_key(&v.name))
            .map(|(v, _)| *v)
            .collect();
        for view in dependency_order(&adds) {
            let change = if to[&view.name].1 {
                Change::CreateObject {
                    kind: ObjectKind::MaterializedView,
                    name: qn(&view.name),
                    statements: to_m[&qn(&view.name)].block.statements.clone(),
                }
            } else {
                self.fresh.insert(format!("view {}", qn(&view.name)));
                Change::AddView(view.clone())
            };
            self.push(Phase::AddViews, change);
        }
        // Comments of kept materialized views (plain views: in `comments`).
        for (key, new) in &to_m {
            if let Some(old) = from_m.get(key) {
                if !recreate.iter().any(|r| &qn(r) == key) {
                    self.object_comments(old, new);
                }
            }
        }
        self.recreated_relations = recreate;
    }

    fn triggers(&mut self) {
        let key = |t: &Trigger| (t.table.clone(), t.name.clone());
        // Clones on partitions come with the parent's trigger.
        let from: BTreeMap<_, _> = by_name(&self.from.triggers, key)
            .into_iter()
            .filter(|(_, t)| !t.cloned)
            .collect();
        let to: BTreeMap<_, _> = by_name(&self.to.triggers, key)
            .into_iter()
            .filter(|(_, t)| !t.cloned)
            .collect();
        let forced: BTreeSet<&String> = from
            .values()
            .filter(|t| self.uses_replaced(&t.definition))
            .map(|t| &t.definition)
            .collect();
        self.table_children(
            &from,
            &to,
            |a, b| a.definition == b.definition && a.enabled == b.enabled,
            |t| forced.contains(&t.definition),
            ChildChanges {
                phases: (Phase::DropTriggers, Phase::AddTriggers),
                drop: |(table, name)| Change::DropTrigger { table, name },
                add: |t: &Trigger| Change::AddTrigger(t.clone()),
                kind: "trigger",
            },
        );
    }

    fn policies(&mut self) {
        let key = |p: &Policy| (p.table.clone(), p.name.clone());
        let from = by_name(&self.from.policies, key);
        let to = by_name(&self.to.policies, key);
        let forced: BTreeSet<(QualifiedName, String)> = from
            .iter()
            .filter(|(_, p)| {
                [&p.using, &p.with_check]
                    .into_iter()
                    .flatten()
                    .any(|e| self.uses_replaced(e))
            })
            .map(|(k, _)| k.clone())
            .collect();
        self.table_children(
            &from,
            &to,
            |a, b| {
                let mut a = a.clone();
                a.comment = b.comment.clone();
                &a == b
            },
            |p| forced.contains(&key(p)),
            ChildChanges {
                phases: (Phase::DropPolicies, Phase::AddPolicies),
                drop: |(table, name)| Change::DropPolicy { table, name },
                add: |p: &Policy| Change::AddPolicy(p.clone()),
                kind: "policy",
            },
        );
    }

    /// Triggers and policies: keyed by (table, name), recreated when changed or when their
    /// table is reshaped, left alone when their table is dropped (they go with it) unless
    /// `forced` (they name a replaced function or a recreated enum: always dropped first).
    fn table_children<T>(
        &mut self,
        from: &BTreeMap<(QualifiedName, String), &T>,
        to: &BTreeMap<(QualifiedName, String), &T>,
        same: impl Fn(&T, &T) -> bool,
        forced: impl Fn(&T) -> bool,
        changes: ChildChanges<impl Fn((QualifiedName, String)) -> Change, impl Fn(&T) -> Change>,
    ) {
        let ChildChanges {
            phases: (drop_phase, add_phase),
            drop,
            add,
            kind,
        } = changes;
        for (key, old) in from.iter().rev() {
            let table_kept = self.to_tables.contains_key(&key.0);
            let keep = to.get(key).is_some_and(|new| {
                same(old, new) && !forced(old) && !self.reshaped_tables.contains(&key.0)
            });
            if (table_kept && !keep) || forced(old) {
                self.push(drop_phase, drop(key.clone()));
            }
        }
        for (key, new) in to {
            let keep = from.get(key).is_some_and(|old| {
                same(old, new) && !forced(old) && !self.reshaped_tables.contains(&key.0)
            });
            if !keep {
                self.fresh
                    .insert(format!("{kind} {} on {}", quote_ident(&key.1), qn(&key.0)));
                self.push(add_phase, add(new));
            }
        }
    }

    /// Comments of every object on the `to` side whose comment differs from what it will
    /// have after the migration's other changes (none, for objects created afresh).
    fn comments(&mut self) {
        let mut out: Vec<(CommentTarget, Option<String>)> = Vec::new();
        let fresh = &self.fresh;
        let mut check = |key: String,
                         target: CommentTarget,
                         old: Option<&Option<String>>,
                         new: &Option<String>| {
            let before = if fresh.contains(&key) {
                None
            } else {
                old.cloned().flatten()
            };
            if &before != new {
                out.push((target, new.clone()));
            }
        };
        let from = self.from;
        let schemas = by_ref(&from.schemas, |o| &o.name);
        let enums = by_ref(&from.enums, |o| &o.name);
        let sequences = by_ref(&from.sequences, |o| &o.name);
        let functions = by_ref(&from.functions, |o| (&o.name, &o.arguments));
        let tables = by_ref(&from.tables, |o| &o.name);
        let views = by_ref(&from.views, |o| &o.name);
        let indexes = by_ref(&from.indexes, |o| &o.name);
        for s in &self.to.schemas {
            let old = schemas.get(&s.name);
            check(
                format!("schema {}", s.name),
                CommentTarget::Schema(s.name.clone()),
                old.map(|o| &o.comment),
                &s.comment,
            );
        }
        for e in &self.to.enums {
            let old = enums.get(&e.name);
            check(
                format!("type {}", qn(&e.name)),
                CommentTarget::Type(e.name.clone()),
                old.map(|o| &o.comment),
                &e.comment,
            );
        }
        for s in &self.to.sequences {
            let old = sequences.get(&s.name);
            check(
                format!("sequence {}", qn(&s.name)),
                CommentTarget::Sequence(s.name.clone()),
                old.map(|o| &o.comment),
                &s.comment,
            );
        }
        for f in &self.to.functions {
            let old = functions.get(&(&f.name, &f.arguments));
            check(
                format!("function {}({})", qn(&f.name), f.arguments),
                CommentTarget::Function(f.name.clone(), f.arguments.clone(), f.kind),
                old.map(|o| &o.comment),
                &f.comment,
            );
        }
        for t in &self.to.tables {
            let old = tables.get(&t.name);
            let table_key = format!("table {}", qn(&t.name));
            check(
                table_key.clone(),
                CommentTarget::Table(t.name.clone()),
                old.map(|o| &o.comment),
                &t.comment,
            );
            for c in &t.columns {
                let prev = old.and_then(|o| o.columns.iter().find(|p| p.name == c.name));
                check(
                    table_key.clone(),
                    CommentTarget::Column(t.name.clone(), c.name.clone()),
                    prev.map(|p| &p.comment),
                    &c.comment,
                );
            }
            for c in &t.constraints {
                let prev = old.and_then(|o| o.constraints.iter().find(|p| p.name == c.name));
                let key = if fresh.contains(&table_key) {
                    table_key.clone()
                } else {
                    format!("constraint {} on {}", quote_ident(&c.name), qn(&t.name))
                };
                check(
                    key,
                    CommentTarget::Constraint(t.name.clone(), c.name.clone()),
                    prev.map(|p| &p.comment),
                    &c.comment,
                );
            }
        }
        for v in &self.to.views {
            let old = views.get(&v.name);
            check(
                format!("view {}", qn(&v.name)),
                CommentTarget::View(v.name.clone()),
                old.map(|o| &o.comment),
                &v.comment,
            );
        }
        for i in &self.to.indexes {
            let old = indexes.get(&i.name);
            check(
                format!("index {}", qn(&i.name)),
                CommentTarget::Index(i.name.clone()),
                old.map(|o| &o.comment),
                &i.comment,
            );
        }
        for t in self.to.triggers.iter().filter(|t| !t.cloned) {
            let old = from
                .triggers
                .iter()
                .find(|o| o.table == t.table && o.name == t.name);
            check(
                format!("trigger {} on {}", quote_ident(&t.name), qn(&t.table)),
                CommentTarget::Trigger(t.table.clone(), t.name.clone()),
                old.map(|o| &o.comment),
                &t.comment,
            );
        }
        for p in &self.to.policies {
            let old = from
                .policies
                .iter()
                .find(|o| o.table == p.table && o.name == p.name);
            check(
                format!("policy {} on {}", quote_ident(&p.name), qn(&p.table)),
                CommentTarget::Policy(p.table.clone(), p.name.clone()),
                old.map(|o| &o.comment),
                &p.comment,
            );
        }
        for (target, comment) in out {
            self.push(Phase::Comments, Change::SetComment { target, comment });
        }
    }

    /// Owners and privileges (only inspected on request) are not diffed yet: one
    /// [`Change::Unsupported`] when they differ, so that the difference is not lost.
    fn unsupported(&mut self) {
        let (f, t) = (self.from, self.to);
        let differs = f.schemas.iter().any(|a| {
            t.schemas
                .iter()
                .any(|b| a.name == b.name && (a.owner != b.owner || a.acl != b.acl))
        }) || f.views.iter().any(|a| {
            t.views
                .iter()
                .any(|b| a.name == b.name && (a.owner != b.owner || a.acl != b.acl))
        });
        if differs {
            self.push(
                Phase::Unsupported,
                Change::Unsupported {
                    kind: "owners or privileges",
                    name: String::new(),
                    detail: "owners or privileges differ; retort cannot diff them yet".into(),
                },
            );
        }
    }
}

/// The default storage of common built-in types (`pg_type.typstorage`).
fn default_storage(data_type: &str) -> Option<&'static str> {
    let base = data_type.split('(').next().unwrap_or(data_type);
    if data_type.ends_with("[]") {
        return Some("EXTENDED");
    }
    match base {
        "text" | "character varying" | "character" | "bytea" | "json" | "jsonb" | "xml"
        | "tsvector" | "bit varying" => Some("EXTENDED"),
        "numeric" | "inet" | "cidr" => Some("MAIN"),
        "smallint"
        | "integer"
        | "bigint"
        | "boolean"
        | "real"
        | "double precision"
        | "date"
        | "uuid"
        | "timestamp with time zone"
        | "timestamp without time zone" => Some("PLAIN"),
        _ => None,
    }
}

/// Whether a constraint of this kind owns an index (which holds a relation name).
fn has_index(kind: ConstraintKind) -> bool {
    matches!(
        kind,
        ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclusion
    )
}

/// Every name in the relation namespace of `schema`: tables, views, sequences, indexes
/// and the indexes of key constraints.
fn relation_names(schema: &Schema) -> BTreeSet<QualifiedName> {
    let mut names: BTreeSet<QualifiedName> = BTreeSet::new();
    names.extend(schema.tables.iter().map(|t| t.name.clone()));
    names.extend(schema.views.iter().map(|v| v.name.clone()));
    names.extend(schema.materialized_views.iter().map(|v| v.name.clone()));
    names.extend(schema.sequences.iter().map(|s| s.name.clone()));
    names.extend(schema.indexes.iter().map(|i| i.name.clone()));
    for table in &schema.tables {
        names.extend(
            table
                .constraints
                .iter()
                .filter(|c| has_index(c.kind))
                .map(|c| QualifiedName::new(table.name.schema.clone(), c.name.clone())),
        );
    }
    names
}

/// The part of `pg_get_functiondef` that `CREATE OR REPLACE` cannot change: the first
/// line (parameter names and defaults) and the `RETURNS` line.
pub(super) fn function_header(definition: &str) -> (Option<&str>, Option<&str>) {
    let mut lines = definition.lines();
    let first = lines.next();
    let returns = lines.find(|l| l.trim_start().starts_with("RETURNS "));
    (first, returns)
}

/// Constraints are equal when everything but the comment is (comments are set apart).
fn same_constraint(a: &Constraint, b: &Constraint) -> bool {
    a.name == b.name
        && a.kind == b.kind
        && a.definition == b.definition
        && a.deferrable == b.deferrable
        && a.initially_deferred == b.initially_deferred
        && a.validated == b.validated
}

/// Views ordered so that a view comes after every view (of the set) it mentions; ties
/// and cycles (false positives of `mentions`) fall back to name order.
fn dependency_order<'v>(views: &[&'v View]) -> Vec<&'v View> {
    let mut pending: Vec<&View> = views.to_vec();
    pending.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ordered: Vec<&View> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|v| {
            !pending
                .iter()
                .any(|o| o.name != v.name && mentions(&v.definition, &o.name.name))
        });
        let index = ready.unwrap_or(0);
        ordered.push(pending.remove(index));
    }
    ordered
}
