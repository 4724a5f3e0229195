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
use crate::db::batch_state::{is_paused, read_batch, read_batches, record_error, BatchProgress};
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
    // The key's kind, when it was checked before anything ran (a first run on an
    // existing table); run_ranges checks it otherwise.
    let mut checked = None;
    let mut progress = match progress {
        Some(progress) => progress,
        None => {
            checked = check_table(session, batch, &location).await?;
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
                "record the batch's key range",
                tables.insert_batch_range(id, direction, batch),
            ));
            retry_locks(session, options, Attempt::Transaction(&pieces), on_event).await?;
            read_batch(session.client(), tables, id, direction)
                .await?
                .ok_or_else(|| RunError::Batch {
                    location: location.clone(),
                    message: "the batch table lost the row just written".to_owned(),
                })?
        }
    };
    on_event(RunEvent::Batch(&progress));

    if !progress.is_done() {
        let result = run_ranges(
            session,
            revision,
            batch,
            checked,
            &mut progress,
            options,
            on_event,
        )
        .await;
        if let Err(error) = &result {
            // Best effort: the connection may be the reason the batch failed.
            // A stop asked for is no failure of the batch.
            if !error.is_connection_lost() && !matches!(error, RunError::Stopped { .. }) {
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
    checked: Option<Successor>,
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
    let key = match checked {
        Some(key) => key,
        None => key_columns(session, batch, &location).await?,
    };
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
    while let (Some(lo), Some(last)) = (progress.next.clone(), progress.last.clone()) {
        options.check_stop(id)?;
        wait_while_held(session, batch, progress, &mut lag_unreadable_said, on_event).await?;
        let span = i64::try_from(size).unwrap_or(i64::MAX);
        let mut boundary_params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        let (lo_texts, last_texts) = (texts(&lo), texts(&last));
        boundary_params.extend(lo_texts.iter().map(|t| t as &(dyn ToSql + Sync)));
        boundary_params.extend(last_texts.iter().map(|t| t as &(dyn ToSql + Sync)));
        boundary_params.push(&span);
        let found: Option<Vec<String>> = session
            .client()
            .query_opt(&boundary, &boundary_params)
            .await
            .map_err(|e| DbError::query("find the end of the next batch", e))?
            .map(|row| row.get(0));
        // The last batch ends just past the range's last key: the smallest value the
        // key can take after it, so that no row added after the range was fixed is in.
        let (hi, next, walked) = match found {
            Some(hi) => (hi.clone(), Some(hi), span),
            None => {
                let end =
                    successor(session, &key, &last)
                        .await
                        .map_err(|message| RunError::Batch {
                            location: location.clone(),
                            message,
                        })?;
                (end, None, 0)
            }
        };
        let hi_texts = texts(&hi);
        let params: Vec<&(dyn ToSql + Sync)> = lo_texts
            .iter()
            .chain(hi_texts.iter())
            .map(|t| t as &(dyn ToSql + Sync))
            .collect();
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
                    next: &next,
                    size: span,
                    walked,
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
        progress.next = next;
        progress.walked += walked;
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
        let paused = is_paused(
            session.client(),
            session.tables(),
            &progress.revision,
            progress.direction,
        )
        .await?;
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
/// batches over the table's rows.
fn cap(batch: &Batch, progress: &BatchProgress, options: &RunOptions) -> u64 {
    let limit = if batch.target_ms.is_some() {
        crate::revision::batch::MAX_SIZE
    } else {
        batch.size
    };
    match options.min_batches {
        Some(n) if n > 0 => {
            let rows = u64::try_from(progress.total).unwrap_or(0).max(1);
            limit.min(rows.div_ceil(n).max(1))
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

/// Before the first run of a section, when its table exists already: the key checked
/// (see [`key_columns`]) before anything runs. A table the section before the batch
/// creates is checked once that section committed.
async fn check_table(
    session: &Session<'_>,
    batch: &Batch,
    location: &str,
) -> Result<Option<Successor>, RunError> {
    let exists: bool = session
        .client()
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&batch.table_sql()])
        .await
        .map_err(|e| DbError::query("look up the batch's table", e))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    key_columns(session, batch, location).await.map(Some)
}

/// A row of `items` for a comparison: the item alone for a key of one column.
fn row_of(items: &[String]) -> String {
    match items {
        [one] => one.clone(),
        many => format!("ROW({})", many.join(", ")),
    }
}

/// The key `size` keys past `lo` (`$1`…) within the range (`last`, the next
/// parameters; `size` the last one): the end of the batch starting at `lo`, read from
/// the key's index; no row when the rest of the range fits in one batch.
fn boundary_query(batch: &Batch) -> String {
    let n = batch.key.len();
    let columns: Vec<String> = batch.key.iter().map(|k| quote_ident(k)).collect();
    let params =
        |first: usize| -> Vec<String> { (first..first + n).map(|i| format!("${i}")).collect() };
    let key = row_of(&columns);
    let texts: Vec<String> = columns.iter().map(|c| format!("{c}::text")).collect();
    format!(
        "SELECT ARRAY[{}] FROM {} WHERE {key} >= {} AND {key} <= {} \
         ORDER BY {} OFFSET ${}::bigint LIMIT 1",
        texts.join(", "),
        batch.table_sql(),
        row_of(&params(1)),
        row_of(&params(n + 1)),
        columns.join(", "),
        2 * n + 1
    )
}

/// What the last key column is, for the value just after the range's last key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Successor {
    /// `smallint`, `integer`, `bigint`: plus one.
    Integer,
    /// `date`, `timestamp`, `timestamptz`: plus `step_us` microseconds (a day; the
    /// column's precision), computed by the server in the column's type.
    Stepped {
        /// The SQL type, one of retort's own three names.
        type_name: &'static str,
        /// The step.
        step_us: i64,
    },
    /// `uuid`: the next 128-bit number.
    Uuid,
}

/// The key's columns checked against the table (after the section before the batch
/// ran, which may have created it): they exist, an index begins with them, and the
/// last one has a next value.
async fn key_columns(
    session: &Session<'_>,
    batch: &Batch,
    location: &str,
) -> Result<Successor, RunError> {
    let refuse = |message: String| RunError::Batch {
        location: location.to_owned(),
        message,
    };
    let rows = session
        .client()
        .query(
            "SELECT k.name, a.atttypid::regtype::text, a.atttypmod, a.attnum \
             FROM unnest($2::text[]) WITH ORDINALITY AS k(name, i) \
             LEFT JOIN pg_attribute a ON a.attrelid = to_regclass($1) AND a.attname = k.name \
               AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY k.i",
            &[&batch.table_sql(), &batch.key],
        )
        .await
        .map_err(|e| DbError::query("look up the batch's key columns", e))?;
    let name = batch.table_name();
    let mut attnums = Vec::new();
    let mut last = None;
    for row in &rows {
        let column: String = row.get(0);
        let (Some(ty), Some(attnum)) = (
            row.get::<_, Option<String>>(1),
            row.get::<_, Option<i16>>(3),
        ) else {
            return Err(refuse(format!(
                "table {name} has no column {column}; key= names the columns the batches walk"
            )));
        };
        attnums.push(attnum);
        last = Some((column, ty, row.get::<_, i32>(2)));
    }
    let (column, ty, typmod) = last.ok_or_else(|| refuse("key= names no column".to_owned()))?;
    let successor = match ty.as_str() {
        "smallint" | "integer" | "bigint" => Successor::Integer,
        "date" => Successor::Stepped {
            type_name: "date",
            step_us: 86_400_000_000,
        },
        "timestamp without time zone" | "timestamp with time zone" => Successor::Stepped {
            type_name: if ty.ends_with("with time zone") {
                "timestamptz"
            } else {
                "timestamp"
            },
            // timestamp(p) keeps p fractional digits (6 when unspecified).
            step_us: 10i64.pow(6 - u32::try_from(typmod).unwrap_or(6).min(6)),
        },
        "uuid" => Successor::Uuid,
        other => {
            return Err(refuse(format!(
                "the key column {name}.{column} is of type {other}, which has no next value to end \
                 the last batch at; the last key column must be an integer, date, timestamp or uuid \
                 (a key of several columns may begin with others)"
            )))
        }
    };
    let indexed: bool = session
        .client()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) \
               AND i.indisvalid AND (i.indkey::int2[])[0:cardinality($2::int2[]) - 1] = $2::int2[])",
            &[&batch.table_sql(), &attnums],
        )
        .await
        .map_err(|e| DbError::query("look for the key's index", e))?
        .get(0);
    if !indexed {
        return Err(refuse(format!(
            "no valid index of {name} begins with {}: each batch finds its end through one. \
             Add it first (CREATE INDEX CONCURRENTLY in an earlier revision)",
            batch.key_name()
        )));
    }
    Ok(successor)
}

/// The smallest key after `last`: `last` with its last column moved to that column's
/// next value.
async fn successor(
    session: &Session<'_>,
    kind: &Successor,
    last: &[String],
) -> Result<Vec<String>, String> {
    let Some((value, leading)) = last.split_last() else {
        return Err("the range has no last key".to_owned());
    };
    let next = match *kind {
        Successor::Integer => value
            .parse::<i64>()
            .ok()
            .and_then(|v| v.checked_add(1))
            .map(|v| v.to_string())
            .ok_or_else(|| format!("the key {value} has no next integer"))?,
        Successor::Uuid => {
            next_uuid(value).ok_or_else(|| format!("the key {value} is the largest uuid"))?
        }
        Successor::Stepped { type_name, step_us } => {
            let sql = format!(
                "SELECT ($1::text::{type_name} + $2::bigint * interval '1 microsecond')::{type_name}::text, \
                 $1::text::{type_name} < 'infinity'"
            );
            let row = session
                .client()
                .query_one(&sql, &[&value, &step_us])
                .await
                .map_err(|e| {
                    format!(
                        "cannot compute the key after {value}: {}",
                        crate::db::describe_pg_error(&e)
                    )
                })?;
            if !row.get::<_, bool>(1) {
                return Err(format!(
                    "the key {value} is infinity; no batch can end past it"
                ));
            }
            row.get(0)
        }
    };
    let mut out = leading.to_vec();
    out.push(next);
    Ok(out)
}

/// The uuid after `text` as a 128-bit number; `None` past the largest.
fn next_uuid(text: &str) -> Option<String> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let next = u128::from_str_radix(&hex, 16).ok()?.checked_add(1)?;
    let h = format!("{next:032x}");
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// A key value sent as text, for the server to read as the type it inferred (any key
/// type, without a client-side conversion per type).
#[derive(Debug)]
struct KeyText(String);

impl ToSql for KeyText {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> tokio_postgres::types::Format {
        tokio_postgres::types::Format::Text
    }

    tokio_postgres::types::to_sql_checked!();
}

fn texts(values: &[String]) -> Vec<KeyText> {
    values.iter().cloned().map(KeyText).collect()
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
            next: Some(vec![first.to_string()]),
            last: Some(vec![last.to_string()]),
            first: Some(vec![first.to_string()]),
            walked: 0,
            total: last - first + 1,
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
            size: 10_000,
            ..crate::revision::Batch::for_tests("t", "id", "")
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
    fn the_uuid_after_one_carries_and_stops_at_the_largest() {
        assert_eq!(
            next_uuid("00000000-0000-0000-0000-0000000000ff").as_deref(),
            Some("00000000-0000-0000-0000-000000000100")
        );
        assert_eq!(
            next_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").as_deref(),
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12")
        );
        assert_eq!(next_uuid("ffffffff-ffff-ffff-ffff-ffffffffffff"), None);
        assert_eq!(next_uuid("not a uuid"), None);
    }

    #[test]
    fn boundary_queries_compare_rows_for_composite_keys() {
        let mut batch = crate::revision::Batch::for_tests("app.t", "id", "");
        assert_eq!(
            boundary_query(&batch),
            "SELECT ARRAY[id::text] FROM app.t WHERE id >= $1 AND id <= $2 \
             ORDER BY id OFFSET $3::bigint LIMIT 1"
        );
        batch.key = vec!["Tenant".into(), "id".into()];
        assert_eq!(
            boundary_query(&batch),
            "SELECT ARRAY[\"Tenant\"::text, id::text] FROM app.t WHERE ROW(\"Tenant\", id) >= ROW($1, $2) \
             AND ROW(\"Tenant\", id) <= ROW($3, $4) ORDER BY \"Tenant\", id OFFSET $5::bigint LIMIT 1"
        );
    }
}
