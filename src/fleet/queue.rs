//! The control database of `fleet upgrade --queue URL`: the tables workers on any number
//! of machines share, and every statement they run on them.
//!
//! Tables live in the schema `retort_fleet` (created on first use):
//! - `target`: one row per (run, target) with its state (`pending`, `running`, `done`,
//!   `failed`), the worker holding it and until when (`lease_until`, server time);
//! - `worker`: one row per worker of a run, with its host, pid and last renewal;
//! - `event`: every fleet event of every worker, as JSON, in the order they were flushed.
//!
//! A worker claims pending targets, or running ones whose lease has lapsed, with
//! `FOR UPDATE SKIP LOCKED`, so concurrent claims never wait on each other or take the
//! same row. The lease only says who should work on a target; what makes each revision
//! run once is still the target's own advisory lock and version rows.

use std::time::Duration;

use tokio_postgres::Client;

use crate::db::{ConnInfo, DbError};

use super::{Event, TargetOutcome, TargetState};

/// The schema of the queue's tables in the control database.
pub const SCHEMA: &str = "retort_fleet";

/// Advisory lock (transaction-scoped) taken while the tables are created, so that workers
/// starting together do not race on `CREATE ... IF NOT EXISTS`.
const CREATE_LOCK: i64 = 0x7265_746f_7274_5100;

/// The tables, created if missing. `lease_until` and the event ids are the server's, so
/// workers' clocks never decide who owns a target.
const CREATE: &str = "
CREATE SCHEMA IF NOT EXISTS retort_fleet;
CREATE TABLE IF NOT EXISTS retort_fleet.target (
    run text NOT NULL,
    name text NOT NULL,
    database text NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'done', 'failed')),
    worker text,
    lease_until timestamptz,
    claims integer NOT NULL DEFAULT 0,
    started_at timestamptz,
    finished_at timestamptz,
    revisions integer NOT NULL DEFAULT 0,
    heads text[],
    error text,
    failed_revision text,
    PRIMARY KEY (run, name)
);
CREATE INDEX IF NOT EXISTS target_claimable ON retort_fleet.target (run, state, lease_until);
CREATE TABLE IF NOT EXISTS retort_fleet.worker (
    run text NOT NULL,
    id text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (run, id)
);
CREATE TABLE IF NOT EXISTS retort_fleet.event (
    id bigserial PRIMARY KEY,
    run text NOT NULL,
    worker text NOT NULL,
    ts timestamptz NOT NULL,
    target text,
    event text NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS event_by_run ON retort_fleet.event (run, id);
CREATE INDEX IF NOT EXISTS event_by_target ON retort_fleet.event (run, target, id);
";

/// Who a worker is, as the `worker` table and `fleet status` show it.
#[derive(Debug, Clone)]
pub struct WorkerId {
    /// Unique among the run's workers (`--worker`, default `host:pid`).
    pub id: String,
    /// The machine (a pod's name in Kubernetes).
    pub host: String,
    /// The worker's process id.
    pub pid: u32,
}

/// A target a worker just claimed.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The target's name.
    pub name: String,
    /// The worker that held it before, when this claim takes over a lapsed lease.
    pub previous: Option<String>,
    /// Claims of this target in the run so far, this one included.
    pub claims: i32,
}

/// What is left of a run for one worker's targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsettled {
    /// Targets no worker has claimed yet.
    pub pending: i64,
    /// Targets some worker holds (its lease may have lapsed).
    pub running: i64,
}

impl Unsettled {
    /// Whether every target is done or failed.
    pub fn is_settled(&self) -> bool {
        self.pending == 0 && self.running == 0
    }
}

fn millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// A connection to the control database.
pub struct Control {
    client: Client,
}

impl Control {
    /// Connects to the control database (application_name `retort fleet worker`).
    pub async fn connect(conn: &ConnInfo) -> Result<Control, DbError> {
        Control::connect_as(conn, "retort fleet worker").await
    }

    /// Connects to the control database under another `application_name` (`retort
    /// fleet status` for the read-only view), so `pg_stat_activity` tells them apart.
    pub async fn connect_as(conn: &ConnInfo, application_name: &str) -> Result<Control, DbError> {
        let client = conn.connect(application_name).await?;
        Ok(Control { client })
    }

    /// The connection, for read-only views of the queue (`fleet status --queue`).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the queue's tables when they are missing.
    pub async fn prepare(&self) -> Result<(), DbError> {
        let create =
            format!("BEGIN; SELECT pg_advisory_xact_lock({CREATE_LOCK}); {CREATE} COMMIT;");
        self.client
            .batch_execute(&create)
            .await
            .map_err(|e| DbError::query("create the queue's tables (retort_fleet)", e))
    }

    /// Enters `worker` into `run` and the targets it knows into the queue (those already
    /// there stay as they are). A run whose every target is settled (done or failed)
    /// starts over: each of its targets is pending again, so a rerun looks at every
    /// target once more (one already at its revision is a quick no-op).
    pub async fn join(
        &self,
        run: &str,
        worker: &WorkerId,
        names: &[String],
        databases: &[String],
    ) -> Result<(), DbError> {
        let action = "enter the worker and its targets into the queue";
        let pid = i32::try_from(worker.pid).unwrap_or(i32::MAX);
        // One transaction under a lock on the run, taken by a statement of its own: the
        // next statement's snapshot then sees what a worker that joined first wrote, so
        // two workers starting together agree on whether the run starts over.
        let sql = "
            WITH restart AS (
                UPDATE retort_fleet.target SET state = 'pending', worker = NULL,
                    lease_until = NULL, claims = 0, started_at = NULL, finished_at = NULL,
                    revisions = 0, heads = NULL, error = NULL, failed_revision = NULL
                WHERE run = $1 AND NOT EXISTS (
                    SELECT 1 FROM retort_fleet.target
                    WHERE run = $1 AND state IN ('pending', 'running'))
                RETURNING 1),
            added AS (
                INSERT INTO retort_fleet.target (run, name, database)
                SELECT $1, n, d FROM unnest($2::text[], $3::text[]) AS t(n, d)
                ON CONFLICT (run, name) DO NOTHING
                RETURNING 1)
            INSERT INTO retort_fleet.worker (run, id, host, pid)
            VALUES ($1, $4, $5, $6)
            ON CONFLICT (run, id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
                started_at = now(), seen_at = now(), finished_at = NULL";
        let client = &self.client;
        let result = async {
            client.batch_execute("BEGIN").await?;
            client
                .execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                    &[&run],
                )
                .await?;
            client
                .execute(
                    sql,
                    &[&run, &names, &databases, &worker.id, &worker.host, &pid],
                )
                .await?;
            client.batch_execute("COMMIT").await
        }
        .await;
        if result.is_err() {
            // Best effort: a broken connection has rolled back already.
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result.map_err(|e| DbError::query(action, e))?;
        Ok(())
    }

    /// Claims up to `limit` of `names`: pending ones, or running ones whose lease lapsed
    /// (those first, so a dead worker's targets resume soonest).
    pub async fn claim(
        &self,
        run: &str,
        worker: &str,
        lease: Duration,
        names: &[String],
        limit: usize,
    ) -> Result<Vec<Claim>, DbError> {
        let sql = "
            WITH next AS (
                SELECT name, worker AS previous FROM retort_fleet.target
                WHERE run = $1 AND name = ANY($4)
                  AND (state = 'pending' OR (state = 'running' AND lease_until < now()))
                ORDER BY state = 'running' DESC, name
                LIMIT $5
                FOR UPDATE SKIP LOCKED)
            UPDATE retort_fleet.target t
            SET state = 'running', worker = $2,
                lease_until = now() + $3::bigint * interval '1 millisecond',
                claims = t.claims + 1, started_at = coalesce(t.started_at, now())
            FROM next
            WHERE t.run = $1 AND t.name = next.name
            RETURNING t.name, next.previous, t.claims";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client
            .query(sql, &[&run, &worker, &millis(lease), &names, &limit])
            .await
            .map_err(|e| DbError::query("claim targets from the queue", e))?;
        Ok(rows
            .iter()
            .map(|row| Claim {
                name: row.get(0),
                previous: row.get(1),
                claims: row.get(2),
            })
            .collect())
    }

    /// Extends the lease on each of `names` this worker still holds; returns those. A
    /// name missing from the answer was taken over (or the run started over): the
    /// worker must stop working on it.
    pub async fn renew(
        &self,
        run: &str,
        worker: &str,
        lease: Duration,
        names: &[String],
    ) -> Result<Vec<String>, DbError> {
        let sql = "
            WITH seen AS (
                UPDATE retort_fleet.worker SET seen_at = now() WHERE run = $1 AND id = $2)
            UPDATE retort_fleet.target
            SET lease_until = now() + $3::bigint * interval '1 millisecond'
            WHERE run = $1 AND worker = $2 AND state = 'running' AND name = ANY($4)
            RETURNING name";
        let rows = self
            .client
            .query(sql, &[&run, &worker, &millis(lease), &names])
            .await
            .map_err(|e| DbError::query("renew the leases on the worker's targets", e))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Records how a target this worker holds ended: done or failed settle it; a
    /// released one (its lease lapsed here) goes back to pending for any worker. Returns
    /// false when the worker no longer held it (another worker took it over).
    pub async fn settle(
        &self,
        run: &str,
        worker: &str,
        outcome: &TargetOutcome,
    ) -> Result<bool, DbError> {
        let state = match outcome.state {
            TargetState::Done => "done",
            TargetState::Failed => "failed",
            TargetState::Released | TargetState::Skipped => "pending",
        };
        let steps = i32::try_from(outcome.revisions.len()).unwrap_or(i32::MAX);
        let sql = "
            UPDATE retort_fleet.target
            SET state = $4,
                worker = CASE WHEN $4 = 'pending' THEN NULL ELSE worker END,
                lease_until = NULL,
                finished_at = CASE WHEN $4 = 'pending' THEN NULL ELSE now() END,
                revisions = revisions + $5, heads = $6, error = $7, failed_revision = $8
            WHERE run = $1 AND name = $3 AND worker = $2 AND state = 'running'";
        let changed = self
            .client
            .execute(
                sql,
                &[
                    &run,
                    &worker,
                    &outcome.name,
                    &state,
                    &steps,
                    &outcome.heads,
                    &outcome.error,
                    &outcome.failed_revision,
                ],
            )
            .await
            .map_err(|e| DbError::query("record a target's outcome in the queue", e))?;
        Ok(changed == 1)
    }

    /// How many of `names` are still pending or running in `run`.
    pub async fn unsettled(&self, run: &str, names: &[String]) -> Result<Unsettled, DbError> {
        let row = self
            .client
            .query_one(
                "SELECT count(*) FILTER (WHERE state = 'pending'),
                        count(*) FILTER (WHERE state = 'running')
                 FROM retort_fleet.target WHERE run = $1 AND name = ANY($2)",
                &[&run, &names],
            )
            .await
            .map_err(|e| DbError::query("read what is left in the queue", e))?;
        Ok(Unsettled {
            pending: row.get(0),
            running: row.get(1),
        })
    }

    /// Appends `events` (of this worker) to the event table, in order, in one statement.
    pub async fn record(&self, run: &str, worker: &str, events: &[Event]) -> Result<(), DbError> {
        let mut ts = Vec::with_capacity(events.len());
        let mut targets = Vec::with_capacity(events.len());
        let mut kinds = Vec::with_capacity(events.len());
        let mut bodies = Vec::with_capacity(events.len());
        for event in events {
            let body = serde_json::to_value(event).unwrap_or_default();
            ts.push(event.ts.clone());
            targets.push(body["target"].as_str().map(str::to_owned));
            kinds.push(body["event"].as_str().unwrap_or("unknown").to_owned());
            bodies.push(body.to_string());
        }
        self.client
            .execute(
                "INSERT INTO retort_fleet.event (run, worker, ts, target, event, body)
                 SELECT $1, $2, ts::timestamptz, target, event, body::jsonb
                 FROM unnest($3::text[], $4::text[], $5::text[], $6::text[])
                     WITH ORDINALITY AS e(ts, target, event, body, n)
                 ORDER BY n",
                &[&run, &worker, &ts, &targets, &kinds, &bodies],
            )
            .await
            .map_err(|e| DbError::query("write events to the queue's event table", e))?;
        Ok(())
    }

    /// Marks the worker finished (it holds nothing any more).
    pub async fn leave(&self, run: &str, worker: &str) -> Result<(), DbError> {
        self.client
            .execute(
                "UPDATE retort_fleet.worker SET finished_at = now(), seen_at = now()
                 WHERE run = $1 AND id = $2",
                &[&run, &worker],
            )
            .await
            .map_err(|e| DbError::query("mark the worker finished in the queue", e))?;
        Ok(())
    }
}
