//! Where another tool says a database is: its version table read, and matched to the
//! imported revisions by their `-- source:` headers (for `stamp --from-tool`).
//!
//! The table is only read, never written: the other tool keeps working until the team
//! switches. What each tool records differs (Alembic its heads, golang-migrate one row
//! with a dirty flag, goose an append-only log of ups and downs, the others one row per
//! applied version), so each is read the way the tool itself reads it, and a failed or
//! dirty migration is refused: its effects are half there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::version::VersionKey;
use super::Tool;
use crate::graph::RevisionGraph;
use crate::revision::RevisionId;
use crate::sql::quote_ident;

/// The tool's version table as found in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolTable {
    /// The schema it was found in.
    pub schema: String,
    /// The table's name (the tool's default, or as given with `--tool-table`).
    pub name: String,
}

impl fmt::Display for ToolTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// What the tool's table says is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolState {
    /// Where the state was read from.
    pub table: ToolTable,
    /// Alembic: the heads. The other tools: every applied version.
    pub applied: Vec<String>,
    /// Flyway's baseline version: versions up to it count as applied.
    pub baseline: Option<String>,
}

/// Why the tool's version table cannot be matched to an imported revision.
#[derive(Debug, thiserror::Error)]
pub enum AppliedError {
    /// The tool's version table was not found.
    #[error("no {table} table in the database (looked up through the search_path); give its place with --tool-table SCHEMA.TABLE if {tool} was configured to keep it elsewhere")]
    NoTable {
        /// The tool asked for.
        tool: Tool,
        /// The table looked for, as given (`[schema.]name`) or the tool's default name.
        table: String,
    },
    /// The table has the columns another tool's version table has.
    #[error("{table} has the columns of {other}'s table, not {tool}'s; did you mean --from-tool {other}?")]
    OtherTool {
        /// The tool asked for.
        tool: Tool,
        /// The tool the columns belong to.
        other: Tool,
        /// The table read.
        table: ToolTable,
    },
    /// The table holds no applied migration.
    #[error("{table} records no applied migration; nothing to stamp (run `retort upgrade` to apply the chain)")]
    NothingApplied {
        /// The table read.
        table: ToolTable,
    },
    /// The last migration failed or was left dirty, so its effects may be half applied.
    #[error("{table} marks version {version} as {state}: its effects may be half applied. Settle it with {tool} first ({fix}), then stamp")]
    Dirty {
        /// The tool.
        tool: Tool,
        /// The table read.
        table: ToolTable,
        /// The version as the table records it.
        version: String,
        /// How the table marks it, e.g. `dirty` or `failed (success = false)`.
        state: &'static str,
        /// How the tool's users settle it.
        fix: &'static str,
    },
    /// The table records versions no imported revision's `-- source:` header names.
    #[error("{table} records {tool} version(s) {versions} that no imported revision comes from (no `-- source: {tool} ...` header); import the history again from the tool's current files")]
    NotImported {
        /// The tool.
        tool: Tool,
        /// The table read.
        table: ToolTable,
        /// The versions, comma-separated.
        versions: String,
    },
    /// The table's current version implies earlier versions of the imported chain it does
    /// not record.
    #[error("{table} is at {tool} version {current} but does not record {missing}, which come before it in the imported chain; apply them with {tool} first, or stamp a revision by hand with `retort stamp REV`")]
    Gap {
        /// The tool.
        tool: Tool,
        /// The table read.
        table: ToolTable,
        /// The current version.
        current: String,
        /// The versions before it that are not recorded, comma-separated.
        missing: String,
    },
    /// A recorded version that is not shaped like one of the tool's versions.
    #[error("{table} has a version `{value}` that is not a {tool} version")]
    BadVersion {
        /// The tool.
        tool: Tool,
        /// The table read.
        table: ToolTable,
        /// The value as recorded.
        value: String,
    },
    /// No revision of the versions directory has a `-- source:` header naming the tool.
    #[error("the versions directory holds no revision imported from {tool}; import the history first with `retort import {tool} SOURCE`")]
    NoImportedRevisions {
        /// The tool asked for.
        tool: Tool,
    },
    /// Reading the table failed.
    #[error("reading {table}: {source}")]
    Query {
        /// The table, as given or the tool's default name.
        table: String,
        /// The database error.
        source: tokio_postgres::Error,
    },
}

impl AppliedError {
    /// ARCHITECTURE.md's exit code: 3 when the database failed, 2 when what it holds is not
    /// something to stamp from.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppliedError::Query { .. } => 3,
            _ => 2,
        }
    }
}

/// Finds the tool's table (`explicit` as `[schema.]name`, else its default name through
/// the search_path).
pub async fn find_table(
    client: &tokio_postgres::Client,
    tool: Tool,
    explicit: Option<&str>,
) -> Result<ToolTable, AppliedError> {
    let wanted = match explicit {
        Some(text) => match text.split_once('.') {
            Some((schema, name)) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
            None => quote_ident(text),
        },
        None => quote_ident(tool.version_table()),
    };
    let shown = explicit.unwrap_or(tool.version_table()).to_owned();
    let query_err = |source| AppliedError::Query {
        table: shown.clone(),
        source,
    };
    let row = client
        .query_opt(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
            &[&wanted],
        )
        .await
        .map_err(query_err)?;
    let Some(row) = row else {
        return Err(AppliedError::NoTable { tool, table: shown });
    };
    Ok(ToolTable {
        schema: row.get(0),
        name: row.get(1),
    })
}

/// The columns by which each tool's version table is recognised (a table of that name
/// must have at least these).
fn tool_columns(tool: Tool) -> &'static [&'static str] {
    match tool {
        Tool::Alembic => &["version_num"],
        Tool::Flyway => &["installed_rank", "version", "script", "checksum", "success"],
        Tool::Dbmate | Tool::GolangMigrate => &["version"],
        Tool::Goose => &["version_id", "is_applied"],
        Tool::Sqlx => &["version", "description", "success", "checksum"],
    }
}

/// The other tools' version tables in the database (any schema), recognised by name and
/// columns: bookkeeping, not schema. Adopting a database leaves them out of the models,
/// and comparing a database with a chain leaves them out of both.
pub async fn find_tool_tables(
    client: &tokio_postgres::Client,
) -> Result<Vec<ToolTable>, AppliedError> {
    let names: Vec<&str> = Tool::ALL.iter().map(|t| t.version_table()).collect();
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, \
                    array_agg(a.attname::text ORDER BY a.attnum) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE c.relkind IN ('r', 'p') AND c.relname = ANY($1) \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             GROUP BY 1, 2 ORDER BY 1, 2",
            &[&names],
        )
        .await
        .map_err(|source| AppliedError::Query {
            table: "the other tools' version tables".to_owned(),
            source,
        })?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let name: String = row.get(1);
            let columns: Vec<String> = row.get(2);
            let recognised = Tool::ALL.iter().any(|&tool| {
                tool.version_table() == name
                    && tool_columns(tool)
                        .iter()
                        .all(|c| columns.iter().any(|have| have == c))
            });
            recognised.then(|| ToolTable {
                schema: row.get(0),
                name,
            })
        })
        .collect())
}

/// Reads what `tool` recorded in `table`, refusing failed or dirty migrations.
pub async fn read_state(
    client: &tokio_postgres::Client,
    tool: Tool,
    table: ToolTable,
) -> Result<ToolState, AppliedError> {
    let qualified = format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    let query_err = |source| AppliedError::Query {
        table: table.to_string(),
        source,
    };
    let columns: BTreeSet<String> = client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) \
             AND attnum > 0 AND NOT attisdropped",
            &[&qualified],
        )
        .await
        .map_err(query_err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // dbmate and golang-migrate share the table name; the dirty flag tells them apart.
    let shape = match (tool, columns.contains("dirty")) {
        (Tool::Dbmate, true) => Some(Tool::GolangMigrate),
        (Tool::GolangMigrate, false) if columns.contains("version") => Some(Tool::Dbmate),
        _ => None,
    };
    if let Some(other) = shape {
        return Err(AppliedError::OtherTool { tool, other, table });
    }
    let dirty = |version: String, state, fix| AppliedError::Dirty {
        tool,
        table: table.clone(),
        version,
        state,
        fix,
    };
    let mut baseline = None;
    // The tools that keep one row per applied version (or head), with the expression
    // saying the row's migration completed and, when it did not, how the tool settles it.
    let rows_of = |version: &str, good: &str| {
        format!("SELECT {version}::text, {good} FROM {qualified} ORDER BY 1")
    };
    let plain = match tool {
        Tool::Alembic => Some((rows_of("version_num", "true"), "", "")),
        Tool::Dbmate => Some((rows_of("version", "true"), "", "")),
        Tool::GolangMigrate => Some((
            rows_of("version", "NOT dirty"),
            "dirty",
            "fix the database by hand, then `migrate force VERSION`",
        )),
        Tool::Sqlx => Some((
            rows_of("version", "success"),
            "failed (success = false)",
            "fix the database by hand and delete the row, or rerun `sqlx migrate run`",
        )),
        Tool::Goose | Tool::Flyway => None,
    };
    let applied: Vec<String> = match (tool, plain) {
        (_, Some((query, state, fix))) => {
            let mut versions = Vec::new();
            for row in client.query(&query, &[]).await.map_err(query_err)? {
                let version: String = row.get(0);
                if !row.get::<_, bool>(1) {
                    return Err(dirty(version, state, fix));
                }
                versions.push(version);
            }
            versions
        }
        (Tool::Goose, None) => {
            // An append-only log in older goose (a down adds a row with is_applied =
            // false), deleted rows in newer goose: replaying it in order covers both.
            let rows = client
                .query(
                    &format!("SELECT version_id::text, is_applied FROM {qualified} ORDER BY id"),
                    &[],
                )
                .await
                .map_err(query_err)?;
            let mut versions: Vec<String> = Vec::new();
            for row in rows {
                let version: String = row.get(0);
                if version == "0" {
                    continue; // goose's own first row
                }
                versions.retain(|v| *v != version);
                if row.get::<_, bool>(1) {
                    versions.push(version);
                }
            }
            versions
        }
        (_, None) => {
            // Flyway: a log by installed_rank, with baselines and (Teams) undos.
            let rows = client
                .query(
                    &format!(
                        "SELECT version::text, type::text, success FROM {qualified} \
                         ORDER BY installed_rank"
                    ),
                    &[],
                )
                .await
                .map_err(query_err)?;
            let mut versions: Vec<String> = Vec::new();
            for row in rows {
                let version: Option<String> = row.get(0);
                let kind: String = row.get(1);
                let Some(version) = version else {
                    continue; // a repeatable migration
                };
                if !row.get::<_, bool>(2) {
                    return Err(dirty(
                        version,
                        "failed (success = false)",
                        "fix the database by hand, then `flyway repair`",
                    ));
                }
                match kind.as_str() {
                    "BASELINE" => baseline = Some(version),
                    "SCHEMA" | "DELETE" => {}
                    k if k.starts_with("UNDO_") => versions.retain(|v| *v != version),
                    _ => versions.push(version),
                }
            }
            versions
        }
    };
    if applied.is_empty() && baseline.is_none() {
        return Err(AppliedError::NothingApplied { table });
    }
    Ok(ToolState {
        table,
        applied,
        baseline,
    })
}

/// The retort revisions to stamp: those imported from the versions `state` says the
/// database is at (Alembic: one per head; the others: the highest applied version, after
/// checking that every imported version below it is applied too), each with the tool's
/// version it comes from.
pub fn revisions_at(
    graph: &RevisionGraph,
    tool: Tool,
    state: &ToolState,
) -> Result<Vec<(String, RevisionId)>, AppliedError> {
    let imported: Vec<(&str, &RevisionId)> = graph
        .revisions()
        .iter()
        .filter_map(|r| {
            r.source
                .as_ref()
                .filter(|s| s.tool == tool.name())
                .map(|s| (s.id.as_str(), &r.id))
        })
        .collect();
    if imported.is_empty() {
        return Err(AppliedError::NoImportedRevisions { tool });
    }
    let table = || state.table.clone();
    if !tool.has_numeric_versions() {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for head in &state.applied {
            match imported.iter().find(|(id, _)| id == head) {
                Some((id, rev)) => found.push(((*id).to_owned(), (*rev).clone())),
                None => missing.push(head.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(AppliedError::NotImported {
                tool,
                table: table(),
                versions: missing.join(", "),
            });
        }
        return Ok(found);
    }

    let key = |text: &str| {
        VersionKey::parse(tool, text).ok_or_else(|| AppliedError::BadVersion {
            tool,
            table: table(),
            value: text.to_owned(),
        })
    };
    let mut chain: BTreeMap<VersionKey, (&str, &RevisionId)> = BTreeMap::new();
    for (id, rev) in &imported {
        if let Some(k) = VersionKey::parse(tool, id) {
            chain.insert(k, (id, rev));
        }
    }
    let mut applied = BTreeMap::new();
    for version in &state.applied {
        applied.insert(key(version)?, version.clone());
    }
    let baseline = state.baseline.as_deref().map(key).transpose()?;
    let not_imported: Vec<String> = applied
        .iter()
        .filter(|(k, _)| !chain.contains_key(*k))
        .map(|(_, v)| v.clone())
        .collect();
    if !not_imported.is_empty() {
        return Err(AppliedError::NotImported {
            tool,
            table: table(),
            versions: not_imported.join(", "),
        });
    }
    let current = match (applied.keys().next_back(), &baseline) {
        (Some(top), Some(b)) if top < b => b.clone(),
        (Some(top), _) => top.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) => return Err(AppliedError::NothingApplied { table: table() }),
    };
    let Some((current_id, current_rev)) = chain.get(&current) else {
        return Err(AppliedError::NotImported {
            tool,
            table: table(),
            versions: state.baseline.clone().unwrap_or_default(),
        });
    };
    // golang-migrate keeps one row, the current version: what comes before it is implied.
    let missing: Vec<&str> = chain
        .range(..=current.clone())
        .filter(|(k, _)| {
            tool != Tool::GolangMigrate
                && !applied.contains_key(*k)
                && baseline.as_ref().is_none_or(|b| *k > b)
        })
        .map(|(_, (id, _))| *id)
        .collect();
    if !missing.is_empty() {
        return Err(AppliedError::Gap {
            tool,
            table: table(),
            current: (*current_id).to_owned(),
            missing: missing.join(", "),
        });
    }
    Ok(vec![((*current_id).to_owned(), (*current_rev).clone())])
}
