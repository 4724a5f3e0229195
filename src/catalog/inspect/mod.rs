//! Reading the catalog: one snapshot, a fixed set of set-based queries, assembled in memory.
//!
//! Every query reads one kind of object for *all* included schemas at once and is filtered
//! by namespace in SQL ($1 = schemas to include, empty for all; $2 = schemas to exclude).
//! Rows are joined to their parents in Rust through `HashMap`s keyed by OID, so the cost
//! is linear in the number of objects and the number of round trips does not grow with
//! the schema. The queries are independent, so they are issued together and pipelined
//! by tokio-postgres on the one connection.
//!
//! This module runs the queries (snapshots, preparation, spreading them over
//! connections); `queries` builds their SQL from the files in `src/catalog/queries/`,
//! `assemble` turns their rows into the model, with `relations` (tables, views,
//! sequences and what hangs off them) and `objects` (everything else) reading each
//! query's rows, every column by the name the SQL gives it.

mod assemble;
mod objects;
mod queries;
mod relations;

use std::collections::HashMap;

use futures_util::future::try_join_all;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, Row, SimpleQueryMessage, Statement};

use super::model::{Schema, ServerMajor};
use super::{CatalogError, InspectOptions};
use crate::sql::quote_literal;

pub(super) use assemble::{assemble, sort, Read};
pub(super) use queries::{queries, NS_FILTER};

/// The parameters a catalog query takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Params {
    None,
    /// $1, $2: the schemas to include and to exclude (`text[]`).
    Namespaces,
    /// As `Namespaces`, and $3: the relations to read (`oid[]`).
    Scoped,
    /// $1: relations (`oid[]`).
    Relations,
    /// $1: the transaction horizon of the previous stamp (`text`, an xid, or NULL).
    Horizon,
}

impl Params {
    fn types(self) -> &'static [Type] {
        match self {
            Params::None => &[],
            Params::Namespaces => &[Type::TEXT_ARRAY, Type::TEXT_ARRAY],
            Params::Scoped => &[Type::TEXT_ARRAY, Type::TEXT_ARRAY, Type::OID_ARRAY],
            Params::Relations => &[Type::OID_ARRAY],
            Params::Horizon => &[Type::TEXT],
        }
    }
}

/// The values bound to [`Params`].
#[derive(Debug, Clone, Default)]
pub(super) struct Bindings {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub relations: Vec<u32>,
    pub horizon: Option<String>,
}

impl Bindings {
    pub fn for_options(options: &InspectOptions) -> Bindings {
        Bindings {
            include: options.schemas.clone(),
            exclude: options.exclude_schemas.clone(),
            ..Bindings::default()
        }
    }

    fn values(&self, params: Params) -> Vec<&(dyn ToSql + Sync)> {
        match params {
            Params::None => Vec::new(),
            Params::Namespaces => vec![&self.include, &self.exclude],
            Params::Scoped => vec![&self.include, &self.exclude, &self.relations],
            Params::Relations => vec![&self.relations],
            Params::Horizon => vec![&self.horizon],
        }
    }
}

/// One catalog query, named for errors and for finding its rows.
pub(super) struct Query {
    pub name: &'static str,
    pub sql: String,
    pub params: Params,
}

/// The error of the catalog query named `query`: the server's own message when it sent
/// one (the `Display` of a database error is only "db error").
pub(super) fn query_error(query: &'static str, source: tokio_postgres::Error) -> CatalogError {
    let message = match source.as_db_error() {
        Some(db) => db.message().to_string(),
        None => source.to_string(),
    };
    CatalogError::Query {
        query,
        message,
        source,
    }
}

/// Reads the column named `column` of a row; a missing column or a type mismatch is an
/// error naming the query.
fn get<'a, T: FromSql<'a>>(
    query: &'static str,
    row: &'a Row,
    column: &str,
) -> Result<T, CatalogError> {
    row.try_get(column)
        .map_err(|source| query_error(query, source))
}

/// Runs `query` with its parameters from `bindings`, as text or as the statement it
/// was prepared as (repeated inspections skip parsing and planning).
pub(super) async fn run(
    client: &Client,
    query: &Query,
    prepared: Option<&Statement>,
    bindings: &Bindings,
) -> Result<Vec<Row>, CatalogError> {
    let values = bindings.values(query.params);
    let result = match prepared {
        Some(statement) => client.query(statement, &values).await,
        None => {
            // query_typed skips the separate prepare round trip: the types are given.
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = values
                .iter()
                .copied()
                .zip(query.params.types().iter().cloned())
                .collect();
            client.query_typed(&query.sql, &typed).await
        }
    };
    result.map_err(|e| query_error(query.name, e))
}

/// Prepares `queries` on `client` (one pipelined round of PREPAREs).
pub(super) async fn prepare(
    client: &Client,
    queries: &[Query],
) -> Result<Vec<Statement>, CatalogError> {
    try_join_all(queries.iter().map(|q| async move {
        client
            .prepare_typed(&q.sql, q.params.types())
            .await
            .map_err(|e| query_error(q.name, e))
    }))
    .await
}

/// One REPEATABLE READ snapshot makes all queries see the same catalog state even while
/// DDL runs concurrently. search_path = pg_catalog makes format_type, regproc and the
/// pg_get_* functions qualify every name outside pg_catalog, so the text does not
/// depend on the caller's search_path. Generic plans would read every catalog row for
/// the `= ANY ($3)` filters of scoped queries; custom plans use the indexes.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                              SET LOCAL search_path = pg_catalog; \
                              SET LOCAL quote_all_identifiers = off; \
                              SET LOCAL plan_cache_mode = force_custom_plan; \
                              SELECT current_setting('server_version_num')";

/// Opens the snapshot; returns the server version.
pub(super) async fn begin_snapshot(client: &Client) -> Result<i32, CatalogError> {
    let messages = client
        .simple_query(BEGIN_SNAPSHOT)
        .await
        .map_err(|e| query_error("begin snapshot", e))?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse::<i32>().ok()),
            _ => None,
        })
        .ok_or(CatalogError::Version)
}

/// Ends the snapshot whatever `result` is, and returns `result` (its error first).
pub(super) async fn end_snapshot<T>(
    client: &Client,
    result: Result<T, CatalogError>,
) -> Result<T, CatalogError> {
    // Read-only: COMMIT and ROLLBACK are equivalent; ROLLBACK also ends a failed one.
    let end = client
        .batch_execute("ROLLBACK")
        .await
        .map_err(|e| query_error("end snapshot", e));
    let value = result?;
    end?;
    Ok(value)
}

/// Entry point behind `catalog::inspect`: opens the snapshot, reads, closes it.
pub(super) async fn inspect(
    client: &Client,
    options: &InspectOptions,
) -> Result<(Schema, i32), CatalogError> {
    inspect_shared(client, &[], options).await
}

/// Reads over `client` and every client in `more` (connections to the same database) at
/// once, sharing one snapshot (see [`shared_snapshot`]).
pub(super) async fn inspect_shared(
    first: &Client,
    others: &[&Client],
    options: &InspectOptions,
) -> Result<(Schema, i32), CatalogError> {
    let (read, version) = shared_snapshot(first, others, |version, clients| async move {
        let queries = queries(version, false);
        let mut rows = run_all(&clients, &queries, None, &Bindings::for_options(options)).await?;
        assemble(&mut rows, options)
    })
    .await?;
    let mut schema = read.schema;
    schema.server_major = ServerMajor::from_version_num(version);
    Ok((schema, version))
}

/// Runs `work` in a snapshot opened on `first` and shared with every client in `others`:
/// `first` exports its snapshot and the others import it, as `pg_dump --jobs` does, so
/// all queries see one catalog state while the server runs them on several backends. On
/// a just-loaded 5,000-table schema one backend spends about 550 ms in the catalog
/// queries; two backends on two cores finish in little more than half that.
pub(super) async fn shared_snapshot<'c, T, F, Fut>(
    first: &'c Client,
    others: &[&'c Client],
    work: F,
) -> Result<(T, i32), CatalogError>
where
    F: FnOnce(i32, Vec<&'c Client>) -> Fut,
    Fut: std::future::Future<Output = Result<T, CatalogError>>,
{
    let version = begin_snapshot(first).await?;
    let mut joined = Vec::new();
    let result = async {
        check_version(version)?;
        if !others.is_empty() {
            let snapshot: String = first
                .query_one("SELECT pg_export_snapshot()", &[])
                .await
                .map_err(|e| query_error("export snapshot", e))?
                .get(0);
            for &other in others {
                // Recorded before the attempt: a failed BEGIN leaves nothing open, a
                // failed SET TRANSACTION SNAPSHOT an aborted transaction to roll back.
                joined.push(other);
                import_snapshot(other, &snapshot).await?;
            }
        }
        let all: Vec<&Client> = std::iter::once(first)
            .chain(joined.iter().copied())
            .collect();
        work(version, all).await
    }
    .await;
    let mut result = result;
    for &other in &joined {
        result = end_snapshot(other, result).await;
    }
    Ok((end_snapshot(first, result).await?, version))
}

/// Joins the transaction snapshot `snapshot` exported by another session.
async fn import_snapshot(client: &Client, snapshot: &str) -> Result<(), CatalogError> {
    // SET TRANSACTION SNAPSHOT must come before any query of the transaction.
    let sql = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
         SET TRANSACTION SNAPSHOT {}; \
         SET LOCAL search_path = pg_catalog; \
         SET LOCAL quote_all_identifiers = off",
        quote_literal(snapshot)
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| query_error("import snapshot", e))
}

pub(super) fn check_version(version: i32) -> Result<(), CatalogError> {
    if version < 120000 {
        return Err(CatalogError::Unsupported(version));
    }
    Ok(())
}

/// Which client runs each query: heaviest first, each to the least loaded client
/// (longest-processing-time scheduling), by [`cost`].
fn assign(queries: &[Query], clients: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(queries[i].name)));
    let mut load = vec![0u32; clients.max(1)];
    let mut owner = vec![0; queries.len()];
    for i in order {
        let least = (0..load.len()).min_by_key(|&c| load[c]).unwrap_or(0);
        owner[i] = least;
        load[least] += cost(queries[i].name);
    }
    owner
}

/// Relative server time of each query: milliseconds measured on a just-loaded
/// 5,000-table schema (one index, constraint and sequence or two per table).
fn cost(name: &str) -> u32 {
    match name {
        "constraints" => 150,
        "indexes" => 145,
        "columns" => 80,
        "relations" => 70,
        "sequences" => 55,
        "stamp more" => 35,
        "stamp" => 25,
        "stamp global" => 10,
        "triggers" => 30,
        "members" => 25,
        "types" => 20,
        _ => 1,
    }
}

/// Runs `queries` spread over `clients` (each pipelines its share in order; the clients
/// run side by side); `prepared`, when given, holds one statement per query, prepared
/// on the first client (the others send the text). The rows come back by query name.
pub(super) async fn run_all(
    clients: &[&Client],
    queries: &[Query],
    prepared: Option<&[Statement]>,
    bindings: &Bindings,
) -> Result<HashMap<&'static str, Vec<Row>>, CatalogError> {
    let owner = assign(queries, clients.len());
    let results = try_join_all(queries.iter().enumerate().map(|(i, query)| {
        let statement = prepared
            .filter(|_| owner[i] == 0)
            .map(|statements| &statements[i]);
        run(clients[owner[i]], query, statement, bindings)
    }))
    .await?;
    Ok(queries.iter().map(|q| q.name).zip(results).collect())
}
