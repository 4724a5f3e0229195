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
use crate::db::batch_state::{read_batch, read_batches, record_error, BatchProgress};
use crate::db::session::{BoundBatch, Origin, Piece};
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
        let result = run_ranges(session, revision, batch, &mut progress, options, on_event).await;
        if let Err(error) = &result {
            // Best effort: the connection may be the reason the batch failed.
            if !error.is_connection_lost() {
                let _ =
                    record_error(session.client(), tables, id, direction, &error.to_string()).await;
            }
        }
        result?;
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

/// The batches from `progress.next` to the end of the range, each committed with its
/// record; `progress` follows them.
async fn run_ranges(
    session: &Session<'_>,
    revision: &crate::revision::Revision,
    batch: &Batch,
    progress: &mut BatchProgress,
    options: &RunOptions,
    on_event: &mut dyn FnMut(RunEvent<'_>),
) -> Result<(), RunError> {
    let tables = session.tables();
    let id = revision.id.as_str();
    let direction = progress.direction;
    let location = format!("{}:{}", revision.path.display(), batch.line);
    let bound = batch.bound_statement();
    let (sql, offset) = split::split(&bound)
        .into_iter()
        .next()
        .map(|s| (s.sql.to_owned(), s.offset))
        .unwrap_or_default();
    let statement = Piece {
        sql: Cow::Owned(sql),
        origin: Origin::Revision {
            revision,
            direction,
            script: &batch.statement,
            offset,
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
    let mut size = first_size(batch, progress, options);
    let mut lag_unreadable_said = false;
    // The pace counts this run's time on top of the earlier runs'.
    let (before, this_run) = (progress.seconds, std::time::Instant::now());
    while let (Some(lo), Some(last)) = (progress.next, progress.last) {
        if lo > last {
            break;
        }
        wait_while_held(session, batch, progress, &mut lag_unreadable_said, on_event).await?;
        let span = i64::try_from(size).unwrap_or(i64::MAX);
        let hi = match session
            .client()
            .query_opt(&boundary, &[&lo, &last, &span])
            .await
            .map_err(|e| DbError::query("find the end of the next batch", e))?
        {
            Some(row) => row.get::<_, i64>(0),
            None => last.checked_add(1).ok_or_else(|| RunError::Batch {
                location: location.clone(),
                message: format!("the key {last} is the largest bigint; no batch can end past it"),
            })?,
        };
        let values = integer_params(&types, [lo, hi]).map_err(|message| RunError::Batch {
            location: format!("{}:{}", revision.path.display(), batch.statement.line),
            message,
        })?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Bound::as_sql).collect();
        // The batch's size is recorded with it: a resumed run starts from it.
        let (rows, took) = retry_locks(
            session,
            options,
            Attempt::Batch {
                timeouts: &local,
                batch: &BoundBatch {
                    statement: &statement,
                    prepared: &prepared,
                    params: &params,
                    record: &record,
                    end: hi,
                    size: span,
                },
            },
            on_event,
        )
        .await?;
        if let Some(target) = batch.target_ms {
            size = adapt(
                size,
                took,
                Duration::from_millis(target),
                cap(batch, progress, options),
            );
        }
        progress.next = Some(hi);
        progress.batches += 1;
        progress.rows += i64::try_from(rows).unwrap_or(i64::MAX);
        progress.size = i64::try_from(size).ok();
        progress.last_batch_ms = i64::try_from(took.as_millis()).ok();
        progress.last_error = None;
        progress.seconds = before + this_run.elapsed().as_secs_f64();
        progress.idle_seconds = 0.0;
        on_event(RunEvent::Batch(progress));
        if !pause.is_zero() && !progress.is_done() {
            tokio::time::sleep(pause).await;
        }
    }
    Ok(())
}

/// How often a paused or throttled run looks again.
const HOLD_POLL: Duration = Duration::from_secs(1);

/// Waits while `retort batch pause` is in effect, or a replica lags beyond `max_lag=`;
/// says so through `on_event` while it waits.
async fn wait_while_held(
    session: &Session<'_>,
    batch: &Batch,
    progress: &mut BatchProgress,
    lag_unreadable_said: &mut bool,
    on_event: &mut dyn FnMut(RunEvent<'_>),
) -> Result<(), RunError> {
    loop {
        let paused = read_batch(
            session.client(),
            session.tables(),
            &progress.revision,
            progress.direction,
        )
        .await?
        .is_some_and(|row| row.paused);
        let waiting = if paused {
            Some(format!(
                "paused (`retort batch resume {}` goes on)",
                progress.revision
            ))
        } else if let Some(max) = batch.max_lag_ms {
            match replica_lag(session).await? {
                ReplicaLag::Within(lag) if lag > Duration::from_millis(max) => Some(format!(
                    "a replica lags {:.1}s behind, more than max_lag={max}ms",
                    lag.as_secs_f64()
                )),
                ReplicaLag::Unreadable if !*lag_unreadable_said => {
                    *lag_unreadable_said = true;
                    progress.waiting = Some(
                        "max_lag: the replicas' lag is not visible to this role (grant it \
                         pg_monitor); going on without it"
                            .to_owned(),
                    );
                    on_event(RunEvent::Batch(progress));
                    None
                }
                _ => None,
            }
        } else {
            None
        };
        progress.waiting = waiting;
        if progress.waiting.is_none() {
            return Ok(());
        }
        on_event(RunEvent::Batch(progress));
        tokio::time::sleep(HOLD_POLL).await;
    }
}

/// What `pg_stat_replication` says of the replicas' replay lag.
enum ReplicaLag {
    /// The largest lag of the replicas (zero without any).
    Within(Duration),
    /// There are replicas, but their lag is hidden from this role.
    Unreadable,
}

async fn replica_lag(session: &Session<'_>) -> Result<ReplicaLag, RunError> {
    let row = session
        .client()
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE state IS NULL), \
                    coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 \
             FROM pg_stat_replication",
            &[],
        )
        .await
        .map_err(|e| DbError::query("read the replicas' lag", e))?;
    let (replicas, hidden, lag): (i64, i64, f64) = (row.get(0), row.get(1), row.get(2));
    // Without pg_read_all_stats, another role's walsenders show only their pid: the
    // state and lag columns are NULL.
    if replicas > 0 && hidden == replicas {
        return Ok(ReplicaLag::Unreadable);
    }
    Ok(ReplicaLag::Within(Duration::from_secs_f64(lag.max(0.0))))
}

/// The size of the first batch this run makes: what the last run adapted it to, else
/// the section's, within the cap.
fn first_size(batch: &Batch, progress: &BatchProgress, options: &RunOptions) -> u64 {
    let stored = progress
        .size
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0);
    stored
        .unwrap_or(batch.size)
        .min(cap(batch, progress, options))
}

/// The largest batch: the section's limit, or less when `min_batches` asks for more
/// batches over the range.
fn cap(batch: &Batch, progress: &BatchProgress, options: &RunOptions) -> u64 {
    let limit = if batch.target_ms.is_some() {
        crate::revision::batch::MAX_SIZE
    } else {
        batch.size
    };
    match (options.min_batches, progress.first, progress.last) {
        (Some(n), Some(first), Some(last)) if n > 0 => {
            let span = u64::try_from(last.saturating_sub(first))
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            limit.min(span.div_ceil(n).max(1))
        }
        _ => limit,
    }
}

/// The next size under `target=`: scaled by how far the last batch was from the
/// target, at most doubled or halved at a time (one slow batch, a checkpoint say, must
/// not swing it), within 1 and `cap`.
fn adapt(size: u64, took: Duration, target: Duration, cap: u64) -> u64 {
    let ratio = if took.is_zero() {
        2.0
    } else {
        (target.as_secs_f64() / took.as_secs_f64()).clamp(0.5, 2.0)
    };
    let next = (size as f64 * ratio).round();
    (next as u64).clamp(1, cap.max(1))
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
    fn sizes_follow_the_target_at_most_doubling_or_halving() {
        let target = Duration::from_millis(200);
        let cap = 1_000_000;
        assert_eq!(adapt(1000, Duration::from_millis(100), target, cap), 2000);
        assert_eq!(adapt(1000, Duration::from_millis(10), target, cap), 2000);
        assert_eq!(adapt(1000, Duration::ZERO, target, cap), 2000);
        assert_eq!(adapt(1000, Duration::from_millis(400), target, cap), 500);
        assert_eq!(adapt(1000, Duration::from_secs(60), target, cap), 500);
        assert_eq!(adapt(1000, Duration::from_millis(250), target, cap), 800);
        assert_eq!(adapt(1, Duration::from_secs(9), target, cap), 1);
        assert_eq!(adapt(900, Duration::from_millis(1), target, 1000), 1000);
    }

    fn progress(first: i64, last: i64) -> BatchProgress {
        BatchProgress {
            revision: "0001_aaaaaaaaaaaa".into(),
            direction: Direction::Upgrade,
            table: "t".into(),
            key: "id".into(),
            next: Some(first),
            last: Some(last),
            first: Some(first),
            batches: 0,
            rows: 0,
            started_at: String::new(),
            updated_at: String::new(),
            paused: false,
            size: None,
            last_batch_ms: None,
            last_error: None,
            seconds: 0.0,
            idle_seconds: 0.0,
            waiting: None,
        }
    }

    #[test]
    fn min_batches_caps_the_size_and_a_resumed_run_keeps_its_size() {
        let batch = crate::revision::Batch {
            table: vec!["t".into()],
            key: "id".into(),
            size: 10_000,
            sleep_ms: 0,
            target_ms: None,
            max_lag_ms: None,
            line: 1,
            statement: crate::revision::Script::empty(),
            after: None,
        };
        let mut options = RunOptions::default();
        assert_eq!(first_size(&batch, &progress(1, 100), &options), 10_000);
        options.min_batches = Some(4);
        assert_eq!(first_size(&batch, &progress(1, 100), &options), 25);
        assert_eq!(first_size(&batch, &progress(1, 101), &options), 26);
        assert_eq!(first_size(&batch, &progress(5, 5), &options), 1);
        assert_eq!(
            first_size(&batch, &progress(1, 10_000_000), &options),
            10_000
        );
        options.min_batches = None;
        let mut resumed = progress(1, 100);
        resumed.size = Some(700);
        assert_eq!(first_size(&batch, &resumed, &options), 700);
        // Without target= the section's size is also the most a resumed run takes.
        resumed.size = Some(70_000);
        assert_eq!(first_size(&batch, &resumed, &options), 10_000);
    }

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
