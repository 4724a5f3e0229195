//! Other tools' migration histories turned into retort revisions.
//!
//! An importer reads a history (Alembic's script directory, or the SQL files of Flyway,
//! dbmate, golang-migrate, goose and sqlx) into a [`ForeignHistory`]: every revision
//! with its own id, its parents and both directions' SQL, plus a note for everything
//! that could not be converted. [`write`](fn@write) then gives each one a retort id and
//! writes the chain and its `retort.sum`. The tool's id is kept in each file's
//! `-- source:` header, which is how `stamp --from-tool` finds the revision a database
//! is at.

pub mod alembic;
pub mod applied;
pub mod sql_files;
pub mod version;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};

pub use write::{write, WriteError, Written};

/// A migration tool whose history retort imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// Alembic (Python revisions, rendered to SQL offline by Alembic itself).
    Alembic,
    /// Flyway (`V<version>__<description>.sql`).
    Flyway,
    /// dbmate (`<version>_<name>.sql` with `-- migrate:up`/`-- migrate:down`).
    Dbmate,
    /// golang-migrate (`<version>_<title>.up.sql` and `.down.sql`).
    GolangMigrate,
    /// goose (`<version>_<name>.sql` with `-- +goose Up`/`Down`).
    Goose,
    /// sqlx (`<version>_<description>.sql`, or `.up.sql` and `.down.sql`).
    Sqlx,
}

impl Tool {
    /// Every tool, in the order the help lists them.
    pub const ALL: [Tool; 6] = [
        Tool::Alembic,
        Tool::Flyway,
        Tool::Dbmate,
        Tool::GolangMigrate,
        Tool::Goose,
        Tool::Sqlx,
    ];

    /// The name used on the command line and in `-- source:` headers.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Alembic => "alembic",
            Tool::Flyway => "flyway",
            Tool::Dbmate => "dbmate",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Goose => "goose",
            Tool::Sqlx => "sqlx",
        }
    }

    /// The tool whose [`name`](Self::name) is `name`; `None` for any other spelling.
    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The table in which the tool records what it applied (its default name).
    pub fn version_table(self) -> &'static str {
        match self {
            Tool::Alembic => "alembic_version",
            Tool::Flyway => "flyway_schema_history",
            Tool::Dbmate | Tool::GolangMigrate => "schema_migrations",
            Tool::Goose => "goose_db_version",
            Tool::Sqlx => "_sqlx_migrations",
        }
    }

    /// Whether the tool's ids are versions compared as numbers (all but Alembic's
    /// random hex ids): `0042` in a file name is `42` in the version table.
    pub fn has_numeric_versions(self) -> bool {
        !matches!(self, Tool::Alembic)
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A history as another tool keeps it, in an order where parents come first.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignHistory {
    /// The tool the history is in.
    pub tool: Tool,
    /// Every revision, parents before children.
    pub revisions: Vec<ForeignRevision>,
    /// What could not be converted, for a person to look at.
    pub notes: Vec<Note>,
}

/// One revision of the other tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignRevision {
    /// The tool's own id, as its files name it: `451aebb31d03`, `1.2`, `20230101120000`.
    pub id: String,
    /// Ids (of this history) of the parents: none for a root, two or more for a merge.
    pub parents: Vec<String>,
    /// Ids that must be applied first without being parents (Alembic's `depends_on`).
    pub depends_on: Vec<String>,
    /// Alembic's `branch_labels`; empty for the SQL-file tools.
    pub branch_labels: Vec<String>,
    /// The revision's description: Alembic's docstring, or the file name's description with
    /// `_` as spaces (`<tool> <id>` when it has none).
    pub message: String,
    /// The SQL that applies the revision; empty when it could not be converted (see a
    /// blocking [`Note`]).
    pub upgrade: ForeignScript,
    /// `None`: the tool has no way back from this revision (irreversible).
    pub downgrade: Option<ForeignScript>,
    /// The file (or files) it came from, for notes and errors.
    pub origin: String,
}

/// The SQL of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignScript {
    /// The direction's SQL, as the tool would run it (for Alembic, as rendered offline).
    pub sql: String,
    /// `false` when the tool runs it outside a transaction.
    pub transactional: bool,
}

/// Something the import could not convert, or converted with a caveat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// File (relative to the source) or revision id it is about.
    pub origin: String,
    /// 1-based line in `origin`, when known.
    pub line: Option<usize>,
    /// What was not converted, or the caveat.
    pub message: String,
    /// `true` when the revision's SQL is incomplete: the written revision refuses to run
    /// until a person writes what is missing.
    pub blocking: bool,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

/// A file of a SQL-file tool's migration directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the directory given, with `/` separators.
    pub name: String,
    /// The file's full text.
    pub text: String,
}

/// Why a history could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A directory or file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A `.sql` file is not UTF-8.
    #[error("{}: {name} is not UTF-8 text; save it as UTF-8", dir.display())]
    NotUtf8 {
        /// The migration directory given.
        dir: PathBuf,
        /// The file, relative to `dir`.
        name: String,
    },
    /// No migration of the tool was found in the directory.
    #[error("no {tool} migrations in {}: {hint}", dir.display())]
    Empty {
        /// The tool whose migrations were looked for.
        tool: Tool,
        /// The directory searched.
        dir: PathBuf,
        /// How that tool names its migration files.
        hint: &'static str,
    },
    /// Two files define the same version.
    #[error("{tool} version {version} is defined twice: {first} and {second}; the tool itself refuses such a directory, keep one")]
    DuplicateVersion {
        /// The tool.
        tool: Tool,
        /// The version both files define.
        version: String,
        /// The first file (relative name).
        first: String,
        /// The second file (relative name).
        second: String,
    },
    /// A migration file the tool itself would refuse (e.g. a goose annotation out of
    /// place).
    #[error("{file}:{line}: {message}")]
    Malformed {
        /// The file, relative to the migration directory.
        file: String,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads every regular file under `dir` (recursively; hidden entries skipped), sorted by
/// name. A `.sql` file that is not UTF-8 is an error; other binary files are skipped.
pub fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, ImportError> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        let entries = std::fs::read_dir(&here).map_err(|source| ImportError::Read {
            path: here.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ImportError::Read {
                path: here.clone(),
                source,
            })?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let rel = relative.join(name);
            let file_type = entry.file_type().map_err(|source| ImportError::Read {
                path: path.clone(),
                source,
            })?;
            if file_type.is_dir() {
                pending.push(rel);
            } else if file_type.is_file() || file_type.is_symlink() {
                let bytes = std::fs::read(&path).map_err(|source| ImportError::Read {
                    path: path.clone(),
                    source,
                })?;
                let rel_name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                // Only SQL must be text; a stray image or archive beside it is skipped.
                let text = match String::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(_) if rel_name.ends_with(".sql") => {
                        return Err(ImportError::NotUtf8 {
                            dir: dir.to_owned(),
                            name: rel_name,
                        })
                    }
                    Err(_) => continue,
                };
                files.push(SourceFile {
                    name: rel_name,
                    text,
                });
            }
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}
