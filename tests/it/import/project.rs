//! The imported project: the revision files `retort import` wrote, and running retort
//! on them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::fixtures::{fixture, rt, Runner, Spec, Step};
use crate::support::Run;

/// A revision file as the import wrote it.
pub(super) struct Imported {
    /// The tool's id, as in the `-- source:` header.
    pub(super) source: String,
    /// retort's id.
    pub(super) revision: String,
    path: PathBuf,
    pub(super) text: String,
}

impl Imported {
    /// The value of header `key` (`down_revision`, `depends_on`, `source`), if present.
    fn header(&self, key: &str) -> Option<String> {
        let prefix = format!("-- {key}:");
        self.text
            .lines()
            .take_while(|line| {
                !line.starts_with("-- migrate:")
                    && (line.starts_with("--") || line.trim().is_empty())
            })
            .find_map(|line| line.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }

    /// The ids of a header holding a list of ids (`down_revision`, `depends_on`).
    pub(super) fn ids(&self, key: &str) -> Vec<String> {
        self.header(key)
            .map(|v| {
                v.split(',')
                    .map(|id| id.trim().to_owned())
                    .filter(|id| !id.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The section marker line starting with `-- migrate:DIRECTION`, if any.
    fn marker(&self, direction: &str) -> Option<&str> {
        let prefix = format!("-- migrate:{direction}");
        self.text.lines().find(|line| line.starts_with(&prefix))
    }
}

pub(super) struct Project {
    _tmp: tempfile::TempDir,
    /// Where retort runs (no retort.toml: `--versions` names the versions dir).
    dir: PathBuf,
    versions: PathBuf,
    pub(super) revisions: Vec<Imported>,
    pub(super) notes: Vec<Value>,
}

impl Project {
    /// `retort --versions V --json import TOOL SOURCE EXTRA...` into a fresh temp dir;
    /// asserts exit 0.
    pub(super) fn import(tool: &str, source: &Path, extra: &[&str]) -> Project {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let versions = dir.join("versions");
        let run = import_into(&dir, &versions, tool, source, extra, true).ok();
        let json = run.json();
        let revisions = json["revisions"]
            .as_array()
            .unwrap_or_else(|| panic!("no revisions array: {json}"))
            .iter()
            .map(|r| {
                let path = PathBuf::from(r["path"].as_str().expect("path"));
                let path = if path.is_absolute() {
                    path
                } else {
                    dir.join(path)
                };
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_ne!(
                    r["incomplete"],
                    Value::Bool(true),
                    "nothing in the fixture is unconvertible: {r}\n{}",
                    run.stderr
                );
                Imported {
                    source: r["source"].as_str().expect("source").to_owned(),
                    revision: r["revision"].as_str().expect("revision").to_owned(),
                    path,
                    text,
                }
            })
            .collect();
        let notes = json["notes"].as_array().cloned().unwrap_or_default();
        Project {
            _tmp: tmp,
            dir,
            versions,
            revisions,
            notes,
        }
    }

    /// `retort --versions V --database-url URL ARGS...`.
    pub(super) fn run(&self, url: &str, args: &[&str]) -> Run {
        let versions = self.versions.to_str().expect("utf-8 path");
        let mut all = vec!["--versions", versions, "--database-url", url];
        all.extend_from_slice(args);
        rt(&self.dir, &all)
    }

    /// `retort --versions V ARGS...` (no database).
    fn offline(&self, args: &[&str]) -> Run {
        let versions = self.versions.to_str().expect("utf-8 path");
        let mut all = vec!["--versions", versions];
        all.extend_from_slice(args);
        rt(&self.dir, &all)
    }

    pub(super) fn by_source(&self, source: &str) -> &Imported {
        self.revisions
            .iter()
            .find(|r| r.source == source)
            .unwrap_or_else(|| panic!("no revision imported from {source}"))
    }

    /// The database's heads, per `current --json`.
    pub(super) fn heads(&self, url: &str) -> Vec<String> {
        let mut heads: Vec<String> = self.run(url, &["--json", "current"]).ok().json()["heads"]
            .as_array()
            .expect("heads")
            .iter()
            .map(|h| h["revision"].as_str().expect("revision").to_owned())
            .collect();
        heads.sort();
        heads
    }
}

pub(super) fn import_into(
    dir: &Path,
    versions: &Path,
    tool: &str,
    source: &Path,
    extra: &[&str],
    json: bool,
) -> Run {
    let mut args = vec![
        "--versions",
        versions.to_str().expect("utf-8 path"),
        "import",
        tool,
        source.to_str().expect("utf-8 path"),
    ];
    if json {
        args.insert(0, "--json");
    }
    args.extend_from_slice(extra);
    rt(dir, &args)
}

/// The checks every import passes: one file per migration, in the tool's order for the
/// linear histories, each with its `-- source:` header, the transaction marker and
/// downgrade the tool's files give, no blocking note, and a retort.sum that verifies.
pub(super) fn check_files(spec: &Spec, project: &Project) {
    let sources: Vec<&str> = project
        .revisions
        .iter()
        .map(|r| r.source.as_str())
        .collect();
    let mut expected: Vec<&str> = spec.steps.iter().map(|s| s.source).collect();
    if spec.runner == Runner::Alembic {
        // Any order where parents and dependencies come first is an order; the graph
        // checks below look at the parents themselves.
        let mut got = sources.clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "imported revisions");
    } else {
        assert_eq!(sources, expected, "imported revisions, in the tool's order");
    }
    let files: Vec<_> = std::fs::read_dir(&project.versions)
        .expect("versions dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sql"))
        .collect();
    assert_eq!(files.len(), spec.steps.len(), "revision files");
    for step in spec.steps {
        let imported = project.by_source(step.source);
        assert_eq!(
            imported.header("source").as_deref(),
            Some(format!("{} {}", spec.tool, step.source).as_str()),
            "{}:\n{}",
            imported.path.display(),
            imported.text
        );
        assert!(
            imported.path.starts_with(&project.versions),
            "{}",
            imported.path.display()
        );
        let upgrade = imported
            .marker("upgrade")
            .unwrap_or_else(|| panic!("no upgrade section:\n{}", imported.text));
        if own_transaction(spec, step) {
            // A file with its own BEGIN/COMMIT: either it runs outside retort's
            // transaction as written, or in retort's without them.
            let has_own = imported
                .text
                .lines()
                .any(|l| matches!(l.trim(), "BEGIN;" | "COMMIT;"));
            assert!(
                upgrade.contains("transaction:false") || !has_own,
                "{}: BEGIN/COMMIT inside a transactional revision:\n{}",
                step.source,
                imported.text
            );
        } else {
            assert_eq!(
                !upgrade.contains("transaction:false"),
                step.transactional,
                "{} upgrade marker `{upgrade}`:\n{}",
                step.source,
                imported.text
            );
        }
        assert_eq!(
            imported.marker("downgrade").is_some(),
            step.reversible,
            "{} downgrade section:\n{}",
            step.source,
            imported.text
        );
        assert!(
            !imported.text.contains("RAISE EXCEPTION"),
            "{} was converted in full:\n{}",
            step.source,
            imported.text
        );
    }
    if spec.runner != Runner::Alembic {
        // A line: each revision's parent is the one before it.
        let mut previous: Option<&str> = None;
        for r in &project.revisions {
            let want: Vec<String> = previous.into_iter().map(str::to_owned).collect();
            assert_eq!(r.ids("down_revision"), want, "{}:\n{}", r.source, r.text);
            assert!(r.ids("depends_on").is_empty(), "{}", r.text);
            previous = Some(&r.revision);
        }
    }
    let blocking: Vec<&Value> = project
        .notes
        .iter()
        .filter(|n| n["blocking"] == Value::Bool(true))
        .collect();
    assert!(blocking.is_empty(), "blocking notes: {blocking:?}");
    project.offline(&["verify", "--files"]).ok();
}

/// Whether the step's file brings its own BEGIN/COMMIT (golang-migrate runs a file as
/// it is).
fn own_transaction(spec: &Spec, step: &Step) -> bool {
    spec.runner == Runner::OneQuery
        && std::fs::read_to_string(fixture(spec.tool).join(step.file))
            .expect("fixture file")
            .lines()
            .any(|l| l.trim() == "BEGIN;")
}
