//! The operations on a live database: upgrade, downgrade, current, stamp, verify,
//! resolve, rehash-applied, and the offline `--sql` script of the same steps.
//!
//! Every run takes the version table's advisory lock first and reads the state only
//! then, so concurrent runs see each other's work and apply each revision once.
//! Each revision commits together with its version-table update and history row.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::lock_retry::{
    describe_blockers, retry_locks, Attempt, LockWait, DEFAULT_LOCK_RETRY, DEFAULT_SQL_LOCK_TIMEOUT,
};
use super::Migrator;
use crate::db::session::Piece;
use crate::db::version::{Action, HistoryEntry, Timing, VersionTables};
use crate::db::{Blocker, DbError, Session, StatementFailure};
use crate::graph::{AppliedHeads, GraphError, HeadChange, RevisionGraph, Step, Target};
use crate::revision::Revision;
use crate::sql::quote_literal;
use crate::sql::split;
use crate::Direction;

/// Why a run on a database (upgrade, downgrade, stamp, resolve, ...) stopped. A
/// transactional revision that failed left nothing behind.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The database refused or the connection failed (the statement is located).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The target does not resolve, or the plan cannot be made.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A `transaction:false` section stopped half-way before; a human must settle it.
    #[error(
        "{table} is marked dirty: the {direction} of {revision} runs outside a transaction and \
         stopped half-way. Repair the database by hand, then run `retort resolve --completed` \
         (its effects are all there now) or `retort resolve --reverted` (none of them are)"
    )]
    Dirty {
        /// The version table, schema-qualified.
        table: String,
        /// The revision that stopped.
        revision: String,
        /// Which of its sections.
        direction: Direction,
    },
    /// The version table names revisions the files do not have.
    #[error(
        "the database records {} which {} not in {}: it was migrated from other files (another \
         branch or a newer checkout?). Update your checkout, or `retort stamp REV --purge` if the \
         record is wrong", ids.join(", "), if ids.len() == 1 { "is" } else { "are" }, dir
    )]
    UnknownApplied {
        /// The unknown ids.
        ids: Vec<String>,
        /// The versions directory.
        dir: String,
    },
    /// Applied revisions' files changed since they ran.
    #[error(
        "applied revisions changed since they ran:\n  {}\nrevert the edits, or accept them with \
         `retort rehash-applied REV --reason TEXT`", edited.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
    )]
    Edited {
        /// Each changed revision.
        edited: Vec<EditedRevision>,
    },
    /// `--single-transaction` with a revision that cannot run in one.
    #[error(
        "{id} has a transaction:false section, which cannot run inside --single-transaction; \
         run without --single-transaction"
    )]
    NonTransactionalInSingle {
        /// The revision.
        id: String,
    },
    /// `--single-transaction` with a revision that has a batch section.
    #[error(
        "{id} has a batch section, which runs in transactions of its own, not inside \
         --single-transaction; run without --single-transaction"
    )]
    BatchInSingle {
        /// The revision.
        id: String,
    },
    /// `resolve` with nothing to resolve.
    #[error("nothing is dirty in {table}; `retort resolve` only settles a half-run revision")]
    NotDirty {
        /// The version table, schema-qualified.
        table: String,
    },
    /// The revision named is not applied.
    #[error("{id} is not applied to this database (see `retort current`)")]
    NotApplied {
        /// The revision.
        id: String,
    },
    /// `upgrade --lint deny` found errors in the revisions to run; nothing ran.
    #[error(
        "lint found {} error(s) in the revisions to run, so nothing ran:\n  {}\nfix them, or \
         accept one knowingly with `-- retort:ignore RULE reason` above its statement \
         (`retort lint --explain RULE` says why it matters)",
        findings.len(),
        findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
    )]
    #[cfg(feature = "lint")]
    LintDenied {
        /// The error-severity findings not ignored.
        findings: Vec<crate::lint::Finding>,
    },
    /// The caller asked the run to stop ([`RunOptions::stop`]): it stopped at a revision
    /// or batch boundary, with everything before committed and nothing of `before` run.
    #[error(
        "stopped before {before} as asked; the revisions before it are committed, and a rerun \
         goes on from {before}"
    )]
    Stopped {
        /// The revision (or the batch section's revision) that did not start.
        before: String,
    },
    /// A revision's locks were not granted within `sql_lock_timeout` on any attempt
    /// until the lock retry timeout was spent (or the statement cannot be retried).
    #[error("{}", lock_not_granted_message(.failure, .lock_timeout, *.attempts, .waited, .blockers, *.not_retried))]
    LockNotGranted {
        /// The statement that waited, located in its file.
        failure: Box<StatementFailure>,
        /// The `lock_timeout` of each attempt, as configured.
        lock_timeout: String,
        /// How many attempts were made.
        attempts: u32,
        /// Time spent on them, waits included.
        waited: Duration,
        /// Who held the locks at the last attempt, as far as the server tells.
        blockers: Vec<Blocker>,
        /// Why the statement was not retried, when it could not be.
        not_retried: Option<&'static str>,
    },
    /// The version table and the history disagree in a way that would make a run apply
    /// revisions again or plan from a wrong head (rows edited by hand).
    #[error(
        "the version tables were edited by hand, so nothing ran:\n  {}",
        findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
    )]
    StateMismatch {
        /// What disagrees, and what to do about each.
        findings: Vec<super::StateFinding>,
    },
    /// A batch section cannot run on this database (its table, key or index), or one
    /// of its batches cannot be bound.
    #[error("{location}: batch section: {message}")]
    Batch {
        /// `file:line` of the batch marker or statement.
        location: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A batch section stopped half-way, and this run would do something else first.
    #[error(
        "the {} of {} stopped half-way through its batches ({} batches, {} rows done; next key {}, last {}; {table}). \
         Run `retort {}` to finish it first; to give it up instead, undo what its sections did by hand and delete its row from {table}",
        .progress.direction, .progress.revision, .progress.batches, .progress.rows,
        crate::db::BatchProgress::key_text(&.progress.next),
        crate::db::BatchProgress::key_text(&.progress.last),
        .progress.direction
    )]
    BatchUnfinished {
        /// The batch table, schema-qualified.
        table: String,
        /// Where the section stopped.
        progress: Box<crate::db::BatchProgress>,
    },
    /// The request itself is wrong (the message says how).
    #[error("{0}")]
    Usage(String),
}

fn lock_not_granted_message(
    failure: &StatementFailure,
    lock_timeout: &str,
    attempts: u32,
    waited: &Duration,
    blockers: &[Blocker],
    not_retried: Option<&str>,
) -> String {
    let tries = match not_retried {
        Some(why) => format!("not retried: {why}"),
        None => format!(
            "lock_timeout {lock_timeout} expired on each of {attempts} attempt(s) over {:.1}s",
            waited.as_secs_f64()
        ),
    };
    let state = if failure.transactional {
        "Nothing of the revision was kept."
    } else {
        "The statement left nothing, but the section runs outside a transaction: the \
         statements before it ran and the version table is marked dirty. Once the lock can \
         be had, run the rest of the section by hand and `retort resolve --completed`, or undo \
         what ran and `retort resolve --reverted`."
    };
    format!(
        "{}:{}:{}: the {} of {} could not get its locks ({tries}); {}. {state} End or wait for \
         the blocking session (`SELECT pg_terminate_backend(PID)` ends one) and run again, or \
         allow longer with --lock-retry-timeout",
        failure.path.display(),
        failure.line,
        failure.column,
        failure.direction,
        failure.revision,
        describe_blockers(blockers)
    )
}

impl RunError {
    /// Whether the run stopped because the server or the connection went away (a
    /// crash, a restart, a cut network), not because of what a revision does.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            RunError::Db(DbError::Statement(failure)) => crate::db::server_gone(&failure.code),
            RunError::Db(DbError::Lost { .. } | DbError::Connect(_)) => true,
            _ => false,
        }
    }

    /// ARCHITECTURE.md's exit codes: 1 a check failed, 2 input, 3 database, 4 lock.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Db(db) => db.exit_code(),
            RunError::Edited { .. } => 1,
            #[cfg(feature = "lint")]
            RunError::LintDenied { .. } => 1,
            RunError::Dirty { .. } | RunError::Stopped { .. } => 3,
            RunError::LockNotGranted { .. } => 4,
            RunError::StateMismatch { .. } => 3,
            RunError::Batch { .. } | RunError::BatchUnfinished { .. } => 3,
            RunError::Graph(_)
            | RunError::UnknownApplied { .. }
            | RunError::NonTransactionalInSingle { .. }
            | RunError::BatchInSingle { .. }
            | RunError::NotDirty { .. }
            | RunError::NotApplied { .. }
            | RunError::Usage(_) => 2,
        }
    }
}

/// An applied revision whose file no longer matches the checksum recorded when it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EditedRevision {
    /// Its id.
    pub revision: String,
    /// Its file.
    pub path: String,
    /// The checksum recorded when it ran (`sha256:<hex>`).
    pub recorded: String,
    /// The checksum of the file now.
    pub file: String,
}

impl std::fmt::Display for EditedRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): recorded {}, file now {}",
            self.revision, self.path, self.recorded, self.file
        )
    }
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long to wait for another run's lock.
    pub lock_wait: Duration,
    /// `SET LOCAL lock_timeout` for each revision (PostgreSQL syntax: `5s`, `500ms`; `0`
    /// waits forever) [default: 2s].
    pub sql_lock_timeout: Option<String>,
    /// How long a revision whose locks were not granted within `sql_lock_timeout` is
    /// rolled back and tried again (jittered backoff) before the run fails; zero tries
    /// once [default: 5 minutes].
    pub lock_retry_for: Duration,
    /// `SET LOCAL statement_timeout` for each revision (PostgreSQL syntax).
    pub statement_timeout: Option<String>,
    /// All the run's revisions in one transaction (none may be `transaction:false`).
    pub single_transaction: bool,
    /// Caps every batch section's size so that its key range takes at least this many
    /// batches (`test-migration` sets it, so the loop runs, not one statement).
    pub min_batches: Option<u64>,
    /// Lint the planned upgrades first and refuse to run when an error-severity
    /// finding remains (`upgrade --lint deny`).
    #[cfg(feature = "lint")]
    pub lint_deny: Option<crate::lint::LintConfig>,
    /// Asked before each revision and each batch: once raised, the run ends with
    /// [`RunError::Stopped`] at the next boundary (a fleet worker whose lease on the
    /// target lapsed hands the rest to another worker this way).
    pub stop: Option<StopSignal>,
}

/// A flag another task raises to end a run at its next revision or batch boundary.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl StopSignal {
    /// Asks the run to stop at its next boundary.
    pub fn raise(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the run was asked to stop.
    pub fn is_raised(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl RunOptions {
    /// [`RunError::Stopped`] when the stop signal is up: `before` names what would run next.
    pub(crate) fn check_stop(&self, before: &str) -> Result<(), RunError> {
        match &self.stop {
            Some(stop) if stop.is_raised() => Err(RunError::Stopped {
                before: before.to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

/// What a caller says about a run on top of retort.toml (the command line's flags):
/// each value, when given, wins over the settings'.
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    /// How long to wait for another run's lock (a PostgreSQL duration).
    pub lock_wait: Option<String>,
    /// `lock_timeout` inside each revision.
    pub sql_lock_timeout: Option<String>,
    /// How long to retry a revision whose locks were not granted.
    pub lock_retry_timeout: Option<String>,
    /// `statement_timeout` inside each revision.
    pub statement_timeout: Option<String>,
    /// All pending revisions in one transaction.
    pub single_transaction: bool,
}

impl RunOptions {
    /// The run options of `settings` (retort.toml, its environment already overlaid)
    /// with `overrides` on top. The settings' durations were checked when they were
    /// read; the overrides' are checked here, each error naming its flag.
    pub fn from_settings(
        settings: &crate::config::DatabaseSettings,
        overrides: &RunOverrides,
    ) -> Result<RunOptions, crate::config::ConfigError> {
        use crate::config::parse_duration;
        let lock_wait = overrides
            .lock_wait
            .as_deref()
            .or(settings.lock_timeout.as_deref())
            .map(|v| parse_duration("--lock-timeout", v))
            .transpose()?
            .map_or(Duration::from_secs(60), Duration::from_millis);
        let lock_retry_for = overrides
            .lock_retry_timeout
            .as_deref()
            .map(|v| parse_duration("--lock-retry-timeout", v))
            .or_else(|| {
                settings
                    .lock_retry_timeout
                    .as_deref()
                    .map(|v| parse_duration("lock_retry_timeout", v))
            })
            .transpose()?
            .map_or(DEFAULT_LOCK_RETRY, Duration::from_millis);
        for (key, value) in [
            ("--sql-lock-timeout", &overrides.sql_lock_timeout),
            ("--statement-timeout", &overrides.statement_timeout),
        ] {
            if let Some(value) = value {
                parse_duration(key, value)?;
            }
        }
        Ok(RunOptions {
            lock_wait,
            sql_lock_timeout: Some(
                overrides
                    .sql_lock_timeout
                    .clone()
                    .or(settings.sql_lock_timeout.clone())
                    .unwrap_or_else(|| DEFAULT_SQL_LOCK_TIMEOUT.to_owned()),
            ),
            lock_retry_for,
            statement_timeout: overrides
                .statement_timeout
                .clone()
                .or(settings.statement_timeout.clone()),
            single_transaction: overrides.single_transaction,
            min_batches: None,
            #[cfg(feature = "lint")]
            lint_deny: None,
            stop: None,
        })
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            lock_wait: Duration::from_secs(60),
            sql_lock_timeout: Some(DEFAULT_SQL_LOCK_TIMEOUT.to_owned()),
            lock_retry_for: DEFAULT_LOCK_RETRY,
            statement_timeout: None,
            single_transaction: false,
            min_batches: None,
            #[cfg(feature = "lint")]
            lint_deny: None,
            stop: None,
        }
    }
}

/// One step done.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    /// The revision's id.
    pub revision: String,
    /// Upgrade or downgrade.
    pub direction: Direction,
    /// The revision's message.
    pub message: String,
    /// Its file.
    pub path: String,
    /// Wall time of the step, bookkeeping included, in milliseconds.
    pub duration_ms: u128,
    /// Whether it ran in a transaction (false for a `transaction:false` section).
    pub transactional: bool,
}

/// What a run tells its caller while it works.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RunEvent<'a> {
    /// A step begins, under the run's lock (so no other run works on the database now).
    Start {
        /// The revision's id.
        revision: &'a str,
        /// Which of its sections runs.
        direction: Direction,
    },
    /// A step committed.
    Step(&'a StepReport),
    /// A revision's (or, outside a transaction, a statement's) lock was not granted in
    /// time: it was rolled back and runs again after the wait this says.
    LockWait(&'a LockWait),
    /// A batch section's progress: when it starts (or resumes) and after each batch.
    Batch(&'a crate::db::BatchProgress),
}

/// What the version table says.
#[derive(Debug, Clone, Default)]
pub struct DbState {
    /// Whether the version table exists.
    pub initialized: bool,
    /// Clean version rows: the applied heads.
    pub heads: Vec<usize>,
    /// A half-run non-transactional step.
    pub dirty: Option<(usize, Direction)>,
}

/// How a human settled a dirty marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The interrupted step's effects are all in place now.
    Completed,
    /// None of them are.
    Reverted,
}

fn ids<'a>(graph: &'a RevisionGraph, indices: &[usize]) -> Vec<&'a str> {
    indices
        .iter()
        .map(|&i| graph.revisions()[i].id.as_str())
        .collect()
}

/// `SET LOCAL` pieces for a transaction.
pub(super) fn timeouts(options: &RunOptions, local: bool) -> Vec<Piece<'static>> {
    let scope = if local { "SET LOCAL" } else { "SET" };
    let mut out = Vec::new();
    if let Some(t) = &options.sql_lock_timeout {
        out.push(Piece::bookkeeping(
            "set lock_timeout",
            format!("{scope} lock_timeout = {}", quote_literal(t)),
        ));
    }
    if let Some(t) = &options.statement_timeout {
        out.push(Piece::bookkeeping(
            "set statement_timeout",
            format!("{scope} statement_timeout = {}", quote_literal(t)),
        ));
    }
    out
}

impl Migrator {
    /// Reads the version table into graph terms (without creating it).
    pub async fn state(&self, session: &Session<'_>) -> Result<DbState, RunError> {
        let Some(rows) = session.rows().await? else {
            return Ok(DbState::default());
        };
        let graph = self.graph();
        let mut state = DbState {
            initialized: true,
            ..DbState::default()
        };
        let mut unknown = Vec::new();
        for row in rows {
            match graph.index_of(&row.revision) {
                None => unknown.push(row.revision),
                Some(i) => match row.dirty {
                    Some(direction) => state.dirty = Some((i, direction)),
                    None => state.heads.push(i),
                },
            }
        }
        if !unknown.is_empty() {
            return Err(RunError::UnknownApplied {
                ids: unknown,
                dir: graph.dir().display().to_string(),
            });
        }
        Ok(state)
    }

    fn refuse_dirty(&self, session: &Session<'_>, state: &DbState) -> Result<(), RunError> {
        match state.dirty {
            Some((i, direction)) => Err(RunError::Dirty {
                table: session.tables().describe(),
                revision: self.graph().revisions()[i].id.to_string(),
                direction,
            }),
            None => Ok(()),
        }
    }

    /// Applied revisions whose file changed since their checksum was recorded.
    pub async fn edited_applied(
        &self,
        session: &Session<'_>,
        state: &DbState,
    ) -> Result<Vec<EditedRevision>, RunError> {
        if !state.initialized {
            return Ok(Vec::new());
        }
        let graph = self.graph();
        let applied = graph.ancestors(&state.heads);
        let mut edited = Vec::new();
        for latest in session.latest_history().await? {
            let Some(i) = graph.index_of(&latest.revision) else {
                continue;
            };
            let Some(recorded) = latest.checksum else {
                continue;
            };
            let revision = &graph.revisions()[i];
            let file = revision.checksum.to_string();
            if applied[i] && recorded != file {
                edited.push(EditedRevision {
                    revision: revision.id.to_string(),
                    path: revision.path.display().to_string(),
                    recorded,
                    file,
                });
            }
        }
        Ok(edited)
    }

    /// Locks, creates the version tables when needed, and reads a clean state.
    async fn begin_run(
        &self,
        session: &Session<'_>,
        options: &RunOptions,
        on_wait: impl FnOnce(&str),
    ) -> Result<DbState, RunError> {
        session.lock(options.lock_wait, on_wait).await?;
        session.ensure_tables().await?;
        let state = self.state(session).await?;
        self.refuse_dirty(session, &state)?;
        let findings = self.diagnose_state(session, &state).await?;
        if findings.iter().any(super::StateFinding::blocks_runs) {
            return Err(RunError::StateMismatch { findings });
        }
        Ok(state)
    }

    /// Upgrades to `target` (`head` by default at the CLI). `on_wait` hears who holds
    /// the lock when another run does; `on_event` hears of each committed step and of
    /// each revision waiting to retry for its locks.
    pub async fn upgrade(
        &self,
        session: &Session<'_>,
        target: &str,
        options: &RunOptions,
        on_wait: impl FnOnce(&str),
        on_event: &mut dyn FnMut(RunEvent<'_>),
    ) -> Result<Vec<StepReport>, RunError> {
        let result: Result<_, RunError> = async {
            let state = self.begin_run(session, options, on_wait).await?;
            let edited = self.edited_applied(session, &state).await?;
            if !edited.is_empty() {
                return Err(RunError::Edited { edited });
            }
            let steps = self.plan_run(&state.heads, Direction::Upgrade, target)?;
            #[cfg(feature = "lint")]
            self.refuse_lint_errors(&steps, options)?;
            self.run_steps(session, &state, &steps, options, on_event)
                .await
        }
        .await;
        release_lock(session, result).await
    }

    /// `upgrade --lint deny`: refuses the run when a planned upgrade has an
    /// error-severity finding that is not knowingly ignored.
    #[cfg(feature = "lint")]
    fn refuse_lint_errors(&self, steps: &[Step], options: &RunOptions) -> Result<(), RunError> {
        let Some(config) = &options.lint_deny else {
            return Ok(());
        };
        let findings: Vec<crate::lint::Finding> = steps
            .iter()
            .flat_map(|s| crate::lint::lint_revision(self.graph().revision(s.revision), config))
            .filter(|f| {
                f.section == "upgrade"
                    && f.severity == crate::lint::Severity::Error
                    && f.ignored.is_none()
            })
            .collect();
        if !findings.is_empty() {
            return Err(RunError::LintDenied { findings });
        }
        Ok(())
    }

    /// Downgrades to `target` (`-1`, `base`, an id).
    pub async fn downgrade(
        &self,
        session: &Session<'_>,
        target: &str,
        options: &RunOptions,
        on_wait: impl FnOnce(&str),
        on_event: &mut dyn FnMut(RunEvent<'_>),
    ) -> Result<Vec<StepReport>, RunError> {
        let result: Result<_, RunError> = async {
            let state = self.begin_run(session, options, on_wait).await?;
            let steps = self.plan_run(&state.heads, Direction::Downgrade, target)?;
            self.run_steps(session, &state, &steps, options, on_event)
                .await
        }
        .await;
        release_lock(session, result).await
    }

    /// The steps an upgrade (or a downgrade) to `target` runs from `heads`: what
    /// [`Migrator::upgrade`] and [`Migrator::downgrade`] run under their lock, and what
    /// a caller can show before.
    pub fn plan_run(
        &self,
        heads: &[usize],
        direction: Direction,
        target: &str,
    ) -> Result<Vec<Step>, RunError> {
        let graph = self.graph();
        let target = graph.resolve(target, Some(heads))?;
        match direction {
            Direction::Upgrade => {
                let steps = graph.plan(heads, &target)?;
                if steps.iter().any(|s| s.direction == Direction::Downgrade) {
                    return Err(RunError::Usage(format!(
                        "the target is below the current revision; use `retort downgrade` to go \
                         down ({} revision(s) would be reverted)",
                        steps.len()
                    )));
                }
                Ok(steps)
            }
            Direction::Downgrade => Ok(graph.plan_downgrade(heads, &target)?),
        }
    }

    /// Runs exactly `steps`, in order, from the current state: test-migration's stairway
    /// (upgrade r, downgrade r, upgrade r again). Each step must fit the state it meets:
    /// an upgrade needs its parents applied and itself not, a downgrade needs itself
    /// applied and nothing applied that builds on it.
    pub async fn run_exact(
        &self,
        session: &Session<'_>,
        steps: &[Step],
        options: &RunOptions,
        on_event: &mut dyn FnMut(RunEvent<'_>),
    ) -> Result<Vec<StepReport>, RunError> {
        let result: Result<_, RunError> = async {
            let state = self.begin_run(session, options, |_| {}).await?;
            let graph = self.graph();
            let mut applied = graph.ancestors(&state.heads);
            for step in steps {
                let r = step.revision;
                let revision = &graph.revisions()[r];
                let fits = match step.direction {
                    Direction::Upgrade => {
                        !applied[r] && graph.requires(r).iter().all(|&p| applied[p])
                    }
                    Direction::Downgrade => {
                        applied[r] && !graph.required_by(r).iter().any(|&c| applied[c])
                    }
                };
                if !fits {
                    return Err(RunError::Usage(format!(
                        "cannot {} {} from the database's current revision",
                        step.direction, revision.id
                    )));
                }
                if step.direction == Direction::Downgrade && !revision.is_reversible() {
                    return Err(GraphError::Irreversible {
                        id: revision.id.to_string(),
                        path: revision.path.clone(),
                    }
                    .into());
                }
                applied[r] = step.direction == Direction::Upgrade;
            }
            self.run_steps(session, &state, steps, options, on_event)
                .await
        }
        .await;
        release_lock(session, result).await
    }

    async fn run_steps(
        &self,
        session: &Session<'_>,
        state: &DbState,
        steps: &[Step],
        options: &RunOptions,
        on_event: &mut dyn FnMut(RunEvent<'_>),
    ) -> Result<Vec<StepReport>, RunError> {
        let graph = self.graph();
        let tables = session.tables();
        let mut heads = AppliedHeads::new(graph, &state.heads);
        let mut reports = Vec::with_capacity(steps.len());
        let mut resumed = super::batch::unfinished(session, graph, steps).await?;
        if options.single_transaction {
            if let Some(step) = steps
                .iter()
                .find(|s| graph.revisions()[s.revision].batch(s.direction).is_some())
            {
                return Err(RunError::BatchInSingle {
                    id: graph.revisions()[step.revision].id.to_string(),
                });
            }
            if let Some(step) = steps
                .iter()
                .find(|s| !script_of(&graph.revisions()[s.revision], s.direction).transactional)
            {
                return Err(RunError::NonTransactionalInSingle {
                    id: graph.revisions()[step.revision].id.to_string(),
                });
            }
            let started = Instant::now();
            let mut pieces = timeouts(options, true);
            for &step in steps {
                pieces.extend(step_pieces(graph, tables, &mut heads, step));
            }
            retry_locks(session, options, Attempt::Transaction(&pieces), on_event).await?;
            let elapsed = started.elapsed();
            for &step in steps {
                let report = report(graph, step, elapsed, true);
                on_event(RunEvent::Step(&report));
                reports.push(report);
            }
            return Ok(reports);
        }
        for &step in steps {
            let revision = &graph.revisions()[step.revision];
            options.check_stop(revision.id.as_str())?;
            on_event(RunEvent::Start {
                revision: revision.id.as_str(),
                direction: step.direction,
            });
            let script = script_of(revision, step.direction);
            let started = Instant::now();
            if revision.batch(step.direction).is_some() {
                super::batch::run_batched(
                    session,
                    graph,
                    &mut heads,
                    step,
                    resumed.take(),
                    options,
                    on_event,
                )
                .await?;
            } else if script.transactional {
                let mut pieces = timeouts(options, true);
                pieces.extend(step_pieces(graph, tables, &mut heads, step));
                retry_locks(session, options, Attempt::Transaction(&pieces), on_event).await?;
            } else {
                self.run_outside_transaction(session, &mut heads, step, options, on_event)
                    .await?;
            }
            let report = report(graph, step, started.elapsed(), script.transactional);
            on_event(RunEvent::Step(&report));
            reports.push(report);
        }
        Ok(reports)
    }

    /// A `transaction:false` section: mark dirty, run each statement on its own, then
    /// record the step. A failure leaves the dirty marker for a human to settle.
    async fn run_outside_transaction(
        &self,
        session: &Session<'_>,
        heads: &mut AppliedHeads<'_>,
        step: Step,
        options: &RunOptions,
        on_event: &mut dyn FnMut(RunEvent<'_>),
    ) -> Result<(), RunError> {
        let graph = self.graph();
        let tables = session.tables();
        let revision = &graph.revisions()[step.revision];
        let id = revision.id.as_str();
        let script = script_of(revision, step.direction);
        let started_at = Utc::now();
        let started = Instant::now();
        session
            .run_in_transaction(&[Piece::bookkeeping(
                "mark the version table dirty",
                dirty_mark(tables, id, step.direction),
            )])
            .await?;
        for piece in timeouts(options, false) {
            session.run_alone(&piece).await?;
        }
        for piece in Piece::of_script(revision, step.direction, script) {
            retry_locks(session, options, Attempt::Alone(&piece), on_event).await?;
        }
        // Only what retort set: a connection lent by the application keeps its own
        // settings.
        if options.sql_lock_timeout.is_some() || options.statement_timeout.is_some() {
            session
                .run_alone(&Piece::bookkeeping(
                    "reset timeouts",
                    "RESET lock_timeout; RESET statement_timeout".into(),
                ))
                .await?;
        }
        let timing = Timing::Measured {
            started_at,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        let pieces = bookkeeping(graph, tables, heads, step, true, timing);
        session.run_in_transaction(&pieces).await?;
        Ok(())
    }

    /// Sets the version table to `target` without running any SQL.
    pub async fn stamp(
        &self,
        session: &Session<'_>,
        target: &str,
        purge: bool,
        options: &RunOptions,
        on_wait: impl FnOnce(&str),
    ) -> Result<Vec<String>, RunError> {
        let result: Result<_, RunError> = async {
            session.lock(options.lock_wait, on_wait).await?;
            session.ensure_tables().await?;
            let tables = session.tables();
            let graph = self.graph();
            // A half-run batch section would be left behind by any stamp.
            super::batch::unfinished(session, graph, &[]).await?;
            let current = if purge {
                Vec::new()
            } else {
                let state = self.state(session).await?;
                self.refuse_dirty(session, &state)?;
                state.heads
            };
            let target = graph.resolve(target, Some(&current))?;
            // --purge starts from what the history says is applied (the rows being
            // replaced cannot be trusted), so that the history keeps agreeing with the
            // version table: what it recorded as applied and the target leaves out is
            // recorded as unstamped.
            let before = if purge {
                self.applied_by_history(session).await?
            } else {
                graph.ancestors(&current)
            };
            let after = graph.ancestors(&target.0);
            let mut pieces = vec![Piece::bookkeeping(
                "clear the version table",
                tables.delete_all_rows(),
            )];
            for &h in &target.0 {
                pieces.push(Piece::bookkeeping(
                    "update the version table",
                    tables.insert_row(graph.revisions()[h].id.as_str(), None),
                ));
            }
            for &i in graph.topological_order() {
                let action = match (before[i], after[i]) {
                    (false, true) => Action::Stamp,
                    (true, false) => Action::Unstamp,
                    _ => continue,
                };
                let revision = &graph.revisions()[i];
                pieces.push(Piece::bookkeeping(
                    "append to the history table",
                    tables.insert_history(&HistoryEntry {
                        revision: revision.id.as_str(),
                        action,
                        checksum: (action == Action::Stamp).then(|| revision.checksum.to_string()),
                        message: Some(&revision.message),
                        reason: None,
                        timing: Timing::SameTransaction,
                    }),
                ));
            }
            session.run_in_transaction(&pieces).await?;
            Ok(ids(graph, &target.0)
                .into_iter()
                .map(str::to_owned)
                .collect())
        }
        .await;
        release_lock(session, result).await
    }

    /// Settles a dirty marker after a human repaired the database.
    pub async fn resolve(
        &self,
        session: &Session<'_>,
        resolution: Resolution,
        options: &RunOptions,
        on_wait: impl FnOnce(&str),
    ) -> Result<(String, Direction), RunError> {
        let result: Result<_, RunError> = async {
            session.lock(options.lock_wait, on_wait).await?;
            let state = self.state(session).await?;
            let Some((r, direction)) = state.dirty else {
                return Err(RunError::NotDirty {
                    table: session.tables().describe(),
                });
            };
            let graph = self.graph();
            let tables = session.tables();
            let revision = &graph.revisions()[r];
            let id = revision.id.as_str();
            // A dirty downgrade row is still an applied head; a dirty upgrade row is not.
            let mut applied_heads = state.heads.clone();
            if direction == Direction::Downgrade {
                applied_heads.push(r);
            }
            let mut heads = AppliedHeads::new(graph, &applied_heads);
            let mut pieces = match (direction, resolution) {
                // Completed by hand: record the step as if it had finished.
                (_, Resolution::Completed) => version_updates(
                    graph,
                    tables,
                    &mut heads,
                    Step {
                        revision: r,
                        direction,
                    },
                    true,
                ),
                // Reverted by hand: back to the state before the step started.
                (Direction::Upgrade, Resolution::Reverted) => vec![Piece::bookkeeping(
                    "update the version table",
                    tables.delete_rows(&[id]),
                )],
                (Direction::Downgrade, Resolution::Reverted) => vec![Piece::bookkeeping(
                    "update the version table",
                    tables.clear_dirty(id),
                )],
            };
            let reason = match resolution {
                Resolution::Completed => format!("{direction} completed by hand"),
                Resolution::Reverted => format!("{direction} reverted by hand"),
            };
            pieces.push(Piece::bookkeeping(
                "append to the history table",
                tables.insert_history(&HistoryEntry {
                    revision: id,
                    action: Action::Resolve,
                    checksum: (direction == Direction::Upgrade
                        && resolution == Resolution::Completed)
                        .then(|| revision.checksum.to_string()),
                    message: Some(&revision.message),
                    reason: Some(&reason),
                    timing: Timing::SameTransaction,
                }),
            ));
            session.run_in_transaction(&pieces).await?;
            Ok((id.to_owned(), direction))
        }
        .await;
        release_lock(session, result).await
    }

    /// Accepts a deliberate edit of an applied revision: records its new checksum, who
    /// and why.
    pub async fn rehash_applied(
        &self,
        session: &Session<'_>,
        target: &str,
        reason: &str,
        options: &RunOptions,
        on_wait: impl FnOnce(&str),
    ) -> Result<String, RunError> {
        let result: Result<_, RunError> = async {
            if reason.trim().is_empty() {
                return Err(RunError::Usage(
                    "--reason is empty; say why the applied revision was edited".into(),
                ));
            }
            session.lock(options.lock_wait, on_wait).await?;
            let state = self.state(session).await?;
            let graph = self.graph();
            let Target(found) = graph.resolve(target, Some(&state.heads))?;
            let [r] = found[..] else {
                return Err(RunError::Usage(format!(
                    "`{target}` names {} revisions; name exactly one",
                    found.len()
                )));
            };
            let revision = &graph.revisions()[r];
            if !graph.ancestors(&state.heads)[r] {
                return Err(RunError::NotApplied {
                    id: revision.id.to_string(),
                });
            }
            let piece = Piece::bookkeeping(
                "append to the history table",
                session.tables().insert_history(&HistoryEntry {
                    revision: revision.id.as_str(),
                    action: Action::Rehash,
                    checksum: Some(revision.checksum.to_string()),
                    message: Some(&revision.message),
                    reason: Some(reason),
                    timing: Timing::SameTransaction,
                }),
            );
            session.run_in_transaction(&[piece]).await?;
            Ok(revision.id.to_string())
        }
        .await;
        release_lock(session, result).await
    }

    /// The SQL a run from `from` (base when `None`) to `to` would send, for review.
    pub fn offline_script(
        &self,
        tables: &VersionTables,
        from: Option<&str>,
        to: &str,
        direction: Direction,
        options: &RunOptions,
    ) -> Result<String, RunError> {
        let graph = self.graph();
        let current = match from {
            Some(from) => graph.resolve(from, None)?.0,
            None => Vec::new(),
        };
        let target = graph.resolve(to, Some(&current))?;
        let steps = match direction {
            Direction::Upgrade => {
                let steps = graph.plan(&current, &target)?;
                if steps.iter().any(|s| s.direction == Direction::Downgrade) {
                    return Err(RunError::Usage(format!(
                        "{to} is below {}; use `downgrade --sql FROM:TO`",
                        from.unwrap_or("base")
                    )));
                }
                steps
            }
            Direction::Downgrade => graph.plan_downgrade(&current, &target)?,
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "-- retort {direction}: {} -> {to} ({} revision(s)), generated {}\n\
             -- Run with: psql -v ON_ERROR_STOP=1 -f FILE\n",
            from.unwrap_or("base"),
            steps.len(),
            Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        );
        if let Some(timeout) = options
            .sql_lock_timeout
            .as_deref()
            .filter(|t| crate::config::parse_duration("sql_lock_timeout", t).is_ok_and(|ms| ms > 0))
        {
            let _ = writeln!(
                out,
                "-- Each revision runs with lock_timeout {timeout}, so that it never queues the\n\
                 -- application behind a lock it waits for. Should the script stop on a lock\n\
                 -- timeout (that revision rolled back, the ones before it committed), make a\n\
                 -- new script from the revision the database is at and run that later;\n\
                 -- `retort upgrade` retries such a revision by itself.\n"
            );
        }
        out.push_str("BEGIN;\n");
        for statement in tables.create_statements() {
            let _ = writeln!(out, "{statement};");
        }
        out.push_str("COMMIT;\n\n");
        let _ = writeln!(out, "SELECT pg_advisory_lock({});\n", tables.lock_key());
        let mut heads = AppliedHeads::new(graph, &current);
        let single = options.single_transaction;
        if single {
            out.push_str("BEGIN;\n");
            push_timeouts(&mut out, options, true);
        }
        for &step in &steps {
            let revision = &graph.revisions()[step.revision];
            let script = script_of(revision, step.direction);
            let _ = writeln!(
                out,
                "-- {} {}: {} ({})",
                step.direction,
                revision.id,
                revision.message,
                revision.path.display()
            );
            if !script.transactional {
                if single {
                    return Err(RunError::NonTransactionalInSingle {
                        id: revision.id.to_string(),
                    });
                }
                let mark = dirty_mark(tables, revision.id.as_str(), step.direction);
                let _ = writeln!(out, "{mark};");
                push_timeouts(&mut out, options, false);
            } else if !single {
                out.push_str("BEGIN;\n");
                push_timeouts(&mut out, options, true);
            }
            // The section goes out verbatim (comments kept for the reviewer), then the
            // bookkeeping.
            push_script(&mut out, &script.sql);
            if let Some(batch) = revision.batch(step.direction) {
                if single {
                    return Err(RunError::BatchInSingle {
                        id: revision.id.to_string(),
                    });
                }
                push_batch_plan(&mut out, batch);
                push_timeouts(&mut out, options, true);
                if let Some(after) = &batch.after {
                    push_script(&mut out, &after.sql);
                }
            }
            if !script.transactional {
                out.push_str("BEGIN;\n");
            }
            let pieces = bookkeeping(
                graph,
                tables,
                &mut heads,
                step,
                !script.transactional,
                Timing::SameTransaction,
            );
            for piece in pieces {
                let _ = writeln!(out, "{};", piece.sql);
            }
            if !single {
                out.push_str("COMMIT;\n");
            }
            out.push('\n');
        }
        if single {
            out.push_str("COMMIT;\n\n");
        }
        let _ = writeln!(out, "SELECT pg_advisory_unlock({});", tables.lock_key());
        Ok(out)
    }
}

fn push_timeouts(out: &mut String, options: &RunOptions, local: bool) {
    for piece in timeouts(options, local) {
        let _ = writeln!(out, "{};", piece.sql);
    }
}

/// A batch section as a commented plan: a script cannot run the loop (each batch is a
/// transaction, and the range is read as it goes), so a reviewer reads what `retort
/// upgrade` will do between the sections around it.
fn push_batch_plan(out: &mut String, batch: &crate::revision::Batch) {
    out.push_str("COMMIT;\n");
    let _ = writeln!(
        out,
        "-- migrate:batch {}\n-- retort runs this statement once per range [:lo, :hi) of {} by {}, \
         {} keys each (read from its index), one transaction per range{}:",
        batch.options(),
        batch.table_name(),
        batch.key_name(),
        batch.size,
        if batch.sleep_ms > 0 {
            format!(", pausing {} ms between ranges", batch.sleep_ms)
        } else {
            String::new()
        }
    );
    for line in batch.statement.sql.lines() {
        let _ = writeln!(out, "--   {line}");
    }
    out.push_str("-- then, once the last range committed:\nBEGIN;\n");
}

/// A section verbatim, terminated so that psql ends its last statement there.
fn push_script(out: &mut String, sql: &str) {
    if sql.trim().is_empty() {
        return;
    }
    out.push_str(sql);
    let terminated = split::split(sql).last().is_none_or(|last| {
        sql[last.offset + last.sql.len()..]
            .trim_start()
            .starts_with(';')
    });
    out.push_str(if terminated { "\n" } else { "\n;\n" });
}

fn script_of(revision: &Revision, direction: Direction) -> &crate::revision::Script {
    match direction {
        Direction::Upgrade => &revision.upgrade,
        // The plan refuses irreversible revisions before anything runs.
        Direction::Downgrade => revision.downgrade.as_ref().unwrap_or(&revision.upgrade),
    }
}

/// The pieces of a transactional step: its statements, then its bookkeeping.
fn step_pieces<'a>(
    graph: &'a RevisionGraph,
    tables: &VersionTables,
    heads: &mut AppliedHeads<'_>,
    step: Step,
) -> Vec<Piece<'a>> {
    let revision = &graph.revisions()[step.revision];
    let script = script_of(revision, step.direction);
    let mut pieces: Vec<Piece<'a>> = Piece::of_script(revision, step.direction, script).collect();
    pieces.extend(bookkeeping(
        graph,
        tables,
        heads,
        step,
        false,
        Timing::SameTransaction,
    ));
    pieces
}

/// The version-table update and history row recording `step`. `row_dirty`: the step
/// ran outside a transaction, so its row was inserted (or marked) dirty beforehand.
pub(super) fn bookkeeping(
    graph: &RevisionGraph,
    tables: &VersionTables,
    heads: &mut AppliedHeads<'_>,
    step: Step,
    row_dirty: bool,
    timing: Timing,
) -> Vec<Piece<'static>> {
    let revision = &graph.revisions()[step.revision];
    let mut pieces = version_updates(graph, tables, heads, step, row_dirty);
    pieces.push(Piece::bookkeeping(
        "append to the history table",
        tables.insert_history(&HistoryEntry {
            revision: revision.id.as_str(),
            action: step.direction.into(),
            checksum: Some(revision.checksum.to_string()),
            message: Some(&revision.message),
            reason: None,
            timing,
        }),
    ));
    pieces
}

/// The version-row changes of `step`: heads it supersedes are deleted, new heads
/// inserted. A dirty upgrade row already exists and only loses its marker; a dirty
/// downgrade row is deleted like a clean one.
fn version_updates(
    graph: &RevisionGraph,
    tables: &VersionTables,
    heads: &mut AppliedHeads<'_>,
    step: Step,
    row_dirty: bool,
) -> Vec<Piece<'static>> {
    let HeadChange { removed, added } = heads.apply(step);
    let mut pieces = Vec::new();
    if !removed.is_empty() {
        pieces.push(Piece::bookkeeping(
            "update the version table",
            tables.delete_rows(&ids(graph, &removed)),
        ));
    }
    for a in added {
        let id = graph.revisions()[a].id.as_str();
        let sql = if row_dirty && a == step.revision {
            tables.clear_dirty(id)
        } else {
            tables.insert_row(id, None)
        };
        pieces.push(Piece::bookkeeping("update the version table", sql));
    }
    pieces
}

/// Marks the version table before a step that runs outside a transaction: a new dirty
/// row for an upgrade, the existing head row made dirty for a downgrade.
fn dirty_mark(tables: &VersionTables, id: &str, direction: Direction) -> String {
    match direction {
        Direction::Upgrade => tables.insert_row(id, Some(Direction::Upgrade)),
        Direction::Downgrade => tables.set_dirty(id, Direction::Downgrade),
    }
}

fn report(graph: &RevisionGraph, step: Step, elapsed: Duration, transactional: bool) -> StepReport {
    let revision = &graph.revisions()[step.revision];
    StepReport {
        revision: revision.id.to_string(),
        direction: step.direction,
        message: revision.message.clone(),
        path: revision.path.display().to_string(),
        duration_ms: elapsed.as_millis(),
        transactional,
    }
}

/// Gives back the advisory lock a run took, whatever the run's outcome, so that a
/// connection lent by the application returns to its pool without it. The run's own
/// error wins over a failure to release.
async fn release_lock<T>(
    session: &Session<'_>,
    result: Result<T, RunError>,
) -> Result<T, RunError> {
    let released = session.unlock().await;
    let value = result?;
    released?;
    Ok(value)
}
