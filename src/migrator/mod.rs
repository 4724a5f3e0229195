//! `Migrator`: the library entry point the CLI calls, so applications can embed retort.
//!
//! It owns a loaded `RevisionGraph` and performs the file-writing operations (new
//! revisions, merges, the sum file, project scaffolding). Every check runs before the
//! first byte is written, so a refused command leaves the directory untouched.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::embed::EmbeddedMigrations;
use crate::graph::{GraphError, RevisionGraph};
use crate::revision::{self, Checksum, HeaderLines, Revision, RevisionId, Script};
use crate::sum::{self, Mismatch, SumError, SumFile};

mod batch;
mod diagnose;
mod lock_retry;
mod observe;
mod observe_scratch;
mod online;

pub use diagnose::StateFinding;
pub use lock_retry::{
    describe_blockers, Backoff, LockWait, DEFAULT_LOCK_RETRY, DEFAULT_SQL_LOCK_TIMEOUT,
};
pub use observe::{
    relation_sizes, HeldLock, LockTaken, Relation, RelationSize, RevisionObservation,
    StatementObservation,
};
pub use observe_scratch::{
    read_relation_sizes, DumpToObserveOn, ObserveError, ObserveEvent, Observed, RelationSizes,
};
pub use online::{
    DbState, EditedRevision, Resolution, RunError, RunEvent, RunOptions, RunOverrides, StepReport,
    StopSignal,
};

/// Why an offline operation (loading the chain, writing a revision, a merge, the sum)
/// failed. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum MigratorError {
    /// A revision file is malformed, or the graph is not valid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// `retort.sum` cannot be read, written or parsed.
    #[error(transparent)]
    Sum(#[from] SumError),
    /// `retort.sum` does not match the revision files.
    #[error("{} disagrees with the revision files:\n  {}\nrun `retort verify --files` for details; `retort rehash` records deliberate edits", path.display(), mismatches.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    SumOutOfDate {
        /// The sum file (for an embedded chain, as named in the macro call).
        path: PathBuf,
        /// Every difference found.
        mismatches: Vec<Mismatch>,
    },
    /// `new-migration` or `merge` was given an empty message.
    #[error("the message is empty; describe the change, e.g. -m \"add user email\"")]
    EmptyMessage,
    /// A merge was asked for with fewer than two heads.
    #[error("a merge needs at least two revisions to join, and {}", if heads.is_empty() { "there are none".to_owned() } else { format!("there is only {}", heads.join(", ")) })]
    NothingToMerge {
        /// The heads there are (none or one).
        heads: Vec<String>,
    },
    /// A merge named a revision and one of its own descendants.
    #[error("cannot merge {ancestor} with {descendant}: {descendant} already builds on {ancestor}; merge heads only (see `retort heads`)")]
    MergeOfAncestor {
        /// The revision named that the other builds on.
        ancestor: String,
        /// The revision named that builds on it.
        descendant: String,
    },
    /// The file to write is already there.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `--head` named a revision other revisions already build on, without `--splice`.
    #[error(
        "{id} is not a head revision (the heads: {}); a revision on top of it starts a new \
         branch. Say so with `--head {id} --splice`, or build on a head",
        heads.join(", ")
    )]
    NotAHead {
        /// The revision named.
        id: String,
        /// The heads there are.
        heads: Vec<String>,
    },
    /// The operating system gave no random bytes for a new revision id.
    #[error("cannot get random bytes for a revision id: {0}")]
    Random(String),
}

/// Options of `new-migration`.
#[derive(Debug, Clone, Default)]
pub struct NewRevision {
    /// `-m`: the revision's message (its `-- message:` header and the file's slug).
    pub message: String,
    /// Parent to build on when there are several heads (`base` starts a new root).
    pub head: Option<String>,
    /// Allow `head` to name a revision that is not a head (a new branch from it).
    pub splice: bool,
    /// Revisions (ids or prefixes) it depends on besides its parent (`-- depends_on:`).
    pub depends_on: Vec<String>,
    /// Branch labels it starts (`-- branch_labels:`).
    pub branch_labels: Vec<String>,
    /// Initial SQL (empty sections when `None`).
    pub upgrade_sql: Option<String>,
    /// Initial downgrade SQL (an empty section when `None`).
    pub downgrade_sql: Option<String>,
    /// Write the section with `transaction:false` (statements that cannot run, or
    /// cannot see each other's effects, inside one transaction).
    pub upgrade_outside_transaction: bool,
    /// The same for the downgrade section.
    pub downgrade_outside_transaction: bool,
}

/// A revision file just written.
#[derive(Debug, Clone)]
pub struct Written {
    /// Its id.
    pub id: RevisionId,
    /// Where it was written.
    pub path: PathBuf,
}

/// A validated revision graph and what can be done with it: plan and run upgrades and
/// downgrades on a [`Session`](crate::db::Session), write new revisions and merges,
/// keep `retort.sum`.
///
/// Build it from a versions directory at run time ([`Migrator::open`]), from
/// revisions compiled into the application ([`Migrator::from_embedded`]), or from
/// revisions parsed elsewhere ([`Migrator::from_revisions`]).
pub struct Migrator {
    graph: RevisionGraph,
}

impl Migrator {
    /// Loads and validates the revisions of `versions_dir`.
    pub fn open(versions_dir: &Path) -> Result<Migrator, MigratorError> {
        Ok(Migrator {
            graph: RevisionGraph::load(versions_dir)?,
        })
    }

    /// Validates already parsed revisions (each `path` names its file in errors) as
    /// the graph of `versions_dir`.
    pub fn from_revisions(
        versions_dir: &Path,
        revisions: Vec<Revision>,
    ) -> Result<Migrator, MigratorError> {
        Ok(Migrator {
            graph: RevisionGraph::from_revisions(versions_dir, revisions)?,
        })
    }

    /// Parses and validates revisions embedded by [`embed_migrations!`](crate::embed_migrations),
    /// and checks them against the embedded `retort.sum` once more, heads included (the
    /// macro checked the checksums when the application was built).
    pub fn from_embedded(embedded: &EmbeddedMigrations) -> Result<Migrator, MigratorError> {
        let dir = Path::new(embedded.dir());
        let revisions = embedded
            .files()
            .iter()
            .map(|file| revision::parse_bytes(&dir.join(file.name()), file.text().as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(GraphError::from)?;
        let migrator = Migrator::from_revisions(dir, revisions)?;
        let sum_path = migrator.sum_path();
        let mismatches = SumFile::parse(&sum_path, embedded.sum())?.compare(&migrator.graph);
        if !mismatches.is_empty() {
            return Err(MigratorError::SumOutOfDate {
                path: sum_path,
                mismatches,
            });
        }
        Ok(migrator)
    }

    /// The validated revision graph.
    pub fn graph(&self) -> &RevisionGraph {
        &self.graph
    }

    /// Where `retort.sum` is: in the versions directory.
    pub fn sum_path(&self) -> PathBuf {
        sum::path_in(self.graph.dir())
    }

    /// How the files differ from `retort.sum` (empty when they agree).
    pub fn verify_files(&self) -> Result<Vec<Mismatch>, MigratorError> {
        let path = self.sum_path();
        Ok(match SumFile::read(&path)? {
            Some(recorded) => recorded.compare(&self.graph),
            None => vec![Mismatch::Missing { path }],
        })
    }

    /// Rewrites `retort.sum` from the files; returns what it changed.
    pub fn rehash(&self) -> Result<Vec<Mismatch>, MigratorError> {
        let path = self.sum_path();
        // A conflicted or malformed sum is exactly what rehash repairs.
        let before = match SumFile::read(&path) {
            Ok(Some(recorded)) => recorded.compare(&self.graph),
            Ok(None) => vec![Mismatch::Missing { path: path.clone() }],
            Err(SumError::Conflict { .. } | SumError::Malformed { .. }) => {
                SumFile::default().compare(&self.graph)
            }
            Err(e) => return Err(e.into()),
        };
        SumFile::of_graph(&self.graph).write(&path)?;
        Ok(before)
    }

    /// Refuses to extend a chain whose sum disagrees with its files: writing a new sum
    /// would silently bless an edit to an existing revision.
    fn check_sum_before_writing(&self) -> Result<(), MigratorError> {
        let path = self.sum_path();
        if let Some(recorded) = SumFile::read(&path)? {
            let mismatches = recorded.compare(&self.graph);
            if !mismatches.is_empty() {
                return Err(MigratorError::SumOutOfDate { path, mismatches });
            }
        }
        Ok(())
    }

    /// Writes a new revision on top of the single head (or `head`), and the new sum.
    pub fn new_revision(&self, options: &NewRevision) -> Result<Written, MigratorError> {
        let message = one_line(&options.message);
        if message.is_empty() {
            return Err(MigratorError::EmptyMessage);
        }
        let parents: Vec<usize> = match options.head.as_deref() {
            Some("base") => Vec::new(),
            Some(head) => {
                let parents = self.graph.resolve(head, None)?.0;
                let heads = self.graph.heads();
                if let Some(&inner) = parents.iter().find(|p| !heads.contains(p)) {
                    if !options.splice {
                        return Err(MigratorError::NotAHead {
                            id: self.graph.revision(inner).id.to_string(),
                            heads: heads
                                .iter()
                                .map(|&h| self.graph.revision(h).id.to_string())
                                .collect(),
                        });
                    }
                }
                parents
            }
            None => self
                .graph
                .single_head("pick the parent with `--head ID`, or join them first with `retort merge -m MESSAGE`")?
                .into_iter()
                .collect(),
        };
        let depends_on = options
            .depends_on
            .iter()
            .map(|d| self.graph.resolve_prefix(d))
            .collect::<Result<Vec<_>, _>>()?;
        self.write_revision(
            &message,
            &parents,
            &depends_on,
            &options.branch_labels,
            [
                (
                    options.upgrade_sql.as_deref(),
                    !options.upgrade_outside_transaction,
                ),
                (
                    options.downgrade_sql.as_deref(),
                    !options.downgrade_outside_transaction,
                ),
            ],
        )
    }

    /// Writes a merge revision whose parents are `revisions` (all heads when empty).
    pub fn merge(&self, message: &str, revisions: &[String]) -> Result<Written, MigratorError> {
        let message = one_line(message);
        if message.is_empty() {
            return Err(MigratorError::EmptyMessage);
        }
        let mut parents: Vec<usize> = if revisions.is_empty() {
            self.graph.heads()
        } else {
            let mut parents = Vec::new();
            for r in revisions {
                for i in self.graph.resolve(r, None)?.0 {
                    if !parents.contains(&i) {
                        parents.push(i);
                    }
                }
            }
            parents
        };
        if parents.len() < 2 {
            return Err(MigratorError::NothingToMerge {
                heads: parents
                    .iter()
                    .map(|&i| self.graph.revision(i).id.to_string())
                    .collect(),
            });
        }
        for &a in &parents {
            for &b in &parents {
                if self.graph.is_ancestor(a, b) {
                    return Err(MigratorError::MergeOfAncestor {
                        ancestor: self.graph.revision(a).id.to_string(),
                        descendant: self.graph.revision(b).id.to_string(),
                    });
                }
            }
        }
        parents.sort_by(|&a, &b| self.graph.revision(a).id.cmp(&self.graph.revision(b).id));
        self.write_revision(&message, &parents, &[], &[], [(None, true), (None, true)])
    }

    fn write_revision(
        &self,
        message: &str,
        parents: &[usize],
        depends_on: &[usize],
        branch_labels: &[String],
        // (SQL, transactional) of the upgrade and the downgrade section.
        [(upgrade_sql, up_transactional), (downgrade_sql, down_transactional)]: [(Option<&str>, bool);
            2],
    ) -> Result<Written, MigratorError> {
        self.check_sum_before_writing()?;
        let number = parents
            .iter()
            .map(|&p| self.graph.revision(p).id.number())
            .max()
            .map_or(1, |n| n + 1);
        let id = loop {
            let id = RevisionId::new(number, &random_hex12()?);
            let hex_taken = self.graph.resolve_prefix(id.hex()).is_ok();
            if !hex_taken {
                break id;
            }
        };
        let dir = self.graph.dir();
        let path = dir.join(format!("{id}_{}.sql", revision::slugify(message)));
        let ids = |list: &[usize]| -> Vec<RevisionId> {
            list.iter()
                .map(|&i| self.graph.revision(i).id.clone())
                .collect()
        };
        let script = |sql: Option<&str>, transactional: bool| Script {
            sql: sql.unwrap_or_default().trim().to_owned(),
            line: 0,
            transactional,
        };
        let new = Revision {
            id: id.clone(),
            down_revisions: ids(parents),
            message: message.to_owned(),
            created: Some(Utc::now().fixed_offset()),
            depends_on: ids(depends_on),
            branch_labels: branch_labels.to_vec(),
            source: None,
            upgrade: script(upgrade_sql, up_transactional),
            downgrade: Some(script(downgrade_sql, down_transactional)),
            upgrade_batch: None,
            downgrade_batch: None,
            path: path.clone(),
            checksum: Checksum::of(""),
            header_lines: HeaderLines::default(),
        };
        let text = render_with_seconds(&new);
        // Re-parse what we are about to write: the new file must load like any other.
        let parsed = revision::parse_bytes(&path, text.as_bytes())
            .map_err(|e| MigratorError::Graph(e.into()))?;

        let mut sum = SumFile::of_graph(&self.graph);
        sum.checksums.insert(parsed.id.clone(), parsed.checksum);
        sum.heads.retain(|h| !parsed.down_revisions.contains(h));
        sum.heads.push(parsed.id.clone());

        let write_err = |source| MigratorError::Write {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(write_err)?;
        if let Err(source) = file
            .write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
        {
            let _ = std::fs::remove_file(&path);
            return Err(write_err(source));
        }
        if let Err(e) = sum.write(&self.sum_path()) {
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
        Ok(Written { id, path })
    }
}

/// `created` with whole seconds: sub-second digits only add noise to the header.
fn render_with_seconds(revision: &Revision) -> String {
    let mut copy = revision.clone();
    copy.created = revision
        .created
        .and_then(|c| chrono::DateTime::from_timestamp(c.timestamp(), 0))
        .map(|c| c.fixed_offset());
    revision::render(&copy)
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn random_hex12() -> Result<String, MigratorError> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| MigratorError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

const EXAMPLE_TOML: &str = r#"# retort configuration. Paths are relative to this file.
# retort looks for this file in the current directory and its parents.

# Revision files (NNNN_hex12_slug.sql) and their checksum file retort.sum.
versions = "versions"

# Declarative models: the schema you want, as plain PostgreSQL DDL, applied in file-name order.
models = "models"

# The database. Order of precedence: --database-url, then the URL of the environment
# named by --env / RETORT_ENV, then DATABASE_URL (a .env file is read), then
# database_url below, then libpq's PGHOST/PGPORT/PGUSER/PGDATABASE/PGPASSWORD and
# ~/.pgpass. Keep passwords out of this file: use PGPASSWORD, ~/.pgpass or
# database_url_env.
# database_url = "postgres://app@localhost:5432/app_dev"

# Where the version tables live.
# version_schema = "public"
# version_table = "retort_version"
# history_table = "retort_history"

# How long a run waits for another run's lock (exit 4 after).
# lock_timeout = "60s"
# Each revision runs with this lock_timeout, so that a lock it waits for never
# queues the application's queries for longer; when a lock is not granted in
# time the revision is rolled back and tried again (jittered backoff) for up to
# lock_retry_timeout, then the run fails (exit 4) naming the blocking session.
# "0" turns either off.
# sql_lock_timeout = "2s"
# lock_retry_timeout = "5min"
# statement_timeout = "15min"

# Named environments override any key above.
# [env.staging]
# database_url_env = "STAGING_DATABASE_URL"
# [env.prod]
# database_url_env = "PROD_DATABASE_URL"
# sql_lock_timeout = "2s"
"#;

const EXAMPLE_MODEL: &str = r#"-- Models describe the schema you want, as plain PostgreSQL DDL.
-- Files in this directory are applied in name order; keep one table per file.
-- `retort new-migration --autogenerate -m MESSAGE` writes the revision that turns
-- the current schema into this one.
--
-- CREATE TABLE users (
--     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
--     email text NOT NULL UNIQUE,
--     created_at timestamptz NOT NULL DEFAULT now()
-- );
"#;

/// Scaffolds a project in `dir`: `retort.toml`, `versions/` (with an empty sum) and
/// `models/` with a commented example. Returns the paths created.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, MigratorError> {
    let toml_path = dir.join(crate::config::FILE_NAME);
    if toml_path.exists() {
        return Err(MigratorError::Exists { path: toml_path });
    }
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| MigratorError::Write { path, source }
    };
    let versions = dir.join("versions");
    let models = dir.join("models");
    let mut created = Vec::new();
    for d in [dir, versions.as_path(), models.as_path()] {
        if !d.exists() {
            std::fs::create_dir_all(d).map_err(write_err(d))?;
            created.push(d.to_owned());
        }
    }
    let mut files = vec![(toml_path, EXAMPLE_TOML.to_owned())];
    // An existing versions directory keeps its own sum (`retort rehash` makes one).
    if created.contains(&versions) {
        files.push((sum::path_in(&versions), SumFile::default().render()));
    }
    let model_path = models.join("00_example.sql");
    if !model_path.exists() {
        files.push((model_path, EXAMPLE_MODEL.to_owned()));
    }
    for (path, text) in files {
        std::fs::write(&path, text).map_err(write_err(&path))?;
        created.push(path);
    }
    Ok(created)
}
