//! Rendering: each [`Change`] becomes one or more SQL [`Statement`]s with their hazards.
//!
//! sea-query renders the statements it renders faithfully: `DROP TABLE` and `ALTER TABLE
//! ... DROP COLUMN` (it quotes every identifier and doubles embedded quotes). Everything
//! else carries text PostgreSQL gave us (`format_type` types, `pg_get_constraintdef`,
//! `pg_get_indexdef`, defaults from `pg_get_expr`), identity options or clauses sea-query
//! has no builder for, so it is written here; every identifier goes through
//! [`quote_ident`], never concatenated bare. (sea-query's `DROP INDEX` writes the index
//! name without escaping embedded quotes, so it is not used.)

use std::fmt::Write;

use sea_query::{Alias, PostgresQueryBuilder, Table as SeaTable};

use super::order::unchecked_sql_body;
use super::plan::multirange_name;
use super::*;
use crate::catalog::{
    column_line, column_settings, create_index_sql, create_policy, identity_clause,
    not_null_constraint_clause, not_null_constraint_name, qn, sequence_clauses,
    write_relation_body,
};
use crate::sql::{quote_ident, quote_literal};

#[path = "online.rs"]
mod online;

pub use online::render_online;

fn sea_table(name: &QualifiedName) -> (Alias, Alias) {
    // Owned strings: sea-query escapes embedded quotes only in owned identifiers.
    (
        Alias::new(name.schema.clone()),
        Alias::new(name.name.clone()),
    )
}

fn statement(sql: String) -> Statement {
    Statement {
        sql,
        hazards: Vec::new(),
    }
}

fn hazardous(sql: String, kind: HazardKind, message: impl Into<String>) -> Statement {
    Statement {
        sql,
        hazards: vec![Hazard {
            kind,
            message: message.into(),
        }],
    }
}

/// All statements of `changes`, in order.
pub fn render(changes: &[Change]) -> Vec<Statement> {
    let statements = changes.iter().flat_map(Change::statements).collect();
    with_unchecked_bodies(changes, statements)
}

/// `statements` between `SET check_function_bodies = false` and its `RESET` when
/// `changes` create a `LANGUAGE sql` routine with a string body: PostgreSQL records no
/// dependency for such a body, so nothing orders it after the tables it reads, and it is
/// only parsed at creation when `check_function_bodies` is on (pg_dump turns it off for
/// the same reason). A plain `SET` and an explicit `RESET`, not `SET LOCAL`: a
/// `transaction:false` section runs each statement on its own, where `SET LOCAL` would
/// do nothing; in a transaction, a failure rolls the `SET` back with everything else.
fn with_unchecked_bodies(changes: &[Change], statements: Vec<Statement>) -> Vec<Statement> {
    let unchecked = changes
        .iter()
        .any(|c| matches!(c, Change::AddFunction(f) if unchecked_sql_body(f)));
    if !unchecked {
        return statements;
    }
    let mut out = Vec::with_capacity(statements.len() + 3);
    out.push(statement(
        "-- SQL function bodies may read tables created further down: check them at their \
         first call, as pg_dump does"
            .to_string(),
    ));
    out.push(statement("SET check_function_bodies = false".to_string()));
    out.extend(statements);
    out.push(statement("RESET check_function_bodies".to_string()));
    out
}

/// A migration script: each statement ends with `;`, hazards become `-- WARNING:` lines.
pub fn to_script(statements: &[Statement]) -> String {
    let mut out = String::new();
    for statement in statements {
        for hazard in &statement.hazards {
            // Messages name objects; a line break in a quoted name would end the comment.
            let message = hazard.message.replace(['\n', '\r'], " ");
            let _ = writeln!(out, "-- WARNING: {message}");
        }
        if statement.sql.starts_with("--") {
            let _ = writeln!(out, "{}", statement.sql);
        } else {
            let _ = writeln!(out, "{};", statement.sql);
        }
    }
    out
}

/// The clauses of `to` that differ from `from` (for ALTER SEQUENCE and identity SET).
/// Columns of a type created again (an enum, or a domain over one) moved to the new
/// type through text: each default dropped first (it names the old type) and set again.
fn retype_columns(type_name: &str, columns: &[EnumColumn], removed: &[String]) -> Vec<Statement> {
    let mut out = Vec::new();
    for c in columns {
        let prefix = format!(
            "ALTER TABLE {} ALTER COLUMN {}",
            qn(&c.table),
            quote_ident(&c.column)
        );
        if c.had_default {
            out.push(statement(format!("{prefix} DROP DEFAULT")));
        }
        let col = quote_ident(&c.column);
        let sql = if c.array {
            format!("{prefix} TYPE {type_name}[] USING {col}::text[]::{type_name}[]")
        } else {
            format!("{prefix} TYPE {type_name} USING {col}::text::{type_name}")
        };
        out.push(if removed.is_empty() {
            statement(sql)
        } else {
            hazardous(
                sql,
                HazardKind::CastMayFail,
                format!(
                    "fails if {}.{col} holds a removed label ({})",
                    qn(&c.table),
                    enum_labels(removed)
                ),
            )
        });
        if let Some(default) = &c.default {
            out.push(statement(format!("{prefix} SET DEFAULT {default}")));
        }
    }
    out
}

fn changed_sequence_clauses(from: &SequenceOptions, to: &SequenceOptions) -> Vec<String> {
    let mut clauses = Vec::new();
    if from.data_type != to.data_type {
        clauses.push(format!("AS {}", to.data_type));
    }
    if from.start != to.start {
        clauses.push(format!("START WITH {}", to.start));
    }
    if from.increment != to.increment {
        clauses.push(format!("INCREMENT BY {}", to.increment));
    }
    if from.min != to.min {
        clauses.push(format!("MINVALUE {}", to.min));
    }
    if from.max != to.max {
        clauses.push(format!("MAXVALUE {}", to.max));
    }
    if from.cache != to.cache {
        clauses.push(format!("CACHE {}", to.cache));
    }
    if from.cycle != to.cycle {
        clauses.push(if to.cycle { "CYCLE" } else { "NO CYCLE" }.to_string());
    }
    clauses
}

/// `CREATE TABLE`; `parent_columns` are those of a partition's parent (see
/// [`Change::AddTable`]), which its own column list must not repeat.
fn create_table(table: &Table, parent_columns: Option<&[Column]>) -> Vec<Statement> {
    let name = qn(&table.name);
    let unlogged = if table.unlogged { "UNLOGGED " } else { "" };
    let mut sql = format!("CREATE {unlogged}TABLE {name} ");
    write_relation_body(
        &mut sql,
        &table.name,
        &table.columns,
        &table.constraints,
        table.partition_of.as_ref(),
        parent_columns,
        &table.inherits,
    );
    if let Some(key) = &table.partition_key {
        let _ = write!(sql, " PARTITION BY {key}");
    }
    if let Some(am) = &table.access_method {
        let _ = write!(sql, " USING {}", quote_ident(am));
    }
    if !table.options.is_empty() {
        let _ = write!(sql, " WITH ({})", table.options.join(", "));
    }
    let mut out = vec![statement(sql)];
    for column in &table.columns {
        out.extend(
            column_settings(&table.name, column)
                .into_iter()
                .map(statement),
        );
    }
    out
}

fn table_change(table: &QualifiedName, change: &TableChange) -> Statement {
    let name = qn(table);
    match change {
        TableChange::AddColumn(column) => {
            let mut sql = format!(
                "ALTER TABLE {name} ADD COLUMN {}",
                column_line(table, column)
            );
            // A NOT VALID NOT NULL has no column form: a second action of the statement.
            if let Some(constraint) = column.not_null_constraint.as_ref().filter(|c| c.not_valid) {
                let _ = write!(
                    sql,
                    ", ADD {}",
                    not_null_constraint_clause(table, &column.name, constraint)
                );
            }
            // Identity and generated columns fill existing rows; others get NULL.
            let filled =
                column.default.is_some() || column.identity.is_some() || column.generated.is_some();
            if column.not_null && !filled {
                hazardous(
                    sql,
                    HazardKind::CastMayFail,
                    format!(
                        "fails if {name} has rows: {} is NOT NULL without a default",
                        quote_ident(&column.name)
                    ),
                )
            } else {
                statement(sql)
            }
        }
        TableChange::DropColumn { name: column } => hazardous(
            SeaTable::alter()
                .table(sea_table(table))
                .drop_column(Alias::new(column.clone()))
                .to_string(PostgresQueryBuilder),
            HazardKind::DataLoss,
            format!("drops column {name}.{} and its data", quote_ident(column)),
        ),
        TableChange::AlterColumn {
            name: column,
            change,
        } => column_change(table, column, change),
        TableChange::AddConstraint(c) => statement(format!(
            "ALTER TABLE {name} ADD CONSTRAINT {} {}",
            quote_ident(&c.name),
            c.definition
        )),
        TableChange::DropConstraint { name: c, .. } => statement(format!(
            "ALTER TABLE {name} DROP CONSTRAINT {}",
            quote_ident(c)
        )),
        TableChange::SetRowSecurity(on) => {
            let verb = if *on { "ENABLE" } else { "DISABLE" };
            statement(format!("ALTER TABLE {name} {verb} ROW LEVEL SECURITY"))
        }
        TableChange::SetForceRowSecurity(on) => {
            let verb = if *on { "FORCE" } else { "NO FORCE" };
            statement(format!("ALTER TABLE {name} {verb} ROW LEVEL SECURITY"))
        }
        TableChange::SetLogged(logged) => {
            let sql = format!(
                "ALTER TABLE {name} SET {}",
                if *logged { "LOGGED" } else { "UNLOGGED" }
            );
            hazardous(
                sql,
                HazardKind::Rewrite,
                format!("rewrites {name} under an ACCESS EXCLUSIVE lock"),
            )
        }
        TableChange::SetOptions { set, reset } => {
            let mut clauses = Vec::new();
            if !set.is_empty() {
                clauses.push(format!("SET ({})", set.join(", ")));
            }
            if !reset.is_empty() {
                clauses.push(format!("RESET ({})", reset.join(", ")));
            }
            statement(format!("ALTER TABLE {name} {}", clauses.join(", ")))
        }
        TableChange::SetAccessMethod(method) => hazardous(
            format!(
                "ALTER TABLE {name} SET ACCESS METHOD {}",
                quote_ident(method)
            ),
            HazardKind::Rewrite,
            format!("rewrites {name} under an ACCESS EXCLUSIVE lock"),
        ),
        TableChange::SetReplicaIdentity(identity) => statement(format!(
            "ALTER TABLE {name} REPLICA IDENTITY {}",
            identity.as_deref().unwrap_or("DEFAULT")
        )),
        TableChange::SetClusterOn(index) => statement(match index {
            Some(index) => format!("ALTER TABLE {name} CLUSTER ON {}", quote_ident(index)),
            None => format!("ALTER TABLE {name} SET WITHOUT CLUSTER"),
        }),
        TableChange::Inherit(parent) => {
            statement(format!("ALTER TABLE {name} INHERIT {}", qn(parent)))
        }
        TableChange::NoInherit(parent) => {
            statement(format!("ALTER TABLE {name} NO INHERIT {}", qn(parent)))
        }
        TableChange::AttachPartition { partition, bound } => statement(format!(
            "ALTER TABLE {name} ATTACH PARTITION {} {bound}",
            qn(partition)
        )),
        TableChange::DropDetachedClones {
            keep_constraints,
            keep_indexes,
        } => {
            let list = |names: &[String]| {
                let items: Vec<String> = names.iter().map(|n| quote_literal(n)).collect();
                format!("ARRAY[{}]::text[]", items.join(", "))
            };
            let table_literal = quote_literal(&name);
            statement(format!(
                "DO $retort$\nDECLARE r record;\nBEGIN\n    \
                 -- Constraints and indexes cloned from the former parent.\n    \
                 FOR r IN SELECT conname FROM pg_constraint WHERE conrelid = {table_literal}::regclass\n        \
                 AND contype IN ('p', 'u', 'x', 'f', 'c') AND conname <> ALL ({}) LOOP\n        \
                 EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', {table_literal}::regclass, r.conname);\n    \
                 END LOOP;\n    \
                 FOR r IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid\n        \
                 WHERE i.indrelid = {table_literal}::regclass AND c.relname <> ALL ({}) LOOP\n        \
                 EXECUTE format('DROP INDEX %I.%I', {}, r.relname);\n    \
                 END LOOP;\nEND\n$retort$",
                list(keep_constraints),
                list(keep_indexes),
                quote_literal(&table.schema)
            ))
        }
        TableChange::DetachPartition { partition } => statement(format!(
            "ALTER TABLE {name} DETACH PARTITION {}",
            qn(partition)
        )),
    }
}

/// The `USING` of a type change PostgreSQL has no cast for, under the manual-step marker
/// that `retort lint` refuses until it is removed. The expression kept is the plain cast:
/// PostgreSQL rejects it when planning the statement, before reading a row, on every
/// database, so a revision applied unedited fails at once and rolls back whole, where a
/// commented-out statement would let it succeed without changing the column.
fn manual_type_change(sql: &mut String, col: &str, from: &str, to: &str, hint: Option<&str>) {
    let hint = hint
        .map(|h| {
            let expression = h.replace("{col}", col).replace("{to}", to);
            format!(" (perhaps `{expression}`)")
        })
        .unwrap_or_default();
    let comment = format!(
        "-- {MANUAL_STEP} replace `{col}::{to}` by an expression converting {col} from \
         {from} to {to}{hint}, then delete this line"
    );
    // A quoted name may hold a line break, which would end the comment and turn the
    // rest of the name into SQL.
    let comment = comment.replace(['\n', '\r'], " ");
    let _ = write!(sql, "\n    {comment}\n    USING {col}::{to}");
}

/// The comment that marks a statement the user must finish by hand; `retort lint`
/// reports every statement still holding it (rule `manual-step`).
pub const MANUAL_STEP: &str = "retort: manual step:";

fn column_change(table_name: &QualifiedName, column: &str, change: &ColumnChange) -> Statement {
    let table = qn(table_name);
    let col = quote_ident(column);
    let prefix = format!("ALTER TABLE {table} ALTER COLUMN {col}");
    // Every statement that makes the column NOT NULL checks the rows.
    let null_check = |sql: String| {
        hazardous(
            sql,
            HazardKind::CastMayFail,
            format!("fails if {table}.{col} holds NULLs"),
        )
    };
    match change {
        ColumnChange::SetType {
            from,
            to,
            collation,
            using,
            narrowing,
            path,
        } => {
            let mut sql = format!("{prefix} TYPE {to}");
            if let Some(collation) = collation {
                let _ = write!(sql, " COLLATE {collation}");
            }
            let mut hazards = Vec::new();
            match path {
                _ if !*using => {}
                CastPath::Direct => {
                    let _ = write!(sql, " USING {col}::{to}");
                }
                CastPath::Via { through, fails_on } => {
                    let array = if to.ends_with("[]") { "[]" } else { "" };
                    let _ = write!(sql, " USING {col}::{through}{array}::{to}");
                    if let Some(values) = fails_on {
                        hazards.push(Hazard {
                            kind: HazardKind::CastMayFail,
                            message: format!("fails if {table}.{col} holds {values}"),
                        });
                    }
                }
                CastPath::Manual { hint } => {
                    manual_type_change(&mut sql, &col, from, to, *hint);
                    hazards.push(Hazard {
                        kind: HazardKind::ManualStep,
                        message: format!(
                            "manual step: PostgreSQL has no cast from {from} to {to}: write \
                             the USING expression for {table}.{col} by hand (as generated, \
                             the statement fails)"
                        ),
                    });
                }
            }
            if *narrowing {
                let why = super::cast::caveat(from, to)
                    .unwrap_or("values that do not fit fail the cast or lose precision");
                hazards.push(Hazard {
                    kind: HazardKind::DataLoss,
                    message: format!("changes {table}.{col} from {from} to {to}: {why}"),
                });
            }
            Statement { sql, hazards }
        }
        ColumnChange::SetDefault(default) => statement(format!("{prefix} SET DEFAULT {default}")),
        ColumnChange::DropDefault => statement(format!("{prefix} DROP DEFAULT")),
        ColumnChange::SetNotNull => null_check(format!("{prefix} SET NOT NULL")),
        ColumnChange::DropNotNull => statement(format!("{prefix} DROP NOT NULL")),
        ColumnChange::AddNotNull(constraint) => {
            let sql = format!(
                "ALTER TABLE {table} ADD {}",
                not_null_constraint_clause(table_name, column, constraint)
            );
            if constraint.not_valid {
                statement(sql)
            } else {
                null_check(sql)
            }
        }
        ColumnChange::AlterNotNull { from, to } => {
            let plain = NotNullConstraint {
                name: None,
                no_inherit: false,
                not_valid: false,
            };
            let (from, to) = (
                from.as_ref().unwrap_or(&plain),
                to.as_ref().unwrap_or(&plain),
            );
            let old_name = not_null_constraint_name(table_name, column, from);
            let new_name = not_null_constraint_name(table_name, column, to);
            let same_but_name = from.no_inherit == to.no_inherit && from.not_valid == to.not_valid;
            if same_but_name {
                statement(format!(
                    "ALTER TABLE {table} RENAME CONSTRAINT {} TO {}",
                    quote_ident(&old_name),
                    quote_ident(&new_name)
                ))
            } else if old_name == new_name
                && from.no_inherit == to.no_inherit
                && from.not_valid
                && !to.not_valid
            {
                null_check(format!(
                    "ALTER TABLE {table} VALIDATE CONSTRAINT {}",
                    quote_ident(&new_name)
                ))
            } else {
                // NO INHERIT cannot be altered, nor a valid constraint made NOT VALID.
                let sql = format!(
                    "ALTER TABLE {table} DROP CONSTRAINT {}, ADD {}",
                    quote_ident(&old_name),
                    not_null_constraint_clause(table_name, column, to)
                );
                if to.not_valid {
                    statement(sql)
                } else {
                    null_check(sql)
                }
            }
        }
        ColumnChange::AddIdentity(identity) => {
            // Only data_type and name matter to identity_clause.
            let probe = Column {
                name: column.to_string(),
                data_type: identity.options.data_type.clone(),
                collation: None,
                not_null: true,
                not_null_constraint: None,
                default: None,
                identity: None,
                generated: None,
                generated_virtual: false,
                comment: None,
                acl: Vec::new(),
                statistics: None,
                storage: None,
            };
            hazardous(
                format!(
                    "{prefix} ADD {}",
                    identity_clause(table_name, &probe, identity)
                ),
                HazardKind::IdentityBehindRows,
                format!(
                    "adds an identity to {table}.{col}: its sequence starts at {} whatever \
                     the column holds; restart it past existing values (RESTART WITH) or new \
                     rows may collide with them",
                    identity.options.start
                ),
            )
        }
        ColumnChange::DropIdentity => statement(format!("{prefix} DROP IDENTITY")),
        ColumnChange::SetGenerated { always } => {
            let kind = if *always { "ALWAYS" } else { "BY DEFAULT" };
            statement(format!("{prefix} SET GENERATED {kind}"))
        }
        ColumnChange::SetIdentityOptions { from, to } => {
            let clauses: Vec<String> = changed_sequence_clauses(from, to)
                .into_iter()
                .map(|c| format!("SET {c}"))
                .collect();
            statement(format!("{prefix} {}", clauses.join(" ")))
        }
        ColumnChange::SetStatistics(target) => {
            statement(format!("{prefix} SET STATISTICS {}", target.unwrap_or(-1)))
        }
        ColumnChange::SetStorage(storage) => statement(format!("{prefix} SET STORAGE {storage}")),
    }
}

fn comment_target(target: &CommentTarget) -> String {
    match target {
        CommentTarget::Object(target) => target.clone(),
        CommentTarget::Schema(name) => format!("SCHEMA {}", quote_ident(name)),
        CommentTarget::Table(name) => format!("TABLE {}", qn(name)),
        CommentTarget::Column(table, column) => {
            format!("COLUMN {}.{}", qn(table), quote_ident(column))
        }
        CommentTarget::Type(name) => format!("TYPE {}", qn(name)),
        CommentTarget::Sequence(name) => format!("SEQUENCE {}", qn(name)),
        CommentTarget::View(name) => format!("VIEW {}", qn(name)),
        CommentTarget::Index(name) => format!("INDEX {}", qn(name)),
        CommentTarget::Constraint(table, name) => {
            format!("CONSTRAINT {} ON {}", quote_ident(name), qn(table))
        }
        CommentTarget::Function(name, arguments, kind) => {
            format!("{} {}({arguments})", routine_kind(*kind), qn(name))
        }
        CommentTarget::Trigger(table, name) => {
            format!("TRIGGER {} ON {}", quote_ident(name), qn(table))
        }
        CommentTarget::Policy(table, name) => {
            format!("POLICY {} ON {}", quote_ident(name), qn(table))
        }
    }
}

fn routine_kind(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Procedure => "PROCEDURE",
        FunctionKind::Aggregate => "AGGREGATE",
        FunctionKind::Function | FunctionKind::Window => "FUNCTION",
    }
}

fn enum_labels(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| quote_literal(l))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Change {
    /// The SQL statements of this change, in order.
    pub fn statements(&self) -> Vec<Statement> {
        match self {
            Change::AddSchema { name } => {
                vec![statement(format!("CREATE SCHEMA {}", quote_ident(name)))]
            }
            Change::DropSchema { name } => {
                vec![statement(format!("DROP SCHEMA {}", quote_ident(name)))]
            }
            Change::AddExtension(e) => vec![statement(format!(
                "CREATE EXTENSION {} WITH SCHEMA {} VERSION {}",
                quote_ident(&e.name),
                quote_ident(&e.schema),
                quote_literal(&e.version)
            ))],
            Change::AlterExtension { name, version } => vec![statement(format!(
                "ALTER EXTENSION {} UPDATE TO {}",
                quote_ident(name),
                quote_literal(version)
            ))],
            Change::DropExtension { name } => vec![hazardous(
                format!("DROP EXTENSION {}", quote_ident(name)),
                HazardKind::DataLoss,
                format!(
                    "drops extension {} and the objects it created",
                    quote_ident(name)
                ),
            )],
            Change::AddEnum(e) => vec![statement(format!(
                "CREATE TYPE {} AS ENUM ({})",
                qn(&e.name),
                enum_labels(&e.labels)
            ))],
            Change::AddEnumValue {
                name,
                label,
                position,
            } => {
                let position = match position {
                    EnumPosition::Last => String::new(),
                    EnumPosition::Before(l) => format!(" BEFORE {}", quote_literal(l)),
                    EnumPosition::After(l) => format!(" AFTER {}", quote_literal(l)),
                };
                // PostgreSQL 12+ accepts ADD VALUE in a transaction block, but the new
                // label cannot be used before that transaction commits.
                vec![hazardous(
                    format!(
                        "ALTER TYPE {} ADD VALUE {}{position}",
                        qn(name),
                        quote_literal(label)
                    ),
                    HazardKind::EnumValueInTransaction,
                    format!(
                        "the new label {} of {} cannot be used in the same transaction",
                        quote_literal(label),
                        qn(name)
                    ),
                )]
            }
            Change::RecreateEnum {
                to,
                old_name,
                columns,
                removed,
            } => {
                let name = qn(&to.name);
                let mut out = vec![
                    statement(format!(
                        "ALTER TYPE {name} RENAME TO {}",
                        quote_ident(&old_name.name)
                    )),
                    statement(format!(
                        "CREATE TYPE {name} AS ENUM ({})",
                        enum_labels(&to.labels)
                    )),
                ];
                out.extend(retype_columns(&name, columns, removed));
                out
            }
            Change::RecreateOverEnum {
                kind,
                name,
                create,
                old_name,
                columns,
                removed,
                multirange,
            } => {
                let qualified = qn(name);
                let mut out = vec![statement(format!(
                    "ALTER {} {qualified} RENAME TO {}",
                    kind.sql(),
                    quote_ident(&old_name.name)
                ))];
                // A range's multirange type, and its constructor without arguments, keep
                // their names: they move aside too, or the new range could not create its
                // own. (The constructors with arguments differ in their argument types.)
                if *kind == ObjectKind::RangeType && *multirange {
                    let multirange =
                        QualifiedName::new(name.schema.clone(), multirange_name(&name.name));
                    let aside = quote_ident(&multirange_name(&old_name.name));
                    out.push(statement(format!(
                        "ALTER TYPE {} RENAME TO {aside}",
                        qn(&multirange)
                    )));
                    out.push(statement(format!(
                        "ALTER FUNCTION {}() RENAME TO {aside}",
                        qn(&multirange)
                    )));
                }
                let name = qualified;
                out.extend(create.iter().cloned().map(statement));
                out.extend(retype_columns(&name, columns, removed));
                out
            }
            Change::DropEnum { name } => vec![hazardous(
                format!("DROP TYPE {}", qn(name)),
                HazardKind::DataLoss,
                format!("drops type {}", qn(name)),
            )],
            Change::AddSequence(s) => vec![statement(format!(
                "CREATE SEQUENCE {} {}",
                qn(&s.name),
                sequence_clauses(&s.options, true, None).join(" ")
            ))],
            Change::AlterSequence { name, from, to } => vec![statement(format!(
                "ALTER SEQUENCE {} {}",
                qn(name),
                changed_sequence_clauses(from, to).join(" ")
            ))],
            Change::SetSequenceOwner { name, owned_by } => {
                let owner = match owned_by {
                    Some((table, column)) => format!("{}.{}", qn(table), quote_ident(column)),
                    None => "NONE".to_string(),
                };
                vec![statement(format!(
                    "ALTER SEQUENCE {} OWNED BY {owner}",
                    qn(name)
                ))]
            }
            Change::DropSequence { name } => vec![hazardous(
                format!("DROP SEQUENCE {}", qn(name)),
                HazardKind::DataLoss,
                format!("drops sequence {} and its current value", qn(name)),
            )],
            Change::AddTable(table) => create_table(table, None),
            Change::AddPartition {
                table,
                parent_columns,
            } => create_table(table, Some(parent_columns)),
            Change::AlterTable { name, changes } => {
                changes.iter().map(|c| table_change(name, c)).collect()
            }
            Change::DropTable { name } => vec![hazardous(
                SeaTable::drop()
                    .table(sea_table(name))
                    .to_string(PostgresQueryBuilder),
                HazardKind::DataLoss,
                format!("drops table {} and its data", qn(name)),
            )],
            Change::AddIndex(index) => vec![statement(create_index_sql(index))],
            Change::DropIndex { name } => vec![statement(format!("DROP INDEX {}", qn(name)))],
            Change::AddView(view) => {
                let name = qn(&view.name);
                let with = if view.options.is_empty() {
                    String::new()
                } else {
                    format!(" WITH ({})", view.options.join(", "))
                };
                let definition = view.definition.trim_end().trim_end_matches(';');
                let mut out = vec![statement(format!(
                    "CREATE VIEW {name}{with} AS\n{definition}"
                ))];
                for column in &view.columns {
                    if let Some(default) = &column.default {
                        out.push(statement(format!(
                            "ALTER VIEW {name} ALTER COLUMN {} SET DEFAULT {default}",
                            quote_ident(&column.name)
                        )));
                    }
                }
                out
            }
            Change::DropView { name } => vec![statement(format!("DROP VIEW {}", qn(name)))],
            Change::AddFunction(f) => vec![statement(f.definition.trim_end().to_string())],
            Change::DropFunction {
                name,
                arguments,
                kind,
            } => vec![statement(format!(
                "DROP {} {}({arguments})",
                routine_kind(*kind),
                qn(name)
            ))],
            Change::AddTrigger(t) => {
                let mut out = vec![statement(t.definition.clone())];
                let clause = match t.enabled.as_str() {
                    "disabled" => Some("DISABLE"),
                    "replica" => Some("ENABLE REPLICA"),
                    "always" => Some("ENABLE ALWAYS"),
                    _ => None,
                };
                if let Some(clause) = clause {
                    out.push(statement(format!(
                        "ALTER TABLE {} {clause} TRIGGER {}",
                        qn(&t.table),
                        quote_ident(&t.name)
                    )));
                }
                out
            }
            Change::DropTrigger { table, name } => vec![statement(format!(
                "DROP TRIGGER {} ON {}",
                quote_ident(name),
                qn(table)
            ))],
            Change::AddPolicy(p) => vec![statement(create_policy(p, " "))],
            Change::DropPolicy { table, name } => vec![statement(format!(
                "DROP POLICY {} ON {}",
                quote_ident(name),
                qn(table)
            ))],
            Change::SetComment { target, comment } => vec![statement(format!(
                "COMMENT ON {} IS {}",
                comment_target(target),
                comment
                    .as_deref()
                    .map_or_else(|| "NULL".to_string(), quote_literal)
            ))],
            Change::CreateObject { statements, .. } => {
                statements.iter().map(|s| statement(s.clone())).collect()
            }
            Change::AlterObject { statements, .. } => statements.clone(),
            Change::Rename { statements, .. } => {
                statements.iter().map(|s| statement(s.clone())).collect()
            }
            Change::DropObject { kind, name } => {
                let sql = format!("DROP {} {name}", kind.sql());
                match kind {
                    ObjectKind::Domain | ObjectKind::CompositeType | ObjectKind::RangeType => {
                        vec![hazardous(
                            sql,
                            HazardKind::DataLoss,
                            format!("drops {} {name}", kind.noun()),
                        )]
                    }
                    _ => vec![statement(sql)],
                }
            }
            Change::Unsupported { kind, name, detail } => {
                let what = if name.is_empty() {
                    kind.to_string()
                } else {
                    format!("{kind} {name}")
                };
                let message = format!("not generated: {what}: {detail}; write this change by hand");
                vec![hazardous(
                    format!("-- retort: {}", message.replace('\n', " ")),
                    HazardKind::Unsupported,
                    message.replace('\n', " "),
                )]
            }
        }
    }
}

/// Why a migration's statements must run outside one transaction, if they must:
/// `ALTER TYPE ... ADD VALUE` cannot run in a transaction block before PostgreSQL 12
/// (`server_version_num` below 120000), and since then its label cannot be used before
/// the transaction that added it commits, so a later statement naming the label fails.
pub fn needs_autocommit(statements: &[Statement], server_version: i32) -> Option<String> {
    for (i, statement) in statements.iter().enumerate() {
        if !statement
            .hazards
            .iter()
            .any(|h| h.kind == HazardKind::EnumValueInTransaction)
        {
            continue;
        }
        if server_version > 0 && server_version < 120_000 {
            return Some(
                "ALTER TYPE ... ADD VALUE cannot run inside a transaction before PostgreSQL 12"
                    .to_string(),
            );
        }
        // The label is the last literal of `ADD VALUE 'label' [BEFORE|AFTER 'x']`.
        let label = statement
            .sql
            .split("ADD VALUE ")
            .nth(1)
            .and_then(|rest| rest.split(" BEFORE ").next())
            .and_then(|rest| rest.split(" AFTER ").next())
            .map(str::trim);
        if let Some(label) = label {
            if statements[i + 1..].iter().any(|s| s.sql.contains(label)) {
                return Some(format!(
                    "a later statement uses the new enum label {label}, which only becomes \
                     usable once the ADD VALUE is committed"
                ));
            }
        }
    }
    None
}
