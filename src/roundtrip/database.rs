//! `test-migration`'s pipeline on one database: open a session, move to the start of
//! the range, say what is about to be tested, and run the round trip, reporting each
//! revision as it finishes. Where the database comes from (a scratch database, a
//! restored dump, a local database) is the caller's business.

use super::{RevisionResult, RoundTrip, RoundTripError, RoundTripReport, TestOptions};
use crate::db::{ConnInfo, Session, VersionTables};
use crate::migrator::{EditedRevision, RunOptions};
use crate::Migrator;

/// What to test, and how.
pub struct TestPlan<'a> {
    /// The chain.
    pub migrator: &'a Migrator,
    /// The database to test on; it is upgraded and downgraded.
    pub conn: &'a ConnInfo,
    /// Its version tables.
    pub tables: VersionTables,
    /// Move the database to this revision first (`-r FROM:`), when given.
    pub from: Option<&'a str>,
    /// Test the revisions pending up to this target.
    pub to: &'a str,
    /// Stairway or range, keep going, strict.
    pub options: TestOptions,
    /// Check every incremental inspection against a whole one (retort's own tests).
    pub verify_inspections: bool,
    /// Say when the database has a schema but no version table (a restored dump):
    /// costs one inspection, so only when the caller will say something about it.
    pub check_unversioned: bool,
    /// Spread each inspection over a second connection (halves the wait for each
    /// inspection on a multi-core server).
    pub second_connection: bool,
}

/// What the pipeline reports while it runs.
pub enum TestEvent<'r> {
    /// The second inspection connection was refused; the test goes on with one.
    OneInspectionConnection(String),
    /// The database has no version table but has a schema: every revision counts as
    /// pending (a restored dump of a database not run by retort, say).
    UnversionedSchema {
        /// The version table looked for, `schema.table`.
        table: String,
    },
    /// Applied revisions whose files changed since they ran (the test uses the files).
    Edited(&'r [EditedRevision]),
    /// About to test these revisions (ids, oldest first).
    Testing(&'r [String]),
    /// One revision's result, as soon as it is known.
    Revision(&'r RevisionResult),
}

/// The result of a test run.
pub struct TestRun {
    /// `user@host:port/db` of the database tested, safe to print.
    pub target: String,
    /// What moving to `from` did, when asked.
    pub prepared: Option<String>,
    /// The revisions tested, oldest first (empty: nothing was pending).
    pub range: Vec<String>,
    /// Per revision and in total.
    pub report: RoundTripReport,
}

/// Runs `plan` (see the module doc); `on_event` hears of each step.
pub async fn test_database(
    plan: TestPlan<'_>,
    on_event: &mut dyn FnMut(TestEvent<'_>),
) -> Result<TestRun, RoundTripError> {
    let migrator = plan.migrator;
    let session = Session::open(plan.conn, plan.tables).await?;
    let mut trip = RoundTrip::new(migrator, &session, RunOptions::default())
        .await?
        .verify_inspections(plan.verify_inspections);
    if plan.second_connection {
        match plan
            .conn
            .connect("retort test-migration (inspection)")
            .await
        {
            Ok(client) => trip = trip.with_inspection_connections(vec![client]),
            Err(e) => on_event(TestEvent::OneInspectionConnection(e.to_string())),
        }
    }
    let prepared = match plan.from {
        Some(from) => Some(trip.move_to(from).await?),
        None => None,
    };
    let state = migrator.state(&session).await?;
    if plan.check_unversioned
        && plan.from.is_none()
        && !state.initialized
        && !trip.schema().await?.is_empty()
    {
        on_event(TestEvent::UnversionedSchema {
            table: session.tables().describe(),
        });
    }
    let edited = migrator.edited_applied(&session, &state).await?;
    if !edited.is_empty() {
        on_event(TestEvent::Edited(&edited));
    }
    let revisions = trip.pending(plan.to).await?;
    let graph = migrator.graph();
    let range: Vec<String> = revisions
        .iter()
        .map(|&r| graph.revisions()[r].id.to_string())
        .collect();
    if !range.is_empty() {
        on_event(TestEvent::Testing(&range));
    }
    let report = trip
        .test(&revisions, plan.options, &mut |result| {
            on_event(TestEvent::Revision(result))
        })
        .await?;
    Ok(TestRun {
        target: session.target().to_owned(),
        prepared,
        range,
        report,
    })
}
