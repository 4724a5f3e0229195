//! Property test of the diff engine against a real server: for generated pairs of random
//! schemas (S1, S2), applying `diff(S1 -> S2)` to a database holding S1 must give S2's
//! dump, and applying `diff(S2 -> S1)` afterwards must give S1's dump again.
//!
//! The generator is a small model of a schema (schemas, enums and a domain over each,
//! sequences, functions, tables with columns and constraints, indexes, views, triggers,
//! policies, comments) rendered as DDL. S2 is derived from S1 by random mutations (so that most diffs are
//! small and meaningful), and every fifth pair is two independent schemas. After each
//! mutation a `fixup` pass removes what the mutation made invalid (an index on a dropped
//! column, a foreign key whose target lost its key, ...), so that both sides always load.
//! Tables stay empty: every type change with `USING` succeeds, and data questions are the
//! engine's hazards, not this test's.
//!
//! Dumps are compared with each table's columns sorted by name (as `retort compare`
//! does): a migration can only add columns at the end, so a column added in S2 between
//! existing ones cannot land at the same position, and that is not a bug.
//!
//! A failure names its seed; `RETORT_DIFF_SEED=<seed>` reruns just that pair (in
//! `random_pairs_0`; `RETORT_DIFF_SEED=<a>..<b>` runs a range, to explore more seeds).

use std::fmt::Write;

use retort::catalog::{self, Schema};
use retort::diff;
use tokio_postgres::Client;

use crate::support::{connect, dump_sorted, inspect, TestDb};

// ---------------------------------------------------------------------------
// A tiny deterministic PRNG (splitmix64): no crate, same sequence everywhere.
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn pick_copy<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------
// The schema model
// ---------------------------------------------------------------------------

/// Identifiers are always written double-quoted, so names that need quoting are tested.
fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn lit(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Name {
    schema: String,
    name: String,
}

impl Name {
    fn new(schema: &str, name: String) -> Name {
        Name {
            schema: schema.to_string(),
            name,
        }
    }

    fn sql(&self) -> String {
        format!("{}.{}", q(&self.schema), q(&self.name))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Int,
    BigInt,
    Text,
    Varchar(u32),
    Numeric(u32, u32),
    Bool,
    Timestamptz,
    Jsonb,
    Enum(Name),
    IntArray,
    TextArray,
    EnumArray(Name),
    /// The domain every enum has over it (`<enum>_d`): recreating the enum recreates it.
    EnumDomain(Name),
}

/// The domain generated over enum `e`.
fn enum_domain(e: &Name) -> Name {
    Name::new(&e.schema, format!("{}_d", e.name))
}

impl Ty {
    fn sql(&self) -> String {
        match self {
            Ty::Int => "integer".into(),
            Ty::BigInt => "bigint".into(),
            Ty::Text => "text".into(),
            Ty::Varchar(n) => format!("varchar({n})"),
            Ty::Numeric(p, s) => format!("numeric({p},{s})"),
            Ty::Bool => "boolean".into(),
            Ty::Timestamptz => "timestamptz".into(),
            Ty::Jsonb => "jsonb".into(),
            Ty::Enum(e) => e.sql(),
            Ty::IntArray => "integer[]".into(),
            Ty::TextArray => "text[]".into(),
            Ty::EnumArray(e) => format!("{}[]", e.sql()),
            Ty::EnumDomain(e) => enum_domain(e).sql(),
        }
    }

    fn integer(&self) -> bool {
        matches!(self, Ty::Int | Ty::BigInt)
    }

    fn numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::BigInt | Ty::Numeric(..))
    }

    fn textual(&self) -> bool {
        matches!(self, Ty::Text | Ty::Varchar(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum DefaultExpr {
    Num(i64),
    Decimal,
    Str(&'static str),
    Bool(bool),
    Now,
    Json,
    EmptyArray,
    Label(String),
    NextVal(Name),
}

#[derive(Debug, Clone)]
struct Identity {
    always: bool,
    start: Option<i64>,
    increment: i64,
}

#[derive(Debug, Clone)]
struct Col {
    name: String,
    ty: Ty,
    default: Option<DefaultExpr>,
    not_null: bool,
    identity: Option<Identity>,
    comment: Option<String>,
}

/// A primary key or unique constraint.
#[derive(Debug, Clone)]
struct Key {
    name: String,
    cols: Vec<String>,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct Check {
    name: String,
    col: String,
    variant: u8,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct Fk {
    name: String,
    cols: Vec<String>,
    target: Name,
    target_cols: Vec<String>,
    on_delete: u8,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct TableDef {
    name: Name,
    cols: Vec<Col>,
    pk: Option<Key>,
    uniques: Vec<Key>,
    checks: Vec<Check>,
    fks: Vec<Fk>,
    rls: bool,
    force_rls: bool,
    comment: Option<String>,
}

impl TableDef {
    fn col(&self, name: &str) -> Option<&Col> {
        self.cols.iter().find(|c| c.name == name)
    }

    /// The key constraints a foreign key may reference.
    fn keys(&self) -> impl Iterator<Item = &Key> {
        self.pk.iter().chain(&self.uniques)
    }
}

#[derive(Debug, Clone)]
enum IndexKind {
    Plain(Vec<String>),
    Unique(Vec<String>),
    Partial(String),
    Lower(String),
}

#[derive(Debug, Clone)]
struct IndexDef {
    name: Name,
    table: Name,
    kind: IndexKind,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct ViewDef {
    name: Name,
    /// A table or an earlier view.
    source: Name,
    cols: Vec<String>,
    filter: bool,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
enum FnKind {
    Trigger(u8),
    Scalar {
        ret: &'static str,
        sql: bool,
        variant: u8,
    },
}

#[derive(Debug, Clone)]
struct FnDef {
    name: Name,
    kind: FnKind,
    comment: Option<String>,
}

impl FnDef {
    fn signature(&self) -> String {
        match self.kind {
            FnKind::Trigger(_) => format!("{}()", self.name.sql()),
            FnKind::Scalar { .. } => format!("{}(integer)", self.name.sql()),
        }
    }
}

#[derive(Debug, Clone)]
enum Event {
    Insert,
    Update,
    InsertOrUpdate,
    UpdateOf(String),
    Delete,
}

#[derive(Debug, Clone)]
struct TriggerDef {
    table: Name,
    name: String,
    function: Name,
    before: bool,
    event: Event,
    row: bool,
    comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum PolicyExpr {
    True,
    NotNull(String),
    Positive(String),
}

#[derive(Debug, Clone)]
struct PolicyDef {
    table: Name,
    name: String,
    command: &'static str,
    permissive: bool,
    using: Option<PolicyExpr>,
    check: Option<PolicyExpr>,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct EnumDef {
    name: Name,
    labels: Vec<String>,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct SeqDef {
    name: Name,
    bigint: bool,
    increment: i64,
    start: i64,
    max: Option<i64>,
    cache: i64,
    cycle: bool,
    owned_by: Option<(Name, String)>,
    comment: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Model {
    /// Schemas besides `public`, with their comments.
    schemas: Vec<(String, Option<String>)>,
    enums: Vec<EnumDef>,
    sequences: Vec<SeqDef>,
    functions: Vec<FnDef>,
    tables: Vec<TableDef>,
    indexes: Vec<IndexDef>,
    views: Vec<ViewDef>,
    triggers: Vec<TriggerDef>,
    policies: Vec<PolicyDef>,
    /// Source of fresh object names (kept across mutations so new names never collide).
    counter: u32,
}

const EXTRA_SCHEMAS: &[&str] = &["app", "Other Schema"];
const LABELS: &[&str] = &["a", "b", "c", "d", "e", "o'k", "Big"];
const COMMENTS: &[&str] = &["note", "it's here", "Ünïcode", "two\nlines"];

// ---------------------------------------------------------------------------
// Rendering the model as DDL
// ---------------------------------------------------------------------------

fn default_sql(default: &DefaultExpr) -> String {
    match default {
        DefaultExpr::Num(n) => n.to_string(),
        DefaultExpr::Decimal => "1.5".into(),
        DefaultExpr::Str(s) => lit(s),
        DefaultExpr::Bool(b) => b.to_string(),
        DefaultExpr::Now => "now()".into(),
        DefaultExpr::Json => "'{\"k\": 1}'::jsonb".into(),
        DefaultExpr::EmptyArray => "'{}'".into(),
        DefaultExpr::Label(l) => lit(l),
        DefaultExpr::NextVal(s) => format!("nextval({})", lit(&s.sql())),
    }
}

fn cols_sql(cols: &[String]) -> String {
    cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
}

fn check_sql(ty: &Ty, col: &str, variant: u8) -> String {
    if ty.numeric() {
        format!("{} > {}", q(col), variant)
    } else if ty.textual() {
        format!("char_length({}) < {}", q(col), 100 + variant as u32)
    } else {
        format!("{} IS NOT NULL", q(col))
    }
}

fn policy_expr_sql(expr: &PolicyExpr) -> String {
    match expr {
        PolicyExpr::True => "true".into(),
        PolicyExpr::NotNull(c) => format!("{} IS NOT NULL", q(c)),
        PolicyExpr::Positive(c) => format!("{} > 0", q(c)),
    }
}

fn comment(out: &mut String, target: &str, text: &Option<String>) {
    if let Some(text) = text {
        let _ = writeln!(out, "COMMENT ON {target} IS {};", lit(text));
    }
}

impl Model {
    fn sql(&self) -> String {
        let mut out = String::new();
        for (schema, _) in &self.schemas {
            let _ = writeln!(out, "CREATE SCHEMA {};", q(schema));
        }
        for e in &self.enums {
            let labels: Vec<String> = e.labels.iter().map(|l| lit(l)).collect();
            let _ = writeln!(
                out,
                "CREATE TYPE {} AS ENUM ({});",
                e.name.sql(),
                labels.join(", ")
            );
            let _ = writeln!(
                out,
                "CREATE DOMAIN {} AS {};",
                enum_domain(&e.name).sql(),
                e.name.sql()
            );
        }
        for s in &self.sequences {
            let mut line = format!(
                "CREATE SEQUENCE {} AS {} INCREMENT BY {} START WITH {} CACHE {}",
                s.name.sql(),
                if s.bigint { "bigint" } else { "integer" },
                s.increment,
                s.start,
                s.cache
            );
            if let Some(max) = s.max {
                let _ = write!(line, " MAXVALUE {max}");
            }
            if s.cycle {
                line.push_str(" CYCLE");
            }
            let _ = writeln!(out, "{line};");
        }
        for f in &self.functions {
            let _ = writeln!(out, "{};", function_sql(f));
        }
        for t in &self.tables {
            let mut items: Vec<String> = t.cols.iter().map(column_sql).collect();
            if let Some(pk) = &t.pk {
                items.push(format!(
                    "CONSTRAINT {} PRIMARY KEY ({})",
                    q(&pk.name),
                    cols_sql(&pk.cols)
                ));
            }
            for u in &t.uniques {
                items.push(format!(
                    "CONSTRAINT {} UNIQUE ({})",
                    q(&u.name),
                    cols_sql(&u.cols)
                ));
            }
            for c in &t.checks {
                let ty = &t.col(&c.col).map_or(Ty::Text, |c| c.ty.clone());
                items.push(format!(
                    "CONSTRAINT {} CHECK ({})",
                    q(&c.name),
                    check_sql(ty, &c.col, c.variant)
                ));
            }
            let _ = writeln!(
                out,
                "CREATE TABLE {} (\n    {}\n);",
                t.name.sql(),
                items.join(",\n    ")
            );
            if t.rls {
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} ENABLE ROW LEVEL SECURITY;",
                    t.name.sql()
                );
            }
            if t.force_rls {
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} FORCE ROW LEVEL SECURITY;",
                    t.name.sql()
                );
            }
        }
        for t in &self.tables {
            for fk in &t.fks {
                let action = match fk.on_delete {
                    0 => "",
                    1 => " ON DELETE CASCADE",
                    _ => " ON DELETE SET NULL",
                };
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}){action};",
                    t.name.sql(),
                    q(&fk.name),
                    cols_sql(&fk.cols),
                    fk.target.sql(),
                    cols_sql(&fk.target_cols)
                );
            }
        }
        for s in &self.sequences {
            if let Some((table, col)) = &s.owned_by {
                let _ = writeln!(
                    out,
                    "ALTER SEQUENCE {} OWNED BY {}.{};",
                    s.name.sql(),
                    table.sql(),
                    q(col)
                );
            }
        }
        for i in &self.indexes {
            let (unique, body) = match &i.kind {
                IndexKind::Plain(cols) => ("", format!("({})", cols_sql(cols))),
                IndexKind::Unique(cols) => ("UNIQUE ", format!("({})", cols_sql(cols))),
                IndexKind::Partial(c) => ("", format!("({}) WHERE {} IS NOT NULL", q(c), q(c))),
                IndexKind::Lower(c) => ("", format!("(lower({}))", q(c))),
            };
            let _ = writeln!(
                out,
                "CREATE {unique}INDEX {} ON {} {body};",
                q(&i.name.name),
                i.table.sql()
            );
        }
        for v in self.views_in_order() {
            let mut line = format!(
                "CREATE VIEW {} AS SELECT {} FROM {}",
                v.name.sql(),
                cols_sql(&v.cols),
                v.source.sql()
            );
            if v.filter {
                let _ = write!(line, " WHERE {} IS NOT NULL", q(&v.cols[0]));
            }
            let _ = writeln!(out, "{line};");
        }
        for t in &self.triggers {
            let event = match &t.event {
                Event::Insert => "INSERT".to_string(),
                Event::Update => "UPDATE".to_string(),
                Event::InsertOrUpdate => "INSERT OR UPDATE".to_string(),
                Event::UpdateOf(c) => format!("UPDATE OF {}", q(c)),
                Event::Delete => "DELETE".to_string(),
            };
            let _ = writeln!(
                out,
                "CREATE TRIGGER {} {} {event} ON {} FOR EACH {} EXECUTE FUNCTION {}();",
                q(&t.name),
                if t.before { "BEFORE" } else { "AFTER" },
                t.table.sql(),
                if t.row { "ROW" } else { "STATEMENT" },
                t.function.sql()
            );
        }
        for p in &self.policies {
            let mut line = format!(
                "CREATE POLICY {} ON {} AS {} FOR {} TO PUBLIC",
                q(&p.name),
                p.table.sql(),
                if p.permissive {
                    "PERMISSIVE"
                } else {
                    "RESTRICTIVE"
                },
                p.command
            );
            if let Some(using) = &p.using {
                let _ = write!(line, " USING ({})", policy_expr_sql(using));
            }
            if let Some(check) = &p.check {
                let _ = write!(line, " WITH CHECK ({})", policy_expr_sql(check));
            }
            let _ = writeln!(out, "{line};");
        }
        // Comments last: every object exists by now.
        for (schema, text) in &self.schemas {
            comment(&mut out, &format!("SCHEMA {}", q(schema)), text);
        }
        for e in &self.enums {
            comment(&mut out, &format!("TYPE {}", e.name.sql()), &e.comment);
        }
        for s in &self.sequences {
            comment(&mut out, &format!("SEQUENCE {}", s.name.sql()), &s.comment);
        }
        for f in &self.functions {
            comment(&mut out, &format!("FUNCTION {}", f.signature()), &f.comment);
        }
        for t in &self.tables {
            let table = t.name.sql();
            comment(&mut out, &format!("TABLE {table}"), &t.comment);
            for c in &t.cols {
                comment(
                    &mut out,
                    &format!("COLUMN {table}.{}", q(&c.name)),
                    &c.comment,
                );
            }
            let constraints =
                t.pk.iter()
                    .chain(&t.uniques)
                    .map(|k| (&k.name, &k.comment))
                    .chain(t.checks.iter().map(|c| (&c.name, &c.comment)))
                    .chain(t.fks.iter().map(|f| (&f.name, &f.comment)));
            for (name, text) in constraints {
                comment(
                    &mut out,
                    &format!("CONSTRAINT {} ON {table}", q(name)),
                    text,
                );
            }
        }
        for i in &self.indexes {
            comment(&mut out, &format!("INDEX {}", i.name.sql()), &i.comment);
        }
        for v in &self.views {
            comment(&mut out, &format!("VIEW {}", v.name.sql()), &v.comment);
        }
        for t in &self.triggers {
            comment(
                &mut out,
                &format!("TRIGGER {} ON {}", q(&t.name), t.table.sql()),
                &t.comment,
            );
        }
        for p in &self.policies {
            comment(
                &mut out,
                &format!("POLICY {} ON {}", q(&p.name), p.table.sql()),
                &p.comment,
            );
        }
        out
    }

    /// Views after the views they read.
    fn views_in_order(&self) -> Vec<&ViewDef> {
        let mut pending: Vec<&ViewDef> = self.views.iter().collect();
        let mut done: Vec<&ViewDef> = Vec::new();
        while !pending.is_empty() {
            let ready = pending
                .iter()
                .position(|v| !pending.iter().any(|o| o.name == v.source))
                .unwrap_or(0);
            done.push(pending.remove(ready));
        }
        done
    }

    fn table(&self, name: &Name) -> Option<&TableDef> {
        self.tables.iter().find(|t| &t.name == name)
    }

    /// The output columns of a table or view, with their types when known.
    fn relation_cols(&self, name: &Name) -> Option<Vec<String>> {
        if let Some(t) = self.table(name) {
            return Some(t.cols.iter().map(|c| c.name.clone()).collect());
        }
        self.views
            .iter()
            .find(|v| &v.name == name)
            .map(|v| v.cols.clone())
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = vec!["public".to_string()];
        names.extend(self.schemas.iter().map(|(s, _)| s.clone()));
        names
    }
}

fn column_sql(c: &Col) -> String {
    let mut line = format!("{} {}", q(&c.name), c.ty.sql());
    if let Some(identity) = &c.identity {
        let kind = if identity.always {
            "ALWAYS"
        } else {
            "BY DEFAULT"
        };
        let _ = write!(line, " GENERATED {kind} AS IDENTITY");
        let mut options = Vec::new();
        if let Some(start) = identity.start {
            options.push(format!("START WITH {start}"));
        }
        if identity.increment != 1 {
            options.push(format!("INCREMENT BY {}", identity.increment));
        }
        if !options.is_empty() {
            let _ = write!(line, " ({})", options.join(" "));
        }
    }
    if let Some(default) = &c.default {
        let _ = write!(line, " DEFAULT {}", default_sql(default));
    }
    if c.not_null {
        line.push_str(" NOT NULL");
    }
    line
}

fn function_sql(f: &FnDef) -> String {
    match &f.kind {
        FnKind::Trigger(variant) => {
            let body = match variant {
                0 => "BEGIN RETURN NEW; END",
                1 => "BEGIN IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END",
                _ => "BEGIN RETURN NULL; END",
            };
            format!(
                "CREATE FUNCTION {} RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$",
                f.signature()
            )
        }
        FnKind::Scalar { ret, sql, variant } => {
            let expr = match *ret {
                "text" => format!("(a + {variant})::text"),
                _ => format!("a + {variant}"),
            };
            if *sql {
                format!(
                    "CREATE FUNCTION {}(a integer) RETURNS {ret} LANGUAGE sql IMMUTABLE AS $$ SELECT {expr} $$",
                    f.name.sql()
                )
            } else {
                format!(
                    "CREATE FUNCTION {}(a integer) RETURNS {ret} LANGUAGE plpgsql AS $$ BEGIN RETURN {expr}; END $$",
                    f.name.sql()
                )
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Generation and mutation
// ---------------------------------------------------------------------------

struct Gen<'m> {
    rng: Rng,
    model: &'m mut Model,
}

impl Gen<'_> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.model.counter += 1;
        // Now and then a name that needs quoting.
        if self.rng.chance(10) {
            format!("{} {}", prefix.to_uppercase(), self.model.counter)
        } else {
            format!("{prefix}{}", self.model.counter)
        }
    }

    fn comment(&mut self) -> Option<String> {
        if self.rng.chance(30) {
            Some(self.rng.pick(COMMENTS).to_string())
        } else {
            None
        }
    }

    fn schema(&mut self) -> String {
        let names = self.model.schema_names();
        if self.rng.chance(60) {
            "public".to_string()
        } else {
            self.rng.pick(&names).clone()
        }
    }

    fn ty(&mut self) -> Ty {
        let enums: Vec<Name> = self.model.enums.iter().map(|e| e.name.clone()).collect();
        match self.rng.below(13) {
            0 | 1 => Ty::Int,
            2 => Ty::BigInt,
            3 => Ty::Text,
            4 => Ty::Varchar(10 + 10 * self.rng.below(3) as u32),
            5 => Ty::Numeric(8 + self.rng.below(4) as u32, self.rng.below(3) as u32),
            6 => Ty::Bool,
            7 => Ty::Timestamptz,
            8 => Ty::Jsonb,
            9 if !enums.is_empty() => Ty::Enum(self.rng.pick(&enums).clone()),
            10 => Ty::IntArray,
            11 => Ty::TextArray,
            12 if !enums.is_empty() => {
                let e = self.rng.pick(&enums).clone();
                if self.rng.chance(50) {
                    Ty::EnumArray(e)
                } else {
                    Ty::EnumDomain(e)
                }
            }
            _ => Ty::Text,
        }
    }

    fn default_for(&mut self, ty: &Ty) -> Option<DefaultExpr> {
        if self.rng.chance(50) {
            return None;
        }
        Some(match ty {
            Ty::Int | Ty::BigInt => {
                let seqs: Vec<Name> = self
                    .model
                    .sequences
                    .iter()
                    .map(|s| s.name.clone())
                    .collect();
                if !seqs.is_empty() && self.rng.chance(40) {
                    DefaultExpr::NextVal(self.rng.pick(&seqs).clone())
                } else {
                    DefaultExpr::Num(self.rng.pick_copy(&[0, 1, 42, -7]))
                }
            }
            Ty::Numeric(..) => {
                if self.rng.chance(50) {
                    DefaultExpr::Decimal
                } else {
                    DefaultExpr::Num(3)
                }
            }
            Ty::Text | Ty::Varchar(_) => DefaultExpr::Str(self.rng.pick_copy(&["", "x", "it's"])),
            Ty::Bool => DefaultExpr::Bool(self.rng.chance(50)),
            Ty::Timestamptz => DefaultExpr::Now,
            Ty::Jsonb => DefaultExpr::Json,
            Ty::IntArray | Ty::TextArray | Ty::EnumArray(_) => DefaultExpr::EmptyArray,
            Ty::Enum(e) | Ty::EnumDomain(e) => {
                let labels = self
                    .model
                    .enums
                    .iter()
                    .find(|d| &d.name == e)
                    .map(|d| d.labels.clone())
                    .unwrap_or_default();
                if labels.is_empty() {
                    return None;
                }
                DefaultExpr::Label(self.rng.pick(&labels).clone())
            }
        })
    }

    fn column(&mut self) -> Col {
        let ty = self.ty();
        let name = self.fresh("c");
        let identity = if ty.integer() && self.rng.chance(15) {
            Some(Identity {
                always: self.rng.chance(50),
                start: if self.rng.chance(30) { Some(10) } else { None },
                increment: if self.rng.chance(30) { 2 } else { 1 },
            })
        } else {
            None
        };
        let default = if identity.is_some() {
            None
        } else {
            self.default_for(&ty)
        };
        Col {
            name,
            not_null: identity.is_some() || self.rng.chance(30),
            ty,
            default,
            identity,
            comment: self.comment(),
        }
    }

    fn add_schema(&mut self) {
        let free: Vec<&str> = EXTRA_SCHEMAS
            .iter()
            .copied()
            .filter(|s| !self.model.schemas.iter().any(|(n, _)| n == s))
            .collect();
        if free.is_empty() {
            return;
        }
        let name = self.rng.pick(&free).to_string();
        let text = self.comment();
        self.model.schemas.push((name, text));
    }

    fn add_enum(&mut self) {
        let schema = self.schema();
        let name = Name::new(&schema, self.fresh("e"));
        let mut labels: Vec<String> = Vec::new();
        for _ in 0..1 + self.rng.below(4) {
            let label = self.rng.pick(LABELS).to_string();
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        let comment = self.comment();
        self.model.enums.push(EnumDef {
            name,
            labels,
            comment,
        });
    }

    fn add_sequence(&mut self) {
        let schema = self.schema();
        let name = Name::new(&schema, self.fresh("sq"));
        let seq = SeqDef {
            name,
            bigint: self.rng.chance(50),
            increment: self.rng.pick_copy(&[1, 1, 2, 10]),
            start: self.rng.pick_copy(&[1, 5, 100]),
            max: if self.rng.chance(30) {
                Some(self.rng.pick_copy(&[1000, 100_000]))
            } else {
                None
            },
            cache: self.rng.pick_copy(&[1, 1, 5]),
            cycle: self.rng.chance(20),
            owned_by: None,
            comment: self.comment(),
        };
        self.model.sequences.push(seq);
    }

    fn add_function(&mut self, trigger: bool) {
        let schema = self.schema();
        let name = Name::new(&schema, self.fresh("f"));
        let kind = if trigger {
            FnKind::Trigger(self.rng.below(3) as u8)
        } else {
            FnKind::Scalar {
                ret: self.rng.pick_copy(&["integer", "bigint", "text"]),
                sql: self.rng.chance(50),
                variant: self.rng.below(3) as u8,
            }
        };
        let comment = self.comment();
        self.model.functions.push(FnDef {
            name,
            kind,
            comment,
        });
    }

    fn add_table(&mut self) {
        let schema = self.schema();
        let name = Name::new(&schema, self.fresh("t"));
        let cols: Vec<Col> = (0..1 + self.rng.below(5)).map(|_| self.column()).collect();
        let mut table = TableDef {
            name,
            cols,
            pk: None,
            uniques: Vec::new(),
            checks: Vec::new(),
            fks: Vec::new(),
            rls: self.rng.chance(20),
            force_rls: self.rng.chance(10),
            comment: self.comment(),
        };
        if self.rng.chance(60) {
            let col = self.rng.pick(&table.cols).name.clone();
            table.pk = Some(Key {
                name: self.fresh("pk"),
                cols: vec![col],
                comment: self.comment(),
            });
        }
        self.model.tables.push(table);
        let index = self.model.tables.len() - 1;
        for _ in 0..self.rng.below(2) {
            self.add_unique(index);
        }
        for _ in 0..self.rng.below(2) {
            self.add_check(index);
        }
    }

    fn add_column(&mut self, table: usize) {
        let col = self.column();
        self.model.tables[table].cols.push(col);
    }

    fn add_unique(&mut self, table: usize) {
        let cols: Vec<String> = self.model.tables[table]
            .cols
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if cols.is_empty() {
            return;
        }
        let mut chosen = vec![self.rng.pick(&cols).clone()];
        if self.rng.chance(30) {
            let other = self.rng.pick(&cols).clone();
            if !chosen.contains(&other) {
                chosen.push(other);
            }
        }
        let key = Key {
            name: self.fresh("uq"),
            cols: chosen,
            comment: self.comment(),
        };
        self.model.tables[table].uniques.push(key);
    }

    fn add_check(&mut self, table: usize) {
        let cols: Vec<String> = self.model.tables[table]
            .cols
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if cols.is_empty() {
            return;
        }
        let check = Check {
            name: self.fresh("ck"),
            col: self.rng.pick(&cols).clone(),
            variant: self.rng.below(3) as u8,
            comment: self.comment(),
        };
        self.model.tables[table].checks.push(check);
    }

    /// A foreign key from `table` to some key of some table with compatible types.
    fn add_fk(&mut self, table: usize) {
        let mut candidates: Vec<(Name, Vec<String>)> = Vec::new();
        for target in &self.model.tables {
            for key in target.keys() {
                candidates.push((target.name.clone(), key.cols.clone()));
            }
        }
        if candidates.is_empty() {
            return;
        }
        let (target, target_cols) = self.rng.pick(&candidates).clone();
        let mut cols = Vec::new();
        for target_col in &target_cols {
            let ty = self
                .model
                .table(&target)
                .and_then(|t| t.col(target_col))
                .map(|c| c.ty.clone());
            let Some(ty) = ty else { return };
            let own: Vec<String> = self.model.tables[table]
                .cols
                .iter()
                .filter(|c| fk_compatible(&c.ty, &ty) && !cols.contains(&c.name))
                .map(|c| c.name.clone())
                .collect();
            if own.is_empty() {
                return;
            }
            cols.push(self.rng.pick(&own).clone());
        }
        let fk = Fk {
            name: self.fresh("fk"),
            cols,
            target,
            target_cols,
            on_delete: self.rng.below(3) as u8,
            comment: self.comment(),
        };
        self.model.tables[table].fks.push(fk);
    }

    fn add_index(&mut self) {
        if self.model.tables.is_empty() {
            return;
        }
        let t = self.rng.below(self.model.tables.len());
        let table = &self.model.tables[t];
        if table.cols.is_empty() {
            return;
        }
        let cols: Vec<String> = table.cols.iter().map(|c| c.name.clone()).collect();
        let textual: Vec<String> = table
            .cols
            .iter()
            .filter(|c| c.ty.textual())
            .map(|c| c.name.clone())
            .collect();
        let table_name = table.name.clone();
        let col = self.rng.pick(&cols).clone();
        let kind = match self.rng.below(4) {
            0 => IndexKind::Plain(vec![col]),
            1 => {
                let other = self.rng.pick(&cols).clone();
                let mut both = vec![col];
                if !both.contains(&other) {
                    both.push(other);
                }
                IndexKind::Unique(both)
            }
            2 => IndexKind::Partial(col),
            _ if !textual.is_empty() => IndexKind::Lower(self.rng.pick(&textual).clone()),
            _ => IndexKind::Plain(vec![col]),
        };
        let name = Name::new(&table_name.schema, self.fresh("i"));
        let comment = self.comment();
        self.model.indexes.push(IndexDef {
            name,
            table: table_name,
            kind,
            comment,
        });
    }

    fn add_view(&mut self) {
        let mut sources: Vec<Name> = self.model.tables.iter().map(|t| t.name.clone()).collect();
        sources.extend(self.model.views.iter().map(|v| v.name.clone()));
        if sources.is_empty() {
            return;
        }
        let source = self.rng.pick(&sources).clone();
        let available = self.model.relation_cols(&source).unwrap_or_default();
        if available.is_empty() {
            return;
        }
        let mut cols = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let c = self.rng.pick(&available).clone();
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
        let schema = self.schema();
        let name = Name::new(&schema, self.fresh("v"));
        let view = ViewDef {
            name,
            source,
            cols,
            filter: self.rng.chance(40),
            comment: self.comment(),
        };
        self.model.views.push(view);
    }

    fn add_trigger(&mut self) {
        let functions: Vec<Name> = self
            .model
            .functions
            .iter()
            .filter(|f| matches!(f.kind, FnKind::Trigger(_)))
            .map(|f| f.name.clone())
            .collect();
        if functions.is_empty() || self.model.tables.is_empty() {
            return;
        }
        let t = self.rng.below(self.model.tables.len());
        let table = self.model.tables[t].name.clone();
        let cols: Vec<String> = self.model.tables[t]
            .cols
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let event = match self.rng.below(5) {
            0 => Event::Insert,
            1 => Event::Update,
            2 => Event::InsertOrUpdate,
            3 if !cols.is_empty() => Event::UpdateOf(self.rng.pick(&cols).clone()),
            _ => Event::Delete,
        };
        let trigger = TriggerDef {
            table,
            name: self.fresh("tr"),
            function: self.rng.pick(&functions).clone(),
            before: self.rng.chance(50),
            event,
            row: self.rng.chance(70),
            comment: self.comment(),
        };
        self.model.triggers.push(trigger);
    }

    fn policy_expr(&mut self, table: &Name) -> PolicyExpr {
        let cols: Vec<Col> = self
            .model
            .table(table)
            .map(|t| t.cols.clone())
            .unwrap_or_default();
        if cols.is_empty() || self.rng.chance(30) {
            return PolicyExpr::True;
        }
        let c = self.rng.pick(&cols).clone();
        if c.ty.numeric() && self.rng.chance(60) {
            PolicyExpr::Positive(c.name)
        } else {
            PolicyExpr::NotNull(c.name)
        }
    }

    fn add_policy(&mut self) {
        if self.model.tables.is_empty() {
            return;
        }
        let t = self.rng.below(self.model.tables.len());
        let table = self.model.tables[t].name.clone();
        let command = self
            .rng
            .pick_copy(&["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]);
        let using = if command == "INSERT" {
            None
        } else {
            Some(self.policy_expr(&table))
        };
        let check = if matches!(command, "ALL" | "UPDATE" | "INSERT") && self.rng.chance(60)
            || command == "INSERT"
        {
            Some(self.policy_expr(&table))
        } else {
            None
        };
        let policy = PolicyDef {
            table,
            name: self.fresh("p"),
            command,
            permissive: self.rng.chance(70),
            using,
            check,
            comment: self.comment(),
        };
        self.model.policies.push(policy);
    }

    fn generate(&mut self) {
        for _ in 0..self.rng.below(3) {
            self.add_schema();
        }
        for _ in 0..self.rng.below(3) {
            self.add_enum();
        }
        for _ in 0..self.rng.below(3) {
            self.add_sequence();
        }
        for _ in 0..self.rng.below(3) {
            self.add_function(true);
        }
        for _ in 0..self.rng.below(3) {
            self.add_function(false);
        }
        for _ in 0..1 + self.rng.below(4) {
            self.add_table();
        }
        for t in 0..self.model.tables.len() {
            if self.rng.chance(40) {
                self.add_fk(t);
            }
        }
        for _ in 0..self.rng.below(4) {
            self.add_index();
        }
        for _ in 0..self.rng.below(4) {
            self.add_view();
        }
        for _ in 0..self.rng.below(3) {
            self.add_trigger();
        }
        for _ in 0..self.rng.below(3) {
            self.add_policy();
        }
        self.own_sequences();
        fixup(self.model);
    }

    /// Some sequences owned by a column of a table of their schema.
    fn own_sequences(&mut self) {
        for s in 0..self.model.sequences.len() {
            if !self.rng.chance(30) {
                continue;
            }
            let schema = self.model.sequences[s].name.schema.clone();
            let owners: Vec<(Name, String)> = self
                .model
                .tables
                .iter()
                .filter(|t| t.name.schema == schema)
                .flat_map(|t| t.cols.iter().map(|c| (t.name.clone(), c.name.clone())))
                .collect();
            self.model.sequences[s].owned_by = if owners.is_empty() {
                None
            } else {
                Some(self.rng.pick(&owners).clone())
            };
        }
    }

    fn mutate(&mut self) {
        let tables = self.model.tables.len();
        match self.rng.below(30) {
            0 => self.add_table(),
            1 if tables > 0 => {
                let t = self.rng.below(tables);
                self.model.tables.remove(t);
            }
            2 | 3 if tables > 0 => {
                let t = self.rng.below(tables);
                self.add_column(t);
            }
            4 if tables > 0 => {
                let t = self.rng.below(tables);
                let cols = self.model.tables[t].cols.len();
                if cols > 0 {
                    let c = self.rng.below(cols);
                    self.model.tables[t].cols.remove(c);
                }
            }
            5..=7 if tables > 0 => self.retype_column(),
            8 | 9 if tables > 0 => {
                let (t, c) = self.some_column();
                if let Some((t, c)) = t.zip(c) {
                    let ty = self.model.tables[t].cols[c].ty.clone();
                    let default = self.default_for(&ty);
                    let col = &mut self.model.tables[t].cols[c];
                    col.default = default;
                    if self.rng.chance(40) {
                        col.not_null = !col.not_null;
                    }
                }
            }
            10 if tables > 0 => {
                let (t, c) = self.some_column();
                if let Some((t, c)) = t.zip(c) {
                    let col = &mut self.model.tables[t].cols[c];
                    col.identity = match (&col.identity, col.ty.integer()) {
                        (None, true) => {
                            col.default = None;
                            col.not_null = true;
                            Some(Identity {
                                always: self.rng.chance(50),
                                start: None,
                                increment: 1,
                            })
                        }
                        (Some(i), _) if self.rng.chance(50) => Some(Identity {
                            always: !i.always,
                            start: i.start.or(Some(20)),
                            increment: if i.increment == 1 { 3 } else { 1 },
                        }),
                        _ => None,
                    };
                }
            }
            11 if tables > 0 => {
                let t = self.rng.below(tables);
                if self.model.tables[t].pk.take().is_none() && !self.model.tables[t].cols.is_empty()
                {
                    let col = self.rng.pick(&self.model.tables[t].cols).name.clone();
                    let key = Key {
                        name: self.fresh("pk"),
                        cols: vec![col],
                        comment: None,
                    };
                    self.model.tables[t].pk = Some(key);
                }
            }
            12 if tables > 0 => {
                let t = self.rng.below(tables);
                if self.rng.chance(50) && !self.model.tables[t].uniques.is_empty() {
                    self.model.tables[t].uniques.remove(0);
                } else {
                    self.add_unique(t);
                }
            }
            13 if tables > 0 => {
                let t = self.rng.below(tables);
                let checks = &mut self.model.tables[t].checks;
                match self.rng.below(3) {
                    0 if !checks.is_empty() => {
                        checks.pop();
                    }
                    1 if !checks.is_empty() => checks[0].variant = (checks[0].variant + 1) % 3,
                    _ => self.add_check(t),
                }
            }
            14 if tables > 0 => {
                let t = self.rng.below(tables);
                if self.rng.chance(40) && !self.model.tables[t].fks.is_empty() {
                    self.model.tables[t].fks.remove(0);
                } else {
                    self.add_fk(t);
                }
            }
            15 => {
                let n = self.model.indexes.len();
                match self.rng.below(3) {
                    0 if n > 0 => {
                        self.model.indexes.remove(self.rng.below(n));
                    }
                    1 if n > 0 => {
                        // Same name, another definition.
                        let i = self.rng.below(n);
                        let name = self.model.indexes[i].name.clone();
                        self.add_index();
                        if let Some(mut last) = self.model.indexes.pop() {
                            if last.table.schema == name.schema {
                                last.name = name;
                                self.model.indexes[i] = last;
                            } else {
                                self.model.indexes.push(last);
                            }
                        }
                    }
                    _ => self.add_index(),
                }
            }
            16 | 17 => {
                let n = self.model.views.len();
                match self.rng.below(3) {
                    0 if n > 0 => {
                        self.model.views.remove(self.rng.below(n));
                    }
                    1 if n > 0 => {
                        let i = self.rng.below(n);
                        let v = &mut self.model.views[i];
                        v.filter = !v.filter;
                        if v.cols.len() > 1 && self.rng.chance(50) {
                            v.cols.pop();
                        }
                    }
                    _ => self.add_view(),
                }
            }
            18 => {
                let n = self.model.functions.len();
                match self.rng.below(3) {
                    0 if n > 0 => {
                        self.model.functions.remove(self.rng.below(n));
                    }
                    1 if n > 0 => {
                        let i = self.rng.below(n);
                        let ret = self.rng.pick_copy(&["integer", "bigint", "text"]);
                        let flip = self.rng.chance(30);
                        let f = &mut self.model.functions[i];
                        f.kind = match f.kind {
                            FnKind::Trigger(v) => FnKind::Trigger((v + 1) % 3),
                            FnKind::Scalar {
                                variant,
                                sql,
                                ret: old,
                            } => FnKind::Scalar {
                                ret: if flip { ret } else { old },
                                sql: if flip { !sql } else { sql },
                                variant: (variant + 1) % 3,
                            },
                        };
                    }
                    _ => {
                        let trigger = self.rng.chance(50);
                        self.add_function(trigger);
                    }
                }
            }
            19 => {
                let n = self.model.triggers.len();
                match self.rng.below(3) {
                    0 if n > 0 => {
                        self.model.triggers.remove(self.rng.below(n));
                    }
                    1 if n > 0 => {
                        let i = self.rng.below(n);
                        let t = &mut self.model.triggers[i];
                        t.before = !t.before;
                        t.event = Event::InsertOrUpdate;
                    }
                    _ => self.add_trigger(),
                }
            }
            20 | 21 => {
                let n = self.model.policies.len();
                match self.rng.below(4) {
                    0 if n > 0 => {
                        self.model.policies.remove(self.rng.below(n));
                    }
                    1 if n > 0 => {
                        let i = self.rng.below(n);
                        let table = self.model.policies[i].table.clone();
                        let expr = self.policy_expr(&table);
                        let p = &mut self.model.policies[i];
                        if p.using.is_some() {
                            p.using = Some(expr);
                        }
                        p.permissive = !p.permissive;
                    }
                    2 if tables > 0 => {
                        let t = self.rng.below(tables);
                        let table = &mut self.model.tables[t];
                        if self.rng.chance(70) {
                            table.rls = !table.rls;
                        } else {
                            table.force_rls = !table.force_rls;
                        }
                    }
                    _ => self.add_policy(),
                }
            }
            22 | 23 => self.mutate_comment(),
            24 | 25 => self.mutate_enum(),
            26 | 27 => self.mutate_sequence(),
            28 => {
                if self.rng.chance(50) && !self.model.schemas.is_empty() {
                    let i = self.rng.below(self.model.schemas.len());
                    self.model.schemas.remove(i);
                } else {
                    self.add_schema();
                }
            }
            _ => self.add_view(),
        }
        fixup(self.model);
    }

    fn some_column(&mut self) -> (Option<usize>, Option<usize>) {
        let tables = self.model.tables.len();
        if tables == 0 {
            return (None, None);
        }
        let t = self.rng.below(tables);
        let cols = self.model.tables[t].cols.len();
        if cols == 0 {
            return (Some(t), None);
        }
        (Some(t), Some(self.rng.below(cols)))
    }

    /// A type change PostgreSQL can do with `USING col::new` on an empty table.
    fn retype_column(&mut self) {
        let (t, c) = self.some_column();
        let Some((t, c)) = t.zip(c) else { return };
        let enums: Vec<Name> = self.model.enums.iter().map(|e| e.name.clone()).collect();
        let old = self.model.tables[t].cols[c].ty.clone();
        let mut options = cast_targets(&old);
        if old == Ty::Text {
            options.extend(enums.iter().cloned().map(Ty::Enum));
        }
        if old == Ty::TextArray {
            options.extend(enums.iter().cloned().map(Ty::EnumArray));
        }
        let ty = self.rng.pick(&options).clone();
        let default = self.default_for(&ty);
        let col = &mut self.model.tables[t].cols[c];
        col.ty = ty;
        if col.identity.is_none() {
            col.default = default;
        }
    }

    fn mutate_comment(&mut self) {
        let text = self.comment();
        let m = &mut *self.model;
        let which = self.rng.below(10);
        let pick = self.rng.next() as usize;
        macro_rules! set {
            ($items:expr, $field:ident) => {{
                let n = $items.len();
                if n > 0 {
                    $items[pick % n].$field = text;
                }
            }};
        }
        match which {
            0 => {
                let n = m.schemas.len();
                if n > 0 {
                    m.schemas[pick % n].1 = text;
                }
            }
            1 => set!(m.enums, comment),
            2 => set!(m.sequences, comment),
            3 => set!(m.functions, comment),
            4 => set!(m.tables, comment),
            5 => {
                let n = m.tables.len();
                if n > 0 {
                    let t = &mut m.tables[pick % n];
                    if let Some(pk) = &mut t.pk {
                        pk.comment = text;
                    } else {
                        set!(t.cols, comment);
                    }
                }
            }
            6 => set!(m.indexes, comment),
            7 => set!(m.views, comment),
            8 => set!(m.triggers, comment),
            _ => set!(m.policies, comment),
        }
    }

    fn mutate_enum(&mut self) {
        let n = self.model.enums.len();
        if n == 0 || self.rng.chance(20) {
            self.add_enum();
            return;
        }
        let i = self.rng.below(n);
        if self.rng.chance(10) {
            self.model.enums.remove(i);
            return;
        }
        let free: Vec<String> = LABELS
            .iter()
            .filter(|l| !self.model.enums[i].labels.iter().any(|x| x == *l))
            .map(|l| l.to_string())
            .collect();
        let action = self.rng.below(4);
        let position = self.rng.below(self.model.enums[i].labels.len() + 1);
        let label = if free.is_empty() {
            None
        } else {
            Some(self.rng.pick(&free).clone())
        };
        let labels = &mut self.model.enums[i].labels;
        match action {
            // Added at the end, in the middle or first: in place.
            0 | 1 => {
                if let Some(label) = label {
                    labels.insert(position, label);
                }
            }
            // Removed: the type is recreated.
            2 if labels.len() > 1 => {
                labels.remove(position.min(labels.len() - 1));
            }
            // Reordered: recreated too.
            _ => labels.reverse(),
        }
    }

    fn mutate_sequence(&mut self) {
        let n = self.model.sequences.len();
        if n == 0 || self.rng.chance(20) {
            self.add_sequence();
            return;
        }
        let i = self.rng.below(n);
        match self.rng.below(6) {
            0 => {
                self.model.sequences.remove(i);
            }
            1 => {
                let owners: Vec<(Name, String)> = {
                    let schema = &self.model.sequences[i].name.schema;
                    self.model
                        .tables
                        .iter()
                        .filter(|t| &t.name.schema == schema)
                        .flat_map(|t| t.cols.iter().map(|c| (t.name.clone(), c.name.clone())))
                        .collect()
                };
                let owner = if owners.is_empty() || self.rng.chance(30) {
                    None
                } else {
                    Some(self.rng.pick(&owners).clone())
                };
                self.model.sequences[i].owned_by = owner;
            }
            2 => self.model.sequences[i].bigint = !self.model.sequences[i].bigint,
            3 => {
                let s = &mut self.model.sequences[i];
                s.increment = if s.increment == 1 { 5 } else { 1 };
                s.cycle = !s.cycle;
            }
            4 => {
                let s = &mut self.model.sequences[i];
                s.max = if s.max.is_some() { None } else { Some(50_000) };
                s.cache = if s.cache == 1 { 3 } else { 1 };
            }
            _ => {
                let s = &mut self.model.sequences[i];
                s.start = if s.start == 1 { 7 } else { 1 };
            }
        }
    }
}

/// Types a column of type `ty` can change to with `USING col::new` (enums aside).
fn cast_targets(ty: &Ty) -> Vec<Ty> {
    match ty {
        Ty::Int => vec![
            Ty::BigInt,
            Ty::Numeric(10, 2),
            Ty::Text,
            Ty::Varchar(20),
            Ty::Bool,
        ],
        Ty::BigInt => vec![Ty::Int, Ty::Numeric(12, 0), Ty::Text],
        Ty::Numeric(p, s) => vec![Ty::Int, Ty::BigInt, Ty::Numeric(p + 2, *s), Ty::Text],
        Ty::Text => vec![
            Ty::Varchar(30),
            Ty::Int,
            Ty::Bool,
            Ty::Timestamptz,
            Ty::Jsonb,
            Ty::Numeric(9, 1),
        ],
        Ty::Varchar(n) => vec![Ty::Text, Ty::Varchar(n + 15), Ty::Varchar(n / 2 + 1)],
        Ty::Bool => vec![Ty::Text, Ty::Int],
        Ty::Timestamptz | Ty::Jsonb | Ty::Enum(_) | Ty::EnumDomain(_) => vec![Ty::Text],
        Ty::IntArray => vec![Ty::TextArray],
        Ty::TextArray => vec![Ty::IntArray],
        Ty::EnumArray(_) => vec![Ty::TextArray],
    }
}

/// Whether a column can change between `a` and `b` in both directions. Pairs without
/// a cast (boolean and an enum array, jsonb and an enum, ...) have no in-place
/// migration at all; independent pairs rename such columns instead.
fn castable(a: &Ty, b: &Ty) -> bool {
    let kind = |t: &Ty| match t {
        Ty::Varchar(_) => Ty::Varchar(0),
        Ty::Numeric(..) => Ty::Numeric(0, 0),
        Ty::Enum(_) => Ty::Enum(Name::new("", String::new())),
        Ty::EnumArray(_) => Ty::EnumArray(Name::new("", String::new())),
        Ty::EnumDomain(_) => Ty::EnumDomain(Name::new("", String::new())),
        other => other.clone(),
    };
    let (a, b) = (kind(a), kind(b));
    let one_way = |x: &Ty, y: &Ty| {
        x == y
            || cast_targets(x).iter().any(|t| kind(t) == *y)
            || matches!(
                (x, y),
                (Ty::Text, Ty::Enum(_)) | (Ty::TextArray, Ty::EnumArray(_))
            )
    };
    one_way(&a, &b) || one_way(&b, &a)
}

fn fk_compatible(a: &Ty, b: &Ty) -> bool {
    // A domain over an enum has no equality operator of its own for a foreign key.
    (a.integer() && b.integer()) || (a == b && !matches!(a, Ty::Jsonb | Ty::EnumDomain(_)))
}

/// Removes or repairs what mutations made invalid, until nothing changes (a dropped
/// table drops its views, which drop the views over them, ...).
fn fixup(m: &mut Model) {
    loop {
        let before = format!("{m:?}");
        fixup_once(m);
        if format!("{m:?}") == before {
            break;
        }
    }
}

fn fixup_once(m: &mut Model) {
    let schemas = m.schema_names();
    let in_schema = |n: &Name| schemas.contains(&n.schema);
    m.enums.retain(|e| in_schema(&e.name));
    m.sequences.retain(|s| in_schema(&s.name));
    m.functions.retain(|f| in_schema(&f.name));
    m.tables.retain(|t| in_schema(&t.name));
    m.views.retain(|v| in_schema(&v.name));

    let enums: Vec<EnumDef> = m.enums.clone();
    let sequences: Vec<Name> = m.sequences.iter().map(|s| s.name.clone()).collect();
    for t in &mut m.tables {
        for c in &mut t.cols {
            let missing = |e: &Name| !enums.iter().any(|d| &d.name == e);
            match &c.ty {
                Ty::Enum(e) if missing(e) => c.ty = Ty::Text,
                Ty::EnumArray(e) if missing(e) => c.ty = Ty::TextArray,
                Ty::EnumDomain(e) if missing(e) => c.ty = Ty::Text,
                _ => {}
            }
            if !c.ty.integer() {
                c.identity = None;
            }
            if c.identity.is_some() {
                c.default = None;
                c.not_null = true;
            }
            let valid = match (&c.default, &c.ty) {
                (None, _) => true,
                (Some(DefaultExpr::Num(_)), ty) => ty.numeric(),
                (Some(DefaultExpr::Decimal), Ty::Numeric(..)) => true,
                (Some(DefaultExpr::Str(_)), ty) => ty.textual(),
                (Some(DefaultExpr::Bool(_)), Ty::Bool) => true,
                (Some(DefaultExpr::Now), Ty::Timestamptz) => true,
                (Some(DefaultExpr::Json), Ty::Jsonb) => true,
                (
                    Some(DefaultExpr::EmptyArray),
                    Ty::IntArray | Ty::TextArray | Ty::EnumArray(_),
                ) => true,
                (Some(DefaultExpr::Label(l)), Ty::Enum(e) | Ty::EnumDomain(e)) => {
                    enums.iter().any(|d| &d.name == e && d.labels.contains(l))
                }
                (Some(DefaultExpr::NextVal(s)), ty) => ty.integer() && sequences.contains(s),
                _ => false,
            };
            if !valid {
                c.default = None;
            }
        }
        let names: Vec<String> = t.cols.iter().map(|c| c.name.clone()).collect();
        let has_all = |cols: &[String]| cols.iter().all(|c| names.contains(c));
        if t.pk.as_ref().is_some_and(|k| !has_all(&k.cols)) {
            t.pk = None;
        }
        t.uniques.retain(|k| has_all(&k.cols));
        // CREATE TABLE silently drops a unique constraint that repeats the primary key or
        // an earlier unique constraint (same columns, same order): keep the model honest.
        let mut seen: Vec<Vec<String>> = t.pk.iter().map(|k| k.cols.clone()).collect();
        t.uniques.retain(|k| {
            let new = !seen.contains(&k.cols);
            seen.push(k.cols.clone());
            new
        });
        t.checks.retain(|c| names.contains(&c.col));
        t.fks.retain(|f| has_all(&f.cols));
    }
    // Foreign keys: the target must exist and still have that key, with compatible types.
    let snapshot = m.tables.clone();
    for t in &mut m.tables {
        let own = t.cols.clone();
        t.fks.retain(|fk| {
            let Some(target) = snapshot.iter().find(|x| x.name == fk.target) else {
                return false;
            };
            let keyed = target.keys().any(|k| k.cols == fk.target_cols);
            keyed
                && fk.cols.iter().zip(&fk.target_cols).all(|(a, b)| {
                    let a = own.iter().find(|c| &c.name == a);
                    let b = target.col(b);
                    a.zip(b).is_some_and(|(a, b)| fk_compatible(&a.ty, &b.ty))
                })
        });
        // SET NULL needs nullable referencing columns.
        for fk in &mut t.fks {
            let nullable = fk
                .cols
                .iter()
                .all(|c| own.iter().any(|o| &o.name == c && !o.not_null));
            if fk.on_delete == 2 && !nullable {
                fk.on_delete = 0;
            }
        }
    }
    let tables = m.tables.clone();
    let find_col = |table: &Name, col: &str| -> Option<Col> {
        tables
            .iter()
            .find(|t| &t.name == table)
            .and_then(|t| t.col(col))
            .cloned()
    };
    m.sequences.iter_mut().for_each(|s| {
        let valid = s.owned_by.as_ref().is_some_and(|(table, col)| {
            table.schema == s.name.schema && find_col(table, col).is_some()
        });
        if !valid {
            s.owned_by = None;
        }
    });
    m.indexes.retain(|i| match &i.kind {
        IndexKind::Plain(cols) | IndexKind::Unique(cols) => {
            cols.iter().all(|c| find_col(&i.table, c).is_some())
        }
        IndexKind::Partial(c) => find_col(&i.table, c).is_some(),
        IndexKind::Lower(c) => find_col(&i.table, c).is_some_and(|c| c.ty.textual()),
    });
    let model = m.clone();
    m.views.retain(|v| {
        model
            .relation_cols(&v.source)
            .is_some_and(|cols| v.cols.iter().all(|c| cols.contains(c)))
            && v.source != v.name
    });
    let trigger_fns: Vec<Name> = m
        .functions
        .iter()
        .filter(|f| matches!(f.kind, FnKind::Trigger(_)))
        .map(|f| f.name.clone())
        .collect();
    m.triggers
        .retain(|t| trigger_fns.contains(&t.function) && find_col_table(&tables, &t.table));
    for t in &mut m.triggers {
        if let Event::UpdateOf(c) = &t.event {
            if find_col(&t.table, c).is_none() {
                t.event = Event::Update;
            }
        }
    }
    m.policies.retain(|p| find_col_table(&tables, &p.table));
    for p in &mut m.policies {
        for expr in [&mut p.using, &mut p.check].into_iter().flatten() {
            let valid = match expr {
                PolicyExpr::True => true,
                PolicyExpr::NotNull(c) => find_col(&p.table, c).is_some(),
                PolicyExpr::Positive(c) => find_col(&p.table, c).is_some_and(|c| c.ty.numeric()),
            };
            if !valid {
                *expr = PolicyExpr::True;
            }
        }
    }
}

fn find_col_table(tables: &[TableDef], name: &Name) -> bool {
    tables.iter().any(|t| &t.name == name)
}

/// The pair for `seed`: S2 mutated from S1, or (every fifth seed) independent.
fn generate_pair(seed: u64) -> (String, String) {
    let mut s1 = Model::default();
    let mut gen = Gen {
        rng: Rng::new(seed),
        model: &mut s1,
    };
    gen.generate();
    let rng = gen.rng;
    if seed % 5 == 4 {
        let mut s2 = Model::default();
        let mut gen = Gen {
            rng: Rng::new(seed ^ 0xD1B5_4A32_D192_ED03),
            model: &mut s2,
        };
        gen.generate();
        for table in &mut s2.tables {
            let Some(old) = s1.tables.iter().find(|t| t.name == table.name) else {
                continue;
            };
            for col in &mut table.cols {
                let twin = old.cols.iter().find(|c| c.name == col.name);
                if twin.is_some_and(|twin| !castable(&twin.ty, &col.ty)) {
                    col.name.push_str("_b");
                }
            }
        }
        fixup(&mut s2);
        return (s1.sql(), s2.sql());
    }
    let mut s2 = s1.clone();
    let mut gen = Gen {
        rng,
        model: &mut s2,
    };
    for _ in 0..1 + gen.rng.below(6) {
        gen.mutate();
    }
    (s1.sql(), s2.sql())
}

// ---------------------------------------------------------------------------
// Running a pair against the server
// ---------------------------------------------------------------------------

struct Case {
    seed: u64,
    s1: String,
    s2: String,
}

impl Case {
    fn fail(&self, what: &str, applied: &str, detail: &str) -> ! {
        panic!(
            "diff property failed for seed {seed} (rerun with RETORT_DIFF_SEED={seed}): {what}\n\
             ---- S1 ----\n{}\n---- S2 ----\n{}\n---- applied ----\n{applied}\n---- detail ----\n{detail}",
            self.s1,
            self.s2,
            seed = self.seed
        )
    }

    /// Applies `diff(from, to)` statement by statement; returns the script as applied.
    async fn apply(&self, client: &Client, from: &Schema, to: &Schema, what: &str) -> String {
        let statements = diff::render(&diff::diff(from, to));
        let script = diff::to_script(&statements);
        for statement in &statements {
            if statement
                .hazards
                .iter()
                .any(|h| h.kind == diff::HazardKind::Unsupported)
            {
                self.fail(&format!("{what}: unsupported change"), &script, "");
            }
            if let Err(e) = client.batch_execute(&statement.sql).await {
                let message = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string());
                self.fail(
                    &format!("{what}: a statement failed"),
                    &script,
                    &format!("{}\n=> {message}", statement.sql),
                );
            }
        }
        script
    }

    async fn check_reaches(&self, client: &Client, target: &Schema, script: &str, what: &str) {
        let after = inspect(client).await;
        if let Some(d) =
            catalog::diff_dumps(&dump_sorted(target), &dump_sorted(&after), "want", "got")
        {
            self.fail(&format!("{what}: dumps differ"), script, &d);
        }
        let again = diff::diff(&after, target);
        if !again.is_empty() {
            self.fail(
                &format!("{what}: a second diff is not empty"),
                script,
                &format!("{again:#?}"),
            );
        }
        if !diff::diff(&after, &after).is_empty() {
            self.fail(&format!("{what}: diff(x, x) is not empty"), script, "");
        }
    }

    async fn run(&self, a: &TestDb, b: &TestDb) {
        let (a, b) = (connect(&a.url).await, connect(&b.url).await);
        if let Err(e) = a.batch_execute(&self.s1).await {
            self.fail("S1 does not load (generator bug)", "", &format!("{e:?}"));
        }
        if let Err(e) = b.batch_execute(&self.s2).await {
            self.fail("S2 does not load (generator bug)", "", &format!("{e:?}"));
        }
        let s1 = inspect(&a).await;
        let s2 = inspect(&b).await;
        let up = self.apply(&a, &s1, &s2, "up").await;
        self.check_reaches(&a, &s2, &up, "up").await;
        let down = self.apply(&a, &s2, &s1, "down").await;
        self.check_reaches(&a, &s1, &down, "down").await;
    }
}

fn run_seeds(seeds: std::ops::Range<u64>) {
    let seeds: Vec<u64> = match std::env::var("RETORT_DIFF_SEED") {
        Ok(spec) if seeds.start == 0 => match spec.trim().split_once("..") {
            Some((a, b)) => (a.parse().expect("RETORT_DIFF_SEED start")
                ..b.parse().expect("RETORT_DIFF_SEED end"))
                .collect(),
            None => vec![spec.trim().parse().expect("RETORT_DIFF_SEED")],
        },
        Ok(_) => Vec::new(),
        Err(_) => seeds.collect(),
    };
    // Every seed runs even after a failure, so one run lists all failing seeds; the
    // first failure's full report is the panic message.
    let mut failures: Vec<(u64, String)> = Vec::new();
    for seed in seeds {
        let (s1, s2) = generate_pair(seed);
        let case = Case { seed, s1, s2 };
        let a = TestDb::new("diffprop_a");
        let b = TestDb::new("diffprop_b");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(case.run(&a, &b));
        }));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push((seed, message));
        }
    }
    if let Some((_, first)) = failures.first() {
        let seeds: Vec<String> = failures.iter().map(|(s, _)| s.to_string()).collect();
        panic!(
            "{} failing seed(s): {}\n\nfirst failure:\n{first}",
            failures.len(),
            seeds.join(", ")
        );
    }
}

// Four functions of 50 seeds each: nextest runs them in parallel.

#[test]
fn random_pairs_0() {
    run_seeds(0..50);
}

#[test]
fn random_pairs_1() {
    run_seeds(50..100);
}

#[test]
fn random_pairs_2() {
    run_seeds(100..150);
}

#[test]
fn random_pairs_3() {
    run_seeds(150..200);
}
