//! Proving revisions reversible, as `retort test-migration` does: dump the schema,
//! upgrade, downgrade, dump again and compare — over a whole range at once, or revision
//! by revision (a stairway: upgrade r, downgrade r, compare, upgrade r again and
//! compare with the first upgrade), so the revision that does not undo itself is named.
//!
//! "Dump" is the catalog's canonical text, so a difference is a real schema difference
//! and comes out as a unified diff. SQL errors are results, not crashes: the revision is
//! reported `failed` with the statement's file:line. Only infrastructure problems (the
//! connection, the catalog) end the run with an error.

use std::time::Instant;

use serde::Serialize;

use crate::catalog::{self, CatalogError, InspectOptions, Inspector};
use crate::db::Session;
use crate::migrator::{RunError, RunOptions};
use crate::{Direction, Migrator, Step};

#[derive(Debug, thiserror::Error)]
pub enum RoundTripError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl From<crate::graph::GraphError> for RoundTripError {
    fn from(e: crate::graph::GraphError) -> Self {
        RoundTripError::Run(e.into())
    }
}

impl RoundTripError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RoundTripError::Run(e) => e.exit_code(),
            RoundTripError::Catalog(_) => 3,
        }
    }
}

/// What became of one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Upgrade, downgrade and the comparisons all passed.
    Ok,
    /// The downgrade did not restore the schema (or a second upgrade differs).
    Differs,
    /// The upgrade or the downgrade failed with an error.
    Failed,
    /// No downgrade section: applied, but it cannot be round-tripped.
    Irreversible,
    /// Applied but not round-tripped (below an irreversible revision in a whole-range test).
    Skipped,
    /// Not reached: an earlier revision failed.
    NotRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Differs => "differs",
            Outcome::Failed => "failed",
            Outcome::Irreversible => "irreversible",
            Outcome::Skipped => "skipped",
            Outcome::NotRun => "not run",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Differs | Outcome::Failed)
    }
}

/// One revision's result.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionResult {
    pub revision: String,
    pub message: String,
    pub path: String,
    pub outcome: Outcome,
    /// The upgrade's duration (the first one, in a stairway).
    pub upgrade_ms: Option<u128>,
    pub downgrade_ms: Option<u128>,
    /// The second upgrade's duration, after the downgrade (stairway only).
    pub again_ms: Option<u128>,
    /// Time spent inspecting and comparing schemas for this revision.
    pub check_ms: Option<u128>,
    /// The unified diff that made the revision `differs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The error that made it `failed` (with file:line:column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RevisionResult {
    fn fail(&mut self, error: String, note: &str) {
        self.outcome = Outcome::Failed;
        self.error = Some(error);
        self.note = Some(note.to_owned());
    }

    fn differ(&mut self, diff: String, note: &str) {
        self.outcome = Outcome::Differs;
        self.diff = Some(diff);
        self.note = Some(note.to_owned());
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RoundTripReport {
    /// Stairway (`--each`) or whole range.
    pub each: bool,
    pub revisions: Vec<RevisionResult>,
    /// Whole-range mode: the diff between before and after, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    pub upgrade_ms: u128,
    pub downgrade_ms: u128,
    /// Second upgrades (stairway).
    pub again_ms: u128,
    pub check_ms: u128,
}

impl RoundTripReport {
    pub fn passed(&self) -> bool {
        !self.revisions.iter().any(|r| r.outcome.is_failure())
    }

    pub fn failures(&self) -> impl Iterator<Item = &RevisionResult> {
        self.revisions.iter().filter(|r| r.outcome.is_failure())
    }
}

/// A round-trip test of one database.
pub struct RoundTrip<'a> {
    migrator: &'a Migrator,
    session: &'a Session,
    inspector: Inspector,
    run: RunOptions,
}

fn ms(started: Instant) -> u128 {
    started.elapsed().as_millis()
}

impl<'a> RoundTrip<'a> {
    /// Prepares the catalog queries on the session's connection: a stairway inspects
    /// three times per revision.
    pub async fn new(
        migrator: &'a Migrator,
        session: &'a Session,
        run: RunOptions,
    ) -> Result<RoundTrip<'a>, RoundTripError> {
        let tables = session.tables();
        // retort's own bookkeeping changes at every step by design; it is not schema.
        let inspect = InspectOptions {
            exclude_tables: tables.as_exclusions(),
            ..InspectOptions::default()
        };
        let inspector = Inspector::prepare(session.client(), &inspect).await?;
        Ok(RoundTrip {
            migrator,
            session,
            inspector,
            run,
        })
    }

    /// The database's schema as it is now, retort's own tables left out.
    pub async fn schema(&self) -> Result<catalog::Schema, CatalogError> {
        self.inspector.inspect(self.session.client()).await
    }

    /// The canonical dump of the database as it is now.
    pub async fn dump(&self) -> Result<String, CatalogError> {
        Ok(self.schema().await?.to_text())
    }

    /// Moves the database to `from` before the test. A database without version table
    /// whose schema is not empty (a dump taken before retort managed it) is stamped
    /// there; any other is migrated there. Returns what was done, for the report.
    pub async fn move_to(&self, from: &str) -> Result<String, RoundTripError> {
        let state = self.migrator.state(self.session).await?;
        let mut quiet = |_: &crate::migrator::StepReport| {};
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
    async fn step(&self, r: usize, direction: Direction) -> Result<u128, String> {
        let started = Instant::now();
        self.migrator
            .run_exact(
                self.session,
                &[Step {
                    revision: r,
                    direction,
                }],
                &self.run,
                &mut |_| {},
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(ms(started))
    }

    /// Dumps the database now and diffs it against `expected`; adds the time taken to
    /// `check`. Returns the dump and the diff (`None` when equal).
    async fn compare(
        &self,
        expected: &str,
        expected_name: &str,
        now_name: &str,
        check: &mut u128,
    ) -> Result<(String, Option<String>), CatalogError> {
        let started = Instant::now();
        let now = self.dump().await?;
        let diff = catalog::diff_dumps(expected, &now, expected_name, now_name);
        *check += ms(started);
        Ok((now, diff))
    }

    /// Tests `revisions` (oldest first, as [`RoundTrip::pending`] gives them), stairway
    /// style when `each`. `on_result` hears of each revision as soon as it is settled.
    pub async fn test(
        &self,
        revisions: &[usize],
        each: bool,
        on_result: &mut dyn FnMut(&RevisionResult),
    ) -> Result<RoundTripReport, RoundTripError> {
        let mut report = RoundTripReport {
            each,
            revisions: Vec::with_capacity(revisions.len()),
            diff: None,
            upgrade_ms: 0,
            downgrade_ms: 0,
            again_ms: 0,
            check_ms: 0,
        };
        if each {
            self.stairway(revisions, &mut report, on_result).await?;
        } else {
            self.whole(revisions, &mut report, on_result).await?;
        }
        for r in &report.revisions {
            report.upgrade_ms += r.upgrade_ms.unwrap_or(0);
            report.downgrade_ms += r.downgrade_ms.unwrap_or(0);
            report.again_ms += r.again_ms.unwrap_or(0);
            report.check_ms += r.check_ms.unwrap_or(0);
        }
        Ok(report)
    }

    fn not_run(
        &self,
        rest: &[usize],
        report: &mut RoundTripReport,
        on_result: &mut dyn FnMut(&RevisionResult),
    ) {
        for &r in rest {
            let result = self.result(r, Outcome::NotRun);
            on_result(&result);
            report.revisions.push(result);
        }
    }

    async fn stairway(
        &self,
        revisions: &[usize],
        report: &mut RoundTripReport,
        on_result: &mut dyn FnMut(&RevisionResult),
    ) -> Result<(), RoundTripError> {
        let graph = self.migrator.graph();
        let started = Instant::now();
        let mut before = self.dump().await?;
        let mut carried_check = ms(started);
        for (k, &r) in revisions.iter().enumerate() {
            let id = graph.revisions()[r].id.to_string();
            let mut result = self.result(r, Outcome::Ok);
            let mut check = std::mem::take(&mut carried_check);
            let stop = 'revision: {
                match self.step(r, Direction::Upgrade).await {
                    Ok(t) => result.upgrade_ms = Some(t),
                    Err(e) => {
                        result.fail(e, "the upgrade failed");
                        break 'revision true;
                    }
                }
                let started = Instant::now();
                let after = self.dump().await?;
                check += ms(started);
                if !graph.revisions()[r].is_reversible() {
                    result.outcome = Outcome::Irreversible;
                    result.note = Some(
                        "no `-- migrate:downgrade` section: upgraded, not round-tripped".into(),
                    );
                    before = after;
                    break 'revision false;
                }
                match self.step(r, Direction::Downgrade).await {
                    Ok(t) => result.downgrade_ms = Some(t),
                    Err(e) => {
                        result.fail(e, "the downgrade failed");
                        break 'revision true;
                    }
                }
                let (_, diff) = self
                    .compare(
                        &before,
                        &format!("before upgrade of {id}"),
                        &format!("after downgrade of {id}"),
                        &mut check,
                    )
                    .await?;
                if let Some(diff) = diff {
                    result.differ(diff, "the downgrade does not restore the schema");
                    break 'revision true;
                }
                match self.step(r, Direction::Upgrade).await {
                    Ok(t) => result.again_ms = Some(t),
                    Err(e) => {
                        result.fail(e, "the upgrade failed when run again after its downgrade");
                        break 'revision true;
                    }
                }
                let (again, diff) = self
                    .compare(
                        &after,
                        &format!("after upgrade of {id}"),
                        &format!("after downgrade and upgrade again of {id}"),
                        &mut check,
                    )
                    .await?;
                if let Some(diff) = diff {
                    result.differ(
                        diff,
                        "upgrading again after the downgrade gives another schema",
                    );
                    break 'revision true;
                }
                before = again;
                false
            };
            result.check_ms = Some(check);
            on_result(&result);
            report.revisions.push(result);
            if stop {
                self.not_run(&revisions[k + 1..], report, on_result);
                break;
            }
        }
        Ok(())
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
            match self.step(r, Direction::Upgrade).await {
                Ok(t) => result.upgrade_ms = Some(t),
                Err(e) => {
                    result.fail(e, "the upgrade failed");
                    on_result(&result);
                    report.revisions.push(result);
                    self.not_run(&revisions[k + 1..], report, on_result);
                    return Ok(());
                }
            }
            on_result(&result);
            report.revisions.push(result);
        }
        if tested.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let before = self.dump().await?;
        let mut check = ms(started);
        let mut results: Vec<RevisionResult> = tested
            .iter()
            .map(|&r| self.result(r, Outcome::Ok))
            .collect();
        let mut failed = None;
        for (k, &r) in tested.iter().enumerate() {
            match self.step(r, Direction::Upgrade).await {
                Ok(t) => results[k].upgrade_ms = Some(t),
                Err(e) => {
                    results[k].fail(e, "the upgrade failed");
                    failed = Some(k);
                    break;
                }
            }
        }
        if failed.is_none() {
            for (k, &r) in tested.iter().enumerate().rev() {
                match self.step(r, Direction::Downgrade).await {
                    Ok(t) => results[k].downgrade_ms = Some(t),
                    Err(e) => {
                        results[k].fail(e, "the downgrade failed");
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
                let (_, diff) = self
                    .compare(
                        &before,
                        &format!("before upgrade of {first}"),
                        &format!("after downgrade of {first}"),
                        &mut check,
                    )
                    .await?;
                if let Some(diff) = diff {
                    for result in &mut results {
                        result.outcome = Outcome::Differs;
                        result.note = Some(
                            "the range does not round-trip; run with --each to find the revision"
                                .into(),
                        );
                    }
                    report.diff = Some(diff);
                }
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
