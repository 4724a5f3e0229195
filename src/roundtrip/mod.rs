//! Proving revisions reversible, as `retort test-migration` does: dump the schema,
//! upgrade, downgrade, dump again and compare — over a whole range at once, or revision
//! by revision (a stairway: upgrade r, downgrade r, compare, upgrade r again and
//! compare with the first upgrade), so the revision that does not undo itself is named.
//!
//! "Dump" is the catalog's canonical text, so a difference is a real schema difference
//! and comes out as a unified diff; a difference in the order of a table's columns alone
//! is `order-only` (a downgrade that re-adds a dropped column can only append it). SQL
//! errors are results, not crashes: the revision is reported `upgrade failed`,
//! `downgrade failed` or `upgrade again failed` with the statement's file:line. With
//! `keep_going` a failure does not end the run: the database is brought back to the
//! schema the failed revision's upgrade left, and every later revision is tested. Only
//! infrastructure problems (the connection, the catalog) end the run with an error.

use std::time::Instant;

use serde::Serialize;

use crate::catalog::{self, CatalogError, InspectOptions, Scope, Tracker};
use crate::db::Session;
use crate::migrator::{RunError, RunOptions};
use crate::{Direction, Migrator, Step};

mod database;
mod junit;

pub use database::{test_database, TestEvent, TestPlan, TestRun};
pub use junit::to_junit;

/// Why a round-trip test could not run to its end (a revision failing is a result, not an
/// error).
#[derive(Debug, thiserror::Error)]
pub enum RoundTripError {
    /// Running the chain failed outside a revision's SQL (loading, locking, the version
    /// tables).
    #[error(transparent)]
    Run(#[from] RunError),
    /// Reading the catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<crate::graph::GraphError> for RoundTripError {
    fn from(e: crate::graph::GraphError) -> Self {
        RoundTripError::Run(e.into())
    }
}

impl RoundTripError {
    /// The exit code ARCHITECTURE.md assigns: the wrapped error's own, 3 for a catalog
    /// failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RoundTripError::Run(e) => e.exit_code(),
            RoundTripError::Catalog(_) => 3,
            RoundTripError::Db(e) => e.exit_code(),
        }
    }
}

/// What became of one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Upgrade, downgrade and the comparisons all passed.
    Ok,
    /// The downgrade restored the schema except for the order of some table's columns
    /// (a downgrade that re-adds a dropped column can only append it). Passes with a
    /// warning unless the test is strict.
    OrderOnly,
    /// The downgrade did not restore the schema (or a second upgrade differs).
    Differs,
    /// The upgrade failed with an error; nothing built on it could be tested.
    UpgradeFailed,
    /// The downgrade failed with an error.
    DowngradeFailed,
    /// The upgrade failed when run again after the downgrade.
    UpgradeAgainFailed,
    /// No downgrade section: applied, but it cannot be round-tripped.
    Irreversible,
    /// Applied but not round-tripped (below an irreversible revision in a whole-range test).
    Skipped,
    /// Not reached: an earlier revision failed.
    NotRun,
}

impl Outcome {
    /// The class as the report prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OrderOnly => "order-only",
            Outcome::Differs => "differs",
            Outcome::UpgradeFailed => "upgrade failed",
            Outcome::DowngradeFailed => "downgrade failed",
            Outcome::UpgradeAgainFailed => "upgrade again failed",
            Outcome::Irreversible => "irreversible",
            Outcome::Skipped => "skipped",
            Outcome::NotRun => "not run",
        }
    }

    /// Whether the revision was not round-tripped at all (no downgrade, or not reached).
    pub fn is_skip(self) -> bool {
        matches!(
            self,
            Outcome::Irreversible | Outcome::Skipped | Outcome::NotRun
        )
    }

    /// Whether this outcome fails the test; `strict` makes `order-only` fail too.
    pub fn is_failure(self, strict: bool) -> bool {
        match self {
            Outcome::Differs
            | Outcome::UpgradeFailed
            | Outcome::DowngradeFailed
            | Outcome::UpgradeAgainFailed => true,
            Outcome::OrderOnly => strict,
            Outcome::Ok | Outcome::Irreversible | Outcome::Skipped | Outcome::NotRun => false,
        }
    }

    /// Every class, in the order the summary lists them.
    pub const ALL: [Outcome; 9] = [
        Outcome::Ok,
        Outcome::OrderOnly,
        Outcome::Differs,
        Outcome::UpgradeFailed,
        Outcome::DowngradeFailed,
        Outcome::UpgradeAgainFailed,
        Outcome::Irreversible,
        Outcome::Skipped,
        Outcome::NotRun,
    ];
}

/// One revision's result.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionResult {
    /// The revision's id.
    pub revision: String,
    /// The revision's `message:` header.
    pub message: String,
    /// The revision file's path, as text.
    pub path: String,
    /// What became of it.
    pub outcome: Outcome,
    /// The upgrade's duration (the first one, in a stairway).
    pub upgrade_ms: Option<u128>,
    /// The downgrade's duration, in milliseconds; `None` when it did not run.
    pub downgrade_ms: Option<u128>,
    /// The second upgrade's duration, after the downgrade (stairway only).
    pub again_ms: Option<u128>,
    /// Time spent inspecting and comparing schemas for this revision.
    pub check_ms: Option<u128>,
    /// The unified diff that made the revision `differs` (or `order-only`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The error that made it fail (with file:line:column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A short sentence on what went wrong (`the downgrade failed`, ...); `None` when it
    /// passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RevisionResult {
    fn fail(&mut self, outcome: Outcome, error: String, note: &str) {
        self.outcome = outcome;
        self.error = Some(error);
        self.note = Some(note.to_owned());
    }

    fn differ(&mut self, diff: String, note: &str) {
        self.outcome = Outcome::Differs;
        self.diff = Some(diff);
        self.note = Some(note.to_owned());
    }

    /// Adds a sentence to the note (a later step's trouble after the first failure).
    fn add_note(&mut self, text: &str) {
        self.note = Some(match self.note.take() {
            Some(note) => format!("{note}; {text}"),
            None => text.to_owned(),
        });
    }
}

/// How a run goes on after a failure, and what counts as one.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestOptions {
    /// Round-trip each revision on its own rather than the range as a whole.
    pub each: bool,
    /// After a revision fails, carry on from the schema its upgrade left and test every
    /// later revision (stairway only).
    pub keep_going: bool,
    /// `order-only` fails the test (for code that relies on `SELECT *` or `COPY`
    /// without a column list).
    pub strict: bool,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RoundTripReport {
    /// Stairway (`--each`) or whole range.
    pub each: bool,
    /// Whether `order-only` counts as a failure.
    pub strict: bool,
    /// One result per tested revision, oldest first.
    pub revisions: Vec<RevisionResult>,
    /// Whole-range mode: the diff between before and after, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Total of the upgrades' durations, in milliseconds.
    pub upgrade_ms: u128,
    /// Total of the downgrades' durations, in milliseconds.
    pub downgrade_ms: u128,
    /// Second upgrades (stairway).
    pub again_ms: u128,
    /// Total time spent inspecting and comparing schemas, in milliseconds.
    pub check_ms: u128,
    /// How the schema checks read the schema: whole inspections, and inspections that
    /// read again only the relations a step changed (or nothing, when none did).
    pub inspections: InspectionCounts,
}

/// How many inspections of each scope a run made.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct InspectionCounts {
    /// Inspections that read the whole schema.
    pub whole: usize,
    /// Inspections that read again only the relations a step changed.
    pub scoped: usize,
    /// Inspections skipped because a step changed no relation.
    pub unchanged: usize,
    /// Relations read again, over all scoped inspections.
    pub relations_read: usize,
}

impl RoundTripReport {
    /// Whether no revision failed (`order-only` counting as a failure when `strict`).
    pub fn passed(&self) -> bool {
        !self
            .revisions
            .iter()
            .any(|r| r.outcome.is_failure(self.strict))
    }

    /// The revisions that failed (`order-only` included when `strict`).
    pub fn failures(&self) -> impl Iterator<Item = &RevisionResult> {
        self.revisions
            .iter()
            .filter(|r| r.outcome.is_failure(self.strict))
    }

    /// How many revisions ended in `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.revisions
            .iter()
            .filter(|r| r.outcome == outcome)
            .count()
    }
}

/// A round-trip test of one database.
pub struct RoundTrip<'a> {
    migrator: &'a Migrator,
    session: &'a Session<'a>,
    /// Taken out while an inspection runs (the round trip's methods take `&self`).
    tracker: std::sync::Mutex<Option<Tracker>>,
    inspections: std::sync::Mutex<InspectionCounts>,
    inspect: InspectOptions,
    /// Further connections to the same database that each inspection spreads its
    /// catalog queries over (see [`RoundTrip::with_inspection_connections`]).
    helpers: Vec<tokio_postgres::Client>,
    run: RunOptions,
}

/// The fewest batches a batch section runs in under test, whatever its `size=`.
pub const TESTED_BATCHES: u64 = 4;

fn ms(started: Instant) -> u128 {
    started.elapsed().as_millis()
}

impl<'a> RoundTrip<'a> {
    /// Prepares the catalog queries on the session's connection: a stairway inspects
    /// three times per revision, each time reading again only what the step changed
    /// (see [`Tracker`]).
    pub async fn new(
        migrator: &'a Migrator,
        session: &'a Session<'a>,
        run: RunOptions,
    ) -> Result<RoundTrip<'a>, RoundTripError> {
        let tables = session.tables();
        // retort's own bookkeeping changes at every step by design; it is not schema.
        let inspect = InspectOptions {
            exclude_tables: tables.as_exclusions(),
            ..InspectOptions::default()
        };
        let tracker = Tracker::prepare(session.client(), &inspect).await?;
        // A batch section tested as one statement would prove nothing of its loop.
        let run = RunOptions {
            min_batches: run.min_batches.or(Some(TESTED_BATCHES)),
            ..run
        };
        Ok(RoundTrip {
            migrator,
            session,
            tracker: std::sync::Mutex::new(Some(tracker)),
            inspections: std::sync::Mutex::new(InspectionCounts::default()),
            inspect,
            helpers: Vec::new(),
            run,
        })
    }

    /// Spreads every inspection's catalog queries over `clients`, further connections
    /// to the database under test, besides the session's own; they share one snapshot.
    /// On a large schema the server's work dominates an inspection, and a stairway
    /// inspects three times per revision, so one more backend nearly halves the wait.
    pub fn with_inspection_connections(mut self, clients: Vec<tokio_postgres::Client>) -> Self {
        self.helpers = clients;
        self
    }

    /// Checks every incremental inspection against a whole one (twice the cost; for
    /// tests and for `RETORT_VERIFY_INSPECTIONS=1`).
    pub fn verify_inspections(self, verify: bool) -> Self {
        let tracker = self
            .tracker
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .map(|tracker| tracker.verify(verify));
        if let Ok(mut slot) = self.tracker.lock() {
            *slot = tracker;
        }
        self
    }

    /// The database's schema as it is now, retort's own tables left out.
    pub async fn schema(&self) -> Result<catalog::Schema, CatalogError> {
        let helpers: Vec<&tokio_postgres::Client> = self.helpers.iter().collect();
        let taken = self.tracker.lock().ok().and_then(|mut slot| slot.take());
        let Some(mut tracker) = taken else {
            // Only when called concurrently: read it whole.
            return Ok(
                catalog::inspect_shared(self.session.client(), &helpers, &self.inspect)
                    .await?
                    .0,
            );
        };
        let result = tracker.inspect(self.session.client(), &helpers).await;
        if let Ok(mut slot) = self.tracker.lock() {
            *slot = Some(tracker);
        }
        let inspection = result?;
        if let Ok(mut counts) = self.inspections.lock() {
            match inspection.scope {
                Scope::Whole => counts.whole += 1,
                Scope::Unchanged => counts.unchanged += 1,
                Scope::Relations(n) => {
                    counts.scoped += 1;
                    counts.relations_read += n;
                }
            }
        }
        Ok(inspection.schema)
    }

    /// The inspections made so far.
    pub fn inspection_counts(&self) -> InspectionCounts {
        self.inspections
            .lock()
            .map(|counts| *counts)
            .unwrap_or_default()
    }

    /// Moves the database to `from` before the test. A database without version table
    /// whose schema is not empty (a dump taken before retort managed it) is stamped
    /// there; any other is migrated there. Returns what was done, for the report.
    pub async fn move_to(&self, from: &str) -> Result<String, RoundTripError> {
        let state = self.migrator.state(self.session).await?;
        let mut quiet = |_: crate::migrator::RunEvent<'_>| {};
        if !state.initialized && !self.schema().await?.is_empty() {
            self.migrator
                .stamp(self.session, from, false, &self.run, |_| {})
                .await?;
            return Ok(format!(
                "stamped {from} (the database has a schema but no version table)"
            ));
        }
        let graph = self.migrator.graph();
        let target = graph.resolve(from, Some(&state.heads))?;
        let steps = graph.plan(&state.heads, &target)?;
        let done = if steps.iter().all(|s| s.direction == Direction::Upgrade) {
            self.migrator
                .upgrade(self.session, from, &self.run, |_| {}, &mut quiet)
                .await?
        } else {
            self.migrator
                .downgrade(self.session, from, &self.run, |_| {}, &mut quiet)
                .await?
        };
        Ok(format!("moved to {from} ({} step(s))", done.len()))
    }

    /// The revisions between the database's current revision and `to`, oldest first.
    pub async fn pending(&self, to: &str) -> Result<Vec<usize>, RoundTripError> {
        let state = self.migrator.state(self.session).await?;
        if let Some((r, direction)) = state.dirty {
            return Err(RunError::Dirty {
                table: self.session.tables().describe(),
                revision: self.migrator.graph().revisions()[r].id.to_string(),
                direction,
            }
            .into());
        }
        let graph = self.migrator.graph();
        let target = graph.resolve(to, Some(&state.heads))?;
        let steps = graph.plan(&state.heads, &target)?;
        if steps.iter().any(|s| s.direction == Direction::Downgrade) {
            return Err(RunError::Usage(format!(
                "{to} is below the database's current revision; test a range above it with -r FROM:TO"
            ))
            .into());
        }
        Ok(steps.into_iter().map(|s| s.revision).collect())
    }

    fn result(&self, r: usize, outcome: Outcome) -> RevisionResult {
        let revision = &self.migrator.graph().revisions()[r];
        RevisionResult {
            revision: revision.id.to_string(),
            message: revision.message.clone(),
            path: revision.path.display().to_string(),
            outcome,
            upgrade_ms: None,
            downgrade_ms: None,
            again_ms: None,
            check_ms: None,
            diff: None,
            error: None,
            note: None,
        }
    }

    /// Runs one step; `Err` carries the failure's text (file:line for SQL errors).
    /// Runs one step: `Ok(Ok(ms))`, or `Ok(Err(message))` when the revision failed (a
    /// verdict on it). A server or connection that went away is no verdict on any
    /// revision: it stops the whole test as an error.
    async fn step(
        &self,
        r: usize,
        direction: Direction,
    ) -> Result<Result<u128, String>, RoundTripError> {
        let started = Instant::now();
        let run = self
            .migrator
            .run_exact(
                self.session,
                &[Step {
                    revision: r,
                    direction,
                }],
                &self.run,
                &mut |_| {},
            )
            .await;
        match run {
            Ok(_) => Ok(Ok(ms(started))),
            Err(e) if e.is_connection_lost() => Err(e.into()),
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    /// The database's schema now, with its canonical dump; adds the time taken to `check`.
    async fn snapshot(&self, check: &mut u128) -> Result<Snapshot, CatalogError> {
        let started = Instant::now();
        let schema = self.schema().await?;
        *check += ms(started);
        Ok(Snapshot {
            schema,
            text: std::sync::OnceLock::new(),
        })
    }

    /// Tests `revisions` (oldest first, as [`RoundTrip::pending`] gives them), stairway
    /// style when `options.each`. `on_result` hears of each revision as soon as it is
    /// settled.
    pub async fn test(
        &self,
        revisions: &[usize],
        options: TestOptions,
        on_result: &mut dyn FnMut(&RevisionResult),
    ) -> Result<RoundTripReport, RoundTripError> {
        let mut report = RoundTripReport {
            each: options.each,
            strict: options.strict,
            revisions: Vec::with_capacity(revisions.len()),
            diff: None,
            upgrade_ms: 0,
            downgrade_ms: 0,
            again_ms: 0,
            check_ms: 0,
            inspections: InspectionCounts::default(),
        };
        if options.each {
            self.stairway(revisions, options, &mut report, on_result)
                .await?;
        } else {
            self.whole(revisions, &mut report, on_result).await?;
        }
        for r in &report.revisions {
            report.upgrade_ms += r.upgrade_ms.unwrap_or(0);
            report.downgrade_ms += r.downgrade_ms.unwrap_or(0);
            report.again_ms += r.again_ms.unwrap_or(0);
            report.check_ms += r.check_ms.unwrap_or(0);
        }
        report.inspections = self.inspection_counts();
        Ok(report)
    }

    fn not_run(
        &self,
        rest: &[usize],
        note: &str,
        report: &mut RoundTripReport,
        on_result: &mut dyn FnMut(&RevisionResult),
    ) {
        for &r in rest {
            let mut result = self.result(r, Outcome::NotRun);
            result.note = Some(note.to_owned());
            on_result(&result);
            report.revisions.push(result);
        }
    }

    /// Upgrade r, downgrade r, compare with the schema before; upgrade r again, compare
    /// with the schema after the first upgrade. With `keep_going`, a failure does not
    /// end the run: the database is brought back to the schema r's upgrade left (see
    /// [`RoundTrip::settle_at`]) and the next revision is tested from there.
    async fn stairway(
        &self,
        revisions: &[usize],
        options: TestOptions,
        report: &mut RoundTripReport,
        on_result: &mut dyn FnMut(&RevisionResult),
    ) -> Result<(), RoundTripError> {
        let graph = self.migrator.graph();
        let mut carried_check = 0;
        let mut before = self.snapshot(&mut carried_check).await?;
        for (k, &r) in revisions.iter().enumerate() {
            let id = graph.revisions()[r].id.to_string();
            let mut result = self.result(r, Outcome::Ok);
            let mut check = std::mem::take(&mut carried_check);
            match self.step(r, Direction::Upgrade).await? {
                Ok(t) => result.upgrade_ms = Some(t),
                Err(e) => {
                    // Nothing later can be tested: every later revision builds on this one.
                    result.fail(Outcome::UpgradeFailed, e, "the upgrade failed");
                    result.check_ms = Some(check);
                    on_result(&result);
                    report.revisions.push(result);
                    self.not_run(
                        &revisions[k + 1..],
                        &format!("the upgrade of {id}, which it builds on, failed"),
                        report,
                        on_result,
                    );
                    break;
                }
            }
            let after = self.snapshot(&mut check).await?;
            if !graph.revisions()[r].is_reversible() {
                result.outcome = Outcome::Irreversible;
                result.note =
                    Some("no `-- migrate:downgrade` section: upgraded, not round-tripped".into());
                result.check_ms = Some(check);
                on_result(&result);
                report.revisions.push(result);
                before = after;
                continue;
            }
            let now = self
                .round_trip(r, &id, &before, &after, &mut result, &mut check)
                .await?;
            let failed = result.outcome.is_failure(options.strict);
            let next = if failed && !options.keep_going {
                None
            } else {
                self.settle_at(r, &id, now, &after, &mut result, &mut check)
                    .await?
            };
            result.check_ms = Some(check);
            on_result(&result);
            report.revisions.push(result);
            match next {
                Some(state) => before = state,
                None => {
                    let note = if failed && !options.keep_going {
                        format!("{id} failed (--keep-going tests every revision after a failure)")
                    } else {
                        format!(
                            "the database could not be brought back to the schema {id}'s upgrade leaves"
                        )
                    };
                    self.not_run(&revisions[k + 1..], &note, report, on_result);
                    break;
                }
            }
        }
        Ok(())
    }

    /// The downgrade and the second upgrade of one stairway step, classifying `result`.
    /// Returns the state the database is left in (`None` when a step failed and it was
    /// not inspected again).
    async fn round_trip(
        &self,
        r: usize,
        id: &str,
        before: &Snapshot,
        after: &Snapshot,
        result: &mut RevisionResult,
        check: &mut u128,
    ) -> Result<Option<Snapshot>, RoundTripError> {
        match self.step(r, Direction::Downgrade).await? {
            Ok(t) => result.downgrade_ms = Some(t),
            Err(e) => {
                result.fail(Outcome::DowngradeFailed, e, "the downgrade failed");
                return Ok(None);
            }
        }
        let down = self.snapshot(check).await?;
        let names = (
            format!("before upgrade of {id}"),
            format!("after downgrade of {id}"),
        );
        match compare(before, &down, (&names.0, &names.1)) {
            Comparison::Same => {}
            Comparison::OrderOnly(diff) => {
                result.outcome = Outcome::OrderOnly;
                result.diff = Some(diff);
                result.note =
                    Some("the downgrade restores every column, but not in the same order".into());
            }
            Comparison::Differs(diff) => {
                result.differ(diff, "the downgrade does not restore the schema");
            }
        }
        match self.step(r, Direction::Upgrade).await? {
            Ok(t) => result.again_ms = Some(t),
            Err(e) => {
                if result.outcome == Outcome::Differs {
                    result.add_note(&format!("upgrading again then failed: {e}"));
                } else {
                    result.fail(
                        Outcome::UpgradeAgainFailed,
                        e,
                        "the upgrade failed when run again after its downgrade",
                    );
                }
                return Ok(Some(down));
            }
        }
        let again = self.snapshot(check).await?;
        let names = (
            format!("after upgrade of {id}"),
            format!("after downgrade and upgrade again of {id}"),
        );
        match compare(after, &again, (&names.0, &names.1)) {
            Comparison::Same => {}
            Comparison::OrderOnly(diff) => {
                if result.outcome == Outcome::Ok {
                    result.outcome = Outcome::OrderOnly;
                    result.diff = Some(diff);
                    result.note = Some(
                        "upgrading again after the downgrade gives the same columns in another order"
                            .into(),
                    );
                }
            }
            Comparison::Differs(diff) => {
                if result.outcome == Outcome::Differs {
                    result.add_note("upgrading again then gave another schema as well");
                } else {
                    result.differ(
                        diff,
                        "upgrading again after the downgrade gives another schema",
                    );
                }
            }
        }
        Ok(Some(again))
    }

    /// Makes sure the database is at `after` (the schema r's upgrade left) before the
    /// next revision: r must be applied, and the schema must match `after` up to column
    /// order. When a failed round trip left another schema, the schema is brought back
    /// with retort's own diff from what is there to `after` (the data the revision's
    /// steps touched is not restored: the next revisions are tested on the schema).
    /// Returns the state to test the next revision from, or `None` when it cannot be
    /// reached.
    async fn settle_at(
        &self,
        r: usize,
        id: &str,
        now: Option<Snapshot>,
        after: &Snapshot,
        result: &mut RevisionResult,
        check: &mut u128,
    ) -> Result<Option<Snapshot>, RoundTripError> {
        let state = self.migrator.state(self.session).await?;
        if state.dirty.is_some() {
            result.add_note(
                "a transaction:false step failed half-way, so the run cannot go on (settle it with `retort resolve`)",
            );
            return Ok(None);
        }
        let applied = self.migrator.graph().ancestors(&state.heads)[r];
        let now = match now {
            Some(now) => now,
            None => self.snapshot(check).await?,
        };
        if same_up_to_order(after, &now) {
            if applied {
                return Ok(Some(now));
            }
            // The schema is right but the revision is not recorded (its downgrade left
            // the schema as the upgrade had it, and the upgrade again failed).
            self.migrator
                .stamp(self.session, id, false, &self.run, |_| {})
                .await?;
            result.add_note(&format!("{id} stamped to go on"));
            return Ok(Some(now));
        }
        let changes = crate::diff::diff(&now.schema, &after.schema);
        let statements = crate::diff::render(&changes);
        for statement in &statements {
            // What the engine cannot write, or leaves for a person to finish, cannot be
            // applied here either.
            if statement.hazards.iter().any(|h| {
                matches!(
                    h.kind,
                    crate::diff::HazardKind::Unsupported | crate::diff::HazardKind::ManualStep
                )
            }) {
                result.add_note(&format!(
                    "the schema {id}'s upgrade leaves cannot be restored automatically ({})",
                    statement.sql.lines().next().unwrap_or_default()
                ));
                return Ok(None);
            }
            if statement.sql.starts_with("--") {
                continue;
            }
            if let Err(e) = self.session.client().batch_execute(&statement.sql).await {
                result.add_note(&format!(
                    "restoring the schema {id}'s upgrade leaves failed at `{}`: {e}",
                    statement.sql.lines().next().unwrap_or_default()
                ));
                return Ok(None);
            }
        }
        if !applied {
            self.migrator
                .stamp(self.session, id, false, &self.run, |_| {})
                .await?;
        }
        let restored = self.snapshot(check).await?;
        if !same_up_to_order(after, &restored) {
            result.add_note(&format!(
                "the schema {id}'s upgrade leaves could not be restored exactly"
            ));
            return Ok(None);
        }
        result.add_note(&format!(
            "later revisions were tested on the schema {id}'s upgrade leaves, restored by retort's diff"
        ));
        Ok(Some(restored))
    }

    async fn whole(
        &self,
        revisions: &[usize],
        report: &mut RoundTripReport,
        on_result: &mut dyn FnMut(&RevisionResult),
    ) -> Result<(), RoundTripError> {
        let graph = self.migrator.graph();
        // Nothing can be downgraded past an irreversible revision: apply everything up
        // to the last one first, and round-trip what lies above it.
        let split = revisions
            .iter()
            .rposition(|&r| !graph.revisions()[r].is_reversible())
            .map_or(0, |i| i + 1);
        let (below, tested) = revisions.split_at(split);
        for (k, &r) in below.iter().enumerate() {
            let reversible = graph.revisions()[r].is_reversible();
            let mut result = self.result(
                r,
                if reversible {
                    Outcome::Skipped
                } else {
                    Outcome::Irreversible
                },
            );
            result.note = Some(if reversible {
                "applied, not round-tripped: an irreversible revision above it blocks the downgrade"
                    .into()
            } else {
                "no `-- migrate:downgrade` section: upgraded, not round-tripped".into()
            });
            match self.step(r, Direction::Upgrade).await? {
                Ok(t) => result.upgrade_ms = Some(t),
                Err(e) => {
                    result.fail(Outcome::UpgradeFailed, e, "the upgrade failed");
                    on_result(&result);
                    report.revisions.push(result);
                    let id = &graph.revisions()[r].id;
                    self.not_run(
                        &revisions[k + 1..],
                        &format!("the upgrade of {id}, which it builds on, failed"),
                        report,
                        on_result,
                    );
                    return Ok(());
                }
            }
            on_result(&result);
            report.revisions.push(result);
        }
        if tested.is_empty() {
            return Ok(());
        }
        let mut check = 0;
        let before = self.snapshot(&mut check).await?;
        let mut results: Vec<RevisionResult> = tested
            .iter()
            .map(|&r| self.result(r, Outcome::Ok))
            .collect();
        let mut failed = None;
        for (k, &r) in tested.iter().enumerate() {
            match self.step(r, Direction::Upgrade).await? {
                Ok(t) => results[k].upgrade_ms = Some(t),
                Err(e) => {
                    results[k].fail(Outcome::UpgradeFailed, e, "the upgrade failed");
                    failed = Some(k);
                    break;
                }
            }
        }
        if failed.is_none() {
            for (k, &r) in tested.iter().enumerate().rev() {
                match self.step(r, Direction::Downgrade).await? {
                    Ok(t) => results[k].downgrade_ms = Some(t),
                    Err(e) => {
                        results[k].fail(Outcome::DowngradeFailed, e, "the downgrade failed");
                        failed = Some(k);
                        break;
                    }
                }
            }
        }
        match failed {
            Some(k) => {
                // Everything else in the range is unproven either way.
                let at = graph.revisions()[tested[k]].id.to_string();
                for (j, result) in results.iter_mut().enumerate() {
                    if j != k {
                        result.outcome = Outcome::NotRun;
                        result.note = Some(format!("the round trip stopped at {at}"));
                    }
                }
            }
            None => {
                let first = &graph.revisions()[tested[0]].id;
                let now = self.snapshot(&mut check).await?;
                let names = (
                    format!("before upgrade of {first}"),
                    format!("after downgrade of {first}"),
                );
                let (outcome, note, diff) = match compare(&before, &now, (&names.0, &names.1)) {
                    Comparison::Same => (Outcome::Ok, None, None),
                    Comparison::OrderOnly(diff) => (
                        Outcome::OrderOnly,
                        Some("the range round-trips, but some columns come back in another order"),
                        Some(diff),
                    ),
                    Comparison::Differs(diff) => (
                        Outcome::Differs,
                        Some("the range does not round-trip; run with --each to find the revision"),
                        Some(diff),
                    ),
                };
                for result in &mut results {
                    result.outcome = outcome;
                    result.note = note.map(str::to_owned);
                }
                report.diff = diff;
            }
        }
        if let Some(last) = results.last_mut() {
            last.check_ms = Some(check);
        }
        for result in results {
            on_result(&result);
            report.revisions.push(result);
        }
        Ok(())
    }
}

/// A schema as inspected, with its canonical dump rendered when first needed: equal
/// models need none (rendering 2,000 tables costs about as much as reading again the
/// few a revision touched).
struct Snapshot {
    schema: catalog::Schema,
    text: std::sync::OnceLock<String>,
}

impl Snapshot {
    fn text(&self) -> &str {
        self.text.get_or_init(|| self.schema.to_text())
    }

    /// Equal models render equal dumps; unequal models may still (a difference the
    /// dump does not show), so those are compared as text.
    fn same_as(&self, other: &Snapshot) -> bool {
        self.schema == other.schema || self.text() == other.text()
    }
}

/// How two states of a database compare.
enum Comparison {
    Same,
    /// The same schema once each table's columns are sorted by name; the diff of the
    /// unsorted dumps.
    OrderOnly(String),
    Differs(String),
}

/// Compares two states; the diff (when any) is headed with the states' names. A schema
/// difference is shown on the unsorted dumps, which is how the user knows them.
fn compare(expected: &Snapshot, now: &Snapshot, names: (&str, &str)) -> Comparison {
    if expected.same_as(now) {
        return Comparison::Same;
    }
    let diff =
        catalog::diff_dumps(expected.text(), now.text(), names.0, names.1).unwrap_or_default();
    if same_up_to_order(expected, now) {
        Comparison::OrderOnly(diff)
    } else {
        Comparison::Differs(diff)
    }
}

/// Whether `now` holds `expected`'s schema, each table's columns in any order.
fn same_up_to_order(expected: &Snapshot, now: &Snapshot) -> bool {
    expected.same_as(now)
        || expected.schema.to_text_with_sorted_columns() == now.schema.to_text_with_sorted_columns()
}
