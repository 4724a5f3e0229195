//! Test support: running the binary in scratch projects, and fresh PostgreSQL databases.

#![allow(dead_code)]

mod pg;

pub use pg::TestDb;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A `retort` command with a clean environment for retort's own variables.
pub fn retort(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_retort"));
    cmd.current_dir(dir).env_remove("RETORT_VERSIONS");
    cmd
}

/// The result of a finished command, with text accessors for assertions.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
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

/// The repository root (where Cargo.toml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
