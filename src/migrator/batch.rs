//! Running a revision's batch section: the section before it in one transaction that
//! also fixes the key range, then one transaction per key range (each recording itself
//! in the batch table), then the section after it in the transaction that records the
//! revision. An interrupted run leaves the batch table's row naming the first
//! unfinished range, and the next run of the same step resumes there; any other run
//! refuses until the section is finished.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_postgres::types::{ToSql, Type};

use super::lock_retry::{retry_locks, Attempt};
use super::online::{bookkeeping, timeouts, RunError, RunEvent, RunOptions};
use crate::db::batch_state::{read_batches, BatchProgress};
use crate::db::session::{Origin, Piece};
use crate::db::version::Timing;
use crate::db::{DbError, Session};
use crate::graph::{AppliedHeads, RevisionGraph, Step};
use crate::revision::Batch;
use crate::sql::{quote_ident, split};
use crate::Direction;

/// Refuses a run whose plan does not begin by finishing the batched sections already
/// under way (there is at most one: a run stops at a section it cannot finish). Returns
/// the progress of the first step's section, when it is under way.
pub(super) async fn unfinished(
    session: &Session<'_>,
    graph: &RevisionGraph,
    steps: &[Step],
) -> Result<Option<BatchProgress>, RunError> {
    let rows = read_batches(session.client(), session.tables()).await?;
    let mut resumed = None;
    for row in rows {
        let first = steps
            .first()
            .map(|s| (&graph.revisions()[s.revision], s.direction));
        match first {
            Some((revision, direction))
                if revision.id.as_str() == row.revision && direction == row.direction =>
            {
                resumed = Some(row);
            }
            _ => {
                return Err(RunError::BatchUnfinished {
                    table: format!(
                        "{}.{}",
                        session.tables().schema,
                        session.tables().batch_table()
                    ),
                    progress: Box::new(row),
                })
            }
        }
    }
    Ok(resumed)
}

/// Runs `step`, whose direction has a batch section, resuming at `progress`.
pub(super) async fn run_batched(
    session: &Session<'_>,
    graph: &RevisionGraph,
    heads: &mut AppliedHeads<'_>,
    step: Step,
    progress: Option<BatchProgress>,
    options: &RunOptions,
    on_event: &mut dyn FnMut(RunEvent<'_>),
) -> Result<(), RunError> {
    let revision = &graph.revisions()[step.revision];
    let tables = session.tables();
    let id = revision.id.as_str();
    let direction = step.direction;
    let batch = revision
        .batch(direction)
        .ok_or_else(|| RunError::Usage(format!("the {direction} of {id} has no batch section")))?;
    let started_at = Utc::now();
    let started = Instant::now();
    let location = format!("{}:{}", revision.path.display(), batch.line);
    let mut progress = match progress {
        Some(progress) => progress,
        None => {
            check_table(session, batch, &location).await?;
            let mut pieces = timeouts(options, true);
            pieces.push(Piece::bookkeeping(
                "create the batch table",
                tables.create_batch_statement(),
            ));
            let script = match direction {
                Direction::Upgrade => &revision.upgrade,
                Direction::Downgrade => revision.downgrade.as_ref().unwrap_or(&revision.upgrade),
            };
            pieces.extend(Piece::of_script(revision, direction, script));
            pieces.push(Piece::bookkeeping(
                "record the batch's key range (the key must be an integer column)",
                tables.insert_batch_range(id, direction, batch),
            ));
            retry_locks(session, options, Attempt::Transaction(&pieces), on_event).await?;
            read_batches(session.client(), tables)
                .await?
                .into_iter()
                .find(|row| row.revision == id && row.direction == direction)
                .ok_or_else(|| RunError::Batch {
                    location: location.clone(),
                    message: "the batch table lost the row just written".to_owned(),
                })?
        }
    };
    on_event(RunEvent::Batch(&progress));

    if !progress.is_done() {
        let bound = batch.bound_statement();
        let statement = split::split(&bound)
            .into_iter()
            .next()
            .map(|s| (s.sql.to_owned(), s.offset))
            .unwrap_or_default();
        let statement = Piece {
            sql: Cow::Owned(statement.0),
            origin: Origin::Revision {
                revision,
                direction,
                script: &batch.statement,
                offset: statement.1,
            },
        };
        let prepared = session.prepare(&statement).await?;
        let types = prepared.params().to_vec();
        let record = Piece::bookkeeping(
            "record the batch in the batch table",
            tables.record_batch(id, direction),
        );
        let boundary = boundary_query(batch);
        let local = timeouts(options, true);
        let pause = Duration::from_millis(batch.sleep_ms);
        while let (Some(lo), Some(last)) = (progress.next, progress.last) {
            if lo > last {
                break;
            }
            let size = i64::try_from(batch.size).unwrap_or(i64::MAX);
            let hi = match session
                .client()
                .query_opt(&boundary, &[&lo, &last, &size])
                .await
                .map_err(|e| DbError::query("find the end of the next batch", e))?
            {
                Some(row) => row.get::<_, i64>(0),
                None => last.checked_add(1).ok_or_else(|| RunError::Batch {
                    location: location.clone(),
                    message: format!(
                        "the key {last} is the largest bigint; no batch can end past it"
                    ),
                })?,
            };
            let values = integer_params(&types, [lo, hi]).map_err(|message| RunError::Batch {
                location: format!("{}:{}", revision.path.display(), batch.statement.line),
                message,
            })?;
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_sql()).collect();
            let rows = retry_locks(
                session,
                options,
                Attempt::Batch {
                    timeouts: &local,
                    statement: &statement,
                    prepared: &prepared,
                    params: &params,
                    record: &record,
                    end: hi,
                },
                on_event,
            )
            .await?;
            progress.next = Some(hi);
            progress.batches += 1;
            progress.rows += i64::try_from(rows).unwrap_or(i64::MAX);
            on_event(RunEvent::Batch(&progress));
            if !pause.is_zero() && !progress.is_done() {
                tokio::time::sleep(pause).await;
            }
        }
    }

    let mut pieces = timeouts(options, true);
    if let Some(after) = &batch.after {
        pieces.extend(Piece::of_script(revision, direction, after));
    }
    pieces.push(Piece::bookkeeping(
        "delete the finished batch's row",
        tables.delete_batch(id, direction),
    ));
    let timing = Timing::Measured {
        started_at,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    };
    pieces.extend(bookkeeping(graph, tables, heads, step, false, timing));
    retry_locks(session, options, Attempt::Transaction(&pieces), on_event).await?;
    Ok(())
}

/// Before the first run of a section, when its table exists already: the key must be
/// an integer column, and an index must begin with it (each batch's end is read from
/// it; without one every batch would scan the table). A table the section before the
/// batch creates is checked by the range query itself.
async fn check_table(session: &Session<'_>, batch: &Batch, location: &str) -> Result<(), RunError> {
    let refuse = |message: String| RunError::Batch {
        location: location.to_owned(),
        message,
    };
    let table = batch.table_sql();
    let row = session
        .client()
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, \
             (SELECT format_type(a.atttypid, NULL) FROM pg_attribute a \
               WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped), \
             EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a \
               ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
               WHERE i.indrelid = to_regclass($1) AND a.attname = $2 AND i.indisvalid)",
            &[&table, &batch.key],
        )
        .await
        .map_err(|e| DbError::query("look up the batch's table and key", e))?;
    let (exists, key_type, indexed): (bool, Option<String>, bool) =
        (row.get(0), row.get(1), row.get(2));
    if !exists {
        return Ok(());
    }
    let name = batch.table_name();
    let Some(key_type) = key_type else {
        return Err(refuse(format!(
            "table {name} has no column {}; key= names the column the batches walk",
            batch.key
        )));
    };
    if !matches!(key_type.as_str(), "smallint" | "integer" | "bigint") {
        return Err(refuse(format!(
            "the key {name}.{} is of type {key_type}; batches walk an integer key (smallint, integer, bigint)",
            batch.key
        )));
    }
    if !indexed {
        return Err(refuse(format!(
            "no valid index of {name} begins with {}: each batch finds its end through one. \
             Add it first (CREATE INDEX CONCURRENTLY in an earlier revision)",
            batch.key
        )));
    }
    Ok(())
}

/// The key `size` keys past `$1` within the range (`$2` its last key): the end of the
/// batch starting at `$1`, read from the key's index; no row when the rest of the range
/// fits in one batch.
fn boundary_query(batch: &Batch) -> String {
    let key = quote_ident(&batch.key);
    format!(
        "SELECT {key}::bigint FROM {} WHERE {key} >= $1::bigint AND {key} <= $2::bigint \
         ORDER BY {key} OFFSET $3::bigint LIMIT 1",
        batch.table_sql()
    )
}

/// A bound converted to the integer type the server inferred for its parameter.
enum Bound {
    Small(i16),
    Int(i32),
    Big(i64),
}

impl Bound {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Bound::Small(v) => v,
            Bound::Int(v) => v,
            Bound::Big(v) => v,
        }
    }
}

/// The batch's bounds as the statement's parameters: `smallint`, `integer` or `bigint`
/// (a bound that does not fit is refused, as is any other type).
fn integer_params(types: &[Type], bounds: [i64; 2]) -> Result<Vec<Bound>, String> {
    if types.len() != 2 {
        return Err(format!(
            "the batch statement has {} parameters; it takes :lo and :hi, nothing else",
            types.len()
        ));
    }
    types
        .iter()
        .zip(bounds.into_iter().zip(["lo", "hi"]))
        .map(|(ty, (value, name))| {
            let too_big = || format!(":{name} = {value} does not fit the key's type {ty}");
            Ok(match *ty {
                Type::INT2 => Bound::Small(i16::try_from(value).map_err(|_| too_big())?),
                Type::INT4 => Bound::Int(i32::try_from(value).map_err(|_| too_big())?),
                Type::INT8 => Bound::Big(value),
                _ => {
                    return Err(format!(
                        ":{name} is compared with a value of type {ty}; batch keys are integer columns (smallint, integer, bigint)"
                    ))
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_take_the_parameters_integer_type() {
        let ok = integer_params(&[Type::INT4, Type::INT8], [5, 9]).expect("fits");
        assert!(matches!(ok[..], [Bound::Int(5), Bound::Big(9)]));
        let err = integer_params(&[Type::INT2, Type::INT2], [1, 70_000])
            .err()
            .expect("too big");
        assert!(err.contains(":hi = 70000 does not fit"), "{err}");
        let err = integer_params(&[Type::TEXT, Type::INT8], [1, 2])
            .err()
            .expect("text");
        assert!(err.contains("integer columns"), "{err}");
        let err = integer_params(&[Type::INT8], [1, 2]).err().expect("one");
        assert!(err.contains("1 parameters"), "{err}");
    }
}
