//! `retort import TOOL SOURCE` and `stamp --from-tool TOOL`: moving from Alembic, Flyway,
//! dbmate, golang-migrate, goose or sqlx with the history and the databases one has.

use std::path::{Path, PathBuf};

use super::online::{runtime, target, DbArgs};
use super::Output;
use super::{EXIT_CHECK_FAILED, EXIT_OK};
use crate::config::Config;
use crate::import::{self, alembic, applied, sql_files, ForeignHistory, Tool};
use crate::Migrator;

/// Converts the history at `source` into revision files in `versions`.
pub(super) fn import(
    out: &Output,
    versions: &Path,
    tool: Tool,
    source: &Path,
    python: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let history = read_history(tool, source, python)?;
    let written = import::write(versions, &history)?;
    let incomplete = written.iter().filter(|w| w.incomplete).count();
    if out.json {
        let revisions: Vec<_> = written
            .iter()
            .map(|w| {
                serde_json::json!({
                    "source": w.source,
                    "revision": w.id.as_str(),
                    "path": w.path,
                    "incomplete": w.incomplete,
                })
            })
            .collect();
        let notes: Vec<_> = history
            .notes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "origin": n.origin,
                    "line": n.line,
                    "message": n.message,
                    "blocking": n.blocking,
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({ "tool": tool.name(), "revisions": revisions, "notes": notes })
        );
    } else {
        if !out.quiet {
            for w in &written {
                let mark = if w.incomplete {
                    "  (NOT CONVERTED: see below)"
                } else {
                    ""
                };
                outln!("{tool} {} -> {}{mark}", w.source, w.path.display());
            }
        }
        for note in &history.notes {
            let kind = if note.blocking {
                "not converted"
            } else {
                "note"
            };
            eprintln!("{kind}: {note}");
        }
        eprintln!(
            "imported {} {tool} revision(s) into {}{}",
            written.len(),
            versions.display(),
            if incomplete > 0 {
                format!(
                    "; {incomplete} could not be converted fully: each refuses to run (a DO block \
                     raising an error) until its SQL is written by hand"
                )
            } else {
                String::new()
            }
        );
        if !out.quiet {
            eprintln!(
                "next: run `retort stamp --from-tool {tool}` against each database {tool} \
                 manages (it reads {} and records the matching revision; {tool}'s table is \
                 left as it is)",
                tool.version_table()
            );
        }
    }
    Ok(if incomplete > 0 {
        EXIT_CHECK_FAILED
    } else {
        EXIT_OK
    })
}

fn read_history(
    tool: Tool,
    source: &Path,
    python: Option<PathBuf>,
) -> anyhow::Result<ForeignHistory> {
    if tool == Tool::Alembic {
        let python = python.unwrap_or_else(alembic::default_python);
        return Ok(alembic::read(source, &python)?);
    }
    if python.is_some() {
        anyhow::bail!("--python is for `import alembic` only; {tool} histories are SQL files");
    }
    if !source.is_dir() {
        anyhow::bail!(
            "{} is not a directory; give the directory that holds the {tool} migration files",
            source.display()
        );
    }
    let files = import::read_dir(source)?;
    match sql_files::read(tool, source, &files) {
        Some(history) => Ok(history?),
        None => anyhow::bail!("{tool} is not a SQL-file tool"),
    }
}

/// What `stamp --from-tool` records: the revision ids (comma-separated) imported from the
/// versions the tool's table says the database is at, and that table (left out of the
/// schema check: the chain does not create it).
pub(super) struct FromTool {
    pub revisions: String,
    pub table: (String, String),
}

/// Reads `tool`'s version table and finds the imported revisions it corresponds to.
pub(super) fn revisions_from_tool(
    out: &Output,
    config: &Config,
    versions: &Path,
    args: &DbArgs,
    tool: Tool,
    table: Option<&str>,
) -> anyhow::Result<FromTool> {
    let migrator = Migrator::open(versions)?;
    let target = target(config, args)?;
    let state = runtime()?.block_on(async {
        let client = target.conn.connect("retort stamp").await?;
        let table = applied::find_table(&client, tool, table).await?;
        anyhow::Ok(applied::read_state(&client, tool, table).await?)
    })?;
    let revisions = applied::revisions_at(migrator.graph(), tool, &state)?;
    if !out.quiet && !out.json {
        let matched: Vec<String> = revisions
            .iter()
            .map(|(version, id)| format!("{tool} {version} = {id}"))
            .collect();
        eprintln!(
            "{} in {} is at {}",
            state.table,
            target.conn.describe(),
            matched.join(", ")
        );
    }
    Ok(FromTool {
        revisions: revisions
            .iter()
            .map(|(_, id)| id.as_str())
            .collect::<Vec<_>>()
            .join(","),
        table: (state.table.schema, state.table.name),
    })
}
