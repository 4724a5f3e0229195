//! Test support: running the binary in scratch projects, and fresh PostgreSQL databases.

#![allow(dead_code)]

pub mod golden;
mod pg;

pub use pg::{admin_texts, admin_url, connect, dump_sorted, inspect, TestDb};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tokio runtime for tests that talk to the database themselves (two workers: the
/// application's sessions and the observer run beside each other).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A `retort` command with a clean environment for retort's own variables.
pub fn retort(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_retort"));
    cmd.current_dir(dir)
        .env_remove("RETORT_VERSIONS")
        .env_remove("RETORT_ENV")
        .env_remove("RETORT_SCRATCH_URL")
        .env_remove("DATABASE_URL")
        .env_remove("RETORT_QUEUE_URL");
    cmd
}

/// The result of a finished command, with text accessors for assertions.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A temporary project directory created by `retort init`.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = Project { dir };
        project.run(&["init", "."]).ok();
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn versions(&self) -> PathBuf {
        self.path().join("versions")
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(retort(self.path()).args(args).output().expect("run retort"))
    }

    /// Runs `retort --database-url DB ARGS`.
    pub fn run_on(&self, db: &TestDb, args: &[&str]) -> Run {
        let mut all = vec!["--database-url", db.url.as_str()];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Runs `new-migration` and returns the path it printed.
    pub fn new_migration(&self, message: &str, extra: &[&str]) -> PathBuf {
        let mut args = vec!["new-migration", "-m", message];
        args.extend_from_slice(extra);
        let run = self.run(&args).ok();
        self.path().join(run.stdout.trim())
    }

    /// Revision file names in versions/, sorted.
    pub fn revision_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.versions())
            .expect("read versions")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }
}

/// One revision to write with [`write_revision`].
pub struct Rev<'a> {
    pub number: u32,
    pub parents: &'a [&'a str],
    pub message: &'a str,
    pub upgrade: &'a str,
    /// `None`: irreversible.
    pub downgrade: Option<&'a str>,
    /// `transaction:false` on both sections
    pub non_transactional: bool,
}

/// The id `write_revision` gives revision `number` (hex derived from the number).
pub fn rev_id(number: u32) -> String {
    format!(
        "{number:04}_{:012x}",
        (u64::from(number) * 0x9e37_79b9_7f4a + 0xabc) & 0xffff_ffff_ffff
    )
}

/// Writes a linear chain of `n` revisions and returns their ids: revision i creates table
/// t<i> (unqualified, so it lands in the search_path's first schema) after `extra` SQL,
/// inserts one row, and drops the table on the way down.
pub fn table_chain(project: &Project, n: u32, extra: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for i in 1..=n {
        let parents: Vec<&str> = ids.last().map(String::as_str).into_iter().collect();
        let up = format!(
            "{extra}CREATE TABLE t{i} (id int PRIMARY KEY);\nINSERT INTO t{i} VALUES ({i});"
        );
        ids.push(write_revision(
            &project.versions(),
            &Rev {
                number: i,
                parents: &parents,
                message: &format!("create t{i}"),
                upgrade: &up,
                downgrade: Some(&format!("DROP TABLE t{i};")),
                non_transactional: false,
            },
        ));
    }
    ids
}

/// Writes a revision file into `versions` and returns its id.
pub fn write_revision(versions: &Path, rev: &Rev<'_>) -> String {
    let id = rev_id(rev.number);
    let marker = if rev.non_transactional {
        "-- migrate:upgrade transaction:false"
    } else {
        "-- migrate:upgrade"
    };
    let mut text = format!(
        "-- revision: {id}\n-- down_revision: {}\n-- message: {}\n-- created: 2026-11-22T10:00:00+00:00\n\n{marker}\n{}\n",
        rev.parents.join(", "),
        rev.message,
        rev.upgrade
    );
    if let Some(down) = rev.downgrade {
        let marker = if rev.non_transactional {
            "-- migrate:downgrade transaction:false"
        } else {
            "-- migrate:downgrade"
        };
        text.push_str(&format!("\n{marker}\n{down}\n"));
    }
    let slug: String = rev
        .message
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::fs::write(versions.join(format!("{id}_{slug}.sql")), text).expect("write revision");
    id
}

/// The path of the revision file with `id` in `versions`.
pub fn revision_path(versions: &Path, id: &str) -> PathBuf {
    std::fs::read_dir(versions)
        .expect("read versions")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(id))
        })
        .unwrap_or_else(|| panic!("no file for {id}"))
}

/// Runs a command given as program + args in `dir`, returning its result.
pub fn run_in(dir: &Path, program: &str, args: &[&str]) -> Run {
    Run::from(
        Command::new(program)
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}")),
    )
}

/// A PostgreSQL client program (`psql`, `pg_dump`): from PATH, else the newest
/// /usr/lib/postgresql/*/bin (where Debian puts it and scripts/pg-local.sh finds it).
pub fn pg_program(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
        {
            return found;
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let candidate = entry.path().join("bin").join(name);
            candidate.is_file().then_some((version, candidate))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path).unwrap_or_else(|| {
        panic!("{name} not found on PATH nor in /usr/lib/postgresql/*/bin (scripts/pg-local.sh installs PostgreSQL)")
    })
}

/// `pg_dump --format=FORMAT` of the database at `url` into `file`; panics with
/// pg_dump's stderr when it fails.
pub fn pg_dump(url: &str, format: &str, file: &Path) {
    let out = Command::new(pg_program("pg_dump"))
        .arg(format!("--format={format}"))
        .arg("--file")
        .arg(file)
        .arg("--dbname")
        .arg(url)
        .env("PGSSLMODE", "disable")
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repository root (where Cargo.toml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
