//! Alembic histories: the revision graph and each step's SQL, rendered offline by Alembic
//! itself in the user's own Python environment.
//!
//! An Alembic revision is Python, so its SQL only exists once Alembic runs it. Offline
//! mode (`alembic upgrade A:B --sql`) renders it without a database, through the
//! project's own `env.py`; a small helper (`alembic_helper.py`, run with the user's
//! interpreter) does that for every revision in both directions in one process, and
//! reports a step that cannot render offline (one that reads data, say) instead of
//! stopping. Nothing is imported from the project into retort's process.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::{ForeignHistory, ForeignRevision, ForeignScript, Note, Tool};

const HELPER: &str = include_str!("alembic_helper.py");

/// Why an Alembic history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AlembicError {
    /// The path given is not an `alembic.ini`, a directory holding one, or a script
    /// directory with `env.py`.
    #[error("{} is not an Alembic project; give its alembic.ini, the directory holding alembic.ini, or the script directory (the one with env.py)", path.display())]
    NoConfig {
        /// The path given.
        path: PathBuf,
    },
    /// The Python interpreter could not be started.
    #[error("cannot run {python}: {source}; give the interpreter of the environment where `alembic` works with --python (e.g. .venv/bin/python)")]
    Python {
        /// The interpreter, as given.
        python: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The interpreter cannot import `alembic`.
    #[error("{message}; give the interpreter of the environment where `alembic` works with --python (e.g. .venv/bin/python)")]
    NoAlembic {
        /// The helper's message, naming the interpreter and the import error.
        message: String,
    },
    /// The helper exited with an error while Alembic read the history.
    #[error("Alembic could not read the history of {} ({python} exited with {status}):\n{stderr}", config.display())]
    Failed {
        /// The `alembic.ini` (or script directory), canonicalized.
        config: PathBuf,
        /// The interpreter, as given.
        python: String,
        /// The helper's exit status.
        status: String,
        /// The last 30 lines of its standard error.
        stderr: String,
    },
    /// The helper's output is not the JSON expected (the serde error).
    #[error("the Alembic helper's output does not parse ({0}); please report this with your Alembic version")]
    Output(String),
    /// Alembic found no revision.
    #[error("{} holds no Alembic revisions", config.display())]
    Empty {
        /// The `alembic.ini` (or script directory), canonicalized.
        config: PathBuf,
    },
}

#[derive(Deserialize)]
struct Output {
    revisions: Vec<RawRevision>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct RawRevision {
    id: String,
    parents: Vec<String>,
    depends_on: Vec<String>,
    branch_labels: Vec<String>,
    message: String,
    path: String,
    upgrade: Rendered,
    downgrade: Rendered,
}

#[derive(Deserialize)]
struct Rendered {
    ok: bool,
    #[serde(default)]
    chunks: Vec<String>,
    #[serde(default)]
    error: Option<String>,
    /// Line of the revision file where rendering failed.
    #[serde(default)]
    line: Option<usize>,
}

/// What `source` names: an `alembic.ini`, a directory holding one, or a bare script
/// directory (`env.py` and `versions/`, as packages ship them).
pub fn config_path(source: &Path) -> Result<PathBuf, AlembicError> {
    if source.is_file() {
        return Ok(source.to_owned());
    }
    if source.is_dir() {
        let ini = source.join("alembic.ini");
        if ini.is_file() {
            return Ok(ini);
        }
        if source.join("env.py").is_file() {
            return Ok(source.to_owned());
        }
    }
    Err(AlembicError::NoConfig {
        path: source.to_owned(),
    })
}

/// The interpreter to run Alembic with when none is given: the active virtualenv's, else
/// `python3` on PATH.
pub fn default_python() -> PathBuf {
    match std::env::var_os("VIRTUAL_ENV") {
        Some(venv) if !venv.is_empty() => Path::new(&venv).join("bin").join("python"),
        _ => PathBuf::from("python3"),
    }
}

/// Reads the history of the Alembic project configured by `config` (an `alembic.ini`),
/// running its `env.py` offline with `python`. Runs in the directory of the ini file, as
/// `alembic` is usually run, so `prepend_sys_path` and relative paths resolve.
pub fn read(config: &Path, python: &Path) -> Result<ForeignHistory, AlembicError> {
    let config = config_path(config)?;
    let config = std::fs::canonicalize(&config).unwrap_or(config);
    let dir = if config.is_dir() {
        config.clone()
    } else {
        config.parent().unwrap_or(Path::new(".")).to_owned()
    };
    let python_name = python.display().to_string();
    let run = Command::new(python)
        .arg("-c")
        .arg(HELPER)
        .arg(&config)
        .current_dir(&dir)
        .output()
        .map_err(|source| AlembicError::Python {
            python: python_name.clone(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() {
        return Err(AlembicError::Failed {
            config,
            python: python_name,
            status: run.status.to_string(),
            stderr: crate::scratch::tail(&stderr, 30),
        });
    }
    let output: Output =
        serde_json::from_slice(&run.stdout).map_err(|e| AlembicError::Output(e.to_string()))?;
    if let Some(message) = output.error {
        return Err(AlembicError::NoAlembic { message });
    }
    if output.revisions.is_empty() {
        return Err(AlembicError::Empty { config });
    }
    Ok(convert(output.revisions, &dir))
}

fn convert(raw: Vec<RawRevision>, dir: &Path) -> ForeignHistory {
    let mut notes = Vec::new();
    let mut revisions = Vec::with_capacity(raw.len());
    for r in raw {
        let origin = Path::new(&r.path)
            .strip_prefix(dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| r.path.clone());
        let upgrade = match script(&r.upgrade) {
            Ok(script) => script,
            Err(error) => {
                notes.push(Note {
                    origin: origin.clone(),
                    line: r.upgrade.line,
                    message: format!(
                        "alembic {}: upgrade() cannot be rendered offline ({error}); its SQL is missing",
                        r.id
                    ),
                    blocking: true,
                });
                ForeignScript {
                    sql: String::new(),
                    transactional: true,
                }
            }
        };
        let downgrade = match script(&r.downgrade) {
            Ok(script) => Some(script),
            Err(error) => {
                notes.push(Note {
                    origin: origin.clone(),
                    line: r.downgrade.line,
                    message: format!(
                        "alembic {}: downgrade() cannot be rendered offline ({error}); imported as irreversible (no downgrade section)",
                        r.id
                    ),
                    blocking: false,
                });
                None
            }
        };
        revisions.push(ForeignRevision {
            id: r.id,
            parents: r.parents,
            depends_on: r.depends_on,
            branch_labels: r.branch_labels,
            message: r.message,
            upgrade,
            downgrade,
            origin,
        });
    }
    ForeignHistory {
        tool: Tool::Alembic,
        revisions,
        notes,
    }
}

/// One direction's SQL from the statements Alembic emitted. A COMMIT/BEGIN inside the
/// step is an `autocommit_block()`: the section runs outside a transaction instead.
fn script(rendered: &Rendered) -> Result<ForeignScript, String> {
    if !rendered.ok {
        return Err(rendered
            .error
            .clone()
            .unwrap_or_else(|| "no reason given".to_owned()));
    }
    let mut transactional = true;
    let mut statements = Vec::new();
    for chunk in &rendered.chunks {
        let statement = chunk.trim().trim_end_matches(';').trim_end();
        match statement.to_ascii_uppercase().as_str() {
            "COMMIT" | "BEGIN" => transactional = false,
            "" => {}
            _ => statements.push(format!("{statement};")),
        }
    }
    Ok(ForeignScript {
        sql: statements.join("\n\n"),
        transactional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(chunks: &[&str]) -> Rendered {
        Rendered {
            ok: true,
            chunks: chunks.iter().map(|c| (*c).to_owned()).collect(),
            error: None,
            line: None,
        }
    }

    #[test]
    fn an_autocommit_block_makes_the_section_non_transactional() {
        let s = script(&rendered(&[
            "CREATE TABLE t (id int);",
            "COMMIT;",
            "CREATE INDEX CONCURRENTLY i ON t (id);",
            "BEGIN;",
        ]))
        .expect("ok");
        assert!(!s.transactional);
        assert_eq!(
            s.sql,
            "CREATE TABLE t (id int);\n\nCREATE INDEX CONCURRENTLY i ON t (id);"
        );
    }

    #[test]
    fn a_doubled_terminator_is_written_once() {
        let s = script(&rendered(&["UPDATE t SET a = 1;;"])).expect("ok");
        assert!(s.transactional);
        assert_eq!(s.sql, "UPDATE t SET a = 1;");
    }

    #[test]
    fn a_step_that_cannot_render_is_a_blocking_note_and_its_downgrade_irreversible() {
        let failed = Rendered {
            ok: false,
            chunks: Vec::new(),
            error: Some("AttributeError: 'NoneType' object has no attribute 'fetchall'".into()),
            line: Some(20),
        };
        let history = convert(
            vec![RawRevision {
                id: "abc123def456".into(),
                parents: vec![],
                depends_on: vec![],
                branch_labels: vec![],
                message: "data".into(),
                path: "/p/migrations/versions/abc.py".into(),
                upgrade: failed,
                downgrade: Rendered {
                    ok: false,
                    chunks: vec![],
                    error: None,
                    line: None,
                },
            }],
            Path::new("/p"),
        );
        assert_eq!(history.revisions[0].origin, "migrations/versions/abc.py");
        assert!(history.revisions[0].downgrade.is_none());
        assert_eq!(history.notes.len(), 2);
        assert!(history.notes[0].blocking && history.notes[0].message.contains("fetchall"));
        assert_eq!(history.notes[0].line, Some(20));
        assert_eq!(history.notes[0].origin, "migrations/versions/abc.py");
        assert!(!history.notes[1].blocking);
    }
}
