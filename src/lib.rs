//! retort: schema migrations for PostgreSQL.
//!
//! Revision files (`versions/NNNN_hex12_slug.sql`) hold upgrade SQL and the downgrade
//! SQL that undoes it; their headers chain them into a DAG. [`Migrator`] is the entry
//! point applications embed; the `retort` binary is a thin CLI over it.

pub mod atomic_file;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod diff;
pub mod fleet;
pub mod graph;
pub mod import;
pub mod lint;
pub mod migrator;
pub mod models;
pub mod revision;
pub mod roundtrip;
pub mod scratch;
pub mod sql;
pub mod sum;

pub use graph::{RevisionGraph, Step, Target};
pub use migrator::{Migrator, MigratorError, NewRevision};
pub use revision::{Checksum, Direction, Revision, RevisionId, Script};
