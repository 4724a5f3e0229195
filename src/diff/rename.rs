//! Renames the user declares (`--rename table:OLD=NEW`): no tool can tell a rename from
//! a drop plus an add, and guessing wrong drops a table full of data. A declared rename
//! becomes `ALTER ... RENAME` first, then the starting schema is rewritten as if renamed,
//! so that the rest of the diff sees the objects under their new names.
//!
//! [`rename_hints`] goes the other way: it points at drop-and-add pairs in a plain diff
//! that may be meant as renames.

use std::fmt;
use std::str::FromStr;

use super::*;
use crate::catalog::{default_not_null_name, qn};
use crate::sql::quote_ident;
use crate::sql::words::replace_identifier;

/// What a [`Rename`] renames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameKind {
    /// `table:`: `ALTER TABLE ... RENAME TO`, and `SET SCHEMA` when the schema changes
    /// (the only kind that can move); names PostgreSQL derived from the old table name
    /// (`users_pkey`, `users_id_seq`, ...) follow when the target has the new form.
    Table,
    /// `column:TABLE.OLD=NEW`: `ALTER TABLE ... RENAME COLUMN`.
    Column,
    /// `index:`: `ALTER INDEX ... RENAME TO`.
    Index,
    /// `constraint:TABLE.OLD=NEW`: `ALTER TABLE ... RENAME CONSTRAINT`.
    Constraint,
    /// `type:` (also spelled `enum:` or `domain:`): an enum, domain, composite or range
    /// type, `ALTER TYPE` or `ALTER DOMAIN ... RENAME TO`.
    Type,
    /// `sequence:`: `ALTER SEQUENCE ... RENAME TO`.
    Sequence,
}

impl RenameKind {
    fn word(self) -> &'static str {
        match self {
            RenameKind::Table => "table",
            RenameKind::Column => "column",
            RenameKind::Index => "index",
            RenameKind::Constraint => "constraint",
            RenameKind::Type => "type",
            RenameKind::Sequence => "sequence",
        }
    }
}

/// One declared rename. For tables, indexes and types `old` and `new` are qualified
/// names (schema `public` when not given); for columns and constraints `table` names
/// the table and `old`/`new` hold the bare names in their `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// What kind of object is renamed.
    pub kind: RenameKind,
    /// The table of a column or constraint, by its name when this rename runs (after any
    /// earlier table rename); `None` for the other kinds.
    pub table: Option<QualifiedName>,
    /// The name before the rename, as the starting (`from`) schema has it.
    pub old: QualifiedName,
    /// The name after the rename, as the target (`to`) schema has it.
    pub new: QualifiedName,
}

/// Why a `--rename` declaration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenameError {
    /// The declaration does not parse as `KIND:OLD=NEW`.
    #[error(
        "--rename {spec}: {reason}; write KIND:OLD=NEW, e.g. table:users=people, \
         column:users.email=email_address, index:users_email_idx=people_email_idx, \
         constraint:users.users_email_key=people_email_key, type:status=state"
    )]
    Syntax {
        /// The declaration as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The old name is not in the starting schema, or the new one not in the target.
    #[error("--rename {spec}: {detail}")]
    NotFound {
        /// The declaration, as [`Rename`]'s `Display` writes it.
        spec: String,
        /// Which name is missing on which side.
        detail: String,
    },
}

impl fmt::Display for Rename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.table {
            Some(table) => write!(
                f,
                "{}:{}.{}={}",
                self.kind.word(),
                qn(table),
                quote_ident(&self.old.name),
                quote_ident(&self.new.name)
            ),
            None => write!(
                f,
                "{}:{}={}",
                self.kind.word(),
                qn(&self.old),
                qn(&self.new)
            ),
        }
    }
}

fn qualified(parts: &[String]) -> QualifiedName {
    match parts {
        [name] => QualifiedName::new("public".to_string(), name.clone()),
        [schema, name] => QualifiedName::new(schema.clone(), name.clone()),
        _ => unreachable!("checked by the caller"),
    }
}

impl FromStr for Rename {
    type Err = RenameError;

    fn from_str(spec: &str) -> Result<Rename, RenameError> {
        let syntax = |reason: &str| RenameError::Syntax {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (kind, rest) = spec
            .split_once(':')
            .ok_or_else(|| syntax("missing KIND:"))?;
        let kind = match kind.trim().to_ascii_lowercase().as_str() {
            "table" => RenameKind::Table,
            "column" => RenameKind::Column,
            "index" => RenameKind::Index,
            "constraint" => RenameKind::Constraint,
            "type" | "enum" | "domain" => RenameKind::Type,
            "sequence" => RenameKind::Sequence,
            _ => {
                return Err(syntax(
                    "KIND is one of table, column, index, constraint, type, sequence",
                ))
            }
        };
        let (old, new) = rest.split_once('=').ok_or_else(|| syntax("missing =NEW"))?;
        let old = crate::sql::split_dotted(old).map_err(|e| syntax(&e))?;
        let new = crate::sql::split_dotted(new).map_err(|e| syntax(&e))?;
        match kind {
            RenameKind::Column | RenameKind::Constraint => {
                if old.len() < 2 || old.len() > 3 {
                    return Err(syntax("OLD is TABLE.NAME or SCHEMA.TABLE.NAME"));
                }
                if new.len() != 1 {
                    return Err(syntax("NEW is the new name alone"));
                }
                let (table, name) = old.split_at(old.len() - 1);
                let table = qualified(table);
                Ok(Rename {
                    kind,
                    old: QualifiedName::new(table.schema.clone(), name[0].clone()),
                    new: QualifiedName::new(table.schema.clone(), new[0].clone()),
                    table: Some(table),
                })
            }
            _ => {
                if old.len() > 2 || new.len() > 2 {
                    return Err(syntax("names are NAME or SCHEMA.NAME"));
                }
                let old = qualified(&old);
                // A bare new name stays in the old name's schema.
                let new = if new.len() == 1 {
                    QualifiedName::new(old.schema.clone(), new[0].clone())
                } else {
                    qualified(&new)
                };
                if kind != RenameKind::Table && new.schema != old.schema {
                    return Err(syntax("only tables can move to another schema"));
                }
                Ok(Rename {
                    kind,
                    table: None,
                    old,
                    new,
                })
            }
        }
    }
}

impl Rename {
    /// The same rename backwards, for the downgrade.
    pub fn inverse(&self) -> Rename {
        Rename {
            kind: self.kind,
            table: self.table.clone(),
            old: self.new.clone(),
            new: self.old.clone(),
        }
    }
}

/// `diff(from, to)` with declared renames: the renames first, then the rest.
pub fn diff_with_renames(
    from: &Schema,
    to: &Schema,
    renames: &[Rename],
) -> Result<Vec<Change>, RenameError> {
    let mut renamed = from.clone();
    let mut changes = Vec::new();
    for declared in renames {
        check(&renamed, to, declared)?;
        let mut pending = vec![declared.clone()];
        while let Some(rename) = pending.pop() {
            changes.push(Change::Rename {
                what: rename.to_string(),
                statements: statements(&renamed, &rename),
            });
            let before = renamed.clone();
            apply(&mut renamed, &rename);
            if rename.kind == RenameKind::Table {
                // Run in declaration order after the table's own rename.
                let mut follow = follow_table(&before, to, &rename);
                follow.reverse();
                pending.extend(follow);
            }
        }
    }
    changes.extend(diff(&renamed, to));
    Ok(changes)
}

/// Names PostgreSQL derived from the old table name (`users_pkey`, `users_email_key`,
/// `users_id_seq`, ...) stay when a table is renamed, while a model written for the new
/// name has the new defaults (`accounts_pkey`): rename those along when the target has
/// exactly the name the old one would have under the new table name.
fn follow_table(from: &Schema, to: &Schema, rename: &Rename) -> Vec<Rename> {
    let (old, new) = (&rename.old, &rename.new);
    let mut out = Vec::new();
    let (Some(old_table), Some(new_table)) = (
        from.tables.iter().find(|t| &t.name == old),
        to.tables.iter().find(|t| &t.name == new),
    ) else {
        return out;
    };
    let prefix = format!("{}_", old.name);
    let renamed = |name: &str| {
        name.strip_prefix(&prefix)
            .map(|rest| format!("{}_{rest}", new.name))
    };
    for c in &old_table.constraints {
        if let Some(candidate) = renamed(&c.name) {
            let in_target = |n: &str| new_table.constraints.iter().any(|x| x.name == n);
            if in_target(&candidate) && !in_target(&c.name) {
                out.push(Rename {
                    kind: RenameKind::Constraint,
                    table: Some(new.clone()),
                    old: QualifiedName::new(new.schema.clone(), c.name.clone()),
                    new: QualifiedName::new(new.schema.clone(), candidate),
                });
            }
        }
    }
    for index in from.indexes.iter().filter(|i| &i.table == old) {
        if let Some(candidate) = renamed(&index.name.name) {
            let in_target = |n: &str| {
                to.indexes
                    .iter()
                    .any(|i| &i.table == new && i.name.name == n)
            };
            if in_target(&candidate) && !in_target(&index.name.name) {
                out.push(Rename {
                    kind: RenameKind::Index,
                    table: None,
                    old: QualifiedName::new(new.schema.clone(), index.name.name.clone()),
                    new: QualifiedName::new(new.schema.clone(), candidate),
                });
            }
        }
    }
    // Identity and serial sequences.
    let mut sequences: Vec<&QualifiedName> = old_table
        .columns
        .iter()
        .filter_map(|c| c.identity.as_ref().map(|i| &i.sequence))
        .collect();
    sequences.extend(
        from.sequences
            .iter()
            .filter(|s| s.owned_by.as_ref().is_some_and(|(t, _)| t == old))
            .map(|s| &s.name),
    );
    let target_sequences: Vec<&QualifiedName> = new_table
        .columns
        .iter()
        .filter_map(|c| c.identity.as_ref().map(|i| &i.sequence))
        .chain(to.sequences.iter().map(|s| &s.name))
        .collect();
    for sequence in sequences {
        if let Some(candidate) = renamed(&sequence.name) {
            let moved = QualifiedName::new(new.schema.clone(), sequence.name.clone());
            let wanted = QualifiedName::new(new.schema.clone(), candidate);
            if target_sequences.contains(&&wanted) && !target_sequences.contains(&&moved) {
                out.push(Rename {
                    kind: RenameKind::Sequence,
                    table: None,
                    old: moved,
                    new: wanted,
                });
            }
        }
    }
    out
}

/// The columns of `table` whose NOT NULL constraint bears the name PostgreSQL 18 gave it
/// (`<table>_<column>_not_null`), which a rename of the table or column leaves behind:
/// none unless the schema was read on 18 or later, and none of a child table (whose
/// inherited constraints bear the parent's names).
fn default_named_not_nulls<'s>(from: &'s Schema, table: &QualifiedName) -> Vec<&'s Column> {
    let Some(t) = from.tables.iter().find(|t| &t.name == table) else {
        return Vec::new();
    };
    if !from.server_major.at_least(18) || t.partition_of.is_some() || !t.inherits.is_empty() {
        return Vec::new();
    }
    t.columns
        .iter()
        .filter(|c| {
            c.not_null
                && c.not_null_constraint
                    .as_ref()
                    .is_none_or(|constraint| constraint.name.is_none())
        })
        .collect()
}

/// `ALTER TABLE ... RENAME CONSTRAINT` of a column's default-named NOT NULL constraint,
/// from the name it had to the one PostgreSQL would give it now.
fn rename_not_null(
    table: &QualifiedName,
    old_table: &str,
    new_table: &str,
    old_column: &str,
    new_column: &str,
) -> String {
    format!(
        "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
        qn(table),
        quote_ident(&default_not_null_name(old_table, old_column)),
        quote_ident(&default_not_null_name(new_table, new_column))
    )
}

/// The `ALTER ... RENAME` (and `SET SCHEMA`) statements of a rename.
fn statements(from: &Schema, rename: &Rename) -> Vec<String> {
    let (old, new) = (&rename.old, &rename.new);
    let to_name = quote_ident(&new.name);
    match rename.kind {
        RenameKind::Table => {
            let mut out = Vec::new();
            let mut current = old.clone();
            if old.schema != new.schema {
                out.push(format!(
                    "ALTER TABLE {} SET SCHEMA {}",
                    qn(old),
                    quote_ident(&new.schema)
                ));
                current.schema = new.schema.clone();
            }
            if old.name != new.name {
                out.push(format!("ALTER TABLE {} RENAME TO {to_name}", qn(&current)));
                current.name = new.name.clone();
                for column in default_named_not_nulls(from, old) {
                    out.push(rename_not_null(
                        &current,
                        &old.name,
                        &new.name,
                        &column.name,
                        &column.name,
                    ));
                }
            }
            out
        }
        RenameKind::Column | RenameKind::Constraint => {
            let table = rename
                .table
                .as_ref()
                .expect("check() refuses a column or constraint rename without a table");
            let what = if rename.kind == RenameKind::Column {
                "COLUMN"
            } else {
                "CONSTRAINT"
            };
            let mut out = vec![format!(
                "ALTER TABLE {} RENAME {what} {} TO {to_name}",
                qn(table),
                quote_ident(&old.name)
            )];
            if rename.kind == RenameKind::Column {
                let named = default_named_not_nulls(from, table);
                if named.iter().any(|c| c.name == old.name) {
                    out.push(rename_not_null(
                        table,
                        &table.name,
                        &table.name,
                        &old.name,
                        &new.name,
                    ));
                }
            }
            out
        }
        RenameKind::Index => vec![format!("ALTER INDEX {} RENAME TO {to_name}", qn(old))],
        RenameKind::Sequence => vec![format!("ALTER SEQUENCE {} RENAME TO {to_name}", qn(old))],
        RenameKind::Type => {
            let keyword = if from.domains.iter().any(|d| &d.name == old) {
                "DOMAIN"
            } else {
                "TYPE"
            };
            vec![format!("ALTER {keyword} {} RENAME TO {to_name}", qn(old))]
        }
    }
}

/// The old name must exist on the starting side and the new one on the target side.
fn check(from: &Schema, to: &Schema, rename: &Rename) -> Result<(), RenameError> {
    let missing = |side: &str, what: String| RenameError::NotFound {
        spec: rename.to_string(),
        detail: format!("there is no {what} in the {side} schema"),
    };
    let (old, new) = (&rename.old, &rename.new);
    // `Rename`'s fields are public: a library caller can build one without its table.
    // Refused here, before `statements` and `apply` rely on it.
    if matches!(rename.kind, RenameKind::Column | RenameKind::Constraint) && rename.table.is_none()
    {
        return Err(RenameError::Syntax {
            spec: rename.to_string(),
            reason: format!("a {} rename needs its table", rename.kind.word()),
        });
    }
    match rename.kind {
        RenameKind::Table => {
            if !from.tables.iter().any(|t| &t.name == old) {
                return Err(missing("current", format!("table {}", qn(old))));
            }
            if !to.tables.iter().any(|t| &t.name == new) {
                return Err(missing("target", format!("table {}", qn(new))));
            }
        }
        RenameKind::Column => {
            let table = rename.table.as_ref().expect("refused above when missing");
            let has = |s: &Schema, table: &QualifiedName, column: &str| {
                s.tables
                    .iter()
                    .any(|t| &t.name == table && t.columns.iter().any(|c| c.name == column))
            };
            if !has(from, table, &old.name) {
                return Err(missing(
                    "current",
                    format!("column {}.{}", qn(table), quote_ident(&old.name)),
                ));
            }
            // The table itself may be renamed by an earlier --rename: look it up in the
            // target under either name.
            if !has(to, table, &new.name) {
                return Err(missing(
                    "target",
                    format!("column {}.{}", qn(table), quote_ident(&new.name)),
                ));
            }
        }
        RenameKind::Index => {
            if !from.indexes.iter().any(|i| &i.name == old) {
                return Err(missing("current", format!("index {}", qn(old))));
            }
            if !to.indexes.iter().any(|i| &i.name == new) {
                return Err(missing("target", format!("index {}", qn(new))));
            }
        }
        RenameKind::Constraint => {
            let table = rename.table.as_ref().expect("refused above when missing");
            let has = |s: &Schema, name: &str| {
                s.tables
                    .iter()
                    .any(|t| &t.name == table && t.constraints.iter().any(|c| c.name == name))
            };
            if !has(from, &old.name) {
                return Err(missing(
                    "current",
                    format!("constraint {} on {}", quote_ident(&old.name), qn(table)),
                ));
            }
            if !has(to, &new.name) {
                return Err(missing(
                    "target",
                    format!("constraint {} on {}", quote_ident(&new.name), qn(table)),
                ));
            }
        }
        RenameKind::Sequence => {
            let has = |s: &Schema, name: &QualifiedName| {
                s.sequences.iter().any(|q| &q.name == name)
                    || s.tables.iter().any(|t| {
                        t.columns
                            .iter()
                            .any(|c| c.identity.as_ref().is_some_and(|i| &i.sequence == name))
                    })
            };
            if !has(from, old) {
                return Err(missing("current", format!("sequence {}", qn(old))));
            }
            if !has(to, new) {
                return Err(missing("target", format!("sequence {}", qn(new))));
            }
        }
        RenameKind::Type => {
            let has = |s: &Schema, name: &QualifiedName| {
                s.enums.iter().any(|t| &t.name == name)
                    || s.domains.iter().any(|t| &t.name == name)
                    || s.composites.iter().any(|t| &t.name == name)
                    || s.ranges.iter().any(|t| &t.name == name)
            };
            if !has(from, old) {
                return Err(missing("current", format!("type {}", qn(old))));
            }
            if !has(to, new) {
                return Err(missing("target", format!("type {}", qn(new))));
            }
        }
    }
    Ok(())
}

/// Replaces the qualified name `old` by `new` (`schema.name` as `qn` writes it).
fn replace_qualified(text: &str, old: &QualifiedName, new: &QualifiedName) -> String {
    text.replace(&qn(old), &qn(new))
}

/// Rewrites `schema` as PostgreSQL would see it after the rename.
fn apply(schema: &mut Schema, rename: &Rename) {
    let (old, new) = (&rename.old, &rename.new);
    match rename.kind {
        RenameKind::Table => {
            let retable = |t: &mut QualifiedName| {
                if t == old {
                    *t = new.clone();
                }
            };
            for table in &mut schema.tables {
                retable(&mut table.name);
                for c in &mut table.constraints {
                    c.definition = replace_qualified(&c.definition, old, new);
                }
                for p in &mut table.inherits {
                    retable(p);
                }
            }
            for index in &mut schema.indexes {
                if index.table == *old {
                    index.table = new.clone();
                    index.definition = replace_qualified(&index.definition, old, new);
                }
            }
            for t in &mut schema.triggers {
                if t.table == *old {
                    t.table = new.clone();
                    t.definition = replace_qualified(&t.definition, old, new);
                }
            }
            for p in &mut schema.policies {
                retable(&mut p.table);
            }
            for r in &mut schema.rules {
                if r.table == *old {
                    r.table = new.clone();
                    r.definition = replace_qualified(&r.definition, old, new);
                }
            }
            for s in &mut schema.statistics {
                if s.table == *old {
                    s.table = new.clone();
                    s.definition = replace_qualified(&s.definition, old, new);
                }
            }
            // SET SCHEMA takes the table's indexes and owned sequences along.
            if old.schema != new.schema {
                for index in schema.indexes.iter_mut().filter(|i| i.table == *new) {
                    index.name.schema = new.schema.clone();
                    let from_name = qn(&QualifiedName::new(
                        old.schema.clone(),
                        index.name.name.clone(),
                    ));
                    index.definition = index.definition.replace(&from_name, &qn(&index.name));
                }
                for table in schema.tables.iter_mut().filter(|t| t.name == *new) {
                    for column in &mut table.columns {
                        if let Some(identity) = &mut column.identity {
                            identity.sequence.schema = new.schema.clone();
                        }
                    }
                }
            }
            for s in &mut schema.sequences {
                if let Some((table, _)) = &mut s.owned_by {
                    if table == old && old.schema != new.schema {
                        let moved = QualifiedName::new(new.schema.clone(), s.name.name.clone());
                        let (a, b) = (qn(&s.name), qn(&moved));
                        for t in &mut schema.tables {
                            for c in &mut t.columns {
                                if let Some(d) = &mut c.default {
                                    *d = d.replace(&a, &b);
                                }
                            }
                        }
                        s.name = moved;
                    }
                    retable(table);
                }
            }
        }
        RenameKind::Sequence => {
            for s in schema.sequences.iter_mut().filter(|s| s.name == *old) {
                s.name = new.clone();
            }
            let (a, b) = (qn(old), qn(new));
            for t in &mut schema.tables {
                for c in &mut t.columns {
                    if let Some(identity) = &mut c.identity {
                        if identity.sequence == *old {
                            identity.sequence = new.clone();
                        }
                    }
                    if let Some(d) = &mut c.default {
                        *d = d.replace(&a, &b);
                    }
                }
            }
        }
        RenameKind::Column => {
            let table_name = rename
                .table
                .as_ref()
                .expect("check() refuses a column rename without a table");
            let (o, n) = (&old.name, &new.name);
            for table in &mut schema.tables {
                if &table.name == table_name {
                    for c in &mut table.columns {
                        if &c.name == o {
                            c.name = n.clone();
                        }
                        if let Some(generated) = &mut c.generated {
                            *generated = replace_identifier(generated, o, n);
                        }
                    }
                    for c in &mut table.constraints {
                        // Only the part before REFERENCES names this table's columns.
                        c.definition = match c.definition.split_once(" REFERENCES ") {
                            Some((own, target)) => {
                                format!("{} REFERENCES {target}", replace_identifier(own, o, n))
                            }
                            None => replace_identifier(&c.definition, o, n),
                        };
                    }
                } else {
                    // Foreign keys of other tables referencing the column.
                    let target = format!("REFERENCES {}(", qn(table_name));
                    for c in &mut table.constraints {
                        if let Some(at) = c.definition.find(&target) {
                            let start = at + target.len();
                            let end = c.definition[start..]
                                .find(')')
                                .map_or(c.definition.len(), |e| start + e);
                            let columns = replace_identifier(&c.definition[start..end], o, n);
                            c.definition.replace_range(start..end, &columns);
                        }
                    }
                }
            }
            for index in schema.indexes.iter_mut().filter(|i| &i.table == table_name) {
                // Columns come after USING; the index and table names before it.
                if let Some(at) = index.definition.find(" USING ") {
                    let columns = replace_identifier(&index.definition[at..], o, n);
                    index.definition.replace_range(at.., &columns);
                }
                if let Some(predicate) = &mut index.predicate {
                    *predicate = replace_identifier(predicate, o, n);
                }
            }
            for s in &mut schema.sequences {
                if let Some((table, column)) = &mut s.owned_by {
                    if table == table_name && column == o {
                        *column = n.clone();
                    }
                }
            }
            for p in schema
                .policies
                .iter_mut()
                .filter(|p| &p.table == table_name)
            {
                for expr in [&mut p.using, &mut p.with_check].into_iter().flatten() {
                    *expr = replace_identifier(expr, o, n);
                }
            }
            // `UPDATE OF col` and `WHEN (...)`: anywhere in the definition.
            for t in schema
                .triggers
                .iter_mut()
                .filter(|t| &t.table == table_name)
            {
                t.definition = replace_identifier(&t.definition, o, n);
            }
            for s in schema
                .statistics
                .iter_mut()
                .filter(|s| &s.table == table_name)
            {
                if let Some(at) = s.definition.find(" ON ") {
                    let columns = replace_identifier(&s.definition[at..], o, n);
                    s.definition.replace_range(at.., &columns);
                }
            }
        }
        RenameKind::Index => {
            for index in &mut schema.indexes {
                if index.name == *old {
                    index.name = new.clone();
                    let name = format!(" {} ON ", quote_ident(&old.name));
                    index.definition = index.definition.replacen(
                        &name,
                        &format!(" {} ON ", quote_ident(&new.name)),
                        1,
                    );
                }
            }
            for table in &mut schema.tables {
                if table.name.schema == old.schema && table.cluster_on.as_ref() == Some(&old.name) {
                    table.cluster_on = Some(new.name.clone());
                }
            }
        }
        RenameKind::Constraint => {
            let table_name = rename
                .table
                .as_ref()
                .expect("check() refuses a constraint rename without a table");
            for table in schema.tables.iter_mut().filter(|t| &t.name == table_name) {
                for c in &mut table.constraints {
                    if c.name == old.name {
                        c.name = new.name.clone();
                    }
                }
                if table.cluster_on.as_ref() == Some(&old.name) {
                    table.cluster_on = Some(new.name.clone());
                }
            }
        }
        RenameKind::Type => {
            let (o, n) = (qn(old), qn(new));
            let retype = |t: &mut String| {
                if *t == o {
                    *t = n.clone();
                } else if t.strip_suffix("[]") == Some(o.as_str()) {
                    *t = format!("{n}[]");
                }
            };
            let redefault = |d: &mut Option<String>| {
                if let Some(d) = d {
                    *d = d.replace(&o, &n);
                }
            };
            for t in &mut schema.enums {
                if t.name == *old {
                    t.name = new.clone();
                }
            }
            for t in &mut schema.domains {
                if t.name == *old {
                    t.name = new.clone();
                }
                retype(&mut t.base_type);
                redefault(&mut t.default);
            }
            for t in &mut schema.composites {
                if t.name == *old {
                    t.name = new.clone();
                }
                for a in &mut t.attributes {
                    retype(&mut a.data_type);
                }
            }
            for t in &mut schema.ranges {
                if t.name == *old {
                    t.name = new.clone();
                }
                retype(&mut t.subtype);
            }
            for table in &mut schema.tables {
                for c in &mut table.columns {
                    retype(&mut c.data_type);
                    redefault(&mut c.default);
                }
                for c in &mut table.constraints {
                    c.definition = c.definition.replace(&o, &n);
                }
            }
            for index in &mut schema.indexes {
                index.definition = index.definition.replace(&o, &n);
            }
            for f in &mut schema.functions {
                f.arguments = f.arguments.replace(&o, &n);
                f.definition = f.definition.replace(&o, &n);
            }
        }
    }
}

/// Drop-and-add pairs in `changes` (a diff from `from`) that may be renames: one line
/// each, naming the `--rename` that would say so.
pub fn rename_hints(from: &Schema, changes: &[Change]) -> Vec<String> {
    let mut hints = Vec::new();
    let dropped_tables: Vec<&QualifiedName> = changes
        .iter()
        .filter_map(|c| match c {
            Change::DropTable { name } => Some(name),
            _ => None,
        })
        .collect();
    for change in changes {
        match change {
            Change::AddTable(table) => {
                for old in dropped_tables
                    .iter()
                    .filter(|o| o.schema == table.name.schema)
                {
                    hints.push(format!(
                        "table {} is dropped and {} is added: if it is a rename, pass --rename table:{}={}",
                        qn(old),
                        qn(&table.name),
                        qn(old),
                        qn(&table.name)
                    ));
                }
            }
            Change::AlterTable { name, changes } => {
                let Some(table) = from.tables.iter().find(|t| &t.name == name) else {
                    continue;
                };
                for change in changes {
                    let TableChange::AddColumn(added) = change else {
                        continue;
                    };
                    for dropped in changes.iter().filter_map(|c| match c {
                        TableChange::DropColumn { name } => Some(name),
                        _ => None,
                    }) {
                        let same_type = table
                            .columns
                            .iter()
                            .any(|c| &c.name == dropped && c.data_type == added.data_type);
                        if same_type {
                            hints.push(format!(
                                "column {}.{} is dropped and {} ({}) is added: if it is a rename, pass --rename column:{}.{}={}",
                                qn(name),
                                quote_ident(dropped),
                                quote_ident(&added.name),
                                added.data_type,
                                qn(name),
                                quote_ident(dropped),
                                quote_ident(&added.name)
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_or_constraint_rename_built_without_its_table_is_refused() {
        let schema = Schema::default();
        for kind in [RenameKind::Column, RenameKind::Constraint] {
            let rename = Rename {
                kind,
                table: None,
                old: QualifiedName::new("public".to_string(), "a".to_string()),
                new: QualifiedName::new("public".to_string(), "b".to_string()),
            };
            let err = diff_with_renames(&schema, &schema, &[rename]).expect_err("no table");
            assert!(
                matches!(&err, RenameError::Syntax { reason, .. } if reason.contains("needs its table")),
                "{err}"
            );
        }
    }

    #[test]
    fn specs_parse_with_defaults_and_quotes() {
        let r: Rename = "table:users=people".parse().expect("parses");
        assert_eq!(
            r.old,
            QualifiedName::new("public".to_string(), "users".to_string())
        );
        assert_eq!(
            r.new,
            QualifiedName::new("public".to_string(), "people".to_string())
        );
        let r: Rename = "column:app.users.email=email_address"
            .parse()
            .expect("parses");
        assert_eq!(
            r.table,
            Some(QualifiedName::new("app".to_string(), "users".to_string()))
        );
        assert_eq!(r.old.name, "email");
        assert_eq!(r.new.name, "email_address");
        let r: Rename = r#"table:"My Schema"."Odd.Name"="New""Name""#
            .parse()
            .expect("parses");
        assert_eq!(r.old.schema, "My Schema");
        assert_eq!(r.old.name, "Odd.Name");
        assert_eq!(r.new.name, "New\"Name");
        assert_eq!(r.new.schema, "My Schema");
        for bad in [
            "users=people",
            "view:a=b",
            "table:users",
            "column:email=x",
            "column:users.email=a.b",
            "index:a.i=b.j",
            "table:\"open=x",
        ] {
            let err = bad.parse::<Rename>().expect_err("refused");
            assert!(
                err.to_string().contains("write KIND:OLD=NEW"),
                "{bad}: {err}"
            );
        }
    }
}
