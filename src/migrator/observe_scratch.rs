//! `lint --observe`'s pipeline: the selected revisions run one by one in a database of
//! a scratch server (the chain replayed, or a dump of production restored, stamped
//! before the first revision when it has no version table), each observed for the
//! locks it took and the relations it rewrote, with relation sizes from wherever they
//! are known.

use std::collections::HashMap;
use std::path::Path;

use super::observe::{relation_sizes, RelationSize, RevisionObservation};
use super::{Migrator, RunError, RunOptions};
use crate::db::{DbError, Session, VersionTables};
use crate::dump::{self, ClientPrograms, DumpInfo, RestoreError};
use crate::scratch::{self, ScratchError, ScratchServer};

/// Why observing could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The scratch server or database failed.
    #[error(transparent)]
    Scratch(#[from] ScratchError),
    /// Querying a database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Connecting to a database failed.
    #[error(transparent)]
    Connect(#[from] crate::db::ConnectError),
    /// A revision, the replay or the stamp failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Restoring the dump failed (boxed: it carries the whole restore report).
    #[error(transparent)]
    Restore(Box<RestoreError>),
    /// The restore's blocking task died.
    #[error("the restore task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<RestoreError> for ObserveError {
    fn from(e: RestoreError) -> ObserveError {
        ObserveError::Restore(Box::new(e))
    }
}

impl ObserveError {
    /// ARCHITECTURE.md's exit codes: the wrapped error's; 3 for the scratch server.
    pub fn exit_code(&self) -> u8 {
        match self {
            ObserveError::Db(e) => e.exit_code(),
            ObserveError::Connect(e) if e.is_settings_error() => 2,
            ObserveError::Connect(_) => 3,
            ObserveError::Run(e) => e.exit_code(),
            ObserveError::Restore(e) => e.exit_code(),
            ObserveError::Scratch(_) | ObserveError::Task(_) => 3,
        }
    }
}

/// Relation sizes by qualified name, and where they were measured.
#[derive(Debug, Clone)]
pub struct RelationSizes {
    /// Where the sizes come from (a database described without secrets, or the
    /// restored dump), for the report's header.
    pub from: String,
    /// `schema.name` → size.
    pub by_name: HashMap<String, RelationSize>,
}

/// What observing found.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Each revision observed, in order.
    pub revisions: Vec<RevisionObservation>,
    /// Relation sizes, when some source had them.
    pub sizes: Option<RelationSizes>,
    /// Selected revisions the restored dump had already applied (not observed).
    pub skipped: Vec<String>,
    /// Where a restored dump without version table was taken to stand (stamped).
    pub assumed_at: Vec<String>,
}

/// A dump to restore into the scratch database instead of replaying the chain.
pub struct DumpToObserveOn {
    /// The dump, as [`dump::inspect_dump`] read it.
    pub info: DumpInfo,
    /// The client programs found before the scratch server started; the server's own
    /// are preferred when it has them.
    pub programs: ClientPrograms,
}

/// What the pipeline reports while it runs.
pub enum ObserveEvent<'a> {
    /// Restoring `path` into scratch database `database`.
    Restoring {
        /// The dump.
        path: &'a Path,
        /// The scratch database's name.
        database: &'a str,
    },
    /// The restored dump has no version table (`table`); it was stamped at `ids`,
    /// the parents of `first`, the first revision observed.
    AssumedAt {
        /// The dump.
        path: &'a Path,
        /// The version table it lacks, schema-qualified.
        table: String,
        /// The revisions it was stamped at.
        ids: &'a [String],
        /// The first revision observed.
        first: &'a str,
    },
    /// About to observe this revision.
    Observing(&'a str),
}

impl Migrator {
    /// Observes the revisions `selected` (graph indices, in order) in a fresh database
    /// of `server`, dropped afterwards. With `dump`, the database is a restore of it,
    /// and revisions it already applied are skipped; sizes are read from it when
    /// `sizes` is `None`.
    pub async fn observe_in_scratch(
        &self,
        server: &ScratchServer,
        tables: VersionTables,
        dump: Option<DumpToObserveOn>,
        selected: &[usize],
        sizes: Option<RelationSizes>,
        on_event: &mut dyn FnMut(ObserveEvent<'_>),
    ) -> Result<Observed, ObserveError> {
        let db = server.create_database("observe").await?;
        let result = async {
            let session = Session::open(db.conn(), tables).await?;
            let mut observed = Observed {
                revisions: Vec::new(),
                sizes,
                skipped: Vec::new(),
                assumed_at: Vec::new(),
            };
            let mut todo: Vec<usize> = selected.to_vec();
            if let Some(DumpToObserveOn { info, programs }) = dump {
                let path = info.path.clone();
                on_event(ObserveEvent::Restoring {
                    path: &path,
                    database: db.name(),
                });
                let programs = scratch::client_programs(server.bin_dir()).unwrap_or(programs);
                let conn = db.conn().clone();
                tokio::task::spawn_blocking(move || {
                    dump::restore(&info, &conn, &programs, dump::RestoreJobs::Auto)
                })
                .await??;
                let state = self.state(&session).await?;
                if !state.initialized {
                    observed.assumed_at = self
                        .stamp_before(&session, todo.first().copied(), &path, on_event)
                        .await?;
                }
                let state = self.state(&session).await?;
                let applied = self.graph().ancestors(&state.heads);
                let (done, pending): (Vec<usize>, Vec<usize>) =
                    todo.iter().partition(|&&r| applied[r]);
                observed.skipped = done
                    .iter()
                    .map(|&r| self.graph().revision(r).id.to_string())
                    .collect();
                todo = pending;
                if observed.sizes.is_none() {
                    let client = db.conn().connect("retort lint --observe").await?;
                    observed.sizes = Some(RelationSizes {
                        from: format!("the restored {}", path.display()),
                        by_name: relation_sizes(&client).await?,
                    });
                }
            }
            for &r in &todo {
                on_event(ObserveEvent::Observing(
                    self.graph().revision(r).id.as_str(),
                ));
                observed
                    .revisions
                    .push(self.observe(&session, db.conn(), r).await?);
            }
            Ok::<_, ObserveError>(observed)
        }
        .await;
        let dropped = server.drop_database(&db).await;
        let observed = result?;
        dropped?;
        Ok(observed)
    }

    /// A restored dump without version table is taken to be at the parents of the
    /// first revision observed (the state production is in before it runs). Returns
    /// the revisions it was stamped at.
    async fn stamp_before(
        &self,
        session: &Session<'_>,
        first: Option<usize>,
        path: &Path,
        on_event: &mut dyn FnMut(ObserveEvent<'_>),
    ) -> Result<Vec<String>, ObserveError> {
        let graph = self.graph();
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = graph
            .requires(first)
            .iter()
            .map(|&p| graph.revision(p).id.to_string())
            .collect();
        if ids.is_empty() {
            return Ok(ids);
        }
        for id in &ids {
            self.stamp(session, id, false, &RunOptions::default(), |_| {})
                .await?;
        }
        on_event(ObserveEvent::AssumedAt {
            path,
            table: session.tables().describe(),
            ids: &ids,
            first: graph.revision(first).id.as_str(),
        });
        Ok(ids)
    }
}

/// Reads the sizes of every relation of the database `conn` names (only read).
pub async fn read_relation_sizes(
    conn: &crate::db::ConnInfo,
) -> Result<RelationSizes, ObserveError> {
    let client = conn.connect("retort lint --observe").await?;
    Ok(RelationSizes {
        from: conn.describe(),
        by_name: relation_sizes(&client).await?,
    })
}
