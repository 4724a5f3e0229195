//! The canonical text dump: which blocks it prints, and in which order.
//!
//! Each object is one block (its comments, RLS switches, owner and grants with it, so a
//! changed object is one hunk in `git diff`), and the dump loads as it is printed — with
//! `psql -f`, or as models — so the blocks come in dependency order:
//! - a fixed kind order first (schemas, extensions, collations, types, sequences,
//!   routines, casts, tables, views, materialized views, indexes, then the statements
//!   that had to wait, extended statistics, triggers, policies, rules, foreign data
//!   wrappers, foreign servers, foreign tables, publications, event triggers), within a
//!   kind the model's sorted order;
//! - then moved, where a block's text names an object defined later (a view reading a
//!   view, a partition and its parent, a type over a type, a `BEGIN ATOMIC` routine
//!   reading a table), to just after what it names: a stable topological order, so the
//!   text stays byte-identical for equal schemas;
//! - what could make a cycle waits in blocks of its own after the indexes: foreign keys
//!   (they need the referenced table and its unique index), `NOT VALID` constraints
//!   (`CREATE TABLE` would validate them), `CLUSTER ON` and `REPLICA IDENTITY USING
//!   INDEX` (they need the index), and sequence ownership (`OWNED BY` needs the table,
//!   whose default needs the sequence).
//!
//! The `public` schema exists in every new database: it is not created, only its
//! comment, owner and grants are printed. (Its absence is not printed either: a dump
//! limited by `--schema` leaves it out as well.)
//! A `LANGUAGE sql` routine with a string body records no dependency, so the dump, as
//! pg_dump does, turns `check_function_bodies` off before its routines.

use super::model::*;
use super::order::reference_order;
use super::render::*;
use crate::sql::quote_ident;

/// One block of the dump and what orders it: the unqualified name it defines, and the
/// text whose words name what it needs.
struct Item {
    block: Block,
    defines: Vec<String>,
    needs: String,
}

impl Item {
    /// A block that needs what its own statements (comments aside) name.
    fn of(block: Block, defines: Option<&str>) -> Item {
        let needs = block.definition().join("\n");
        Item {
            block,
            defines: defines.map(str::to_owned).into_iter().collect(),
            needs,
        }
    }

    /// A block that defines nothing and needs nothing: ordered by kind alone.
    fn fixed(block: Block) -> Item {
        Item {
            block,
            defines: Vec::new(),
            needs: String::new(),
        }
    }
}

impl Schema {
    /// The canonical text dump (see the module documentation of `dump`).
    pub fn to_text(&self) -> String {
        let s = self;
        let tables: std::collections::BTreeMap<&QualifiedName, &Table> =
            s.tables.iter().map(|t| (&t.name, t)).collect();
        let parent = |p: Option<&PartitionOf>| p.and_then(|p| tables.get(&p.parent).copied());

        let mut items: Vec<Item> = Vec::new();
        for d in &s.schemas {
            let mut block = render_schema(d);
            if d.name == "public" {
                block.statements.remove(0);
                if block.statements.is_empty() {
                    continue;
                }
            }
            items.push(Item::fixed(block));
        }
        items.extend(
            s.extensions
                .iter()
                .map(|e| Item::fixed(render_extension(e))),
        );
        items.extend(
            s.collations
                .iter()
                .map(|c| Item::of(render_collation(c), Some(&c.name.name))),
        );
        items.extend(
            s.enums
                .iter()
                .map(|e| Item::of(render_enum(e), Some(&e.name.name))),
        );
        items.extend(
            s.composites
                .iter()
                .map(|c| Item::of(render_composite(c), Some(&c.name.name))),
        );
        items.extend(
            s.ranges
                .iter()
                .map(|r| Item::of(render_range(r), Some(&r.name.name))),
        );
        items.extend(
            s.domains
                .iter()
                .map(|d| Item::of(render_domain(d), Some(&d.name.name))),
        );
        let mut waiting: Vec<Item> = Vec::new();
        for sequence in &s.sequences {
            let (block, ownership) = split_sequence(sequence);
            items.push(Item::of(block, Some(&sequence.name.name)));
            waiting.extend(ownership.map(|b| Item::of(b, None)));
        }
        items.extend(s.functions.iter().map(|f| Item {
            defines: vec![f.name.name.clone()],
            needs: routine_needs(f),
            block: render_function(f),
        }));
        items.extend(s.casts.iter().map(|c| Item::of(render_cast(c), None)));
        let all: Vec<&Table> = s.tables.iter().collect();
        for table in parents_first(&all) {
            let split = split_table(table);
            let own = split.as_ref().map_or(table, |(own, _)| own);
            let block = render_table(own, parent(table.partition_of.as_ref()));
            let mut item = Item::of(block, Some(&table.name.name));
            // PostgreSQL 18 names a NOT NULL constraint `<table>_<column>_not_null`
            // unless that name is taken in the schema: a table whose constraint carries
            // such a name of another table (kept through NO INHERIT, say) waits for it.
            item.defines.extend(
                table
                    .columns
                    .iter()
                    .filter(|c| match &c.not_null_constraint {
                        Some(constraint) => constraint.name.is_none(),
                        None => c.not_null,
                    })
                    .map(|c| default_not_null_name(&table.name.name, &c.name)),
            );
            items.push(item);
            waiting.extend(split.map(|(_, later)| Item::of(later, None)));
        }
        items.extend(
            s.views
                .iter()
                .map(|v| Item::of(render_view(v, false), Some(&v.name.name))),
        );
        items.extend(
            s.materialized_views
                .iter()
                .map(|v| Item::of(render_view(v, true), Some(&v.name.name))),
        );
        items.extend(
            s.indexes
                .iter()
                .map(|i| Item::of(render_index(i), Some(&i.name.name))),
        );
        items.extend(waiting);
        items.extend(
            s.statistics
                .iter()
                .map(|x| Item::of(render_statistics(x), None)),
        );
        items.extend(s.triggers.iter().map(|t| Item::of(render_trigger(t), None)));
        items.extend(s.policies.iter().map(|p| Item::of(render_policy(p), None)));
        items.extend(s.rules.iter().map(|r| Item::of(render_rule(r), None)));
        items.extend(
            s.foreign_data_wrappers
                .iter()
                .map(|w| Item::of(render_wrapper(w), Some(&w.name))),
        );
        items.extend(
            s.foreign_servers
                .iter()
                .map(|x| Item::of(render_server(x), Some(&x.name))),
        );
        items.extend(s.foreign_tables.iter().map(|t| {
            Item::of(
                render_foreign_table(t, parent(t.partition_of.as_ref())),
                Some(&t.name.name),
            )
        }));
        items.extend(
            s.publications
                .iter()
                .map(|p| Item::of(render_publication(p), None)),
        );
        items.extend(
            s.event_triggers
                .iter()
                .map(|e| Item::of(render_event_trigger(e), None)),
        );

        let ordered = reference_order(items, |i| (i.defines.clone(), i.needs.clone()));
        let mut text = String::new();
        if !s.functions.is_empty() {
            text.push_str("SET check_function_bodies = false;\n\n");
        }
        text.push_str(
            &ordered
                .iter()
                .map(|i| i.block.text())
                .collect::<Vec<_>>()
                .join("\n\n"),
        );
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }
}

/// What a routine needs when it is created: the types of its signature, and for a
/// `BEGIN ATOMIC` body (checked at creation) or an aggregate (its support functions)
/// everything its definition names. A string body is not checked (see the module
/// documentation), and its words would only tie the routine to tables needlessly.
fn routine_needs(f: &Function) -> String {
    let atomic = f.definition.lines().any(|l| l.trim() == "BEGIN ATOMIC");
    if atomic || f.kind == FunctionKind::Aggregate {
        return f.definition.clone();
    }
    f.definition
        .lines()
        .take_while(|l| !l.starts_with("AS ") && !l.trim_start().starts_with("RETURN "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A sequence without its `OWNED BY`, and that ownership as a block of its own.
fn split_sequence(sequence: &Sequence) -> (Block, Option<Block>) {
    let Some((table, column)) = &sequence.owned_by else {
        return (render_sequence(sequence), None);
    };
    let own = Sequence {
        owned_by: None,
        ..sequence.clone()
    };
    let ownership = Block::new(format!(
        "ALTER SEQUENCE {} OWNED BY {}.{}",
        qn(&sequence.name),
        qn(table),
        quote_ident(column)
    ));
    (render_sequence(&own), Some(ownership))
}

/// When something of the table must wait (foreign keys, `NOT VALID` constraints,
/// `CLUSTER ON`, `REPLICA IDENTITY USING INDEX`): the table without it, and what waits
/// as a block of its own.
fn split_table(table: &Table) -> Option<(Table, Block)> {
    let waits = |c: &Constraint| c.kind == ConstraintKind::ForeignKey || !c.validated;
    let by_index = table
        .replica_identity
        .as_deref()
        .is_some_and(|r| r.starts_with("USING INDEX"));
    let name = qn(&table.name);
    let mut later: Vec<String> = table
        .constraints
        .iter()
        .filter(|c| waits(c))
        .map(|c| {
            format!(
                "ALTER TABLE {name} ADD CONSTRAINT {} {}",
                quote_ident(&c.name),
                c.definition
            )
        })
        .collect();
    if let Some(identity) = table.replica_identity.as_ref().filter(|_| by_index) {
        later.push(format!("ALTER TABLE {name} REPLICA IDENTITY {identity}"));
    }
    if let Some(index) = &table.cluster_on {
        later.push(format!(
            "ALTER TABLE {name} CLUSTER ON {}",
            quote_ident(index)
        ));
    }
    let mut statements = later.into_iter();
    let first = statements.next()?;
    let mut block = Block::new(first);
    statements.for_each(|sql| block.push(sql));
    for c in table.constraints.iter().filter(|c| waits(c)) {
        comment_line(
            &mut block,
            &format!("CONSTRAINT {} ON {name}", quote_ident(&c.name)),
            &c.comment,
        );
    }
    let mut own = table.clone();
    own.constraints.retain(|c| !waits(c));
    own.cluster_on = None;
    if by_index {
        own.replica_identity = None;
    }
    Some((own, block))
}
