//! retort: schema migrations for PostgreSQL.
//!
//! Revision files (`versions/NNNN_hex12_slug.sql`) hold upgrade SQL and the downgrade
//! SQL that undoes it; their headers chain them into a DAG. [`Migrator`] is the entry
//! point applications embed; the `retort` binary is a thin CLI over it.

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
/// ```ignore
/// static MIGRATIONS: retort::EmbeddedMigrations = retort::embed_migrations!("versions");
///
/// let migrator = retort::Migrator::from_embedded(&MIGRATIONS)?;
/// ```
pub use retort_macros::embed_migrations;
