//! How each catalog object is written as SQL: one [`Block`] per object, shared by the
//! canonical dump (`dump`, which decides the blocks' order) and the diff engine.
//! Identifiers are quoted the way PostgreSQL's `quote_ident` does, so names we print and
//! names inside the server's `pg_get_*` output look alike. Everything that belongs to one
//! object (comments, RLS switches, owner, grants) is in that object's block, so a changed
//! object shows up as one hunk in `git diff`.

use std::fmt::Write;

use super::model::*;
use crate::sql::{quote_ident, quote_literal};

/// A collation name as `format_type` would qualify it: bare in pg_catalog.
pub fn qualified_collation(schema: &str, name: &str) -> String {
    if schema == "pg_catalog" {
        quote_ident(name)
    } else {
        format!("{}.{}", quote_ident(schema), quote_ident(name))
    }
}

/// `schema.name`, both quoted as needed.
pub(crate) fn qn(name: &QualifiedName) -> String {
    format!("{}.{}", quote_ident(&name.schema), quote_ident(&name.name))
}

/// One object's statements, each without its semicolon: the dump prints them one per
/// line, `;`-terminated, and the diff engine runs them one by one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) statements: Vec<String>,
    /// Every `COMMENT ON` target the object has, with its comment (`None`: none), so
    /// that the diff engine can tell a changed comment from a changed definition.
    pub(crate) comments: Vec<(String, Option<String>)>,
}

impl Block {
    pub(super) fn new(first: String) -> Block {
        Block {
            statements: vec![first],
            comments: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, statement: String) {
        self.statements.push(statement);
    }

    /// The statements that are not comments: what the object is.
    pub(crate) fn definition(&self) -> Vec<&str> {
        let comments: Vec<String> = self
            .comments
            .iter()
            .filter_map(|(target, comment)| comment.as_ref().map(|c| comment_sql(target, c)))
            .collect();
        self.statements
            .iter()
            .filter(|s| !comments.contains(s))
            .map(String::as_str)
            .collect()
    }

    /// The dump's text: each statement `;`-terminated, one after the other.
    pub(super) fn text(&self) -> String {
        let mut out = String::new();
        for (i, statement) in self.statements.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(statement);
            out.push(';');
        }
        out
    }
}

pub(crate) fn comment_sql(target: &str, comment: &str) -> String {
    format!("COMMENT ON {target} IS {}", quote_literal(comment))
}

pub(super) fn comment_line(out: &mut Block, target: &str, comment: &Option<String>) {
    if let Some(comment) = comment {
        out.push(comment_sql(target, comment));
    }
    out.comments.push((target.to_string(), comment.clone()));
}

fn owner_line(out: &mut Block, alter: &str, owner: &Option<String>) {
    if let Some(owner) = owner {
        out.push(format!("{alter} OWNER TO {}", quote_ident(owner)));
    }
}

/// One `aclitem` (`grantee=privs/grantor`), parsed; grantee `None` is PUBLIC.
struct AclItem {
    grantee: Option<String>,
    privileges: Vec<(char, bool)>,
}

/// Reads one possibly double-quoted role name up to `stop`, returning it and the rest.
fn acl_name(text: &str, stop: char) -> (String, &str) {
    let mut name = String::new();
    let mut quoted = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            if quoted && chars.peek().map(|(_, n)| *n) == Some('"') {
                name.push('"');
                chars.next();
            } else {
                quoted = !quoted;
            }
        } else if c == stop && !quoted {
            return (name, &text[i + 1..]);
        } else {
            name.push(c);
        }
    }
    (name, "")
}

fn parse_acl(item: &str) -> AclItem {
    let (grantee, rest) = acl_name(item, '=');
    let privs = rest.split('/').next().unwrap_or_default();
    let mut privileges = Vec::new();
    let mut chars = privs.chars().peekable();
    while let Some(c) = chars.next() {
        let grant_option = chars.peek() == Some(&'*');
        if grant_option {
            chars.next();
        }
        privileges.push((c, grant_option));
    }
    AclItem {
        grantee: (!grantee.is_empty()).then_some(grantee),
        privileges,
    }
}

fn privilege_name(code: char) -> &'static str {
    match code {
        'r' => "SELECT",
        'w' => "UPDATE",
        'a' => "INSERT",
        'd' => "DELETE",
        'D' => "TRUNCATE",
        'x' => "REFERENCES",
        't' => "TRIGGER",
        'X' => "EXECUTE",
        'U' => "USAGE",
        'C' => "CREATE",
        'c' => "CONNECT",
        'T' => "TEMPORARY",
        'm' => "MAINTAIN",
        's' => "SET",
        'A' => "ALTER SYSTEM",
        _ => "UNKNOWN",
    }
}

/// `GRANT` lines for an ACL; `columns` is `Some("(col)")` for column privileges.
fn grant_lines(out: &mut Block, acl: &[String], on: &str, column: Option<&str>) {
    for item in acl {
        let item = parse_acl(item);
        let grantee = item
            .grantee
            .as_deref()
            .map_or_else(|| "PUBLIC".to_string(), quote_ident);
        for with_option in [false, true] {
            let privileges: Vec<String> = item
                .privileges
                .iter()
                .filter(|(_, option)| *option == with_option)
                .map(|(code, _)| match column {
                    Some(column) => format!("{} ({column})", privilege_name(*code)),
                    None => privilege_name(*code).to_string(),
                })
                .collect();
            if privileges.is_empty() {
                continue;
            }
            let suffix = if with_option {
                " WITH GRANT OPTION"
            } else {
                ""
            };
            out.push(format!(
                "GRANT {} ON {on} TO {grantee}{suffix}",
                privileges.join(", ")
            ));
        }
    }
}

fn type_max(data_type: &str) -> (i64, i64) {
    match data_type {
        "smallint" => (i16::MIN as i64, i16::MAX as i64),
        "integer" => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Sequence options as `CREATE SEQUENCE` clauses; `all` prints defaults too, otherwise
/// only what differs from PostgreSQL's defaults for the (column) type.
pub(crate) fn sequence_clauses(
    opts: &SequenceOptions,
    all: bool,
    column_type: Option<&str>,
) -> Vec<String> {
    let (type_min, type_max) = type_max(&opts.data_type);
    let (default_min, default_max) = if opts.increment > 0 {
        (1, type_max)
    } else {
        (type_min, -1)
    };
    let default_start = if opts.increment > 0 {
        opts.min
    } else {
        opts.max
    };
    let mut clauses = Vec::new();
    if all || column_type != Some(opts.data_type.as_str()) {
        clauses.push(format!("AS {}", opts.data_type));
    }
    if all || opts.start != default_start {
        clauses.push(format!("START WITH {}", opts.start));
    }
    if all || opts.increment != 1 {
        clauses.push(format!("INCREMENT BY {}", opts.increment));
    }
    if all || opts.min != default_min {
        clauses.push(format!("MINVALUE {}", opts.min));
    }
    if all || opts.max != default_max {
        clauses.push(format!("MAXVALUE {}", opts.max));
    }
    if all || opts.cache != 1 {
        clauses.push(format!("CACHE {}", opts.cache));
    }
    if opts.cycle {
        clauses.push("CYCLE".to_string());
    } else if all {
        clauses.push("NO CYCLE".to_string());
    }
    clauses
}

/// A column of `CREATE TABLE` or `ADD COLUMN`; the type is `format_type` text.
pub(crate) fn column_line(table: &QualifiedName, column: &Column) -> String {
    let mut line = format!("{} {}", quote_ident(&column.name), column.data_type);
    if let Some(collation) = &column.collation {
        let _ = write!(line, " COLLATE {collation}");
    }
    if let Some(identity) = &column.identity {
        let _ = write!(line, " {}", identity_clause(table, column, identity));
    }
    if let Some(expr) = &column.generated {
        let kind = if column.generated_virtual {
            "VIRTUAL"
        } else {
            "STORED"
        };
        let _ = write!(line, " GENERATED ALWAYS AS ({expr}) {kind}");
    }
    if let Some(default) = &column.default {
        let _ = write!(line, " DEFAULT {default}");
    }
    match &column.not_null_constraint {
        // NOT VALID has no column form: `column_settings` adds the constraint.
        Some(constraint) if constraint.not_valid => {}
        Some(constraint) => {
            if let Some(name) = &constraint.name {
                let _ = write!(line, " CONSTRAINT {}", quote_ident(name));
            }
            line.push_str(" NOT NULL");
            if constraint.no_inherit {
                line.push_str(" NO INHERIT");
            }
        }
        None if column.not_null => line.push_str(" NOT NULL"),
        None => {}
    }
    line
}

/// The NOT NULL constraint of a column as `ADD CONSTRAINT` writes it (PostgreSQL 18):
/// `CONSTRAINT name NOT NULL col [NO INHERIT] [NOT VALID]`, named as PostgreSQL would
/// name it when the model keeps no name.
pub(crate) fn not_null_constraint_clause(
    table: &QualifiedName,
    column: &str,
    constraint: &NotNullConstraint,
) -> String {
    let mut clause = format!(
        "CONSTRAINT {} NOT NULL {}",
        quote_ident(&not_null_constraint_name(table, column, constraint)),
        quote_ident(column)
    );
    if constraint.no_inherit {
        clause.push_str(" NO INHERIT");
    }
    if constraint.not_valid {
        clause.push_str(" NOT VALID");
    }
    clause
}

/// The name of a column's NOT NULL constraint: the model's, else PostgreSQL's default.
pub(crate) fn not_null_constraint_name(
    table: &QualifiedName,
    column: &str,
    constraint: &NotNullConstraint,
) -> String {
    constraint
        .name
        .clone()
        .unwrap_or_else(|| default_not_null_name(&table.name, column))
}

/// The name PostgreSQL 18 gives a column's NOT NULL constraint (inspection compares
/// with the same `<table>_<column>_not_null`, without truncation, as pg_dump does).
pub(crate) fn default_not_null_name(table: &str, column: &str) -> String {
    format!("{table}_{column}_not_null")
}

/// What follows `CREATE TABLE` for one column, each an `ALTER TABLE`: its statistics
/// target, its storage, and a `NOT VALID` NOT NULL constraint (which has no column form).
pub(crate) fn column_settings(table: &QualifiedName, column: &Column) -> Vec<String> {
    let (name, col) = (qn(table), quote_ident(&column.name));
    let mut out = Vec::new();
    if let Some(constraint) = column.not_null_constraint.as_ref().filter(|c| c.not_valid) {
        out.push(format!(
            "ALTER TABLE {name} ADD {}",
            not_null_constraint_clause(table, &column.name, constraint)
        ));
    }
    if let Some(target) = column.statistics {
        out.push(format!(
            "ALTER TABLE {name} ALTER COLUMN {col} SET STATISTICS {target}"
        ));
    }
    if let Some(storage) = &column.storage {
        out.push(format!(
            "ALTER TABLE {name} ALTER COLUMN {col} SET STORAGE {storage}"
        ));
    }
    out
}

/// `GENERATED ALWAYS|BY DEFAULT AS IDENTITY [(options)]`: the sequence is named only
/// when it is not the one PostgreSQL would pick.
pub(crate) fn identity_clause(
    table: &QualifiedName,
    column: &Column,
    identity: &Identity,
) -> String {
    let kind = if identity.always {
        "ALWAYS"
    } else {
        "BY DEFAULT"
    };
    let mut clauses = Vec::new();
    let default_name = QualifiedName::new(
        table.schema.clone(),
        format!("{}_{}_seq", table.name, column.name),
    );
    if identity.sequence != default_name {
        clauses.push(format!("SEQUENCE NAME {}", qn(&identity.sequence)));
    }
    clauses.extend(sequence_clauses(
        &identity.options,
        false,
        Some(&column.data_type),
    ));
    let mut out = format!("GENERATED {kind} AS IDENTITY");
    if !clauses.is_empty() {
        let _ = write!(out, " ({})", clauses.join(" "));
    }
    out
}

fn with_options(options: &[String]) -> String {
    if options.is_empty() {
        String::new()
    } else {
        format!(" WITH ({})", options.join(", "))
    }
}

/// `[PARTITION OF parent] (columns, constraints) [bound] [INHERITS (...)]`, shared by
/// tables and foreign tables, by the dump and by the diff engine's `CREATE TABLE`.
///
/// A partition takes its columns (types, defaults, `NOT NULL`, generation) from its
/// parent, and PostgreSQL rejects types in its column list: see [`partition_items`].
/// `parent_columns` are the partition parent's columns, when the caller knows them.
pub(crate) fn write_relation_body(
    out: &mut String,
    name: &QualifiedName,
    columns: &[Column],
    constraints: &[Constraint],
    partition_of: Option<&PartitionOf>,
    parent_columns: Option<&[Column]>,
    inherits: &[QualifiedName],
) {
    let constraint_items = constraints
        .iter()
        .map(|c| format!("CONSTRAINT {} {}", quote_ident(&c.name), c.definition));
    let items: Vec<String> = match partition_of {
        Some(partition) => {
            let _ = write!(out, "PARTITION OF {} ", qn(&partition.parent));
            partition_items(columns, parent_columns)
                .chain(constraint_items)
                .collect()
        }
        None => columns
            .iter()
            .map(|c| column_line(name, c))
            .chain(constraint_items)
            .collect(),
    };
    // A partition without items of its own has no parentheses at all: `()` is an error.
    if partition_of.is_none() || !items.is_empty() {
        out.push('(');
        for (i, item) in items.iter().enumerate() {
            let comma = if i + 1 < items.len() { "," } else { "" };
            let _ = write!(out, "\n    {item}{comma}");
        }
        out.push_str("\n)");
        if partition_of.is_some() {
            out.push(' ');
        }
    }
    if let Some(partition) = partition_of {
        out.push_str(&partition.bound);
    }
    if !inherits.is_empty() {
        let parents: Vec<String> = inherits.iter().map(qn).collect();
        let _ = write!(out, " INHERITS ({})", parents.join(", "));
    }
}

/// The `col WITH OPTIONS ...` items of a partition: only what differs from the parent's
/// column, since a partition inherits its parent's defaults and `NOT NULL` (and its
/// generation expressions, which it cannot change). A default the parent has and the
/// partition lacks is `DEFAULT NULL`, which PostgreSQL stores as no default. Without
/// the parent's columns, every default and `NOT NULL` is listed (redundant, but valid).
fn partition_items<'c>(
    columns: &'c [Column],
    parent_columns: Option<&'c [Column]>,
) -> impl Iterator<Item = String> + 'c {
    columns.iter().filter_map(move |column| {
        let parent = parent_columns.and_then(|p| p.iter().find(|c| c.name == column.name));
        let inherited_default = parent.and_then(|p| p.default.as_ref());
        let inherited_not_null = parent.is_some_and(|p| p.not_null);
        let mut options = String::new();
        if column.generated.is_none() && column.default.as_ref() != inherited_default {
            let default = column.default.as_deref().unwrap_or("NULL");
            let _ = write!(options, " DEFAULT {default}");
        }
        if column.not_null && !inherited_not_null {
            options.push_str(" NOT NULL");
        }
        (!options.is_empty())
            .then(|| format!("{} WITH OPTIONS{options}", quote_ident(&column.name)))
    })
}

/// `tables` in their order, except that a parent (partition or inheritance) among them is
/// moved up to just before its first child: PostgreSQL creates a child only after its
/// parents, and a child can sort before its parent by name.
pub(crate) fn parents_first<'t>(tables: &[&'t Table]) -> Vec<&'t Table> {
    let by_name: std::collections::BTreeMap<&QualifiedName, &Table> =
        tables.iter().map(|t| (&t.name, *t)).collect();
    let mut placed: std::collections::BTreeSet<&QualifiedName> = Default::default();
    let mut out = Vec::with_capacity(tables.len());
    for table in tables {
        // Depth first over parents without recursion: a chain can be deep.
        let mut stack: Vec<(&Table, bool)> = vec![(table, false)];
        while let Some((t, parents_done)) = stack.pop() {
            if parents_done {
                out.push(t);
                continue;
            }
            if !placed.insert(&t.name) {
                continue;
            }
            stack.push((t, true));
            let parents = t.partition_of.iter().map(|p| &p.parent).chain(&t.inherits);
            for parent in parents {
                if let Some(p) = by_name.get(parent) {
                    if !placed.contains(&p.name) {
                        stack.push((p, false));
                    }
                }
            }
        }
    }
    out
}

/// `parent` is the partition parent of a partition, when the schema holds it.
pub(crate) fn render_table(table: &Table, parent: Option<&Table>) -> Block {
    let name = qn(&table.name);
    let mut head = String::new();
    let unlogged = if table.unlogged { "UNLOGGED " } else { "" };
    let _ = write!(head, "CREATE {unlogged}TABLE {name} ");
    write_relation_body(
        &mut head,
        &table.name,
        &table.columns,
        &table.constraints,
        table.partition_of.as_ref(),
        parent.map(|p| p.columns.as_slice()),
        &table.inherits,
    );
    if let Some(key) = &table.partition_key {
        let _ = write!(head, " PARTITION BY {key}");
    }
    if let Some(am) = &table.access_method {
        let _ = write!(head, " USING {}", quote_ident(am));
    }
    head.push_str(&with_options(&table.options));
    let mut out = Block::new(head);
    if table.row_security {
        out.push(format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"));
    }
    if table.force_row_security {
        out.push(format!("ALTER TABLE {name} FORCE ROW LEVEL SECURITY"));
    }
    if let Some(identity) = &table.replica_identity {
        out.push(format!("ALTER TABLE {name} REPLICA IDENTITY {identity}"));
    }
    if let Some(index) = &table.cluster_on {
        out.push(format!(
            "ALTER TABLE {name} CLUSTER ON {}",
            quote_ident(index)
        ));
    }
    for column in &table.columns {
        for sql in column_settings(&table.name, column) {
            out.push(sql);
        }
    }
    comment_line(&mut out, &format!("TABLE {name}"), &table.comment);
    column_extras(&mut out, &name, &table.columns);
    constraint_comments(&mut out, &name, &table.constraints);
    owner_line(&mut out, &format!("ALTER TABLE {name}"), &table.owner);
    grant_lines(&mut out, &table.acl, &format!("TABLE {name}"), None);
    out
}

fn constraint_comments(out: &mut Block, relation: &str, constraints: &[Constraint]) {
    for constraint in constraints {
        comment_line(
            out,
            &format!("CONSTRAINT {} ON {relation}", quote_ident(&constraint.name)),
            &constraint.comment,
        );
    }
}

/// Column comments and column privileges.
fn column_extras(out: &mut Block, relation: &str, columns: &[Column]) {
    for column in columns {
        let col = quote_ident(&column.name);
        comment_line(out, &format!("COLUMN {relation}.{col}"), &column.comment);
        grant_lines(out, &column.acl, &format!("TABLE {relation}"), Some(&col));
    }
}

pub(crate) fn render_view(view: &View, materialized: bool) -> Block {
    let name = qn(&view.name);
    let kind = if materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    };
    let mut out = Block::new(format!(
        "CREATE {kind} {name}{} AS\n{}",
        with_options(&view.options),
        view.definition
    ));
    for column in &view.columns {
        if let Some(default) = &column.default {
            out.push(format!(
                "ALTER VIEW {name} ALTER COLUMN {} SET DEFAULT {default}",
                quote_ident(&column.name)
            ));
        }
    }
    comment_line(&mut out, &format!("{kind} {name}"), &view.comment);
    column_extras(&mut out, &name, &view.columns);
    let alter = if materialized {
        "ALTER MATERIALIZED VIEW"
    } else {
        "ALTER VIEW"
    };
    owner_line(&mut out, &format!("{alter} {name}"), &view.owner);
    grant_lines(&mut out, &view.acl, &format!("TABLE {name}"), None);
    out
}

pub(super) fn render_function(function: &Function) -> Block {
    let signature = format!("{}({})", qn(&function.name), function.arguments);
    let kind = match function.kind {
        FunctionKind::Procedure => "PROCEDURE",
        FunctionKind::Aggregate => "AGGREGATE",
        FunctionKind::Function | FunctionKind::Window => "FUNCTION",
    };
    let mut out = Block::new(function.definition.clone());
    comment_line(&mut out, &format!("{kind} {signature}"), &function.comment);
    owner_line(
        &mut out,
        &format!("ALTER {kind} {signature}"),
        &function.owner,
    );
    let grant_kind = if function.kind == FunctionKind::Procedure {
        "PROCEDURE"
    } else {
        "FUNCTION"
    };
    grant_lines(
        &mut out,
        &function.acl,
        &format!("{grant_kind} {signature}"),
        None,
    );
    out
}

/// Raw `key=value` options as an `OPTIONS (key 'value', ...)` clause (empty: nothing).
fn options_clause(options: &[String]) -> String {
    if options.is_empty() {
        return String::new();
    }
    let items: Vec<String> = options
        .iter()
        .map(|option| match option.split_once('=') {
            Some((key, value)) => format!("{} {}", quote_ident(key), quote_literal(value)),
            None => quote_ident(option),
        })
        .collect();
    format!(" OPTIONS ({})", items.join(", "))
}

pub(crate) fn render_collation(c: &Collation) -> Block {
    let name = qn(&c.name);
    let mut opts = vec![format!("provider = {}", c.provider)];
    if let Some(locale) = &c.locale {
        opts.push(format!("locale = {}", quote_literal(locale)));
    }
    match (&c.lc_collate, &c.lc_ctype) {
        (Some(collate), Some(ctype)) if collate == ctype => {
            opts.push(format!("locale = {}", quote_literal(collate)));
        }
        (collate, ctype) => {
            if let Some(collate) = collate {
                opts.push(format!("lc_collate = {}", quote_literal(collate)));
            }
            if let Some(ctype) = ctype {
                opts.push(format!("lc_ctype = {}", quote_literal(ctype)));
            }
        }
    }
    if let Some(rules) = &c.rules {
        opts.push(format!("rules = {}", quote_literal(rules)));
    }
    if !c.deterministic {
        opts.push("deterministic = false".to_string());
    }
    let mut out = Block::new(format!("CREATE COLLATION {name} ({})", opts.join(", ")));
    comment_line(&mut out, &format!("COLLATION {name}"), &c.comment);
    owner_line(&mut out, &format!("ALTER COLLATION {name}"), &c.owner);
    out
}

/// `(source AS target)`: how `CREATE`, `DROP` and `COMMENT ON CAST` name a cast.
pub(crate) fn cast_types(c: &Cast) -> String {
    format!("({} AS {})", c.source, c.target)
}

pub(crate) fn render_cast(c: &Cast) -> Block {
    let types = cast_types(c);
    let mut head = format!("CREATE CAST {types}");
    match (c.method.as_str(), &c.function) {
        ("binary", _) => head.push_str(" WITHOUT FUNCTION"),
        ("inout", _) => head.push_str(" WITH INOUT"),
        (_, Some(function)) => {
            let _ = write!(head, " WITH FUNCTION {function}");
        }
        (_, None) => head.push_str(" WITHOUT FUNCTION"),
    }
    match c.context.as_str() {
        "assignment" => head.push_str(" AS ASSIGNMENT"),
        "implicit" => head.push_str(" AS IMPLICIT"),
        _ => {}
    }
    let mut out = Block::new(head);
    comment_line(&mut out, &format!("CAST {types}"), &c.comment);
    out
}

pub(crate) fn render_statistics(s: &Statistics) -> Block {
    let name = qn(&s.name);
    let mut out = Block::new(s.definition.clone());
    if let Some(target) = s.target {
        out.push(format!("ALTER STATISTICS {name} SET STATISTICS {target}"));
    }
    comment_line(&mut out, &format!("STATISTICS {name}"), &s.comment);
    owner_line(&mut out, &format!("ALTER STATISTICS {name}"), &s.owner);
    out
}

pub(crate) fn render_wrapper(w: &ForeignDataWrapper) -> Block {
    let name = quote_ident(&w.name);
    let mut head = format!("CREATE FOREIGN DATA WRAPPER {name}");
    if let Some(handler) = &w.handler {
        let _ = write!(head, " HANDLER {handler}");
    }
    if let Some(validator) = &w.validator {
        let _ = write!(head, " VALIDATOR {validator}");
    }
    head.push_str(&options_clause(&w.options));
    let mut out = Block::new(head);
    comment_line(
        &mut out,
        &format!("FOREIGN DATA WRAPPER {name}"),
        &w.comment,
    );
    owner_line(
        &mut out,
        &format!("ALTER FOREIGN DATA WRAPPER {name}"),
        &w.owner,
    );
    out
}

pub(crate) fn render_server(s: &ForeignServer) -> Block {
    let name = quote_ident(&s.name);
    let mut head = format!("CREATE SERVER {name}");
    if let Some(server_type) = &s.server_type {
        let _ = write!(head, " TYPE {}", quote_literal(server_type));
    }
    if let Some(version) = &s.version {
        let _ = write!(head, " VERSION {}", quote_literal(version));
    }
    let _ = write!(
        head,
        " FOREIGN DATA WRAPPER {}{}",
        quote_ident(&s.wrapper),
        options_clause(&s.options)
    );
    let mut out = Block::new(head);
    comment_line(&mut out, &format!("SERVER {name}"), &s.comment);
    owner_line(&mut out, &format!("ALTER SERVER {name}"), &s.owner);
    out
}

/// `parent` is the partition parent of a foreign partition, when the schema holds it.
pub(crate) fn render_foreign_table(t: &ForeignTable, parent: Option<&Table>) -> Block {
    let name = qn(&t.name);
    let mut head = format!("CREATE FOREIGN TABLE {name} ");
    write_relation_body(
        &mut head,
        &t.name,
        &t.columns,
        &t.constraints,
        t.partition_of.as_ref(),
        parent.map(|p| p.columns.as_slice()),
        &t.inherits,
    );
    let _ = write!(
        head,
        " SERVER {}{}",
        quote_ident(&t.server),
        options_clause(&t.options)
    );
    let mut out = Block::new(head);
    comment_line(&mut out, &format!("FOREIGN TABLE {name}"), &t.comment);
    column_extras(&mut out, &name, &t.columns);
    constraint_comments(&mut out, &name, &t.constraints);
    owner_line(&mut out, &format!("ALTER FOREIGN TABLE {name}"), &t.owner);
    grant_lines(&mut out, &t.acl, &format!("TABLE {name}"), None);
    out
}

/// A publication's members as `CREATE`/`ALTER PUBLICATION ... SET` list them:
/// `TABLE a, b (cols) WHERE (...)` and `TABLES IN SCHEMA s`; empty for none.
pub(crate) fn publication_members(p: &Publication) -> Vec<String> {
    let mut members = Vec::new();
    if !p.tables.is_empty() {
        members.push(format!("TABLE {}", p.tables.join(", ")));
    }
    if !p.schemas.is_empty() {
        let schemas: Vec<String> = p.schemas.iter().map(|s| quote_ident(s)).collect();
        members.push(format!("TABLES IN SCHEMA {}", schemas.join(", ")));
    }
    members
}

pub(crate) fn render_publication(p: &Publication) -> Block {
    let name = quote_ident(&p.name);
    let mut head = format!("CREATE PUBLICATION {name}");
    if p.all_tables {
        head.push_str(" FOR ALL TABLES");
    } else {
        let targets = publication_members(p);
        if !targets.is_empty() {
            let _ = write!(head, " FOR {}", targets.join(", "));
        }
    }
    let _ = write!(
        head,
        " WITH (publish = {}",
        quote_literal(&p.publish.join(", "))
    );
    if p.via_root {
        head.push_str(", publish_via_partition_root = true");
    }
    head.push(')');
    let mut out = Block::new(head);
    comment_line(&mut out, &format!("PUBLICATION {name}"), &p.comment);
    owner_line(&mut out, &format!("ALTER PUBLICATION {name}"), &p.owner);
    out
}

fn enabled_clause(enabled: &str) -> Option<&'static str> {
    match enabled {
        "disabled" => Some("DISABLE"),
        "replica" => Some("ENABLE REPLICA"),
        "always" => Some("ENABLE ALWAYS"),
        _ => None,
    }
}

pub(super) fn render_schema(s: &SchemaDef) -> Block {
    let name = quote_ident(&s.name);
    let mut out = Block::new(format!("CREATE SCHEMA {name}"));
    comment_line(&mut out, &format!("SCHEMA {name}"), &s.comment);
    owner_line(&mut out, &format!("ALTER SCHEMA {name}"), &s.owner);
    grant_lines(&mut out, &s.acl, &format!("SCHEMA {name}"), None);
    out
}

pub(super) fn render_extension(e: &Extension) -> Block {
    let name = quote_ident(&e.name);
    let mut out = Block::new(format!(
        "CREATE EXTENSION {name} WITH SCHEMA {} VERSION {}",
        quote_ident(&e.schema),
        quote_literal(&e.version)
    ));
    comment_line(&mut out, &format!("EXTENSION {name}"), &e.comment);
    out
}

pub(super) fn render_enum(t: &EnumType) -> Block {
    let name = qn(&t.name);
    let labels: Vec<String> = t
        .labels
        .iter()
        .map(|l| format!("\n    {}", quote_literal(l)))
        .collect();
    let mut out = Block::new(format!(
        "CREATE TYPE {name} AS ENUM ({}\n)",
        labels.join(",")
    ));
    type_extras(&mut out, "TYPE", &name, &t.comment, &t.owner, &t.acl);
    out
}

/// An attribute of a composite type: `name type [COLLATE c]`.
pub(crate) fn attribute_line(a: &Column) -> String {
    let mut line = format!("{} {}", quote_ident(&a.name), a.data_type);
    if let Some(collation) = &a.collation {
        let _ = write!(line, " COLLATE {collation}");
    }
    line
}

pub(crate) fn render_composite(t: &CompositeType) -> Block {
    let name = qn(&t.name);
    let attrs: Vec<String> = t
        .attributes
        .iter()
        .map(|a| format!("\n    {}", attribute_line(a)))
        .collect();
    let mut out = Block::new(format!("CREATE TYPE {name} AS ({}\n)", attrs.join(",")));
    type_extras(&mut out, "TYPE", &name, &t.comment, &t.owner, &t.acl);
    for a in &t.attributes {
        comment_line(
            &mut out,
            &format!("COLUMN {name}.{}", quote_ident(&a.name)),
            &a.comment,
        );
    }
    out
}

pub(crate) fn render_range(t: &RangeType) -> Block {
    let name = qn(&t.name);
    let mut opts = vec![format!("SUBTYPE = {}", t.subtype)];
    let optional = [
        ("SUBTYPE_OPCLASS", &t.subtype_opclass),
        ("COLLATION", &t.collation),
        ("CANONICAL", &t.canonical),
        ("SUBTYPE_DIFF", &t.subtype_diff),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            opts.push(format!("{key} = {value}"));
        }
    }
    let mut out = Block::new(format!(
        "CREATE TYPE {name} AS RANGE (\n    {}\n)",
        opts.join(",\n    ")
    ));
    type_extras(&mut out, "TYPE", &name, &t.comment, &t.owner, &t.acl);
    out
}

pub(crate) fn render_domain(d: &Domain) -> Block {
    let name = qn(&d.name);
    let mut head = format!("CREATE DOMAIN {name} AS {}", d.base_type);
    if let Some(collation) = &d.collation {
        let _ = write!(head, " COLLATE {collation}");
    }
    if let Some(default) = &d.default {
        let _ = write!(head, " DEFAULT {default}");
    }
    if d.not_null {
        head.push_str(" NOT NULL");
    }
    // `NOT VALID` is only accepted by ALTER DOMAIN (CREATE DOMAIN would check nothing
    // anyway: no column uses the domain yet).
    for check in d.checks.iter().filter(|c| c.validated) {
        let _ = write!(
            head,
            "\n    CONSTRAINT {} {}",
            quote_ident(&check.name),
            check.definition
        );
    }
    let mut out = Block::new(head);
    for check in d.checks.iter().filter(|c| !c.validated) {
        out.push(format!(
            "ALTER DOMAIN {name} ADD CONSTRAINT {} {}",
            quote_ident(&check.name),
            check.definition
        ));
    }
    type_extras(&mut out, "DOMAIN", &name, &d.comment, &d.owner, &d.acl);
    for check in &d.checks {
        comment_line(
            &mut out,
            &format!("CONSTRAINT {} ON DOMAIN {name}", quote_ident(&check.name)),
            &check.comment,
        );
    }
    out
}

pub(super) fn render_sequence(s: &Sequence) -> Block {
    let name = qn(&s.name);
    let clauses = sequence_clauses(&s.options, true, None);
    let mut out = Block::new(format!(
        "CREATE SEQUENCE {name}\n    {}",
        clauses.join("\n    ")
    ));
    if let Some((table, column)) = &s.owned_by {
        out.push(format!(
            "ALTER SEQUENCE {name} OWNED BY {}.{}",
            qn(table),
            quote_ident(column)
        ));
    }
    comment_line(&mut out, &format!("SEQUENCE {name}"), &s.comment);
    owner_line(&mut out, &format!("ALTER SEQUENCE {name}"), &s.owner);
    grant_lines(&mut out, &s.acl, &format!("SEQUENCE {name}"), None);
    out
}

/// `CREATE INDEX` as it must run: `pg_get_indexdef` writes `ON ONLY` for an index of a
/// partitioned table (what pg_dump creates before attaching each partition's index),
/// which creates an invalid index on the parent alone. The model holds no partition
/// indexes (they are the parent's), so the index is created on the whole tree.
pub(crate) fn create_index_sql(i: &Index) -> String {
    let only = format!(" INDEX {} ON ONLY ", quote_ident(&i.name.name));
    let plain = format!(" INDEX {} ON ", quote_ident(&i.name.name));
    i.definition.replacen(&only, &plain, 1)
}

pub(super) fn render_index(i: &Index) -> Block {
    let mut out = Block::new(create_index_sql(i));
    comment_line(&mut out, &format!("INDEX {}", qn(&i.name)), &i.comment);
    out
}

pub(super) fn render_trigger(t: &Trigger) -> Block {
    let table = qn(&t.table);
    let trigger = quote_ident(&t.name);
    let mut out = if t.cloned {
        // A clone exists because of its parent's trigger: only its state is its own
        // (it is listed only when that state differs from the parent's).
        let clause = enabled_clause(&t.enabled).unwrap_or("ENABLE");
        Block::new(format!("ALTER TABLE {table} {clause} TRIGGER {trigger}"))
    } else {
        let mut out = Block::new(t.definition.clone());
        if let Some(clause) = enabled_clause(&t.enabled) {
            out.push(format!("ALTER TABLE {table} {clause} TRIGGER {trigger}"));
        }
        out
    };
    comment_line(
        &mut out,
        &format!("TRIGGER {trigger} ON {table}"),
        &t.comment,
    );
    out
}

/// `CREATE POLICY ...`, its clauses separated by `separator` (the dump puts each on a
/// line of its own, a migration keeps the statement on one).
pub(crate) fn create_policy(p: &Policy, separator: &str) -> String {
    let kind = if p.permissive {
        "PERMISSIVE"
    } else {
        "RESTRICTIVE"
    };
    let roles: Vec<String> = p
        .roles
        .iter()
        .map(|r| {
            if r == "public" {
                "PUBLIC".to_string()
            } else {
                quote_ident(r)
            }
        })
        .collect();
    let mut sql = format!(
        "CREATE POLICY {} ON {}{separator}AS {kind}{separator}FOR {}{separator}TO {}",
        quote_ident(&p.name),
        qn(&p.table),
        p.command,
        roles.join(", ")
    );
    if let Some(using) = &p.using {
        let _ = write!(sql, "{separator}USING ({using})");
    }
    if let Some(check) = &p.with_check {
        let _ = write!(sql, "{separator}WITH CHECK ({check})");
    }
    sql
}

pub(super) fn render_policy(p: &Policy) -> Block {
    let mut out = Block::new(create_policy(p, "\n    "));
    comment_line(
        &mut out,
        &format!("POLICY {} ON {}", quote_ident(&p.name), qn(&p.table)),
        &p.comment,
    );
    out
}

pub(crate) fn render_rule(r: &Rule) -> Block {
    let table = qn(&r.table);
    let mut out = Block::new(r.definition.clone());
    if let Some(clause) = enabled_clause(&r.enabled) {
        out.push(format!(
            "ALTER TABLE {table} {clause} RULE {}",
            quote_ident(&r.name)
        ));
    }
    comment_line(
        &mut out,
        &format!("RULE {} ON {table}", quote_ident(&r.name)),
        &r.comment,
    );
    out
}

pub(crate) fn render_event_trigger(e: &EventTrigger) -> Block {
    let name = quote_ident(&e.name);
    let mut head = format!("CREATE EVENT TRIGGER {name} ON {}", quote_ident(&e.event));
    if !e.tags.is_empty() {
        let tags: Vec<String> = e.tags.iter().map(|t| quote_literal(t)).collect();
        let _ = write!(head, "\n    WHEN TAG IN ({})", tags.join(", "));
    }
    let _ = write!(head, "\n    EXECUTE FUNCTION {}()", qn(&e.function));
    let mut out = Block::new(head);
    if let Some(clause) = enabled_clause(&e.enabled) {
        out.push(format!("ALTER EVENT TRIGGER {name} {clause}"));
    }
    comment_line(&mut out, &format!("EVENT TRIGGER {name}"), &e.comment);
    owner_line(&mut out, &format!("ALTER EVENT TRIGGER {name}"), &e.owner);
    out
}

impl Schema {
    /// Whether the database holds nothing but the `public` schema every new database
    /// has: what a fresh database looks like.
    pub fn is_empty(&self) -> bool {
        self.schemas.iter().all(|s| s.name == "public")
            && self
                .counts()
                .iter()
                .all(|&(kind, n)| kind == "schemas" || n == 0)
    }

    /// Number of objects of each kind, for a summary line.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let routines =
            |kind: FunctionKind| self.functions.iter().filter(|f| f.kind == kind).count();
        vec![
            ("schemas", self.schemas.len()),
            ("extensions", self.extensions.len()),
            ("collations", self.collations.len()),
            ("enums", self.enums.len()),
            ("domains", self.domains.len()),
            ("composite types", self.composites.len()),
            ("range types", self.ranges.len()),
            ("sequences", self.sequences.len()),
            ("tables", self.tables.len()),
            ("columns", self.tables.iter().map(|t| t.columns.len()).sum()),
            (
                "constraints",
                self.tables.iter().map(|t| t.constraints.len()).sum(),
            ),
            ("indexes", self.indexes.len()),
            ("views", self.views.len()),
            ("materialized views", self.materialized_views.len()),
            (
                "functions",
                routines(FunctionKind::Function) + routines(FunctionKind::Window),
            ),
            ("procedures", routines(FunctionKind::Procedure)),
            ("aggregates", routines(FunctionKind::Aggregate)),
            ("casts", self.casts.len()),
            ("statistics", self.statistics.len()),
            ("triggers", self.triggers.len()),
            ("policies", self.policies.len()),
            ("rules", self.rules.len()),
            ("foreign data wrappers", self.foreign_data_wrappers.len()),
            ("foreign servers", self.foreign_servers.len()),
            ("foreign tables", self.foreign_tables.len()),
            ("publications", self.publications.len()),
            ("event triggers", self.event_triggers.len()),
        ]
    }
}

/// Comment, owner and grants of a type or domain.
fn type_extras(
    out: &mut Block,
    kind: &str,
    name: &str,
    comment: &Option<String>,
    owner: &Option<String>,
    acl: &[String],
) {
    comment_line(out, &format!("{kind} {name}"), comment);
    owner_line(out, &format!("ALTER {kind} {name}"), owner);
    // GRANT ... ON DOMAIN is accepted, but TYPE covers both.
    grant_lines(out, acl, &format!("TYPE {name}"), None);
}
