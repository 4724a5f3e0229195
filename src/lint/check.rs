//! The checks: each statement of a section, parsed by PostgreSQL's own parser
//! (`pg_query`, libpg_query), is matched against the rules. The section's context
//! (transactional or not, tables created earlier in it, `lock_timeout` set, constraints
//! added `NOT VALID`) travels from statement to statement. A batch statement is checked
//! in a section of its own that knows the batch's table.

use std::collections::{BTreeMap, BTreeSet};

use pg_query::protobuf::{AlterTableType, ConstrType, ObjectType, RangeVar, Token, TypeName};
use pg_query::{Node, NodeEnum};

use crate::diff::MANUAL_STEP;

/// A rule hit inside one statement, before it is placed in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule: &'static str,
    pub message: String,
}

fn hit(rule: &'static str, message: String) -> Hit {
    Hit { rule, message }
}

/// What the checks know about the section so far.
#[derive(Debug, Default)]
pub struct Section {
    /// Runs in one transaction (no `transaction:false`).
    pub transactional: bool,
    /// `server_version_num` of the target, when known (0: unknown).
    pub server_version: i32,
    /// Tables created earlier in the section (lower-case, unqualified): locks on them
    /// hurt nobody and they hold no rows.
    created: BTreeSet<String>,
    lock_timeout: bool,
    lock_timeout_reported: bool,
    /// Constraints added `NOT VALID` earlier in the section.
    not_valid: BTreeSet<String>,
    /// Enum labels added earlier in the section (quoted as literals).
    added_labels: Vec<String>,
    /// `CHECK (col IS NOT NULL) NOT VALID` constraints added earlier, by name, with the
    /// `table.col` they cover (lower-case).
    not_null_checks: BTreeMap<String, String>,
    /// `table.col` proven free of NULLs by a validated check: PostgreSQL 12+ then sets
    /// NOT NULL without scanning.
    proven_not_null: BTreeSet<String>,
    /// The `table=` of a batch section (parts as written), when this is its statement.
    batch: Option<Vec<String>>,
}

impl Section {
    pub fn new(transactional: bool, server_version: i32, lock_timeout: bool) -> Section {
        Section {
            transactional,
            server_version,
            lock_timeout,
            ..Section::default()
        }
    }

    /// The section of a batch statement, which the runner repeats once per key range of
    /// `table`, each range in a transaction of its own.
    pub fn batch(table: &[String], server_version: i32, lock_timeout: bool) -> Section {
        Section {
            batch: Some(table.to_vec()),
            ..Section::new(true, server_version, lock_timeout)
        }
    }

    fn is_new(&self, relation: Option<&RangeVar>) -> bool {
        relation.is_some_and(|r| self.created.contains(&r.relname.to_lowercase()))
    }

    /// A strong lock on an existing table: reported once per section without
    /// lock_timeout.
    fn strong_lock(&mut self, relation: Option<&RangeVar>, hits: &mut Vec<Hit>) {
        if self.lock_timeout || self.lock_timeout_reported || self.is_new(relation) {
            return;
        }
        self.lock_timeout_reported = true;
        hits.push(hit(
            "missing-lock-timeout",
            format!(
                "this statement locks {} without lock_timeout set earlier in the section",
                relation_name(relation)
            ),
        ));
    }

    /// Checks one statement (`sql` is its text, used for enum label uses and for the
    /// manual-step marker).
    pub fn check(&mut self, node: &NodeEnum, sql: &str, hits: &mut Vec<Hit>) {
        if let Some(step) = manual_step(sql) {
            hits.push(hit(
                "manual-step",
                format!("a generated statement still waits for its manual step: {step}"),
            ));
        }
        let writes = writes(node);
        match &self.batch {
            Some(table) => batch_writes(&writes, table, sql, hits),
            None => self.full_table_writes(&writes, hits),
        }
        // Naming an added label as another ADD VALUE's neighbour is not a use of it.
        let adds_a_label = matches!(node, NodeEnum::AlterEnumStmt(_));
        for label in &self.added_labels {
            if self.transactional && !adds_a_label && sql.contains(label.as_str()) {
                hits.push(hit(
                    "enum-value-in-transaction",
                    format!(
                        "uses the enum label {label} added earlier in the same transaction, \
                         before it is committed"
                    ),
                ));
            }
        }
        match node {
            NodeEnum::CreateStmt(create) => {
                if let Some(relation) = &create.relation {
                    self.created.insert(relation.relname.to_lowercase());
                }
                for element in &create.table_elts {
                    if let Some(NodeEnum::ColumnDef(column)) = &element.node {
                        column_type_rules(column.type_name.as_ref(), &column.colname, hits);
                    }
                }
            }
            NodeEnum::AlterTableStmt(alter) => self.alter_table(alter, hits),
            NodeEnum::IndexStmt(index) => {
                if index.concurrent {
                    if self.transactional {
                        hits.push(hit(
                            "concurrently-in-transaction",
                            "CREATE INDEX CONCURRENTLY cannot run inside a transaction block"
                                .into(),
                        ));
                    }
                } else if !self.is_new(index.relation.as_ref()) {
                    hits.push(hit(
                        "index-not-concurrent",
                        format!(
                            "CREATE INDEX on {} without CONCURRENTLY blocks writes for the whole build",
                            relation_name(index.relation.as_ref())
                        ),
                    ));
                    self.strong_lock(index.relation.as_ref(), hits);
                }
            }
            NodeEnum::DropStmt(drop) => self.drop(drop, hits),
            NodeEnum::RenameStmt(rename) => match rename.rename_type() {
                ObjectType::ObjectTable => hits.push(hit(
                    "rename-table",
                    format!(
                        "renames table {} to {}: running code still uses the old name",
                        relation_name(rename.relation.as_ref()),
                        rename.newname
                    ),
                )),
                ObjectType::ObjectColumn => hits.push(hit(
                    "rename-column",
                    format!(
                        "renames column {}.{} to {}: running code still uses the old name",
                        relation_name(rename.relation.as_ref()),
                        rename.subname,
                        rename.newname
                    ),
                )),
                _ => {}
            },
            NodeEnum::AlterEnumStmt(alter) if alter.old_val.is_empty() => {
                let label = format!("'{}'", alter.new_val.replace('\'', "''"));
                if self.transactional && self.server_version > 0 && self.server_version < 120_000 {
                    hits.push(hit(
                        "enum-value-in-transaction",
                        "ALTER TYPE ... ADD VALUE cannot run inside a transaction before PostgreSQL 12"
                            .into(),
                    ));
                }
                self.added_labels.push(label);
            }
            NodeEnum::VacuumStmt(vacuum) => {
                if self.transactional {
                    let what = if vacuum.is_vacuumcmd {
                        "VACUUM"
                    } else {
                        "ANALYZE"
                    };
                    // ANALYZE alone may run in a transaction; VACUUM may not.
                    if what == "VACUUM" {
                        hits.push(hit(
                            "vacuum-in-transaction",
                            "VACUUM cannot run inside a transaction block".into(),
                        ));
                    }
                }
                let full = vacuum.options.iter().any(|o| def_name(o) == Some("full"));
                if full {
                    hits.push(hit(
                        "vacuum-full",
                        "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock".into(),
                    ));
                }
            }
            NodeEnum::ClusterStmt(cluster) => hits.push(hit(
                "cluster",
                format!(
                    "CLUSTER rewrites {} under an ACCESS EXCLUSIVE lock",
                    relation_name(cluster.relation.as_ref())
                ),
            )),
            NodeEnum::ReindexStmt(reindex) => {
                let concurrently = reindex
                    .params
                    .iter()
                    .any(|o| def_name(o) == Some("concurrently"));
                if concurrently {
                    if self.transactional {
                        hits.push(hit(
                            "concurrently-in-transaction",
                            "REINDEX CONCURRENTLY cannot run inside a transaction block".into(),
                        ));
                    }
                } else {
                    hits.push(hit(
                        "reindex-not-concurrent",
                        "REINDEX without CONCURRENTLY blocks writes for the whole rebuild".into(),
                    ));
                }
            }
            NodeEnum::LockStmt(lock) => {
                hits.push(hit(
                    "lock-table",
                    "LOCK TABLE holds its lock until commit and queues every later query".into(),
                ));
                let relation = lock.relations.first().and_then(|n| match &n.node {
                    Some(NodeEnum::RangeVar(r)) => Some(r),
                    _ => None,
                });
                self.strong_lock(relation, hits);
            }
            NodeEnum::VariableSetStmt(set) if set.name.eq_ignore_ascii_case("lock_timeout") => {
                self.lock_timeout = true;
            }
            _ => {}
        }
    }

    /// unbatched-full-table-write: an UPDATE or DELETE of every row of a table that
    /// existed before the section (a table created in it holds only what it put there).
    fn full_table_writes(&self, writes: &[Write<'_>], hits: &mut Vec<Hit>) {
        for write in writes {
            if write.every_row && !self.is_new(write.relation) {
                hits.push(hit(
                    "unbatched-full-table-write",
                    format!(
                        "{} {} without WHERE locks every row of the table until {}; \
                         a `-- migrate:batch` section walks it in key ranges, one short transaction each",
                        write.verb,
                        relation_name(write.relation),
                        if self.transactional {
                            "commit"
                        } else {
                            "it ends"
                        }
                    ),
                ));
            }
        }
    }

    fn alter_table(&mut self, alter: &pg_query::protobuf::AlterTableStmt, hits: &mut Vec<Hit>) {
        let relation = alter.relation.as_ref();
        let table = relation_name(relation);
        let existing = !self.is_new(relation);
        let mut strong = false;
        for command in &alter.cmds {
            let Some(NodeEnum::AlterTableCmd(cmd)) = &command.node else {
                continue;
            };
            match cmd.subtype() {
                AlterTableType::AtAddColumn => {
                    let Some(NodeEnum::ColumnDef(column)) =
                        cmd.def.as_ref().and_then(|d| d.node.as_ref())
                    else {
                        continue;
                    };
                    column_type_rules(column.type_name.as_ref(), &column.colname, hits);
                    let constraints: Vec<&pg_query::protobuf::Constraint> = column
                        .constraints
                        .iter()
                        .filter_map(|c| match &c.node {
                            Some(NodeEnum::Constraint(c)) => Some(&**c),
                            _ => None,
                        })
                        .collect();
                    let default = constraints
                        .iter()
                        .find(|c| c.contype() == ConstrType::ConstrDefault);
                    let filled = default.is_some()
                        || constraints.iter().any(|c| {
                            matches!(
                                c.contype(),
                                ConstrType::ConstrIdentity | ConstrType::ConstrGenerated
                            )
                        });
                    let not_null = column.is_not_null
                        || constraints
                            .iter()
                            .any(|c| c.contype() == ConstrType::ConstrNotnull);
                    if existing && not_null && !filled {
                        hits.push(hit(
                            "adding-not-null-column",
                            format!(
                                "adds NOT NULL column {} to {table} without a default: fails when the table has rows",
                                column.colname
                            ),
                        ));
                    }
                    let default_expr = default.and_then(|c| c.raw_expr.as_deref());
                    if let Some(function) = default_expr.and_then(volatile_call) {
                        if existing {
                            hits.push(hit(
                                "adding-volatile-default",
                                format!(
                                    "adds column {} to {table} with the volatile default {function}(): the table is rewritten",
                                    column.colname
                                ),
                            ));
                        }
                    } else if existing
                        && default_expr.is_some_and(|e| !is_null_constant(e))
                        && self.server_version > 0
                        && self.server_version < 110_000
                    {
                        hits.push(hit(
                            "adding-volatile-default",
                            format!(
                                "adds column {} to {table} with a default: before PostgreSQL 11 any default rewrites the table",
                                column.colname
                            ),
                        ));
                    }
                    strong = true;
                }
                AlterTableType::AtSetNotNull
                    if existing
                        && !(self
                            .proven_not_null
                            .contains(&column_key(relation, &cmd.name))
                            && (self.server_version == 0 || self.server_version >= 120_000)) =>
                {
                    hits.push(hit(
                        "setting-not-null",
                        format!(
                            "SET NOT NULL on {table}.{} scans the table under an ACCESS EXCLUSIVE lock",
                            cmd.name
                        ),
                    ));
                    strong = true;
                }
                AlterTableType::AtAlterColumnType if existing => {
                    hits.push(hit(
                        "changing-column-type",
                        format!(
                            "changing the type of {table}.{} may rewrite the table and its indexes",
                            cmd.name
                        ),
                    ));
                    strong = true;
                }
                AlterTableType::AtDropColumn => {
                    hits.push(hit(
                        "drop-column",
                        format!("drops column {table}.{} and its data", cmd.name),
                    ));
                    strong = true;
                }
                AlterTableType::AtAddConstraint => {
                    let Some(NodeEnum::Constraint(constraint)) =
                        cmd.def.as_ref().and_then(|d| d.node.as_ref())
                    else {
                        continue;
                    };
                    let validating = matches!(
                        constraint.contype(),
                        ConstrType::ConstrForeign | ConstrType::ConstrCheck
                    );
                    let builds_index = matches!(
                        constraint.contype(),
                        ConstrType::ConstrPrimary
                            | ConstrType::ConstrUnique
                            | ConstrType::ConstrExclusion
                    ) && constraint.indexname.is_empty();
                    if builds_index && existing {
                        hits.push(hit(
                            "index-not-concurrent",
                            format!(
                                "adding {} to {table} builds its index while writes wait; build it with \
                                 CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
                                if constraint.conname.is_empty() {
                                    "a key".to_string()
                                } else {
                                    constraint.conname.clone()
                                }
                            ),
                        ));
                    }
                    if let Some(column) = not_null_check(constraint) {
                        let key = column_key(relation, &column);
                        if constraint.skip_validation {
                            self.not_null_checks
                                .insert(constraint.conname.to_lowercase(), key);
                        } else {
                            self.proven_not_null.insert(key);
                        }
                    }
                    if constraint.skip_validation {
                        self.not_valid.insert(constraint.conname.to_lowercase());
                    } else if validating && existing {
                        let kind = if constraint.contype() == ConstrType::ConstrForeign {
                            "foreign key"
                        } else {
                            "check"
                        };
                        hits.push(hit(
                            "constraint-missing-not-valid",
                            format!(
                                "adds {kind} {} to {table} without NOT VALID: every row is checked while writes wait",
                                if constraint.conname.is_empty() {
                                    "(unnamed)"
                                } else {
                                    &constraint.conname
                                }
                            ),
                        ));
                    }
                    strong = true;
                }
                AlterTableType::AtValidateConstraint => {
                    if let Some(key) = self.not_null_checks.remove(&cmd.name.to_lowercase()) {
                        self.proven_not_null.insert(key);
                    }
                    if self.transactional && self.not_valid.contains(&cmd.name.to_lowercase()) {
                        hits.push(hit(
                            "validate-in-same-transaction",
                            format!(
                                "validates {} in the transaction that added it NOT VALID: the add's lock is still held",
                                cmd.name
                            ),
                        ));
                    }
                }
                _ => strong = true,
            }
        }
        if strong {
            self.strong_lock(relation, hits);
        }
    }

    fn drop(&mut self, drop: &pg_query::protobuf::DropStmt, hits: &mut Vec<Hit>) {
        let names = || {
            drop.objects
                .iter()
                .map(object_name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match drop.remove_type() {
            ObjectType::ObjectTable => {
                hits.push(hit(
                    "drop-table",
                    format!("drops table {} and its data", names()),
                ));
            }
            ObjectType::ObjectType | ObjectType::ObjectDomain => {
                hits.push(hit("drop-type", format!("drops type {}", names())));
            }
            ObjectType::ObjectSchema => {
                hits.push(hit("drop-schema", format!("drops schema {}", names())));
            }
            ObjectType::ObjectIndex => {
                if drop.concurrent {
                    if self.transactional {
                        hits.push(hit(
                            "concurrently-in-transaction",
                            "DROP INDEX CONCURRENTLY cannot run inside a transaction block".into(),
                        ));
                    }
                } else {
                    hits.push(hit(
                        "index-not-concurrent",
                        format!(
                            "DROP INDEX {} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table",
                            names()
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// The text of the first `retort: manual step:` comment inside `sql`. Autogenerate
/// writes that marker inside the statement it could not finish (between `TYPE` and
/// `USING`), so that it travels with the statement and its line is the one to edit.
/// Only comments count: the scanner tells them from a string that quotes the marker.
fn manual_step(sql: &str) -> Option<String> {
    if !sql.contains(MANUAL_STEP) {
        return None;
    }
    let scanned = pg_query::scan(sql).ok()?;
    scanned.tokens.iter().find_map(|token| {
        let comment = matches!(
            Token::try_from(token.token),
            Ok(Token::SqlComment | Token::CComment)
        );
        let start = usize::try_from(token.start).ok()?;
        let end = usize::try_from(token.end).ok()?;
        let text = sql.get(start..end).filter(|_| comment)?;
        let after = &text[text.find(MANUAL_STEP)? + MANUAL_STEP.len()..];
        let after = after.trim().trim_end_matches("*/").trim();
        Some(if after.is_empty() {
            "write it, then delete the marker comment".to_string()
        } else {
            after.to_string()
        })
    })
}

/// `schema.name` of a relation, as written.
fn relation_name(relation: Option<&RangeVar>) -> String {
    match relation {
        Some(r) if !r.schemaname.is_empty() => format!("{}.{}", r.schemaname, r.relname),
        Some(r) => r.relname.clone(),
        None => "the table".into(),
    }
}

/// A table a statement changes rows of.
struct Write<'a> {
    /// `UPDATE`, `DELETE FROM`, `INSERT INTO` or `MERGE INTO`.
    verb: &'static str,
    relation: Option<&'a RangeVar>,
    /// An UPDATE or DELETE without WHERE: every row of the table.
    every_row: bool,
}

/// The tables a statement changes rows of: its own target, and those of the
/// data-modifying statements in its WITH (PostgreSQL allows them only there, and runs
/// them whether or not the rest of the statement reads their result).
fn writes(node: &NodeEnum) -> Vec<Write<'_>> {
    let mut out = Vec::new();
    collect_writes(node, &mut out);
    out
}

fn collect_writes<'a>(node: &'a NodeEnum, out: &mut Vec<Write<'a>>) {
    let write = |verb, relation: &'a Option<RangeVar>, every_row| Write {
        verb,
        relation: relation.as_ref(),
        every_row,
    };
    let (with, own) = match node {
        NodeEnum::UpdateStmt(s) => (
            &s.with_clause,
            Some(write("UPDATE", &s.relation, s.where_clause.is_none())),
        ),
        NodeEnum::DeleteStmt(s) => (
            &s.with_clause,
            Some(write("DELETE FROM", &s.relation, s.where_clause.is_none())),
        ),
        NodeEnum::InsertStmt(s) => (
            &s.with_clause,
            Some(write("INSERT INTO", &s.relation, false)),
        ),
        NodeEnum::MergeStmt(s) => (
            &s.with_clause,
            Some(write("MERGE INTO", &s.relation, false)),
        ),
        NodeEnum::SelectStmt(s) => (&s.with_clause, None),
        _ => return,
    };
    for cte in with.iter().flat_map(|w| &w.ctes) {
        if let Some(NodeEnum::CommonTableExpr(cte)) = &cte.node {
            if let Some(query) = cte.ctequery.as_deref().and_then(|q| q.node.as_ref()) {
                collect_writes(query, out);
            }
        }
    }
    out.extend(own);
}

/// batch-other-table: a batch statement runs once per key range of its table, so it
/// must change rows of that table, and of no other (each range would write the other
/// again, outside the ranges the runner tracks).
fn batch_writes(writes: &[Write<'_>], table: &[String], sql: &str, hits: &mut Vec<Hit>) {
    let name = table.join(".");
    if writes.is_empty() {
        let kind = crate::sql::words::tokens(sql, true)
            .next()
            .unwrap_or_default()
            .to_uppercase();
        hits.push(hit(
            "batch-other-table",
            format!(
                "this {kind} statement changes no rows, yet the batch section runs it once per key range of {name}; \
                 a batch statement is an UPDATE, DELETE, INSERT or MERGE of {name}"
            ),
        ));
        return;
    }
    let mut others: Vec<String> = writes
        .iter()
        .filter(|w| !w.relation.is_some_and(|r| is_batch_table(r, table)))
        .map(|w| format!("{} {}", w.verb, relation_name(w.relation)))
        .collect();
    if others.is_empty() {
        return;
    }
    let writes_table = others.len() < writes.len();
    others.sort();
    others.dedup();
    let message = if writes_table {
        format!(
            "besides {name}, the batch statement runs {} once per key range",
            others.join(", ")
        )
    } else {
        format!(
            "the batch statement runs {}, but its key ranges are those of the batch table {name}",
            others.join(", ")
        )
    };
    hits.push(hit("batch-other-table", message));
}

/// Whether a statement's target is the batch's `table=`. The names must be equal, and
/// the schemas too when both are written: lint does not know the search_path, so a bare
/// name on either side matches any schema. `table=` parts count as written (the runner
/// quotes them), the statement's as PostgreSQL folds them.
fn is_batch_table(relation: &RangeVar, table: &[String]) -> bool {
    let (schema, name) = match table {
        [name] => (None, name),
        [schema, name] => (Some(schema), name),
        _ => return false,
    };
    relation.relname == *name
        && (relation.schemaname.is_empty() || schema.is_none_or(|s| *s == relation.schemaname))
}

/// A dropped object's name: a list of String nodes, or a type name.
fn object_name(node: &Node) -> String {
    match &node.node {
        Some(NodeEnum::List(list)) => list
            .items
            .iter()
            .filter_map(string_value)
            .collect::<Vec<_>>()
            .join("."),
        Some(NodeEnum::TypeName(t)) => type_words(t).join("."),
        Some(NodeEnum::String(s)) => s.sval.clone(),
        _ => "?".into(),
    }
}

fn string_value(node: &Node) -> Option<String> {
    match &node.node {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

fn type_words(t: &TypeName) -> Vec<String> {
    t.names.iter().filter_map(string_value).collect()
}

fn def_name(node: &Node) -> Option<&str> {
    match &node.node {
        Some(NodeEnum::DefElem(d)) => Some(d.defname.as_str()),
        _ => None,
    }
}

/// `NULL` (a default that stores nothing, so rewrites nothing).
fn is_null_constant(node: &Node) -> bool {
    matches!(&node.node, Some(NodeEnum::AConst(c)) if c.isnull)
}

/// The volatile function a default expression calls, if any.
fn volatile_call(node: &Node) -> Option<String> {
    const VOLATILE: &[&str] = &[
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "txid_current",
    ];
    match &node.node {
        Some(NodeEnum::FuncCall(call)) => {
            let name = call.funcname.iter().filter_map(string_value).next_back()?;
            if VOLATILE.contains(&name.as_str()) {
                return Some(name);
            }
            call.args.iter().find_map(volatile_call)
        }
        Some(NodeEnum::TypeCast(cast)) => cast.arg.as_deref().and_then(volatile_call),
        _ => None,
    }
}

/// prefer-identity, prefer-timestamptz, prefer-text on a column's declared type.
fn column_type_rules(type_name: Option<&TypeName>, column: &str, hits: &mut Vec<Hit>) {
    let Some(type_name) = type_name else {
        return;
    };
    let words = type_words(type_name);
    let last = words.last().map(String::as_str).unwrap_or_default();
    match last {
        "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2" => {
            hits.push(hit(
                "prefer-identity",
                format!("column {column} is {last}; use an identity column"),
            ));
        }
        "timestamp" => hits.push(hit(
            "prefer-timestamptz",
            format!("column {column} is timestamp without time zone"),
        )),
        "varchar" if !type_name.typmods.is_empty() => {
            hits.push(hit("prefer-text", format!("column {column} is varchar(n)")))
        }
        _ => {}
    }
}

/// `table.col`, lower-case, to match a check's column with a later SET NOT NULL.
fn column_key(relation: Option<&RangeVar>, column: &str) -> String {
    format!(
        "{}.{}",
        relation.map_or(String::new(), |r| r.relname.to_lowercase()),
        column.to_lowercase()
    )
}

/// The column of a `CHECK (col IS NOT NULL)` constraint.
fn not_null_check(constraint: &pg_query::protobuf::Constraint) -> Option<String> {
    if constraint.contype() != ConstrType::ConstrCheck {
        return None;
    }
    let Some(NodeEnum::NullTest(test)) = constraint.raw_expr.as_deref()?.node.as_ref() else {
        return None;
    };
    if test.nulltesttype() != pg_query::protobuf::NullTestType::IsNotNull {
        return None;
    }
    let Some(NodeEnum::ColumnRef(column)) = test.arg.as_deref()?.node.as_ref() else {
        return None;
    };
    match column.fields.as_slice() {
        [field] => match &field.node {
            Some(NodeEnum::String(name)) => Some(name.sval.clone()),
            _ => None,
        },
        _ => None,
    }
}
