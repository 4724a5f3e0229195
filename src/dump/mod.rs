//! Database dumps (of production, typically): telling their format and the versions
//! that wrote them, and loading one into an empty database with the PostgreSQL client
//! programs: archives (`pg_dump -Fc/-Fd/-Ft`) through `pg_restore`, plain SQL through
//! `psql`.
//!
//! The restore behaves like `pg_restore --no-owner --no-acl`: a dump names roles
//! (owners, grantees, policy roles) that a scratch server does not have, and statements
//! failing only for that are "role noise": reported as skipped, never an error. The same
//! goes for what else belongs to the production host rather than to the schema
//! (tablespaces, security label providers) and, in plain dumps, for the OWNER TO / GRANT
//! statements the restoring user lacks the privileges for (see `is_noise`). Every
//! other failed statement is a real error, because a half-restored schema would make any
//! later verdict about the migrations worthless. Both programs are run so that they go on
//! past failed statements and report each one on stderr; that text is what is classified,
//! with its location (TOC entry, or file and line) and statement.
//!
//! - `format.rs`: the format by content, the archive header, the versions
//!   ([`inspect_dump`]);
//! - `run.rs`: running `pg_restore`/`psql` with a clean libpq environment ([`restore`]);
//! - `stderr.rs`: parsing what the programs report about failed statements;
//! - `locate.rs`: finding a plain dump's failed statements by the lines psql names,
//!   with the statement splitter's psql mode ([`crate::sql::split::split_psql`]);
//! - `classify.rs`: noise or real;
//! - `toc.rs`: how many pg_restore jobs, and which entries wait for a serial pass after
//!   the parallel one (so that role noise is never reported by workers at once).

mod classify;
pub(crate) mod format;
mod locate;
mod run;
mod stderr;
mod toc;

use std::fmt::Write as _;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

pub(crate) use classify::is_noise;
pub use format::inspect_dump;
pub use run::restore;

/// Statements are shown by their first line, cut to this many characters.
const STATEMENT_CHARS: usize = 200;

/// Why a dump cannot be inspected or restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The file is missing, unreadable, or not a dump that can be loaded.
    #[error("cannot use {} as a dump: {problem}; {hint}", .path.display())]
    Input {
        /// The dump as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to do about it.
        hint: String,
    },
    /// The archive was written by a pg_dump newer than the pg_restore at hand.
    #[error(
        "{}",
        too_new_message(
            .path,
            .archive_version,
            .made_by.as_deref(),
            .pg_restore,
            .pg_restore_version.as_deref()
        )
    )]
    TooNew {
        /// The dump as given.
        path: PathBuf,
        /// The archive format version, e.g. "1.16".
        archive_version: String,
        /// The pg_dump version written in the archive's header, when it could be read.
        made_by: Option<String>,
        /// The pg_restore that cannot read it.
        pg_restore: PathBuf,
        /// What `pg_restore --version` says, e.g. "15.18".
        pg_restore_version: Option<String>,
    },
    /// A client program could not be started at all.
    #[error(
        "cannot run {} to {action}: {source}; install the PostgreSQL client programs \
         (`apt-get install postgresql-client`) or put them on PATH",
        .program.display()
    )]
    Program {
        /// The program (`pg_restore` or `psql`), as it was run.
        program: PathBuf,
        /// What it was run for, e.g. `restoring dump.sql`.
        action: String,
        /// The error starting it.
        source: io::Error,
    },
    /// A temporary file for the restore (pg_restore's list of entries) could not be
    /// written.
    #[error(
        "cannot write a temporary file to {action}: {source}; check that the temporary \
         directory (TMPDIR, else /tmp) is writable and has space"
    )]
    TempFile {
        /// What the file was for.
        action: String,
        /// The error writing it.
        source: io::Error,
    },
    /// The program gave up (no connection, lost connection, unreadable archive data)
    /// instead of going on past failed statements.
    #[error(
        "{} failed {action} ({status}):\n{output}\nthe database {database} may be left \
         partially restored (a scratch database is dropped at the end anyway). Check that the \
         server is reachable and the dump is complete, then run again",
        .program.display()
    )]
    Failed {
        /// The program (`pg_restore` or `psql`), as it was run.
        program: PathBuf,
        /// What it was run for, e.g. `restoring dump.sql`.
        action: String,
        /// The database it restored into.
        database: String,
        /// Its exit status, e.g. `exit status 1`.
        status: String,
        /// The relevant end of the program's stderr.
        output: String,
    },
    /// Statements failed for reasons other than missing roles.
    #[error("{}", errors_message(.path, .database, .program, .total, .shown, .skipped))]
    Errors {
        /// The dump as given.
        path: PathBuf,
        /// The database it was restored into.
        database: String,
        /// The program (`pg_restore` or `psql`) that ran the statements.
        program: PathBuf,
        /// Real errors in all, including those not shown and those the program counted
        /// but whose messages could not be parsed.
        total: usize,
        /// The first few real errors.
        shown: Vec<RestoreFailure>,
        /// Role-noise errors that were tolerated.
        skipped: usize,
    },
}

impl RestoreError {
    /// The process exit code: 2 when the input itself is the problem (missing,
    /// unreadable, unknown, too new), 3 when restoring into the database failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            RestoreError::Input { .. } | RestoreError::TooNew { .. } => 2,
            RestoreError::Program { .. }
            | RestoreError::TempFile { .. }
            | RestoreError::Failed { .. }
            | RestoreError::Errors { .. } => 3,
        }
    }
}

fn too_new_message(
    path: &Path,
    archive_version: &str,
    made_by: Option<&str>,
    pg_restore: &Path,
    pg_restore_version: Option<&str>,
) -> String {
    let made = made_by.map_or(String::new(), |v| format!(", written by pg_dump {v}"));
    let used = pg_restore_version.map_or(String::new(), |v| format!(" (version {v})"));
    let major = made_by.and_then(major_of);
    let wanted = major.map_or("a newer PostgreSQL".to_owned(), |m| {
        format!("PostgreSQL {m} or newer")
    });
    let package = major.map_or("NN".to_owned(), |m| m.to_string());
    format!(
        "{} is an archive of format {archive_version}{made}, too new for {}{used}; a newer \
         pg_restore is needed: install the client programs of {wanted} (e.g. `apt-get install \
         postgresql-client-{package}`) and put them on PATH, or make the dump with the pg_dump \
         that matches the scratch server",
        path.display(),
        pg_restore.display()
    )
}

fn errors_message(
    path: &Path,
    database: &str,
    program: &Path,
    total: &usize,
    shown: &[RestoreFailure],
    skipped: &usize,
) -> String {
    let (total, skipped) = (*total, *skipped);
    let mut text = format!(
        "restoring {} into database {database} with {} failed: {total} statement(s) failed \
         for other reasons than missing roles",
        path.display(),
        program.display()
    );
    if skipped > 0 {
        let _ = write!(text, " ({skipped} role-noise error(s) were tolerated)");
    }
    text.push(':');
    for failure in shown {
        let _ = write!(text, "\n  {}: {}", failure.location, failure.message);
        for detail in &failure.detail {
            let _ = write!(text, "\n      {detail}");
        }
        if !failure.statement.is_empty() {
            let _ = write!(text, "\n      statement: {}", failure.statement);
        }
    }
    if total > shown.len() {
        let _ = write!(
            text,
            "\n  ... and {} more (run {} by hand to see them all)",
            total - shown.len(),
            program.display()
        );
    }
    let _ = write!(
        text,
        "\nthe database {database} was left partially restored (a scratch database is dropped \
         at the end anyway). Make the server able to load the dump (a missing extension, \
         an older server version than the dump's, ...) or fix the dump, then run again"
    );
    text
}

/// Client programs (`psql`, `pg_restore`) to load dumps with, ideally of the
/// scratch server's own version ([`crate::scratch::client_programs`] finds them).
#[derive(Debug, Clone)]
pub struct ClientPrograms {
    /// Runs plain (SQL) dumps.
    pub psql: PathBuf,
    /// Reads and restores archives.
    pub pg_restore: PathBuf,
}

/// The kind of dump, told by its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// `pg_dump -Fc`: one file starting with `PGDMP`.
    Custom,
    /// `pg_dump -Fd`: a directory with `toc.dat`.
    Directory,
    /// `pg_dump -Ft`: a tar archive.
    Tar,
    /// `pg_dump -Fp` (the default): SQL text for psql.
    Plain,
}

impl DumpFormat {
    pub(crate) fn is_archive(self) -> bool {
        self != DumpFormat::Plain
    }

    /// Whether pg_restore can restore it with parallel jobs (not from tar, and plain SQL
    /// is psql's).
    fn restores_in_parallel(self) -> bool {
        matches!(self, DumpFormat::Custom | DumpFormat::Directory)
    }
}

impl std::fmt::Display for DumpFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DumpFormat::Custom => "custom",
            DumpFormat::Directory => "directory",
            DumpFormat::Tar => "tar",
            DumpFormat::Plain => "plain",
        })
    }
}

/// What [`inspect_dump`] found out about a dump.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DumpInfo {
    /// The dump as given: a file, or the directory of a directory-format dump.
    pub path: PathBuf,
    /// Plain SQL (run with psql) or one of pg_dump's archive formats (run with pg_restore).
    pub format: DumpFormat,
    /// The version of the server the dump was taken from, e.g. "15.18".
    pub server_version: Option<String>,
    /// The version of the pg_dump that wrote it, e.g. "15.18".
    pub pg_dump_version: Option<String>,
}

impl DumpInfo {
    /// The major version of the server the dump was taken from: "9.6.24" -> 9,
    /// "15.18" -> 15.
    pub fn server_major(&self) -> Option<u32> {
        self.server_version.as_deref().and_then(major_of)
    }
}

fn major_of(version: &str) -> Option<u32> {
    let digits: String = version
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A statement that failed only because of a role (or privilege) the server does not
/// have, and was left out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// "TOC entry 215; 1259 16386 TABLE public t" or "dump.sql:42".
    pub location: String,
    /// The server's message, e.g. `role "rdsadmin" does not exist`.
    pub message: String,
    /// The first line of the statement.
    pub statement: String,
}

/// A statement that failed for a real reason.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreFailure {
    /// "TOC entry 215; 1259 16386 TABLE public t" or "dump.sql:42".
    pub location: String,
    /// The error message, e.g. `extension "postgis" is not available`.
    pub message: String,
    /// DETAIL, HINT and CONTEXT lines, as the server sent them.
    pub detail: Vec<String>,
    /// The first line of the statement (empty when the program did not say).
    pub statement: String,
}

/// How many `pg_restore` jobs (parallel connections) a restore uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestoreJobs {
    /// One job for a dump that is mostly schema (under 32 MiB), whose DDL one connection
    /// runs fastest; one per core (at most 8) for a custom or directory archive with
    /// more data, whose tables load and index in parallel.
    #[default]
    Auto,
    /// This many, for custom and directory archives (tar archives and plain SQL always
    /// restore with one).
    Exactly(NonZeroUsize),
}

/// The outcome of a successful restore.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// The statements left out as role noise.
    pub skipped: Vec<Skipped>,
    /// Wall time of the restore, in milliseconds.
    pub duration_ms: u128,
    /// The pg_restore jobs used (1 for plain SQL through psql).
    pub jobs: usize,
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn first_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_major_reads_the_leading_number() {
        let info = |v: &str| DumpInfo {
            path: PathBuf::from("x"),
            format: DumpFormat::Custom,
            server_version: Some(v.to_owned()),
            pg_dump_version: None,
        };
        assert_eq!(info("9.6.24").server_major(), Some(9));
        assert_eq!(info("15.18").server_major(), Some(15));
        assert_eq!(info("17beta1").server_major(), Some(17));
        assert_eq!(info("").server_major(), None);
    }

    /// A client program as the scratch code would pick it: PATH first (`make test-matrix`
    /// puts the tested major's programs there), then the installed majors.
    pub(super) fn program(name: &str) -> PathBuf {
        let programs = crate::scratch::client_programs(None).expect("client programs");
        match name {
            "psql" => programs.psql,
            "pg_restore" => programs.pg_restore,
            _ => programs.psql.with_file_name(name),
        }
    }

    pub(super) fn programs() -> ClientPrograms {
        ClientPrograms {
            psql: program("psql"),
            pg_restore: program("pg_restore"),
        }
    }
}
