//! The version tables in the target database: `retort_version` (the applied heads,
//! plus a dirty marker) and `retort_history` (an append-only audit log).
//!
//! Every statement is rendered to SQL text with sea-query (values inlined and escaped,
//! identifiers quoted), because the same text is sent to the server and printed by
//! `--sql` for a DBA to review: the two can never disagree.

use chrono::{DateTime, Utc};
use sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, Order, PostgresQueryBuilder, Query, Table, TableRef,
};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::DbError;
use crate::sql::{quote_ident, quote_literal};

/// What a history row records: a run's direction, or one of the audit-only events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The revision's upgrade section ran.
    Upgrade,
    /// The revision's downgrade section ran.
    Downgrade,
    /// The revision was marked applied without running its SQL.
    Stamp,
    /// The revision was marked not applied without running its SQL.
    Unstamp,
    /// A human settled a dirty marker.
    Resolve,
    /// A deliberate edit of an applied revision was accepted (`rehash-applied`).
    Rehash,
}

impl Action {
    /// The value stored in the history table's `direction` column (`upgrade`, `stamp`,
    /// ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upgrade => "upgrade",
            Action::Downgrade => "downgrade",
            Action::Stamp => "stamp",
            Action::Unstamp => "unstamp",
            Action::Resolve => "resolve",
            Action::Rehash => "rehash",
        }
    }
}

impl From<crate::revision::Direction> for Action {
    fn from(direction: crate::revision::Direction) -> Action {
        match direction {
            crate::revision::Direction::Upgrade => Action::Upgrade,
            crate::revision::Direction::Downgrade => Action::Downgrade,
        }
    }
}

/// One row of the version table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    /// The revision's id (a head of the applied revisions).
    pub revision: String,
    /// `Some(direction)` while a non-transactional section is (or was left) half-run.
    pub dirty: Option<crate::revision::Direction>,
}

/// When a history row's step ran.
#[derive(Debug, Clone, Copy)]
pub enum Timing {
    /// The step runs in the same transaction as the row: the server measures it
    /// (`now()` is the transaction start, `clock_timestamp()` the moment of the insert).
    SameTransaction,
    /// Measured by the client, for steps that ran outside that transaction.
    Measured {
        /// When the step started (client clock).
        started_at: DateTime<Utc>,
        /// How long the step took, in milliseconds.
        duration_ms: i64,
    },
}

/// One history row to append.
#[derive(Debug, Clone)]
pub struct HistoryEntry<'a> {
    /// The revision's id.
    pub revision: &'a str,
    /// What happened; stored in the `direction` column.
    pub action: Action,
    /// The revision file's checksum (`sha256:<hex>`) when the row vouches for its content;
    /// `None` for unstamps and resolutions that revert.
    pub checksum: Option<String>,
    /// The revision's `message:` header.
    pub message: Option<&'a str>,
    /// Why a human did it (`resolve`, `rehash-applied`); `None` for runs.
    pub reason: Option<&'a str>,
    /// How `started_at` and `duration_ms` are filled.
    pub timing: Timing,
}

/// Where the version tables live; names are quoted wherever they are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionTables {
    /// The schema of both tables (`version_schema` in `retort.toml`) [default: `public`].
    pub schema: String,
    /// The version table's name (`version_table`) [default: `retort_version`].
    pub version: String,
    /// The history table's name (`history_table`) [default: `retort_history`].
    pub history: String,
}

impl Default for VersionTables {
    fn default() -> Self {
        VersionTables {
            schema: "public".into(),
            version: "retort_version".into(),
            history: "retort_history".into(),
        }
    }
}

fn alias(name: &str) -> Alias {
    Alias::new(name)
}

impl VersionTables {
    fn version_ref(&self) -> TableRef {
        (alias(&self.schema), alias(&self.version)).into()
    }

    fn history_ref(&self) -> TableRef {
        (alias(&self.schema), alias(&self.history)).into()
    }

    /// The (schema, table) pairs of both tables, for `InspectOptions::exclude_tables`:
    /// retort's bookkeeping is not part of the application's schema.
    pub fn as_exclusions(&self) -> Vec<(String, String)> {
        vec![
            (self.schema.clone(), self.version.clone()),
            (self.schema.clone(), self.history.clone()),
            (self.schema.clone(), self.batch_table()),
        ]
    }

    /// `schema.table` for messages.
    pub fn describe(&self) -> String {
        format!("{}.{}", self.schema, self.version)
    }

    /// The history table's `schema.table` for messages.
    pub fn describe_history(&self) -> String {
        format!("{}.{}", self.schema, self.history)
    }

    /// The advisory-lock key of this version table: runs against different version
    /// tables (tenant schemas, say) do not block each other.
    pub fn lock_key(&self) -> i64 {
        let digest = Sha256::digest(format!("retort:{}.{}", self.schema, self.version));
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    }

    /// Idempotent DDL creating the schema and both tables.
    pub fn create_statements(&self) -> Vec<String> {
        let version = Table::create()
            .table(self.version_ref())
            .if_not_exists()
            .col(
                ColumnDef::new(alias("revision"))
                    .text()
                    .not_null()
                    .primary_key(),
            )
            .col(
                ColumnDef::new(alias("dirty"))
                    .text()
                    .null()
                    .check(Expr::col(alias("dirty")).is_in(["upgrade", "downgrade"])),
            )
            .col(
                ColumnDef::new(alias("applied_at"))
                    .timestamp_with_time_zone()
                    .not_null()
                    .default(Expr::cust("now()")),
            )
            .to_string(PostgresQueryBuilder);
        let history = Table::create()
            .table(self.history_ref())
            .if_not_exists()
            .col(
                ColumnDef::new(alias("id"))
                    .big_integer()
                    .not_null()
                    .extra("GENERATED ALWAYS AS IDENTITY")
                    .primary_key(),
            )
            .col(ColumnDef::new(alias("revision")).text().not_null())
            .col(ColumnDef::new(alias("direction")).text().not_null())
            .col(ColumnDef::new(alias("checksum")).text().null())
            .col(ColumnDef::new(alias("message")).text().null())
            .col(
                ColumnDef::new(alias("started_at"))
                    .timestamp_with_time_zone()
                    .not_null(),
            )
            .col(
                ColumnDef::new(alias("duration_ms"))
                    .big_integer()
                    .not_null(),
            )
            .col(ColumnDef::new(alias("applied_by")).text().not_null())
            .col(ColumnDef::new(alias("tool_version")).text().not_null())
            .col(ColumnDef::new(alias("reason")).text().null())
            .to_string(PostgresQueryBuilder);
        vec![
            format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&self.schema)),
            version,
            history,
        ]
    }

    /// A query returning one boolean: whether the version table exists.
    pub fn exists_query(&self) -> String {
        let qualified = format!(
            "{}.{}",
            quote_ident(&self.schema),
            quote_ident(&self.version)
        );
        format!(
            "SELECT to_regclass({}) IS NOT NULL",
            quote_literal(&qualified)
        )
    }

    /// `SELECT revision, dirty` from the version table, ordered by revision.
    pub fn select_rows(&self) -> String {
        Query::select()
            .columns([alias("revision"), alias("dirty")])
            .from(self.version_ref())
            .order_by(alias("revision"), Order::Asc)
            .to_string(PostgresQueryBuilder)
    }

    /// The latest history row of every revision that has one: its action and checksum.
    pub fn select_latest_history(&self) -> String {
        format!(
            "SELECT DISTINCT ON (revision) revision, direction, checksum, started_at::text, applied_by \
             FROM {}.{} ORDER BY revision, id DESC",
            quote_ident(&self.schema),
            quote_ident(&self.history)
        )
    }

    /// The latest row of every revision among those that change whether it is applied
    /// (not `rehash`): revision, direction and reason (which says what a `resolve`
    /// settled).
    pub fn select_latest_state_history(&self) -> String {
        format!(
            "SELECT DISTINCT ON (revision) revision, direction, reason \
             FROM {}.{} WHERE direction <> 'rehash' ORDER BY revision, id DESC",
            quote_ident(&self.schema),
            quote_ident(&self.history)
        )
    }

    /// `INSERT` of a version row; `dirty` is the direction of a half-run non-transactional
    /// section.
    pub fn insert_row(&self, revision: &str, dirty: Option<crate::revision::Direction>) -> String {
        let dirty = dirty.map(|d| d.to_string());
        Query::insert()
            .into_table(self.version_ref())
            .columns([alias("revision"), alias("dirty")])
            .values_panic([Expr::val(revision), Expr::val(dirty)])
            .to_string(PostgresQueryBuilder)
    }

    /// `DELETE` of the version rows of `revisions`.
    pub fn delete_rows(&self, revisions: &[&str]) -> String {
        Query::delete()
            .from_table(self.version_ref())
            .and_where(Expr::col(alias("revision")).is_in(revisions.iter().copied()))
            .to_string(PostgresQueryBuilder)
    }

    /// `DELETE` of every version row.
    pub fn delete_all_rows(&self) -> String {
        Query::delete()
            .from_table(self.version_ref())
            .to_string(PostgresQueryBuilder)
    }

    /// `UPDATE` clearing the dirty marker of `revision`'s row.
    pub fn clear_dirty(&self, revision: &str) -> String {
        Query::update()
            .table(self.version_ref())
            .value(alias("dirty"), Expr::val(Option::<String>::None))
            .and_where(Expr::col(alias("revision")).eq(revision))
            .to_string(PostgresQueryBuilder)
    }

    /// `UPDATE` marking `revision`'s row dirty in `direction`.
    pub fn set_dirty(&self, revision: &str, direction: crate::revision::Direction) -> String {
        Query::update()
            .table(self.version_ref())
            .value(alias("dirty"), Expr::val(direction.to_string()))
            .and_where(Expr::col(alias("revision")).eq(revision))
            .to_string(PostgresQueryBuilder)
    }

    /// `INSERT` of a history row; `applied_by` is the session user `@` the client address,
    /// `tool_version` this retort's version.
    pub fn insert_history(&self, entry: &HistoryEntry<'_>) -> String {
        let (started_at, duration_ms) = match entry.timing {
            Timing::SameTransaction => (
                Expr::cust("now()"),
                Expr::cust("(extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint"),
            ),
            Timing::Measured {
                started_at,
                duration_ms,
            } => (
                Expr::val(started_at.to_rfc3339()).cast_as(alias("timestamptz")),
                Expr::val(duration_ms),
            ),
        };
        Query::insert()
            .into_table(self.history_ref())
            .columns([
                alias("revision"),
                alias("direction"),
                alias("checksum"),
                alias("message"),
                alias("started_at"),
                alias("duration_ms"),
                alias("applied_by"),
                alias("tool_version"),
                alias("reason"),
            ])
            .values_panic([
                Expr::val(entry.revision),
                Expr::val(entry.action.as_str()),
                Expr::val(entry.checksum.clone()),
                Expr::val(entry.message.map(str::to_owned)),
                started_at,
                duration_ms,
                // Who, as the server sees it: the role and the client's address.
                Expr::cust("session_user || '@' || coalesce(host(inet_client_addr()), 'local')"),
                Expr::val(concat!("retort ", env!("CARGO_PKG_VERSION"))),
                Expr::val(entry.reason.map(str::to_owned)),
            ])
            .to_string(PostgresQueryBuilder)
    }
}

/// The latest history row of one revision.
#[derive(Debug, Clone)]
pub struct LatestHistory {
    /// The revision's id.
    pub revision: String,
    /// The `direction` column: an [`Action`] name (`upgrade`, `stamp`, ...).
    pub action: String,
    /// The `checksum` column (`sha256:<hex>`), if recorded.
    pub checksum: Option<String>,
    /// `started_at` as text (PostgreSQL's `timestamptz` output).
    pub at: String,
    /// `applied_by`: the session user `@` the client address (`local` for a socket).
    pub by: String,
}

/// Reads the version rows; `None` when the version table does not exist yet.
pub async fn read_rows(
    client: &Client,
    tables: &VersionTables,
) -> Result<Option<Vec<VersionRow>>, DbError> {
    let exists: bool = client
        .query_one(&tables.exists_query(), &[])
        .await
        .map_err(|e| DbError::query("look for the version table", e))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query(&tables.select_rows(), &[])
        .await
        .map_err(|e| DbError::query("read the version table", e))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let dirty: Option<String> = row.get(1);
        out.push(VersionRow {
            revision: row.get(0),
            dirty: match dirty.as_deref() {
                Some("upgrade") => Some(crate::revision::Direction::Upgrade),
                Some(_) => Some(crate::revision::Direction::Downgrade),
                None => None,
            },
        });
    }
    Ok(Some(out))
}

/// The latest history row of every revision.
pub async fn read_latest_history(
    client: &Client,
    tables: &VersionTables,
) -> Result<Vec<LatestHistory>, DbError> {
    let rows = client
        .query(&tables.select_latest_history(), &[])
        .await
        .map_err(|e| DbError::query("read the history table", e))?;
    Ok(rows
        .into_iter()
        .map(|row| LatestHistory {
            revision: row.get(0),
            action: row.get(1),
            checksum: row.get(2),
            at: row.get(3),
            by: row.get(4),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_values_escaped() {
        let tables = VersionTables {
            schema: "Tenant \"A\"".into(),
            version: "select".into(),
            history: "hist".into(),
        };
        let ddl = tables.create_statements();
        assert_eq!(ddl[0], "CREATE SCHEMA IF NOT EXISTS \"Tenant \"\"A\"\"\"");
        assert!(
            ddl[1].contains("\"Tenant \"\"A\"\"\".\"select\""),
            "{}",
            ddl[1]
        );
        let insert = tables.insert_history(&HistoryEntry {
            revision: "0001_aaaaaaaaaaaa",
            action: Action::Rehash,
            checksum: None,
            message: Some("it's; DROP TABLE x; --"),
            reason: None,
            timing: Timing::SameTransaction,
        });
        // sea-query escapes with an E'' literal: the quote cannot end the string.
        assert!(insert.contains(r"E'it\'s; DROP TABLE x; --'"), "{insert}");
        assert!(tables.delete_rows(&["a", "b"]).contains("IN ('a', 'b')"));
    }

    #[test]
    fn lock_keys_differ_per_table() {
        let a = VersionTables::default();
        let b = VersionTables {
            schema: "tenant_1".into(),
            ..VersionTables::default()
        };
        assert_ne!(a.lock_key(), b.lock_key());
        assert_eq!(a.lock_key(), VersionTables::default().lock_key());
    }
}
