//! Everything that talks to PostgreSQL: connecting (URL, libpq environment, TLS), the
//! version tables, the session lock and running revision SQL.

pub mod connect;
pub mod session;
pub mod version;

use std::fmt;
use std::path::PathBuf;

pub use connect::{ConnInfo, ConnectError};
pub use session::{Piece, Session};
pub use version::{VersionRow, VersionTables};

/// A failed statement of a revision file, located in the file.
#[derive(Debug)]
pub struct StatementFailure {
    pub revision: String,
    pub direction: crate::revision::Direction,
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The file's line at `line`, for the caret display.
    pub line_text: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub context: Option<String>,
    pub transactional: bool,
}

impl fmt::Display for StatementFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: {} of {} failed",
            self.path.display(),
            self.line,
            self.column,
            self.direction,
            self.revision
        )?;
        writeln!(f, "  ERROR {}: {}", self.code, self.message)?;
        write_caret(f, self.line, &self.line_text, self.column)?;
        if let Some(detail) = &self.detail {
            write!(f, "\n  detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        if let Some(context) = &self.context {
            write!(f, "\n  context: {}", context.replace('\n', "\n    "))?;
        }
        if self.transactional {
            write!(
                f,
                "\nthe revision was rolled back: nothing of it was kept. Fix the file and run again"
            )
        } else {
            write!(
                f,
                "\nthis section runs outside a transaction (transaction:false), so the statements \
                 before this one stay applied and the database is marked dirty. Repair it by hand, \
                 then run `retort resolve --completed` or `retort resolve --reverted`"
            )
        }
    }
}

/// Writes `  N | the line` and a caret under `column` (1-based, in characters).
pub fn write_caret(
    f: &mut fmt::Formatter<'_>,
    line: usize,
    line_text: &str,
    column: usize,
) -> fmt::Result {
    let number = line.to_string();
    writeln!(f, "  {number} | {line_text}")?;
    // Tabs stay tabs so the caret lines up however the terminal expands them.
    let pad: String = line_text
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    write!(f, "  {} | {pad}^", " ".repeat(number.len()))
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("could not {action}: {}", describe_pg_error(.source))]
    Query {
        action: String,
        source: tokio_postgres::Error,
    },
    #[error("{0}")]
    Statement(Box<StatementFailure>),
    #[error(
        "another retort run holds the lock on {table} ({holder}); waited {waited}. \
         Wait for it to finish, or raise --lock-timeout"
    )]
    LockTimeout {
        table: String,
        holder: String,
        waited: String,
    },
    #[error("the connection to the database was lost while {action}: {source}")]
    Lost {
        action: String,
        source: tokio_postgres::Error,
    },
}

impl DbError {
    pub fn query(action: &str, source: tokio_postgres::Error) -> DbError {
        if source.is_closed() {
            return DbError::Lost {
                action: action.to_owned(),
                source,
            };
        }
        DbError::Query {
            action: action.to_owned(),
            source,
        }
    }

    /// The process exit code ARCHITECTURE.md assigns.
    pub fn exit_code(&self) -> u8 {
        match self {
            DbError::LockTimeout { .. } => 4,
            DbError::Connect(e) if e.is_settings_error() => 2,
            _ => 3,
        }
    }
}

/// PostgreSQL's code, message, detail and hint of an error, or the client error.
pub fn describe_pg_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("ERROR {}: {}", db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => error.to_string(),
    }
}
