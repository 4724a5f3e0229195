//! Declarative models: `models/*.sql`, plain PostgreSQL DDL describing the schema the
//! application wants, loaded into a (scratch) database in lexical file order so the
//! catalog can read them back as a [`crate::catalog::Schema`].
//!
//! Statements run one by one (pipelined), so the first failing one is reported at its
//! file, line and column with PostgreSQL's message, as revision errors are.

use std::fmt;
use std::path::{Path, PathBuf};

use futures_util::future::join_all;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::Client;

use crate::db::{describe_pg_error, split, write_caret};

#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("cannot read the models in {}: {source}", dir.display())]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} holds no .sql files; put the desired schema there as CREATE statements \
         (`retort init` writes an example), or point retort.toml's `models` at them",
        dir.display()
    )]
    Empty { dir: PathBuf },
    #[error("{0}")]
    Statement(Box<ModelFailure>),
    #[error("loading the models failed: {0}")]
    Query(String),
}

impl ModelsError {
    /// 2 for a problem in the files (a bad statement included), 3 for the database.
    pub fn exit_code(&self) -> u8 {
        match self {
            ModelsError::Query(_) => 3,
            _ => 2,
        }
    }
}

/// A model statement PostgreSQL rejected, located in its file.
#[derive(Debug)]
pub struct ModelFailure {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub line_text: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl fmt::Display for ModelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: this model statement failed",
            self.path.display(),
            self.line,
            self.column
        )?;
        writeln!(f, "  ERROR {}: {}", self.code, self.message)?;
        write_caret(f, self.line, &self.line_text, self.column)?;
        if let Some(detail) = &self.detail {
            write!(f, "\n  detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        write!(
            f,
            "\nmodels are loaded in file-name order: a statement may only use what earlier \
             files and statements created"
        )
    }
}

/// The model files of `dir`, in lexical order.
pub fn model_files(dir: &Path) -> Result<Vec<PathBuf>, ModelsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ModelsError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ModelsError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "sql") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(ModelsError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// What was loaded.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub files: usize,
    pub statements: usize,
}

/// Runs every statement of the models in `dir` on `client`.
pub async fn load(dir: &Path, client: &Client) -> Result<Loaded, ModelsError> {
    let files = model_files(dir)?;
    let mut loaded = Loaded::default();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Read {
            path: path.clone(),
            source,
        })?;
        // Pipelined: sent together, executed in order, one round trip per file instead
        // of per statement (11,000 statements for a 5,000-table model). Statements after
        // a failing one still run, but only the first failure is reported, and the
        // database is a scratch one.
        let statements = split::split(&text);
        let results = join_all(statements.iter().map(|s| client.batch_execute(s.sql))).await;
        for (statement, result) in statements.iter().zip(results) {
            result.map_err(|e| locate(path, &text, statement, e))?;
        }
        loaded.statements += statements.len();
        loaded.files += 1;
    }
    Ok(loaded)
}

fn locate(
    path: &Path,
    text: &str,
    statement: &split::Statement<'_>,
    error: tokio_postgres::Error,
) -> ModelsError {
    let Some(db) = error.as_db_error() else {
        return ModelsError::Query(describe_pg_error(&error));
    };
    let within = match db.position() {
        Some(ErrorPosition::Original(position)) => {
            split::char_position_to_byte(statement.sql, *position)
        }
        _ => 0,
    };
    let (line, column) = split::line_column(text, statement.offset + within);
    ModelsError::Statement(Box::new(ModelFailure {
        path: path.to_path_buf(),
        line,
        column,
        line_text: text.split('\n').nth(line - 1).unwrap_or("").to_owned(),
        code: db.code().code().to_owned(),
        message: db.message().to_owned(),
        detail: db.detail().map(str::to_owned),
        hint: db.hint().map(str::to_owned),
    }))
}
