//! Fleets: one revision chain applied to many databases or tenant schemas at once.
//!
//! Each target is an ordinary runner session with its own version tables and advisory
//! lock, so targets never wait for each other and a rerun resumes each one exactly where
//! it stopped (every revision commits with its version-table row). Up to `concurrency`
//! targets run at the same time on one thread: the work is the servers', the client only
//! waits. Their sessions come from one [`pool::Pool`] of at most `concurrency`
//! connections, shared by the schema targets of a database. Transient failures are retried with backoff ([`retry`]); permanent ones mark
//! the target failed and the run goes on. Nothing here prints: everything is reported as
//! [`events::Event`]s, which the CLI turns into progress, logs and metrics.

pub mod events;
pub mod pool;
pub mod queue;
pub mod queue_view;
pub mod retry;
pub mod shard;
pub mod targets;
pub mod worker;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::db::{DbError, Session};
use crate::migrator::{RunError, RunEvent, RunOptions};
use crate::Migrator;
use pool::Pool;

pub use crate::migrator::Backoff;
pub use events::{Event, EventKind, EventLog, Metrics};
pub use shard::{Shard, ShardError};
pub use targets::FleetTarget;

/// Why a fleet's targets could not be listed, or a fleet-wide step failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The `--targets` file could not be read.
    #[error("cannot read the targets file {}: {source}; give another with --targets FILE, or use --targets-query / --schemas", path.display())]
    ReadTargets {
        /// The targets file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The targets file is not valid TOML or a target in it is invalid.
    #[error("{}:{line}: {message}", path.display())]
    TargetsFile {
        /// The targets file.
        path: PathBuf,
        /// 1-based line of the problem (of the target's `[[targets]]` header when the
        /// problem is in one of its values).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `--targets-query` returned unusable rows (missing columns, null or duplicate names,
    /// bad URLs); the message names the row or target.
    #[error("{0}")]
    Query(String),
    /// `--only` names targets that are not defined.
    #[error("no target is named {}; {known} target(s) are defined (`retort fleet status` lists them)", names.join(", "))]
    UnknownTargets {
        /// The names that match no target.
        names: Vec<String>,
        /// How many targets are defined.
        known: usize,
    },
    /// The queue's control database (`--queue`) did not answer for longer than the
    /// worker waits; its targets go back to the queue as their leases lapse.
    #[error(
        "the queue's control database {control} did not answer for {seconds} s ({message}); \
         this worker stopped its targets at a revision boundary, and other workers take them \
         over once their leases lapse. Check the network to the control database and start \
         the worker again"
    )]
    QueueLost {
        /// `user@host:port/db` of the control database.
        control: String,
        /// How long the worker tried.
        seconds: u64,
        /// The last failure.
        message: String,
    },
    /// `--shard` is not `K/N` or `auto/N` with K below N.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// The control database (for `--targets-query` or `--schemas`) could not be reached or
    /// queried.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl FleetError {
    /// ARCHITECTURE.md's exit codes: 2 for input, the database error's own code otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            FleetError::Db(db) => db.exit_code(),
            FleetError::QueueLost { .. } => 3,
            _ => 2,
        }
    }
}

/// What to do to each target.
#[derive(Debug, Clone)]
pub enum Operation {
    /// Upgrade to a revision target (`head`, an id, ...).
    Upgrade {
        /// A revision target as `retort upgrade` takes it (`head`, an id, a prefix, ...).
        target: String,
    },
    /// Say which revisions an upgrade to `target` would run; change nothing.
    DryRun {
        /// A revision target as `retort upgrade` takes it.
        target: String,
    },
    /// Record `revision` in the version table without running SQL (new tenants).
    Stamp {
        /// A revision target resolving to the revision to record.
        revision: String,
    },
}

/// Settings of a fleet run.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// What to do to each target.
    pub operation: Operation,
    /// Targets running at the same time (at least 1).
    pub concurrency: usize,
    /// Further attempts after a transient failure.
    pub retries: u32,
    /// Delays between attempts of one target after transient failures.
    pub backoff: Backoff,
    /// Start no new target after the first failure.
    pub fail_fast: bool,
    /// Per-target runner settings (lock wait, SQL timeouts).
    pub run: RunOptions,
}

/// How a target's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// The operation finished (for a dry run: the plan was computed).
    Done,
    /// The operation failed permanently, or transiently more times than `retries` allows.
    Failed,
    /// Never started (`--fail-fast`).
    Skipped,
    /// Handed back to the queue (`--queue`) at a revision boundary: this worker's lease
    /// on it lapsed, and another worker goes on from where it stopped.
    Released,
}

/// How one target ended.
#[derive(Debug, Clone, Serialize)]
pub struct TargetOutcome {
    /// The target's name, as in the targets file or query.
    pub name: String,
    /// `user@host:port/db` (and schema): safe to print.
    pub database: String,
    /// How the target's run ended.
    pub state: TargetState,
    /// Revisions applied (over all attempts); planned ones for a dry run.
    pub revisions: Vec<String>,
    /// The version table's heads at the end (empty when unknown or at base).
    pub heads: Vec<String>,
    /// Attempts made (1 unless transient failures were retried; 0 when skipped).
    pub attempts: u32,
    /// Wall time of the target over all attempts and retry delays, in milliseconds; 0 when
    /// skipped.
    pub duration_ms: u64,
    /// The last attempt's error message; `None` when done. For a skipped target, why it was
    /// skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The revision running when the target failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_revision: Option<String>,
    /// The exit code the failure would have had alone (ARCHITECTURE.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

/// The whole run, targets in the order given.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// One outcome per target, in the order the targets were given.
    pub targets: Vec<TargetOutcome>,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: u64,
    /// Connections the run opened: schema targets of one database share them, and at
    /// most `concurrency` are open at once.
    pub connections_opened: usize,
}

impl FleetReport {
    /// How many targets ended in `state`.
    pub fn count(&self, state: TargetState) -> usize {
        self.targets.iter().filter(|t| t.state == state).count()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Shared by the concurrently running targets (all on one thread).
struct Shared<'a> {
    migrator: &'a Migrator,
    options: &'a FleetOptions,
    on_event: RefCell<&'a mut dyn FnMut(&Event)>,
    failed: Cell<bool>,
    pool: Pool,
}

impl Shared<'_> {
    fn send(&self, kind: EventKind) {
        // Never held across an await: the borrow ends with the call.
        (self.on_event.borrow_mut())(&Event::now(kind));
    }

    /// The run's report, targets in the order given, announced with `run_finish`
    /// (whose `skipped` counts the targets handed back to a queue as well).
    fn finish(&self, mut outcomes: Vec<(usize, TargetOutcome)>, started: Instant) -> FleetReport {
        outcomes.sort_by_key(|(i, _)| *i);
        let report = FleetReport {
            targets: outcomes.into_iter().map(|(_, o)| o).collect(),
            duration_ms: millis(started.elapsed()),
            connections_opened: self.pool.opened(),
        };
        self.send(EventKind::RunFinish {
            done: report.count(TargetState::Done),
            failed: report.count(TargetState::Failed),
            skipped: report.count(TargetState::Skipped) + report.count(TargetState::Released),
            duration_ms: report.duration_ms,
        });
        report
    }
}

/// Runs `options.operation` on every target, `options.concurrency` at a time, and
/// reports each event to `on_event` as it happens.
pub async fn run(
    migrator: &Migrator,
    targets: &[FleetTarget],
    options: &FleetOptions,
    on_event: &mut dyn FnMut(&Event),
) -> FleetReport {
    let started = Instant::now();
    let (revision, dry_run) = match &options.operation {
        Operation::Upgrade { target } => (target.clone(), false),
        Operation::DryRun { target } => (target.clone(), true),
        Operation::Stamp { revision } => (revision.clone(), false),
    };
    let shared = Shared {
        migrator,
        options,
        on_event: RefCell::new(on_event),
        failed: Cell::new(false),
        pool: Pool::new(options.concurrency),
    };
    shared.send(EventKind::RunStart {
        targets: targets.len(),
        concurrency: options.concurrency.max(1),
        revision,
        dry_run,
    });
    // buffer_unordered polls a target's future for the first time only when a slot is
    // free, so the fail-fast check at its start is "do not start new targets".
    let outcomes: Vec<(usize, TargetOutcome)> = stream::iter(
        targets
            .iter()
            .enumerate()
            .map(|(i, t)| run_target(&shared, t, i, None)),
    )
    .buffer_unordered(options.concurrency.max(1))
    .collect()
    .await;
    shared.finish(outcomes, started)
}

/// Runs the operation on one target, retrying transient failures. With `stop`, the run
/// ends at the next revision or batch boundary once it is raised (a queue worker's lease
/// lapsed), and the target is [`TargetState::Released`].
async fn run_target(
    shared: &Shared<'_>,
    target: &FleetTarget,
    index: usize,
    stop: Option<crate::migrator::StopSignal>,
) -> (usize, TargetOutcome) {
    let mut outcome = TargetOutcome {
        name: target.name.clone(),
        database: target.describe(),
        state: TargetState::Skipped,
        revisions: Vec::new(),
        heads: Vec::new(),
        attempts: 0,
        duration_ms: 0,
        error: None,
        failed_revision: None,
        exit_code: None,
    };
    if shared.options.fail_fast && shared.failed.get() {
        let reason = "not started: an earlier target failed and --fail-fast is set".to_owned();
        shared.send(EventKind::TargetSkipped {
            target: target.name.clone(),
            reason: reason.clone(),
        });
        outcome.error = Some(reason);
        return (index, outcome);
    }
    let started = Instant::now();
    let running: RefCell<Option<String>> = RefCell::new(None);
    let run = RunOptions {
        stop,
        ..shared.options.run.clone()
    };
    loop {
        shared.send(EventKind::TargetStart {
            target: target.name.clone(),
            database: outcome.database.clone(),
            attempt: outcome.attempts,
        });
        outcome.attempts += 1;
        *running.borrow_mut() = None;
        let result = attempt(shared, target, &run, &running, &mut outcome.revisions).await;
        match result {
            Err(RunError::Stopped { before }) => {
                let reason = "the lease on the target could not be renewed in time".to_owned();
                outcome.state = TargetState::Released;
                outcome.duration_ms = millis(started.elapsed());
                outcome.error = Some(format!("released before {before}: {reason}"));
                shared.send(EventKind::TargetReleased {
                    target: target.name.clone(),
                    before: Some(before),
                    reason,
                });
                return (index, outcome);
            }
            Ok(heads) => {
                outcome.state = TargetState::Done;
                outcome.duration_ms = millis(started.elapsed());
                outcome.heads = heads.clone();
                let steps = match shared.options.operation {
                    Operation::Upgrade { .. } => outcome.revisions.len(),
                    _ => 0,
                };
                shared.send(EventKind::TargetDone {
                    target: target.name.clone(),
                    steps,
                    duration_ms: outcome.duration_ms,
                    heads,
                });
                return (index, outcome);
            }
            Err(error) => {
                let message = error.to_string();
                let retries_left = outcome.attempts <= shared.options.retries;
                if retries_left && retry::is_transient(&error) {
                    let delay = shared.options.backoff.delay(outcome.attempts - 1);
                    shared.send(EventKind::Retry {
                        target: target.name.clone(),
                        attempt: outcome.attempts,
                        delay_ms: millis(delay),
                        error: message,
                    });
                    tokio::time::sleep(delay).await;
                    continue;
                }
                shared.failed.set(true);
                outcome.state = TargetState::Failed;
                outcome.duration_ms = millis(started.elapsed());
                outcome.failed_revision = running.borrow_mut().take();
                outcome.exit_code = Some(error.exit_code());
                outcome.error = Some(message.clone());
                shared.send(EventKind::TargetFailed {
                    target: target.name.clone(),
                    revision: outcome.failed_revision.clone(),
                    attempts: outcome.attempts,
                    duration_ms: outcome.duration_ms,
                    error: message,
                });
                return (index, outcome);
            }
        }
    }
}

/// The ids of `indices`.
fn ids(migrator: &Migrator, indices: &[usize]) -> Vec<String> {
    indices
        .iter()
        .map(|&i| migrator.graph().revisions()[i].id.to_string())
        .collect()
}

/// The upgrades from `heads` to `target`, as revision indices.
fn plan(migrator: &Migrator, heads: &[usize], target: &str) -> Result<Vec<usize>, RunError> {
    let graph = migrator.graph();
    let resolved = graph.resolve(target, Some(heads))?;
    let steps = graph.plan(heads, &resolved)?;
    if steps
        .iter()
        .any(|s| s.direction == crate::Direction::Downgrade)
    {
        return Err(RunError::Usage(format!(
            "`{target}` is below the target's current revision; a fleet only upgrades"
        )));
    }
    Ok(steps.iter().map(|s| s.revision).collect())
}

/// One attempt at a target; returns its heads at the end. `applied` collects the
/// revisions that committed (they stay committed whatever happens next); `running`
/// holds the revision in flight.
async fn attempt(
    shared: &Shared<'_>,
    target: &FleetTarget,
    run: &RunOptions,
    running: &RefCell<Option<String>>,
    applied: &mut Vec<String>,
) -> Result<Vec<String>, RunError> {
    let lease = shared.pool.checkout(target).await?;
    let result = async {
        let session = lease.session(target.tables.clone()).await?;
        operate(shared, target, &session, run, running, applied).await
    }
    .await;
    // Only a connection that served a whole attempt is reused: after a failure it may be
    // half-way through anything, and dropping it is what the server cleans up after.
    if result.is_ok() {
        shared.pool.checkin(lease).await;
    }
    result
}

/// The operation on one target, over `session`.
async fn operate(
    shared: &Shared<'_>,
    target: &FleetTarget,
    session: &Session<'_>,
    run: &RunOptions,
    running: &RefCell<Option<String>>,
    applied: &mut Vec<String>,
) -> Result<Vec<String>, RunError> {
    let migrator = shared.migrator;
    let options = shared.options;
    let name = &target.name;
    match &options.operation {
        Operation::Stamp { revision } => {
            let on_wait = |holder: &str| {
                shared.send(EventKind::LockWait {
                    target: name.clone(),
                    holder: holder.to_owned(),
                })
            };
            let heads = migrator
                .stamp(session, revision, false, run, on_wait)
                .await?;
            Ok(heads)
        }
        Operation::DryRun { target: rev } => {
            let state = migrator.state(session).await?;
            let planned = ids(migrator, &plan(migrator, &state.heads, rev)?);
            shared.send(EventKind::TargetPlan {
                target: name.clone(),
                revisions: planned.clone(),
            });
            applied.clone_from(&planned);
            Ok(ids(migrator, &state.heads))
        }
        Operation::Upgrade { target: rev } => {
            // The plan read before the lock says what the target needs; step_start comes
            // from the runner, under the target's lock, and step_finish as each commits.
            let state = migrator.state(session).await?;
            let planned = match state.dirty {
                // The runner refuses with the full explanation.
                Some(_) => Vec::new(),
                None => ids(migrator, &plan(migrator, &state.heads, rev)?),
            };
            shared.send(EventKind::TargetPlan {
                target: name.clone(),
                revisions: planned,
            });
            let mut batch_said = None;
            let mut on_step = |event: RunEvent<'_>| match event {
                RunEvent::Start { revision, .. } => {
                    shared.send(EventKind::StepStart {
                        target: name.clone(),
                        revision: revision.to_owned(),
                    });
                    *running.borrow_mut() = Some(revision.to_owned());
                }
                RunEvent::Step(step) => {
                    applied.push(step.revision.clone());
                    shared.send(EventKind::StepFinish {
                        target: name.clone(),
                        revision: step.revision.clone(),
                        duration_ms: u64::try_from(step.duration_ms).unwrap_or(u64::MAX),
                    });
                    *running.borrow_mut() = None;
                }
                RunEvent::LockWait(wait) => shared.send(EventKind::LockWait {
                    target: name.clone(),
                    holder: wait.to_string(),
                }),
                RunEvent::Batch(progress) => {
                    // A tenth of the range at a time, and each change of what it waits
                    // for: a fleet of tenants each backfilling must not flood the log.
                    let milestone = Some(progress.milestone());
                    if milestone != batch_said {
                        batch_said = milestone;
                        shared.send(EventKind::BatchProgress {
                            target: name.clone(),
                            revision: progress.revision.clone(),
                            batches: progress.batches,
                            rows: progress.rows,
                            fraction: progress.fraction(),
                            rows_per_second: progress.rows_per_second(),
                            waiting: progress.waiting.clone(),
                        });
                    }
                }
            };
            let on_wait = |holder: &str| {
                shared.send(EventKind::LockWait {
                    target: name.clone(),
                    holder: holder.to_owned(),
                })
            };
            migrator
                .upgrade(session, rev, run, on_wait, &mut on_step)
                .await?;
            *running.borrow_mut() = None;
            let state = migrator.state(session).await?;
            Ok(ids(migrator, &state.heads))
        }
    }
}

/// One target as `fleet status` sees it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    /// The target's name, as in the targets file or query.
    pub name: String,
    /// `user@host:port/db` (and schema), safe to print: no URL or password.
    pub database: String,
    /// The applied heads (empty: at base).
    pub heads: Vec<String>,
    /// Revisions of the chain not applied yet.
    pub behind: usize,
    /// `"<direction> of <id>"` when a revision was left half-applied (a dirty version
    /// table); `None` when clean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<String>,
    /// Why the target could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads every target's version table (creating nothing), `concurrency` at a time over
/// at most `concurrency` connections.
pub async fn status(
    migrator: &Migrator,
    targets: &[FleetTarget],
    concurrency: usize,
) -> Vec<TargetStatus> {
    let graph = migrator.graph();
    let pool = &Pool::new(concurrency);
    stream::iter(targets.iter().map(|target| async move {
        let mut status = TargetStatus {
            name: target.name.clone(),
            database: target.describe(),
            heads: Vec::new(),
            behind: 0,
            dirty: None,
            error: None,
        };
        let state = async {
            let lease = pool.checkout(target).await?;
            let state = migrator
                .state(&lease.session(target.tables.clone()).await?)
                .await;
            if state.is_ok() {
                pool.checkin(lease).await;
            }
            state
        }
        .await;
        match state {
            Ok(state) => {
                let applied = graph.ancestors(&state.heads);
                status.heads = ids(migrator, &state.heads);
                status.behind = applied.iter().filter(|a| !**a).count();
                status.dirty = state
                    .dirty
                    .map(|(i, direction)| format!("{direction} of {}", graph.revisions()[i].id));
            }
            Err(e) => status.error = Some(e.to_string()),
        }
        status
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await
}
