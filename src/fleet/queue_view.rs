//! A read-only view of a `fleet upgrade --queue` run, for `fleet status --queue`: counts
//! per state, throughput and ETA, the slowest running targets, the failures and the
//! workers, all read from the control database's tables ([`super::queue`]).
//!
//! Every age is computed by the server against its own `now()`: the workers' clocks only
//! stamp the events, and those are used for the throughput window alone. A snapshot is
//! one pipelined round of queries on the one connection, cheap enough to repeat every
//! couple of seconds on a run of thousands of targets.

use serde::Serialize;
use tokio_postgres::error::SqlState;

use crate::db::DbError;

use super::queue::Control;

/// How far back the throughput looks, in seconds.
pub const WINDOW_SECONDS: f64 = 60.0;

/// Running targets listed in a snapshot, slowest first.
pub const SLOWEST: i64 = 10;

/// A timestamp as RFC 3339 text in UTC, computed by the server.
const RFC3339: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

/// How many targets of the run are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StateCounts {
    /// Not claimed yet (or released back).
    pub pending: i64,
    /// Held by a worker (its lease may have lapsed).
    pub running: i64,
    /// Reached their goal.
    pub done: i64,
    /// Failed.
    pub failed: i64,
    /// All of the run's targets.
    pub total: i64,
}

/// How fast the run goes, over the last [`WINDOW_SECONDS`] (or the run's age, when it is
/// younger).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Throughput {
    /// The window the rates are measured over, in seconds.
    pub window_seconds: f64,
    /// Targets that ended (done or failed) in the window.
    pub targets_settled: i64,
    /// Revisions that committed in the window.
    pub revisions_finished: i64,
    /// Targets settled per minute.
    pub targets_per_minute: f64,
    /// Revisions finished per second.
    pub revisions_per_second: f64,
    /// Seconds until the pending and running targets are settled at this rate; `None`
    /// when nothing settled in the window (the rate is unknown) or nothing is left.
    pub eta_seconds: Option<f64>,
}

/// A target a worker holds now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningTarget {
    /// The target's name.
    pub name: String,
    /// The worker holding it.
    pub worker: Option<String>,
    /// The revision it runs: that of its last `step_start` since it was claimed; `None`
    /// between claim and first revision.
    pub revision: Option<String>,
    /// Seconds since it was first claimed in this run.
    pub elapsed_seconds: f64,
    /// Seconds left on the lease (negative once lapsed).
    pub lease_remaining_seconds: Option<f64>,
    /// Whether the lease lapsed: its worker did not renew it in time, and any worker may
    /// take it over.
    pub lease_lapsed: bool,
}

/// A target that failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedTarget {
    /// The target's name.
    pub name: String,
    /// The worker it failed on.
    pub worker: Option<String>,
    /// The revision that failed, when one was running.
    pub revision: Option<String>,
    /// The failure's message.
    pub error: Option<String>,
    /// When it failed (server time, RFC 3339).
    pub at: Option<String>,
}

/// A worker of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerView {
    /// The worker's name.
    pub id: String,
    /// Its machine.
    pub host: String,
    /// Its process id.
    pub pid: i32,
    /// The targets it holds now, by name.
    pub holding: Vec<String>,
    /// Seconds since it last renewed its leases (or joined, or finished).
    pub seen_seconds_ago: f64,
    /// Whether it finished (left the run).
    pub finished: bool,
    /// Whether it looks dead: not finished, and not seen for longer than its leases (all
    /// the leases it holds lapsed; holding none, longer than the run's lease).
    pub gone: bool,
}

/// The whole view of a run at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSnapshot {
    /// The run's name.
    pub run: String,
    /// The server's time of the snapshot (RFC 3339).
    pub at: String,
    /// Seconds since its first worker joined; `None` without workers.
    pub elapsed_seconds: Option<f64>,
    /// Targets per state.
    pub counts: StateCounts,
    /// Rates and ETA.
    pub throughput: Throughput,
    /// Up to [`SLOWEST`] running targets, longest elapsed first.
    pub slowest: Vec<RunningTarget>,
    /// Every failed target, in the order they failed.
    pub failed: Vec<FailedTarget>,
    /// The run's workers, by name.
    pub workers: Vec<WorkerView>,
    /// The highest event id of the run so far (0 without events): where
    /// [`failures_since`] may start.
    pub last_event_id: i64,
}

/// A `target_failed` event as `fleet status --watch` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureEvent {
    /// The event's id.
    pub id: i64,
    /// The worker that reported it.
    pub worker: String,
    /// The target.
    pub target: Option<String>,
    /// The revision that failed, when one was running.
    pub revision: Option<String>,
    /// The failure's message.
    pub error: Option<String>,
    /// The event's time (the worker's clock, RFC 3339).
    pub ts: String,
}

fn is_undefined_table(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNDEFINED_TABLE)
        || error.code() == Some(&SqlState::INVALID_SCHEMA_NAME)
}

/// The run of the most recently started worker; `None` when the queue holds no run (or
/// its tables do not exist yet).
pub async fn latest_run(control: &Control) -> Result<Option<String>, DbError> {
    let found = control
        .client()
        .query_opt(
            "SELECT run FROM retort_fleet.worker ORDER BY started_at DESC, run LIMIT 1",
            &[],
        )
        .await;
    match found {
        Ok(row) => Ok(row.map(|r| r.get(0))),
        Err(e) if is_undefined_table(&e) => Ok(None),
        Err(e) => Err(DbError::query("read the latest run of the queue", e)),
    }
}

/// Whether the queue knows `run` (it has a target or a worker); false when its tables do
/// not exist yet.
pub async fn has_run(control: &Control, run: &str) -> Result<bool, DbError> {
    let found = control
        .client()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM retort_fleet.target WHERE run = $1)
                 OR EXISTS (SELECT 1 FROM retort_fleet.worker WHERE run = $1)",
            &[&run],
        )
        .await;
    match found {
        Ok(row) => Ok(row.get(0)),
        Err(e) if is_undefined_table(&e) => Ok(false),
        Err(e) => Err(DbError::query("look up the run in the queue", e)),
    }
}

/// Reads the state of `run`: five queries pipelined on the one connection.
pub async fn snapshot(control: &Control, run: &str) -> Result<QueueSnapshot, DbError> {
    let client = control.client();
    let header_sql = format!(
        "SELECT count(*) FILTER (WHERE state = 'pending'),
                count(*) FILTER (WHERE state = 'running'),
                count(*) FILTER (WHERE state = 'done'),
                count(*) FILTER (WHERE state = 'failed'),
                count(*),
                to_char(now() AT TIME ZONE 'UTC', {RFC3339}),
                (SELECT extract(epoch FROM now() - min(started_at))::float8
                 FROM retort_fleet.worker WHERE run = $1),
                (SELECT coalesce(max(id), 0) FROM retort_fleet.event WHERE run = $1)
         FROM retort_fleet.target WHERE run = $1"
    );
    // Settled targets and finished revisions in the window, by the workers' stamps (the
    // only time an event has); a window no longer than the run's age, so a young run's
    // rate is not diluted by time before it began.
    let rate_sql = "
        WITH w AS (
            SELECT greatest(1, least($2::float8, coalesce(
                (SELECT extract(epoch FROM now() - min(started_at))::float8
                 FROM retort_fleet.worker WHERE run = $1), $2::float8))) AS seconds)
        SELECT (SELECT seconds FROM w),
               count(*) FILTER (WHERE event IN ('target_done', 'target_failed')),
               count(*) FILTER (WHERE event = 'step_finish')
        FROM retort_fleet.event
        WHERE run = $1 AND ts > now() - (SELECT seconds FROM w) * interval '1 second'";
    // The current revision: the target's last step_start, unless a claim came after it
    // (then the new holder has not started a revision yet). Read backwards along
    // event_by_target (run, target, id).
    let running_sql = "
        SELECT t.name, t.worker, cur.revision,
               extract(epoch FROM now() - t.started_at)::float8,
               extract(epoch FROM t.lease_until - now())::float8,
               coalesce(t.lease_until < now(), false)
        FROM retort_fleet.target t
        LEFT JOIN LATERAL (
            SELECT CASE WHEN e.event = 'step_start' THEN e.body->>'revision' END AS revision
            FROM retort_fleet.event e
            WHERE e.run = t.run AND e.target = t.name
              AND e.event IN ('step_start', 'target_claimed')
            ORDER BY e.id DESC LIMIT 1) cur ON true
        WHERE t.run = $1 AND t.state = 'running'
        ORDER BY t.started_at, t.name
        LIMIT $2";
    let failed_sql = format!(
        "SELECT name, worker, failed_revision, error,
                to_char(finished_at AT TIME ZONE 'UTC', {RFC3339})
         FROM retort_fleet.target
         WHERE run = $1 AND state = 'failed'
         ORDER BY finished_at, name"
    );
    // A renewal sets seen_at and lease_until = now() + lease together, so their largest
    // difference over the run's running targets is (at least) the lease.
    let workers_sql = "
        WITH lease AS (
            SELECT max(t.lease_until - w.seen_at) AS lease
            FROM retort_fleet.target t
            JOIN retort_fleet.worker w ON w.run = t.run AND w.id = t.worker
            WHERE t.run = $1 AND t.state = 'running')
        SELECT w.id, w.host, w.pid,
               coalesce(h.names, '{}'),
               extract(epoch FROM now() - w.seen_at)::float8,
               w.finished_at IS NOT NULL,
               w.finished_at IS NULL AND CASE
                   WHEN h.names IS NOT NULL THEN h.live = 0
                   ELSE coalesce(now() - w.seen_at > (SELECT lease FROM lease), false)
               END
        FROM retort_fleet.worker w
        LEFT JOIN LATERAL (
            SELECT array_agg(t.name ORDER BY t.name) AS names,
                   count(*) FILTER (WHERE t.lease_until >= now()) AS live
            FROM retort_fleet.target t
            WHERE t.run = w.run AND t.worker = w.id AND t.state = 'running'
            HAVING count(*) > 0) h ON true
        WHERE w.run = $1
        ORDER BY w.id";
    let action = "read the run's state from the queue";
    let by_run: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&run];
    let rate_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&run, &WINDOW_SECONDS];
    let running_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&run, &SLOWEST];
    let (header, rates, running, failed, workers) = tokio::try_join!(
        client.query_one(&header_sql, &by_run),
        client.query_one(rate_sql, &rate_params),
        client.query(running_sql, &running_params),
        client.query(&failed_sql, &by_run),
        client.query(workers_sql, &by_run),
    )
    .map_err(|e| DbError::query(action, e))?;
    let counts = StateCounts {
        pending: header.get(0),
        running: header.get(1),
        done: header.get(2),
        failed: header.get(3),
        total: header.get(4),
    };
    let elapsed_seconds: Option<f64> = header.get(6);
    let window: f64 = rates.get(0);
    let targets_settled: i64 = rates.get(1);
    let revisions_finished: i64 = rates.get(2);
    let left = counts.pending + counts.running;
    let per_second = targets_settled as f64 / window;
    let throughput = Throughput {
        window_seconds: window,
        targets_settled,
        revisions_finished,
        targets_per_minute: per_second * 60.0,
        revisions_per_second: revisions_finished as f64 / window,
        eta_seconds: (targets_settled > 0 && left > 0).then(|| left as f64 / per_second),
    };
    Ok(QueueSnapshot {
        run: run.to_owned(),
        at: header.get(5),
        elapsed_seconds,
        counts,
        throughput,
        slowest: running
            .iter()
            .map(|r| RunningTarget {
                name: r.get(0),
                worker: r.get(1),
                revision: r.get(2),
                elapsed_seconds: r.get::<_, Option<f64>>(3).unwrap_or(0.0),
                lease_remaining_seconds: r.get(4),
                lease_lapsed: r.get(5),
            })
            .collect(),
        failed: failed
            .iter()
            .map(|r| FailedTarget {
                name: r.get(0),
                worker: r.get(1),
                revision: r.get(2),
                error: r.get(3),
                at: r.get(4),
            })
            .collect(),
        workers: workers
            .iter()
            .map(|r| WorkerView {
                id: r.get(0),
                host: r.get(1),
                pid: r.get(2),
                holding: r.get(3),
                seen_seconds_ago: r.get(4),
                finished: r.get(5),
                gone: r.get(6),
            })
            .collect(),
        last_event_id: header.get(7),
    })
}

/// The `target_failed` events of `run` after event `after_event_id`, oldest first, and
/// the id to pass next time (the last one returned, else `after_event_id`).
pub async fn failures_since(
    control: &Control,
    run: &str,
    after_event_id: i64,
) -> Result<(Vec<FailureEvent>, i64), DbError> {
    let sql = format!(
        "SELECT id, worker, target, body->>'revision', body->>'error',
                to_char(ts AT TIME ZONE 'UTC', {RFC3339})
         FROM retort_fleet.event
         WHERE run = $1 AND id > $2 AND event = 'target_failed'
         ORDER BY id"
    );
    let rows = control
        .client()
        .query(&sql, &[&run, &after_event_id])
        .await
        .map_err(|e| DbError::query("read the run's failures from the queue", e))?;
    let failures: Vec<FailureEvent> = rows
        .iter()
        .map(|r| FailureEvent {
            id: r.get(0),
            worker: r.get(1),
            target: r.get(2),
            revision: r.get(3),
            error: r.get(4),
            ts: r.get(5),
        })
        .collect();
    let last = failures.last().map_or(after_event_id, |f| f.id);
    Ok((failures, last))
}
