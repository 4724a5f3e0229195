//! The schema catalog: a typed model of everything a database schema holds, read from
//! PostgreSQL's system catalogs, and its canonical text dump.
//!
//! [`inspect`] reads the model inside one `REPEATABLE READ READ ONLY` transaction (one
//! snapshot, so the result is consistent even while DDL runs) with a fixed, small number
//! of set-based queries: one per kind of object for all schemas at once, never one per
//! table. That keeps the cost linear in the size of the schema and the number of round
//! trips constant — a per-object query pattern would be thousands of round trips on a
//! large schema. The queries are independent and pipelined on the one connection.
//!
//! A [`Tracker`] inspects the same database again and again, reading only the relations
//! that changed since its last inspection (see `incremental`).
//!
//! [`Schema::to_text`] renders the model as canonical SQL-like text: sorted, one object
//! per block, with nothing that differs between equivalent databases (OIDs, attnums,
//! creation order), so equal schemas dump byte-identically and `git diff` of two dumps
//! shows the real differences. `Serialize` on [`Schema`] gives the JSON form.
//!
//! Excluded: system schemas, objects that belong to extensions (they come with
//! `CREATE EXTENSION`), and the tables named in [`InspectOptions::exclude_tables`]
//! (retort's own version tables).

mod dump;
mod incremental;
mod inspect;
mod model;
mod order;
mod render;
mod stamp;

pub use incremental::{Inspection, Scope, Tracker};
pub use model::*;
pub(crate) use order::reference_order;

pub(crate) use render::{
    attribute_line, cast_types, column_line, column_settings, create_index_sql, create_policy,
    default_not_null_name, identity_clause, not_null_constraint_clause, not_null_constraint_name,
    parents_first, publication_members, qn, render_cast, render_collation, render_composite,
    render_domain, render_event_trigger, render_foreign_table, render_publication, render_range,
    render_rule, render_server, render_statistics, render_view, render_wrapper, sequence_clauses,
    write_relation_body, Block,
};

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// Only these schemas (empty: all non-system schemas).
    pub schemas: Vec<String>,
    /// Never these schemas.
    pub exclude_schemas: Vec<String>,
    /// Read privileges (ACLs) and dump them as GRANT statements.
    pub grants: bool,
    /// Read owners and dump them as `ALTER ... OWNER TO`.
    pub owners: bool,
    /// (schema, table) pairs never to dump: retort's version tables.
    pub exclude_tables: Vec<(String, String)>,
}

/// Why reading the catalog failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A catalog query failed (or returned a value of an unexpected type).
    #[error("reading the schema failed in the catalog query for {query}: {message}")]
    Query {
        /// The query's name: the kind of object it reads (`columns`, `indexes`, ...) or the
        /// step (`begin snapshot`, `export snapshot`, ...).
        query: &'static str,
        /// The server's error message alone when it sent one, else the client's error text.
        message: String,
        /// The error as tokio-postgres reported it.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The statement opening the snapshot returned no `server_version_num` row.
    #[error("reading the schema failed: the server did not report server_version_num")]
    Version,
    /// An incremental inspection disagreed with a whole one (only checked when asked:
    /// [`Tracker::verify`]); a bug in retort.
    #[error(
        "the incremental inspection ({scope}) differs from a whole inspection; this is a \
         bug in retort, please report it with this diff:\n{diff}"
    )]
    Incremental {
        /// The incremental inspection's [`Scope`], as `Debug` prints it.
        scope: String,
        /// The unified diff from the whole inspection's dump to the incremental one's (a
        /// note instead when the dumps agree and only the models differ).
        diff: String,
    },
    /// The server is older than PostgreSQL 12; holds its `server_version_num`.
    #[error(
        "reading the schema needs PostgreSQL 12 or newer; this server is version {0} \
         (server_version_num)"
    )]
    Unsupported(i32),
}

/// Reads the whole schema (see the module documentation).
pub async fn inspect(
    client: &tokio_postgres::Client,
    options: &InspectOptions,
) -> Result<Schema, CatalogError> {
    Ok(inspect::inspect(client, options).await?.0)
}

/// [`inspect`], also returning the server's `server_version_num` (read anyway when the
/// snapshot opens).
pub async fn inspect_with_version(
    client: &tokio_postgres::Client,
    options: &InspectOptions,
) -> Result<(Schema, i32), CatalogError> {
    inspect::inspect(client, options).await
}

/// [`inspect_with_version`] over `client` and the further connections `more` to the same
/// database, sharing one snapshot: the catalog queries run on that many server backends.
pub async fn inspect_shared(
    client: &tokio_postgres::Client,
    more: &[&tokio_postgres::Client],
    options: &InspectOptions,
) -> Result<(Schema, i32), CatalogError> {
    inspect::inspect_shared(client, more, options).await
}

/// The unified diff (3 lines of context) of two dumps, or `None` when they are equal.
pub fn diff_dumps(left: &str, right: &str, left_name: &str, right_name: &str) -> Option<String> {
    if left == right {
        return None;
    }
    // Myers' diff is quadratic when nearly everything differs (an empty database
    // against 5,000 tables: minutes). Past the deadline it settles for a diff that is
    // correct but not minimal.
    Some(
        similar::TextDiff::configure()
            .timeout(std::time::Duration::from_millis(500))
            .diff_lines(left, right)
            .unified_diff()
            .context_radius(3)
            .header(left_name, right_name)
            .to_string(),
    )
}

impl Schema {
    /// The canonical dump with each table's columns sorted by name: two schemas whose
    /// dumps differ only in column order (a column dropped and added again can only
    /// come back last) give the same text here.
    pub fn to_text_with_sorted_columns(&self) -> String {
        let mut sorted = self.clone();
        for table in &mut sorted.tables {
            table.columns.sort_by(|a, b| a.name.cmp(&b.name));
        }
        for table in &mut sorted.foreign_tables {
            table.columns.sort_by(|a, b| a.name.cmp(&b.name));
        }
        sorted.to_text()
    }
}

#[cfg(test)]
mod tests;
