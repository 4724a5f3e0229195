//! One connection to the target database for the length of a run: the advisory lock,
//! the version tables, and sending SQL so that a failure points at its file and line.
//!
//! A transactional step goes to the server as one pipeline (BEGIN, each statement, the
//! version-table update, COMMIT, all sent before the first answer arrives): one round
//! trip per revision, and still statement by statement, so the first error names the
//! statement that failed. A failed statement aborts the transaction and the pipelined
//! COMMIT then rolls it back, so nothing of the revision is kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::borrow::Cow;

use futures_util::StreamExt as _;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::Client;

use super::version::{self, LatestHistory, VersionRow, VersionTables};
use super::{ConnInfo, DbError, StatementFailure};
use crate::revision::Direction;
use crate::revision::{Revision, Script};
use crate::sql::split;

/// Where a piece of SQL comes from, to say where an error happened.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// retort's own statements (BEGIN, version-table updates, ...).
    Bookkeeping(&'static str),
    /// A statement of a revision file: `offset` is its byte offset in `script.sql`.
    Revision {
        /// The revision.
        revision: &'a Revision,
        /// Which section.
        direction: Direction,
        /// The section's script.
        script: &'a Script,
        /// Byte offset of the statement in `script.sql`.
        offset: usize,
    },
}

/// One statement to send.
#[derive(Debug, Clone)]
pub struct Piece<'a> {
    /// The SQL text sent: borrowed from the revision's section (a file of millions of
    /// statements is not copied), or retort's own.
    pub sql: Cow<'a, str>,
    /// Where it comes from, to locate an error.
    pub origin: Origin<'a>,
}

impl<'a> Piece<'a> {
    /// One of retort's own statements; `what` says what it does, phrased to follow "could
    /// not" (`commit`).
    pub fn bookkeeping(what: &'static str, sql: String) -> Piece<'a> {
        Piece {
            sql: Cow::Owned(sql),
            origin: Origin::Bookkeeping(what),
        }
    }

    /// The statements of one section of a revision.
    pub fn of_script(
        revision: &'a Revision,
        direction: Direction,
        script: &'a Script,
    ) -> impl Iterator<Item = Piece<'a>> + 'a {
        split::split(&script.sql)
            .into_iter()
            .map(move |statement| Piece {
                sql: Cow::Borrowed(statement.sql),
                origin: Origin::Revision {
                    revision,
                    direction,
                    script,
                    offset: statement.offset,
                },
            })
    }
}

/// One batch of a batch section, ready to run.
#[derive(Clone, Copy)]
pub struct BoundBatch<'p, 'a> {
    /// The batch statement, to locate an error.
    pub statement: &'p Piece<'a>,
    /// Its prepared form.
    pub prepared: &'p tokio_postgres::Statement,
    /// The batch's bounds, as the statement's parameters.
    pub params: &'p [&'p (dyn tokio_postgres::types::ToSql + Sync)],
    /// The batch table's update: `$1` = `next`, `$2` = the rows changed, `$3` = `size`,
    /// `$4` = the statement's milliseconds, `$5` = `walked`.
    pub record: &'p Piece<'a>,
    /// The first key of the next batch (`NULL` after the last).
    pub next: &'p (dyn tokio_postgres::types::ToSql + Sync),
    /// The keys the batch walks.
    pub walked: i64,
    /// The batch's size in keys (recorded: a resumed run starts from it).
    pub size: i64,
}

/// How many statements of a transaction are in flight at once.
const PIPELINE_WINDOW: usize = 512;

/// A connection to the target database plus the names of its version tables.
///
/// Either retort opened the connection ([`Session::open`]) or an application lends
/// its own ([`Session::from_client`], e.g. a client borrowed from a pool). Every run
/// of the migrator releases the advisory lock it took before it returns, so a lent
/// connection goes back to its pool holding no lock of retort's.
pub struct Session<'c> {
    client: SessionClient<'c>,
    tables: VersionTables,
    target: String,
    /// Whether this session holds the run's advisory lock (taken by [`Session::lock`],
    /// given back by [`Session::unlock`]).
    locked: AtomicBool,
}

/// The connection of a session: its own, or one lent by the application.
enum SessionClient<'c> {
    Owned(Client),
    Borrowed(&'c Client),
}

impl std::ops::Deref for SessionClient<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        match self {
            SessionClient::Owned(client) => client,
            SessionClient::Borrowed(client) => client,
        }
    }
}

impl Session<'static> {
    /// Connects to `conn` (application_name `retort`).
    pub async fn open(conn: &ConnInfo, tables: VersionTables) -> Result<Session<'static>, DbError> {
        let client = conn.connect("retort").await?;
        Ok(Session {
            client: SessionClient::Owned(client),
            tables,
            target: conn.describe(),
            locked: AtomicBool::new(false),
        })
    }
}

impl<'c> Session<'c> {
    /// A session over an application's own connection, e.g. one borrowed from a pool
    /// (deadpool's and bb8's pooled objects dereference to a [`Client`]). The
    /// connection must not be inside a transaction: each revision runs in its own.
    pub async fn from_client(
        client: &'c Client,
        tables: VersionTables,
    ) -> Result<Session<'c>, DbError> {
        let row = client
            .query_one(
                "SELECT current_user::text, current_database()::text, \
                        coalesce(host(inet_server_addr()), 'local'), \
                        coalesce(inet_server_port(), 0)",
                &[],
            )
            .await
            .map_err(|e| DbError::query("identify the connection", e))?;
        let (user, database, host, port): (String, String, String, i32) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let target = if port == 0 {
            format!("{user}@{host}/{database}")
        } else {
            format!("{user}@{host}:{port}/{database}")
        };
        Ok(Session {
            client: SessionClient::Borrowed(client),
            tables,
            target,
            locked: AtomicBool::new(false),
        })
    }

    /// The connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The names of the version tables this session uses.
    pub fn tables(&self) -> &VersionTables {
        &self.tables
    }

    /// `user@host:port/db`, safe to print.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Takes the run's session-level advisory lock, waiting at most `wait`. When another
    /// session holds it, `on_wait` hears who, once, before the wait starts.
    pub async fn lock(&self, wait: Duration, on_wait: impl FnOnce(&str)) -> Result<(), DbError> {
        let key = self.tables.lock_key();
        let got: bool = self
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
            .map_err(|e| DbError::query("take the advisory lock", e))?
            .get(0);
        if got {
            self.locked.store(true, Ordering::SeqCst);
            return Ok(());
        }
        let holder = self.lock_holder(key).await;
        on_wait(&holder);
        let waited = format!("{}s", wait.as_secs_f64());
        let set = format!("SET lock_timeout = {}", wait.as_millis().max(1));
        self.client
            .batch_execute(&set)
            .await
            .map_err(|e| DbError::query("set lock_timeout", e))?;
        let result = self
            .client
            .query_one("SELECT pg_advisory_lock($1)", &[&key])
            .await;
        self.client
            .batch_execute("RESET lock_timeout")
            .await
            .map_err(|e| DbError::query("reset lock_timeout", e))?;
        match result {
            Ok(_) => {
                self.locked.store(true, Ordering::SeqCst);
                Ok(())
            }
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                Err(DbError::LockTimeout {
                    table: self.tables.describe(),
                    holder: self.lock_holder(key).await,
                    waited,
                })
            }
            Err(e) => Err(DbError::query("take the advisory lock", e)),
        }
    }

    /// Releases the advisory lock when this session holds it (a no-op otherwise). A
    /// closed connection has released it already.
    pub async fn unlock(&self) -> Result<(), DbError> {
        if !self.locked.swap(false, Ordering::SeqCst) || self.client.is_closed() {
            return Ok(());
        }
        self.client
            .query_one("SELECT pg_advisory_unlock($1)", &[&self.tables.lock_key()])
            .await
            .map(|_| ())
            .map_err(|e| DbError::query("release the advisory lock", e))
    }

    /// The backend holding this version table's advisory lock (a run under way), if any.
    pub async fn run_holder_pid(&self) -> Result<Option<i32>, DbError> {
        let row = self
            .client
            .query_opt(
                "SELECT l.pid FROM pg_locks l \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND l.classid = (($1::bigint >> 32) & 4294967295)::bigint::oid \
                   AND l.objid = ($1::bigint & 4294967295)::bigint::oid \
                 LIMIT 1",
                &[&self.tables.lock_key()],
            )
            .await
            .map_err(|e| DbError::query("look for a run holding the lock", e))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Who holds the advisory lock `key`, from pg_locks and pg_stat_activity. Advisory
    /// locks belong to one database: the same key held in another database of the
    /// server (another tenant of a fleet) is not the holder.
    async fn lock_holder(&self, key: i64) -> String {
        // A bigint advisory key is stored as classid = high half, objid = low half.
        let row = self
            .client
            .query_opt(
                "SELECT a.pid, coalesce(a.usename::text, '?'), coalesce(a.application_name, ''), \
                        coalesce(host(a.client_addr), 'local'), \
                        coalesce(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '?') \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND l.classid = (($1::bigint >> 32) & 4294967295)::bigint::oid \
                   AND l.objid = ($1::bigint & 4294967295)::bigint::oid \
                 LIMIT 1",
                &[&key],
            )
            .await;
        match row {
            Ok(Some(row)) => {
                let pid: i32 = row.get(0);
                let user: String = row.get(1);
                let app: String = row.get(2);
                let host: String = row.get(3);
                let since: String = row.get(4);
                format!("held by pid {pid}, {user}@{host} `{app}`, connected since {since}")
            }
            Ok(None) => "held by a session that has just released it".to_owned(),
            Err(e) => format!("holder unknown: {}", super::describe_pg_error(&e)),
        }
    }

    /// Creates the schema and version tables when missing (call with the lock held:
    /// concurrent `CREATE TABLE IF NOT EXISTS` can still collide in PostgreSQL).
    pub async fn ensure_tables(&self) -> Result<(), DbError> {
        let sql = format!(
            "BEGIN;\n{};\nCOMMIT",
            self.tables.create_statements().join(";\n")
        );
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| DbError::query("create the version tables", e))
    }

    /// The version table's rows; `None` when the table does not exist yet.
    pub async fn rows(&self) -> Result<Option<Vec<VersionRow>>, DbError> {
        version::read_rows(&self.client, &self.tables).await
    }

    /// The server's `server_version_num` (e.g. 150004 for 15.4).
    pub async fn server_version(&self) -> Result<i32, DbError> {
        Ok(self
            .client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(|e| DbError::query("read the server version", e))?
            .get(0))
    }

    /// The latest history row of every revision that has one.
    pub async fn latest_history(&self) -> Result<Vec<LatestHistory>, DbError> {
        version::read_latest_history(&self.client, &self.tables).await
    }

    /// Runs `pieces` in one transaction, pipelined; on the first error the transaction
    /// is rolled back and the error is located.
    pub async fn run_in_transaction(&self, pieces: &[Piece<'_>]) -> Result<(), DbError> {
        let begin = Piece::bookkeeping("begin a transaction", "BEGIN".into());
        let commit = Piece::bookkeeping("commit", "COMMIT".into());
        let all: Vec<&Piece<'_>> = std::iter::once(&begin)
            .chain(pieces.iter())
            .chain(std::iter::once(&commit))
            .collect();
        // Pipelined within a window: the round trips overlap, and a section of millions
        // of statements is never encoded and awaited all at once.
        let mut results =
            futures_util::stream::iter(all.iter().map(|p| self.client.batch_execute(&p.sql)))
                .buffered(PIPELINE_WINDOW);
        let mut failed = None;
        let mut index = 0;
        while let Some(result) = results.next().await {
            if let Err(error) = result {
                failed = Some((error, all[index]));
                break;
            }
            index += 1;
        }
        // Statements of the window still in flight are answered and dropped by the
        // connection; what was not sent yet (the COMMIT among them) never is.
        drop(results);
        match failed {
            None => Ok(()),
            Some((error, piece)) => {
                if !error.is_closed() {
                    // The window stopped before the COMMIT, or the COMMIT (sent within
                    // it) already rolled back, or BEGIN/COMMIT failed themselves: ending
                    // the transaction here covers all three.
                    let _ = self.client.batch_execute("ROLLBACK").await;
                }
                Err(locate(piece, error, true))
            }
        }
    }

    /// Prepares a statement of a revision (a batch's, run many times); an error is
    /// located in its file.
    pub async fn prepare(&self, piece: &Piece<'_>) -> Result<tokio_postgres::Statement, DbError> {
        self.client
            .prepare(&piece.sql)
            .await
            .map_err(|error| locate(piece, error, true))
    }

    /// Runs one batch of a batch section in a transaction of its own: `timeouts`, the
    /// batch's statement, then its record (see [`BoundBatch`]). Returns the rows the
    /// statement changed and the time it took; on any error the transaction is rolled
    /// back.
    pub async fn run_bounded(
        &self,
        timeouts: &[Piece<'_>],
        batch: &BoundBatch<'_, '_>,
    ) -> Result<(u64, Duration), DbError> {
        let BoundBatch {
            statement,
            prepared,
            params,
            record,
            next,
            size,
            walked,
        } = *batch;
        let result = async {
            self.client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| DbError::query("begin a transaction", e))?;
            for piece in timeouts {
                self.run_alone(piece).await?;
            }
            let started = std::time::Instant::now();
            let rows = self
                .client
                .execute(prepared, params)
                .await
                .map_err(|error| locate(statement, error, true))?;
            let elapsed = started.elapsed();
            let changed = i64::try_from(rows).unwrap_or(i64::MAX);
            let ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
            self.client
                .execute(&*record.sql, &[next, &changed, &size, &ms, &walked])
                .await
                .map_err(|error| locate(record, error, true))?;
            self.client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| DbError::query("commit", e))?;
            Ok((rows, elapsed))
        }
        .await;
        if let Err(error) = &result {
            if !matches!(error, DbError::Lost { .. }) {
                let _ = self.client.batch_execute("ROLLBACK").await;
            }
        }
        result
    }

    /// Runs one piece outside any transaction block.
    pub async fn run_alone(&self, piece: &Piece<'_>) -> Result<(), DbError> {
        self.client
            .batch_execute(&piece.sql)
            .await
            .map_err(|error| locate(piece, error, false))
    }
}

/// Turns an error of `piece` into a located failure of its revision file.
fn locate(piece: &Piece<'_>, error: tokio_postgres::Error, transactional: bool) -> DbError {
    let (revision, direction, script, offset) = match piece.origin {
        Origin::Bookkeeping(what) => return DbError::query(what, error),
        Origin::Revision {
            revision,
            direction,
            script,
            offset,
        } => (revision, direction, script, offset),
    };
    let Some(db) = error.as_db_error() else {
        if !error.is_closed() {
            return DbError::query(&format!("run {direction} of {}", revision.id), error);
        }
        // The connection closed under the statement without a word from the server (a
        // crash, a cut network): located like a server error, under connection_failure.
        let (line, column) = split::line_column(&script.sql, offset);
        return DbError::Statement(Box::new(StatementFailure {
            revision: revision.id.to_string(),
            direction,
            path: revision.path.clone(),
            line: script.line + line - 1,
            column,
            line_text: script
                .sql
                .split('\n')
                .nth(line - 1)
                .unwrap_or("")
                .to_owned(),
            code: "08006".to_owned(),
            message: format!("the connection was lost: {error}"),
            detail: None,
            hint: None,
            context: None,
            transactional,
        }));
    };
    let within = match db.position() {
        Some(ErrorPosition::Original(position)) => {
            split::char_position_to_byte(&piece.sql, *position)
        }
        _ => 0,
    };
    let (line, column) = split::line_column(&script.sql, offset + within);
    let line_text = script
        .sql
        .split('\n')
        .nth(line - 1)
        .unwrap_or("")
        .to_owned();
    DbError::Statement(Box::new(StatementFailure {
        revision: revision.id.to_string(),
        direction,
        path: revision.path.clone(),
        line: script.line + line - 1,
        column,
        line_text,
        code: db.code().code().to_owned(),
        message: db.message().to_owned(),
        detail: db.detail().map(str::to_owned),
        hint: db.hint().map(str::to_owned),
        context: db.where_().map(str::to_owned),
        transactional,
    }))
}
