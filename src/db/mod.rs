//! Everything that talks to PostgreSQL: connecting (URL, libpq environment, TLS), the
//! version tables, the session lock and running revision SQL.

pub mod batch_state;
pub mod blockers;
pub mod connect;
pub mod session;
pub mod version;

use std::fmt;
use std::path::PathBuf;

pub use batch_state::BatchProgress;
pub use blockers::Blocker;
pub use connect::{ConnInfo, ConnectError};
pub use session::{Piece, Session};
pub use version::{VersionRow, VersionTables};

/// A failed statement of a revision file, located in the file.
#[derive(Debug)]
pub struct StatementFailure {
    /// The revision's id.
    pub revision: String,
    /// Which section of the revision was running.
    pub direction: crate::revision::Direction,
    /// The revision file.
    pub path: PathBuf,
    /// 1-based line in the file of PostgreSQL's error position (the statement's start when
    /// it gives none).
    pub line: usize,
    /// 1-based column of that position, in characters.
    pub column: usize,
    /// The file's line at `line`, for the caret display.
    pub line_text: String,
    /// The SQLSTATE (e.g. `42P01`).
    pub code: String,
    /// PostgreSQL's primary message.
    pub message: String,
    /// PostgreSQL's DETAIL, if it sent one.
    pub detail: Option<String>,
    /// PostgreSQL's HINT, if it sent one.
    pub hint: Option<String>,
    /// PostgreSQL's CONTEXT (where in a function or `DO` block), if it sent one.
    pub context: Option<String>,
    /// Whether the section ran in a transaction, so nothing of it was kept; `false` for
    /// `transaction:false`, which leaves the database dirty.
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
        match (self.transactional, server_gone(&self.code)) {
            (true, true) => write!(
                f,
                "\nthe server closed the connection (shut down, crashed or cut off): the \
                 revision's transaction never committed, so nothing of it was kept. Run again \
                 once the server accepts connections; the revisions recorded before it are not \
                 run again"
            ),
            (false, true) => write!(
                f,
                "\nthe server closed the connection during a section that runs outside a \
                 transaction (transaction:false): the statements before this one stay applied \
                 and the version table marks the revision dirty. Once the server is back, check \
                 which of the section's statements took effect, run `retort resolve \
                 --completed` or `retort resolve --reverted`, then run again"
            ),
            (true, false) => write!(
                f,
                "\nthe revision was rolled back: nothing of it was kept. Fix the file and run again"
            ),
            (false, false) => write!(
                f,
                "\nthis section runs outside a transaction (transaction:false), so the statements \
                 before this one stay applied and the database is marked dirty. Repair it by hand, \
                 then run `retort resolve --completed` or `retort resolve --reverted`"
            ),
        }
    }
}

/// SQLSTATEs of a server that went away: connection exceptions (class 08) and the
/// shutdown / crash / not-yet-ready codes 57P01-57P03.
pub fn server_gone(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
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

/// Why talking to the database failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be opened.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A statement of retort's own failed (not one of a revision file).
    #[error("could not {action}: {}", describe_pg_error(.source))]
    Query {
        /// What retort was doing, phrased to follow "could not" (`take the advisory lock`).
        action: String,
        /// The client or server error.
        source: tokio_postgres::Error,
    },
    /// A statement of a revision file failed; located in the file.
    #[error("{0}")]
    Statement(Box<StatementFailure>),
    /// Another session held the advisory lock of the version table longer than the lock
    /// wait.
    #[error(
        "another retort run holds the lock on {table} ({holder}); waited {waited}. \
         Wait for it to finish, or raise --lock-timeout"
    )]
    LockTimeout {
        /// The version table, `schema.table`.
        table: String,
        /// Who holds the lock: pid, user, host, application and connection time, from
        /// `pg_stat_activity`.
        holder: String,
        /// How long this run waited, e.g. `60s`.
        waited: String,
    },
    /// The connection closed under a statement.
    #[error(
        "the connection to the database was lost (could not {action}): {source}. A revision \
         commits together with its version row, so the database holds it whole or not at all: \
         once the server accepts connections, `retort current` shows where it stands, and \
         running again goes on from there"
    )]
    Lost {
        /// What retort was doing, phrased to follow "could not".
        action: String,
        /// The client error.
        source: tokio_postgres::Error,
    },
}

impl DbError {
    /// Wraps an error of retort's own statement `action` (phrased to follow "could not"):
    /// [`Lost`](DbError::Lost) when the connection has closed, else
    /// [`Query`](DbError::Query).
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

/// Creates database `name` (from `template0`) on the server `client` is connected to,
/// dropping it first (terminating its sessions) when `replace` is set, and returns the
/// connection info of the new database (`server` with its name). For `restore-dump
/// --into`: a local copy of production, never a database retort picks by itself.
pub async fn create_database(
    client: &tokio_postgres::Client,
    server: &ConnInfo,
    name: &str,
    replace: bool,
) -> Result<ConnInfo, DbError> {
    let quoted = crate::sql::quote_ident(name);
    if replace {
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            .await
            .map_err(|e| DbError::query(&format!("drop database {name}"), e))?;
    }
    client
        .batch_execute(&format!("CREATE DATABASE {quoted} TEMPLATE template0"))
        .await
        .map_err(|e| DbError::query(&format!("create database {name}"), e))?;
    Ok(server.with_dbname(name))
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
