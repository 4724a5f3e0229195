//! The batch table beside the version tables (`retort_version_batch` by default): one
//! row per batched section under way, saying which key range is left. A batch commits
//! together with the update of its row, so after any interruption (Ctrl-C, `kill -9`, a
//! lost connection) the row names the first unfinished batch; the row is deleted in the
//! transaction that records the revision applied.
//!
//! Created on first use, so databases that never ran a batch do not have it.

use tokio_postgres::Client;

use super::{DbError, VersionTables};
use crate::revision::{Batch, Direction};
use crate::sql::{quote_ident, quote_literal};

/// A batched section under way, as its row records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BatchProgress {
    /// The revision.
    pub revision: String,
    /// Which of its directions.
    pub direction: Direction,
    /// The table walked, as the revision names it.
    pub table: String,
    /// Its key columns, as the revision names them (`id`, `(tenant_id, id)`).
    pub key: String,
    /// The first key of the next batch, a value per key column as text; `None` once
    /// the last batch committed (or when the table had no rows).
    pub next: Option<Vec<String>>,
    /// The last key of the range, fixed when the section started; `None` for an empty
    /// table.
    pub last: Option<Vec<String>>,
    /// The first key of the range.
    pub first: Option<Vec<String>>,
    /// Keys the committed batches walked (each batch walks `size` keys; the last the
    /// rest).
    pub walked: i64,
    /// The table's rows when the section started (the planner's estimate when it has
    /// one, else counted): what `walked` is a share of.
    pub total: i64,
    /// Batches committed.
    pub batches: i64,
    /// Rows the committed batches changed.
    pub rows: i64,
    /// When the section started, as the server prints it.
    pub started_at: String,
    /// When the last batch committed.
    pub updated_at: String,
    /// Set by `retort batch pause`: the run waits before its next batch.
    pub paused: bool,
    /// The size of the last batch (a `target=` section adapts it as it goes); `None`
    /// before the first batch.
    pub size: Option<i64>,
    /// How long the last batch's statement took, in milliseconds.
    pub last_batch_ms: Option<i64>,
    /// The last batch's error, until a batch commits again.
    pub last_error: Option<String>,
    /// Seconds from the section's start to its last batch.
    pub seconds: f64,
    /// Seconds since the last batch committed (or the section started).
    pub idle_seconds: f64,
    /// What the run is waiting for now (a pause, a lagging replica), when it waits;
    /// set by the runner for its events, never stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

impl BatchProgress {
    /// Whether every batch has committed.
    pub fn is_done(&self) -> bool {
        self.next.is_none()
    }

    /// A key as a person reads it: `42`, `(7, 42)`, or `-` for none.
    pub fn key_text(key: &Option<Vec<String>>) -> String {
        match key.as_deref() {
            None => "-".to_owned(),
            Some([one]) => one.clone(),
            Some(many) => format!("({})", many.join(", ")),
        }
    }

    /// What a log reports a new line for: the tenth of the range reached and what the
    /// run waits for. Logs (the CLI's stderr, the fleet's events) write a line when it
    /// changes, so a long backfill gives a dozen lines, not one per batch.
    pub fn milestone(&self) -> (u8, Option<String>) {
        ((self.fraction() * 10.0).floor() as u8, self.waiting.clone())
    }

    /// Rows changed per second so far.
    pub fn rows_per_second(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.rows as f64 / self.seconds)
    }

    /// The time left at the pace so far, by the share of keys done.
    pub fn eta_seconds(&self) -> Option<f64> {
        let done = self.fraction();
        (done > 0.0 && done < 1.0 && self.seconds > 0.0).then(|| self.seconds * (1.0 - done) / done)
    }

    /// The share of the range done, from 0 to 1: keys walked of the table's rows (an
    /// estimate until the end, so never 1 before it).
    pub fn fraction(&self) -> f64 {
        if self.is_done() {
            return 1.0;
        }
        if self.total <= 0 {
            return 0.0;
        }
        (self.walked as f64 / self.total as f64).clamp(0.0, 0.999)
    }
}

impl VersionTables {
    /// The batch table's name: the version table's with `_batch`.
    pub fn batch_table(&self) -> String {
        format!("{}_batch", self.version)
    }

    fn batch_ref(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.schema),
            quote_ident(&self.batch_table())
        )
    }

    /// Idempotent DDL creating the batch table.
    pub fn create_batch_statement(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\
             revision text NOT NULL, \
             direction text NOT NULL CHECK (direction IN ('upgrade', 'downgrade')), \
             table_name text NOT NULL, \
             key_column text NOT NULL, \
             first_key text[], \
             next_key text[], \
             last_key text[], \
             walked bigint NOT NULL DEFAULT 0, \
             total_rows bigint NOT NULL DEFAULT 0, \
             batches bigint NOT NULL DEFAULT 0, \
             rows_changed bigint NOT NULL DEFAULT 0, \
             started_at timestamptz NOT NULL DEFAULT now(), \
             updated_at timestamptz NOT NULL DEFAULT now(), \
             paused boolean NOT NULL DEFAULT false, \
             batch_size bigint, \
             last_batch_ms bigint, \
             last_error text, \
             PRIMARY KEY (revision, direction))",
            self.batch_ref()
        )
    }

    /// Records a batched section's key range, read from its table in the transaction
    /// that ran the section before it: the range is fixed from then on (rows the
    /// application adds later are its own to fill). Each key is kept as text, a value
    /// per key column.
    pub fn insert_batch_range(
        &self,
        revision: &str,
        direction: Direction,
        batch: &Batch,
    ) -> String {
        let table = batch.table_sql();
        let texts: Vec<String> = batch
            .key
            .iter()
            .map(|k| format!("{}::text", quote_ident(k)))
            .collect();
        let texts = texts.join(", ");
        let order = |descending: bool| {
            batch
                .key
                .iter()
                .map(|k| {
                    format!(
                        "{}{}",
                        quote_ident(k),
                        if descending { " DESC" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let first = format!(
            "(SELECT ARRAY[{texts}] FROM {table} ORDER BY {} LIMIT 1)",
            order(false)
        );
        let last = format!(
            "(SELECT ARRAY[{texts}] FROM {table} ORDER BY {} LIMIT 1)",
            order(true)
        );
        // The planner's row estimate when the table was ever analyzed; counted otherwise
        // (a table that never was is small, or new).
        let total = format!(
            "(SELECT CASE WHEN c.reltuples > 0 THEN c.reltuples::bigint \
              ELSE (SELECT count(*) FROM {table}) END FROM pg_class c WHERE c.oid = {}::regclass)",
            quote_literal(&table)
        );
        format!(
            "INSERT INTO {} (revision, direction, table_name, key_column, first_key, next_key, \
             last_key, total_rows) SELECT {}, {}, {}, {}, {first}, {first}, {last}, {total}",
            self.batch_ref(),
            quote_literal(revision),
            quote_literal(&direction.to_string()),
            quote_literal(&batch.table_name()),
            quote_literal(&batch.key_name()),
        )
    }

    /// Records a committed batch: `$1` the first key of the next one (NULL after the
    /// last), `$2` the rows it changed, `$3` its size, `$4` its statement's milliseconds,
    /// `$5` the keys it walked.
    pub fn record_batch(&self, revision: &str, direction: Direction) -> String {
        format!(
            "UPDATE {} SET next_key = $1, batches = batches + 1, rows_changed = rows_changed + $2, \
             batch_size = $3, last_batch_ms = $4, walked = walked + $5, last_error = NULL, \
             updated_at = now() \
             WHERE revision = {} AND direction = {}",
            self.batch_ref(),
            quote_literal(revision),
            quote_literal(&direction.to_string())
        )
    }

    /// Deletes a finished section's row (in the transaction that records the revision).
    pub fn delete_batch(&self, revision: &str, direction: Direction) -> String {
        format!(
            "DELETE FROM {} WHERE revision = {} AND direction = {}",
            self.batch_ref(),
            quote_literal(revision),
            quote_literal(&direction.to_string())
        )
    }
}

/// Records the error that stopped a batch (`$1`), for `retort batch status`.
pub async fn record_error(
    client: &Client,
    tables: &VersionTables,
    revision: &str,
    direction: Direction,
    error: &str,
) -> Result<(), DbError> {
    client
        .execute(
            &format!(
                "UPDATE {} SET last_error = $1, updated_at = now() WHERE revision = $2 AND direction = $3",
                tables.batch_ref()
            ),
            &[&error, &revision, &direction.to_string()],
        )
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("record the batch's error", e))
}

/// Sets or clears the pause of the batch section of the revision whose id starts with
/// `prefix`; returns the ids of the revisions under way that match, and changes
/// nothing unless exactly one does.
pub async fn set_paused(
    client: &Client,
    tables: &VersionTables,
    prefix: &str,
    paused: bool,
) -> Result<Vec<String>, DbError> {
    let mut ids: Vec<String> = read_batches(client, tables)
        .await?
        .into_iter()
        .map(|row| row.revision)
        .filter(|revision| revision.starts_with(prefix))
        .collect();
    ids.sort();
    ids.dedup();
    if let [id] = ids.as_slice() {
        client
            .execute(
                &format!(
                    "UPDATE {} SET paused = $1 WHERE revision = $2",
                    tables.batch_ref()
                ),
                &[&paused, id],
            )
            .await
            .map_err(|e| DbError::query("set the batch's pause", e))?;
    }
    Ok(ids)
}

/// Whether `retort batch pause` holds a batch section under way (read before each
/// batch, so one row's one column).
pub async fn is_paused(
    client: &Client,
    tables: &VersionTables,
    revision: &str,
    direction: Direction,
) -> Result<bool, DbError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT paused FROM {} WHERE revision = $1 AND direction = $2",
                tables.batch_ref()
            ),
            &[&revision, &direction.to_string()],
        )
        .await
        .map_err(|e| DbError::query("read the batch's pause", e))?;
    Ok(row.is_some_and(|row| row.get(0)))
}

/// The row of one batch section, when it is under way.
pub async fn read_batch(
    client: &Client,
    tables: &VersionTables,
    revision: &str,
    direction: Direction,
) -> Result<Option<BatchProgress>, DbError> {
    Ok(read_batches(client, tables)
        .await?
        .into_iter()
        .find(|row| row.revision == revision && row.direction == direction))
}

/// The rows of the batch table, oldest first; empty when the table does not exist.
pub async fn read_batches(
    client: &Client,
    tables: &VersionTables,
) -> Result<Vec<BatchProgress>, DbError> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&tables.batch_ref()])
        .await
        .map_err(|e| DbError::query("look for the batch table", e))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!(
                "SELECT revision, direction, table_name, key_column, first_key, next_key, last_key, \
                 batches, rows_changed, started_at::text, updated_at::text, paused, batch_size, \
                 last_batch_ms, last_error, extract(epoch FROM updated_at - started_at)::float8, \
                 extract(epoch FROM clock_timestamp() - updated_at)::float8, walked, total_rows \
                 FROM {} ORDER BY started_at, revision",
                tables.batch_ref()
            ),
            &[],
        )
        .await
        .map_err(|e| DbError::query("read the batch table", e))?;
    Ok(rows
        .iter()
        .map(|row| BatchProgress {
            revision: row.get(0),
            direction: if row.get::<_, &str>(1) == "downgrade" {
                Direction::Downgrade
            } else {
                Direction::Upgrade
            },
            table: row.get(2),
            key: row.get(3),
            first: row.get(4),
            next: row.get(5),
            last: row.get(6),
            batches: row.get(7),
            rows: row.get(8),
            started_at: row.get(9),
            updated_at: row.get(10),
            paused: row.get(11),
            size: row.get(12),
            last_batch_ms: row.get(13),
            last_error: row.get(14),
            seconds: row.get(15),
            idle_seconds: row.get(16),
            walked: row.get(17),
            total: row.get(18),
            waiting: None,
        })
        .collect())
}
