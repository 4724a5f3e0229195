#![warn(missing_docs)]
//! retort: schema migrations for PostgreSQL.
//!
//! Revision files (`versions/NNNN_hex12_slug.sql`) hold upgrade SQL and the downgrade
//! SQL that undoes it; their headers chain them into a graph, as in Alembic. The
//! `retort` binary is a thin command line over this library; a service can use the
//! library directly to carry its revisions in its binary and apply them at start-up.
//!
//! With `default-features = false` the library builds without the command line
//! (feature `cli`: clap, progress lines) and without the SQL linter (feature `lint`:
//! libpg_query, whose build needs libclang).
//!
//! # Revisions compiled into a service
//!
//! [`embed_migrations!`] reads a versions directory when the service is built, and the
//! build fails when `retort.sum` disagrees with the files. At start-up the migrator
//! runs what is pending on the service's own connection, under retort's advisory lock,
//! so instances starting together apply each revision once (`examples/embedded.rs` is
//! a whole program):
//!
//! ```no_run
//! use retort::db::{Session, VersionTables};
//! use retort::migrator::RunOptions;
//! use retort::{EmbeddedMigrations, Migrator};
//!
//! static MIGRATIONS: EmbeddedMigrations = retort::embed_migrations!("examples/embedded/versions");
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, connection) =
//!     tokio_postgres::connect("postgres://app@localhost/app", tokio_postgres::NoTls).await?;
//! tokio::spawn(connection);
//!
//! let migrator = Migrator::from_embedded(&MIGRATIONS)?;
//! let session = Session::from_client(&client, VersionTables::default()).await?;
//! let steps = migrator
//!     .upgrade(&session, "head", &RunOptions::default(), |_| {}, &mut |_| {})
//!     .await?;
//! println!("{} revision(s) applied", steps.len());
//! # Ok(())
//! # }
//! ```
//!
//! # The revision graph, offline
//!
//! ```
//! let migrator = retort::Migrator::open(std::path::Path::new("examples/embedded/versions"))?;
//! let graph = migrator.graph();
//! let heads: Vec<&str> = graph.heads().iter().map(|&i| graph.revision(i).id.as_str()).collect();
//! assert_eq!(heads, ["0002_0dde39e81d5b"]);
//! assert!(migrator.verify_files()?.is_empty(), "retort.sum matches the files");
//! # Ok::<(), retort::MigratorError>(())
//! ```
//!
//! # Diffing schemas
//!
//! [`catalog::inspect`] reads a database's schema into a [`catalog::Schema`];
//! [`diff::diff`] turns two schemas into ordered changes and [`diff::render`] into SQL:
//!
//! ```
//! use retort::catalog::Schema;
//!
//! let (current, wanted) = (Schema::default(), Schema::default());
//! let statements = retort::diff::render(&retort::diff::diff(&current, &wanted));
//! assert!(statements.is_empty(), "equal schemas need no statement");
//! ```
//!
//! The module map, the layers and where each command's work happens are in the
//! repository's `ARCHITECTURE.md`.

pub mod atomic_file;
pub mod catalog;
#[cfg(feature = "cli")]
pub mod cli;
pub mod compare;
pub mod config;
pub mod db;
pub mod diff;
pub mod dump;
pub mod embed;
pub mod fleet;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod import;
#[cfg(feature = "lint")]
pub mod lint;
pub mod migrator;
pub mod models;
pub mod revision;
pub mod roundtrip;
pub mod scratch;
pub mod sql;
pub mod sum;

pub use embed::EmbeddedMigrations;
pub use graph::{RevisionGraph, Step, Target};
pub use migrator::{Migrator, MigratorError, NewRevision};
pub use revision::{Checksum, Direction, Revision, RevisionId, Script};

/// Embeds a versions directory into the application at compile time.
///
/// The argument names the directory relative to the crate's `Cargo.toml`. The build
/// fails, naming each file, when `retort.sum` disagrees with the revision files (a
/// file added without `retort rehash`, an edited or a removed revision): the same
/// check as `retort verify --files`. Cargo rebuilds when an embedded file changes;
/// to pick up a new file as well, add a `build.rs` with
/// `println!("cargo::rerun-if-changed=versions");`.
///
/// ```
/// static MIGRATIONS: retort::EmbeddedMigrations =
///     retort::embed_migrations!("examples/embedded/versions");
///
/// let migrator = retort::Migrator::from_embedded(&MIGRATIONS)?;
/// assert_eq!(migrator.graph().revisions().len(), 2);
/// # Ok::<(), retort::MigratorError>(())
/// ```
pub use retort_macros::embed_migrations;
